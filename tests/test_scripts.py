"""Every script in scripts/ runs with the dev extra installed: its imports resolve and --help works."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

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


def test_shell_scripts_give_their_usage_when_called_bare():
    for script in sorted((ROOT / "scripts").glob("*.sh")):
        run = subprocess.run(["bash", str(script)], capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert run.returncode == 2 and run.stderr.startswith("usage: "), f"{script.name}: {run.stderr[-500:]}"


def test_running_server_starts_answers_and_stops(model_dir):
    import urllib.request

    with running_server("--model", str(model_dir), env={"PYTHONPATH": str(ROOT / "src")}) as server:
        with urllib.request.urlopen(server.url + "/api/health", timeout=10) as r:
            assert r.status == 200
        pid = server.pid
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


def test_eval_sets_never_put_a_character_in_both_sets(tmp_path):
    """The region chooser is fitted on held-out characters the evaluation does not score (either view)."""
    def frames(split: str, character: str, count: int) -> None:
        (tmp_path / "corpus" / split / "live2d" / character).mkdir(parents=True)
        for i in range(count):
            (tmp_path / "corpus" / split / "live2d" / character / f"f_{i:04d}.png").write_bytes(b"x")

    val = tmp_path / "corpus" / "val"
    for character in ("haruto", "koharu"):
        frames("val", character, 30)
    (val / "pokemon").mkdir()
    for n in range(10, 400, 10):
        (val / "pokemon" / f"{n}.png").write_bytes(b"x")
        (val / "pokemon" / f"{n}-head.png").write_bytes(b"x")
    (val / "openmoji").mkdir()
    (val / "openmoji" / "1F600.png").write_bytes(b"x")
    train = tmp_path / "corpus" / "train"
    for character in ("miku", "hijiki"):
        frames("train", character, 20)
    (train / "pokemon").mkdir()
    for n in range(1, 40):
        (train / "pokemon" / f"{n}.png").write_bytes(b"x")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "eval_sets.py"), str(tmp_path / "corpus"),
                          str(tmp_path / "eval"), str(tmp_path / "fit"), "--probe", str(tmp_path / "probe"),
                          "--choose-pokemon", str(tmp_path / "choose")],
                         capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    probe = {p.name: p.resolve() for p in (tmp_path / "probe" / "val").iterdir()}
    assert sum(n.startswith("live2d-miku") for n in probe) == 4 and not any("hijiki" in n for n in probe)
    assert sum(n.startswith("pokemon") for n in probe) == 16
    assert all(train in p.parents for p in probe.values())  # training characters only
    scored = {p.name for p in (tmp_path / "eval" / "val").iterdir()}
    fitted = {p.name for p in (tmp_path / "fit" / "val").iterdir()}
    assert sum(n.startswith("live2d-haruto") for n in scored) == 14
    assert sum(n.startswith("pokemon") for n in scored) == 16
    character = lambda name: name.split(".")[0].removesuffix("-head")
    assert not {character(n) for n in scored} & {character(n) for n in fitted}
    assert "openmoji-1F600.png" in fitted and not any(n.startswith("live2d") for n in fitted)
    assert (tmp_path / "eval" / "train").is_dir() and (tmp_path / "fit" / "train").is_dir()
    choose = {p.name for p in (tmp_path / "choose" / "val").iterdir()}  # for choosing: unscored Pokémon only
    assert choose and choose <= {n for n in fitted if n.startswith("pokemon-")}


def test_automatic_ceilings_rank_what_each_row_knows(tmp_path):
    """Oracle flats know the most and score highest; the sketch knows nothing and scores its own row."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for i in range(2):
            rgb = np.full((64, 64, 3), 255, np.uint8)
            rgb[8:56, 8:32] = rng.integers(0, 200, 3)
            rgb[8:56, 32:56] = rng.integers(0, 200, 3)
            (tmp_path / split).mkdir(exist_ok=True)
            Image.fromarray(rgb).save(tmp_path / split / f"{i}.png")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "automatic_ceilings.py"), str(tmp_path),
                          "--fixed-from", str(tmp_path), "--size", "64"], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    rows = {line[:58].strip(): float(line[58:].split("dB")[0]) for line in run.stdout.splitlines() if "dB" in line}
    assert {"sketch", "oracle flats", "true lightness, no hue"} <= set(rows)
    assert rows["oracle flats"] == max(rows.values()) and rows["oracle flats"] > rows["sketch"] + 3
