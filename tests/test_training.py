"""Training: loss falls, exact resume, checkpoints load for inference, damage fallback, NaN stop,
Ctrl-C, and a two-process gloo run with identical weights on both ranks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from swishpaint.configs import ConfigError
from swishpaint.data.datasets import DatasetError
from swishpaint.training import checkpoints as C
from swishpaint.training.config import load_config
from swishpaint.training.loop import TrainingDiverged, train

from .conftest import free_port

ROOT = Path(__file__).resolve().parent.parent


def tiny(data: Path, out: Path, *overrides: str):
    return load_config(ROOT / "configs" / "tiny.yaml", [f"data.root={data}", f"out_dir={out}", *overrides])


def test_tiny_config_trains_and_loss_falls(kaggle_dir, tmp_path):
    result = train(tiny(kaggle_dir, tmp_path / "run", "steps=30", "log_every=1", "val_every=30"), progress=False)
    losses = [h["loss_perc"] for h in result["history"] if "loss_perc" in h]
    assert len(losses) == 30
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    run = tmp_path / "run"
    assert (run / "config.yaml").is_file() and (run / "log.jsonl").is_file()
    assert (run / "best" / "model.safetensors").is_file()
    assert list((run / "samples").glob("*.png"))
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert any("val_psnr" in r for r in records) and any("img_per_s" in r for r in records)


def test_resumed_run_equals_uninterrupted_run(kaggle_dir, tmp_path):
    full = train(tiny(kaggle_dir, tmp_path / "a", "steps=20"), progress=False)
    train(tiny(kaggle_dir, tmp_path / "b", "steps=10"), progress=False)
    resumed = train(tiny(kaggle_dir, tmp_path / "b", "steps=20"), resume=True, progress=False)
    assert resumed["resumed_from"].endswith("ckpt-00000010")
    assert resumed["generator_digest"] == full["generator_digest"]  # bitwise on CPU


def test_a_run_of_pixel_terms_alone_keeps_d_as_it_started_resumes_exactly_and_warns_of_nothing(kaggle_dir, tmp_path):
    """A CPU sitting's objective (pixel terms alone): D is never stepped, so its weights and
    its schedule stay as they started (no 'scheduler before optimiser' warning), and a resume is exact."""
    import warnings

    from safetensors.torch import load_file

    pixels = ["loss.perceptual=false", "loss.adversarial_weight=0", "loss.anchor_mse_weight=10", "d_warmup_steps=2",
              "checkpoint_every=3"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        full = train(tiny(kaggle_dir, tmp_path / "a", "steps=6", *pixels), progress=False)
        train(tiny(kaggle_dir, tmp_path / "b", "steps=3", *pixels), progress=False)
        resumed = train(tiny(kaggle_dir, tmp_path / "b", "steps=6", *pixels), resume=True, progress=False)
    assert resumed["generator_digest"] == full["generator_digest"]
    assert all("loss_d" not in h for h in full["history"])
    first, last = (load_file(str(tmp_path / "a" / f"ckpt-0000000{n}" / "discriminator.safetensors")) for n in (3, 6))
    assert first.keys() == last.keys() and all(torch.equal(first[k], last[k]) for k in first)


def test_channels_last_layout_trains_the_same_numbers_and_checkpoints_load_either_way(kaggle_dir, tmp_path):
    """channels_last (the default, faster convolutions) changes the layout, not the arithmetic: the
    same steps give the same losses to float rounding, and its checkpoints continue in the other layout."""
    import torch

    from swishpaint.training import build_state, gan_step

    torch.manual_seed(0)
    batch = {"sketch": torch.rand(2, 1, 32, 32), "color": torch.rand(2, 3, 32, 32)}
    losses = {}
    for layout in ("true", "false"):
        state = build_state(tiny(kaggle_dir, tmp_path / layout, f"channels_last={layout}", "data.size=32"))
        conv = next(p for p in state.g.parameters() if p.dim() == 4)
        assert conv.is_contiguous(memory_format=torch.channels_last) == (layout == "true")
        losses[layout] = [gan_step(state, batch) for _ in range(3)]
    for a, b in zip(losses["true"], losses["false"]):
        assert a.keys() == b.keys() and all(abs(a[k] - b[k]) <= 1e-4 * (1 + abs(b[k])) for k in a)
    train(tiny(kaggle_dir, tmp_path / "run", "steps=4"), progress=False)
    resumed = train(tiny(kaggle_dir, tmp_path / "run", "steps=6", "channels_last=false"), resume=True, progress=False)
    assert resumed["resumed_from"].endswith("ckpt-00000004")


def test_checkpoint_loads_for_inference(kaggle_dir, tmp_path):
    from swishpaint.inference.colorizer import Colorizer

    result = train(tiny(kaggle_dir, tmp_path / "run", "steps=10"), progress=False)
    colorizer = Colorizer.load(Path(result["checkpoint"]))  # a checkpoint folder loads for inference
    from swishpaint.cli import main

    assert main(["info", result["checkpoint"], "--size", "64"]) == 0
    out = colorizer.colorize(kaggle_dir / "val" / "0.png", candidates=2)
    assert len(out) == 2 and out[0].size == (128, 64)


def test_fine_tuning_starts_from_given_weights_with_the_hint_loss(kaggle_dir, tmp_path, caplog):
    from swishpaint.inference.colorizer import Colorizer
    from swishpaint.training.distributed import DistInfo
    from swishpaint.training.loop import build_state, init_weights

    first = train(tiny(kaggle_dir, tmp_path / "a", "steps=5"), progress=False)
    ckpt = C.read_checkpoint(first["checkpoint"])
    config = tiny(kaggle_dir, tmp_path / "b", f"init_from={first['checkpoint']}", "steps=4", "log_every=1",
                  "loss.hint_l1_weight=1.0", "data.hints.probability=1.0")
    state = build_state(config, DistInfo())
    init_weights(state, first["checkpoint"])
    assert all(torch.equal(v, ckpt["generator"][k]) for k, v in state.g.state_dict().items())
    assert all(torch.equal(v, ckpt["discriminator"][k]) for k, v in state.d.state_dict().items())
    init_weights(state, Path(first["checkpoint"]) / "generator")  # a model folder: generator only
    hand_back = C.write_hand_back(first["checkpoint"], tmp_path / "hand-back")  # G and D in fp16, one folder
    assert sorted(p.name for p in hand_back.iterdir()) == ["config.yaml", C.DISCRIMINATOR_FILE, "model.safetensors"]
    fresh = build_state(config, DistInfo())
    init_weights(fresh, hand_back)
    assert all(torch.equal(v, ckpt["discriminator"][k].half().to(v.dtype) if v.is_floating_point() else ckpt["discriminator"][k])
               for k, v in fresh.d.state_dict().items())
    assert all(torch.equal(v, ckpt["generator"][k].half().to(v.dtype)) for k, v in fresh.g.state_dict().items())
    colorizer = Colorizer.load(hand_back)  # and it colours as a model folder
    assert len(colorizer.colorize(kaggle_dir / "val" / "0.png", candidates=2)) == 2
    result = train(config, progress=False)
    assert result["step"] == 4 and all("loss_hint" in h for h in result["history"] if "loss_g" in h)
    assert "optim.warmup_steps" in caplog.text  # a fresh optimiser at full rate: said (tiny.yaml has no warm-up)
    wrong = tiny(kaggle_dir, tmp_path / "c", f"init_from={first['checkpoint']}", "model.overrides.candidates=5")
    with pytest.raises(C.CheckpointError, match="cannot start from these weights"):
        train(wrong, progress=False)


def test_weight_average_is_what_validation_best_and_the_hand_back_show_and_resumes_exactly(kaggle_dir, tmp_path,
                                                                                          caplog):
    from safetensors.torch import load_file

    from swishpaint.inference.colorizer import Colorizer
    from swishpaint.models.registry import model_folder

    average = ["ema_decay=0.9", "keep_last=5"]
    full = train(tiny(kaggle_dir, tmp_path / "a", "steps=20", *average), progress=False)
    train(tiny(kaggle_dir, tmp_path / "b", "steps=10", *average), progress=False)
    resumed = train(tiny(kaggle_dir, tmp_path / "b", "steps=20", *average), resume=True, progress=False)
    assert resumed["generator_digest"] == full["generator_digest"]
    ckpt = C.read_checkpoint(full["checkpoint"])
    again = C.read_checkpoint(resumed["checkpoint"])
    assert all(torch.equal(v, again["generator_ema"][k]) for k, v in ckpt["generator_ema"].items())  # bitwise
    assert not all(torch.equal(v, ckpt["generator"][k]) for k, v in ckpt["generator_ema"].items())
    # best/ holds the average of the step it was validated at
    best_step = max((h for h in full["history"] if "val" in h), key=lambda h: h["val"]["psnr_best"])["step"]
    saved = C.read_checkpoint(tmp_path / "a" / f"ckpt-{best_step:08d}")["generator_ema"]
    best = load_file(str(tmp_path / "a" / "best" / "model.safetensors"))
    assert all(torch.equal(v, saved[k]) for k, v in best.items())
    hand_back = load_file(str(C.write_hand_back(full["checkpoint"], tmp_path / "hand-back") / "model.safetensors"))
    assert all(torch.equal(v, ckpt["generator_ema"][k].half()) for k, v in hand_back.items())
    assert len(Colorizer.load(Path(full["checkpoint"]) / C.AVERAGE_FOLDER).colorize(kaggle_dir / "val" / "0.png")) == 1
    records = [json.loads(line) for line in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert any("val_psnr" in r and "val_raw_psnr" in r for r in records)  # the average beside the raw weights
    # a checkpoint given as a model is the average the run validated
    assert model_folder(Path(full["checkpoint"])) == Path(full["checkpoint"]) / C.AVERAGE_FOLDER
    plain = train(tiny(kaggle_dir, tmp_path / "c", "steps=10"), progress=False)  # off by default: no average
    assert not (Path(plain["checkpoint"]) / C.AVERAGE_FOLDER).exists()
    assert model_folder(Path(plain["checkpoint"])) == Path(plain["checkpoint"]) / "generator"
    caplog.clear()  # resuming it with an average: said, and the average starts at its generator
    train(tiny(kaggle_dir, tmp_path / "c", "steps=12", "ema_decay=0.9"), resume=True, progress=False)
    assert "kept no weight average" in caplog.text


def test_weight_average_folds_in_each_step_and_starts_at_the_fine_tuning_weights(kaggle_dir, tmp_path):
    from swishpaint.training.average import GeneratorAverage
    from swishpaint.training.distributed import DistInfo
    from swishpaint.training.loop import build_state, init_weights

    net = torch.nn.Linear(2, 1)
    average = GeneratorAverage(net, 0.5)
    before = net.weight.detach().clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    average.update(net, updates=100)  # late in a run: the configured decay
    assert torch.allclose(average.model.weight, before + 0.5)
    average.update(net, updates=0)  # the first update: decay 0.1, nearly the new weights
    assert torch.allclose(average.model.weight, 0.1 * (before + 0.5) + 0.9 * (before + 1.0))
    first = train(tiny(kaggle_dir, tmp_path / "a", "steps=5"), progress=False)
    state = build_state(tiny(kaggle_dir, tmp_path / "b", "ema_decay=0.99"), DistInfo())
    init_weights(state, first["checkpoint"])
    assert all(torch.equal(v, state.g.state_dict()[k]) for k, v in state.average.model.state_dict().items())
    averaged = train(tiny(kaggle_dir, tmp_path / "d", "steps=5", "ema_decay=0.9"), progress=False)
    ckpt = C.read_checkpoint(averaged["checkpoint"])  # init_from a checkpoint takes what its run validated,
    init_weights(state, averaged["checkpoint"])  # the average, as its hand-back carries it
    assert all(torch.equal(v, ckpt["generator_ema"][k]) for k, v in state.g.state_dict().items())
    with pytest.raises(ConfigError, match="ema_decay"):
        tiny(kaggle_dir, tmp_path / "c", "ema_decay=1")


def test_a_resume_with_settings_the_run_did_not_train_with_says_which(kaggle_dir, tmp_path, caplog, capsys,
                                                                     monkeypatch):
    out = tmp_path / "run"
    train(tiny(kaggle_dir, out, "steps=2", "checkpoint_every=2"), progress=False)
    caplog.clear()
    train(tiny(kaggle_dir, out, "steps=4", "checkpoint_every=2", "max_minutes=5"), resume=True, progress=False)
    assert "resumed with settings" not in caplog.text  # how long a sitting runs is no change of the run
    train(tiny(kaggle_dir, out, "steps=6", "checkpoint_every=2", "optim.lr_g=0.1", "seed=5"), resume=True,
          progress=False)
    warned = [r.getMessage() for r in caplog.records if "resumed with settings" in r.getMessage()]
    assert len(warned) == 1 and "optim.lr_g: 0.002 -> 0.1; seed: 0 -> 5" in warned[0]

    import swishpaint.training.loop as loop  # under torchrun only the first process reports the run
    from swishpaint.cli import main

    monkeypatch.setattr(loop, "train", lambda *a, **k: {"main": False, "signal": None})
    assert main(["train", "--config", str(ROOT / "configs" / "tiny.yaml"), f"data.root={kaggle_dir}"]) == 0
    assert capsys.readouterr().out == ""


def test_damaged_checkpoint_is_reported_and_resume_falls_back(kaggle_dir, tmp_path, caplog):
    out = tmp_path / "run"
    train(tiny(kaggle_dir, out, "steps=20", "keep_last=5"), progress=False)
    ckpts = C.list_checkpoints(out)
    assert [p.name for p in ckpts] == ["ckpt-00000010", "ckpt-00000020"]
    weights = ckpts[-1] / "discriminator.safetensors"
    weights.write_bytes(weights.read_bytes()[:-7] + b"garbage")
    with pytest.raises(C.CheckpointError, match="ckpt-00000020: damaged checkpoint"):
        C.read_checkpoint(ckpts[-1])
    result = train(tiny(kaggle_dir, out, "steps=20"), resume=True, progress=False)
    assert result["resumed_from"].endswith("ckpt-00000010")
    assert "falling back" in caplog.text
    state = ckpts[-1] / "state.json"  # valid JSON, wrong content: damaged too, not a traceback
    good = json.loads((ckpts[0] / "state.json").read_text())
    for text in ("null", "[]", "[" * 100_000, json.dumps({**good, "step": "abc"}),
                 json.dumps({k: v for k, v in good.items() if k != "param_groups"})):
        state.write_text(text)
        with pytest.raises(C.CheckpointError, match="ckpt-00000020: damaged checkpoint \\(state.json"):
            C.read_checkpoint(ckpts[-1])


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(kaggle_dir, tmp_path, monkeypatch):
    out = tmp_path / "run"
    train(tiny(kaggle_dir, out, "steps=10"), progress=False)
    before = (out / "ckpt-00000010" / "state.json").read_bytes()
    from swishpaint import losses

    monkeypatch.setattr(losses, "min_over_candidates", lambda *a, **k: torch.tensor(float("nan")))
    with pytest.raises(TrainingDiverged, match="loss_perc is nan"):
        train(tiny(kaggle_dir, out, "steps=20"), resume=True, progress=False)
    assert [p.name for p in C.list_checkpoints(out)] == ["ckpt-00000010"]
    assert (out / "ckpt-00000010" / "state.json").read_bytes() == before


def test_floats_written_without_a_dot_are_read_as_numbers(tmp_path):
    """YAML 1.1 reads 1e-4 as a string; in a config file or an override it is the learning rate meant."""
    assert load_config(ROOT / "configs" / "tiny.yaml", ["optim.lr_g=1e-4", "ema_decay=9.99E-1"]).optim.lr_g == 1e-4
    config = tmp_path / "c.yaml"
    config.write_text("optim:\n  lr_d: 3e-5\n")
    assert load_config(config).optim.lr_d == 3e-5
    with pytest.raises(ConfigError, match="^override.optim.lr_g: expected float"):  # the override named, not the file
        load_config(ROOT / "configs" / "tiny.yaml", ["optim.lr_g=fast"])
    with pytest.raises(ConfigError, match="expected int"):
        load_config(ROOT / "configs" / "tiny.yaml", ["steps=1e3"])


def test_config_errors_are_loud(tmp_path):
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(ROOT / "configs" / "tiny.yaml", ["optim.lr=1"])
    with pytest.raises(ConfigError, match="too small"):
        load_config(ROOT / "configs" / "tiny.yaml", ["data.size=8"])
    for name in ("paper", "paper-wpl", "unet-baseline", "cpu-demo", "tiny"):
        load_config(ROOT / "configs" / f"{name}.yaml")


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"])
def test_a_signal_saves_a_checkpoint_and_exits_as_interrupted(sig, code, kaggle_dir, tmp_path):
    """Ctrl-C or a scheduler's SIGTERM: a checkpoint, the line on how to go on, and the shell's 128 + signal,
    so a script or a scheduler knows the run did not finish (a time box exits 0: the end it asked for)."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "swishpaint", "train", "--config", str(ROOT / "configs" / "tiny.yaml"),
           f"data.root={kaggle_dir}", f"out_dir={out}", "steps=100000", "checkpoint_every=100000",
           "val_every=100000", "sample_every=100000", "log_every=1"]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / "log.jsonl").is_file() and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    assert "stopped at step" in stdout and "--resume" in stdout
    assert "Traceback" not in stderr
    assert len(C.list_checkpoints(out)) == 1


def test_sigkill_loses_at_most_one_checkpoint_interval(kaggle_dir, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "swishpaint", "train", "--config", str(ROOT / "configs" / "tiny.yaml"),
           f"data.root={kaggle_dir}", f"out_dir={out}", "steps=100000", "checkpoint_every=3",
           "val_every=100000", "sample_every=100000", "log_every=1"]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(C.list_checkpoints(out)) < 2 and time.time() < deadline:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    logged = max(json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines())
    result = train(tiny(kaggle_dir, out, f"steps={logged + 1}", "checkpoint_every=3"), resume=True, progress=False)
    resumed_step = int(result["resumed_from"].rsplit("-", 1)[1])
    assert logged - resumed_step <= 3 + 1  # at most one interval (plus the step in flight) is lost


@pytest.mark.slow
def test_two_process_gloo_run_keeps_ranks_identical(kaggle_dir, tmp_path):
    script = tmp_path / "run.py"
    script.write_text(
        "import json, os, sys\n"
        "from swishpaint.training.config import load_config\n"
        "from swishpaint.training.loop import train\n"
        f"cfg = load_config({str(ROOT / 'configs' / 'tiny.yaml')!r}, sys.argv[1:])\n"
        "r = train(cfg, progress=False)\n"
        "open(os.path.join(cfg.out_dir, 'rank%s.json' % os.environ['RANK']), 'w').write("
        "json.dumps({'digest': r['generator_digest'], 'step': r['step']}))\n")
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                           f"--master_port={free_port()}", str(script), f"data.root={kaggle_dir}", f"out_dir={out}",
                           "steps=6", "batch_size=1", "val_every=6", "checkpoint_every=3"],
                          env=_env(), check=True, capture_output=True, text=True, timeout=300)
    assert "FutureWarning" not in done.stderr  # torch's own deprecations are not passed on to each rank's log
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0] == ranks[1] and ranks[0]["step"] == 6
    assert [p.name for p in C.list_checkpoints(out)] == ["ckpt-00000003", "ckpt-00000006"]


def test_cli_train_reports_bad_data_in_one_line(kaggle_dir, tmp_path, capsys):
    from swishpaint.cli import main

    config = str(ROOT / "configs" / "tiny.yaml")
    assert main(["train", "--config", config, f"data.root={tmp_path / 'missing'}"]) == 2
    (tmp_path / "empty").mkdir()
    assert main(["train", "--config", config, f"data.root={tmp_path / 'empty'}", f"out_dir={tmp_path / 'o'}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"swishpaint: error: {tmp_path / 'missing'}: no such dataset folder",
                   f"swishpaint: error: {tmp_path / 'empty'}: no images found for the 'train' split (layout color)"]
    assert main(["train", "--config", config, "--dry-run", f"data.root={kaggle_dir}", "steps=7"]) == 0
    assert "steps: 7" in capsys.readouterr().out


def test_unreadable_training_files_are_warned_once_and_counted_with_loader_workers(color_dir, tmp_path, capsys,
                                                                                  caplog):
    """The loader's worker processes hold copies of the dataset: what they skip comes back with each batch,
    so the trainer warns once per file and its summary counts them, whatever the number of workers."""
    from swishpaint.cli import main

    config = str(ROOT / "configs" / "tiny.yaml")
    assert main(["train", "--config", config, f"data.root={color_dir}", f"out_dir={tmp_path / 'run'}", "steps=12",
                 "batch_size=2", "data.workers=2", "val_every=100", "checkpoint_every=100"]) == 0
    assert "skipped 4 unreadable training file(s)" in capsys.readouterr().out
    warned = [r.getMessage() for r in caplog.records if r.getMessage().startswith("skipping ")]
    names = ("corrupt.png", "truncated.png", "empty.png", "notes.webp")
    assert len(warned) == 4 and all(sum(f"skipping {color_dir / 'train' / n}: " in w for w in warned) == 1
                                    for n in names)


def test_a_run_folder_where_training_images_are_read_is_refused(color_dir, tmp_path, capsys):
    """Its sample sheets would be trained on by a --resume; a folder beside the splits is fine."""
    from swishpaint.cli import main

    config = str(ROOT / "configs" / "tiny.yaml")
    for flags in ([], ["--dry-run"]):
        assert main(["train", "--config", config, *flags, f"data.root={color_dir}",
                     f"out_dir={color_dir / 'train' / 'run'}", "steps=2"]) == 2
        assert capsys.readouterr().err == (f"swishpaint: error: out_dir {color_dir / 'train' / 'run'} is inside "
                                           f"{color_dir / 'train'}, where training images are read: its samples "
                                           "would be trained on; put it outside\n")
    assert not (color_dir / "train" / "run").exists()
    assert main(["train", "--config", config, "--dry-run", f"data.root={color_dir}",
                 f"out_dir={color_dir / 'runs' / 'a'}", "steps=2"]) == 0


def test_a_split_with_no_readable_image_names_why_in_one_line(color_dir, tmp_path, capsys):
    from swishpaint.cli import main

    config = str(ROOT / "configs" / "tiny.yaml")
    assert main(["train", "--config", config, f"data.root={color_dir}", f"out_dir={tmp_path / 'run'}",
                 "data.max_pixels=10", "steps=2"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "swishpaint: error: " in line]
    assert len(errors) == 1 and f"swishpaint: error: {color_dir}: no readable image in the 'train' split (e.g. " \
        in errors[0] and errors[0].endswith("(limit 10))")


def test_overrides_may_come_before_and_after_the_flags(kaggle_dir, capsys):
    from swishpaint.cli import main

    config = str(ROOT / "configs" / "tiny.yaml")
    assert main(["train", "--config", config, f"data.root={kaggle_dir}", "--dry-run", "steps=21"]) == 0
    assert "steps: 21" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # anything else stays an unknown argument
        main(["train", "--config", config, "--dry-run", "steps=21", "--bogus"])
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_override_errors_blame_the_command_line_and_give_an_example_that_works(kaggle_dir, tmp_path, capsys):
    from swishpaint.cli import main

    config = str(ROOT / "configs" / "tiny.yaml")
    with pytest.raises(ConfigError, match=r"^override: unknown key\(s\) bogus; known: model, "):
        load_config(config, ["bogus=1"])
    with pytest.raises(ConfigError, match=r"^override\.data: unknown key\(s\) bogus; known: root, "):
        load_config(config, ["data.bogus=1"])
    (tmp_path / "stray.yaml").write_text("steps: 3\nstray: 1\n")
    with pytest.raises(ConfigError, match=r"stray.yaml: unknown key\(s\) stray"):  # the file's own key: the file
        load_config(tmp_path / "stray.yaml", ["steps=4"])
    assert main(["train", "--config", config, "steps"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "swishpaint: error: override 'steps' must look like key=value (e.g. steps=100 or data.size=128)"
    for example in ("steps=100", "data.size=128"):  # the examples the message gives are accepted
        assert main(["train", "--config", config, "--dry-run", f"data.root={kaggle_dir}", example]) == 0


def test_resume_and_start_over_exclude_each_other(capsys):
    from swishpaint.cli import main

    with pytest.raises(SystemExit) as e:
        main(["train", "--config", str(ROOT / "configs" / "tiny.yaml"), "--resume", "--start-over", "--dry-run"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "swishpaint train: error: argument --start-over: not allowed with argument --resume"
    assert "Traceback" not in "".join(err)


def test_time_box_ends_a_sitting_with_a_checkpoint_and_resume_continues(kaggle_dir, tmp_path):
    out = tmp_path / "run"
    first = train(tiny(kaggle_dir, out, "steps=50", "max_minutes=0.00001", "checkpoint_every=1000"), progress=False)
    assert first["stopped"] and first["step"] < 50  # the sitting ended on the clock, not at the last step
    assert first["signal"] is None  # the end the command asked for: `swishpaint train` exits 0
    assert C.list_checkpoints(out) and C.step_of(C.list_checkpoints(out)[-1]) == first["step"]
    second = train(tiny(kaggle_dir, out, "steps=50"), resume=True, progress=False)
    assert second["step"] == 50 and not second["stopped"]


def test_configs_extend_a_base_and_enum_strings_are_checked_by_their_type(tmp_path):
    from swishpaint.configs import to_dict

    root = Path(__file__).resolve().parents[1] / "configs"
    paper, wpl = to_dict(load_config(root / "paper.yaml")), to_dict(load_config(root / "paper-wpl.yaml"))
    assert {k for k in paper if paper[k] != wpl[k]} == {"loss", "out_dir"}
    assert {k for k in paper["loss"] if paper["loss"][k] != wpl["loss"][k]} == {"perceptual"}
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ConfigError, match="makes a loop"):
        load_config(tmp_path / "a.yaml")
    with pytest.raises(ConfigError, match=r"optim.schedule must be one of constant, cosine, got 'linear'"):
        load_config(None, ["optim.schedule=linear"])


def test_packaged_configs_load_by_name_and_the_repository_folder_is_the_same_files(kaggle_dir, tmp_path, capsys):
    from swishpaint.cli import main
    from swishpaint.configs import PACKAGED_CONFIGS, packaged_configs

    assert (ROOT / "configs").resolve() == PACKAGED_CONFIGS  # one copy: configs/ links to the package's
    assert {"cpu-demo", "paper", "paper-wpl", "tiny", "compare-demo", "anime", "anime-cpu"} <= set(packaged_configs())
    from swishpaint.training.objective import GanObjective

    cpu = load_config("anime-cpu")  # the CPU sitting: anime.yaml's model with an objective that needs no D
    assert not GanObjective(cpu.loss).needs_critic and GanObjective(load_config("anime").loss).needs_critic
    assert cpu.model == load_config("anime").model and cpu.device == "cpu"
    assert load_config("tiny") == load_config("tiny.yaml") == load_config(ROOT / "configs" / "tiny.yaml")
    assert main(["train", "--config", "paper-wpl", "--dry-run", f"data.root={kaggle_dir}"]) == 0
    assert "perceptual: false" in capsys.readouterr().out
    assert main(["train", "--config", "nope", "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("swishpaint: error: nope: no such config file") and "cpu-demo" in err
    (tmp_path / "tiny.yaml").write_text("steps: 3\nmodel: {name: swish_unet_tiny}\ndata: {size: 32}\n"
                                        "discriminator: {widths: [4, 8]}\n")
    assert load_config(tmp_path / "tiny.yaml").steps == 3  # a path always wins over a packaged name


@pytest.mark.parametrize("text,args,expected", [
    ("steps: [1\n", [], "{c}: not valid YAML (line 2, column 1: expected ',' or ']', but got '<stream end>')"),
    ("a: b\n  c: d: e\n", [], "{c}: not valid YAML (line 2, column 4: mapping values are not allowed here)"),
    ("steps: 3\n", ["steps=[1"],
     "override 'steps=[1': not valid YAML (line 1, column 3: expected ',' or ']', but got '<stream end>')"),
])
def test_yaml_syntax_errors_are_one_line_with_line_and_column(tmp_path, capsys, text, args, expected):
    from swishpaint.cli import main

    config = tmp_path / "c.yaml"
    config.write_text(text)
    assert main(["train", "--config", str(config), "--dry-run", *args]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines() == ["swishpaint: error: " + expected.format(c=config)]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_training_on_a_missing_accelerator_is_one_line_before_anything_is_written(kaggle_dir, tmp_path, capsys):
    from swishpaint.cli import main

    out = tmp_path / "run"
    assert main(["train", "--config", str(ROOT / "configs" / "tiny.yaml"), f"data.root={kaggle_dir}",
                 f"out_dir={out}", "device=cuda"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["swishpaint: error: device=cuda: CUDA is not available on this machine"]
    assert not out.exists()


def test_bundling_a_run_stopped_between_validations_measures_its_validation(kaggle_dir, tmp_path):
    """scripts/bundle_demo.py: a time box ends a sitting between validations, and the bundled model card
    still records the chosen generator's validation, measured as training measures it."""
    from safetensors.torch import load_file

    from swishpaint.models import read_model_card

    from swishpaint.inference.colorizer import Colorizer

    run, out = tmp_path / "run", tmp_path / "bundled"
    result = train(tiny(kaggle_dir, run, "steps=3", "val_every=1000"), progress=False)
    assert not any("val" in h for h in result["history"])
    subprocess.run([sys.executable, "scripts/bundle_demo.py", "--run", str(run), "--checkpoint",
                    str(Path(result["checkpoint"]) / "generator"), "--data", str(kaggle_dir), "--out", str(out),
                    "--working-size", "64", "--rank-images", "2", "--min-chroma", "0",
                    "--fit-data", str(kaggle_dir), "--fit-images", "2", "--fit-epochs", "2"],
                   cwd=ROOT, check=True, capture_output=True)
    card = read_model_card(out)
    assert card.trained["step"] == 3
    assert {"psnr", "ssim", "psnr_best"} <= set(card.trained["val"]) and card.trained["val"]["psnr"] > 0
    assert (out / "model.onnx").is_file() and sorted(card.candidate_order) == list(range(len(card.candidate_order)))
    assert Colorizer.load(out).region_chooser is not None  # the bundle's own chooser, fitted with it
    stored = load_file(str(out / "model.safetensors"))  # ships as fp16
    assert {v.dtype for v in stored.values() if v.is_floating_point()} == {torch.float16}


@pytest.mark.parametrize("override, message", [
    ("optim.lr_g=-1", "optim.lr_g must be above 0"),
    ("optim.betas_g=[0.9]", "expected 2 values"),
    ("model.overrides.in_channels=7", "1 or 5 input channels"),
    ("data.size=36", "must be a multiple of"),
    ("discriminator.feature_blocks=0", "feature_blocks must be in"),
    ("data.workers=-1", "data.workers must be at least 0"),
    ("seed=-1", "seed must be at least 0"),
    ("val_images=0", "val_images must be at least 1"),
    ("data.hue_rotation=1.5", r"data.hue_rotation is a chance and must lie in \[0, 1\]"),
])
def test_settings_the_networks_or_torch_would_refuse_are_config_errors_before_anything_is_written(
        kaggle_dir, tmp_path, override, message):
    with pytest.raises(ConfigError, match=message):
        train(tiny(kaggle_dir, tmp_path / "run", override), progress=False)
    assert not (tmp_path / "run").exists()


def test_amp_off_is_off_though_yaml_reads_off_as_false(kaggle_dir, tmp_path):
    assert tiny(kaggle_dir, tmp_path, "amp=off", "loss.l2_mode=off").amp == "off"
    (tmp_path / "c.yaml").write_text("extends: " + str(ROOT / "configs" / "tiny.yaml") + "\namp: off\n")
    assert load_config(tmp_path / "c.yaml").amp == "off"


def test_a_fresh_run_that_fails_before_its_first_checkpoint_leaves_nothing_to_resume(kaggle_dir, tmp_path):
    """Its config.yaml would make the folder look like an earlier run, refused by the same command again."""
    with pytest.raises(DatasetError, match="no readable image"):
        train(tiny(kaggle_dir, tmp_path / "run", "data.max_pixels=1", "steps=2"), progress=False)
    assert not (tmp_path / "run").exists()
    assert train(tiny(kaggle_dir, tmp_path / "run", "steps=2"), progress=False)["step"] == 2
