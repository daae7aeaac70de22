"""``lgsp contract``: the bus's contract for a run's topology, as an AsyncAPI 3.0 document."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer


def contract(
    profile: Annotated[list[str] | None, typer.Option(
        "--profile", "-p", envvar="LGSP_PROFILE",
        help="Province profile(s), as for simulate: the platforms whose topics the document "
             "lists. Default: thanh-hoa and hai-duong.")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the document to this file (.json: JSON, otherwise "
                               "YAML). Default: YAML on stdout.")] = None,
    json_out: Annotated[bool, typer.Option(
        "--json", help="JSON instead of YAML (implied by an -o file ending in .json).")
    ] = False,
) -> None:
    """Write the AsyncAPI 3.0 contract of a run: channels (topics per platform and kind),
    messages (keys, lgsp-* headers with units, Avro payloads in the Confluent wire format) and
    operations per party role. docs/contract.md explains the digest and signatures."""
    from lgsp import __version__
    from lgsp.bus.contract import build_contract, dump_contract
    from lgsp.codec.registry import FileSchemaRegistry
    from lgsp.errors import ConfigError
    from lgsp.profiles import load_topology
    from lgsp.run import DEFAULT_PROFILES

    profiles = list(profile) if profile else list(DEFAULT_PROFILES)
    document = build_contract(load_topology(profiles), FileSchemaRegistry(),
                              version=__version__, profiles=profiles)
    as_json = json_out or (output is not None and output.suffix.lower() == ".json")
    text = dump_contract(document, as_json=as_json)
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"-o {output}: cannot write ({exc.strerror})") from None
    print(f"lgsp: AsyncAPI {document['asyncapi']} contract written to {output}",
          file=sys.stderr)
