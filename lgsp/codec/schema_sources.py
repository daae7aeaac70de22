"""Where schema versions come from: a schemas directory, or the same directory at a git ref."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lgsp.codec.compatibility import CompatibilityMode, SchemaVersion
from lgsp.errors import ConfigError

REGISTRY_FILE = "registry.json"


@dataclass(frozen=True, slots=True)
class SchemaSet:
    """Every subject's versions and configured mode, from one registry.json."""

    versions: dict[str, list[SchemaVersion]]
    modes: dict[str, CompatibilityMode]
    ids: dict[tuple[str, int], int]


def _load(read: Callable[[str], str | None], display_prefix: str, origin: str) -> SchemaSet:
    index_text = read(REGISTRY_FILE)
    if index_text is None:
        raise ConfigError(f"no {REGISTRY_FILE} in {origin}")
    try:
        index: dict[str, Any] = json.loads(index_text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{display_prefix}{REGISTRY_FILE} ({origin}) is not valid JSON: "
                          f"{exc}") from None
    modes = {s: CompatibilityMode.parse(cfg.get("compatibility", "BACKWARD"))
             for s, cfg in index.get("subjects", {}).items()}
    versions: dict[str, list[SchemaVersion]] = {}
    ids: dict[tuple[str, int], int] = {}
    seen_ids: set[int] = set()
    for entry in index.get("schemas", []):
        try:
            subject, version, file, schema_id = (entry["subject"], int(entry["version"]),
                                                 entry["file"], int(entry["id"]))
        except (KeyError, ValueError, TypeError):
            raise ConfigError(f"{display_prefix}{REGISTRY_FILE} ({origin}): entry {entry} needs "
                              "id, subject, version and file") from None
        if schema_id in seen_ids:
            raise ConfigError(f"schema id {schema_id} is used twice in {origin}")
        seen_ids.add(schema_id)
        text = read(file)
        if text is None:
            raise ConfigError(f"{display_prefix}{file} is listed in {REGISTRY_FILE} but missing "
                              f"({origin})")
        versions.setdefault(subject, []).append(
            SchemaVersion.from_text(subject, version, f"{display_prefix}{file}", text))
        ids[(subject, version)] = schema_id
        modes.setdefault(subject, CompatibilityMode.BACKWARD)
    for subject, items in versions.items():
        numbers = [v.version for v in items]
        if len(set(numbers)) != len(numbers):
            raise ConfigError(f"subject {subject} lists a version twice in {origin}")
        items.sort(key=lambda v: v.version)
    return SchemaSet(versions, modes, ids)


def load_directory(directory: Path, display_prefix: str = "schemas/") -> SchemaSet:
    """The working tree's schemas."""

    def read(name: str) -> str | None:
        path = directory / name
        return path.read_text(encoding="utf-8") if path.is_file() else None

    return _load(read, display_prefix, str(directory))


def load_git_ref(directory: Path, ref: str, display_prefix: str = "schemas/") -> SchemaSet:
    """The same schemas directory as committed at ``ref`` (no server, no checkout)."""
    if not ref or ref.startswith("-"):
        raise ConfigError(f"--against {ref!r} is not a git revision")
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=directory,
                             capture_output=True, text=True, check=True).stdout.strip()
        subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                       cwd=directory, capture_output=True, check=True)
    except FileNotFoundError:
        raise ConfigError("--against needs git on PATH") from None
    except subprocess.CalledProcessError:
        raise ConfigError(f"--against {ref!r}: not a git revision in {directory}") from None
    relative = directory.resolve().relative_to(Path(top).resolve()).as_posix()

    def read(name: str) -> str | None:
        result = subprocess.run(["git", "show", f"{ref}:{relative}/{name}"],
                                cwd=top, capture_output=True, text=True, check=False)
        return result.stdout if result.returncode == 0 else None

    return _load(read, display_prefix, f"git ref {ref}")
