"""``lgsp schemas``: list, check compatibility (CI), validate sample records.

``check`` exits 0 compatible, 1 incompatible, 2 on a usage error or an unreadable input (a file
that does not parse or is not UTF-8, a registry.json mistake, an .avsc file it does not list).
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from lgsp.cli.options import check_output_files

schemas_app = typer.Typer(help="Avro schemas: list, compatibility check for CI, sample validation.",
                          no_args_is_help=True)

SchemasDir = Annotated[Path | None, typer.Option(
    "--dir", envvar="LGSP_SCHEMAS_DIR",
    help="Schemas directory with registry.json (default: ./schemas, else the packaged one).")]
RegistryUrl = Annotated[str | None, typer.Option(
    "--registry-url", envvar="LGSP_REGISTRY_URL",
    help="Confluent-compatible Schema Registry to use instead of the files.")]


def schemas_dir(given: Path | None) -> Path:
    if given is not None:
        return given
    local = Path("schemas")
    if (local / "registry.json").is_file():
        return local
    return Path(str(resources.files("schemas")))


@schemas_app.command("list")
def list_schemas(directory: SchemasDir = None) -> None:
    """Every subject, version, schema id and compatibility mode."""
    from lgsp.codec.schema_sources import load_directory

    found = load_directory(schemas_dir(directory))
    for subject in sorted(found.versions):
        for version in found.versions[subject]:
            print(f"{found.ids[(subject, version.version)]:>4}  {subject:<24} "
                  f"v{version.version:<3} {found.modes[subject].value:<20} {version.file}")


@schemas_app.command("check")
def check(
    directory: SchemasDir = None,
    against: Annotated[str | None, typer.Option(
        "--against", help="Compare with the same schemas at this git ref (e.g. origin/main): "
                          "only versions new since it are checked, and the ref's versions must "
                          "be unchanged.")] = None,
    registry_url: RegistryUrl = None,
    fmt: Annotated[str, typer.Option(
        "--format", help="text, json, junit or github (workflow annotations).")] = "text",
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the result to this file instead of stdout.")] = None,
) -> None:
    """Every schema parses and every subject's versions are compatible under its mode."""
    from lgsp.cli.compat_output import RENDERERS
    from lgsp.codec.schema_check import check_schemas
    from lgsp.codec.schema_sources import load_directory, load_git_ref
    from lgsp.errors import ConfigError

    check_output_files(output=output)
    if fmt not in RENDERERS:
        raise ConfigError(f"--format must be one of {', '.join(RENDERERS)}")
    if against and registry_url:
        raise ConfigError("give --against or --registry-url, not both")
    root = schemas_dir(directory)
    current = load_directory(root, every_file_listed=True)
    baseline = None
    if against:
        baseline = load_git_ref(root, against)
    elif registry_url:
        from lgsp.codec.rest_registry import RestSchemaRegistry

        baseline = RestSchemaRegistry(registry_url).schema_set()
    result = check_schemas(current, baseline)
    text = RENDERERS[fmt](result)
    if output is not None:
        try:
            output.write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write {output}: {exc.strerror or exc}") from None
        print(f"lgsp: {'compatible' if result.compatible else 'INCOMPATIBLE'}; "
              f"{fmt} report written to {output}", file=sys.stderr)
    else:
        print(text)
    if not result.compatible:
        raise typer.Exit(1)


@schemas_app.command("validate")
def validate(
    subject: Annotated[str, typer.Argument(help="e.g. lgsp.document")],
    file: Annotated[Path, typer.Argument(
        help="JSON file: one record or a list of records.", exists=True, dir_okay=False,
        readable=True)],
    version: Annotated[int | None, typer.Option("--version", help="Default: latest.")] = None,
    directory: SchemasDir = None,
) -> None:
    """Check sample records against a subject's schema; the first error names the field."""
    from lgsp.codec.registry import FileSchemaRegistry
    from lgsp.codec.samples import SampleError, validate_sample
    from lgsp.errors import ConfigError

    registry = FileSchemaRegistry(schemas_dir(directory))
    if version is None:
        schema = registry.latest(subject)
    else:
        matches = [s for s in registry.versions(subject) if s.version == version]
        if not matches:
            raise ConfigError(f"{subject} has no version {version}")
        schema = matches[0]
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{file} does not exist") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file} is not UTF-8 JSON ({exc.reason} at byte {exc.start})") \
            from None
    except OSError as exc:
        raise ConfigError(f"cannot read {file}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{file} is not valid JSON: {exc}") from None
    records = data if isinstance(data, list) else [data]
    failures = 0
    for index, record in enumerate(records):
        try:
            validate_sample(schema, record)
        except SampleError as exc:
            failures += 1
            print(f"{file}: record {index}: {exc} (schema {subject} v{schema.version})")
    print(f"{len(records) - failures} of {len(records)} record(s) valid against {subject} "
          f"v{schema.version}", file=sys.stderr)
    if failures:
        raise typer.Exit(1)
