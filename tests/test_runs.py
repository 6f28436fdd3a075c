"""Training runs lose nothing: a new run never mixes into an earlier run's folder, pruning touches only
the run's own checkpoints, --resume never quietly starts over, and a resumed log has no duplicates."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from swishpaint.cli import main
from swishpaint.models import create_model
from swishpaint.training import checkpoints as C

ROOT = Path(__file__).resolve().parent.parent
TINY = str(ROOT / "configs" / "tiny.yaml")


def hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def train_cli(data: Path, out: Path, *extra: str) -> int:
    return main(["train", "--config", TINY, f"data.root={data}", f"out_dir={out}", "val_every=1000",
                 "sample_every=1000", *extra])


def test_pruning_keeps_other_runs_and_the_checkpoint_just_written(tmp_path):
    g, d = create_model("swish_unet_tiny"), nn.Linear(2, 2)
    save = lambda step, run, keep: C.save_checkpoint(tmp_path, step, g, d, {}, {}, {"run_id": run}, keep)
    for step in (100, 200):
        save(step, "old", 0)
    save(150, None, 0)  # written before checkpoints carried a run id
    for step in (10, 20, 30):
        save(step, "new", 2)
    assert [C.step_of(p) for p in C.list_checkpoints(tmp_path)] == [20, 30, 100, 150, 200]
    save(5, "new", 1)  # a step below the others (e.g. after resuming an older checkpoint) is still kept
    assert [C.step_of(p) for p in C.list_checkpoints(tmp_path)] == [5, 100, 150, 200]


def test_new_run_into_an_earlier_runs_folder_refuses_then_start_over_moves_it_aside(kaggle_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert train_cli(kaggle_dir, out, "steps=10") == 0
    before = hashes(out)
    capsys.readouterr()
    assert train_cli(kaggle_dir, out, "steps=5", "model.overrides.candidates=2") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"swishpaint: error: {out}: holds an earlier run") and "--resume" in err
    assert len(err.strip().splitlines()) == 1 and hashes(out) == before  # config.yaml and checkpoints as they were
    assert train_cli(kaggle_dir, out, "steps=5", "checkpoint_every=5", "--start-over") == 0
    assert f"moved the previous run to {out / 'previous-1'}" in capsys.readouterr().out
    assert hashes(out / "previous-1") == before  # the earlier run, intact
    assert [p.name for p in C.list_checkpoints(out)] == ["ckpt-00000005"]


@pytest.mark.parametrize("damage", ["all_damaged", "none"])
def test_resume_without_a_usable_checkpoint_fails_clearly(kaggle_dir, tmp_path, capsys, damage):
    out = tmp_path / "run"
    if damage == "all_damaged":
        assert train_cli(kaggle_dir, out, "steps=20", "keep_last=5") == 0
        for ckpt in C.list_checkpoints(out):
            (ckpt / "state.json").write_text("{ damaged")
    before = hashes(out) if out.exists() else {}
    capsys.readouterr()
    assert train_cli(kaggle_dir, out, "steps=30", "--resume") == 2
    err = capsys.readouterr().err
    detail = "all 2 checkpoint(s) are damaged" if damage == "all_damaged" else "it holds no checkpoint"
    assert f"swishpaint: error: {out}: nothing to resume from ({detail})" in err and "Traceback" not in err
    assert (hashes(out) if out.exists() else {}) == before  # nothing written, nothing pruned


def test_resume_reports_its_step_and_the_log_has_no_duplicate_steps(kaggle_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert train_cli(kaggle_dir, out, "steps=10", "log_every=1") == 0
    log = out / "log.jsonl"
    lines = log.read_text().splitlines()
    # the run went on to step 13 and was killed before its next checkpoint
    log.write_text("\n".join(lines + [json.dumps({"step": s, "loss_d": 1.0}) for s in (11, 12, 13)]) + "\n")
    capsys.readouterr()
    assert train_cli(kaggle_dir, out, "steps=15", "log_every=1", "--resume") == 0
    assert f"resumed from step 10 ({out / 'ckpt-00000010'})" in capsys.readouterr().out
    steps = [json.loads(line)["step"] for line in log.read_text().splitlines()]
    assert steps == list(range(1, 16))
    assert [p.name for p in C.list_checkpoints(out)] == ["ckpt-00000010", "ckpt-00000015"]
