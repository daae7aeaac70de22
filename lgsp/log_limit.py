"""At most one log line per interval for a repeating event (a broker outage fails every status
send at once): the next line that passes says how many were left out."""

from __future__ import annotations

import time
from collections.abc import Callable


class LogLimit:
    """``allow()`` says whether to log now; left-out calls are counted and reported once."""

    def __init__(self, every_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_s = every_s
        self.clock = clock
        self._next = float("-inf")
        self._left_out = 0

    def allow(self) -> int | None:
        """None: do not log this one. Otherwise log it, with the returned count of lines left out
        since the last one (``suppressed=...``)."""
        now = self.clock()
        if now < self._next:
            self._left_out += 1
            return None
        self._next = now + self.every_s
        left_out, self._left_out = self._left_out, 0
        return left_out
