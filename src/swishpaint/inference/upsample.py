"""Guided upsampling: colours computed at working resolution, brought to the sketch's full size.

A fast guided filter (He, Sun & Tang, 2013) with the full-resolution sketch as the guide: the
low-resolution colours are fitted locally as a linear function of the low-resolution sketch, and
the coefficients, upsampled bilinearly, are applied to the full-resolution sketch. Colour edges
then follow the original lines instead of blurring across them.

The full-size result is produced in bands of rows (guided_upsample_bands): the coefficients are
computed once at low resolution and each band interpolates exactly the rows it needs, so the bands
join without seams and memory stays a few bands, not a few full-size planes per candidate (a
7000x7000 candidate is 588 MB as float; three such planes for each of 9 candidates would be 16 GB).
"""

from __future__ import annotations

from typing import Iterator

import torch
import torch.nn.functional as F

BAND_ROWS = 256


def _box(x: torch.Tensor, r: int) -> torch.Tensor:
    return F.avg_pool2d(F.pad(x, (r, r, r, r), mode="replicate"), 2 * r + 1, stride=1)


def guided_coefficients(colour: torch.Tensor, guide_small: torch.Tensor, radius: int = 2,
                        eps: float = 1e-2) -> tuple[torch.Tensor, torch.Tensor]:
    """colour (3, h, w), guide_small (1, h, w) -> a, b (1, 3, h, w) with colour ≈ a * guide + b locally."""
    p = colour[None]
    i = guide_small[None].expand_as(p[:, :1])
    mean_i, mean_p = _box(i, radius), _box(p, radius)
    cov = _box(i * p, radius) - mean_i * mean_p
    var = _box(i * i, radius) - mean_i * mean_i
    a = cov / (var + eps)
    return a, mean_p - a * mean_i


def bilinear_rows(x: torch.Tensor, size: tuple[int, int], y0: int, y1: int) -> torch.Tensor:
    """Rows y0..y1 of F.interpolate(x, size, 'bilinear', align_corners=False), computing only those rows.

    x (N, C, h, w) -> (N, C, y1 - y0, W). Source rows follow PyTorch's rule: (y + 0.5) * h / H - 0.5,
    clamped at 0; the horizontal pass is F.interpolate itself.
    """
    h = x.shape[-2]
    height, width = size
    src = ((torch.arange(y0, y1, dtype=torch.float64) + 0.5) * (h / height) - 0.5).clamp_min(0)
    top = src.floor().long().clamp_max(h - 1)
    bottom = (top + 1).clamp_max(h - 1)
    weight = (src - top).to(x.dtype)[:, None]
    lo, hi = int(top.min()), int(bottom.max()) + 1
    rows = F.interpolate(x[..., lo:hi, :], size=(hi - lo, width), mode="bilinear", align_corners=False)
    return rows[..., top - lo, :] * (1 - weight) + rows[..., bottom - lo, :] * weight


def guided_upsample_bands(colour: torch.Tensor, guide_small: torch.Tensor, guide_full: torch.Tensor,
                          radius: int = 2, eps: float = 1e-2,
                          band: int = BAND_ROWS) -> Iterator[tuple[int, torch.Tensor]]:
    """One candidate, colour (3, h, w), at guide_full's size (1, H, W): yields (y0, (3, rows, W)) bands."""
    a, b = guided_coefficients(colour, guide_small, radius, eps)
    size = tuple(guide_full.shape[-2:])
    for y0 in range(0, size[0], band):
        y1 = min(size[0], y0 + band)
        out = bilinear_rows(a, size, y0, y1) * guide_full[None, :, y0:y1] + bilinear_rows(b, size, y0, y1)
        yield y0, out[0].clamp_(0, 1)


def guided_upsample(colours: torch.Tensor, guide_small: torch.Tensor, guide_full: torch.Tensor,
                    radius: int = 2, eps: float = 1e-2) -> torch.Tensor:
    """colours (K, 3, h, w), guide_small (1, h, w), guide_full (1, H, W) in [0, 1] -> (K, 3, H, W).

    Everything at once, for callers that want tensors; the Colorizer streams the bands instead.
    """
    out = colours.new_empty(colours.shape[0], 3, *guide_full.shape[-2:])
    for k, c in enumerate(colours):
        for y0, rows in guided_upsample_bands(c, guide_small, guide_full, radius, eps):
            out[k, :, y0:y0 + rows.shape[1]] = rows
    return out
