"""Discovery of a migration project: versions, pairs, verify scripts, checksums.

Discovery is pure: it reads files and reports problems, it never touches a
database.  ``Project.problems`` lists everything wrong with the layout so that
``validate`` can report all of it; ``Project.require_consistent()`` turns the
first problem into an error for commands that must not run on a broken tree.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from dbtool.errors import ProjectError

VERSION_RE = re.compile(r"^(\d{4})\.(\d{2})\.(\d{3})$")
FILE_RE = re.compile(r"^(?P<version>\d{4}\.\d{2}\.\d{3})__(?P<name>[a-z0-9]+(?:_[a-z0-9]+)*)\.sql$")
LOOSE_RE = re.compile(r"^(?P<version>[^_]+)__(?P<name>.+)\.sql$")


def version_key(version: str) -> tuple[int, int, int]:
    """Sort key of a version ``YYYY.MM.NNN``; raises ValueError when malformed."""
    m = VERSION_RE.match(version)
    if not m:
        raise ValueError(f"{version!r} is not a version of the form YYYY.MM.NNN")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def is_version(text: str) -> bool:
    m = VERSION_RE.match(text)
    return bool(m) and 1 <= int(m.group(2)) <= 12


@dataclass(frozen=True)
class Problem:
    """Something wrong with the project's files, with where it is."""

    code: str
    path: str
    message: str
    line: int = 0
    column: int = 0
    version: str | None = None
    severity: str = "error"


@dataclass
class SqlFile:
    """A script on disk, decoded once."""

    path: Path
    rel: str
    raw: bytes

    @cached_property
    def text(self) -> str:
        # A BOM is not SQL; PostgreSQL would choke on it at the start of the first statement.
        return self.raw.decode("utf-8").removeprefix("\ufeff")

    @cached_property
    def checksum(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()

    @cached_property
    def script(self):
        from dbtool.sql import parse

        return parse(self.text, self.rel)


@dataclass
class Migration:
    """A version with its up-script, its down-script and its optional verify script."""

    version: str
    name: str
    up: SqlFile
    down: SqlFile | None = None
    verify: SqlFile | None = None

    @property
    def key(self) -> tuple[int, int, int]:
        return version_key(self.version)

    @property
    def checksum(self) -> str:
        return self.up.checksum

    @property
    def label(self) -> str:
        return f"{self.version}__{self.name}"

    def __repr__(self) -> str:
        return f"Migration({self.label})"


@dataclass
class Project:
    """All migration files below a project root."""

    root: Path
    migrations: list[Migration] = field(default_factory=list)
    integrity: list[SqlFile] = field(default_factory=list)
    queries: list[SqlFile] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files: list[SqlFile] = field(default_factory=list)

    def get(self, version: str) -> Migration | None:
        return self.by_version.get(version)

    @cached_property
    def by_version(self) -> dict[str, Migration]:
        return {m.version: m for m in self.migrations}

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def require_consistent(self) -> None:
        """Raise ProjectError naming the first layout error, if any."""
        errors = self.errors
        if errors:
            first = errors[0]
            where = f"{first.path}:{first.line}" if first.line else first.path
            more = f" (and {len(errors) - 1} more problem(s); `dbtool validate --static` lists them all)" if len(errors) > 1 else ""
            raise ProjectError(f"{where}: {first.message}{more}", path=first.path, version=first.version)


def _read(root: Path, path: Path, problems: list[Problem]) -> SqlFile | None:
    rel = path.relative_to(root).as_posix()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        problems.append(Problem("unreadable-file", rel, f"cannot be read: {exc.strerror}"))
        return None
    f = SqlFile(path, rel, raw)
    try:
        f.text
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problems.append(Problem("file-encoding", rel,
                                f"is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); save it as UTF-8",
                                line=line))
        return None
    if raw.startswith(b"\xef\xbb\xbf"):
        problems.append(Problem("file-encoding", rel, "starts with a UTF-8 byte order mark; dbtool ignores it, but remove it", line=1, severity="warning"))
    if b"\r\n" in raw:
        problems.append(Problem("file-encoding", rel, "has Windows (CRLF) line endings; they run fine, but the checksum changes if an editor converts them", line=1, severity="info"))
    if not f.text.strip():
        problems.append(Problem("empty-file", rel, "is empty"))
    return f


def _scan(folder: Path, root: Path, problems: list[Problem], kind: str) -> dict[str, tuple[str, SqlFile]]:
    """Versioned files of one folder: version -> (name, file)."""
    found: dict[str, tuple[str, SqlFile]] = {}
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.sql")):
        rel = path.relative_to(root).as_posix()
        m = FILE_RE.match(path.name)
        if not m or not is_version(m.group("version")):
            loose = LOOSE_RE.match(path.name)
            hint = "YYYY.MM.NNN__snake_case_name.sql (e.g. 2025.01.001__create_platforms.sql)"
            if loose and not is_version(loose.group("version")):
                msg = f"version {loose.group('version')!r} is not of the form YYYY.MM.NNN with a month 01-12; name it {hint}"
            else:
                msg = f"file name must be {hint}"
            problems.append(Problem("file-name", rel, msg))
            continue
        version, name = m.group("version"), m.group("name")
        f = _read(root, path, problems)
        if f is None:
            continue
        if version in found:
            other = found[version][1].rel
            problems.append(Problem("duplicate-version", rel, f"version {version} is used twice ({other} and {rel}); give one of them the next free version", version=version))
            continue
        found[version] = (name, f)
    return found


def discover(root: Path | str) -> Project:
    """Read migrations/, rollbacks/ and checks/ below ``root``."""
    root = Path(root).resolve()
    problems: list[Problem] = []
    ups = _scan(root / "migrations", root, problems, "migration")
    downs = _scan(root / "rollbacks", root, problems, "rollback")
    verifies = _scan(root / "checks", root, problems, "verify")
    project = Project(root, problems=problems)
    for version in sorted(ups, key=version_key):
        name, up = ups[version]
        m = Migration(version, name, up)
        if version in downs:
            dname, down = downs[version]
            if dname != name:
                problems.append(Problem("rollback-name", down.rel, f"pairs with {up.rel} by version but is named {dname!r}; rename it {version}__{name}.sql", version=version))
            m.down = down
        else:
            problems.append(Problem("missing-rollback", up.rel, f"has no rollback: create rollbacks/{version}__{name}.sql", version=version))
        if version in verifies:
            m.verify = verifies[version][1]
        project.migrations.append(m)
    for version, (name, down) in downs.items():
        if version not in ups:
            problems.append(Problem("orphan-rollback", down.rel, f"has no migration: migrations/{version}__{name}.sql does not exist", version=version))
    for version, (name, verify) in verifies.items():
        if version not in ups:
            problems.append(Problem("orphan-verify", verify.rel, f"is a verify script for version {version}, which has no migration", version=version))
    for sub, bucket in (("integrity", project.integrity), ("queries", project.queries)):
        folder = root / "checks" / sub
        if folder.is_dir():
            for path in sorted(folder.glob("*.sql")):
                f = _read(root, path, problems)
                if f is not None:
                    bucket.append(f)
    project.files = [f for m in project.migrations for f in (m.up, m.down, m.verify) if f is not None]
    project.files += project.integrity + project.queries
    return project
