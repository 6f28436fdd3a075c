"""Bundle a trained cpu-demo run as the package's demo weights (src/swishpaint/weights/demo).

    python scripts/bundle_demo.py --run runs/cpu-demo --data data/demo

Takes the run's best generator (by validation PSNR) or a chosen checkpoint, ranks its candidates on
training images (not the held-out split, which the quality figures use), and writes config.yaml
(with the working size, the candidate order and the training record), model.safetensors (fp16) and
model.onnx; with --fit-data, the region chooser too (swishpaint fit-regions on those images). A
chooser fitted to the weights replaced goes with them (save_model), so without --fit-data the bundle
has none until `swishpaint fit-regions` fits one.
Candidates are ranked as users get them: through the region pipeline (flats + shading +
lines, automatic colouring). Ranking: candidates whose mean Lab chroma reaches --min-chroma come first,
each group by mean PSNR. Without that rule the default output is the greyish candidate (a grey wash
scores a high PSNR), which is not what a user asking for a colouring wants.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from swishpaint.configs import load_yaml
from swishpaint.data.datasets import DataConfig, DatasetError, SketchColorDataset
from swishpaint.metrics.quality import chroma, psnr
from swishpaint.inference.onnx import export_onnx
from swishpaint.experiments.fit_regions import fit_regions
from swishpaint.models import ModelCard, load_model, read_model_card, save_model
from swishpaint.models.registry import half_precision
from swishpaint.training.region_choice import ChooserFitConfig
from swishpaint.training.config import load_config
from swishpaint.training.validation import validate


@torch.no_grad()
def candidate_order(model, data_root: str, size: int, images: int,
                    min_chroma: float) -> tuple[list[int], list[float], list[float]]:
    from swishpaint.data.images import tensor_to_image
    from swishpaint.inference.colorizer import Colorizer

    colorizer = Colorizer(model, working_size=size)  # model order: candidate k is network output k
    data = SketchColorDataset(DataConfig(root=data_root, size=size), "train", train=False)
    step = max(1, len(data) // images)
    scores, chromas = [], []
    k = model.config.candidates
    for i in range(0, len(data), step)[:images]:
        item = data[i]
        colouring = colorizer.colorize_regions(tensor_to_image(item["sketch"]), candidates=k)
        # each candidate as it looks when shown first: its own paper (the others keep the first's too)
        cand = torch.stack([torch.from_numpy(colouring.image(c, flats=colouring.flats(c, first_paper=False)))
                            .permute(2, 0, 1).float() / 255 for c in range(k)])
        scores.append(psnr(cand, item["color"].expand_as(cand)).tolist())
        chromas.append(chroma(cand).tolist())
    mean, colour = np.mean(scores, axis=0), np.mean(chromas, axis=0)
    order = sorted(range(len(mean)), key=lambda k: (colour[k] < min_chroma, -mean[k]))
    return order, [float(v) for v in mean], [float(v) for v in colour]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--run", default="runs/cpu-demo")
    p.add_argument("--data", default="data/demo")
    p.add_argument("--checkpoint", help="generator folder to bundle (default: the run's best)")
    p.add_argument("--out", default="src/swishpaint/weights/demo")
    p.add_argument("--working-size", type=int, default=256)
    p.add_argument("--rank-images", type=int, default=200)
    p.add_argument("--min-chroma", type=float, default=15.0, help="mean Lab chroma of a 'coloured' candidate")
    p.add_argument("--fit-data", help="the region chooser's fitting images (characters the network never saw, "
                                      "scripts/eval_sets.py): fit the bundle's chooser on them")
    p.add_argument("--fit-images", type=int, default=0, help="with --fit-data: only the first N images")
    p.add_argument("--fit-epochs", type=int, default=ChooserFitConfig.epochs)
    args = p.parse_args()
    if (args.fit_images or args.fit_epochs != ChooserFitConfig.epochs) and not args.fit_data:
        p.error("--fit-images and --fit-epochs go with --fit-data")
    if args.fit_data:  # its held-out split is what fit-regions reads: checked before minutes of ranking
        try:
            SketchColorDataset(DataConfig(root=args.fit_data), "val", train=False)
        except DatasetError as e:
            p.error(f"--fit-data: {e}")
    run = Path(args.run)
    chosen = Path(args.checkpoint) if args.checkpoint else run / "best"
    model = load_model(chosen).eval()
    model.load_state_dict(half_precision(model.state_dict()))  # ships as fp16: rank what the file will hold
    if args.fit_data and model.config.in_channels != 5:
        p.error(f"{chosen}: takes no hints, so it has no use for a region chooser (leave out --fit-data)")
    card = read_model_card(chosen)
    order, means, colour = candidate_order(model, args.data, args.working_size, args.rank_images, args.min_chroma)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    train_cfg = load_yaml(run / "config.yaml")
    val = card.val or next(({k.removeprefix("val_"): v for k, v in e.items() if k.startswith("val_")}
                            for e in reversed(log) if e["step"] == card.step and "val_psnr" in e), None)
    if val is None:  # a time box stopped the run between validations: measure it as training would have
        run_cfg = load_config(run / "config.yaml")
        val = validate(model, SketchColorDataset(run_cfg.data, "val", train=False, seed=run_cfg.seed),
                       torch.device("cpu"), run_cfg.val_images, seed=run_cfg.seed)
    bundled = ModelCard(working_size=args.working_size, candidate_order=order,
                        candidate_mean_psnr_train=[round(m, 2) for m in means],
                        candidate_mean_chroma_train=[round(c, 2) for c in colour], ranking_min_chroma=args.min_chroma,
                        trained={"step": card.step, "val": val, "last_logged_step": log[-1]["step"],
                                 "config": train_cfg})
    save_model(model, args.out, bundled, half=True)  # removes a region chooser fitted to the weights it replaces
    export_onnx(args.out, args.out, overwrite=True)  # the weights just changed
    print(f"bundled step {card.step} into {args.out}; candidate order {order}")
    if args.fit_data:
        report = fit_regions(args.out, args.fit_data, images=args.fit_images,
                             cfg=ChooserFitConfig(epochs=args.fit_epochs))
        print(f"region chooser fitted on {report.regions} regions of {report.images} images: {report.path}")
    else:
        print(f"no region chooser: fit one with swishpaint fit-regions --model {args.out} --data DIR")


if __name__ == "__main__":
    main()
