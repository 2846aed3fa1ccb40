"""Progress bars on a terminal (stderr) for clone, backup, restore and rehearse; silence elsewhere.

The library reports progress as events (``task``, ``advance``, ``done``,
``message``); other events (a migrate's ``step_done``, ``lock_wait``, ...) go
to ``fallback``, the CLI's line printer.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Callable, Iterator


def _noop(*_a, **_k) -> None:
    return None


class Bars:
    def __init__(self, fallback: Callable[..., None], console=None):
        from rich.console import Console

        self.fallback = fallback
        self.console = console or Console(stderr=True)
        self.progress = None
        self.tasks: dict[str, int] = {}

    def _ensure(self):
        if self.progress is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), console=self.console, transient=True)
            self.progress.start()
        return self.progress

    def __call__(self, event: str, **data) -> None:
        if event == "task":
            p = self._ensure()
            self.tasks[data["key"]] = p.add_task(data.get("description", data["key"]), total=data.get("total"))
        elif event == "advance" and data.get("key") in self.tasks:
            self.progress.update(self.tasks[data["key"]], completed=data.get("completed", 0))
        elif event == "done" and data.get("key") in self.tasks:
            self.progress.remove_task(self.tasks.pop(data["key"]))
        elif event == "message":
            if self.progress is not None:
                self.progress.console.print(data["text"], highlight=False, markup=False)
            else:
                self.fallback(event, **data)
        else:
            self.fallback(event, **data)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


@contextlib.contextmanager
def bars(fallback: Callable[..., None], enabled: bool | None = None) -> Iterator[Callable[..., None]]:
    """A progress callback: rich bars when stderr is a terminal, else nothing at all."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield _noop
        return
    b = Bars(fallback)
    try:
        yield b
    finally:
        b.close()
