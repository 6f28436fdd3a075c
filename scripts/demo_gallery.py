"""Gallery of the bundled model on held-out demo images: sketch | 3 automatic candidates | 20 hints |
network with hints | with hints, by regions (the default) | truth.

    python scripts/demo_gallery.py --data data/demo --out docs/images/demo-gallery.jpg

Sketches are made with the 'dilate' extractor (training used XDoG), so the gallery shows line art of
a style the model never trained on. Hints are 20 small patches sampled from the ground truth.
"""

from __future__ import annotations

import argparse

from PIL import Image

from swishpaint.data.datasets import DataConfig, SketchColorDataset
from swishpaint.data.hints import held_out_hints, hints_to_rgba
from swishpaint.data.images import image_grid, tensor_to_image
from swishpaint.files import atomic_write
from swishpaint.inference.colorizer import Colorizer


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="data/demo")
    p.add_argument("--out", default="docs/images/demo-gallery.jpg")
    p.add_argument("--images", type=int, default=8)
    p.add_argument("--size", type=int, default=256)
    args = p.parse_args()
    colorizer = Colorizer.load()
    data = SketchColorDataset(DataConfig(root=args.data, size=args.size, line_method="dilate"), "val", train=False)
    names = [s.name for s in data.samples]
    # the anime images first, then an even spread over the rest
    picks = [i for i, n in enumerate(names) if n.startswith("renpy")]
    rest = [i for i in range(len(data)) if i not in picks]
    picks += rest[:: max(1, len(rest) // (args.images - len(picks)))][: args.images - len(picks)]
    rows = []
    for i in picks:
        item = data[i]
        sketch = tensor_to_image(item["sketch"])
        auto = colorizer.colorize(sketch, candidates=3)
        hints = held_out_hints(item["sketch"], item["color"], i, 20)
        network_only = colorizer.colorize(sketch, hints=hints, output="network")[0]
        filled = colorizer.colorize(sketch, hints=hints)[0]
        hint_view = Image.alpha_composite(Image.new("RGBA", sketch.size, "white"), hints_to_rgba(hints)).convert("RGB")
        rows.append([sketch, *auto, hint_view, network_only, filled, tensor_to_image(item["color"])])
    grid = image_grid(rows)
    atomic_write(args.out, lambda tmp: grid.save(tmp, format="JPEG" if args.out.endswith(".jpg") else "PNG",
                                                 quality=90))
    print(f"wrote {args.out}: columns sketch | candidates 1-3 | hints | network with hints | "
          "with hints (regions) | ground truth")


if __name__ == "__main__":
    main()
