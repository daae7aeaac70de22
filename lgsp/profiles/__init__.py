"""Topology and traffic profiles: YAML data files shipped with the package.

A profile name (``thanh-hoa``) resolves to ``lgsp/profiles/thanh-hoa.yaml``; a path to a YAML file
of the same shape works too, so a user can describe their own province. Every profile is checked
against the JSON Schema of its kind shipped beside it (``province``, ``central`` and
``traffic.schema.json``) before it is used.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from lgsp.domain.topology import Topology, build_topology
from lgsp.errors import ConfigError
from lgsp.profiles._schema import ProfileKind, check_profile

__all__ = ["ProfileKind", "available_profiles", "load_profile", "load_topology", "load_traffic"]

_RESERVED = {"central", "traffic"}


def available_profiles() -> list[str]:
    names = [p.name[:-5] for p in resources.files(__name__).iterdir() if p.name.endswith(".yaml")]
    return sorted(n for n in names if n not in _RESERVED)


def load_profile(name_or_path: str, kind: ProfileKind = ProfileKind.PROVINCE) -> dict[str, Any]:
    """The parsed YAML of a shipped profile name or a file path, checked against the schema of
    its ``kind``; anything wrong with it is one ``ConfigError`` line naming the file."""
    source, text = _read(name_or_path)
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"profile {source} is not valid YAML: {exc.problem or exc.context}"
                          f"{where}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"profile {source} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"profile {source} must be a YAML mapping of keys such as name, unit, "
                          "districts (compare with the shipped thanh-hoa.yaml)")
    return check_profile(data, kind, source)


def _read(name_or_path: str) -> tuple[str, str]:
    """(the name to show, the text) of a profile file or a shipped profile."""
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} or len(path.parts) > 1:
        if path.is_dir():
            raise ConfigError(f"profile {path} is a directory; give a .yaml file")
        if not path.exists():
            raise ConfigError(f"profile file {path} does not exist; shipped profiles: "
                              f"{', '.join(available_profiles())}")
        try:
            return str(path), path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"profile {path} is not UTF-8 text ({exc.reason} at byte "
                              f"{exc.start}); save it as UTF-8") from None
        except OSError as exc:
            raise ConfigError(f"profile {path} cannot be read: {exc.strerror}") from None
    resource = resources.files(__name__) / f"{name_or_path}.yaml"
    if not resource.is_file():
        raise ConfigError(f"unknown profile {name_or_path!r}; available: "
                          f"{', '.join(available_profiles())} (or a path to a .yaml file)")
    return f"{name_or_path}.yaml", resource.read_text(encoding="utf-8")


def load_topology(profiles: list[str]) -> Topology:
    """The central tier plus the named province profiles."""
    if not profiles:
        raise ConfigError("give at least one province --profile, e.g. thanh-hoa")
    try:
        return build_topology(load_profile("central", ProfileKind.CENTRAL),
                              [load_profile(p) for p in profiles])
    except KeyError as exc:
        raise ConfigError(f"a profile lacks the field {exc}; compare with thanh-hoa.yaml") from None


def load_traffic(name_or_path: str = "traffic") -> dict[str, Any]:
    return load_profile(name_or_path, ProfileKind.TRAFFIC)
