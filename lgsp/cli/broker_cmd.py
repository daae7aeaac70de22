"""``lgsp broker``: run the embedded Tansu broker standalone for other tools."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer


def broker(
    port: Annotated[int | None, typer.Option(
        "--port", envvar="LGSP_BROKER_PORT", min=1, max=65535,
        help="Loopback port, 1..65535 (default: a free one).")] = None,
    tls_cert: Annotated[Path | None, typer.Option(
        "--tls-cert", exists=True, dir_okay=False, readable=True,
        help="Serve TLS only, with this PEM certificate (for 127.0.0.1), through "
             "a socat proxy in front of the broker; clients use "
             "--security-protocol SSL --ssl-cafile CA.")] = None,
    tls_key: Annotated[Path | None, typer.Option(
        "--tls-key", exists=True, dir_okay=False, readable=True,
        help="The PEM private key of --tls-cert.")] = None,
) -> None:
    """Start the embedded Kafka-compatible broker on 127.0.0.1 and keep it up until Ctrl-C.

    Prints the bootstrap address on stdout, e.g. to pass as --bootstrap to another lgsp command.
    """
    from lgsp.broker.embedded import EmbeddedBroker, free_port
    from lgsp.broker.proxy import BrokerProxy
    from lgsp.errors import ConfigError
    from lgsp.logs import configure_logging

    configure_logging("auto", "warning")
    if (tls_cert is None) != (tls_key is None):
        raise ConfigError("--tls-cert and --tls-key go together")
    proxy = None
    if tls_cert is not None and tls_key is not None:
        listen = port or free_port()
        embedded = EmbeddedBroker(advertised_port=listen)
        embedded.start_sync()
        proxy = BrokerProxy(port=listen, target=embedded.bootstrap, certfile=tls_cert,
                         keyfile=tls_key)
        try:
            bootstrap = proxy.start_sync()
        except BaseException:
            embedded.stop()
            raise
    else:
        embedded = EmbeddedBroker(port=port)
        bootstrap = embedded.start_sync()
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(bootstrap, flush=True)
        print(f"embedded Tansu broker on {bootstrap}{' (TLS)' if proxy else ''} (in memory); "
              "Ctrl-C stops it", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            if embedded.pid is None:
                break
    finally:
        if proxy is not None:
            proxy.stop()
        embedded.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
