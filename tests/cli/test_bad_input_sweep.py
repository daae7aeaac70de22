"""Every command answers a new user's typical mistakes with one line on stderr and exit 2.

Each case is a mistake as typed (bad numbers, negative values, unknown names, missing files,
directories for files, non-UTF-8 and malformed files, bad --slo/--inject/--shape, bad bootstrap
strings, ports out of range...), run through ``python -m lgsp`` as a user runs it: the answer is
exactly one line ``lgsp: error: ...`` naming the mistake, exit code 2, never a traceback. None of
them reaches a broker: each is refused before any run starts.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SHIPPED = Path(__file__).parents[2] / "lgsp" / "profiles"
SIM = ["simulate", "-n", "5", "--sig-alg", "ed25519"]
"""A small run: were a case wrongly accepted, it would not take long to show."""
RECORD = ["record", "--out", "{d}/out.cap", "--topics", "a", "--bootstrap", "localhost:9092"]
REPLAY = ["replay", "{d}/empty.cap", "--dry-run"]

CASES = [
    # simulate: numbers, durations, ranges
    pytest.param([*SIM, "--duration", "ten"], "'ten' is not a duration; give e.g. 10s, 2m",
                 id="duration-a-word"),
    pytest.param([*SIM, "--duration", "10x"], "'10x' is not a duration", id="duration-bad-unit"),
    pytest.param([*SIM, "--duration", "-5s"], "--duration must be > 0 seconds",
                 id="duration-negative"),
    pytest.param([*SIM, "--duration", "10s", "--warmup", "20s"],
                 "--warmup 20 s is not shorter than the 10 s schedule", id="warmup-too-long"),
    pytest.param([*SIM, "--ack-timeout", "0ms"], "--ack-timeout and --settle-timeout must be > 0",
                 id="ack-timeout-zero"),
    pytest.param([*SIM, "--step-delay", "-1s"], "--step-delay must be >= 0 seconds",
                 id="step-delay-negative"),
    pytest.param([*SIM, "--rate", "abc"], "Invalid value for '--rate'", id="rate-a-word"),
    pytest.param([*SIM, "--rate", "-3"], "--rate must be > 0", id="rate-negative"),
    pytest.param([*SIM, "--rate", "inf"], "--rate inf must be a finite number",
                 id="rate-infinite"),
    pytest.param([*SIM, "--documents", "-1"], "--documents must be >= 0", id="documents-negative"),
    pytest.param([*SIM, "--workers", "0"], "--workers must be at least 1", id="workers-zero"),
    pytest.param([*SIM, "--seed", "abc"], "Invalid value for '--seed'", id="seed-a-word"),
    pytest.param([*SIM, "--partitions", "0"], "--partitions must be at least 1",
                 id="partitions-zero"),
    pytest.param([*SIM, "--fan-out", "0"], "--fan-out 0 must be from 1 to 12", id="fan-out-zero"),
    pytest.param([*SIM, "--fan-out", "500"], "--fan-out 500 must be from 1 to 12",
                 id="fan-out-above-max"),
    pytest.param([*SIM, "--metrics-port", "70000"], "--metrics-port 70000 must be 0..65535",
                 id="metrics-port-out-of-range"),
    pytest.param([*SIM, "--durr", "3"], "No such option: --durr", id="misspelt-option"),
    pytest.param(["simulat"], "No such command 'simulat'", id="misspelt-command"),
    # simulate: names and expressions
    pytest.param([*SIM, "--sig-alg", "dsa"], "unknown signature algorithm 'dsa'",
                 id="unknown-signature-algorithm"),
    pytest.param([*SIM, "--signature-policy", "none"], "require-agency or require-both",
                 id="unknown-signature-policy"),
    pytest.param([*SIM, "--log-level", "verbose"], "--log-level 'verbose' must be one of",
                 id="unknown-log-level"),
    pytest.param([*SIM, "--log-format", "xml"], "--log-format 'xml' must be one of",
                 id="unknown-log-format"),
    pytest.param([*SIM, "--slo", "p99(foo) < 3ms"],
                 "unknown stage 'foo'; a run records schedule_lag, sign", id="slo-unknown-stage"),
    pytest.param([*SIM, "--slo", "lost = 0"], "unknown operator '='", id="slo-single-equals"),
    pytest.param([*SIM, "--slo", "p99 send_to_arrived < 3"], "cannot read metric",
                 id="slo-no-parentheses"),
    pytest.param([*SIM, "--inject", "bogus=1%"], "unknown fault kind 'bogus'",
                 id="inject-unknown-kind"),
    pytest.param([*SIM, "--inject", "bad-signature=150%"], "must be between 0 and 1",
                 id="inject-rate-above-100"),
    pytest.param([*SIM, "--inject", "bad-signature"], "expected KIND=RATE",
                 id="inject-without-rate"),
    pytest.param([*SIM, "--shape", "steps:abc"], "step 'abc' is not RATExDURATION",
                 id="shape-bad-steps"),
    pytest.param([*SIM, "--shape", "zigzag"], "unknown shape 'zigzag'", id="shape-unknown"),
    pytest.param([*SIM, "--shape", "ramp"], "ramp needs a duration > 0 s (--duration)",
                 id="shape-ramp-without-duration"),
    pytest.param([*SIM, "--document-versions", "99"], "lgsp.document has no version 99",
                 id="document-version-unknown"),
    pytest.param([*SIM, "--host-shard", "3/2", "--run-id", "r", "--bootstrap", "h:9092"],
                 "--host-shard '3/2'", id="host-shard-out-of-range"),
    pytest.param([*SIM, "--run-id", "a b/c"], "run id 'a b/c' must be letters",
                 id="run-id-bad-characters"),
    pytest.param([*SIM, "--registry-url", "not-a-url"], "must start with http://",
                 id="registry-url-no-scheme"),
    pytest.param([*SIM, "--otlp-endpoint", "localhost:4318"],
                 "--otlp-endpoint 'localhost:4318' is not an http(s) URL",
                 id="otlp-endpoint-no-scheme"),
    # bootstrap and security
    pytest.param([*SIM, "--bootstrap", "localhost"], "must be HOST:PORT", id="bootstrap-no-port"),
    pytest.param([*SIM, "--bootstrap", "localhost:99999"], "port 99999 is not in 1..65535",
                 id="bootstrap-port-out-of-range"),
    pytest.param([*SIM, "--bootstrap", "kafka://localhost:9092"], "without a scheme",
                 id="bootstrap-with-scheme"),
    pytest.param([*SIM, "--security-protocol", "TLS"], "--security-protocol must be one of",
                 id="unknown-security-protocol"),
    pytest.param([*SIM, "--security-protocol", "SASL_SSL"], "--sasl-mechanism must be one of",
                 id="sasl-without-mechanism"),
    pytest.param([*SIM, "--security-protocol", "SSL", "--ssl-cafile", "{d}/missing.pem"],
                 "does not exist", id="ssl-cafile-missing"),
    # profiles and files
    pytest.param([*SIM, "--profile", "da-nang"], "unknown profile 'da-nang'",
                 id="unknown-profile"),
    pytest.param([*SIM, "--profile", "{d}/missing.yaml"], "profile file", id="profile-missing"),
    pytest.param([*SIM, "--profile", "{d}/adir.yaml"], "is a directory", id="profile-directory"),
    pytest.param([*SIM, "--profile", "{d}/malformed.yaml"], "is not valid YAML",
                 id="profile-malformed-yaml"),
    pytest.param([*SIM, "--profile", "{d}/latin1.yaml"], "is not UTF-8 text",
                 id="profile-not-utf8"),
    pytest.param([*SIM, "--profile", "{d}/many.yaml"],
                 "communes: 'many' is not of type 'integer'", id="profile-communes-a-word"),
    pytest.param([*SIM, "--profile", "{d}/negative.yaml"],
                 "communes: -4 is less than the minimum of 0", id="profile-communes-negative"),
    pytest.param([*SIM, "--report", "{d}/no/such/dir/r.json"], "does not exist",
                 id="report-in-missing-directory"),
    pytest.param([*SIM, "--html", "{d}"], "is a directory; give a file name",
                 id="html-is-a-directory"),
    pytest.param([*SIM, "--pki-cache", "{d}/list.json"], "is a file", id="pki-cache-is-a-file"),
    # topology
    pytest.param(["topology", "--sample", "-1"], "greater than or equal to 0",
                 id="topology-sample-negative"),
    pytest.param(["topology", "--profile", "{d}/many.yaml"], "communes: 'many'",
                 id="topology-bad-profile"),
    # record
    pytest.param(["record", "--out", "{d}/o.cap", "--topics", "a"], "needs --bootstrap",
                 id="record-without-bootstrap"),
    pytest.param([*RECORD, "--from", "yesterday"], "give an ISO 8601 time",
                 id="record-from-not-a-time"),
    pytest.param([*RECORD, "--count", "-5"], "--count must be > 0", id="record-count-negative"),
    pytest.param([*RECORD, "--duration", "5q"], "'5q' is not a duration",
                 id="record-duration-bad"),
    pytest.param([*RECORD[:2], "{d}", *RECORD[3:]], "is a directory", id="record-out-directory"),
    # replay
    pytest.param(["replay", "{d}/missing.cap", "--dry-run"], "does not exist",
                 id="replay-capture-missing"),
    pytest.param(["replay", "{d}", "--dry-run"], "is a directory", id="replay-capture-directory"),
    pytest.param([*REPLAY, "--speed", "fast"], "give a factor like 10", id="replay-speed-word"),
    pytest.param([*REPLAY, "--speed", "-2"], "give a factor like 10", id="replay-speed-negative"),
    pytest.param([*REPLAY, "--loop", "0"], "--loop must be >= 1", id="replay-loop-zero"),
    pytest.param([*REPLAY, "--tier", "nonsense"],
                 "tiers: central, province, district, commune", id="replay-unknown-tier"),
    pytest.param([*REPLAY, "--priority", "7"], "must be numbers 0-4",
                 id="replay-priority-out-of-range"),
    pytest.param([*REPLAY, "--timestamps", "now"], "--timestamps must be original or fresh",
                 id="replay-unknown-timestamps"),
    pytest.param([*REPLAY, "--topic-map", "ab"], "must be SOURCE=TARGET",
                 id="replay-topic-map-no-equals"),
    pytest.param([*REPLAY, "--max-gap", "-1s"], "--max-gap must be >= 0", id="replay-gap-negative"),
    pytest.param(["replay", "{d}/empty.cap"], "needs --bootstrap", id="replay-without-bootstrap"),
    # report
    pytest.param(["report", "{d}/missing.json"], "no such report file", id="report-missing"),
    pytest.param(["report", "{d}"], "not a JSON report", id="report-directory"),
    pytest.param(["report", "{d}/text.json"], "not a JSON report", id="report-malformed-json"),
    pytest.param(["report", "{d}/binary.json"], "not a JSON report", id="report-not-utf8"),
    pytest.param(["report", "{d}/list.json"], "not an lgsp run report", id="report-not-a-report"),
    pytest.param(["report", "{d}/cut.json"], "an incomplete lgsp run report (no topology",
                 id="report-cut-short"),
    pytest.param(["report", "merge"], "needs the reports to merge", id="report-merge-nothing"),
    pytest.param(["report", "{d}/list.json", "--html", "{d}/no/dir/r.html"],
                 "--html {d}/no/dir/r.html: the directory {d}/no/dir does not exist",
                 id="report-html-in-missing-directory"),
    # schemas and registry
    pytest.param(["schemas", "validate", "lgsp.nope", "{d}/list.json"], "'lgsp.nope' is not in",
                 id="schemas-unknown-subject"),
    pytest.param(["schemas", "validate", "lgsp.document", "{d}"], "is a directory",
                 id="schemas-sample-directory"),
    pytest.param(["schemas", "validate", "lgsp.document", "{d}/binary.json"], "is not UTF-8",
                 id="schemas-sample-not-utf8"),
    pytest.param(["schemas", "validate", "lgsp.document", "{d}/text.json"], "is not valid JSON",
                 id="schemas-sample-malformed-json"),
    pytest.param(["schemas", "check", "--format", "xml"], "--format must be one of",
                 id="schemas-unknown-format"),
    pytest.param(["schemas", "list", "--dir", "{d}/nodir"], "no registry.json",
                 id="schemas-dir-missing"),
    pytest.param(["schemas", "check", "--output", "{d}"], "--output {d} is a directory",
                 id="schemas-output-is-a-directory"),
    pytest.param(["registry", "serve", "--port", "70000"], "less than or equal to 65535",
                 id="registry-port-out-of-range"),
    pytest.param(["registry", "serve", "--port", "{busy}"], "cannot serve the registry",
                 id="registry-port-taken"),
    # broker
    pytest.param(["broker", "--port", "70000"], "less than or equal to 65535",
                 id="broker-port-out-of-range"),
    pytest.param(["broker", "--tls-cert", "{d}/missing.pem", "--tls-key", "{d}/missing.key"],
                 "does not exist", id="broker-tls-cert-missing"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files a new user points commands at by mistake."""
    d = tmp_path_factory.mktemp("bad-input")
    province = (SHIPPED / "hai-duong.yaml").read_text(encoding="utf-8")
    assert "communes: 235" in province
    (d / "many.yaml").write_text(province.replace("communes: 235", 'communes: "many"'), "utf-8")
    (d / "negative.yaml").write_text(province.replace("communes: 235", "communes: -4"), "utf-8")
    (d / "malformed.yaml").write_text("name: [unclosed\n", "utf-8")
    (d / "latin1.yaml").write_bytes("name: Hải Dương\n".encode("cp1258", errors="replace")
                                    + b"\xff")
    (d / "adir.yaml").mkdir()
    (d / "text.json").write_text("hello\n", "utf-8")
    (d / "binary.json").write_bytes(b"\xff\xfe\x00")
    (d / "list.json").write_text("[1, 2]", "utf-8")
    (d / "cut.json").write_text('{"run": {"config": {}}, "totals": {}}', "utf-8")
    (d / "empty.cap").write_bytes(b"")
    return d


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    """A loopback port some other program is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize(("args", "message"), CASES)
def test_a_mistake_is_one_line_and_exit_2(args, message, files, busy_port):
    """The mistake is named on one stderr line, exit 2, no traceback, nothing started."""
    argv = [a.format(d=files, busy=busy_port) for a in args]
    env = {**os.environ, "CI": "true", "LGSP_PKI_CACHE": str(files / "pki")}
    for name in ("LGSP_BOOTSTRAP", "LGSP_PROFILE", "LGSP_DURATION", "LGSP_LOG_LEVEL"):
        env.pop(name, None)
    r = subprocess.run([sys.executable, "-m", "lgsp", *argv], capture_output=True, text=True,
                       timeout=60, env=env, check=False)
    shown = f"exit {r.returncode}\nstderr:\n{r.stderr}\nstdout:\n{r.stdout}"
    assert "Traceback" not in r.stderr, shown
    assert r.returncode == 2, shown
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, shown
    assert lines[0].startswith("lgsp: error: "), shown
    assert message.format(d=files) in lines[0], shown


def test_a_capture_that_is_not_avro_is_bad_input_exit_3(files):
    """A capture file that exists but is not one is bad input (3, as the README says), one line."""
    (files / "text.cap").write_text("not avro\n", "utf-8")
    r = subprocess.run([sys.executable, "-m", "lgsp", "replay", str(files / "text.cap"),
                        "--dry-run"], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "CI": "true"}, check=False)
    assert r.returncode == 3, r.stderr
    assert r.stderr.strip().splitlines() == [
        f"lgsp: error: {files / 'text.cap'} is not an Avro container file (no 'Obj' magic)"]
