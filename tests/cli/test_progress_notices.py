"""Operator notices of a crash-tolerant run: which pids to kill, and each restart — shown even
with --no-progress (they are events an operator acts on, not progress)."""

from __future__ import annotations

from lgsp.cli.progress import ProgressDisplay


def test_notices_are_printed_even_when_progress_is_off(capsys):
    display = ProgressDisplay(tty=False, enabled=False)
    display("bus_workers", {"processes": {"route 1/1": 101, "receive 1/1": 102}})
    display("restarted", {"worker": "receive 1/1", "exit_code": -9, "pid": 103})
    display("started", {"workers": 1})  # progress: off
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "lgsp: router, recipient and tracker processes: receive 1/1 pid 102, route 1/1 pid 101 "
        "(kill one: it is restarted and recovers)",
        "lgsp: receive 1/1 process died (exit code -9); restarted as pid 103, recovering its "
        "state from the bus",
    ]
