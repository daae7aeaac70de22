"""A tracker process's checkpoint: its whole state and how far it had read, saved every few
seconds, so that a restarted tracker resumes from there and replays only the tail of the log.

Without a checkpoint a restarted tracker rebuilds from offset 0 (``consumers.tracker_feed``),
which takes as long as the run is old; with one, it takes the few seconds since the last save.
The state is taken between two records (the feed handles a fetched batch without yielding), so
the figures and the read positions always agree; the file is replaced atomically.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from consumers.tracker import DeliveryTracker
from consumers.tracker_feed import TrackerFeed
from lgsp.errors import LgspError
from lgsp.log_limit import LogLimit

log = structlog.get_logger(__name__)

CHECKPOINT_VERSION = 1
SAVE_EVERY_S = 2.0
SLOW_SAVE_MS = 50.0
"""Taking the state pauses the tracker; longer than this shows in its latencies: say so."""


class TrackerCheckpoint:
    """Saves and restores ``tracker`` + ``feed`` at ``path``."""

    def __init__(self, path: Path, tracker: DeliveryTracker, feed: TrackerFeed, *,
                 held: Callable[[], int | None] | None = None) -> None:
        """``held``: the oldest topic generation the tracker needs now (with rotation); taken
        with each state and kept as ``held_when_saved`` once that state is on disk."""
        self.path = path
        self.tracker = tracker
        self.feed = feed
        self.saved = 0
        self._held = held
        self.durable = False
        """A state is on disk (saved by this tracker or restored from its previous life)."""
        self.held_when_saved: int | None = None
        """The oldest generation the tracker needed when its state on disk was taken. A
        restarted tracker resumes from that state: what it read since (and may have finished
        with) is read again, so no generation it needed then may be deleted — the tracker holds
        the older of this and what it needs now."""
        self._slow_logged = LogLimit(every_s=60.0)

    def state(self) -> dict[str, Any]:
        return {"checkpoint_version": CHECKPOINT_VERSION, "saved_at": time.time(),
                "held": self._held() if self._held is not None else None,
                "tracker": self.tracker.state(), "feed": self.feed.state()}

    def save(self) -> None:
        state = self.state()
        self._write(json.dumps(state, separators=(",", ":")).encode())
        self._saved(state)

    def _write(self, data: bytes) -> None:
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_bytes(data)
        os.replace(partial, self.path)
        self.saved += 1

    def _saved(self, state: dict[str, Any]) -> None:
        held = state.get("held")
        self.held_when_saved = held if isinstance(held, int) else None
        self.durable = True

    def load(self) -> bool:
        """Restore the last saved state; False if there is none (or it is unreadable: then the
        tracker rebuilds from offset 0, which is slower but as exact)."""
        try:
            state = json.loads(self.path.read_bytes())
            if state.get("checkpoint_version") != CHECKPOINT_VERSION:
                raise ValueError(f"checkpoint version {state.get('checkpoint_version')!r}")
            feed = self.feed.decode_state(state["feed"])
            self.tracker.restore(state["tracker"])  # decodes everything before changing anything
            self.feed.restore(feed)  # cannot fail: decoded above
            self._saved(state)
        except FileNotFoundError:
            return False
        except (OSError, ValueError, KeyError, TypeError, LgspError) as exc:
            log.warning("tracker_checkpoint_unusable", path=str(self.path), error=repr(exc))
            return False
        log.info("tracker_checkpoint_restored", age_s=round(time.time() - state["saved_at"], 3),
                 pending=self.tracker.pending, positions=len(self.feed.positions))
        return True

    async def keep_saving(self, every_s: float = SAVE_EVERY_S) -> None:
        """Save every ``every_s`` until cancelled (the state is taken in the event loop — it
        pauses the tracker, so a slow one is logged — and the file written in a thread)."""
        while True:
            await asyncio.sleep(every_s)
            began = time.perf_counter()
            state = self.state()
            data = json.dumps(state, separators=(",", ":")).encode()
            paused_ms = (time.perf_counter() - began) * 1000
            if paused_ms > SLOW_SAVE_MS and (left_out := self._slow_logged.allow()) is not None:
                log.warning("tracker_checkpoint_slow", paused_ms=round(paused_ms, 1),
                            size_bytes=len(data), pending=self.tracker.pending,
                            suppressed=left_out)
            await asyncio.to_thread(self._write, data)
            self._saved(state)
