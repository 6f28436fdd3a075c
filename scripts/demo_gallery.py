"""Gallery on held-out images: sketch | 20 user-like hints (drawn over the faded sketch) | classical
region fill | swishpaint flats | swishpaint default (flats + shading + lines) | automatic (no hints) |
truth.

    python scripts/demo_gallery.py --data data/renpy --out docs/images/region-gallery.jpg

Sketches are made with the 'dilate' extractor, hints with the user-like protocol of `swishpaint
evaluate` (one dab in each of the 20 largest coloured regions), and the region fill from the same
segmentation and hints, as in evaluate's reference rows. Only commit galleries of freely licensed
images (renpy-demo is MIT); the anime corpus's characters are not redistributable.
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image

from swishpaint.data.datasets import DataConfig, SketchColorDataset
from swishpaint.data.hints import held_out_hints, hints_to_rgba
from swishpaint.data.images import from_float_array, image_grid, tensor_to_image
from swishpaint.files import atomic_write
from swishpaint.inference.colorizer import Colorizer
from swishpaint.regions.classical import region_fill
from swishpaint.regions.segment import segment
from swishpaint.regions.user_hints import USER_LIKE


def dab_view(sketch: Image.Image, hints: Image.Image, radius: int = 4) -> Image.Image:
    """The dabs where a person would see them: each drawn as a ringed disc over the faded sketch (a
    6-pixel dab on white paper is all but invisible at gallery size)."""
    import cv2
    from PIL import ImageDraw

    rgba = np.asarray(hints)
    count, labels = cv2.connectedComponents((rgba[..., 3] > 0).astype(np.uint8))
    faded = Image.blend(sketch.convert("RGB"), Image.new("RGB", sketch.size, "white"), 0.6)
    draw = ImageDraw.Draw(faded)
    for dab in range(1, count):
        ys, xs = np.nonzero(labels == dab)
        x, y = float(xs.mean()), float(ys.mean())
        colour = tuple(int(c) for c in np.median(rgba[ys, xs, :3], axis=0))
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour, outline=(0, 0, 0))
    return faded


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="data/renpy")
    p.add_argument("--model", help="model folder (default: the bundled model)")
    p.add_argument("--out", default="docs/images/region-gallery.jpg")
    p.add_argument("--images", type=int, default=6)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--hints", type=int, default=20)
    args = p.parse_args()
    colorizer = Colorizer.load(args.model, working_size=args.size)
    data = SketchColorDataset(DataConfig(root=args.data, size=args.size, line_method="dilate"), "val", train=False)
    picks = range(0, len(data), max(1, len(data) // args.images))[: args.images]
    rows = []
    for i in picks:
        item = data[i]
        sketch_im = tensor_to_image(item["sketch"])
        sketch = np.asarray(sketch_im, np.float32) / 255
        hints = held_out_hints(item["sketch"], item["color"], i, args.hints, protocol=USER_LIKE)
        fill = region_fill(segment(sketch), hints.permute(1, 2, 0).numpy(), sketch)
        hinted = colorizer.colorize_regions(sketch_im, hints=hints)
        auto = colorizer.colorize(sketch_im)[0]
        hint_view = dab_view(sketch_im, hints_to_rgba(hints))
        rows.append([sketch_im.convert("RGB"), hint_view, from_float_array(fill),
                     Image.fromarray(hinted.image(0, "flat")), Image.fromarray(hinted.image(0, "final")), auto,
                     tensor_to_image(item["color"])])
    atomic_write(args.out, lambda tmp: image_grid(rows).save(tmp, format="JPEG", quality=90))
    print(f"wrote {args.out}: sketch | {args.hints} user-like hints | region fill | flats | default | "
          "automatic | truth")


if __name__ == "__main__":
    main()
