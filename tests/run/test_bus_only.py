"""A bus-only run's watch (``lgsp.run.bus_only``): where a seen document's send time comes
from, and when the run stops listening."""

from __future__ import annotations

import pytest

from consumers.tracker import DeliveryTracker
from lgsp.bus import headers
from lgsp.metrics.run import RunMetrics
from lgsp.profiles import load_topology
from lgsp.run.bus_only import Ending, SubmissionWatch, TimedBy, send_time_us
from lgsp.run.config import NOTHING_CAME_S, BusOnly
from lgsp.run.roles import BUS_ONLY, RoleParts

NOW_US = 1_800_000_000_000_000
SINCE_US = NOW_US - 60_000_000  # it began listening a minute ago
S = 1_000_000_000


def _routing(sent_us: int | None) -> headers.Routing:
    return headers.Routing(headers.DOCUMENT, "D1", "000.00.00.H56", ("000.00.01.H56",), (),
                           sent_us=sent_us)


class TestSendTime:
    @pytest.mark.parametrize(("sent_us", "timestamp_ms", "expected"), [
        pytest.param(NOW_US - 1_000, (NOW_US - 500_000) // 1000, (NOW_US - 1_000,
                                                                   TimedBy.LGSP_SENT),
                     id="an-outside-sender-now"),
        pytest.param(NOW_US - 3_600_000_000, (NOW_US - 2_000) // 1000,
                     (NOW_US - 2_000, TimedBy.RECORD_TIMESTAMP),
                     id="a-replay-with-fresh-kafka-timestamps"),
        pytest.param(NOW_US - 3_600_000_000, (NOW_US - 3_600_000_000) // 1000,
                     (NOW_US, TimedBy.READ_AT_ROUTER), id="a-replay-of-recorded-times"),
        pytest.param(None, -1, (NOW_US, TimedBy.READ_AT_ROUTER), id="neither-given"),
        pytest.param(SINCE_US - 4_000_000, -1, (SINCE_US - 4_000_000, TimedBy.LGSP_SENT),
                     id="a-little-clock-skew-is-believed"),
        pytest.param(NOW_US + 60_000_000, -1, (NOW_US, TimedBy.READ_AT_ROUTER),
                     id="a-send-time-in-the-future-is-not"),
    ])
    def test_the_send_time_is_the_first_one_of_this_runs_time(self, sent_us, timestamp_ms,
                                                             expected):
        """lgsp-sent if it falls in the run's time, else the Kafka timestamp, else now."""
        assert send_time_us(_routing(sent_us), timestamp_ms, now_us=NOW_US,
                            since_us=SINCE_US) == expected


class TestEnding:
    def _watch(self, **settings: float | None) -> SubmissionWatch:
        metrics = RunMetrics()
        topology = load_topology(["thanh-hoa"])
        watch = SubmissionWatch(DeliveryTracker(topology, metrics), metrics, topology,
                                BusOnly(**settings))
        watch.began_ns = 0
        return watch

    def test_idle_counts_from_the_last_submission_not_from_the_start(self):
        watch = self._watch(idle_s=5.0)
        assert watch.due_to_end(100 * S) is None  # waiting for the first document
        watch.first_ns, watch.last_ns = 100 * S, 102 * S
        assert watch.due_to_end(106 * S) is None
        assert watch.due_to_end(107 * S) is Ending.IDLE

    def test_duration_ends_it_whatever_came(self):
        watch = self._watch(idle_s=5.0, window_s=10.0)
        watch.first_ns = watch.last_ns = 9 * S
        assert watch.due_to_end(int(9.5 * S)) is None
        assert watch.due_to_end(10 * S) is Ending.DURATION

    def test_without_duration_nothing_at_all_ends_it_after_a_bounded_wait(self):
        watch = self._watch()
        assert watch.due_to_end(int((NOTHING_CAME_S - 1) * S)) is None
        assert watch.due_to_end(int(NOTHING_CAME_S * S)) is Ending.NOTHING_CAME


def test_a_bus_only_process_routes_receives_and_tracks_what_it_sees():
    """One process, never restarted, statuses straight to its tracker, settles like a sender."""
    parts = RoleParts(BUS_ONLY)
    assert parts.observes
    assert parts.tracks_here
    assert parts.settles
    assert not parts.restartable
    assert not parts.sends
    assert not parts.writes_ledger
