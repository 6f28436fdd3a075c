"""Create any generator by name, and save/load it as a folder: config.yaml + model.safetensors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import SwishpaintError
from ..configs import ConfigError, dump_yaml, from_dict, read_yaml_file, to_dict
from ..files import FileGroup
from .swish_unet import SwishUNet, SwishUNetConfig
from .unet import UNet, UNetConfig

ARCHITECTURES: dict[str, tuple[type[nn.Module], type]] = {
    "swish_unet": (SwishUNet, SwishUNetConfig),
    "unet": (UNet, UNetConfig),
}

# name -> (architecture, config overrides). Paper configs first; small ones are the same classes.
MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "swish_unet_paper": ("swish_unet", {}),
    "swish_unet_small": ("swish_unet", {"widths": (16, 32, 48, 64, 80, 96)}),
    "swish_unet_tiny": ("swish_unet", {"widths": (4, 8, 8, 16)}),
    "unet_paper": ("unet", {}),
    "unet_small": ("unet", {"widths": (16, 32, 64, 96, 96, 96)}),
    "unet_tiny": ("unet", {"widths": (4, 8, 8, 16)}),
}

CONFIG_FILE = "config.yaml"
WEIGHTS_FILE = "model.safetensors"
CHOOSER_FILE = "region_choice.safetensors"  # the region chooser fitted to these weights (regions.choice)
DEFAULT_WORKING_SIZE = 512  # the longer side a sketch is scaled down to when the model card names none


@dataclass
class ModelCard:
    """What a model folder's config.yaml says beside the architecture: how to run the model, and where it
    came from. Written by save_model, read only by read_model_card, so every key has one type."""

    working_size: int = DEFAULT_WORKING_SIZE  # the size the network runs at (longer side)
    candidate_order: list[int] | None = None  # without hints, candidates in this order (best first)
    step: int | None = None  # the training step of these weights
    val: dict[str, Any] | None = None  # validation scores at that step
    # scripts/bundle_demo.py: how the candidate order was found, and the training record
    candidate_mean_psnr_train: list[float] | None = None
    candidate_mean_chroma_train: list[float] | None = None
    ranking_min_chroma: float | None = None
    trained: dict[str, Any] | None = None  # step, val, last_logged_step, the training config
    untrained: bool | None = None  # True: an architecture's random weights (export onnx --untrained)


class ModelLoadError(SwishpaintError, ValueError):
    """A model folder or name could not be loaded; the message says which and why."""


def architecture_of(model: nn.Module) -> str:
    for name, (cls, _) in ARCHITECTURES.items():
        if type(model) is cls:
            return name
    raise TypeError(f"{type(model).__name__} is not a registered generator")


def paper_scale_model(model: nn.Module) -> str:
    """The registered paper-scale model of `model`'s architecture (e.g. swish_unet -> swish_unet_paper)."""
    return f"{architecture_of(model)}_paper"


HINTED_CHANNELS = 5  # the sketch + hint RGB + hint mask
IN_CHANNELS = (1, HINTED_CHANNELS)  # a generator reads the sketch, or the sketch and the hints


def takes_hints(in_channels: int) -> bool:
    return in_channels == HINTED_CHANNELS


def check_in_channels(in_channels: int) -> None:
    if in_channels not in IN_CHANNELS:
        raise ValueError(f"generators take 1 or 5 input channels, not {in_channels}")


def build_model(arch: str, config: dict[str, Any], where: str | None = None) -> nn.Module:
    """The architecture `arch` with `config`; ConfigError naming `where` (default "model config (ARCH)")
    for an unknown architecture or a bad value: unknown keys, sizes and counts under 1, in_channels not 1
    or 5."""
    if arch not in ARCHITECTURES:
        raise ConfigError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
    cls, cfg_cls = ARCHITECTURES[arch]
    where = where or f"model config ({arch})"
    model_config = from_dict(cfg_cls, config, where=where)
    bad = [f"{name}={value!r} (sizes and counts must be positive)" for name, value in vars(model_config).items()
           if isinstance(value, int) and not isinstance(value, bool) and value < 1
           or isinstance(value, tuple) and (not value or any(not isinstance(v, int) or v < 1 for v in value))]
    if model_config.in_channels not in IN_CHANNELS and model_config.in_channels >= 1:
        bad.append(f"in_channels={model_config.in_channels!r} (generators take 1 or 5 input channels)")
    if bad:
        raise ConfigError(f"{where}: invalid model config: {'; '.join(bad)}")
    return cls(model_config)


def create_model(name: str, **overrides: Any) -> nn.Module:
    """A registered generator by name, e.g. create_model('swish_unet_small', in_channels=5)."""
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    arch, preset = MODELS[name]
    return build_model(arch, {**to_dict(preset), **to_dict(overrides)})


def model_spec(model: nn.Module) -> dict[str, Any]:
    """What config.yaml holds: enough to rebuild the model without its training config."""
    return {"arch": architecture_of(model), "config": to_dict(model.config)}


def save_model(model: nn.Module, folder: str | Path, card: ModelCard | None = None, half: bool = False) -> Path:
    """Write config.yaml and model.safetensors together (write_model). A region chooser in the folder was
    fitted to the weights replaced here, so it goes with them (refit it)."""
    folder = Path(folder)
    with FileGroup() as group:
        write_model(group, model, folder, card, half)
        group.remove(folder / CHOOSER_FILE)
    return folder


def write_model(group: FileGroup, model: nn.Module, folder: Path, card: ModelCard | None = None,
                half: bool = False) -> None:
    """Stage config.yaml (the architecture, then the card's set fields) and model.safetensors in `group`, so
    a caller writing more files beside them (export onnx) puts them in place all or nothing. With `half`
    the weights are stored as fp16 (half the file; load_model casts them back to the model's float32)."""
    card_keys = {k: v for k, v in to_dict(card or ModelCard()).items() if v is not None}
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    state = half_precision(state) if half else state
    group.write(folder / WEIGHTS_FILE, lambda tmp: save_file(state, str(tmp)))
    group.write(folder / CONFIG_FILE, lambda tmp: tmp.write_text(
        dump_yaml({**model_spec(model), **card_keys})))


def half_precision(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Float tensors as fp16 (others unchanged): how compact weights travel and ship. A model given
    these (load_state_dict) computes with exactly what such a file holds."""
    return {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in state.items()}


BEST_FOLDER = "best"  # in a run folder: the model of the best validation so far
GENERATOR_FOLDER = "generator"  # in a checkpoint: the generator as trained
AVERAGE_FOLDER = "generator-ema"  # in a checkpoint: the generator's weight average (training/average.py)
RUN_MODELS = (BEST_FOLDER, GENERATOR_FOLDER)  # where a run folder (or a checkpoint) keeps a model, preferred first
CHECKPOINT_MODELS = (AVERAGE_FOLDER, GENERATOR_FOLDER)  # a checkpoint's models, preferred first: what the run validated


def _run_hint(path: Path) -> str | None:
    """'runs/x: a training run; its model is runs/x/best' when a folder that is no model holds one: a run
    folder's config.yaml is the training config, and blaming that file sends people the wrong way."""
    for name in RUN_MODELS:
        if (path / name / CONFIG_FILE).is_file():
            return f"{path}: a training run; its model is {path / name}"
    return None


def _read_spec(path: Path) -> dict[str, Any]:
    try:
        spec = read_yaml_file(path / CONFIG_FILE, "model config")
    except ConfigError as e:
        raise ModelLoadError(_run_hint(path) or str(e)) from None
    if not isinstance(spec, dict) or "arch" not in spec or "config" not in spec:
        raise ModelLoadError(_run_hint(path)
                             or f"{path / CONFIG_FILE}: not a swishpaint model config (needs arch and config)")
    if spec["arch"] not in ARCHITECTURES:
        raise ModelLoadError(f"{path / CONFIG_FILE}: unknown architecture {spec['arch']!r}")
    return spec


def model_folder(path: Path) -> Path:
    """A model folder from itself, a file in it, or a training checkpoint folder (its generator-ema/ when
    the run kept a weight average, as validation and best/ used it, else its generator/). Any other file
    is refused by its own name, not blamed on a config.yaml beside it that was never given."""
    folder = path.parent if path.is_file() else path
    if not (folder / CONFIG_FILE).is_file():
        folder = next((folder / name for name in CHECKPOINT_MODELS if (folder / name / CONFIG_FILE).is_file()), folder)
    if path.is_file() and not (folder / CONFIG_FILE).is_file():
        raise ModelLoadError(f"{path}: not a model folder (give the folder holding {CONFIG_FILE} and {WEIGHTS_FILE})")
    return folder


def _build_from_folder(path: Path, spec: dict[str, Any]) -> nn.Module:
    """The model a folder's config describes; any bad value is a one-line ModelLoadError naming the file."""
    where = f"{path / CONFIG_FILE}"
    try:
        return build_model(spec["arch"], spec["config"] or {}, where)
    except ConfigError as e:
        message = str(e).splitlines()[0]
        raise ModelLoadError(message if message.startswith(f"{where}: invalid model config")
                             else f"{where}: invalid model config ({message})") from None
    except (ValueError, TypeError, RuntimeError) as e:
        raise ModelLoadError(f"{where}: invalid model config ({str(e).splitlines()[0]})") from None


def chooser_path(path: str | Path) -> Path:
    """Where a model folder's region chooser lives (it may be absent): beside the weights it was fitted to,
    so a checkpoint's is in its generator/ and a file given for its folder finds it too."""
    return model_folder(Path(path)) / CHOOSER_FILE


def is_architecture_name(name_or_path: str | Path | None) -> bool:
    """A registered name that is no folder here: it builds an architecture with random, untrained weights."""
    return name_or_path is not None and not Path(name_or_path).exists() and str(name_or_path) in MODELS


def check_trained(name_or_path: str | Path | None, allow_untrained: bool, instead: str,
                  card: ModelCard | None = None) -> None:
    """Refuse random weights where a trained model is meant, unless allowed: a registered architecture
    name, or a folder whose card says untrained (what export onnx --untrained writes); they would colour
    noise, or export it, without a word. `instead`: what to give in its place."""
    if allow_untrained:
        return
    if is_architecture_name(name_or_path):
        raise ModelLoadError(f"{name_or_path}: an untrained architecture, not a trained model; {instead}")
    if card is not None and card.untrained:
        raise ModelLoadError(f"{name_or_path}: holds an architecture's random weights (exported with --untrained), "
                             f"not a trained model; {instead}")


def read_model_card(path: str | Path) -> ModelCard:
    """The model card of a model folder (or a file in it, or a checkpoint); the default card for a registered name."""
    if is_architecture_name(path):
        return ModelCard()
    path = model_folder(Path(path))
    spec = _read_spec(path)
    card = {k: v for k, v in spec.items() if k not in ("arch", "config")}
    try:
        return from_dict(ModelCard, card, where=str(path / CONFIG_FILE))
    except ConfigError as e:
        raise ModelLoadError(str(e)) from None


def build_model_of_folder(path: str | Path) -> nn.Module:
    """The network a model folder's config.yaml describes, with fresh weights: its size and cost without
    its weights file (an ONNX export holds the weights in model.onnx alone)."""
    folder = model_folder(Path(path))
    return _build_from_folder(folder, _read_spec(folder))


def load_model_config(path: str | Path):
    """The config dataclass of a model folder, without reading its weights."""
    path = model_folder(Path(path))
    spec = _read_spec(path)
    return from_dict(ARCHITECTURES[spec["arch"]][1], spec["config"], where=f"{path}/{CONFIG_FILE}")


def mismatch(model: nn.Module, tensors: dict[str, torch.Tensor], holder: str = "the checkpoint") -> str | None:
    """Why `tensors` cannot load into `model` (missing or extra names, other shapes), or None when
    they fit; said in a few words, because torch's own message lists every tensor on many lines.
    holder: what the tensors come from, as the message names it."""
    own = model.state_dict()
    missing = [k for k in own if k not in tensors]
    extra = [k for k in tensors if k not in own]
    resized = [k for k in own if k in tensors and tuple(own[k].shape) != tuple(tensors[k].shape)]
    if resized:
        k = resized[0]
        more = f"; {len(resized) - 1} more" if len(resized) > 1 else ""
        return (f"size mismatch for {k}: {list(tensors[k].shape)} in {holder}, "
                f"{list(own[k].shape)} in this config{more}")
    if missing or extra:
        names = missing or extra
        what = f"missing from {holder}" if missing else f"in {holder} but not in this model"
        more = f" and {len(names) - 1} more" if len(names) > 1 else ""
        return f"{names[0]}{more} {what}"
    return None


def load_model(name_or_path: str | Path, map_location: str | torch.device = "cpu") -> nn.Module:
    """A model from a folder (config.yaml + model.safetensors) or a registered name (random weights).

    Never unpickles: weights come only from safetensors.
    """
    if is_architecture_name(name_or_path):
        return create_model(str(name_or_path))
    path = Path(name_or_path)
    if not path.exists():
        raise ModelLoadError(f"{name_or_path}: no such model folder or registered model "
                             f"(known names: {', '.join(MODELS)})")
    path = model_folder(path)
    spec = _read_spec(path)
    model = _build_from_folder(path, spec)
    try:
        state = load_file(str(path / WEIGHTS_FILE), device=str(map_location))
    except (OSError, SafetensorError) as e:
        raise ModelLoadError(f"{path / WEIGHTS_FILE}: cannot read weights ({e})") from None
    detail = mismatch(model, state, "the file")
    if detail is not None:
        raise ModelLoadError(f"{path / WEIGHTS_FILE}: weights do not fit the config: {detail}")
    model.load_state_dict(state)
    return model.eval()


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, size: int = 512, batch: int = 1) -> int:
    """FLOPs of one forward pass at size x size, counted (torch.utils.flop_counter) on the meta device."""
    from torch.utils.flop_counter import FlopCounterMode

    meta = build_model(architecture_of(model), to_dict(model.config)).to("meta") if _has_real(model) else model
    x = torch.zeros(batch, model.config.in_channels, size, size, device="meta")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        meta(x)
    return int(counter.get_total_flops())


def _has_real(model: nn.Module) -> bool:
    return any(p.device.type != "meta" for p in model.parameters())


__all__ = [
    "ARCHITECTURES", "MODELS", "ModelCard", "ModelLoadError", "build_model", "create_model", "save_model",
    "write_model", "load_model", "read_model_card", "is_architecture_name", "count_parameters", "count_flops",
    "model_spec", "model_folder", "chooser_path",
]


def generator_input(sketch: torch.Tensor, hints: torch.Tensor | None, in_channels: int) -> torch.Tensor:
    """The generator's input: the sketch (B, 1, H, W), plus hint RGB + mask (B, 4, H, W) for 5-channel models.

    A 5-channel model without hints gets all-zero hints (automatic colouring).
    """
    check_in_channels(in_channels)
    if in_channels == 1:
        return sketch
    if hints is None:
        hints = sketch.new_zeros(sketch.shape[0], 4, *sketch.shape[-2:])
    return torch.cat([sketch, hints], dim=1)
