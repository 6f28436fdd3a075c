"""Training configuration: dataclasses loaded from YAML, overridable with key=value."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..configs import ConfigError, apply_overrides, check_keys, find_config, from_dict, load_yaml, to_dict
from ..data.datasets import DataConfig
from ..data.hints import check_protocols
from ..losses import LossConfig
from ..models.discriminator import DiscriminatorConfig
from ..regions import user_hints  # noqa: F401  (registers the user-like protocol)


@dataclass
class ModelSection:
    name: str = "swish_unet_small"  # a registered model (swishpaint.models.MODELS)
    overrides: dict[str, Any] = field(default_factory=dict)  # e.g. {in_channels: 5}


@dataclass
class OptimConfig:
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    betas_g: tuple[float, float] = (0.9, 0.999)
    betas_d: tuple[float, float] = (0.5, 0.999)
    schedule: Literal["constant", "cosine"] = "constant"  # (after warmup, down to 10% at the last step)
    warmup_steps: int = 0
    grad_clip: float = 0.0  # 0 = off


@dataclass
class TrainConfig:
    model: ModelSection = field(default_factory=ModelSection)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    batch_size: int = 1
    steps: int = 1000
    d_warmup_steps: int = 0  # discriminator-only steps first, so its features mean something
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: Literal["auto", "bf16", "fp16", "off"] = "auto"  # auto: bf16 on CUDA, off on CPU
    out_dir: str = "runs/default"
    checkpoint_every: int = 500
    keep_last: int = 3
    val_every: int = 500
    val_images: int = 32
    sample_every: int = 500
    log_every: int = 10
    threads: int = 0  # CPU threads for torch (0 = torch's default)
    # Both networks' weights (and so their activations) in channels-last layout, which convolutions run
    # faster in: a GAN step 1.41x on this machine's CPU (swishpaint bench train); what the tensor cores
    # of a GPU take at bf16. false keeps PyTorch's default layout; the numbers agree to float rounding.
    channels_last: bool = True
    # Time box for one sitting: after this many minutes the run saves a checkpoint and stops, as on
    # Ctrl-C; --resume continues it (0 = no limit). Long runs go in several sittings this way.
    max_minutes: float = 0.0
    # Fine-tuning: start the weights from a checkpoint folder (generator, its weight average when the run
    # kept one, + discriminator) or a model
    # folder (generator, and the discriminator when a discriminator.safetensors lies beside it, as a
    # GPU sitting's compact hand-back does); step, optimisers and schedules start fresh. --resume
    # takes precedence.
    init_from: str = ""
    # An exponential moving average of G's weights (e.g. 0.999; 0 = off): validation, best/, samples and
    # the hand-back use it, training goes on with the raw weights (training/average.py).
    ema_decay: float = 0.0

    def validate(self) -> None:
        for name in ("batch_size", "steps", "checkpoint_every", "val_every", "sample_every", "log_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name, value, least in (("val_images", self.val_images, 1), ("keep_last", self.keep_last, 1),
                                   ("seed", self.seed, 0), ("threads", self.threads, 0),
                                   ("d_warmup_steps", self.d_warmup_steps, 0), ("max_minutes", self.max_minutes, 0),
                                   ("data.workers", self.data.workers, 0),
                                   ("optim.warmup_steps", self.optim.warmup_steps, 0),
                                   ("optim.grad_clip", self.optim.grad_clip, 0)):
            if value < least:
                raise ConfigError(f"{name} must be at least {least}, got {value}")
        for name in ("lr_g", "lr_d"):
            if not getattr(self.optim, name) > 0:
                raise ConfigError(f"optim.{name} must be above 0, got {getattr(self.optim, name)}")
        for name in ("betas_g", "betas_d"):
            if not all(0 <= b < 1 for b in getattr(self.optim, name)):
                raise ConfigError(f"optim.{name} must lie in [0, 1), got {list(getattr(self.optim, name))}")
        check_protocols(self.data.hints.protocols, "data.hints.protocols")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be at least 0 and below 1, got {self.ema_decay}")
        if not 0.0 <= self.data.hue_rotation <= 1.0:
            raise ConfigError(f"data.hue_rotation is a chance and must lie in [0, 1], got {self.data.hue_rotation}")
        if self.data.size < 2 ** len(self.discriminator.widths):
            raise ConfigError(f"data.size {self.data.size} is too small for a discriminator with "
                              f"{len(self.discriminator.widths)} down-sampling blocks "
                              f"(needs >= {2 ** len(self.discriminator.widths)})")


def load_config(path: str | Path | None, overrides: list[str] = ()) -> TrainConfig:
    """A TrainConfig from a YAML file or packaged config name (or the defaults) plus key=value overrides;
    unknown keys raise."""
    data = load_yaml(find_config(path)) if path else {}
    check_keys(TrainConfig, apply_overrides({}, list(overrides)), "override")
    # an override's own value is checked alone first, so that its error names the override, not the file
    from_dict(TrainConfig, apply_overrides(to_dict(TrainConfig()), list(overrides)), where="override")
    apply_overrides(data, list(overrides))
    config = from_dict(TrainConfig, data, where=str(path or "config"))
    config.validate()
    return config


# What a sitting may change when it continues a run: how long and how often, and on what machine. The
# rest is what the run trained with; a change there is said (train --resume) or refused (compare).
SITTING_SETTINGS = ("steps", "max_minutes", "out_dir", "device", "threads", "checkpoint_every", "keep_last",
                    "val_every", "sample_every", "log_every", "data.workers", "data.root")


def changed_settings(run_config: Path, config: TrainConfig) -> list[str]:
    """'key: before -> now' for each setting (dotted keys) in which `config` differs from the one a run
    folder's config.yaml records, SITTING_SETTINGS aside; [] when that file is missing or unreadable."""
    try:
        before = load_yaml(run_config)
    except (ConfigError, OSError):
        return []
    if not isinstance(before, dict):
        return []
    now = to_dict(config)

    def flat(tree: dict, prefix: str = "") -> dict[str, Any]:
        out = {}
        for key, value in tree.items():
            if isinstance(value, dict) and value:
                out.update(flat(value, f"{prefix}{key}."))
            else:
                out[f"{prefix}{key}"] = value
        return out

    old, new = flat(before), flat(now)
    return [f"{key}: {old.get(key)!r} -> {new.get(key)!r}" for key in sorted(set(old) | set(new))
            if key not in SITTING_SETTINGS and old.get(key) != new.get(key)]
