"""A real ``policylang serve`` on a free loopback port, for the service tests and benchmarks.

The server is a child process running the installed command (uvicorn and all); tests talk
to it with httpx over real HTTP. ``Served.stop()`` sends SIGTERM (a graceful shutdown) and
waits; every server is stopped at exit even when a test fails.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

KEYS = """
[[key]]
token = "cards-key"
team = "cards"
roles = ["decide", "reserve"]

[[key]]
token = "wealth-key"
team = "wealth_management"
roles = ["decide", "reserve"]

[[key]]
token = "audit-key"
team = "*"
roles = ["decide", "reserve", "audit"]

[[key]]
token = "batch-key"
team = "growth"
roles = ["reserve"]

[[key]]
token = "slow-key"
team = "cards"
roles = ["decide"]
rate = 0.01
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def policy_folder(*names: str) -> Path:
    """A fresh temporary copy of example policies (and their scenarios), to change at will."""
    folder = Path(tempfile.mkdtemp(prefix="policylang-serve-"))
    for name in names:
        for suffix in (".pol", ".polt"):
            source = EXAMPLES / (name + suffix)
            if source.exists():
                shutil.copy(source, folder / source.name)
    return folder


class Served:
    """One running server; ``url`` is its base URL."""

    def __init__(self, folder: Path, *args: str, workers: int = 1, env: dict[str, str] | None = None,
                 scheme: str = "http", verify: ssl.SSLContext | bool = True) -> None:
        self.port = free_port()
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.verify = verify
        self.log = Path(tempfile.mkstemp(prefix="policylang-serve-", suffix=".log")[1])
        argv = [str(Path(sys.executable).parent / "policylang"), "serve", str(folder), "--host", "127.0.0.1",
                "--port", str(self.port), "--workers", str(workers), *args]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                            env={**os.environ, **(env or {})}, start_new_session=True)
        atexit.register(self.stop)
        self.wait_ready()

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited ({self.process.returncode}):\n{self.output()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2, verify=self.verify).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the server did not start in {timeout}s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def worker_pids(self) -> list[int]:
        """The uvicorn worker processes (children of the server process)."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == self.process.pid:
                cmdline = (entry / "cmdline").read_bytes()
                # uvicorn's workers are spawned processes (not the resource tracker)
                if b"spawn_main" in cmdline:
                    found.append(int(entry.name))
        return found

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        return self.process.returncode
