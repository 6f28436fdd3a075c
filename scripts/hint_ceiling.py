"""How high can PSNR with 20 hint patches go on a dataset? Oracle colourings that no model can beat.

Issue 5 asks for >= 20 dB with 20 hint patches. This measures, on the same held-out images, sketches
and hints as `swishpaint evaluate`, what PSNR colourings built from the ground truth itself reach:

- "ground truth, lines kept": the true colours with the sketch multiplied over them, as the tool
  outputs by default; the ceiling for any colouring with --keep-lines.
- "true colours in every hinted region": regions = areas of paper enclosed by the sketch's lines
  (dark pixels, closed by one pixel); every region containing a hint gets its true colours, the rest
  the model's (with its hint fill). What perfect hint following within regions would reach.
- "true mean colour per region": every region, hinted or not, flat-filled with its true mean colour.

    python scripts/hint_ceiling.py --data data/demo --out docs/hint-ceiling.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage  # scikit-image's dependency (the eval extra)

from swishpaint.data.datasets import DataConfig, SketchColorDataset
from swishpaint.data.hints import held_out_hints
from swishpaint.data.images import image_to_tensor
from swishpaint.experiments.evaluate import sketch_image
from swishpaint.metrics.quality import psnr
from swishpaint.files import atomic_write_text
from swishpaint.inference.colorizer import Colorizer


def regions(sketch: torch.Tensor) -> np.ndarray:
    """Label map of paper regions enclosed by lines (0 = line pixels)."""
    lines = ndimage.binary_dilation(sketch.numpy() < 0.6)
    labels, _ = ndimage.label(~lines)
    return labels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", help="model folder (default: the bundled demo model)")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--line-method", default="dilate")
    ap.add_argument("--hints", type=int, default=20)
    ap.add_argument("--images", type=int, default=0, help="0 = the whole held-out split")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    colorizer = Colorizer.load(args.model, working_size=args.size)
    data = SketchColorDataset(DataConfig(root=args.data, size=args.size, line_method=args.line_method), "val",
                              train=False)
    n = len(data) if args.images <= 0 else min(args.images, len(data))
    scores: dict[str, list[float]] = {}
    covered = []
    for i in range(n):  # the same images, sketches and hints (seed 0) as swishpaint evaluate
        item = data[i]
        sketch, target = item["sketch"], item["color"]
        hints = held_out_hints(item["sketch"], item["color"], i, args.hints)
        model = image_to_tensor(colorizer.colorize(sketch_image(sketch), hints=hints, keep_lines=False)[0])
        labels = torch.from_numpy(regions(sketch[0]))
        hinted_ids = torch.unique(labels[hints[3] > 0])
        hinted = torch.isin(labels, hinted_ids[hinted_ids > 0])
        flat = target.clone()
        for r in torch.unique(labels[labels > 0]):
            m = labels == r
            flat[:, m] = target[:, m].mean(1, keepdim=True)
        rows = {"model + hints (lines kept)": model,
                "true colours in every hinted region": torch.where(hinted, target, model),
                "true mean colour per region": flat,
                "ground truth, lines kept": target}
        for name, colours in rows.items():
            scores.setdefault(name, []).append(float(psnr((colours * sketch)[None], target[None])[0]))
        covered.append(float(hinted.float().mean()))
    result = {"images": n, "size": args.size, "line_method": args.line_method, "hints": args.hints,
              "hinted_region_share": float(np.mean(covered)),
              "psnr": {k: float(np.mean(v)) for k, v in scores.items()}}
    for name, value in result["psnr"].items():
        print(f"{name:40s} {value:6.2f} dB")
    print(f"share of pixels in a hinted region: {result['hinted_region_share']:.0%}")
    if args.out:
        atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
