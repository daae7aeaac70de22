"""``lgsp simulate``: a province's document traffic through a real Kafka-compatible broker."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from lgsp.cli import options
from lgsp.cli.durations import DURATION_HELP, duration
from lgsp.logs import configure_logging

BUS_ONLY_PANEL = "Bus-only run (replayed or outside senders' traffic)"
AUTO_ROTATE_AFTER_S = 180.0
AUTO_ROTATE_PERIOD_S = 60.0


@options.broker_options(bootstrap_help="Kafka HOST:PORT to use instead of the embedded broker "
                                       "(default: start the embedded broker).")
def simulate(
    ctx: typer.Context,
    profile: Annotated[list[str] | None, typer.Option(
        "--profile", "-p", envvar="LGSP_PROFILE",
        help="Province profile (repeat to combine provinces; the central tier is always in): "
             "thanh-hoa, hai-duong, or a YAML path. "
             "Default: thanh-hoa and hai-duong.")] = None,
    documents: Annotated[int | None, typer.Option(
        "--documents", "-n", envvar="LGSP_DOCUMENTS",
        help="Documents to send (default 500; with --duration: no cap).")] = None,
    rate: Annotated[float, typer.Option(
        "--rate", "-r", envvar="LGSP_RATE",
        help="Open-loop send rate, documents/s (the peak of a workday shape and the end of "
             "a plain ramp; steps and ramp:A..B set their own rates).")] = 20.0,
    duration: Annotated[float | None, typer.Option(
        "--duration", parser=duration, metavar="DURATION", envvar="LGSP_DURATION",
        help=f"Length of the schedule ({DURATION_HELP}; default: documents / rate). "
             "--bus-only: how long it listens.")] = None,
    shape: Annotated[str, typer.Option(
        "--shape", envvar="LGSP_SHAPE",
        help="Load shape: constant, ramp[:FROM..TO], steps:R1xD1,R2xD2,... "
             "(e.g. steps:100x30s,200x30s) or workday[:week] (office hours with a "
             "Monday-morning peak, compressed into --duration; --rate is the peak).")
    ] = "constant",
    warmup: Annotated[float, typer.Option(
        "--warmup", parser=duration, metavar="DURATION", envvar="LGSP_WARMUP",
        help="Time at the start whose documents are sent and counted but left out of "
             f"latency figures ({DURATION_HELP}).")] = 0.0,
    workers: Annotated[int, typer.Option(
        "--workers", "-w", envvar="LGSP_WORKERS",
        help="Worker processes sharing the load by sending agency (use the cores).")] = 1,
    bus_workers: Annotated[int, typer.Option(
        "--bus-workers", envvar="LGSP_BUS_WORKERS",
        help="Crash-tolerant run (0 = off): the platforms' routers and the recipients run in "
             "this many router processes and as many recipient processes, and each of the "
             "--workers senders has its tracker in a process of its own; their pids are printed "
             "when the schedule starts. One that dies (even by SIGKILL) is restarted and "
             "recovers from the bus without loss or duplicates.")] = 0,
    host_shard: Annotated[str | None, typer.Option(
        "--host-shard", help="This host's part of a load spread over hosts, e.g. 1/2 "
                             "(merge the reports with lgsp report merge).")] = None,
    slo: Annotated[list[str] | None, typer.Option(
        "--slo", help="A gate the run must pass, e.g. 'p99(send_to_arrived) < 250ms' or "
                      "'lost == 0' (repeatable; see docs/slo.md). Breach: exit 6.")] = None,
    html: Annotated[Path | None, typer.Option(
        "--html", help="Write the self-contained HTML report (charts) to this file.")] = None,
    metrics_port: Annotated[int | None, typer.Option(
        "--metrics-port", envvar="LGSP_METRICS_PORT",
        help="Serve live Prometheus metrics on this port during the run.")] = None,
    rotate_topics: Annotated[float | None, typer.Option(
        "--rotate-topics", parser=duration, metavar="DURATION", envvar="LGSP_ROTATE_TOPICS",
        help="Rotate the run's topics every DURATION of schedule and drop finished ones, so a "
             "broker that keeps every byte (the embedded one) stays within memory "
             f"({DURATION_HELP}). Default: 1m on the embedded broker for schedules over 3 "
             "minutes; 0 = never.")] = None,
    find_max: Annotated[bool, typer.Option(
        "--find-max", help="Search the highest sustainable rate (latency bound from --slo "
                           "p99(send_to_arrived), backlog not growing); --rate is the first "
                           "guess, --duration each trial's length.")] = False,
    fan_out: Annotated[float | None, typer.Option(
        "--fan-out", help="Mean recipients per document, 1 to 12 (default: the traffic "
                          "profile's 2.9).")
    ] = None,
    sig_alg: Annotated[str, typer.Option(
        "--sig-alg", envvar="LGSP_SIG_ALG", help="rsa2048 (default), ed25519 or p256.")
    ] = "rsa2048",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the traffic model.")] = 1,
    step_delay: Annotated[float, typer.Option(
        "--step-delay", parser=duration, metavar="DURATION",
        help=f"Recipient processing delay between statuses 03..06 ({DURATION_HELP}).")
    ] = 0.05,
    intake_delay: Annotated[float, typer.Option(
        "--intake-delay", parser=duration, metavar="DURATION",
        help="Time each recipient platform spends taking in a document before 01, in line "
             f"(simulates a slow recipient system; {DURATION_HELP}).")
    ] = 0.0,
    ack_timeout: Annotated[float, typer.Option(
        "--ack-timeout", parser=duration, metavar="DURATION",
        help=f"A delivery without status 01 after this long is lost ({DURATION_HELP}).")
    ] = 30.0,
    broker_timeout: Annotated[float, typer.Option(
        "--broker-timeout", parser=duration, metavar="DURATION",
        help="End the run (exit 4, with the report of what was confirmed) once the broker has "
             "been unreachable this long; shorter outages are ridden out (clients retry; "
             f"{DURATION_HELP}).")] = 30.0,
    settle_timeout: Annotated[float, typer.Option(
        "--settle-timeout", parser=duration, metavar="DURATION",
        help=f"How long to wait after the last send for lifecycles to end ({DURATION_HELP}).")
    ] = 60.0,
    signature_policy: Annotated[str, typer.Option(
        "--signature-policy",
        help="require-agency (default: a missing personal signature is counted, not refused) "
             "or require-both (Decree 30: refuse with 02).")] = "require-agency",
    lenient_lgsp: Annotated[bool, typer.Option(
        "--lenient-lgsp", help="LGSPs deliver to unknown codes of their own province instead "
                               "of failing them.")] = False,
    document_versions: Annotated[str | None, typer.Option(
        "--document-versions",
        help="Document schema versions agencies write, spread by agency, e.g. 1,2 (a schema "
             "rollout in progress). Default: the latest.")] = None,
    registry_url: Annotated[str | None, typer.Option(
        "--registry-url", envvar="LGSP_REGISTRY_URL",
        help="Confluent-compatible Schema Registry to take schemas from instead of the "
             "files.")] = None,
    sign_ahead: Annotated[int, typer.Option(
        "--sign-ahead", envvar="LGSP_SIGN_AHEAD",
        help="Signing processes per worker that sign each document ahead of its send time (up "
             "to 2 s), as agencies do, so the send path only produces; 0 signs in line. Worth "
             "it where cores are left over (see README, Performance).")] = 0,
    otlp_endpoint: Annotated[str | None, typer.Option(
        "--otlp-endpoint", envvar="LGSP_OTLP_ENDPOINT",
        help="Export each document's journey as an OpenTelemetry trace (a span per hop and per "
             "status) over OTLP/HTTP to this URL, e.g. http://localhost:4318 (Jaeger "
             "all-in-one). Default: no tracing and no traceparent header.")] = None,
    inject: Annotated[list[str] | None, typer.Option(
        "--inject", help="Inject faults: KIND=RATE,... (rate 0.02 or 2%; 'all=1%' for every "
                         "kind; repeatable). Kinds: bad-signature, tampered-content, "
                         "expired-certificate, revoked-certificate, unknown-issuer, "
                         "foreign-signer, unknown-recipient, schema-invalid, undecodable, "
                         "duplicate-delivery, out-of-order-status, dropped-status, "
                         "secret-document, forged-status (needs --status-seals; 'all' includes "
                         "it unless they are off). A kind given again takes the later rate; "
                         "the rates add up to 100% at most. The report shows each kind's "
                         "detection.")
    ] = None,
    status_seals: Annotated[str, typer.Option(
        "--status-seals", envvar="LGSP_STATUS_SEALS", metavar="auto|on|off",
        help="Seal every business status with the answering agency's agency-seal certificate "
             "and count any status not sealed by its recipient as forged: it never moves a "
             "lifecycle and fails the run (docs/contract.md §7a). auto (default): on with "
             "--external recipients or --inject forged-status. Costs CPU at the recipients and "
             "the tracker, per status (five per delivery): RSA-2048 about 0.3 ms to seal "
             "(0.7 ms wall on a busy 2-core machine) and 0.03 ms to check; ed25519 and p256 "
             "under 0.15 ms each. off seals and checks nothing.")] = "auto",
    external: Annotated[list[str] | None, typer.Option(
        "--external", metavar="recipient=CODE|platform=LGSP-CODE|vdxp",
        help="Put your own service in the run. recipient=CODE[,CODE]: lgsp-sim does not take "
             "in the documents addressed to these agencies; your service reads them from its "
             "platform's deliver topic and answers with statuses (docs/contract.md §9). "
             "platform=LGSP-H56 or vdxp: lgsp-sim runs no router for that platform; your "
             "router reads its inbound topic and routes (§10; `lgsp topology --directory`). "
             "Before the load, each gets a signed probe document and the run waits for its "
             "answer (--external-timeout); the report grades what it did ('System under "
             "test'; exit 1 if a check failed). Repeatable. Use the same --run-id as your "
             "service (and, for a recipient, the same --pki-out/--pki).")
    ] = None,
    allow_foreign_statuses: Annotated[bool, typer.Option(
        "--allow-foreign-statuses",
        help="Statuses about documents this run did not send (replayed or outside traffic on "
             "its topics) or from a party other than the recipient are counted in the report "
             "but do not fail the run (exit 1 otherwise).")] = False,
    external_share: Annotated[float, typer.Option(
        "--external-share", min=0.0, max=1.0,
        help="Share of documents addressed to one of the --external recipients (in place of a "
             "drawn recipient; 0..1).")] = 1.0,
    external_timeout: Annotated[float, typer.Option(
        "--external-timeout", parser=duration, metavar="DURATION",
        help=f"How long to wait for each --external party to answer its probe ({DURATION_HELP})."
    )] = 60.0,
    report: Annotated[Path | None, typer.Option(
        "--report", help="Write the JSON report to this file.")] = None,
    record: Annotated[Path | None, typer.Option(
        "--record",
        help="Record every topic of the run into this capture file (for lgsp replay).")] = None,
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print the JSON report on stdout instead of tables.")] = False,
    pki_cache: Annotated[Path | None, typer.Option(
        "--pki-cache", envvar="LGSP_PKI_CACHE", file_okay=False,
        help="Key cache directory (default ~/.cache/lgsp-sim/keys).")] = None,
    pki_out: Annotated[Path | None, typer.Option(
        "--pki-out", help="Write the run's trust anchors here before the first document is "
                          "sent: root and issuing CA, every agency and personal certificate "
                          "(PEM), the CRL, and the issuing CA's key (see docs/contract.md).")
    ] = None,
    pki: Annotated[Path | None, typer.Option(
        "--pki", help="Issue from and trust the CA of this directory (written by --pki-out) "
                      "instead of a new one, so runs, replays and external parties share "
                      "trust.")] = None,
    run_id: Annotated[str | None, typer.Option(
        "--run-id", help="Names the run's topics (default: random).")] = None,
    bus_only: Annotated[bool, typer.Option(
        "--bus-only", rich_help_panel=BUS_ONLY_PANEL,
        help="Run the bus without senders: the routers, recipients and tracker of --run-id's "
             "topics on --bootstrap take in what others submit (lgsp replay --into-run, your "
             "own senders) and report what they saw. Trust: --pki DIR or --trust-capture. "
             "Ends after --duration, or --idle after the first document, or on Ctrl-C "
             "(with the report). Not with --documents, --rate, --shape, --warmup, --inject, "
             "--external, --workers, --bus-workers, --host-shard, --find-max, --pki-out, "
             "--rotate-topics.")] = False,
    idle: Annotated[float | None, typer.Option(
        "--idle", parser=duration, metavar="DURATION", rich_help_panel=BUS_ONLY_PANEL,
        help="--bus-only: end once no document has been submitted for this long after the "
             f"first one ({DURATION_HELP}; default 10s). Without --duration and with no "
             "document at all, the run ends after 5 minutes.")] = None,
    trust_capture: Annotated[Path | None, typer.Option(
        "--trust-capture", exists=True, dir_okay=False, readable=True,
        rich_help_panel=BUS_ONLY_PANEL,
        help="--bus-only: trust the CAs this capture carries (lgsp simulate --record writes "
             "them) instead of --pki DIR's.")] = None,
    keep_topics: Annotated[bool, typer.Option(
        "--keep-topics", help="On an external cluster, keep the run's topics afterwards.")
    ] = False,
    no_progress: Annotated[bool, typer.Option(
        "--no-progress", help="No live progress (a status line on a terminal, a plain line "
                              "every 5 s on stderr otherwise).")
    ] = False,
    log_format: Annotated[str, typer.Option(
        "--log-format", envvar="LGSP_LOG_FORMAT", help="json, console or auto (TTY → console).")
    ] = "auto",
    log_level: Annotated[str, typer.Option(
        "--log-level", envvar="LGSP_LOG_LEVEL", help="debug, info, warning, error.")
    ] = "warning",
    partitions: options.Partitions = 4,
    connection: options.BrokerOptions = options.NOT_GIVEN,
) -> None:
    """Send signed documents across the four tiers, track every delivery, report the metrics.

    Exit codes: 0 every delivery was answered (nothing lost) · 1 deliveries lost, left
    incomplete or not sent (the producer failed), an --external service failed a
    conformance check or never answered its probe, statuses came for documents the run did
    not send (--allow-foreign-statuses), or a --bus-only run saw no document or refused
    documents for want of trust in their CA · 2 usage or configuration error · 3 bad
    input · 4 broker or registry unreachable · 6 an --slo gate was breached · 130 interrupted
    (the report of what was done is still written). Every option's environment variable is in
    the README.
    """
    from lgsp.config import RecipientConfig, SignaturePolicy, StatusSeals
    from lgsp.errors import ConfigError
    from lgsp.external import ExternalParties
    from lgsp.faults import FaultPlan
    from lgsp.metrics.slo import Slo, check_stages
    from lgsp.run import DEFAULT_PROFILES, HostShard, SimulationConfig
    from lgsp.signing.keys import SignatureAlgorithm

    configure_logging(log_format, log_level)
    options.check_output_files(report=report, html=html, record=record)
    bus = _bus_only(ctx, bus_only, idle=idle, window=duration, trust_capture=trust_capture,
                    run_id=run_id, bootstrap=connection.bootstrap, pki=pki,
                    workers=workers, bus_workers=bus_workers)
    if bus is not None:  # what a schedule needs is not asked for (nor taken from LGSP_* vars)
        documents, duration, shape, warmup, inject, external = 0, None, "constant", 0.0, [], []
    try:
        policy = SignaturePolicy(signature_policy)
    except ValueError:
        raise ConfigError("--signature-policy must be require-agency or require-both") from None
    try:
        seals = StatusSeals(status_seals.strip().lower())
    except ValueError:
        raise ConfigError(f"--status-seals {status_seals!r} must be auto, on or off") from None
    broker = connection.config(partitions=partitions)
    bootstrap = connection.bootstrap
    if not math.isfinite(rate):
        raise ConfigError(f"--rate {rate} must be a finite number of documents per second")
    gates = [Slo.parse(text) for text in slo or []]
    check_stages(gates)
    _check_fan_out(fan_out)
    config = SimulationConfig(
        profiles=tuple(profile) if profile else DEFAULT_PROFILES,
        documents=documents if documents is not None or duration is not None
        or shape.startswith("steps:") else 500,
        rate=rate, shape=shape, duration_s=duration, warmup_s=warmup, fan_out_mean=fan_out,
        signature_algorithm=SignatureAlgorithm.parse(sig_alg), seed=seed,
        ack_timeout_s=ack_timeout, settle_timeout_s=settle_timeout,
        broker_timeout_s=broker_timeout,
        recipient=RecipientConfig(step_delay_s=step_delay, intake_delay_s=intake_delay,
                                  signature_policy=policy),
        lenient_lgsp=lenient_lgsp, run_id=run_id, pki_cache=pki_cache, keep_topics=keep_topics,
        document_versions=_versions(document_versions, registry_url), registry_url=registry_url,
        record_path=record, otlp_endpoint=otlp_endpoint, sign_ahead=sign_ahead,
        faults=FaultPlan.parse(inject or [], seals=seals is not StatusSeals.OFF),
        status_seals=seals,
        allow_foreign_statuses=allow_foreign_statuses, bus_only=bus,
        external=ExternalParties.parse(external or [], share=external_share,
                                       ready_timeout_s=external_timeout))
    config = dataclasses.replace(config, rotate_s=_rotation(rotate_topics, config, bootstrap))
    config = dataclasses.replace(config, pki_dir=pki, pki_out=pki_out)
    if not find_max and bus is None:
        config.check_warmup()
    if config.external and run_id is None:
        raise ConfigError("--external needs --run-id: your service reads the run's topics by "
                          "name (lgsp.<run-id>.<platform>.deliver), so both must know it")
    if config.external.platforms and not config.external.recipients and external_share != 1.0:
        raise ConfigError("--external-share applies to --external recipient=… (the share of "
                          "documents addressed to them); an outside router gets the traffic "
                          "its platform carries")
    if config.external and find_max:
        raise ConfigError("--external cannot be combined with --find-max yet (each trial is "
                          "a new run with new topics your service would not know)")
    if config.external and host_shard:
        raise ConfigError("--external cannot be combined with --host-shard yet (the readiness "
                          "probe is not shared between hosts)")
    host = HostShard.parse(host_shard) if host_shard else HostShard()
    if host.count > 1 and (run_id is None or bootstrap is None):
        raise ConfigError("--host-shard needs the same --run-id and --bootstrap (one shared "
                          "Kafka cluster) on every host, or the hosts can never meet")
    if metrics_port is not None and not 0 <= metrics_port <= 65535:
        raise ConfigError(f"--metrics-port {metrics_port} must be 0..65535 (0: any free port)")
    from lgsp.signing.pki_files import load_authority, prepare_pki_out

    if bus is not None:
        from lgsp.run.credentials import trusted_exports

        trusted_exports(config)  # unreadable or unchained anchors: one line before anything
    elif pki is not None:
        load_authority(pki)  # a bad directory is a usage error before any broker starts
    if pki_out is not None:
        prepare_pki_out(pki_out)
        print(f"lgsp: the run's PKI (CA, certificates, CRL) is written to {pki_out}/",
              file=sys.stderr)
    run = RunSettings(config=config, broker=broker, workers=workers, bus_workers=bus_workers,
                      host=host,
                      gates=gates, metrics_port=metrics_port, log_format=log_format,
                      log_level=log_level, find_max=find_max,
                      progress=not no_progress)
    try:
        result = asyncio.run(_run(run))
    except KeyboardInterrupt:
        print("lgsp: interrupted before the load started; nothing was sent", file=sys.stderr)
        raise typer.Exit(130) from None
    from lgsp.cli.outcome import finish

    finish(result, gates, report_path=report, html_path=html, json_out=json_out)


@dataclass(frozen=True, slots=True)
class RunSettings:
    config: Any
    broker: Any
    workers: int
    bus_workers: int
    host: Any
    gates: list[Any]
    metrics_port: int | None
    log_format: str
    log_level: str
    find_max: bool
    progress: bool


BUS_ONLY_REFUSES = {
    "documents": "--documents", "rate": "--rate", "shape": "--shape", "warmup": "--warmup",
    "inject": "--inject", "external": "--external", "external_share": "--external-share",
    "find_max": "--find-max", "host_shard": "--host-shard", "pki_out": "--pki-out",
    "rotate_topics": "--rotate-topics", "fan_out": "--fan-out",
    "document_versions": "--document-versions"}
"""Options of a schedule a bus-only run has none of (refused when given on the command line)."""


def _bus_only(ctx: typer.Context, on: bool, *, idle: float | None, window: float | None,
              trust_capture: Path | None, run_id: str | None, bootstrap: str | None,
              pki: Path | None, workers: int, bus_workers: int) -> Any:
    """The ``BusOnly`` settings of ``--bus-only`` (None without it), or one line (exit 2)."""
    from lgsp.errors import ConfigError
    from lgsp.run import BusOnly
    from lgsp.run.config import DEFAULT_IDLE_S

    if not on:
        for value, flag in ((idle, "--idle"), (trust_capture, "--trust-capture")):
            if value is not None:
                raise ConfigError(f"{flag} is an option of a bus-only run: add --bus-only")
        return None
    given = [flag for name, flag in BUS_ONLY_REFUSES.items()
             if getattr(ctx.get_parameter_source(name), "name", None) == "COMMANDLINE"]
    if given:
        raise ConfigError(f"--bus-only sends nothing and has no schedule: leave out "
                          f"{', '.join(given)}")
    if workers != 1 or bus_workers:
        raise ConfigError("--bus-only runs the bus in one process: leave out --workers and "
                          "--bus-workers")
    if run_id is None or bootstrap is None:
        raise ConfigError("--bus-only needs --run-id and --bootstrap: the senders (lgsp replay "
                          "--into-run ID, your own service) write to lgsp.<run-id>.<platform>."
                          "inbound on the same broker (lgsp broker --port 39092 starts one)")
    if (pki is None) == (trust_capture is None):
        raise ConfigError("--bus-only trusts the senders' CA: give one of --pki DIR (written "
                          "by lgsp simulate --pki-out) or --trust-capture FILE")
    return BusOnly(idle_s=DEFAULT_IDLE_S if idle is None else idle, window_s=window,
                   trust_capture=trust_capture)


def _rotation(requested: float | None, config: Any, bootstrap: str | None) -> float | None:
    """--rotate-topics, or the default: rotate long runs on the embedded broker."""
    if requested is not None:
        return requested or None
    if config.bus_only is not None:  # outside senders write to fixed topic names
        return None
    long_run = config.load_shape().duration_s > AUTO_ROTATE_AFTER_S  # a bad --shape fails here
    return AUTO_ROTATE_PERIOD_S if bootstrap is None and long_run and not config.record_path \
        and not config.external else None


def _check_fan_out(fan_out: float | None) -> None:
    """--fan-out within 1..the traffic profile's fan_out_max (0 used to mean the default)."""
    from lgsp.errors import ConfigError
    from lgsp.profiles import load_traffic

    if fan_out is None:
        return
    most = int(load_traffic().get("fan_out_max", 12))
    if not 1 <= fan_out <= most:
        raise ConfigError(f"--fan-out {fan_out:g} must be from 1 to {most} recipients per "
                          "document (the mean; leave it out for the traffic profile's 2.9)")


def _versions(text: str | None, registry_url: str | None) -> tuple[int, ...]:
    """--document-versions as numbers; with the schema files, each must be one of theirs (a
    --registry-url is asked when the run starts)."""
    from lgsp.codec.events import DOCUMENT
    from lgsp.codec.registry import FileSchemaRegistry
    from lgsp.errors import ConfigError

    if not text:
        return ()
    try:
        versions = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"--document-versions {text!r} must be comma-separated numbers, "
                          "e.g. 1,2") from None
    if registry_url is None:
        known = [s.version for s in FileSchemaRegistry().versions(DOCUMENT)]
        if unknown := sorted(set(versions) - set(known)):
            raise ConfigError(f"--document-versions: {DOCUMENT} has no version "
                              f"{', '.join(map(str, unknown))}; known: "
                              f"{', '.join(map(str, known))}")
    return versions


async def _run(run: RunSettings) -> dict[str, Any]:
    """Run the load (or the find-max search) with live progress, metrics and Ctrl-C handling."""
    from lgsp.cli.progress import ProgressDisplay
    from lgsp.metrics.prometheus import serve_metrics
    from lgsp.run import LoadRun, find_max_rate

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        with ProgressDisplay(enabled=run.progress) as display:
            def new_run(config: Any) -> LoadRun:
                return LoadRun(config, run.broker, workers=run.workers, host=run.host,
                               progress=display, log_format=run.log_format,
                               log_level=run.log_level, bus_workers=run.bus_workers)

            if run.find_max:
                return await find_max_rate(new_run, run.config, run.gates, stop=stop,
                                           progress=display)
            load = new_run(run.config)
            server = serve_metrics(run.metrics_port, lambda: load.live) \
                if run.metrics_port else contextlib.nullcontext()
            with server:
                return await load.run(stop)
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        loop.remove_signal_handler(signal.SIGTERM)
