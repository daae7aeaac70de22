"""Live progress of a run on stderr: a status line on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console
from rich.status import Status

PLAIN_EVERY_S = 5.0


def _bus_workers(data: dict[str, Any]) -> str:
    listed = ", ".join(f"{name} pid {pid}" for name, pid in sorted(data["processes"].items()))
    return (f"router, recipient and tracker processes: {listed} (kill one: it is restarted and "
            "recovers)")


def _restarted(data: dict[str, Any]) -> str:
    return (f"{data['worker']} process died (exit code {data['exit_code']}); restarted as pid "
            f"{data['pid']}, recovering its state from the bus")


def _external_wait(data: dict[str, Any]) -> str:
    parties = [f"the external recipient {code} (reads {topic})"
               for code, topic in data["deliver"].items()]
    parties += [f"the outside router of {platform} (reads {topic})"
                for platform, topic in data.get("routers", {}).items()]
    return (f"waiting up to {data['timeout_s']:g} s for {' and '.join(parties)} to answer a "
            "signed probe document (…/KT-LGSPSIM)")


def _external_probe(data: dict[str, Any]) -> str:
    return (f"no answer from {data['recipient']} yet: probe sent again "
            f"({data['left_s']:.0f} s left, --external-timeout)")


def _external_ready(data: dict[str, Any]) -> str:
    answered = ", ".join(f"{code} after {s:.1f} s" for code, s in sorted(data["after_s"].items()))
    return f"external parties answered their probe: {answered}; starting the load"


def _bus_only(data: dict[str, Any]) -> str:
    ends = [f"{data['window_s']:g} s from now (--duration)"] if data["window_s"] else []
    ends.append(f"{data['idle_s']:g} s after the last document submitted (--idle)")
    return (f"bus-only run {data['run_id']} on {data['bootstrap']}: routing and answering what "
            f"is submitted to {data['inbound']} ({data['platforms']} platforms; e.g. lgsp replay "
            f"CAPTURE --bootstrap {data['bootstrap']} --submissions-only --into-run "
            f"{data['run_id']}); it ends {' or '.join(ends)}, or on Ctrl-C")


NOTICES = {"bus_workers": _bus_workers, "restarted": _restarted, "bus_only": _bus_only,
           "external_wait": _external_wait, "external_probe": _external_probe,
           "external_ready": _external_ready}


def live_line(data: dict[str, Any]) -> str:
    """One line: schedule, achieved rate, in flight, latency so far, errors.

    The rates are those of the last second of snapshots while the schedule runs, and of the
    whole schedule once it is over (documents due or sent / the schedule's length)."""
    if data.get("bus_only"):
        return (f"{data['elapsed_s']:>6.1f} s · seen {data.get('seen', 0):,} documents · "
                f"in flight {data['pending']:,} · send→01 p50 {data['p50_ms']:.0f} ms p99 "
                f"{data['p99_ms']:.0f} ms · completed {data.get('completed', 0):,} · "
                f"rejected {data.get('rejected', 0):,} · errors {data['errors']:,}")
    over = " over the schedule" if data.get("schedule_done") else ""
    latency = ("send→01 not measured in the warm-up" if data.get("in_warmup") and
               not data["p99_ms"] else
               f"send→01 p50 {data['p50_ms']:.0f} ms p99 {data['p99_ms']:.0f} ms")
    return (f"{data['elapsed_s']:>6.1f} s · rate {data['achieved_rate']:.0f}/s{over} "
            f"(target {data['target_rate']:.0f}/s) · sent {data['sent']:,} of {data['target']:,} "
            f"due · in flight {data['pending']:,} · {latency} · errors {data['errors']:,} · "
            f"behind {data['behind_ms']:.0f} ms")


class ProgressDisplay:
    """Receives the coordinator's events; a context manager (the terminal status line)."""

    def __init__(self, *, tty: bool | None = None, enabled: bool = True) -> None:
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.enabled = enabled
        self.console = Console(stderr=True)
        self._status: Status | None = None
        self._last_plain = 0.0

    def __enter__(self) -> ProgressDisplay:
        if self.enabled and self.tty:
            self._status = self.console.status("starting")
            self._status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.stop()

    def __call__(self, event: str, data: dict[str, Any]) -> None:
        if event in NOTICES:  # events an operator acts on: shown even with --no-progress
            self.console.print(f"lgsp: {NOTICES[event](data)}", highlight=False, soft_wrap=True)
            return
        if not self.enabled:
            return
        text = self._text(event, data)
        if text is None:
            return
        if self._status is not None:
            self._status.update(text)
        elif event != "live" or time.monotonic() - self._last_plain >= PLAIN_EVERY_S:
            self._last_plain = time.monotonic()
            print(f"lgsp: {text}", file=sys.stderr, flush=True)

    @staticmethod
    def _text(event: str, data: dict[str, Any]) -> str | None:
        if event == "pki":
            return (f"preparing keys and certificates of {data['agencies']} agencies (keys are "
                    "generated once, then taken from the cache)")
        if event == "started" and data.get("bus_only"):
            return None  # the bus_only notice says it
        if event == "started":
            others = data.get("bus_processes", 0)
            return (f"{data['workers']} worker(s) ready"
                    + (f" with {others} router/recipient/tracker processes" if others else "")
                    + "; sending")
        if event == "live":
            return live_line(data)
        if event == "trial":
            return (f"find-max trial {data['trial']}: {data['rate']:.3g} documents/s for "
                    f"{data['duration_s']:g} s")
        if event == "lengthened":
            return (f"find-max: too short to judge the backlog at {data['rate']:.3g}/s "
                    f"({data['why']}); trying {data['duration_s']:g} s")
        return None
