"""Ceilings for automatic colouring that know part of the truth: how far each kind of knowledge goes.

    python scripts/automatic_ceilings.py /work/data/anime-eval --fixed-from /work/data/anime-trainprobe

Analysis, not a method: every row but the sketch reads the truth. Each region (the Colorizer's own
segmentation) takes one colour, the lines multiplied over, scored as `swishpaint evaluate` scores:
- the true white areas (region mean L* > 97), one fixed colour elsewhere: the area-weighted mean of the
  non-white regions of --fixed-from's held-out split (a set the scored one does not hold);
- the true white areas, each image's own mean colour elsewhere;
- each region's true hue and chroma at one lightness per image;
- each region's true lightness, no hue (grey);
- the oracle flats (every region its true mean colour).
With --model (a model folder, or "bundled"), two rows more: its automatic candidate 1, and its own
white areas with the fixed colour elsewhere, i.e. what its colours earn over one colour for all.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from swishpaint.data.datasets import DataConfig, SketchColorDataset
from swishpaint.experiments.evaluate import HeldOutImage, Scores, held_out_images
from swishpaint.inference.colorizer import Colorizer
from swishpaint.metrics.quality import lab_to_rgb, rgb_to_lab
from swishpaint.regions.classical import region_means

WHITE_LIGHTNESS = 97.0


def images(root: str, colorizer: Colorizer, size: int) -> list[HeldOutImage]:
    data = SketchColorDataset(DataConfig(root=root, size=size, line_method="dilate"), "val", train=False)
    return list(held_out_images(data, 0, colorizer.segment_config))


def convert(colours: np.ndarray, to) -> np.ndarray:
    """(N, 3) colours through metrics.quality's rgb_to_lab or lab_to_rgb, which take (B, 3, H, W)."""
    return to(torch.from_numpy(np.asarray(colours)).T[None, :, :, None])[0, :, :, 0].T.numpy()


def region_lab(image: HeldOutImage) -> tuple[np.ndarray, np.ndarray]:
    """((count, 3) Lab mean colour per region, (count,) its pixels off the lines)."""
    means, weight = region_means(image.segmentation, image.truth)
    return convert(means, rgb_to_lab), weight


def mean_colour(sets: list[HeldOutImage]) -> np.ndarray:
    """Area-weighted Lab mean of the non-white regions over a set."""
    labs, weights = zip(*(region_lab(im) for im in sets))
    lab, weight = np.concatenate(labs), np.concatenate(weights)
    keep = lab[:, 0] <= WHITE_LIGHTNESS
    return np.average(lab[keep], axis=0, weights=weight[keep] + 1e-9)


def painted(image: HeldOutImage, lab: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB: each region in its Lab colour, the lines multiplied over."""
    return convert(lab, lab_to_rgb)[image.segmentation.labels] * image.sketch[..., None]


def rows_for(image: HeldOutImage, fixed: np.ndarray, colorizer: Colorizer | None) -> dict[str, np.ndarray]:
    lab, weight = region_lab(image)
    white = lab[:, 0] > WHITE_LIGHTNESS
    rest = ~white if (~white).any() else np.ones_like(white)
    out = {"sketch": np.repeat(image.sketch[..., None], 3, 2)}
    if colorizer is not None:
        colouring = colorizer.colorize_regions(image.sketch_grey, candidates=1, segmentation=image.segmentation)
        flats = colouring.flats(0)
        out["model, automatic (candidate 1)"] = colouring.image(0, "final", flats=flats) / 255.0
        model_white = colouring.image(0, "flat", flats=flats).astype(np.float32).min(2) / 255.0 > 0.97
        out["the model's white areas, the fixed colour elsewhere"] = np.where(
            model_white[..., None], 1.0, convert(fixed[None], lab_to_rgb)[0]) * image.sketch[..., None]
    out["true white areas, the fixed colour elsewhere"] = painted(image, np.where(white[:, None], lab, fixed))
    own = np.average(lab[rest], axis=0, weights=weight[rest] + 1e-9)
    out["true white areas, each image's own mean colour elsewhere"] = painted(image, np.where(white[:, None], lab, own))
    one_lightness = lab.copy()
    one_lightness[rest, 0] = np.average(lab[rest, 0], weights=weight[rest] + 1e-9)
    out["true hue and chroma, one lightness per image"] = painted(image, one_lightness)
    grey = lab.copy()
    grey[:, 1:] = 0
    out["true lightness, no hue"] = painted(image, grey)
    out["oracle flats"] = painted(image, lab)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", help="dataset folder whose held-out split is scored")
    p.add_argument("--fixed-from", required=True, help="dataset folder whose held-out split gives the fixed colour")
    p.add_argument("--model", help='a model folder, or "bundled", for the two model rows')
    p.add_argument("--size", type=int, default=256)
    args = p.parse_args()
    colorizer = Colorizer.load(None if args.model in (None, "bundled") else args.model, working_size=args.size)
    fixed = mean_colour(images(args.fixed_from, colorizer, args.size))
    print(f"fixed colour (Lab): {np.round(fixed, 1).tolist()}")
    scores: dict[str, Scores] = {}
    for image in images(args.data, colorizer, args.size):
        for name, rgb in rows_for(image, fixed, colorizer if args.model else None).items():
            pred = torch.from_numpy(np.ascontiguousarray(rgb, np.float32)).permute(2, 0, 1)
            scores.setdefault(name, Scores()).add(pred, image.target, with_fsim=False)
    for name, row in scores.items():
        summary = row.summary()
        print(f"{name:58s} {summary['psnr']:6.2f} dB  ΔE {summary['delta_e']:6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
