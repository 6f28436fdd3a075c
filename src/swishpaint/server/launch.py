"""`swishpaint serve` in a child process on a free loopback port: the one way scripts and tests start it."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from typing import Iterator


@dataclass(frozen=True)
class RunningServer:
    url: str  # http://127.0.0.1:PORT
    pid: int


def free_port() -> int:
    """A loopback port nobody is listening on now (fixed ports collide between runs and jobs)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(*serve_args: str, env: dict[str, str] | None = None,
                   timeout: float = 60) -> Iterator[RunningServer]:
    """Start `python -m swishpaint serve --port P *serve_args`, wait until /api/health answers, stop it after.

    The server's log goes to a temporary file (a pipe nobody reads would fill and stall it) and is
    shown in the error if the server exits before it answers.
    """
    port = free_port()
    cmd = [sys.executable, "-m", "swishpaint", "serve", "--port", str(port), *serve_args]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=log)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + timeout
            while True:
                try:
                    urllib.request.urlopen(url + "/api/health", timeout=1)
                    break
                except OSError:
                    if proc.poll() is not None or time.time() > deadline:
                        log.seek(0)
                        raise RuntimeError(f"swishpaint serve did not start: {log.read().decode()[-2000:]}")
                    time.sleep(0.2)
            yield RunningServer(url, proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
