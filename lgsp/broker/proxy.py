"""A proxy in front of the embedded broker (Debian's ``socat``): TLS, or a cuttable network.

The shipped Tansu build's own ``--cert``/``--key`` flags do not give a working TLS listener, so
TLS is terminated by ``socat OPENSSL-LISTEN`` forwarding to Tansu's plaintext port, and Tansu
advertises the proxy's port (``EmbeddedBroker(advertised_port=...)``): every connection a client
opens, bootstrap and broker alike, goes through TLS. Without a certificate the proxy is plain TCP;
stopping and starting it again cuts the clients off the broker and back (a network outage),
while the broker keeps its data.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import structlog

from lgsp.broker.embedded import die_with_parent
from lgsp.errors import BrokerError, LifecycleError

log = structlog.get_logger(__name__)
START_TIMEOUT_S = 10.0


class BrokerProxy:
    """``socat`` listening on ``host:port`` — with TLS when given a certificate and key — and
    forwarding each connection to ``target`` (host:port)."""

    def __init__(self, *, port: int, target: str, certfile: Path | None = None,
                 keyfile: Path | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self.target = target
        self.certfile = certfile
        self.keyfile = keyfile
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start_sync(self, timeout_s: float = START_TIMEOUT_S) -> str:
        if self._process is not None:
            raise LifecycleError(f"TLS proxy on {self.address} is already started")
        binary = shutil.which("socat")
        if binary is None:
            raise BrokerError("the TLS proxy needs socat (Debian: apt-get install socat)")
        if self.certfile is None or self.keyfile is None:
            listen = f"TCP-LISTEN:{self.port},bind={self.host},reuseaddr,fork"
        else:
            for path in (self.certfile, self.keyfile):
                if not Path(path).is_file():
                    raise BrokerError(f"TLS proxy: {path} does not exist")
            listen = (f"OPENSSL-LISTEN:{self.port},bind={self.host},reuseaddr,fork,"
                      f"cert={self.certfile},key={self.keyfile},verify=0")
        self._process = subprocess.Popen(
            [binary, listen, f"TCP:{self.target}"], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
            preexec_fn=die_with_parent)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                error = self._process.stderr.read().decode(errors="replace").strip() \
                    if self._process.stderr else ""
                self._process = None
                raise BrokerError(f"the TLS proxy (socat) exited at start: {error}")
            with contextlib.suppress(OSError), socket.create_connection(
                    (self.host, self.port), timeout=0.5):
                log.info("broker_proxy_started", address=self.address, target=self.target)
                return self.address
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"the TLS proxy did not listen on {self.address} within {timeout_s}s")

    def stop(self) -> None:
        """Stop listening and cut every connection (the forked children go too)."""
        proc, self._process = self._process, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)  # its own session: the forks as well
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if proc.stderr is not None:
            proc.stderr.close()
        log.info("broker_proxy_stopped", address=self.address)
