"""Colour hints: (4, H, W) tensors = hint RGB in [0, 1] (0 where no hint) + mask in {0, 1}.

At every interface a hint file is one RGBA PNG the size of the sketch: alpha > 0 marks a hint.
During training hints are sampled from the ground truth: small flat patches of the local mean colour
and short strokes, a random number of them, sometimes none, so one model serves both modes; a share
of the samples can take a registered protocol's hints instead (HintSampling.protocols).

Held-out images (evaluation, validation, the scripts) get their hints from a named hint protocol,
seeded by (seed, image index) so every consumer sees the same hints: `held_out_hints`. A protocol is
one function registered with `@hint_protocol(name)`; "patches" (random flat patches) is defined here,
and other layers may register more (e.g. user-like dabs, one per large region, from regions/).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from PIL import Image

from ..configs import ConfigError
from .images import image_to_tensor, tensor_to_image


@dataclass
class HintSampling:
    probability: float = 0.5  # chance that a training sample gets any hints
    max_hints: int = 24
    min_patch: int = 2  # patch side in pixels at 256 px; scales with the image size
    max_patch: int = 6
    stroke_probability: float = 0.3  # share of hints that are short strokes instead of patches
    stroke_length: int = 12
    # Shares of the hinted samples that take a registered protocol's hints instead of random patches,
    # e.g. {"user-like": 0.5}: trained on one dab per area, the way people hint, white areas left alone.
    protocols: dict[str, float] = field(default_factory=dict)


def empty_hints(height: int, width: int) -> torch.Tensor:
    return torch.zeros(4, height, width)


def _paint(hints: torch.Tensor, color: torch.Tensor, y: int, x: int, half: int) -> None:
    h, w = color.shape[-2:]
    y0, y1, x0, x1 = max(0, y - half), min(h, y + half + 1), max(0, x - half), min(w, x + half + 1)
    mean = color[:, y0:y1, x0:x1].mean(dim=(1, 2))
    hints[:3, y0:y1, x0:x1] = mean[:, None, None]
    hints[3, y0:y1, x0:x1] = 1.0


def sample_hints(color: torch.Tensor, rng: np.random.Generator, cfg: HintSampling = HintSampling(),
                 count: int | None = None) -> torch.Tensor:
    """Sample hints from a ground-truth colour image (3, H, W) in [0, 1] -> (4, H, W).

    With `count` given exactly that many patches are placed (evaluation); otherwise a random number,
    and none at all with probability 1 - cfg.probability.
    """
    _, h, w = color.shape
    hints = empty_hints(h, w)
    if count is None:
        if rng.random() >= cfg.probability:
            return hints
        count = int(rng.integers(1, cfg.max_hints + 1))
    scale = max(1.0, min(h, w) / 256)
    for _ in range(count):
        half = int(round(rng.integers(cfg.min_patch, cfg.max_patch + 1) * scale / 2))
        y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
        if rng.random() < cfg.stroke_probability:
            angle = rng.uniform(0, 2 * np.pi)
            length = int(cfg.stroke_length * scale)
            for t in range(0, length, max(1, half)):
                yy = int(np.clip(y + t * np.sin(angle), 0, h - 1))
                xx = int(np.clip(x + t * np.cos(angle), 0, w - 1))
                _paint(hints, color, yy, xx, max(1, half // 2))
        else:
            _paint(hints, color, y, x, half)
    return hints


HintProtocol = Callable[[torch.Tensor, torch.Tensor, np.random.Generator, int], torch.Tensor]
"""(sketch (1, H, W), colour (3, H, W), rng, count) -> hints (4, H, W) for one held-out image."""

HINT_PROTOCOLS: dict[str, HintProtocol] = {}


def hint_protocol(name: str) -> Callable[[HintProtocol], HintProtocol]:
    """Register a held-out hint protocol under `name` (a decorator, as models register by name)."""
    def register(fn: HintProtocol) -> HintProtocol:
        if name in HINT_PROTOCOLS:
            raise ValueError(f"hint protocol {name!r} is already registered")
        HINT_PROTOCOLS[name] = fn
        return fn
    return register


@hint_protocol("patches")
def patch_hints(sketch: torch.Tensor, color: torch.Tensor, rng: np.random.Generator, count: int) -> torch.Tensor:
    """`count` patches and strokes of the ground truth's local mean colour at random places (sample_hints)."""
    return sample_hints(color, rng, count=count)


def training_hints(sketch: torch.Tensor, color: torch.Tensor, rng: np.random.Generator,
                   cfg: HintSampling = HintSampling(), protocols: dict[str, HintProtocol] | None = None) -> torch.Tensor:
    """A training sample's hints: none with probability 1 - cfg.probability, else 1..max_hints of them,
    from a registered protocol (cfg.protocols' shares) or random patches (the rest).

    `protocols`: the functions, looked up once by the caller (resolve_protocols), so that data-loader
    workers started by spawn, whose registry may lack protocols of other layers, still have them."""
    if not cfg.protocols:
        return sample_hints(color, rng, cfg)
    if rng.random() >= cfg.probability:
        return empty_hints(*color.shape[-2:])
    count, pick = int(rng.integers(1, cfg.max_hints + 1)), rng.random()
    for name, share in cfg.protocols.items():
        if pick < share:
            return (protocols[name] if protocols else _protocol(name))(sketch, color, rng, count)
        pick -= share
    return sample_hints(color, rng, cfg, count=count)


def check_protocols(names: list[str] | dict[str, float], where: str = "hint protocol") -> None:
    """Raise ConfigError naming any protocol that is not registered (and, for shares, bad shares)."""
    unknown = sorted(set(names) - set(HINT_PROTOCOLS))
    if unknown:
        raise ConfigError(f"{where}: unknown {', '.join(map(repr, unknown))}; known: {', '.join(HINT_PROTOCOLS)}")
    if isinstance(names, dict) and (any(v < 0 for v in names.values()) or sum(names.values()) > 1):
        raise ConfigError(f"{where}: shares must be >= 0 and sum to at most 1, got {names}")


def _protocol(name: str) -> HintProtocol:
    check_protocols([name])
    return HINT_PROTOCOLS[name]


def resolve_protocols(names: list[str] | dict[str, float]) -> dict[str, HintProtocol]:
    """The registered functions for these protocol names (ConfigError for an unknown one)."""
    return {name: _protocol(name) for name in names}


def held_out_hints(sketch: torch.Tensor, color: torch.Tensor, index: int, count: int, seed: int = 0,
                   protocol: str = "patches") -> torch.Tensor:
    """The hints held-out image `index` gets: the same in evaluate, validation and the scripts.

    (1, H, W) sketch and (3, H, W) colour in [0, 1] -> (4, H, W); reproducible per (seed, index).
    """
    return _protocol(protocol)(sketch, color, np.random.default_rng([seed, index]), count)


def hints_from_rgba(image: Image.Image, size: tuple[int, int] | None = None) -> torch.Tensor:
    """RGBA PIL image -> (4, H, W) hints; resized with nearest neighbour to size=(W, H) if given."""
    rgba = image.convert("RGBA")
    if size is not None and rgba.size != tuple(size):
        rgba = rgba.resize(tuple(size), Image.NEAREST)
    arr = image_to_tensor(rgba, "RGBA")
    mask = (arr[3:] > 0).float()
    return torch.cat([arr[:3] * mask, mask], dim=0)


def hints_to_rgba(hints: torch.Tensor) -> Image.Image:
    """(4, H, W) hints -> RGBA PIL image (transparent where there is no hint)."""
    return tensor_to_image(torch.cat([hints[:3], (hints[3:] > 0).float()]))


def resize_hints(hints: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(4, H, W) -> (4, h, w) keeping small strokes: mask = any hint in the area, colour = area mean of hints."""
    import torch.nn.functional as F

    if tuple(hints.shape[-2:]) == tuple(size):
        return hints
    pooled = F.interpolate(hints[None], size=size, mode="area" if hints.shape[-1] > size[1] else "nearest")[0]
    coverage = pooled[3:]
    mask = (coverage > 0).float()
    rgb = pooled[:3] / coverage.clamp_min(1e-6) * mask
    return torch.cat([rgb.clamp(0, 1), mask])
