"""What the recipient answers, as data: the statuses of one (document, recipient) and when each is
due (docs/contract.md §7), with the misbehaviour switches applied.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

ARRIVED, REFUSED, REGISTERED, ASSIGNED, IN_PROGRESS, COMPLETED = "01", "02", "03", "04", "05", "06"
ACCEPTED_STEPS = (REGISTERED, ASSIGNED, IN_PROGRESS, COMPLETED)
DESCRIPTIONS = {ARRIVED: "arrived", REFUSED: "refused", REGISTERED: "registered by the clerk",
                ASSIGNED: "assigned by a leader", IN_PROGRESS: "in progress",
                COMPLETED: "completed"}

_PROVINCE_UNIT = re.compile(r"^H\d+$")


def platform_of(code: str) -> str:
    """The home platform of an agency code as topic names spell it: ``…H56`` → ``lgsp-h56``
    (a province's LGSP); any other last segment (``…G01``) is a central body on ``vdxp``."""
    last = code.rsplit(".", 1)[-1]
    return f"lgsp-{last.lower()}" if _PROVINCE_UNIT.match(last) else "vdxp"


@dataclass(frozen=True, slots=True)
class Behaviour:
    """The good service by default; each switch breaks exactly one rule."""

    step_ms: int = 20
    skip: frozenset[str] = frozenset()
    answer_twice: bool = False
    accept_bad_signatures: bool = False
    delay_ms: int = 0
    drop_share: float = 0.0
    answer_redelivered: bool = False
    out_of_order: bool = False

    def dropped(self, document_id: str) -> bool:
        """Whether ``--drop-share`` ignores this document (a deterministic hash of its id)."""
        if self.drop_share <= 0:
            return False
        point = int.from_bytes(hashlib.sha256(document_id.encode()).digest()[:8], "big")
        return point / 2**64 < self.drop_share

    def plan(self, refusal: str | None) -> list[tuple[float, str, str | None]]:
        """(seconds after intake, status code, reason) of every status to send, in order."""
        first = self.delay_ms / 1000
        steps: list[tuple[float, str, str | None]] = [(first, ARRIVED, None)]
        if refusal is not None:
            steps.append((first, REFUSED, refusal))
        else:
            codes = list(ACCEPTED_STEPS)
            if self.out_of_order:
                codes[0], codes[1] = codes[1], codes[0]
            steps.extend((first + (i + 1) * self.step_ms / 1000, code, None)
                         for i, code in enumerate(codes))
        steps = [step for step in steps if step[1] not in self.skip]
        if self.answer_twice:
            steps = [step for step in steps for _ in (0, 1)]
        return steps


@dataclass(slots=True)
class Dedupe:
    """(DocumentId, recipient) pairs already taken in, bounded (oldest forgotten first)."""

    capacity: int = 1_000_000
    _seen: dict[tuple[str, str], None] = field(default_factory=dict)

    def first_time(self, key: tuple[str, str]) -> bool:
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > self.capacity:
            del self._seen[next(iter(self._seen))]
        return True
