"""End-to-end documents/s of the simulation vs a raw aiokafka produce→consume pipe, in one run.

1. The simulation sends N signed documents (fan-out ≈2.9, personal + agency signatures, routing
   through LGSP/VDXP, the full status lifecycle with zero processing delay, tracking) at an
   open-loop rate above what it can take; documents/s = N / (first send → last status 06).
2. Every topic of that run is then consumed to count the Kafka records it really carried and
   their mean size (counting by consuming: the broker's watermarks may under-report).
3. A raw aiokafka pipe produces the same number of records of that size to a topic with the same
   partitions and consumes them in a consumer group, with the same client settings.

The figure is the ratio: simulation documents/s ÷ (raw pipe records/s ÷ records per document).

    python benchmarks/e2e_vs_raw_pipe.py [--documents 3000] [--rate 400] [--sig-alg rsa2048]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from lgsp.broker.embedded import EmbeddedBroker
from lgsp.bus.admin import create_topics
from lgsp.config import BrokerConfig, RecipientConfig
from lgsp.logs import configure_logging
from lgsp.run import Simulation, SimulationConfig
from lgsp.signing import SignatureAlgorithm


async def count_records(broker: BrokerConfig, topics: list[str]) -> tuple[int, int]:
    """(records, bytes) in ``topics``, by consuming them to the end."""
    consumer = AIOKafkaConsumer(*topics, **broker.consumer_kwargs(f"count-{uuid.uuid4().hex}"))
    await consumer.start()
    records = size = 0
    idle_since = time.monotonic()
    try:
        while time.monotonic() - idle_since < 2.0:
            batch = await consumer.getmany(timeout_ms=200, max_records=10_000)
            for msgs in batch.values():
                records += len(msgs)
                size += sum(len(m.value or b"") + len(m.key or b"") + sum(
                    len(k) + len(v or b"") for k, v in m.headers) for m in msgs)
            if batch:
                idle_since = time.monotonic()
    finally:
        await consumer.stop()
    return records, size


async def raw_pipe(broker: BrokerConfig, count: int, size: int) -> float:
    """Seconds to produce ``count`` records of ``size`` bytes and consume them all."""
    topic = f"bench.raw.{uuid.uuid4().hex[:8]}"
    await create_topics(broker, [topic])
    consumer = AIOKafkaConsumer(topic, **broker.consumer_kwargs(f"raw-{uuid.uuid4().hex}"))
    await consumer.start()
    producer = AIOKafkaProducer(**broker.producer_kwargs())
    await producer.start()
    payload = os.urandom(size)
    received = 0

    async def consume() -> None:
        nonlocal received
        while received < count:
            batch = await consumer.getmany(timeout_ms=100, max_records=10_000)
            received += sum(len(m) for m in batch.values())
            if batch:
                await consumer.commit()

    # wait for the group assignment before the clock starts
    while not consumer.assignment():
        await consumer.getmany(timeout_ms=100)
    start = time.perf_counter_ns()
    reader = asyncio.create_task(consume())
    futures = []
    for i in range(count):
        futures.append(await producer.send(topic, payload, key=str(i % 997).encode()))
        if len(futures) >= 1000:
            await asyncio.gather(*futures)
            futures = []
    await asyncio.gather(*futures)
    async with asyncio.timeout(300):
        await reader
    elapsed = (time.perf_counter_ns() - start) / 1e9
    await producer.stop()
    await consumer.stop()
    return elapsed


async def main(args: argparse.Namespace) -> None:
    configure_logging("console", "warning")
    async with EmbeddedBroker() as embedded:
        broker = BrokerConfig(bootstrap=embedded.bootstrap)
        sim = Simulation(SimulationConfig(
            profiles=("thanh-hoa", "hai-duong"), documents=args.documents, rate=args.rate,
            signature_algorithm=SignatureAlgorithm.parse(args.sig_alg), keep_topics=True,
            recipient=RecipientConfig(step_delay_s=0.0), settle_timeout_s=300),
            broker)
        report = await sim.run()
        totals = report["totals"]
        sim_docs_s = totals["documents"] / totals["duration_s"]
        records, size = await count_records(broker, sim.topics.all_for(sim.topology.platforms))
        per_doc = records / totals["documents"]
        mean_size = size // max(records, 1)
        raw_s = await raw_pipe(broker, records, mean_size)
    raw_records_s = records / raw_s
    raw_docs_s = raw_records_s / per_doc
    print(f"lgsp-sim end-to-end vs raw aiokafka pipe · {platform.node()} · "
          f"{os.cpu_count()} cores · Python {platform.python_version()} · embedded Tansu")
    print(f"simulation: {totals['documents']} documents, {totals['sent']} deliveries "
          f"(fan-out {report['routing']['fan_out']['mean']}), {args.sig_alg}, completed "
          f"{totals['completed']}, lost {totals['lost']}, in {totals['duration_s']:.2f} s "
          f"→ {sim_docs_s:.1f} documents/s end to end")
    print(f"  send→01 p50/p99 {totals['send_to_arrived_ms']['p50']:.0f}/"
          f"{totals['send_to_arrived_ms']['p99']:.0f} ms at an offered {args.rate}/s")
    print(f"records on the bus: {records} ({per_doc:.1f} per document), mean {mean_size} B "
          f"(value + key + headers)")
    print(f"raw aiokafka pipe: {records} records × {mean_size} B produced and consumed in "
          f"{raw_s:.2f} s → {raw_records_s:.0f} records/s = {raw_docs_s:.1f} documents/s "
          f"equivalent")
    print(f"ratio simulation / raw pipe: {sim_docs_s / raw_docs_s:.2f}")
    print("reproduce: python " + " ".join(sys.argv))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=400.0, help="offered documents/s")
    parser.add_argument("--sig-alg", default="rsa2048")
    asyncio.run(main(parser.parse_args()))
