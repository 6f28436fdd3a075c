"""Line extraction: colour illustration -> sketch (H, W) float in [0, 1], 1 = paper, 0 = ink.

Methods:
- 'xdog': eXtended Difference of Gaussians (Winnemöller et al. 2012) with Tag2Pix's settings
  (σ 0.35-0.45, k 2-3, γ 0.95, hard threshold φ -> ∞): clean, binary lines.
- 'dilate': grey-level morphological gradient (dilate(I) - I, the classic anime line-art trick):
  soft, pencil-like grey lines of a different character, used to test on a line style never trained on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .images import composite_on_white, image_to_tensor

METHODS = ("xdog", "dilate")


@dataclass
class XDoGParams:
    sigma: float = 0.4
    k: float = 2.5
    gamma: float = 0.95
    epsilon: float = -0.01  # threshold on the DoG response (image in [0, 1])
    phi: float = float("inf")  # inf = hard threshold


@dataclass
class DilateParams:
    radius: int = 1  # structuring element (2r+1)x(2r+1)
    gain: float = 3.0  # contrast of the gradient
    floor: float = 0.08  # gradients below this vanish (removes flat shading)


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-(x**2) / (2 * sigma**2))
    return k / k.sum()


def gaussian_blur(grey: torch.Tensor, sigma: float) -> torch.Tensor:
    """(H, W) -> (H, W) separable Gaussian blur with reflected borders."""
    k = _gaussian_kernel(sigma)
    r = (len(k) - 1) // 2
    x = grey[None, None]
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    x = F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))
    return x[0, 0]


def to_grey_tensor(image: Image.Image | np.ndarray | torch.Tensor) -> torch.Tensor:
    """RGB/grey PIL image, array or tensor -> (H, W) float32 luminance in [0, 1]."""
    if isinstance(image, Image.Image):
        if image.mode not in ("L", "RGB"):
            image = composite_on_white(image)
        return image_to_tensor(image, "L")[0]
    t = torch.as_tensor(np.asarray(image) if isinstance(image, np.ndarray) else image, dtype=torch.float32)
    if t.max() > 1.0:
        t = t / 255.0
    if t.ndim == 3:
        if t.shape[0] == 3:  # (3, H, W)
            t = t.permute(1, 2, 0)
        t = t[..., 0] * 0.299 + t[..., 1] * 0.587 + t[..., 2] * 0.114
    return t


def xdog(grey: torch.Tensor, p: XDoGParams = XDoGParams()) -> torch.Tensor:
    """XDoG on (H, W) luminance in [0, 1] -> sketch in [0, 1] (1 = paper)."""
    d = gaussian_blur(grey, p.sigma) - p.gamma * gaussian_blur(grey, p.sigma * p.k)
    if math.isinf(p.phi):
        return (d >= p.epsilon).float()
    return torch.where(d >= p.epsilon, torch.ones_like(d), 1 + torch.tanh(p.phi * (d - p.epsilon))).clamp(0, 1)


def dilate_lines(grey: torch.Tensor, p: DilateParams = DilateParams()) -> torch.Tensor:
    """Morphological-gradient lines on (H, W) luminance in [0, 1] -> sketch in [0, 1] (1 = paper)."""
    size = 2 * p.radius + 1
    dilated = F.max_pool2d(grey[None, None], size, stride=1, padding=p.radius)[0, 0]
    grad = (dilated - grey - p.floor).clamp(min=0) * p.gain
    return (1 - grad).clamp(0, 1)


def extract_lines(image: Image.Image | np.ndarray | torch.Tensor, method: str = "xdog", **params) -> torch.Tensor:
    """Colour or grey image -> (H, W) sketch tensor in [0, 1], 1 = paper, 0 = ink."""
    grey = to_grey_tensor(image)
    if method == "xdog":
        return xdog(grey, XDoGParams(**params))
    if method == "dilate":
        return dilate_lines(grey, DilateParams(**params))
    raise ValueError(f"unknown line extraction method {method!r}; choose one of {', '.join(METHODS)}")


def random_xdog_params(rng: np.random.Generator) -> dict:
    """Tag2Pix's ranges: σ in [0.35, 0.45], k in [2, 3]."""
    return {"sigma": float(rng.uniform(0.35, 0.45)), "k": float(rng.uniform(2.0, 3.0))}
