"""Warnings of the verdict that point a user at a mistake the figures alone do not name."""

import pytest

from lgsp.cli.outcome import _warn_of_a_second_router


def result(absorbed: int, *, injected: int = 0, **run: object) -> dict:
    kinds = [{"kind": "duplicate-delivery", "injected": injected}] if injected else []
    return {"totals": {"duplicates_absorbed": absorbed}, "faults": {"kinds": kinds},
            "run": dict(run)}


def test_duplicates_nobody_injected_suggest_a_second_router(capsys):
    _warn_of_a_second_router(result(354))
    assert capsys.readouterr().err.strip() == (
        "lgsp: warning: 354 deliveries arrived twice (absorbed by their recipients) though no "
        "duplicate was injected and nothing restarted: is another router routing this run's "
        "platforms? To grade your own router, give it to lgsp-sim with --external "
        "platform=LGSP-… or --external vdxp")


@pytest.mark.parametrize("case", [
    result(0),
    result(12, injected=12),          # the duplicate-delivery fault's own
    result(5, restarts={"route 1/1": 1}),  # a restarted router reads again
    result(5, bus_workers=1),
])
def test_explained_duplicates_raise_no_warning(capsys, case):
    _warn_of_a_second_router(case)
    assert capsys.readouterr().err == ""
