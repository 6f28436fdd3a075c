"""Training checkpoints as folders of safetensors + JSON, written atomically and verified on load.

ckpt-000500/
  generator/config.yaml, generator/model.safetensors   (loadable for inference on its own)
  generator-ema/...                                    (the same for G's weight average, when on)
  discriminator.safetensors, optimizers.safetensors    (tensors: weights, Adam moments, RNG state)
  state.json                                           (step, epoch, scores, config, param groups,
                                                        scheduler, SHA-256 of every file)
The folder is written as a hidden temporary and renamed into place, so a killed run leaves either a
complete checkpoint or none. Nothing is ever unpickled.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import SwishpaintError
from ..files import JSON_READ_ERRORS, FileGroup, read_json, sha256_file
from ..models.registry import AVERAGE_FOLDER, BEST_FOLDER, CONFIG_FILE, GENERATOR_FOLDER, WEIGHTS_FILE, ModelCard, half_precision, mismatch, save_model

log = logging.getLogger(__name__)

PREFIX = "ckpt-"


class CheckpointError(SwishpaintError, RuntimeError):
    """A checkpoint is missing, incomplete or damaged; the message names it."""


class RunFolderInUse(SwishpaintError):
    """A new run was pointed at a folder that holds an earlier run (say --resume or --start-over)."""


class ModelMismatch(CheckpointError):
    """Weights do not fit the model the config builds (other shapes or names): a config change, not
    damage, so falling back to an older checkpoint of the same run would not help."""


DISCRIMINATOR_FILE = "discriminator.safetensors"  # in a checkpoint, or beside a model folder's weights
# What a run writes into its folder; an earlier run's copies are moved aside together on --start-over.
HAND_BACK = "hand-back"  # write_hand_back's folder in a run (scripts/train_gpu.sh)
LOG_FILE, SAMPLES_FOLDER, TENSORBOARD_FOLDER = "log.jsonl", "samples", "tensorboard"
RUN_OUTPUTS = (LOG_FILE, BEST_FOLDER, SAMPLES_FOLDER, TENSORBOARD_FOLDER, HAND_BACK)  # beside the run's config
RUN_FILES = (CONFIG_FILE, *RUN_OUTPUTS)
ARCHIVE_PREFIX = "previous-"


def _flatten_optimizer(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list]:
    sd = opt.state_dict()
    tensors = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            t = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"{prefix}.{idx}.{key}"] = t.detach().cpu().contiguous()
    return tensors, sd["param_groups"]


def _unflatten_optimizer(prefix: str, tensors: dict[str, torch.Tensor], groups: list) -> dict:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, t in tensors.items():
        if name.startswith(prefix + "."):
            _, idx, key = name.split(".", 2)
            state.setdefault(int(idx), {})[key] = t
    return {"state": state, "param_groups": groups}


def save_checkpoint(out_dir: str | Path, step: int, generator: nn.Module, discriminator: nn.Module,
                    optimizers: dict[str, torch.optim.Optimizer], schedulers: dict[str, Any],
                    state: dict[str, Any], keep_last: int = 3, average: nn.Module | None = None) -> Path:
    """Write ckpt-<step> atomically, then prune the same run's checkpoints to the newest `keep_last`.
    `average`: the generator's weight average, kept beside the raw generator when training keeps one.

    state["run_id"] names the run; checkpoints of other runs (or without an id) are never pruned.
    """
    out_dir = Path(out_dir)
    final = out_dir / f"{PREFIX}{step:08d}"
    tmp = out_dir / f".{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_model(generator, tmp / GENERATOR_FOLDER, ModelCard(step=step))
    if average is not None:
        save_model(average, tmp / AVERAGE_FOLDER, ModelCard(step=step))
    save_file({k: v.detach().cpu().contiguous() for k, v in discriminator.state_dict().items()},
              str(tmp / DISCRIMINATOR_FILE))
    tensors: dict[str, torch.Tensor] = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda{i}"] = s
    groups = {}
    for name, opt in optimizers.items():
        t, g = _flatten_optimizer(name, opt)
        tensors.update(t)
        groups[name] = g
    save_file(tensors, str(tmp / "optimizers.safetensors"))
    files = {str(p.relative_to(tmp)): sha256_file(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
    meta = {**state, "step": step, "param_groups": groups,
            "schedulers": {k: s.state_dict() for k, s in schedulers.items()}, "files": files}
    (tmp / "state.json").write_text(json.dumps(meta, indent=1, default=str))
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    prune_checkpoints(out_dir, state.get("run_id"), keep_last, keep=final)
    return final


def write_hand_back(checkpoint: str | Path, folder: str | Path) -> Path:
    """A checkpoint's generator (its weight average, when the run kept one) and discriminator as one
    compact model folder, all or nothing: fp16 model.safetensors + discriminator.safetensors +
    config.yaml. Small enough to come back from a lent GPU machine (a few MB, not the checkpoint's
    optimiser state), it loads for inference, and init_from starts both networks from it in the next
    sitting."""
    checkpoint, folder = Path(checkpoint), Path(folder)
    ckpt = read_checkpoint(checkpoint)

    with FileGroup() as group:
        group.write(folder / CONFIG_FILE, lambda tmp: shutil.copyfile(checkpoint / GENERATOR_FOLDER / CONFIG_FILE, tmp))
        group.write(folder / WEIGHTS_FILE, lambda tmp: save_file(half_precision(validated_generator(ckpt)), str(tmp)))
        group.write(folder / DISCRIMINATOR_FILE, lambda tmp: save_file(half_precision(ckpt["discriminator"]), str(tmp)))
    return folder


def validated_generator(ckpt: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The generator weights a checkpoint's run validated: its weight average when it kept one."""
    return ckpt.get("generator_ema", ckpt["generator"])


def step_of(path: Path) -> int:
    return int(path.name[len(PREFIX):])


def run_id_of(path: Path) -> str | None:
    """The run a checkpoint belongs to (None when unreadable or written before runs had ids)."""
    try:
        return read_json(path / "state.json").get("run_id")
    except (*JSON_READ_ERRORS, AttributeError):
        return None


def prune_checkpoints(out_dir: str | Path, run_id: str | None, keep_last: int, keep: Path) -> list[Path]:
    """Delete run `run_id`'s checkpoints beyond the newest `keep_last` by step, never `keep` (the one
    just written) nor another run's; returns what was deleted."""
    if keep_last <= 0 or run_id is None:
        return []
    own = sorted((p for p in list_checkpoints(out_dir) if p != keep and run_id_of(p) == run_id), key=step_of)
    doomed = own[:max(0, len(own) - (keep_last - 1))]
    for old in doomed:
        shutil.rmtree(old, ignore_errors=True)
    return doomed


def list_checkpoints(out_dir: str | Path) -> list[Path]:
    """Complete checkpoint folders, oldest first."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return []
    return sorted((p for p in out_dir.iterdir() if p.is_dir() and p.name.startswith(PREFIX)
                   and p.name[len(PREFIX):].isdigit()), key=step_of)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Verify a checkpoint's files against their hashes and read its tensors and state."""
    path = Path(path)
    try:
        meta = read_json(path / "state.json")
    except JSON_READ_ERRORS as e:
        raise CheckpointError(f"{path}: damaged checkpoint (state.json unreadable: {e})") from None
    problem = _state_problem(meta)
    if problem:
        raise CheckpointError(f"{path}: damaged checkpoint (state.json {problem})")
    for name, digest in meta["files"].items():
        f = path / name
        if not f.is_file():
            raise CheckpointError(f"{path}: damaged checkpoint ({name} is missing)")
        if sha256_file(f) != digest:
            raise CheckpointError(f"{path}: damaged checkpoint ({name} does not match its recorded hash)")
    average = path / AVERAGE_FOLDER / WEIGHTS_FILE
    try:
        return {"meta": meta, "path": path,
                "discriminator": load_file(str(path / DISCRIMINATOR_FILE)),
                "generator": load_file(str(path / GENERATOR_FOLDER / WEIGHTS_FILE)),
                "optimizers": load_file(str(path / "optimizers.safetensors")),
                **({"generator_ema": load_file(str(average))} if average.is_file() else {})}
    except (OSError, SafetensorError) as e:
        raise CheckpointError(f"{path}: damaged checkpoint ({e})") from None


def _state_problem(meta: Any) -> str | None:
    """What is wrong with a parsed state.json (the keys save_checkpoint always writes), or None."""
    if not isinstance(meta, dict):
        return f"is not a mapping but {type(meta).__name__}"
    if not isinstance(meta.get("step"), int) or isinstance(meta.get("step"), bool) or meta["step"] < 0:
        return f"has no step count (step: {meta.get('step')!r})"
    for key in ("files", "param_groups", "schedulers"):
        if not isinstance(meta.get(key), dict):
            return f"has no {key} mapping"
    if not all(isinstance(name, str) and isinstance(digest, str) for name, digest in meta["files"].items()):
        return "lists its files wrongly"
    return None


def load_weights(model: nn.Module, tensors: dict[str, torch.Tensor], where: Path,
                 problem: str = "the checkpoint was made with a different model",
                 advice: str = "resume with the run's own config, or start a new run") -> None:
    """model.load_state_dict, checked first, so a config that builds another model is one ModelMismatch
    naming the checkpoint (or starting weights) instead of torch's many-line RuntimeError."""
    reason = mismatch(model, tensors)
    if reason is not None:
        raise ModelMismatch(f"{where}: {problem} ({reason}); {advice}")
    model.load_state_dict(tensors)


def restore(ckpt: dict[str, Any], generator: nn.Module, discriminator: nn.Module,
            optimizers: dict[str, torch.optim.Optimizer], schedulers: dict[str, Any],
            average: nn.Module | None = None) -> dict[str, Any]:
    """Load what read_checkpoint returned into live objects; returns the checkpoint's state dict.
    `average`, the generator's weight average, continues from the checkpoint's (or starts at its
    generator when the run kept none). ModelMismatch when the live objects were built from another
    config than the checkpoint's."""
    meta, where = ckpt["meta"], Path(ckpt.get("path", "checkpoint"))
    load_weights(generator, ckpt["generator"], where)
    load_weights(discriminator, ckpt["discriminator"], where)
    if average is not None:
        load_weights(average, validated_generator(ckpt), where)
    tensors = ckpt["optimizers"]
    try:
        for name, opt in optimizers.items():
            opt.load_state_dict(_unflatten_optimizer(name, tensors, meta["param_groups"][name]))
        for name, sched in schedulers.items():
            sched.load_state_dict(meta["schedulers"][name])
    except (ValueError, KeyError, TypeError) as e:  # e.g. other parameter groups (loss.l2_mode)
        raise ModelMismatch(f"{where}: the checkpoint was made with other optimiser settings "
                            f"({str(e).splitlines()[0]}); resume with the run's own config, or start a new run"
                            ) from None
    torch.set_rng_state(tensors["rng.torch"])
    if torch.cuda.is_available():
        states = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda")]
        if len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states)
    return meta


def newest_good_checkpoint(out_dir: str | Path) -> tuple[Path, dict[str, Any]]:
    """The newest checkpoint that verifies; damaged ones are reported and skipped. CheckpointError
    when none is usable: resuming must never quietly start again at step 0."""
    found = list_checkpoints(out_dir)
    for path in reversed(found):
        try:
            return path, read_checkpoint(path)
        except CheckpointError as e:
            log.warning("%s; falling back to the previous checkpoint", e)
    detail = f"all {len(found)} checkpoint(s) are damaged" if found else "it holds no checkpoint"
    # A folder with a run in it refuses a plain new run, so point at the flag that works there.
    instead = (f"--start-over moves it to {out_dir}/{ARCHIVE_PREFIX}N and starts again" if earlier_run(out_dir)
               else "run without --resume to start a new run")
    raise CheckpointError(f"{out_dir}: nothing to resume from ({detail}); {instead}")


def _is_run_config(path: Path) -> bool:
    """Whether `path` loads as a training config, as the config.yaml a run writes does (a person's own
    file of the same name does not, and must not be taken for a run and moved or replaced)."""
    from .config import load_config  # here: the config module is heavier than checkpoints need

    try:
        load_config(path)
    except (SwishpaintError, OSError, ValueError, TypeError):
        return False
    return True


def earlier_run(out_dir: str | Path) -> list[Path]:
    """What an earlier run left in out_dir (checkpoints, log, best model, ...); empty for a fresh folder.

    config.yaml alone counts when it is a training config (a run stopped before its first log line)."""
    out_dir = Path(out_dir)
    found = list_checkpoints(out_dir) + [out_dir / n for n in RUN_OUTPUTS if (out_dir / n).exists()]
    config = out_dir / CONFIG_FILE
    if config.is_file() and (found or _is_run_config(config)):
        found.insert(0, config)
    return found


def _is_run_entry(name: str) -> bool:
    """A name a run (or --start-over) writes; hidden names are temporaries or tools' own (.git, .DS_Store)."""
    numbered = lambda prefix: name.startswith(prefix) and name[len(prefix):].isdigit()
    return name in RUN_OUTPUTS or numbered(PREFIX) or numbered(ARCHIVE_PREFIX) or name.startswith(".")


def foreign_entries(out_dir: str | Path) -> list[Path]:
    """What in out_dir no swishpaint run wrote: a run must not write among (or over) a person's files."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return []
    earlier = earlier_run(out_dir)
    return sorted(p for p in out_dir.iterdir()
                  if not _is_run_entry(p.name) and not (p.name == CONFIG_FILE and p in earlier))


def archive_run(out_dir: str | Path) -> Path:
    """Move an earlier run's files into out_dir/previous-N (N = 1, 2, ...), so starting over loses nothing."""
    out_dir = Path(out_dir)
    n = 1
    while (out_dir / f"{ARCHIVE_PREFIX}{n}").exists():
        n += 1
    archive = out_dir / f"{ARCHIVE_PREFIX}{n}"
    archive.mkdir()
    for path in list_checkpoints(out_dir) + [out_dir / name for name in RUN_FILES]:
        if path.exists():
            path.rename(archive / path.name)
    return archive
