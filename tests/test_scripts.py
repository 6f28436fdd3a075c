"""Every script in scripts/ runs with the dev extra installed: its imports resolve and --help works."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from swishpaint.server.launch import running_server

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted((ROOT / "scripts").glob("*.py"))


def _help(script: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)


def test_every_script_answers_help():
    assert {s.name for s in SCRIPTS} >= {"load_test.py", "page_screenshot.py"}
    with ThreadPoolExecutor(3) as pool:
        for script, run in zip(SCRIPTS, pool.map(_help, SCRIPTS)):
            assert run.returncode == 0, f"{script.name}: {run.stderr[-1500:]}"
            assert "usage:" in run.stdout, script.name


def test_running_server_starts_answers_and_stops(model_dir):
    import urllib.request

    with running_server("--model", str(model_dir), env={"PYTHONPATH": str(ROOT / "src")}) as server:
        with urllib.request.urlopen(server.url + "/api/health", timeout=10) as r:
            assert r.status == 200
        pid = server.pid
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
