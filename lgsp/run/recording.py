"""``--record``: every topic of a run captured while it runs (``consumers.recorder``), and the
facts of the run a report opens with."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from consumers.recorder import Recorder
from lgsp.codec.registry import SchemaRegistry
from lgsp.config import BrokerConfig
from lgsp.run.plan import RunPlan
from lgsp.signing.pki import PkiExport
from lgsp.signing.pki_files import trust_anchors

FINISH_TIMEOUT_S = 120.0


class RunRecording:
    """Records the run's topics into ``config.record_path`` from ``start()`` to ``finish()``."""

    def __init__(self, plan: RunPlan, broker: BrokerConfig, registry: SchemaRegistry, *,
                 trust: tuple[PkiExport, ...] = ()) -> None:
        """``trust``: the PKIs whose anchors the capture carries (this run's, other hosts')."""
        if plan.config.record_path is None:
            raise ValueError("a run recording needs config.record_path")
        self.path = plan.config.record_path
        self._recorder = Recorder(broker=broker, topics=plan.bus_topics(), out=self.path,
                                  registry=registry, trust_anchors=trust_anchors(*trust))
        self._task: asyncio.Task[int] | None = None
        self.written: int | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._recorder.run(follow=True), name="recording")

    async def finish(self) -> int:
        """Stop following, write what is left, close the file; the number of records."""
        self._recorder.stop()
        if self._task is not None:
            async with asyncio.timeout(FINISH_TIMEOUT_S):
                self.written = await self._task
        return self.written or 0

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()


def run_facts(plan: RunPlan, broker: BrokerConfig, *, started_at: dt.datetime | None,
              bootstrap_source: str, setup_s: float = 0.0, workers: int = 1,
              recorded: int | None = None) -> dict[str, Any]:
    """The ``run`` section of a report: id, start, broker, setup time, workers, capture, config."""
    config = plan.config
    return {"run_id": plan.run_id, "started_at": started_at.isoformat() if started_at else None,
            "broker": bootstrap_source, "bootstrap": broker.bootstrap,
            "setup_s": round(setup_s, 3), "workers": workers,
            "recorded": ({"file": str(config.record_path), "records": recorded}
                         if config.record_path else None),
            "config": config.to_json()}
