"""Progress of clone, backup and restore: bars on a terminal, nothing when output is not one."""

from __future__ import annotations

import io

from rich.console import Console

from dbtool import progressbar


def test_bars_draw_tasks_and_pass_other_events_on():
    out = io.StringIO()
    seen = []
    bars = progressbar.Bars(lambda event, **data: seen.append(event),
                            console=Console(file=out, force_terminal=True, width=100))
    bars("task", key="clone", description="clone production → staging", total=300)
    bars("advance", key="clone", completed=120)
    bars.progress.refresh()
    bars("message", text="emptying staging: 3 tables")
    bars("step_done", result=None)
    bars("done", key="clone")
    bars.close()
    text = out.getvalue()
    assert "clone production → staging" in text and "120/300" in text and "emptying staging: 3 tables" in text
    assert seen == ["step_done"]


def test_no_terminal_no_output():
    with progressbar.bars(lambda *a, **k: None, enabled=False) as progress:
        assert progress is progressbar._noop
