"""Live Prometheus metrics of a run (``--metrics-port``), served by ``prometheus-client``.

A custom collector reads the coordinator's latest merged snapshot at scrape time: counters of
documents and deliveries, the in-flight gauge, the schedule lag and a histogram of send → 01 on
the senders' clocks, whose buckets are read from the merged HDR histogram (exact counts ≤ each
bound, not a second sampling). Like the report's ``latency.send_to_arrived``, the histogram leaves
out the documents intended in the warm-up; the counters count every document and delivery.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from lgsp.errors import ConfigError
from lgsp.metrics.histogram import Histogram

log = structlog.get_logger(__name__)

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
COUNTERS = {
    "target": "Documents due by the open-loop schedule so far",
    "sent": "Documents handed to the producer",
    "delivered": "Deliveries acknowledged with status 01",
    "completed": "Deliveries that reached status 06",
    "rejected": "Deliveries refused with status 02",
    "undeliverable": "Deliveries a platform failed (transport FAIL)",
    "lost": "Deliveries without 01 within the ack timeout",
    "send_failed": "Documents our producer could not hand to Kafka",
    "dead_letters": "Records sent to the dead-letter topic",
    "signature_failures": "Signature verifications that failed",
}
Snapshot = Callable[[], dict[str, Any]]


class RunCollector(Collector):
    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        live = self._snapshot()
        for name, help_text in COUNTERS.items():
            yield CounterMetricFamily(f"lgsp_{name}", help_text, value=live.get(name, 0))
        yield GaugeMetricFamily("lgsp_in_flight", "Deliveries awaiting a terminal status",
                                value=live.get("pending", 0))
        yield GaugeMetricFamily("lgsp_schedule_behind_seconds",
                                "How far the slowest worker's sends are behind the schedule",
                                value=live.get("behind_ms", 0.0) / 1000)
        yield GaugeMetricFamily("lgsp_achieved_rate", "Documents sent per second: over the last "
                                "second, over the whole schedule once it is over",
                                value=live.get("achieved_rate", 0.0))
        latency = live.get("send_to_arrived")
        if isinstance(latency, Histogram):
            yield _histogram(latency)

    def describe(self) -> Iterator[Metric]:
        return iter(())


def _histogram(latency: Histogram) -> HistogramMetricFamily:
    buckets = [(str(bound), float(latency.count_at_or_below_us(int(bound * 1e6))))
               for bound in LATENCY_BUCKETS_S]
    buckets.append(("+Inf", float(latency.count)))
    total_s = latency.mean_us * latency.count / 1e6
    return HistogramMetricFamily("lgsp_send_to_arrived_seconds",
                                 "Intended send time to status 01, on the sender's clock; "
                                 "warm-up documents excluded, as in the report's latency "
                                 "(lgsp_delivered counts them)",
                                 buckets=buckets, sum_value=total_s)


@contextlib.contextmanager
def serve_metrics(port: int, snapshot: Snapshot) -> Iterator[int]:
    """Serve ``/metrics`` on ``port`` (0 = any free port; the port is yielded)."""
    registry = CollectorRegistry()
    registry.register(RunCollector(snapshot))
    try:
        # all interfaces, like every exporter: Prometheus scrapes from another host
        server, thread = start_http_server(port, addr="0.0.0.0", registry=registry)  # noqa: S104
    except (OSError, OverflowError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise ConfigError(f"--metrics-port {port}: cannot listen ({reason})") from None
    bound = server.server_address[1]
    log.info("metrics_serving", port=bound)
    try:
        yield int(bound)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
