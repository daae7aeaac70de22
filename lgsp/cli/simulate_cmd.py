"""``lgsp simulate``: a province's document traffic through a real Kafka-compatible broker."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from lgsp.cli import options
from lgsp.cli.logging import configure_logging


def simulate(
    profile: Annotated[list[str] | None, typer.Option(
        "--profile", "-p", envvar="LGSP_PROFILE",
        help="Province profile (repeat to combine provinces; the central tier is always in): "
             "thanh-hoa, hai-duong, or a YAML path. "
             "Default: thanh-hoa and hai-duong.")] = None,
    documents: Annotated[int, typer.Option(
        "--documents", "-n", envvar="LGSP_DOCUMENTS", help="Documents to send.")] = 500,
    rate: Annotated[float, typer.Option(
        "--rate", "-r", envvar="LGSP_RATE", help="Open-loop send rate, documents/s.")] = 20.0,
    fan_out: Annotated[float | None, typer.Option(
        "--fan-out", help="Mean recipients per document (default: the traffic profile's 2.9).")
    ] = None,
    sig_alg: Annotated[str, typer.Option(
        "--sig-alg", envvar="LGSP_SIG_ALG", help="rsa2048 (default), ed25519 or p256.")
    ] = "rsa2048",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the traffic model.")] = 1,
    step_delay: Annotated[float, typer.Option(
        "--step-delay", help="Recipient processing delay between statuses 03..06, seconds.")
    ] = 0.05,
    ack_timeout: Annotated[float, typer.Option(
        "--ack-timeout", help="A delivery without status 01 after this many seconds is lost.")
    ] = 30.0,
    settle_timeout: Annotated[float, typer.Option(
        "--settle-timeout", help="Seconds to wait after the last send for lifecycles to end.")
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
    report: Annotated[Path | None, typer.Option(
        "--report", help="Write the JSON report to this file.")] = None,
    record: Annotated[Path | None, typer.Option(
        "--record", help="Record every topic of the run into this capture file "
                         "(for lgsp replay).")] = None,
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print the JSON report on stdout instead of tables.")] = False,
    pki_cache: Annotated[Path | None, typer.Option(
        "--pki-cache", envvar="LGSP_PKI_CACHE",
        help="Key cache directory (default ~/.cache/lgsp-sim/keys).")] = None,
    run_id: Annotated[str | None, typer.Option(
        "--run-id", help="Names the run's topics (default: random).")] = None,
    keep_topics: Annotated[bool, typer.Option(
        "--keep-topics", help="On an external cluster, keep the run's topics afterwards.")
    ] = False,
    no_progress: Annotated[bool, typer.Option(
        "--no-progress", help="No live progress line (off anyway when not a TTY or CI is set).")
    ] = False,
    log_format: Annotated[str, typer.Option(
        "--log-format", envvar="LGSP_LOG_FORMAT", help="json, console or auto (TTY → console).")
    ] = "auto",
    log_level: Annotated[str, typer.Option(
        "--log-level", envvar="LGSP_LOG_LEVEL", help="debug, info, warning, error.")
    ] = "warning",
    bootstrap: options.Bootstrap = None,
    security_protocol: options.SecurityProtocol = "PLAINTEXT",
    sasl_mechanism: options.SaslMechanism = None,
    sasl_username: options.SaslUsername = None,
    sasl_password: options.SaslPassword = None,
    ssl_cafile: options.SslCafile = None,
    ssl_certfile: options.SslCertfile = None,
    ssl_keyfile: options.SslKeyfile = None,
    partitions: options.Partitions = 4,
) -> None:
    """Send signed documents across the four tiers, track every delivery, report the metrics.

    Exit codes: 0 every delivery was answered (nothing lost) · 1 deliveries lost, left
    incomplete or not sent · 2 usage or configuration error · 3 bad input · 4 broker or
    registry unreachable · 130 interrupted. Every option's environment variable is in the
    README.
    """
    from lgsp.cli.render import render_report
    from lgsp.cli.simulation import DEFAULT_PROFILES, Simulation, SimulationConfig
    from lgsp.config import RecipientConfig, SignaturePolicy
    from lgsp.errors import ConfigError
    from lgsp.signing.keys import SignatureAlgorithm

    configure_logging(log_format, log_level)
    try:
        policy = SignaturePolicy(signature_policy)
    except ValueError:
        raise ConfigError("--signature-policy must be require-agency or require-both") from None
    broker = options.broker_config(bootstrap, security_protocol, sasl_mechanism, sasl_username,
                                   sasl_password, ssl_cafile, ssl_certfile, ssl_keyfile,
                                   partitions)
    config = SimulationConfig(
        profiles=tuple(profile) if profile else DEFAULT_PROFILES,
        documents=documents, rate=rate, fan_out_mean=fan_out,
        signature_algorithm=SignatureAlgorithm.parse(sig_alg), seed=seed,
        ack_timeout_s=ack_timeout, settle_timeout_s=settle_timeout,
        recipient=RecipientConfig(step_delay_s=step_delay, signature_policy=policy),
        lenient_lgsp=lenient_lgsp, run_id=run_id, pki_cache=pki_cache, keep_topics=keep_topics,
        document_versions=_versions(document_versions), registry_url=registry_url,
        record_path=record)
    show_progress = not no_progress and sys.stderr.isatty() and not os.environ.get("CI")
    try:
        result = asyncio.run(_run(Simulation, config, broker, show_progress))
    except KeyboardInterrupt:
        print("lgsp: interrupted; the run was stopped cleanly", file=sys.stderr)
        raise typer.Exit(130) from None
    if report is not None:
        report.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n",
                          encoding="utf-8")
    if json_out:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        render_report(result)
        if report is not None:
            print(f"JSON report written to {report}")
    totals = result["totals"]
    if totals["lost"] or totals["incomplete"] or totals["send_failed"]:
        raise typer.Exit(1)


def _versions(text: str | None) -> tuple[int, ...]:
    from lgsp.errors import ConfigError

    if not text:
        return ()
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"--document-versions {text!r} must be comma-separated numbers, "
                          "e.g. 1,2") from None


async def _run(simulation_cls: Any, config: Any, broker: Any, show_progress: bool
               ) -> dict[str, Any]:
    from rich.console import Console

    console = Console(stderr=True)
    if not show_progress:
        return dict(await simulation_cls(config, broker).run())
    with console.status("starting") as status:
        def progress(event: str, data: dict[str, Any]) -> None:
            if event == "pki":
                status.update(f"preparing keys and certificates of {data['agencies']} agencies "
                              "(first run generates and caches them)")
            elif event == "sending":
                status.update(f"sending {data['sent']}/{data['of']} documents · "
                              f"{data['pending']} deliveries in flight")
            elif event == "settling":
                status.update(f"waiting for {data['pending']} lifecycles to finish")
        return dict(await simulation_cls(config, broker, progress).run())
