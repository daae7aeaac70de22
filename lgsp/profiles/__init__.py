"""Topology and traffic profiles: YAML data files shipped with the package.

A profile name (``thanh-hoa``) resolves to ``lgsp/profiles/thanh-hoa.yaml``; a path to a YAML file
of the same shape works too, so a user can describe their own province.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from lgsp.domain.topology import Topology, build_topology
from lgsp.errors import ConfigError

__all__ = ["available_profiles", "load_profile", "load_topology", "load_traffic"]

_RESERVED = {"central", "traffic"}


def available_profiles() -> list[str]:
    names = [p.name[:-5] for p in resources.files(__name__).iterdir() if p.name.endswith(".yaml")]
    return sorted(n for n in names if n not in _RESERVED)


def load_profile(name_or_path: str) -> dict[str, Any]:
    """The parsed YAML of a shipped profile name or a file path."""
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} and path.exists():
        text = path.read_text(encoding="utf-8")
    else:
        resource = resources.files(__name__) / f"{name_or_path}.yaml"
        if not resource.is_file():
            raise ConfigError(f"unknown profile {name_or_path!r}; available: "
                              f"{', '.join(available_profiles())} (or a path to a .yaml file)")
        text = resource.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"profile {name_or_path!r} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"profile {name_or_path!r} must be a YAML mapping")
    return data


def load_topology(profiles: list[str]) -> Topology:
    """The central tier plus the named province profiles."""
    if not profiles:
        raise ConfigError("give at least one province --profile, e.g. thanh-hoa")
    try:
        return build_topology(load_profile("central"), [load_profile(p) for p in profiles])
    except KeyError as exc:
        raise ConfigError(f"a profile lacks the field {exc}; compare with thanh-hoa.yaml") from None


def load_traffic(name_or_path: str = "traffic") -> dict[str, Any]:
    return load_profile(name_or_path)
