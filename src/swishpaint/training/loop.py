"""The training loop of the paper's Figure 3: alternating discriminator and generator steps.

Per step: G makes K candidates once; D learns real -> 1, all candidates -> 0 (one D pass over
real + fakes, so DDP never sees two forwards before a backward); then G learns from the min over
candidates of the perceptual loss, with φ taken from D frozen and in eval mode (the features do not
move while G is scored) plus a small non-saturating adversarial term. An objective of pixel terms
alone (no perceptual, no adversarial term) leaves D out of the step. The loss terms themselves are
training/objective.py's; this module holds the plumbing: AMP, optimisers, freezing, data, checkpoints.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import math
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler

from .. import losses as L
from ..configs import ConfigError, dump_yaml, to_dict
from ..data.datasets import DatasetError, SketchColorDataset, check_run_outside_samples
from ..errors import SwishpaintError
from ..files import STOP_SIGNALS, atomic_write_text, output_folder, signals_handled
from ..models.discriminator import ResNetDiscriminator
from ..models.registry import (BEST_FOLDER, CONFIG_FILE, WEIGHTS_FILE, ModelCard, create_model, generator_input,
                               save_model, takes_hints)
from . import checkpoints as C
from .average import GeneratorAverage
from .config import TrainConfig, changed_settings
from .distributed import DistInfo, any_rank, barrier, cleanup, init_distributed, reduce_mean
from .objective import Critic, GanObjective
from .validation import save_samples, validate

log = logging.getLogger(__name__)


class TrainingDiverged(SwishpaintError, RuntimeError):
    """A loss became NaN or infinite; the run stopped without saving over good checkpoints."""


@dataclass
class TrainState:
    config: TrainConfig
    info: DistInfo
    generator: nn.Module  # possibly DDP-wrapped
    discriminator: nn.Module  # possibly DDP-wrapped
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    sched_g: Any
    sched_d: Any
    scaler: Any
    amp_dtype: torch.dtype | None
    objective: GanObjective
    step: int = 0
    best_score: float = -math.inf
    history: list = field(default_factory=list)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)  # marks this run's checkpoints
    average: GeneratorAverage | None = None  # G's weight average (config.ema_decay > 0)

    @property
    def g(self) -> nn.Module:
        return unwrap(self.generator)

    @property
    def g_average(self) -> nn.Module | None:
        return self.average.model if self.average is not None else None

    @property
    def g_eval(self) -> nn.Module:
        """The generator that validation, best/ and the samples show: the weight average when kept."""
        return self.g_average if self.average is not None else self.g

    @property
    def d(self) -> nn.Module:
        return unwrap(self.discriminator)

    @property
    def in_channels(self) -> int:
        return self.g.config.in_channels


def weights_digest(model: nn.Module) -> str:
    """SHA-256 of a model's state: equal digests mean bitwise-equal weights (e.g. across ranks)."""
    import hashlib

    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def unwrap(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, DDP) else module


def _amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    if amp == "off" or (amp == "auto" and device.type != "cuda"):
        return None
    if amp == "fp16":
        return torch.float16
    return torch.bfloat16


def _schedule(config: TrainConfig):
    o = config.optim

    def factor(step: int) -> float:
        if step < o.warmup_steps:
            return (step + 1) / o.warmup_steps
        if o.schedule == "cosine":
            t = (step - o.warmup_steps) / max(1, config.steps - o.warmup_steps)
            return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))
        return 1.0

    return factor


def build_state(config: TrainConfig, info: DistInfo | None = None) -> TrainState:
    """Models, optimisers (AdamW with the paper's α as weight decay on G's kernels), schedulers.

    Without `info`, a single process on the CPU (the benchmark's case).
    """
    info = info or DistInfo()
    torch.manual_seed(config.seed)
    layout = torch.channels_last if config.channels_last else torch.contiguous_format
    try:  # what the networks themselves refuse is a config error, found before the run writes anything
        g = create_model(config.model.name, **config.model.overrides).to(info.device, memory_format=layout)
        d = ResNetDiscriminator(config.discriminator).to(info.device, memory_format=layout)
    except ValueError as e:
        raise ConfigError(f"model/discriminator: {e}") from None
    if config.data.size % g.config.size_multiple:
        raise ConfigError(f"data.size {config.data.size} must be a multiple of {g.config.size_multiple} "
                          f"(the generator's total down-sampling)")
    average = GeneratorAverage(g, config.ema_decay) if config.ema_decay > 0 else None
    decay = L.decayed_parameters(g) if config.loss.l2_mode == "decoupled" else []
    decay_ids = {id(p) for p in decay}
    groups = [{"params": decay, "weight_decay": config.loss.l2_alpha},
              {"params": [p for p in g.parameters() if id(p) not in decay_ids], "weight_decay": 0.0}]
    opt_g = torch.optim.AdamW(groups, lr=config.optim.lr_g, betas=config.optim.betas_g)
    opt_d = torch.optim.Adam(d.parameters(), lr=config.optim.lr_d, betas=config.optim.betas_d)
    factor = _schedule(config)
    sched_g = torch.optim.lr_scheduler.LambdaLR(opt_g, factor)
    sched_d = torch.optim.lr_scheduler.LambdaLR(opt_d, factor)
    amp_dtype = _amp_dtype(config.amp, info.device)
    scaler = torch.amp.GradScaler(info.device.type, enabled=amp_dtype == torch.float16)
    if info.enabled:
        ids = [info.device.index] if info.device.type == "cuda" else None
        g = DDP(g, device_ids=ids)
        # One D pass per backward, no BatchNorm (spectral norm): buffers need no sync at each forward
        # (torch 2.13 names that forward_sync_buffers and warns, once per rank, at broadcast_buffers)
        no_sync = "forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(DDP).parameters \
            else "broadcast_buffers"
        d = DDP(d, device_ids=ids, **{no_sync: False})
    return TrainState(config, info, g, d, opt_g, opt_d, sched_g, sched_d, scaler, amp_dtype,
                      GanObjective(config.loss), average=average)


def _check_finite(values: dict[str, float], step: int) -> None:
    for name, value in values.items():
        if not math.isfinite(value):
            raise TrainingDiverged(f"step {step}: {name} is {value}; training stopped "
                                   f"(the last good checkpoint is untouched)")


def _optimise(state: TrainState, loss: torch.Tensor, opt: torch.optim.Optimizer, params) -> None:
    opt.zero_grad(set_to_none=True)
    state.scaler.scale(loss).backward()
    if state.config.optim.grad_clip > 0:
        state.scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(params, state.config.optim.grad_clip)
    state.scaler.step(opt)
    state.scaler.update()


def _autocast(state: TrainState) -> torch.autocast:
    dev = state.info.device
    return torch.autocast(dev.type, dtype=state.amp_dtype or torch.float32, enabled=state.amp_dtype is not None)


def _under_autocast(state: TrainState, module: nn.Module) -> Critic:
    """The module as a callable whose forward runs in the run's mixed precision (the loss terms do not)."""
    def forward(x: torch.Tensor):
        with _autocast(state):
            return module(x)
    return forward


def d_warmup_steps(state: TrainState) -> int:
    """The first steps in which D alone learns, so that its features mean something before G is
    scored by them: config.d_warmup_steps, or none when the objective needs no D."""
    return state.config.d_warmup_steps if state.objective.needs_critic else 0


def gan_step(state: TrainState, batch: dict[str, torch.Tensor]) -> dict[str, float]:
    """One alternating D + G step on a batch (G's alone when the objective uses no D); returns the
    losses as floats.

    The loss terms are state.objective's; this step only runs G, and for each player computes its loss,
    checks it is finite, and steps its optimiser. During G's turn D is frozen and in eval mode.
    """
    dev = state.info.device
    sketch, real = batch["sketch"].to(dev), batch["color"].to(dev)
    hints = batch["hints"].to(dev) if "hints" in batch else None
    warmup = state.step < d_warmup_steps(state)
    with _autocast(state), torch.set_grad_enabled(not warmup):
        fake = state.generator(generator_input(sketch, hints, state.in_channels))  # (B, K, 3, H, W)

    out: dict[str, float] = {}
    if state.objective.needs_critic:  # else D is neither trained nor run (its weights stay as they are)
        state.d.train()
        loss_d, out = state.objective.discriminator_loss(_under_autocast(state, state.discriminator), real, fake)
        _check_finite(out, state.step)
        _optimise(state, loss_d, state.opt_d, state.d.parameters())
    if warmup:
        return out

    # Unwrapped D: it gets no gradient here, so DDP must not wait for one.
    d = state.d.eval().requires_grad_(False)
    try:
        loss_g, terms = state.objective.generator_loss(_under_autocast(state, d), state.g, sketch, real, fake, hints)
        out.update(terms)
        _check_finite(out, state.step)
        _optimise(state, loss_g, state.opt_g, state.g.parameters())
    finally:
        d.requires_grad_(True).train()
    return out


def check_enough_data(dataset: SketchColorDataset, cfg: TrainConfig, info: DistInfo) -> int:
    """Batches per epoch on each process; DatasetError when there is not even one, checked before the
    run writes anything (the batches themselves start only in the loop)."""
    per_epoch = len(dataset) // info.world_size // cfg.batch_size
    if per_epoch == 0:
        raise DatasetError(f"{cfg.data.root}: {len(dataset)} training images are fewer than one batch "
                           f"({cfg.batch_size} x {info.world_size} processes)")
    return per_epoch


def check_data(config: TrainConfig) -> None:
    """What --dry-run can check in a moment: the data root exists and holds at least one batch of
    training images (and validation images when the run validates). DatasetError names what is wrong."""
    check_run_outside_samples(config.data.root, config.out_dir)
    train_set = SketchColorDataset(config.data, "train", seed=config.seed)
    check_enough_data(train_set, config, DistInfo())
    if config.val_every <= config.steps:
        SketchColorDataset(config.data, "val", train=False, seed=config.seed)


def _batches(dataset: SketchColorDataset, state: TrainState) -> Iterator[dict]:
    """Endless batches, resumable at any step: epoch and offset follow from the step count."""
    cfg, info = state.config, state.info
    sampler = DistributedSampler(dataset, num_replicas=info.world_size, rank=info.rank, shuffle=True,
                                 seed=cfg.seed, drop_last=True)
    per_epoch = check_enough_data(dataset, cfg, info)
    while True:
        epoch, offset = divmod(state.step, per_epoch)
        sampler.set_epoch(epoch)
        dataset.set_epoch(epoch)
        indices = list(sampler)[offset * cfg.batch_size: per_epoch * cfg.batch_size]
        loader = DataLoader(dataset, batch_size=cfg.batch_size, sampler=indices, drop_last=True,
                            num_workers=cfg.data.workers, pin_memory=info.device.type == "cuda")
        for batch in loader:
            dataset.note_skipped(batch.pop("skipped"))  # workers' datasets are copies: reported here, once
            yield batch


class _StopFlag:
    """SIGINT/SIGTERM/SIGHUP set a flag; the loop saves a checkpoint and exits at the end of the step."""

    def __init__(self):
        self.requested = False
        self.signal: int | None = None  # the signal that asked for the stop (None: none did)
        self._handled = signals_handled(STOP_SIGNALS, self._handle)  # not in the main thread: no handlers

    def __enter__(self):
        self._handled.__enter__()
        return self

    def _handle(self, signum, frame):
        if self.requested:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self.requested, self.signal = True, signum
        log.warning("stop requested; saving a checkpoint after this step (Ctrl-C again to abort)")

    def __exit__(self, *exc):
        return self._handled.__exit__(*exc)


def _drop_log_records_after(log_file: Path, step: int) -> None:
    """On resume, forget what the interrupted run logged past the checkpoint: those steps run again."""
    if not log_file.is_file():
        return
    kept = []
    for line in log_file.read_text().splitlines():
        try:
            record_step = json.loads(line).get("step", 0)
        except (ValueError, AttributeError):
            record_step = 0
        if record_step <= step:
            kept.append(line + "\n")
    atomic_write_text(log_file, "".join(kept))


def _log_writer(out_dir: Path, enabled: bool, resumed_step: int | None = None):
    tb = None
    if enabled and resumed_step is not None:
        _drop_log_records_after(out_dir / C.LOG_FILE, resumed_step)
    if enabled:
        try:
            from torch.utils.tensorboard import SummaryWriter
            purge = {} if resumed_step is None else {"purge_step": resumed_step + 1}
            tb = SummaryWriter(str(out_dir / C.TENSORBOARD_FOLDER), **purge)
        except ImportError:
            log.info("TensorBoard not installed (pip install 'swishpaint[train]'); logging to log.jsonl only")

    def write(record: dict) -> None:
        if not enabled:
            return
        with open(out_dir / C.LOG_FILE, "a") as f:
            f.write(json.dumps(record) + "\n")
        if tb is not None:
            for k, v in record.items():
                if isinstance(v, (int, float)) and k != "step":
                    tb.add_scalar(k, v, record["step"])
    return write


def _save(state: TrainState, out_dir: Path, extra: dict | None = None) -> Path | None:
    path = None
    if state.info.is_main:
        meta = {"best_score": state.best_score, "config": to_dict(state.config), "run_id": state.run_id,
                **(extra or {})}
        path = C.save_checkpoint(out_dir, state.step, state.g, state.d,
                                 {"g": state.opt_g, "d": state.opt_d},
                                 {"g": state.sched_g, "d": state.sched_d}, meta, state.config.keep_last,
                                 average=state.g_average)
    barrier(state.info)  # nobody reads a checkpoint before rank 0 has finished writing it
    return path


def best_on_disk(folder: Path) -> float:
    """The validation PSNR that `folder` (the run's best/) was saved with, or -inf when it is missing
    or damaged. A resume that fell back past a damaged checkpoint knows only that checkpoint's older
    best score, and best/ may hold a better model saved since: it is replaced only by a better one."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from ..models.registry import read_model_card

    if not (folder / WEIGHTS_FILE).is_file():
        return -math.inf
    try:
        score = (read_model_card(folder).val or {}).get("psnr_best")
        load_file(str(folder / WEIGHTS_FILE))  # the weights are intact, not only their record
    except (SwishpaintError, OSError, SafetensorError):
        return -math.inf
    return float(score) if isinstance(score, (int, float)) and math.isfinite(score) else -math.inf


def resume_state(state: TrainState, out_dir: Path) -> Path:
    """Load the newest checkpoint that verifies (damaged ones are skipped with an error); the run
    continues under the checkpoint's run id, and best/ is kept unless beaten (best_on_disk).
    CheckpointError when none is usable, ModelMismatch when the config builds another model."""
    path, ckpt = C.newest_good_checkpoint(out_dir)
    meta = C.restore(ckpt, state.g, state.d, {"g": state.opt_g, "d": state.opt_d},
                     {"g": state.sched_g, "d": state.sched_d}, state.g_average)
    state.step = int(meta["step"])
    kept = "generator_ema" in ckpt
    if state.average is not None and not kept:
        log.warning("%s kept no weight average; ema_decay=%g starts one at its generator", path.name,
                    state.config.ema_decay)
    elif state.average is None and kept:
        log.warning("%s kept a weight average; with ema_decay=0 it is dropped and validation scores the raw "
                    "generator", path.name)
    known, saved_best = float(meta.get("best_score", -math.inf)), best_on_disk(out_dir / BEST_FOLDER)
    if saved_best > known:
        log.info("best/ holds a better model (val PSNR %.2f dB) than %s knew; it is kept unless beaten",
                 saved_best, path.name)
    state.best_score = max(known, saved_best)
    state.run_id = meta.get("run_id") or state.run_id
    return path


def claim_out_dir(out_dir: Path, resume: bool, start_over: bool, info: DistInfo) -> Path | None:
    """A new run never mixes with an earlier one in the same folder, nor writes among a person's own
    files: without --resume it refuses a folder holding a run, unless start_over moves that run to
    out_dir/previous-N (returned), and it always refuses a folder holding anything else."""
    if resume:
        return None  # resume_state finds the run, or says there is none
    earlier = C.earlier_run(out_dir)
    if not earlier and C.foreign_entries(out_dir):
        raise C.RunFolderInUse(f"{out_dir}: not empty and not a swishpaint run; choose another out_dir")
    if earlier and not start_over:
        names = ", ".join(p.name for p in earlier[-3:])
        raise C.RunFolderInUse(f"{out_dir}: holds an earlier run ({names}); continue it with --resume, "
                               f"or --start-over to move it to {out_dir}/{C.ARCHIVE_PREFIX}N and start again")
    # every process looks before the main one changes the folder: else a slower one would take the
    # config.yaml this run writes next for an earlier run's
    barrier(info)
    archived = C.archive_run(out_dir) if earlier and info.is_main else None
    barrier(info)
    return archived


def init_weights(state: TrainState, path: str | Path) -> None:
    """Load starting weights for fine-tuning (see TrainConfig.init_from); shapes must match the config,
    else one CheckpointError naming the first difference."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    try:
        if (path / "state.json").is_file():
            ckpt = C.read_checkpoint(path)
            # the generator the run validated (its weight average, when kept), as a hand-back would carry
            pairs = [(state.g, C.validated_generator(ckpt)), (state.d, ckpt["discriminator"])]
        else:  # a model folder; a discriminator.safetensors beside its weights starts D too
            pairs = [(state.g, load_file(str(path / WEIGHTS_FILE)))]
            if (path / C.DISCRIMINATOR_FILE).is_file():
                pairs.append((state.d, load_file(str(path / C.DISCRIMINATOR_FILE))))
    except C.CheckpointError:
        raise
    except (OSError, SafetensorError) as e:
        raise C.CheckpointError(f"{path}: cannot start from these weights ({str(e).splitlines()[0]})") from None
    for model, tensors in pairs:
        C.load_weights(model, tensors, path, "cannot start from these weights: they were made for a different model",
                       "set model.* as they were made, or leave out init_from")
    if state.average is not None:
        state.average.reset(state.g)


def _output_folder(out_dir: Path, info: DistInfo):
    """files.output_folder on the process that writes: out_dir is checked (a file, read-only) before any
    work, and a folder made here is removed again if the run fails before writing into it."""
    return output_folder(out_dir) if info.is_main else contextlib.nullcontext(out_dir)


def train(config: TrainConfig, resume: bool = False, progress: bool = True, start_over: bool = False) -> dict[str, Any]:
    """Train until config.steps (or a stop request); returns a summary dict.

    resume: continue from out_dir's newest good checkpoint (an error if there is none). Without it,
    out_dir must hold no earlier run, unless start_over moves that run aside first. Everything that
    can be refused (out_dir, data, weights) is checked before the run writes its first file.
    """
    info = init_distributed(config.device)
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    out_dir = Path(config.out_dir)
    try:
        check_run_outside_samples(config.data.root, out_dir)  # before out_dir is made
        with _output_folder(out_dir, info):
            state = build_state(config, info)
            with_hints = takes_hints(state.in_channels)
            train_set = SketchColorDataset(config.data, "train", with_hints=with_hints, seed=config.seed)
            check_enough_data(train_set, config, info)
            val_set = SketchColorDataset(config.data, "val", train=False, seed=config.seed) \
                if config.val_every <= config.steps else None
            if config.init_from and not resume:  # checked before claim_out_dir may move an earlier run
                init_weights(state, config.init_from)
                if config.optim.warmup_steps == 0 and info.is_main:
                    log.warning("init_from with optim.warmup_steps=0: a fresh optimiser's first steps move every "
                                "weight by the full learning rate and can undo the starting weights; set "
                                "optim.warmup_steps (e.g. 50)")
            archived = claim_out_dir(out_dir, resume, start_over, info)
            resumed = resume_state(state, out_dir) if resume else None
            if resumed is not None and info.is_main:
                log.info("resumed from step %d (%s)", state.step, resumed)
            if info.is_main:
                changed = changed_settings(out_dir / CONFIG_FILE, config) if resumed else []
                if changed:  # said, as the run's config.yaml is about to record them
                    log.warning("resumed with settings the run did not train with: %s. The optimisers and "
                                "their schedules go on from %s's state (its learning rates, not optim's)",
                                "; ".join(changed), resumed.name)
                atomic_write_text(out_dir / CONFIG_FILE, dump_yaml(config))
            write_log = _log_writer(out_dir, info.is_main, state.step if resumed else None)
            resumed_step = state.step if resumed else None
            try:
                result = _run(state, train_set, val_set, out_dir, write_log, progress and info.is_main)
            except BaseException:  # an error, or Ctrl-C twice
                if not resumed and info.is_main and not C.list_checkpoints(out_dir):
                    _forget_unstarted_run(out_dir)  # so that the same command can simply be run again
                raise
        result["resumed_from"] = str(resumed) if resumed else None
        result["resumed_step"] = resumed_step
        result["archived"] = str(archived) if archived else None
        if result["checkpoint"] is None and resumed:  # already finished: the resumed checkpoint is the last
            result["checkpoint"] = str(resumed)
        result["bad_files"] = dict(train_set.bad_files)
        result["main"] = info.is_main  # under torchrun, the process that speaks for the run
        return result
    finally:
        cleanup(info)


def _forget_unstarted_run(out_dir: Path) -> None:
    """Remove what a fresh run wrote before it failed without a checkpoint (its config.yaml and log):
    left there, they would make out_dir look like an earlier run to continue."""
    for name in (CONFIG_FILE, C.LOG_FILE):
        (out_dir / name).unlink(missing_ok=True)
    for name in (C.SAMPLES_FOLDER, BEST_FOLDER):
        shutil.rmtree(out_dir / name, ignore_errors=True)


def _run(state: TrainState, train_set, val_set, out_dir: Path, write_log, progress: bool) -> dict[str, Any]:
    from tqdm import tqdm

    cfg, info = state.config, state.info
    bar = tqdm(total=cfg.steps, initial=state.step, disable=not progress, dynamic_ncols=True)
    batches = _batches(train_set, state)
    last_ckpt, stopped = None, False
    t0, seen = time.time(), 0
    deadline = time.time() + 60 * cfg.max_minutes if cfg.max_minutes > 0 else None
    with _StopFlag() as stop:
        while state.step < cfg.steps:
            losses = reduce_mean(gan_step(state, next(batches)), info)
            if state.average is not None and state.step >= d_warmup_steps(state):  # G moved in this step
                state.average.update(state.g, state.step - d_warmup_steps(state))
            state.sched_g.step()
            if state.objective.needs_critic:  # else D's optimiser never steps, nor its schedule
                state.sched_d.step()
            state.step += 1
            seen += cfg.batch_size * info.world_size
            if state.step % cfg.log_every == 0 or state.step == cfg.steps:
                rate = seen / max(1e-9, time.time() - t0)
                record = {"step": state.step, **losses, "img_per_s": rate, "lr_g": state.sched_g.get_last_lr()[0]}
                write_log(record)
                state.history.append(record)
                bar.set_postfix({k: f"{v:.3g}" for k, v in record.items() if k != "step"})
                t0, seen = time.time(), 0
            bar.update(1)
            is_last = state.step == cfg.steps
            if val_set is not None and info.is_main and (state.step % cfg.val_every == 0 or is_last):
                scores = validate(state.g_eval, val_set, info.device, cfg.val_images, seed=cfg.seed)
                record = {"step": state.step, **{f"val_{k}": v for k, v in scores.items()}}
                if state.average is not None:  # the raw weights beside their average: what averaging gains
                    raw = validate(state.g, val_set, info.device, cfg.val_images, seed=cfg.seed)
                    record.update({f"val_raw_{k}": v for k, v in raw.items()})
                write_log(record)
                state.history.append({"step": state.step, "val": scores})
                if scores["psnr_best"] > state.best_score:
                    state.best_score = scores["psnr_best"]
                    save_model(state.g_eval, out_dir / BEST_FOLDER, ModelCard(step=state.step, val=scores))
            if val_set is not None and info.is_main and (state.step % cfg.sample_every == 0 or is_last):
                save_samples(state.g_eval, val_set, info.device, out_dir / C.SAMPLES_FOLDER / f"step-{state.step:08d}.png")
            stopped = any_rank(stop.requested or (deadline is not None and time.time() > deadline), info)
            if state.step % cfg.checkpoint_every == 0 or is_last or stopped:
                last_ckpt = _save(state, out_dir)
            if stopped:
                break
    bar.close()
    return {"step": state.step, "generator_digest": weights_digest(state.g), "stopped": stopped,
            "signal": stop.signal if stopped else None, "checkpoint": str(last_ckpt) if last_ckpt else None,
            "best_score": state.best_score, "history": state.history, "out_dir": str(out_dir)}
