"""What the code imports, pyproject.toml installs: a fresh machine needs nothing by hand."""

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[1]
OURS = {"lgsp", "producers", "consumers", "schemas", "tests"}


def third_party_imports() -> set[str]:
    found: set[str] = set()
    for package in ("lgsp", "producers", "consumers"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    found.add(node.module.split(".")[0])
    return {m for m in found if m not in OURS and m not in sys.stdlib_module_names}


def _normal(distribution: str) -> str:
    """PEP 503 name: prometheus_client and prometheus-client are one distribution."""
    return distribution.strip().lower().replace("_", "-").replace(".", "-")


def test_every_third_party_import_is_a_declared_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_normal(d.split(">")[0].split("=")[0].split("[")[0])
                for d in project["dependencies"]}
    owners = packages_distributions()
    missing = {m: owners.get(m, [m]) for m in third_party_imports()
               if not {_normal(d) for d in owners.get(m, [m])} & declared}
    assert not missing, f"imported but not in [project].dependencies: {missing}"


def test_docker_compose_runs_the_kafka_version_ci_tests_on():
    """docker-compose.yml's apache/kafka image is the version scripts/apache-kafka.sh fetches."""
    pom = (ROOT / "scripts" / "apache-kafka" / "pom.xml").read_text()
    version = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom)
    assert version is not None, "scripts/apache-kafka/pom.xml names no kafka.version"
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert compose["services"]["kafka"]["image"] == f"apache/kafka:{version.group(1)}"
