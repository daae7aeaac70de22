"""``lgsp topology``: counts per tier and a sample of the agency tree of profiles."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def topology(
    profile: Annotated[list[str] | None, typer.Option(
        "--profile", "-p", envvar="LGSP_PROFILE",
        help="Province profile(s), as for simulate. Default: simulate's (thanh-hoa, "
             "hai-duong).")] = None,
    sample: Annotated[int, typer.Option(
        "--sample", min=0, help="Children shown per node (0 or more).")] = 3,
    json_out: Annotated[bool, typer.Option("--json", help="Counts as JSON.")] = False,
    directory: Annotated[bool, typer.Option(
        "--directory", help="The platform directory as JSON: every platform as topic names "
        "spell it, with its member agencies (what an outside router needs to route; "
        "docs/contract.md §10).")] = False,
) -> None:
    """Show the agencies of a run: counts per tier, platforms and a sample of the tree."""
    from rich.console import Console
    from rich.table import Table
    from rich.tree import Tree

    from lgsp.profiles import load_topology
    from lgsp.run import DEFAULT_PROFILES

    topo = load_topology(list(profile) if profile else list(DEFAULT_PROFILES))
    if directory:
        print(json.dumps(topo.directory(), ensure_ascii=False, indent=2))
        return
    if json_out:
        print(json.dumps({"counts_by_tier": topo.counts_by_tier(), "agencies": len(topo.agencies),
                          "platforms": {p: len(topo.members(p)) for p in topo.platforms}},
                         ensure_ascii=False, indent=2))
        return
    console = Console()
    table = Table(title="Agencies per tier", title_justify="left")
    table.add_column("tier")
    table.add_column("agencies", justify="right")
    for tier, count in topo.counts_by_tier().items():
        table.add_row(tier, str(count))
    table.add_row("[bold]total[/]", f"[bold]{len(topo.agencies)}[/]")
    console.print(table)

    def label(code: str) -> str:
        agency = topo.agencies[code]
        return f"[cyan]{code}[/] {agency.name} [dim]({agency.tier})[/]"

    root = Tree(f"[bold]VDXP[/] national axis · {len(topo.central)} central bodies")
    for code in topo.central[:sample]:
        root.add(label(code))
    if len(topo.central) > sample:
        root.add(f"[dim]… {len(topo.central) - sample} more[/]")
    for province in topo.provinces.values():
        node = root.add(f"[bold]{province.platform}[/] {province.display_name} · "
                        f"{len(topo.members(province.platform))} agencies")
        office = node.add(label(province.office))
        for code in province.departments[:sample]:
            office.add(label(code))
        for district in province.districts[:sample]:
            d = office.add(label(district))
            for commune in province.communes[district][:sample]:
                d.add(label(commune))
            extra = len(province.communes[district]) - sample
            if extra > 0:
                d.add(f"[dim]… {extra} more communes[/]")
        hidden = len(province.departments) + len(province.districts) - 2 * sample
        if hidden > 0:
            office.add(f"[dim]… {hidden} more departments and districts[/]")
    console.print(root)
