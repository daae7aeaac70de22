"""Sign ahead, as agencies do: a document is drafted, numbered and signed before it is sent.

``SignAhead.schedule`` reads a worker's schedule ahead of the clock — up to ``ahead_s`` of
schedule or ``ahead_documents`` documents, whichever is less — and for each draft, in schedule
order, does everything before signing in the worker (fault, number, content, digest: sequential
and deterministic, as in line) and hands the digest to the signing pool (``lgsp.signing.pool``).
At the document's intended time the sender takes the signatures (made long before, unless the
pool is behind: then it waits, and the wait counts in latency from the intended time and in the
schedule lag of the documents after it) and only frames and produces. The intended times, and
latency measured from them, do not change; ``signed_at`` is when the signature was asked for, up
to ``ahead_s`` before the send.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator

from lgsp.signing.pool import SigningPool
from producers.sender import AgencySender, Prepared
from producers.traffic import Draft

AHEAD_S = 2.0
"""How far ahead of the clock drafts are prepared and signed."""
AHEAD_DOCUMENTS = 2048
"""At most this many documents prepared ahead (bounds memory at high rates)."""


class SignAhead:
    """Prepares ``sender``'s drafts ahead of their send time and signs them in ``pool``."""

    def __init__(self, sender: AgencySender, pool: SigningPool, *,
                 clock: Callable[[], int] = time.monotonic_ns, ahead_s: float = AHEAD_S,
                 ahead_documents: int = AHEAD_DOCUMENTS) -> None:
        if ahead_s <= 0 or ahead_documents < 1:
            raise ValueError("ahead_s must be > 0 and ahead_documents >= 1")
        self.sender = sender
        self.pool = pool
        self.clock = clock
        self.ahead_ns = int(ahead_s * 1e9)
        self.ahead_documents = ahead_documents
        self.prepared = 0
        """Drafts prepared so far (handed to the pool, or refused)."""

    def schedule(self, schedule: Iterable[tuple[int, Draft]],
                 start_ns: int) -> Iterator[tuple[int, Prepared]]:
        """``schedule`` (offsets from ``start_ns``, on ``clock``), each draft prepared and its
        signing started ahead. Iterate it from the event loop that sends: the pool's results
        are that loop's futures."""
        source = iter(schedule)
        window: deque[tuple[int, Prepared]] = deque()
        exhausted = False
        while True:
            horizon = self.clock() - start_ns + self.ahead_ns
            while not exhausted and len(window) < self.ahead_documents \
                    and (not window or window[-1][0] <= horizon):
                item = next(source, None)
                if item is None:
                    exhausted = True
                    break
                window.append((item[0], self._start(item[1])))
            if not window:
                return
            yield window.popleft()

    def _start(self, draft: Draft) -> Prepared:
        prepared = self.sender.prepare(draft)
        self.prepared += 1
        if prepared.refused is None and prepared.signers:
            prepared.signed_at = dt.datetime.now(dt.UTC)
            prepared.signatures = self.pool.sign(prepared.digest, prepared.signers,
                                                 prepared.signed_at)
        return prepared
