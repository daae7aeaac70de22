"""Misbehaviour switches: each breaks exactly one check of docs/contract.md §10's grading table,
so that a grader can be tested against a router that is wrong in one known way.

| switch | check it breaks |
|---|---|
| ``lose_share`` | ``copy_delivered`` (that share of copies, forwards, statuses is dropped) |
| ``duplicate_share`` | ``one_copy`` (that share is written twice) |
| ``wrong_topic_share`` | ``right_destination`` (that share of local copies: another inbound) |
| ``split_packets`` | ``one_packet_per_destination`` (an LGSP forwards one packet per recipient) |
| ``no_fail_status`` | ``unknown_recipient_failed`` (no FAIL status for a failed recipient) |
| ``no_trace`` | ``trace_appended`` (no ``lgsp-trace`` entry of its own) |
| ``key_by_document`` | ``record_intact`` (deliver-topic copies keyed by the DocumentId) |

Shares are drawn from one random stream per switch, seeded by ``seed``, so turning one switch on
does not change the draws of another.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class Behaviour:
    lose_share: float = 0.0
    duplicate_share: float = 0.0
    wrong_topic_share: float = 0.0
    split_packets: bool = False
    no_fail_status: bool = False
    no_trace: bool = False
    key_by_document: bool = False
    seed: int = 1
    _streams: dict[str, random.Random] = field(default_factory=dict, repr=False)

    def _draw(self, name: str, share: float) -> bool:
        if share <= 0.0:
            return False
        stream = self._streams.get(name)
        if stream is None:
            stream = self._streams[name] = random.Random(f"{self.seed}:{name}")
        return stream.random() < share

    def lose(self) -> bool:
        return self._draw("lose", self.lose_share)

    def duplicate(self) -> bool:
        return self._draw("duplicate", self.duplicate_share)

    def wrong_topic(self) -> bool:
        return self._draw("wrong-topic", self.wrong_topic_share)

    def pick(self, choices: list[str]) -> str:
        """One of ``choices`` (where a wrong-topic copy goes at VDXP), from the same stream."""
        stream = self._streams.setdefault("wrong-topic",
                                          random.Random(f"{self.seed}:wrong-topic"))
        return stream.choice(choices)

    @property
    def well_behaved(self) -> bool:
        return not (self.lose_share or self.duplicate_share or self.wrong_topic_share
                    or self.split_packets or self.no_fail_status or self.no_trace
                    or self.key_by_document)
