"""pg_dump's plain SQL as a stream of entries: roles adapted to the target, then fed to psql.

pg_dump (and ``pg_restore -f -``) writes one entry per object, each under a
header ``-- Name: t; Type: TABLE; Schema: app; Owner: alice``.  The stream is
passed through byte for byte, except three kinds of line that name roles:

- ``ALTER ... OWNER TO role;`` closing an object's entry: mapped (``owners``
  = {"old": "new"}), or left out when the role does not exist on the target
  (the object then belongs to the user who clones);
- in ``ACL`` / ``DEFAULT ACL`` entries, ``GRANT`` / ``REVOKE`` / ``ALTER
  DEFAULT PRIVILEGES`` and ``SET SESSION AUTHORIZATION``: left out when a role
  they name does not exist on the target ("grants where the roles exist");

COPY data blocks pass through untouched.  What was left out is counted in
:class:`Adjustments` for the report.
"""

from __future__ import annotations

import bisect
import re
import subprocess
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from dbtool import pgtools
from dbtool.errors import TransferError

IDENT = rb'(?:"(?:[^"]|"")+"|[A-Za-z_\x80-\xff][A-Za-z0-9_$\x80-\xff]*)'
HEADER_RE = re.compile(rb"^-- (?:Data for )?Name: (?P<name>.*); Type: (?P<type>[A-Z ]+); Schema: (?P<schema>[^;]*); "
                       rb"Owner: (?P<owner>[^;\n]*)(?:; Tablespace: [^\n]*)?\n?$")
OWNER_RE = re.compile(rb"^(?P<head>ALTER [A-Z ]+ .+ OWNER TO )(?P<role>" + IDENT + rb");\n?$")
GRANTEE_RE = re.compile(rb"^(?P<head>.+ (?:TO|FROM) )(?P<role>" + IDENT + rb")"
                      rb"(?P<tail>(?: WITH GRANT OPTION)?(?: GRANTED BY " + IDENT + rb")?;)\n?$")
DEFACL_RE = re.compile(rb"^ALTER DEFAULT PRIVILEGES FOR ROLE (?P<role>" + IDENT + rb")(?P<rest> .*)\n?$", re.S)
SESSION_RE = re.compile(rb"^SET SESSION AUTHORIZATION (?P<role>" + IDENT + rb"|'(?:[^']|'')*');\n?$")
COPY_RE = re.compile(rb"^COPY .* FROM stdin;\n?$")
ENTRY_TYPES_WITH_ACL = (b"ACL", b"DEFAULT ACL")


def unquote(ident: bytes) -> str:
    text = ident.decode("utf-8", "surrogateescape")
    if text.startswith('"') or text.startswith("'"):
        q = text[0]
        return text[1:-1].replace(q + q, q)
    return text


def quote(name: str) -> bytes:
    return ('"' + name.replace('"', '""') + '"').encode("utf-8", "surrogateescape")


@dataclass
class RolePolicy:
    """Which roles the target has and what to do with the source's owners.

    ``owners``: ``"keep"`` (as in the source, where the role exists), ``"drop"``
    (every object owned by the loading user) or a mapping source role → target role.
    """

    existing: set[str]
    owners: str | dict[str, str] = "keep"
    grants: bool = True
    assignable: set[str] | None = None  # roles the loading user may give objects to (None: all)
    superuser: bool = True  # SET SESSION AUTHORIZATION (grants made by a non-owner) needs it

    def map(self, role: str) -> str:
        if isinstance(self.owners, dict):
            return self.owners.get(role, role)
        return role

    def has(self, role: str) -> bool:
        return role in self.existing

    def can_own(self, role: str) -> bool:
        return role in self.existing and (self.assignable is None or role in self.assignable)


@dataclass
class Adjustments:
    """What the stream left out or changed, for the report."""

    owners_mapped: Counter = field(default_factory=Counter)
    owners_skipped: Counter = field(default_factory=Counter)  # missing role -> objects
    grants_skipped: Counter = field(default_factory=Counter)  # missing role -> statements
    entries: Counter = field(default_factory=Counter)  # entry type -> count

    def notes(self) -> list[str]:
        out = []
        if self.owners_skipped:
            roles = ", ".join(f"{r} ({n})" for r, n in sorted(self.owners_skipped.items()))
            out.append("owners that do not exist on the target (or that the loading user cannot assign) were left out, "
                       f"the objects belong to the loading user: {roles}")
        if self.grants_skipped:
            roles = ", ".join(f"{r} ({n})" for r, n in sorted(self.grants_skipped.items()))
            out.append(f"privileges of roles that do not exist on the target were left out: {roles}")
        if self.owners_mapped:
            roles = ", ".join(f"{r} ({n})" for r, n in sorted(self.owners_mapped.items()))
            out.append(f"owners mapped: {roles}")
        return out

    def merge(self, other: Adjustments) -> None:
        for name in ("owners_mapped", "owners_skipped", "grants_skipped", "entries"):
            getattr(self, name).update(getattr(other, name))

    def as_json(self) -> dict:
        return {"owners_mapped": dict(self.owners_mapped), "owners_skipped": dict(self.owners_skipped),
                "grants_skipped": dict(self.grants_skipped)}


class Adapter:
    """Turns pg_dump's lines into the lines to load (see the module docstring)."""

    def __init__(self, policy: RolePolicy, on_entry: Callable[[str, str], None] | None = None, *,
                 batch: int | None = None):
        self.policy = policy
        # Entries per transaction: one COMMIT per DDL statement is most of psql's time on a large schema, while one
        # transaction for everything holds a lock per object and can exhaust the lock table.
        self.batch = batch
        self._in_batch = 0
        self.adj = Adjustments()
        self.on_entry = on_entry
        self.line_no = 0  # lines written so far (psql reports errors by input line)
        self.entry_starts: list[tuple[int, str]] = []
        self._entry_type = b""
        self._session_ok = True

    def entry_at(self, line: int) -> str | None:
        """The entry (e.g. ``TABLE app.t``) that line ``line`` of the loaded script belongs to."""
        i = bisect.bisect_right(self.entry_starts, (line, "\uffff")) - 1
        return self.entry_starts[i][1] if i >= 0 else None

    def lines(self, source: Iterable[bytes]) -> Iterator[bytes]:
        in_copy = False
        held: list[bytes] = []  # an owner line is only known as such once its entry ends
        for line in source:
            if in_copy:
                if line == b"\\.\n" or line == b"\\.":
                    in_copy = False
                self.line_no += 1
                yield line
                continue
            if line.startswith(b"-- ") and (m := HEADER_RE.match(line)):
                yield from self._flush(held)
                held = []
                yield from self._batch_boundary()
                self._start_entry(m)
            elif line.startswith(b"COPY ") and COPY_RE.match(line):
                yield from self._flush(held)
                held = []
                in_copy = True
            if held or (line.startswith(b"ALTER ") and b" OWNER TO " in line):
                held.append(line)
                continue
            out = self._adapt(line)
            if out is not None:
                self.line_no += 1
                yield out
        yield from self._flush(held)
        if self.batch and self._in_batch:
            self.line_no += 1
            yield b"COMMIT;\n"

    def _batch_boundary(self) -> Iterator[bytes]:
        if not self.batch:
            return
        if self._in_batch == 0:
            self.line_no += 1
            yield b"BEGIN;\n"
        elif self._in_batch >= self.batch:
            self._in_batch = 0
            self.line_no += 2
            yield b"COMMIT;\nBEGIN;\n"
        self._in_batch += 1

    def _start_entry(self, m: re.Match) -> None:
        self._entry_type = m.group("type")
        self._session_ok = True
        kind = m.group("type").decode()
        schema = m.group("schema").decode("utf-8", "replace")
        name = m.group("name").decode("utf-8", "replace")
        label = f"{kind} {name if schema == '-' else schema + '.' + name}"
        self.entry_starts.append((self.line_no + 1, label))
        self.adj.entries[kind] += 1
        if self.on_entry is not None:
            self.on_entry(kind, label)

    def _flush(self, held: list[bytes]) -> Iterator[bytes]:
        """Held lines from an ``ALTER ... OWNER TO`` on: the owner statement is the last one of its entry."""
        if not held:
            return
        tail_start = len(held)
        while tail_start > 0 and (held[tail_start - 1].strip() == b"" or held[tail_start - 1].startswith((b"SET ", b"--"))):
            tail_start -= 1
        for i, line in enumerate(held):
            out = self._owner(line) if i == tail_start - 1 else self._adapt(line)
            if out is not None:
                self.line_no += 1
                yield out

    def _owner(self, line: bytes) -> bytes | None:
        m = OWNER_RE.match(line)
        if m is None:
            return self._adapt(line)
        role = unquote(m.group("role"))
        if self.policy.owners == "drop":
            return None
        target = self.policy.map(role)
        if not self.policy.can_own(target):
            self.adj.owners_skipped[target] += 1
            return None
        if target != role:
            self.adj.owners_mapped[f"{role} -> {target}"] += 1
            return m.group("head") + quote(target) + b";\n"
        return line

    def _adapt(self, line: bytes) -> bytes | None:
        if self._entry_type not in ENTRY_TYPES_WITH_ACL:
            return line
        if not self.policy.grants:
            return None
        if line.startswith(b"RESET SESSION AUTHORIZATION"):
            ok, self._session_ok = self._session_ok, True
            return line if ok else None
        if (m := SESSION_RE.match(line)) is not None:
            source_role = unquote(m.group("role"))
            role = self.policy.map(source_role)
            self._session_ok = self.policy.superuser and self.policy.has(role)
            if not self._session_ok:
                self.adj.grants_skipped[role] += 1
                return None
            return line if role == source_role else b"SET SESSION AUTHORIZATION " + quote(role) + b";\n"
        if not self._session_ok and line.strip():
            return None
        prefix, rest, changed = b"", line, False
        if (d := DEFACL_RE.match(line)) is not None:
            source_role = unquote(d.group("role"))
            role = self.policy.map(source_role)
            if not self.policy.has(role):
                self.adj.grants_skipped[role] += 1
                return None
            changed = role != source_role
            prefix, rest = b"ALTER DEFAULT PRIVILEGES FOR ROLE " + quote(role), d.group("rest")
        elif not line.startswith((b"GRANT ", b"REVOKE ")):
            return line
        g = GRANTEE_RE.match(rest)
        if g is None or g.group("role") == b"PUBLIC":
            return prefix + rest if changed else line
        source_role = unquote(g.group("role"))
        role = self.policy.map(source_role)
        if not self.policy.has(role):
            self.adj.grants_skipped[role] += 1
            return None
        if role == source_role and not changed:
            return line
        who = g.group("role") if role == source_role else quote(role)
        return prefix + g.group("head") + who + g.group("tail") + b"\n"


# ---------------------------------------------------------------- psql

class Psql:
    """A psql process reading a script on stdin, stopping at the first error."""

    def __init__(self, tool: pgtools.Tool, url: str, *, label: str, options: str = ""):
        self.label = label
        dbname, env = pgtools.libpq_args(url, options=options)
        self.args = [str(tool.path), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=default", "-f", "-",
                     f"--dbname={dbname}"]
        self.proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env=env)
        self._err = Drain(self.proc.stderr)

    def feed(self, chunks: Iterable[bytes]) -> bool:
        """Write everything; False when psql stopped reading (it failed: see :meth:`finish`)."""
        try:
            write = self.proc.stdin.write
            for chunk in chunks:
                write(chunk)
            return True
        except BrokenPipeError:
            return False

    def finish(self, adapter: Adapter | None = None) -> None:
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        code = self.proc.wait()
        err = self._err.text()
        if code != 0:
            where = ""
            m = re.search(r"psql:<stdin>:(\d+): (?:ERROR|FATAL):\s*(.*)", err)
            if m and adapter is not None:
                entry = adapter.entry_at(int(m.group(1)))
                where = f" while creating {entry}" if entry else ""
            reason = m.group(2).strip() if m else pgtools.tail(err)
            raise TransferError(f"loading into {self.label} failed{where}: {reason}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Drain:
    """Reads a pipe on a thread so that a chatty child never blocks on a full pipe."""

    def __init__(self, pipe, on_line: Callable[[bytes], None] | None = None):
        self._chunks: list[bytes] = []
        self._on_line = on_line
        self._thread = threading.Thread(target=self._run, args=(pipe,), daemon=True)
        self._thread.start()

    def _run(self, pipe) -> None:
        for line in pipe:
            if len(self._chunks) < 2000:
                self._chunks.append(line)
            if self._on_line is not None:
                try:
                    self._on_line(line)
                except Exception:  # noqa: BLE001 - progress must never break the copy
                    pass
        pipe.close()

    def text(self) -> str:
        self._thread.join(timeout=30)
        return b"".join(self._chunks).decode("utf-8", "replace")
