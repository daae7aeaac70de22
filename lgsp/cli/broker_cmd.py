"""``lgsp broker``: run the embedded Tansu broker standalone for other tools."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Annotated

import typer


def broker(
    port: Annotated[int | None, typer.Option(
        "--port", envvar="LGSP_BROKER_PORT", help="Loopback port (default: a free one).")] = None,
) -> None:
    """Start the embedded Kafka-compatible broker on 127.0.0.1 and keep it up until Ctrl-C.

    Prints the bootstrap address on stdout, e.g. to pass as --bootstrap to another lgsp command.
    """
    from lgsp.broker.embedded import EmbeddedBroker
    from lgsp.cli.logging import configure_logging

    configure_logging("auto", "warning")
    embedded = EmbeddedBroker(port=port)
    bootstrap = embedded.start_sync()
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(bootstrap, flush=True)
        print(f"embedded Tansu broker on {bootstrap} (in memory); Ctrl-C stops it",
              file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            if embedded.pid is None:
                break
    finally:
        embedded.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
