"""The lgsp command as a user runs it: exit codes, one-line errors, reports, no orphan brokers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.main import get_command

from lgsp.cli import app

LGSP = [sys.executable, "-m", "lgsp"]
SOURCE = Path(__file__).parents[2]
"""The tree under test: ``python -m lgsp`` in another working directory would otherwise import
whichever lgsp is installed (e.g. another checkout's editable install)."""


def run(args: list[str], *, env_extra: dict[str, str] | None = None, timeout: float = 240,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join(p for p in (str(SOURCE), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "CI": "true", "PYTHONPATH": path, **(env_extra or {})}
    return subprocess.run([*LGSP, *args], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=cwd, check=False)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class TestSimulate:
    def test_run_on_a_given_cluster_writes_a_report_and_exits_0(self, kafka_bootstrap,
                                                                 pki_cache, tmp_path):
        """--bootstrap uses the cluster; the JSON report's counts add up; exit 0 when none lost."""
        report = tmp_path / "r.json"
        r = run(["simulate", "--bootstrap", kafka_bootstrap, "-n", "40", "-r", "40",
                 "--sig-alg", "ed25519", "--report", str(report), "--pki-cache", str(pki_cache)])
        assert r.returncode == 0, r.stdout + r.stderr
        data = json.loads(report.read_text())
        assert data["schema_version"] == 2
        assert data["run"]["broker"] == "external"
        totals = data["totals"]
        assert totals["documents"] == 40
        assert totals["sent"] == totals["completed"] > 40
        assert totals["lost"] == 0
        for table in ("Deliveries", "Signing", "Routing"):
            assert table in r.stdout

    def test_default_run_starts_and_stops_its_own_embedded_broker(self, pki_cache, tmp_path):
        """Without --bootstrap the embedded broker is started, used, and gone afterwards."""
        r = run(["simulate", "-n", "10", "-r", "20", "--sig-alg", "ed25519", "--json",
                 "--log-format", "json", "--log-level", "info", "--pki-cache", str(pki_cache)])
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["run"]["broker"] == "embedded"
        started = [json.loads(line) for line in r.stderr.splitlines()
                   if '"embedded_broker_started"' in line]
        assert len(started) == 1
        assert not _alive(started[0]["pid"])

    def test_ctrl_c_stops_the_run_and_its_broker(self, pki_cache):
        """SIGINT mid-run: exit 130, and the embedded broker process is gone."""
        with subprocess.Popen(
            [*LGSP, "simulate", "-n", "100000", "-r", "20", "--sig-alg", "ed25519",
             "--log-format", "json", "--log-level", "info", "--pki-cache", str(pki_cache)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "CI": "true"}) as proc:
            broker_pid = None
            deadline = time.monotonic() + 120
            assert proc.stderr is not None
            for line in proc.stderr:
                if '"embedded_broker_started"' in line:
                    broker_pid = json.loads(line)["pid"]
                if '"simulation_started"' in line or time.monotonic() > deadline:
                    break
            assert broker_pid is not None
            proc.send_signal(signal.SIGINT)
            try:
                proc.communicate(timeout=60)
            finally:
                proc.kill()
        assert proc.returncode == 130
        assert not _alive(broker_pid)

    @pytest.mark.parametrize(("args", "code", "message"), [
        pytest.param(["--sig-alg", "dsa"], 2, "unknown signature algorithm 'dsa'", id="sig-alg"),
        pytest.param(["--profile", "da-nang"], 2, "unknown profile 'da-nang'", id="profile"),
        pytest.param(["--rate", "0"], 2, "--rate must be > 0", id="rate"),
        pytest.param(["--broker-timeout", "0"], 2, "--broker-timeout must be > 0",
                     id="broker-timeout"),
        pytest.param(["--bootstrap", "localhost"], 2, "must be HOST:PORT", id="bootstrap-form"),
        pytest.param(["--bootstrap", "127.0.0.1:1"], 4, "cannot reach Kafka", id="unreachable"),
        pytest.param(["--signature-policy", "none"], 2, "require-agency or require-both",
                     id="policy"),
    ])
    def test_bad_options_give_one_line_and_a_distinct_exit_code(self, args, code, message):
        r = run(["simulate", "-n", "5", *args], timeout=60)
        assert r.returncode == code, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, r.stderr
        assert lines[0].startswith("lgsp: error: ")
        assert message in lines[0]


class TestTopology:
    def test_counts_per_tier_of_thanh_hoa(self):
        r = run(["topology", "--profile", "thanh-hoa", "--json"])
        assert r.returncode == 0, r.stderr
        data = json.loads(r.stdout)
        assert data["counts_by_tier"] == {"central": 30, "province": 21, "district": 27,
                                          "commune": 559}

    def test_tree_sample_shows_the_chain(self):
        r = run(["topology", "--profile", "thanh-hoa", "--sample", "1"])
        assert r.returncode == 0, r.stderr
        for text in ("LGSP-H56", "000.00.00.H56", "000.00.31.H56", "000.01.31.H56", "VDXP"):
            assert text in r.stdout


class TestDockerCompose:
    def test_compose_runs_real_lgsp_commands_against_its_kafka(self):
        """Every lgsp command in docker-compose.yml parses with the real CLI."""
        compose = yaml.safe_load((Path(__file__).parents[2] / "docker-compose.yml").read_text())
        services = compose["services"]
        assert "kafka" in services
        commands = [s["command"] for s in services.values()
                    if isinstance(s.get("command"), list) and s["command"][0] == "lgsp"]
        assert commands, "the simulator service must run an lgsp command"
        cli = get_command(app)
        for command in commands:
            name, *args = command[1:]
            assert "--bootstrap" in args
            assert args[args.index("--bootstrap") + 1] == "kafka:9092"
            sub = cli.commands[name]  # type: ignore[attr-defined]
            sub.make_context(name, list(args))  # raises on an unknown option or bad value
