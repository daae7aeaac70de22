"""The load-testing issue's three figures, measured in one run on this machine.

(a) raw pipe — a raw aiokafka produce→consume pipe carrying the same number of records of the same
    mean size per document as the simulation, with the same client settings, on the embedded
    broker: the Kafka client + broker ceiling, in documents/s equivalent.
(b) stage-cost bound — the per-document CPU of signing, encoding, decoding, verifying, routing,
    statuses and tracking measured in isolation (``stage_cost.py``), on the cores available.
(c) the full simulation (``lgsp simulate --find-max --workers N``): the highest rate that sustains
    the criterion (send→01 p99 within the bound, senders on schedule, no growing backlog, nothing
    lost), then a run at half of it and its send→01 p99.

Each trial of (c) also says which processes used the CPU (broker, workers, signing processes,
coordinator): on the embedded broker the broker's own CPU is what ends a trial first.

With ``--bootstrap HOST:PORT`` (a)'s pipe and (c)'s runs go to that cluster instead of an embedded
broker — Apache Kafka 4 from ``scripts/apache-kafka.sh start`` — and ``--broker-pid`` names its
process so its CPU is counted too.

With ``--sign-ahead N`` the simulation signs in N processes per worker ahead of the send time
(``producers.sign_ahead``): (b) is then also given for what stays on the send path (every stage
but signing), and the pool's own signing throughput is measured.

    python benchmarks/load_figures.py [--sig-alg rsa2048] [--workers 2] [--fan-out 3]
        [--trial-s 20] [--start-rate 100] [--bound-ms 500] [--sign-ahead 0]
        [--bootstrap HOST:PORT [--broker-pid PID]]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e_vs_raw_pipe import count_records, raw_pipe
from process_cpu import ProcessCpu
from stage_cost import measure_stage_costs

from lgsp.broker.embedded import EmbeddedBroker
from lgsp.config import BrokerConfig
from lgsp.logs import configure_logging
from lgsp.metrics.slo import Slo
from lgsp.run import LoadRun, SimulationConfig, find_max_rate
from lgsp.signing import Pki, SignatureAlgorithm, SignatureRole
from lgsp.signing.pool import SigningPool


def base_config(args: argparse.Namespace) -> SimulationConfig:
    return SimulationConfig(documents=None, duration_s=args.trial_s, rate=args.start_rate,
                            fan_out_mean=args.fan_out, sign_ahead=args.sign_ahead,
                            signature_algorithm=SignatureAlgorithm.parse(args.sig_alg))


async def pool_throughput(args: argparse.Namespace, seconds: float = 5.0) -> float:
    """Documents/s the signing pool of one worker signs (two signatures each), flat out."""
    pki = Pki(SignatureAlgorithm.parse(args.sig_alg))
    credentials = [pki.credential("000.00.00.H56", role, holder="h", organization="o")
                   for role in SignatureRole]
    pool = SigningPool(credentials, args.sign_ahead)
    await pool.start()
    try:
        done = 0
        deadline = time.monotonic() + seconds
        started = time.monotonic()
        while time.monotonic() < deadline:
            batch = [pool.sign(os.urandom(32), credentials, dt.datetime.now(dt.UTC))
                     for _ in range(64 * args.sign_ahead)]
            await asyncio.gather(*batch)
            done += len(batch)
        return done / (time.monotonic() - started)
    finally:
        await pool.close()


def broker_config(args: argparse.Namespace) -> BrokerConfig:
    """The cluster given, or (no bootstrap) a fresh embedded broker for each run."""
    return BrokerConfig(bootstrap=args.bootstrap)


class CpuMeasuredRun:
    """A run whose processes' CPU is measured while it runs (start and drain included)."""

    measured: ClassVar[list[ProcessCpu]] = []

    def __init__(self, load: LoadRun, broker_pid: int | None) -> None:
        self.load = load
        self.broker_pid = broker_pid

    async def run(self, stop: asyncio.Event | None = None) -> dict[str, Any]:
        with ProcessCpu(self.broker_pid) as cpu:
            report: dict[str, Any] = await self.load.run(stop)
        CpuMeasuredRun.measured.append(cpu)
        return report


async def raw_pipe_figure(args: argparse.Namespace) -> dict[str, Any]:
    """Records per document and their size from a short simulation, then the raw pipe."""
    async with contextlib.AsyncExitStack() as stack:
        if args.bootstrap:
            broker = broker_config(args)
        else:
            embedded = await stack.enter_async_context(EmbeddedBroker())
            broker = BrokerConfig(bootstrap=embedded.bootstrap)
        config = dataclasses.replace(base_config(args), duration_s=None, documents=1000,
                                     rate=100.0, keep_topics=True)
        load = LoadRun(config, broker, workers=1)
        await load.run()
        topics = load.plan.topics.all_for(load.plan.topology.platforms)
        records, size = await count_records(broker, topics)
        mean_size = size // max(records, 1)
        seconds = await raw_pipe(broker, records, mean_size)
    per_doc = records / 1000
    return {"records": records, "records_per_document": per_doc, "mean_record_bytes": mean_size,
            "records_per_s": records / seconds,
            "documents_per_s_equivalent": records / seconds / per_doc}


async def simulation_figures(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    gates = [Slo.parse(f"p99(send_to_arrived) < {args.bound_ms}ms")]
    found = await find_max_rate(
        lambda c: CpuMeasuredRun(LoadRun(c, broker_config(args), workers=args.workers),
                                 args.broker_pid), base_config(args), gates,
        stop=asyncio.Event(), progress=lambda event, data: print(
            f"  trial {data['trial']}: {data['rate']:.0f} documents/s"
            if event == "trial" else "", end="\n" if event == "trial" else "", flush=True))
    half_rate = found["find_max"]["max_rate"] / 2
    half = await CpuMeasuredRun(LoadRun(
        dataclasses.replace(base_config(args), rate=max(half_rate, 1.0),
                            warmup_s=args.trial_s * 0.2),
        broker_config(args), workers=args.workers), args.broker_pid).run()
    return found, half


def main(args: argparse.Namespace) -> None:
    configure_logging("console", "error")
    cores = os.cpu_count() or 1
    where = f"cluster {args.bootstrap}" if args.bootstrap else "embedded Tansu"
    print(f"lgsp-sim load figures · {platform.node()} · {cores} cores · Python "
          f"{platform.python_version()} · {where} · {args.sig_alg} · fan-out "
          f"{args.fan_out} · {args.workers} workers")
    print("(b) stage-cost bound (CPU per document in isolation) ...", flush=True)
    bound = measure_stage_costs(args.sig_alg, args.fan_out, 300)
    pool_rate = asyncio.run(pool_throughput(args)) if args.sign_ahead else None
    print("(a) raw aiokafka pipe ...", flush=True)
    raw = asyncio.run(raw_pipe_figure(args))
    print("(c) full simulation: find-max, then half of it ...", flush=True)
    found, half = asyncio.run(simulation_figures(args))
    max_rate = found["find_max"]["max_rate"]
    print()
    print(f"(a) raw pipe: {raw['records_per_s']:.0f} records/s of {raw['mean_record_bytes']} B "
          f"= {raw['documents_per_s_equivalent']:.0f} documents/s equivalent "
          f"({raw['records_per_document']:.1f} records per document)")
    print(f"(b) stage-cost bound: {bound['total_us_per_document']:.0f} µs CPU per document → "
          f"{bound['bound_documents_per_s']:.0f} documents/s on {cores} cores "
          f"({bound['bound_documents_per_s_1_core']:.0f} on one)")
    if pool_rate is not None:
        sign_us = bound["groups_us_per_document"].get("signing", 0.0)
        send_path_us = bound["total_us_per_document"] - sign_us
        print(f"    on the send path (signing ahead): {send_path_us:.0f} µs CPU per document → "
              f"{cores * 1e6 / send_path_us:.0f} documents/s on {cores} cores; the signing pool "
              f"({args.sign_ahead} process per worker) signs {pool_rate:.0f} documents/s flat "
              f"out ({sign_us:.0f} µs of signing per document)")
    print(f"(c) max sustainable rate: {max_rate:.0f} documents/s "
          f"(criterion: send→01 p99 < {args.bound_ms} ms, on schedule, backlog flat, 0 lost)")
    cpu = CpuMeasuredRun.measured
    for trial, used in zip(found["find_max"]["trials"], cpu, strict=False):
        print(f"      {trial['rate']:>7.0f}/s  p99 {trial['send_to_arrived_p99_ms']:>8.1f} ms  "
              f"lag p99 {trial['schedule_lag_p99_ms']:>8.1f} ms  "
              f"{'sustained' if trial['sustained'] else '; '.join(trial['reasons'])}")
        print(f"                CPU: {used.summary()}")
    latency = half["latency"]["send_to_arrived"]
    print(f"    at half ({max_rate / 2:.0f}/s for {args.trial_s:.0f} s): send→01 p50 "
          f"{latency['p50']:.1f} ms, p99 {latency['p99']:.1f} ms, p99.9 {latency['p99.9']:.1f} "
          f"ms, max {latency['max']:.1f} ms; lost {half['totals']['lost']}")
    print(f"                CPU: {cpu[-1].summary()}")
    print(f"ratios: (c)/(b) = {max_rate / bound['bound_documents_per_s']:.2f} of the stage-cost "
          f"bound · (c)/(a) = {max_rate / raw['documents_per_s_equivalent']:.2f} of the raw pipe"
          f" · {max_rate / cores:.0f} documents/s per core")
    print("targets (issue 13): (c)/(a) ≥ 0.4, (c)/(b) ≥ 0.7, p99 send→01 ≤ 250 ms at half of "
          "(c)")
    print("reproduce: python " + " ".join(sys.argv))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sig-alg", default="rsa2048")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--fan-out", type=float, default=3.0)
    parser.add_argument("--trial-s", type=float, default=20.0)
    parser.add_argument("--start-rate", type=float, default=100.0)
    parser.add_argument("--bound-ms", type=float, default=500.0)
    parser.add_argument("--sign-ahead", type=int, default=0,
                        help="signing processes per worker (0: sign in line)")
    parser.add_argument("--bootstrap", default=None,
                        help="measure (a) and (c) on this cluster, not an embedded broker")
    parser.add_argument("--broker-pid", type=int, default=None,
                        help="the --bootstrap cluster's broker process, to count its CPU")
    main(parser.parse_args())
