"""Training augmentation: aligned random crop + resize + flip, line-style variation for sketches, and
hue rotation for colours.

Line-style variation (thickness, darkness, pencil-like grey, noise) lets a model trained on extracted
lines cope with hand-drawn line art and the Kaggle dataset's pencil-like sketches. Hue rotation turns a
colour image round the grey axis: a handful of training characters otherwise teach the network their
own hair and clothes colours, which it then paints, sure of itself, on every character it has not seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..metrics.quality import lab_to_rgb, rgb_to_lab


@dataclass
class LineStyle:
    probability: float = 0.8  # chance that a sketch gets any variation
    thicken_probability: float = 0.3
    darkness: tuple[float, float] = (0.55, 1.0)  # ink value becomes 1 - darkness
    blur_probability: float = 0.3
    noise_std: tuple[float, float] = (0.0, 0.04)


def random_crop_box(height: int, width: int, rng: np.random.Generator,
                    scale: tuple[float, float] = (0.6, 1.0)) -> tuple[int, int, int, int]:
    """A random square box (top, left, side, side) covering `scale` of the shorter side."""
    side = max(1, int(min(height, width) * rng.uniform(*scale)))
    top = int(rng.integers(0, height - side + 1))
    left = int(rng.integers(0, width - side + 1))
    return top, left, side, side


def center_crop_box(height: int, width: int) -> tuple[int, int, int, int]:
    side = min(height, width)
    return (height - side) // 2, (width - side) // 2, side, side


def crop_resize(t: torch.Tensor, box: tuple[int, int, int, int], size: int, mode: str = "area") -> torch.Tensor:
    """Crop (C, H, W) to box and resize to (C, size, size); area when shrinking, bilinear otherwise."""
    top, left, h, w = box
    crop = t[:, top:top + h, left:left + w][None]
    if (h, w) == (size, size):
        return crop[0]
    m = mode if h > size else "bilinear"
    out = F.interpolate(crop, size=(size, size), mode=m, **({"align_corners": False} if m == "bilinear" else {}))
    return out[0]


def aligned_augment(tensors: list[torch.Tensor], size: int, rng: np.random.Generator,
                    train: bool = True) -> list[torch.Tensor]:
    """The same crop/resize/flip on every (C, H, W) tensor (sketch, colour), so they stay aligned."""
    _, h, w = tensors[0].shape
    box = random_crop_box(h, w, rng) if train else center_crop_box(h, w)
    flip = train and rng.random() < 0.5
    out = [crop_resize(t, box, size) for t in tensors]
    return [t.flip(-1) for t in out] if flip else out


def vary_line_style(sketch: torch.Tensor, rng: np.random.Generator, style: LineStyle = LineStyle()) -> torch.Tensor:
    """(1, H, W) sketch in [0, 1] -> the same lines drawn thicker/lighter/softer/noisier."""
    if rng.random() >= style.probability:
        return sketch
    s = sketch
    if rng.random() < style.thicken_probability:
        s = -F.max_pool2d(-s[None], 3, stride=1, padding=1)[0]  # min filter: lines grow by a pixel
    if rng.random() < style.blur_probability:
        k = torch.tensor([0.25, 0.5, 0.25])
        s = F.conv2d(F.pad(s[None], (1, 1, 1, 1), mode="replicate"), (k[:, None] * k[None, :])[None, None])[0]
    darkness = rng.uniform(*style.darkness)
    s = 1 - (1 - s) * darkness  # pencil-like grey instead of black ink
    std = rng.uniform(*style.noise_std)
    if std > 0:
        gen = torch.Generator().manual_seed(int(rng.integers(0, 2**31)))
        s = s + torch.randn(s.shape, generator=gen) * std
    return s.clamp(0, 1)


def rotate_hue(color: torch.Tensor, angle: float) -> torch.Tensor:
    """(3, H, W) RGB in [0, 1] with every colour's hue turned by `angle` radians in CIE Lab: lightness and
    chroma kept (greys, white paper and black ink exactly), what leaves the sRGB gamut clipped."""
    lab = rgb_to_lab(color[None])[0]
    cos, sin = np.cos(angle), np.sin(angle)
    a, b = lab[1], lab[2]
    turned = torch.stack([lab[0], cos * a - sin * b, sin * a + cos * b])
    return lab_to_rgb(turned[None])[0].to(color.dtype)


def vary_hue(color: torch.Tensor, rng: np.random.Generator, probability: float) -> torch.Tensor:
    """With chance `probability`, the colours turned round the grey axis by a uniform random angle."""
    if probability <= 0 or rng.random() >= probability:
        return color
    return rotate_hue(color, rng.uniform(0.0, 2.0 * np.pi))
