"""``--bus-only`` options a run cannot honour are refused before anything starts: one line, exit
2 (no broker is started, nothing listens); and ``lgsp replay --into-run`` sends a capture's run
topics to another run's."""

from __future__ import annotations

import pytest

from lgsp.bus.topics import TopicNames
from tests.cli.test_cli import run

BUS = ["--bus-only", "--run-id", "r1", "--bootstrap", "127.0.0.1:1"]


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A --pki-out directory, written without a broker (the files alone)."""
    from lgsp.signing.keys import SignatureAlgorithm
    from lgsp.signing.pki import Pki
    from lgsp.signing.pki_files import write_pki

    directory = tmp_path_factory.mktemp("pki")
    write_pki(Pki(SignatureAlgorithm.ED25519, cache_dir=directory / "keys"), directory / "out")
    return str(directory / "out")


@pytest.mark.parametrize(("args", "message"), [
    pytest.param(["-n", "5"], "lgsp: error: --bus-only sends nothing and has no schedule: "
                              "leave out --documents", id="documents"),
    pytest.param(["--rate", "5", "--inject", "bad-signature=1%"],
                 "lgsp: error: --bus-only sends nothing and has no schedule: leave out --rate, "
                 "--inject", id="rate-inject"),
    pytest.param(["--external", "recipient=000.00.01.H56"],
                 "lgsp: error: --bus-only sends nothing and has no schedule: leave out "
                 "--external", id="external"),
    pytest.param(["--pki-out", "x"], "lgsp: error: --bus-only sends nothing and has no "
                                     "schedule: leave out --pki-out", id="pki-out"),
    pytest.param(["--workers", "2"], "lgsp: error: --bus-only runs the bus in one process: "
                                     "leave out --workers and --bus-workers", id="workers"),
])
def test_a_schedule_option_with_bus_only_is_one_line_exit_2(pki_dir, args, message):
    """What only a run with senders has is refused, naming the flags given."""
    result = run(["simulate", *BUS, "--pki", pki_dir, "--no-progress", *args], timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == message


@pytest.mark.parametrize(("args", "message"), [
    pytest.param(["--bus-only", "--pki", "{pki}"],
                 "lgsp: error: --bus-only needs --run-id and --bootstrap: the senders (lgsp "
                 "replay --into-run ID, your own service) write to lgsp.<run-id>.<platform>."
                 "inbound on the same broker (lgsp broker --port 39092 starts one)",
                 id="no-run-id-no-bootstrap"),
    pytest.param([*BUS], "lgsp: error: --bus-only trusts the senders' CA: give one of --pki DIR "
                         "(written by lgsp simulate --pki-out) or --trust-capture FILE",
                 id="no-trust"),
    pytest.param([*BUS, "--pki", "{tmp}"],
                 "lgsp: error: --pki {tmp}: root-ca.pem is missing; give a directory written "
                 "by lgsp simulate --pki-out", id="empty-pki-dir"),
    pytest.param(["--idle", "5s", "-n", "3"],
                 "lgsp: error: --idle is an option of a bus-only run: add --bus-only",
                 id="idle-without-bus-only"),
    pytest.param([*BUS, "--pki", "{pki}", "--idle", "0"],
                 "lgsp: error: --idle must be > 0 seconds", id="idle-zero"),
])
def test_bus_only_without_what_it_needs_is_one_line_exit_2(pki_dir, tmp_path, args, message):
    """A bus-only run needs its topics' names, the broker the senders use and a trust anchor;
    a pki directory that only trusts needs no CA key, but its certificates must be there."""
    args = [a.format(pki=pki_dir, tmp=tmp_path) for a in args]
    result = run(["simulate", "--no-progress", *args], timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == message.format(tmp=tmp_path)


def test_a_trust_only_pki_directory_needs_no_ca_key(pki_dir, tmp_path):
    """--pki of a bus-only run only verifies: a directory without issuing-ca.key is accepted
    (the run then fails later only for want of a broker: exit 4, not 2)."""
    import shutil
    from pathlib import Path

    trust = tmp_path / "trust"
    shutil.copytree(pki_dir, trust)
    (trust / "issuing-ca.key").unlink()
    assert not Path(trust / "issuing-ca.key").exists()
    result = run(["simulate", *BUS, "--pki", str(trust), "--no-progress",
                  "--pki-cache", str(tmp_path / "keys")], timeout=120)
    assert result.returncode == 4, result.stderr
    assert "Traceback" not in result.stderr


class TestIntoRun:
    @pytest.mark.parametrize(("topic", "into"), [
        ("lgsp.demo.lgsp-h56.inbound", "lgsp.replay1.lgsp-h56.inbound"),
        ("lgsp.demo.g3.vdxp.deliver", "lgsp.replay1.vdxp.deliver"),
        ("lgsp.demo.dead-letter", "lgsp.replay1.dead-letter"),
        ("lgsp.replay-ledger", "lgsp.replay-ledger"),
        ("other.topic.name", "other.topic.name"),
    ])
    def test_a_run_topic_goes_to_the_same_family_of_the_other_run(self, topic, into):
        """Run topics keep their platform and kind (a rotated generation loses its number);
        what is not a run's topic is left alone."""
        assert TopicNames.retarget(topic, "replay1") == into

    def test_a_bad_run_id_is_one_line_exit_2(self, tmp_path):
        capture = tmp_path / "x.cap"
        capture.write_bytes(b"")
        result = run(["replay", str(capture), "--dry-run", "--into-run", "a.b"], timeout=60)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip() == ("lgsp: error: run id 'a.b' must be letters, digits, "
                                         "'-' or '_'")
