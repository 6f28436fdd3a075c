"""Validation during training: PSNR/SSIM on held-out images, and sample grids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data.datasets import SketchColorDataset
from ..data.hints import held_out_hints
from ..data.images import image_grid, tensor_to_image
from ..metrics.quality import psnr, ssim
from ..metrics.ranking import closest_candidate, hint_errors
from ..files import atomic_write
from ..models.registry import generator_input


@torch.no_grad()
def validate(generator: nn.Module, dataset: SketchColorDataset, device: torch.device, images: int,
             hint_patches: int = 20, seed: int = 0) -> dict[str, float]:
    """PSNR/SSIM of candidate 1 and of the best candidate (closest_candidate) on held-out images; with hints if the model takes them.

    With hints, candidate 1 is the one that follows the hints best (as inference returns it), not index 0.
    """
    was_training = generator.training  # a weight average stays in eval mode
    generator.eval()
    scores: dict[str, list[float]] = {}
    in_ch = generator.config.in_channels
    modes = [("", 0)] + ([("_hints", hint_patches)] if in_ch == 5 else [])
    for i in range(min(images, len(dataset))):
        item = dataset[i]
        dataset.note_skipped(item["skipped"])
        sketch, real = item["sketch"][None].to(device), item["color"][None].to(device)
        for suffix, count in modes:
            hints = held_out_hints(item["sketch"], item["color"], i, count, seed)[None].to(device) if count else None
            cand = generator(generator_input(sketch, hints, in_ch)).clamp(0, 1)[0]
            p = psnr(cand, real.expand(len(cand), -1, -1, -1))
            s = ssim(cand, real.expand(len(cand), -1, -1, -1))
            best = int(closest_candidate(cand[None], real)[0])
            first = int(hint_errors(cand[None], hints)[0].argmin()) if count else 0
            for key, value in (("psnr", p[first]), ("ssim", s[first]), ("psnr_best", p[best]), ("ssim_best", s[best])):
                scores.setdefault(key + suffix, []).append(float(value))
    generator.train(was_training)
    return {k: float(np.mean(v)) for k, v in scores.items()}


@torch.no_grad()
def save_samples(generator: nn.Module, dataset: SketchColorDataset, device: torch.device, path: Path,
                 count: int = 4) -> None:
    """A grid per row: sketch | candidates | ground truth."""
    was_training = generator.training
    generator.eval()
    rows = []
    for i in range(min(count, len(dataset))):
        item = dataset[i]
        dataset.note_skipped(item["skipped"])
        cand = generator(generator_input(item["sketch"][None].to(device), None, generator.config.in_channels))[0]
        rows.append([tensor_to_image(item["sketch"])] + [tensor_to_image(c) for c in cand]
                    + [tensor_to_image(item["color"])])
    generator.train(was_training)
    atomic_write(path, lambda tmp: image_grid(rows).save(tmp, format="PNG"))
