"""``lgsp record`` and ``lgsp replay``: capture what crossed the bus, play it back."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from lgsp.cli import options
from lgsp.cli.durations import DURATION_HELP, duration


def parse_time(text: str | None, flag: str) -> dt.datetime | None:
    from lgsp.errors import ConfigError

    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: give an ISO 8601 time, e.g. "
                          "2023-03-01T08:00:00+07:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _csv(text: str | None) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()] if text else []


@options.broker_options(bootstrap_help="Kafka HOST:PORT to record from (required).")
def record(
    out: Annotated[Path, typer.Option("--out", "-o", help="Capture file to write.")],
    topics: Annotated[str, typer.Option("--topics", help="Comma-separated topics to record.")],
    from_time: Annotated[str | None, typer.Option(
        "--from", help="Start at this time (ISO 8601); default: the earliest offset.")] = None,
    to_time: Annotated[str | None, typer.Option(
        "--to", help="Stop at records after this time (ISO 8601).")] = None,
    count: Annotated[int | None, typer.Option("--count", help="Stop after N records.")] = None,
    duration: Annotated[float | None, typer.Option(
        "--duration", parser=duration, metavar="DURATION",
        help=f"Stop after this long ({DURATION_HELP}).")] = None,
    until_end: Annotated[bool, typer.Option(
        "--until-end", help="Stop at the end offsets seen at start.")] = False,
    connection: options.BrokerOptions = options.NOT_GIVEN,
) -> None:
    """Record topics into a self-describing Avro capture file (values byte for byte)."""
    from consumers.recorder import Recorder, RecordingLimits
    from lgsp.codec.registry import FileSchemaRegistry
    from lgsp.errors import ConfigError
    from lgsp.logs import configure_logging

    configure_logging("auto", "warning")
    options.check_output_files(out=out)
    if connection.bootstrap is None:
        raise ConfigError("lgsp record needs --bootstrap HOST:PORT (or LGSP_BOOTSTRAP): the "
                          "cluster to record from")
    end_time = parse_time(to_time, "--to")
    if not (count or duration or until_end or end_time):
        until_end = True  # a recording of a finite thing by default
    if end_time is not None and end_time <= dt.datetime.now(dt.UTC):
        until_end = True  # --to in the past: partitions that never pass it end at their end
    broker = connection.config()
    limits = RecordingLimits(from_time=parse_time(from_time, "--from"),
                             to_time=end_time, count=count,
                             duration_s=duration, until_end=until_end)
    recorder = Recorder(broker=broker, topics=_csv(topics), out=out,
                        registry=FileSchemaRegistry(), limits=limits,
                        progress=_progress_line("recorded"))
    try:
        written = asyncio.run(recorder.run())
    except KeyboardInterrupt:
        print(f"lgsp: interrupted; {out} is complete up to its last block", file=sys.stderr)
        raise typer.Exit(130) from None
    print(f"recorded {written} records from {', '.join(_csv(topics))} into {out}")


def _progress_line(verb: str) -> Any:
    if not sys.stderr.isatty():
        return None

    def show(n: int, total: int | None = None) -> None:
        of = f"/{total}" if total else ""
        print(f"\r{verb} {n}{of}", end="", file=sys.stderr, flush=True)

    return show


@options.broker_options(bootstrap_help="Kafka HOST:PORT to replay into (required unless "
                                       "--dry-run; replay never starts a broker).")
def replay(
    capture: Annotated[Path, typer.Argument(
        help="Capture file from lgsp record.", exists=True, dir_okay=False, readable=True)],
    speed: Annotated[str, typer.Option(
        "--speed", help="10 or 10x = ten times faster; 50% = half speed.")] = "1",
    max_gap: Annotated[float | None, typer.Option(
        "--max-gap", parser=duration, metavar="DURATION",
        help=f"Shorten recorded gaps longer than this ({DURATION_HELP}).")] = None,
    loop: Annotated[int, typer.Option("--loop", help="Play N times (needs --rewrite-ids).")] = 1,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Show what would be sent and how long it would take.")] = False,
    from_time: Annotated[str | None, typer.Option(
        "--from", help="Only records at or after this time (ISO 8601).")] = None,
    to_time: Annotated[str | None, typer.Option(
        "--to", help="Only records at or before this time (ISO 8601).")] = None,
    topic: Annotated[str | None, typer.Option("--topic", help="Only these topics (a,b).")] = None,
    tier: Annotated[str | None, typer.Option(
        "--tier", help="Only documents sent by these tiers: central, province, district, "
                       "commune (e.g. central,commune).")] = None,
    agency: Annotated[str | None, typer.Option(
        "--agency", help="Only documents from or to these agency codes.")] = None,
    document_type: Annotated[str | None, typer.Option(
        "--document-type", help="Only these Decree 30 types (e.g. 'công văn,quyết định').")
    ] = None,
    priority: Annotated[str | None, typer.Option(
        "--priority", help="Only these priorities (0-4, e.g. 1,2,3).")] = None,
    submissions_only: Annotated[bool, typer.Option(
        "--submissions-only", help="Only documents as senders submitted them (the bus "
                                   "routes them again).")] = False,
    topic_map: Annotated[list[str] | None, typer.Option(
        "--topic-map", help="Send topic a to topic b: a=b (repeatable; wins over --into-run)."
    )] = None,
    into_run: Annotated[str | None, typer.Option(
        "--into-run", metavar="RUN_ID",
        help="Send the capture's run topics to run RUN_ID's: lgsp.<recorded run>.<platform>."
             "inbound → lgsp.RUN_ID.<platform>.inbound, and so on (e.g. into lgsp simulate "
             "--bus-only --run-id RUN_ID; with --submissions-only its routers route them "
             "again). Implies --timestamps fresh unless given.")] = None,
    timestamps: Annotated[str | None, typer.Option(
        "--timestamps", help="original (recorded; the default) or fresh (now, also a "
                             "document's lgsp-sent header; the default with --into-run).")
    ] = None,
    rewrite_ids: Annotated[bool, typer.Option(
        "--rewrite-ids", help="Give documents consistent new DocumentIds (new traffic).")
    ] = False,
    salt: Annotated[str, typer.Option(
        "--salt", help="Varies the rewritten ids and the ledger key between campaigns.")] = "",
    no_ledger: Annotated[bool, typer.Option(
        "--no-ledger", help="Do not skip what an earlier replay of this capture sent.")] = False,
    skip_corrupt: Annotated[bool, typer.Option(
        "--skip-corrupt", help="Continue past a corrupt block instead of refusing the file.")
    ] = False,
    partitions: Annotated[int | None, typer.Option(
        "--partitions", help="Partitions of destination topics the replay creates (default: "
                             "as many as the recorded topic had, so records keep their "
                             "partition).")] = None,
    profile: Annotated[list[str] | None, typer.Option(
        "--profile", help="Profiles that give agencies their tier (for --tier).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Result as JSON on stdout.")] = False,
    connection: options.BrokerOptions = options.NOT_GIVEN,
) -> None:
    """Play a capture back on an absolute clock, filtered, without duplicates; print the timing
    fidelity (scheduled vs actual send time)."""
    from lgsp.errors import ConfigError
    from lgsp.logs import configure_logging
    from lgsp.profiles import load_topology
    from lgsp.run import DEFAULT_PROFILES
    from producers.replayer import ReplayConfig, Replayer, ReplayFilter, parse_speed

    configure_logging("auto", "warning")
    mapping: dict[str, str] = {}
    for item in topic_map or []:
        source, sep, target = item.partition("=")
        if not sep or not source or not target:
            raise ConfigError(f"--topic-map {item!r} must be SOURCE=TARGET")
        mapping[source] = target
    if timestamps is None:
        timestamps = "fresh" if into_run else "original"
    if timestamps not in ("original", "fresh"):
        raise ConfigError("--timestamps must be original or fresh")
    try:
        priorities = frozenset(int(p) for p in _csv(priority))
    except ValueError:
        raise ConfigError(f"--priority {priority!r} must be numbers 0-4") from None
    if not priorities <= set(range(5)):
        raise ConfigError(f"--priority {priority!r} must be numbers 0-4")
    start, end = parse_time(from_time, "--from"), parse_time(to_time, "--to")
    selection = ReplayFilter(
        topics=frozenset(_csv(topic)), agencies=frozenset(_csv(agency)),
        tiers=frozenset(_csv(tier)), document_types=frozenset(_csv(document_type)),
        priorities=priorities, submissions_only=submissions_only,
        from_ms=int(start.timestamp() * 1000) if start else None,
        to_ms=int(end.timestamp() * 1000) if end else None)
    config = ReplayConfig(speed=parse_speed(speed), max_gap_s=max_gap, loops=loop,
                          topic_map=mapping, into_run=into_run,
                          fresh_timestamps=timestamps == "fresh",
                          rewrite_ids=rewrite_ids, salt=salt, use_ledger=not no_ledger,
                          skip_corrupt=skip_corrupt, partitions=partitions)
    # the default profiles, one per province (thanh-hoa-2024 is another year of thanh-hoa)
    topology = load_topology(list(profile or DEFAULT_PROFILES)) if tier else None
    unknown = sorted(selection.tiers - set(topology.tiers)) if topology else []
    if topology and unknown:
        raise ConfigError(f"--tier {', '.join(unknown)}: not a tier of the profiles; tiers: "
                          f"{', '.join(topology.tiers)}")
    broker = None
    if not dry_run:
        if connection.bootstrap is None:
            raise ConfigError("lgsp replay needs --bootstrap HOST:PORT (or LGSP_BOOTSTRAP) "
                              "unless --dry-run")
        broker = connection.config()
    replayer = Replayer(capture, broker=broker, config=config, selection=selection,
                        topology=topology, progress=_progress_line("sent"))
    if dry_run:
        result = replayer.dry_run()
    else:
        try:
            result = asyncio.run(replayer.run())
        except KeyboardInterrupt:
            print("lgsp: interrupted; what was acknowledged is in the ledger, a new run resumes",
                  file=sys.stderr)
            raise typer.Exit(130) from None
    data = result.to_json()
    if json_out:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return
    verb = "would send" if dry_run else "sent"
    print(f"{capture}: {verb} {result.planned if dry_run else result.sent} of "
          f"{len(replayer.records)} records ({result.skipped_by_filter} filtered out, "
          f"{result.skipped_already_replayed} already replayed) at speed {config.speed:g}x")
    if result.corrupt_blocks_skipped:
        lost = (f"{result.records_unreadable} records unreadable between readable ones"
                if result.records_unreadable else "how many records they held is unknown")
        print(f"  skipped {result.corrupt_blocks_skipped} corrupt block(s) (--skip-corrupt): "
              f"{lost}; a corrupt last block hides the records after index "
              f"{max((r.index for r in replayer.records), default=-1)}")
    for name, n in sorted(result.by_topic.items()):
        print(f"  {name}: {n}")
    if not dry_run and result.sent == 0:
        print("nothing was sent" + (" (everything had been replayed before: --no-ledger or "
                                    "--salt to send it again)"
                                    if result.skipped_already_replayed else ""))
        return
    print(f"scheduled duration {result.scheduled_duration_s:.3f} s", end="")
    if dry_run:
        print(" (predicted)")
        return
    err = data["timing_error_ms"]
    print(f", actual {result.actual_duration_s:.3f} s; timing error (actual − scheduled) "
          f"p50 {err['p50']} ms, p99 {err['p99']} ms, max {err['max']} ms")
