"""Per-agency yearly document numbering (số văn bản restarts at 1 every 1 January)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict


class DocumentNumbering:
    """Hands out the next number for (agency, year); numbers are unique per agency and year."""

    def __init__(self) -> None:
        self._last: defaultdict[tuple[str, int], int] = defaultdict(int)

    def next(self, agency_code: str, date: dt.date) -> int:
        key = (agency_code, date.year)
        self._last[key] += 1
        return self._last[key]
