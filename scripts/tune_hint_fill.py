"""Compare hint-fill settings by PSNR with 20 hint patches, on TRAINING images (never the held-out split).

    python scripts/tune_hint_fill.py --data data/demo "close_gaps=0,line_cost=2000" "close_gaps=2,line_cost=500"

Each setting is a comma-separated list of HintFill fields. The network runs once per image; every
setting fills the same network output, so the differences are the fill's alone.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import fields

import numpy as np

from swishpaint.data.datasets import DataConfig, SketchColorDataset
from swishpaint.data.hints import held_out_hints
from swishpaint.data.images import image_to_tensor
from swishpaint.experiments.evaluate import sketch_image
from swishpaint.metrics.quality import psnr
from swishpaint.inference.colorizer import Colorizer
from swishpaint.inference.hint_fill import HintFill, spread_hints


def parse_setting(text: str) -> HintFill:
    types = {f.name: f.type for f in fields(HintFill)}
    values = dict(item.split("=", 1) for item in text.split(",") if item)
    return HintFill(**{k: (int if types[k] in ("int", int) else float)(v) for k, v in values.items()})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("settings", nargs="+", help='e.g. "close_gaps=2,line_cost=500"')
    ap.add_argument("--data", default="data/demo")
    ap.add_argument("--model", help="model folder (default: the bundled demo model)")
    ap.add_argument("--images", type=int, default=90)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--hints", type=int, default=20)
    args = ap.parse_args()
    settings = {s: parse_setting(s) for s in args.settings}
    colorizer = Colorizer.load(args.model, working_size=args.size)
    data = SketchColorDataset(DataConfig(root=args.data, size=args.size, line_method="dilate"), "train", train=False)
    scores: dict[str, list[float]] = {"network alone": []}
    seconds: dict[str, list[float]] = {}
    for i in range(0, len(data), max(1, len(data) // args.images))[: args.images]:
        item = data[i]
        sketch, target = item["sketch"], item["color"]
        hints = held_out_hints(item["sketch"], item["color"], i, args.hints)
        net = image_to_tensor(colorizer.colorize(sketch_image(sketch), hints=hints, keep_lines=False,
                                                 fill_hints=False)[0])
        scores["network alone"].append(float(psnr((net * sketch)[None], target[None])[0]))
        for name, cfg in settings.items():
            start = time.perf_counter()
            filled = spread_hints(net[None], sketch, hints, cfg)[0]
            seconds.setdefault(name, []).append(time.perf_counter() - start)
            scores.setdefault(name, []).append(float(psnr((filled * sketch)[None], target[None])[0]))
    for name, values in scores.items():
        timing = f"{1000 * np.mean(seconds[name]):6.0f} ms" if name in seconds else ""
        print(f"{name:45s} {np.mean(values):6.2f} dB {timing}")


if __name__ == "__main__":
    main()
