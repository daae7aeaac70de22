"""Where schema versions come from: a schemas directory, or the same directory at a git ref.

Findings name files as a user finds them in the repository: from the root of the git repository
holding the directory (what GitHub annotations need), else from the working directory.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from lgsp.codec.compatibility import CompatibilityMode, SchemaVersion
from lgsp.codec.registry_index import parse_index
from lgsp.errors import ConfigError

REGISTRY_FILE = "registry.json"


@dataclass(frozen=True, slots=True)
class SchemaSet:
    """Every subject's versions and configured mode, from one registry.json."""

    versions: dict[str, list[SchemaVersion]]
    modes: dict[str, CompatibilityMode]
    ids: dict[tuple[str, int], int]


def _decode(data: bytes, shown: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{shown} is not UTF-8 text (byte {exc.start}); save it as "
                          "UTF-8") from None


def _load(read: Callable[[str], bytes | None], display_prefix: str, origin: str,
          tag: str = "") -> SchemaSet:
    """``origin`` names where the files are (a directory, a git ref); ``tag`` follows a file's
    name in messages when it is not the working tree's (`` (git ref main)``)."""
    index_bytes = read(REGISTRY_FILE)
    if index_bytes is None:
        raise ConfigError(f"no {REGISTRY_FILE} in {origin}")
    shown = f"{display_prefix}{REGISTRY_FILE}{tag}"
    index = parse_index(_decode(index_bytes, shown), shown)
    modes = {s: CompatibilityMode.parse(cfg.get("compatibility", "BACKWARD"))
             for s, cfg in index.get("subjects", {}).items()}
    versions: dict[str, list[SchemaVersion]] = {}
    ids: dict[tuple[str, int], int] = {}
    seen_ids: set[int] = set()
    for entry in index["schemas"]:
        subject, version, file, schema_id = (entry["subject"], entry["version"], entry["file"],
                                             entry["id"])
        if schema_id in seen_ids:
            raise ConfigError(f"schema id {schema_id} is used twice in {shown}")
        seen_ids.add(schema_id)
        data = read(file)
        if data is None:
            raise ConfigError(f"{display_prefix}{file} is listed in {REGISTRY_FILE} but missing "
                              f"({origin})")
        text = _decode(data, f"{display_prefix}{file}{tag}")
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


def _git_toplevel(directory: Path) -> Path | None:
    if not directory.is_dir():
        return None
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=directory,
                             capture_output=True, text=True, check=True).stdout.strip()
    except (FileNotFoundError, subprocess.CalledProcessError):
        return None
    return Path(top)


def display_prefix(directory: Path) -> str:
    """How findings name files under ``directory``: from the repository root, else from the
    working directory (an absolute path when it is outside both)."""
    base = _git_toplevel(directory) or Path.cwd()
    relative = os.path.relpath(directory.resolve(), base.resolve())
    if relative.startswith(".."):
        return directory.resolve().as_posix() + "/"
    return "" if relative == "." else PurePosixPath(Path(relative)).as_posix() + "/"


def _unlisted(directory: Path, listed: set[str]) -> list[str]:
    """Every ``.avsc`` under ``directory`` that registry.json does not list, sorted."""
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*.avsc")
                  if os.path.normpath(p.relative_to(directory)) not in listed)


def load_directory(directory: Path, prefix: str | None = None, *,
                   every_file_listed: bool = False) -> SchemaSet:
    """The working tree's schemas; with ``every_file_listed``, an ``.avsc`` file that
    registry.json does not list is an error naming it."""
    shown = display_prefix(directory) if prefix is None else prefix
    asked: set[str] = set()

    def read(name: str) -> bytes | None:
        path = directory / name
        asked.add(os.path.normpath(name))
        try:
            return path.read_bytes() if path.is_file() else None
        except OSError as exc:
            raise ConfigError(f"cannot read {shown}{name}: {exc.strerror or exc}") from None

    found = _load(read, shown, str(directory))
    if every_file_listed:
        unlisted = [f"{shown}{name}" for name in _unlisted(directory, asked)]
        if unlisted:
            verb = "is" if len(unlisted) == 1 else "are"
            raise ConfigError(f"{', '.join(unlisted)} {verb} not listed in {REGISTRY_FILE}: "
                              "give each version an entry (id, subject, version, file) in "
                              f"{shown}{REGISTRY_FILE}, or delete the file")
    return found


def load_git_ref(directory: Path, ref: str, prefix: str | None = None) -> SchemaSet:
    """The same schemas directory as committed at ``ref`` (no server, no checkout). A ref
    without the directory is an empty history: the schemas are new."""
    if not ref or ref.startswith("-"):
        raise ConfigError(f"--against {ref!r} is not a git revision")
    if not directory.is_dir():
        raise ConfigError(f"no {REGISTRY_FILE} in {directory}")
    try:
        subprocess.run(["git", "--version"], capture_output=True, check=True)
    except (FileNotFoundError, subprocess.CalledProcessError):
        raise ConfigError("--against needs git on PATH") from None
    top = _git_toplevel(directory)
    if top is None:
        raise ConfigError(f"--against {ref}: {directory} is not in a git repository; compare "
                          "with a registry instead (--registry-url) or check the whole history "
                          "(no --against)")
    try:
        subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                       cwd=top, capture_output=True, check=True)
    except subprocess.CalledProcessError:
        raise ConfigError(f"--against {ref!r}: not a git revision in {top}") from None
    shown = display_prefix(directory) if prefix is None else prefix
    relative = directory.resolve().relative_to(top.resolve()).as_posix()
    if relative != "." and subprocess.run(
            ["git", "cat-file", "-e", f"{ref}:{relative}"], cwd=top, capture_output=True,
            check=False).returncode != 0:
        return SchemaSet({}, {}, {})

    def read(name: str) -> bytes | None:
        result = subprocess.run(["git", "show", f"{ref}:{relative}/{name}"],
                                cwd=top, capture_output=True, check=False)
        return result.stdout if result.returncode == 0 else None

    return _load(read, shown, f"git ref {ref}", f" (git ref {ref})")
