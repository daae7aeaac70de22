"""``lgsp registry serve``: the file registry over the Confluent Schema Registry REST API."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Annotated

import typer

from lgsp.cli.schemas_cmd import SchemasDir, schemas_dir

registry_app = typer.Typer(help="A Confluent-compatible schema registry over the schema files.",
                           no_args_is_help=True)


@registry_app.command("serve")
def serve(
    directory: SchemasDir = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(
        "--port", envvar="LGSP_REGISTRY_PORT", min=0, max=65535,
        help="Port, 0..65535 (0 = a free one).")] = 8081,
) -> None:
    """Serve subjects, versions, schemas by id, lookups, compatibility checks and config
    (read-only) until Ctrl-C. Prints the URL to pass as --registry-url."""
    from lgsp.codec.registry_server import RegistryServer

    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    with RegistryServer(schemas_dir(directory), host=host, port=port) as server:
        print(server.url, flush=True)
        print(f"schema registry on {server.url} serving {schemas_dir(directory)}; Ctrl-C stops",
              file=sys.stderr, flush=True)
        try:
            while not stop.wait(0.5):
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
