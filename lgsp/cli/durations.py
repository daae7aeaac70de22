"""Durations as k6 and Gatling users type them, for every option that takes seconds.

``10s``, ``2m``, ``1h``, ``250ms``, ``1m30s``; a plain number is seconds (``0.5``). The value is a
float number of seconds; range checks (``> 0``, ``>= 0``) stay with the config that knows them,
so ``-5`` parses and is refused there with the option's own message.
"""

from __future__ import annotations

import math
import re
from typing import Final

import typer

DURATION_HELP: Final = "10s, 2m, 1h, 250ms or 1m30s; a plain number is seconds"
"""The accepted forms, for help texts and error messages."""

_SECONDS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_PART = re.compile(rf"(?P<number>{_NUMBER})(?P<unit>ms|s|m|h)")
_PLAIN = re.compile(rf"[+-]?{_NUMBER}(?:[eE][+-]?\d+)?")
_COMPOUND = re.compile(rf"(?P<sign>[+-]?)(?P<parts>(?:{_NUMBER}(?:ms|s|m|h))+)")


def parse_seconds(text: str) -> float:
    """Seconds in ``text``; ``ValueError`` (one line, naming the accepted forms) if unreadable."""
    compact = text.strip().replace(" ", "").lower()
    if _PLAIN.fullmatch(compact):
        value = float(compact)
    elif match := _COMPOUND.fullmatch(compact):
        value = sum(float(part["number"]) * _SECONDS[part["unit"]]
                    for part in _PART.finditer(match["parts"]))
        if match["sign"] == "-":
            value = -value
    else:
        raise ValueError(f"{text!r} is not a duration; give e.g. {DURATION_HELP}")
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite duration; give e.g. {DURATION_HELP}")
    return value


def duration(text: str | float) -> float:
    """The ``parser=`` of a typer option taking seconds: a bad value is a usage error (exit 2)."""
    if isinstance(text, int | float):  # a default given as a number
        return float(text)
    try:
        return parse_seconds(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
