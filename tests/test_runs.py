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
    # the advice works: a folder holding a run refuses a plain new run, so it names --start-over
    advice = "--start-over moves it to" if damage == "all_damaged" else "run without --resume to start a new run"
    assert advice in err
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


def one_line_error(capsys) -> str:
    """The one line a refused command prints (and that there is only one, with no traceback)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip()


@pytest.mark.parametrize("change", ["model.overrides.candidates=4", "model.name=swish_unet_small"])
def test_resuming_with_another_model_is_one_line_naming_the_checkpoint(kaggle_dir, tmp_path, capsys, change):
    out = tmp_path / "run"
    assert train_cli(kaggle_dir, out, "steps=10") == 0
    before = hashes(out)
    capsys.readouterr()
    assert train_cli(kaggle_dir, out, "steps=20", change, "--resume") == 2
    err = one_line_error(capsys)
    assert err.startswith(f"swishpaint: error: {out / 'ckpt-00000010'}: the checkpoint was made with a different "
                          f"model (")
    assert err.endswith("; resume with the run's own config, or start a new run")
    if "candidates" in change:
        assert "(size mismatch for head." in err
    assert hashes(out) == before  # config.yaml, log and checkpoints as they were


def test_fine_tuning_from_weights_of_another_model_is_one_line(kaggle_dir, tmp_path, capsys):
    first = tmp_path / "first"
    assert train_cli(kaggle_dir, first, "steps=5", "checkpoint_every=5") == 0
    capsys.readouterr()
    out = tmp_path / "second"
    assert train_cli(kaggle_dir, out, "steps=5", f"init_from={first / 'ckpt-00000005'}",
                     "model.overrides.candidates=4") == 2
    err = one_line_error(capsys)
    assert err.startswith(f"swishpaint: error: {first / 'ckpt-00000005'}: cannot start from these weights: they "
                          f"were made for a different model (size mismatch for head.")
    assert not out.exists()
    before = hashes(first)  # --start-over into a run: the bad weights are refused before the run is moved
    assert train_cli(kaggle_dir, first, "steps=5", f"init_from={first / 'ckpt-00000005'}",
                     "model.overrides.candidates=4", "--start-over") == 2
    assert hashes(first) == before and not (first / "previous-1").exists()


def test_out_dir_that_is_a_file_is_refused_before_any_work(kaggle_dir, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("mine")
    assert train_cli(kaggle_dir, afile, "steps=2") == 2
    assert one_line_error(capsys) == f"swishpaint: error: {afile}: output folder is a file"
    assert afile.read_text() == "mine"


@pytest.mark.parametrize("flag", [[], ["--start-over"]])
def test_a_folder_of_other_files_is_not_taken_for_a_run(kaggle_dir, tmp_path, capsys, flag):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "config.yaml").write_text("my: settings\n")
    assert train_cli(kaggle_dir, proj, "steps=2", *flag) == 2
    assert one_line_error(capsys) == f"swishpaint: error: {proj}: not empty and not a swishpaint run; " \
                                     f"choose another out_dir"
    assert hashes(proj) == {"config.yaml": hashlib.sha256(b"my: settings\n").hexdigest()}


def test_a_run_stopped_before_its_first_log_line_is_still_an_earlier_run(kaggle_dir, tmp_path, capsys):
    from swishpaint.configs import dump_yaml
    from swishpaint.training.config import load_config

    out = tmp_path / "run"
    out.mkdir()
    (out / "config.yaml").write_text(dump_yaml(load_config(TINY)))  # what a run writes before its first step
    assert train_cli(kaggle_dir, out, "steps=2") == 2
    assert one_line_error(capsys).startswith(f"swishpaint: error: {out}: holds an earlier run (config.yaml)")
    assert train_cli(kaggle_dir, out, "steps=2", "checkpoint_every=2", "--start-over") == 0
    assert (out / "previous-1" / "config.yaml").is_file() and C.list_checkpoints(out)


@pytest.mark.parametrize("existing", [False, True])
def test_a_refused_run_leaves_nothing_behind(kaggle_dir, tmp_path, capsys, existing):
    small = tmp_path / "small"
    (small / "train").mkdir(parents=True)
    (small / "train" / "0.png").write_bytes((kaggle_dir / "train" / "0.png").read_bytes())
    out = tmp_path / "o4"
    if existing:
        out.mkdir()
    assert train_cli(small, out, "steps=2", "val_every=1000") == 2
    assert "fewer than one batch" in one_line_error(capsys)
    assert (list(out.iterdir()) == []) if existing else not out.exists()


def test_resume_past_a_damaged_checkpoint_keeps_a_better_best_model(kaggle_dir, tmp_path, caplog):
    import math
    import yaml

    out = tmp_path / "run"
    assert train_cli(kaggle_dir, out, "steps=20", "keep_last=5", "val_every=10") == 0
    newest, older = C.list_checkpoints(out)[-1], C.list_checkpoints(out)[0]
    weights = newest / "discriminator.safetensors"
    weights.write_bytes(weights.read_bytes()[:-7] + b"garbage")
    # The older checkpoint knew no best score; best/ records a better model than this run can reach.
    state = json.loads((older / "state.json").read_text())
    (older / "state.json").write_text(json.dumps({**state, "best_score": -math.inf}))
    card = yaml.safe_load((out / "best" / "config.yaml").read_text())
    card["val"]["psnr_best"] = 99.0
    (out / "best" / "config.yaml").write_text(yaml.safe_dump(card, sort_keys=False))
    best = hashes(out / "best")
    caplog.set_level("INFO")
    assert train_cli(kaggle_dir, out, "steps=20", "val_every=10", "--resume") == 0
    assert "falling back" in caplog.text and "best/ holds a better model (val PSNR 99.00 dB)" in caplog.text
    assert hashes(out / "best") == best


def test_best_on_disk_reads_only_an_intact_best_model(kaggle_dir, tmp_path):
    from swishpaint.training.loop import best_on_disk

    out = tmp_path / "run"
    assert train_cli(kaggle_dir, out, "steps=10", "val_every=10") == 0
    assert best_on_disk(out / "best") > 0
    (out / "best" / "model.safetensors").write_bytes(b"damaged")
    assert best_on_disk(out / "best") == float("-inf")
    assert best_on_disk(tmp_path / "none") == float("-inf")


def test_ctrl_c_names_the_checkpoint_and_how_to_continue(kaggle_dir, tmp_path, capsys, monkeypatch):
    import os
    import signal

    from swishpaint.training import loop

    real_step = loop.gan_step

    def step_then_ctrl_c(state, batch):
        if state.step == 2:
            os.kill(os.getpid(), signal.SIGINT)  # as the terminal does; the run's handler catches it
        return real_step(state, batch)

    monkeypatch.setattr(loop, "gan_step", step_then_ctrl_c)
    out = tmp_path / "run"
    assert train_cli(kaggle_dir, out, "steps=100", "checkpoint_every=100") == 130  # 128 + SIGINT
    assert capsys.readouterr().out.strip().splitlines()[-1] == (
        f"stopped at step 3; checkpoint {out / 'ckpt-00000003'}; continue with the same command and --resume")


def test_dry_run_checks_the_data_root(kaggle_dir, tmp_path, capsys):
    missing = tmp_path / "nonexist"
    assert main(["train", "--config", TINY, "--dry-run", f"data.root={missing}"]) == 2
    assert one_line_error(capsys) == f"swishpaint: error: {missing}: no such dataset folder"
    (tmp_path / "empty").mkdir()
    assert main(["train", "--config", TINY, "--dry-run", f"data.root={tmp_path / 'empty'}"]) == 2
    assert "no images found for the 'train' split" in one_line_error(capsys)
    assert main(["train", "--config", TINY, "--dry-run", f"data.root={kaggle_dir}", "steps=7"]) == 0
    assert "steps: 7" in capsys.readouterr().out
