"""A bounded memory of the keys seen most recently, which the garbage collector never walks.

Recipients remember every (document, recipient) they took in to absorb duplicates, trackers every
document they sent: millions of keys in a long run. Kept in an ``OrderedDict`` of tuples, each
full collection of CPython's cycle collector walked all of them — about 0.3 s per million keys,
and with few other long-lived objects a full collection comes every few seconds — so a worker got
slower the longer it ran. Here the keys are ``str`` in plain ``dict``s: a dict holding only
strings (and ``None``) is not tracked by the collector at all, and takes a third of the memory.

Eviction is by generation: keys go into the current dict; when it holds ``capacity`` keys it
becomes the previous one and the one before is dropped. So at least the ``capacity`` most recent
keys are always remembered (at most twice as many), in O(1) per key.
"""

from __future__ import annotations

SEPARATOR = "\n"
"""Joins the parts of a composite key (never part of an agency code or a DocumentId)."""


def joined(*parts: str) -> str:
    """One ``str`` key of several parts (a tuple would be walked by the collector)."""
    return SEPARATOR.join(parts)


class RecentKeys:
    """The ``capacity`` (or more) keys added most recently; ``forgotten`` counts those dropped."""

    __slots__ = ("_current", "_previous", "capacity", "forgotten")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._current: dict[str, None] = {}
        self._previous: dict[str, None] = {}
        self.forgotten = 0

    def __contains__(self, key: str) -> bool:
        return key in self._current or key in self._previous

    def __len__(self) -> int:
        return len(self._current) + len(self._previous)

    def add(self, key: str) -> None:
        if key in self._current:
            return
        self._current[key] = None
        if len(self._current) >= self.capacity:
            self.forgotten += len(self._previous)
            self._previous = self._current
            self._current = {}
