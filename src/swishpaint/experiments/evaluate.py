"""Score colourings: a model on a dataset's held-out split, or existing prediction folders.

Rows: the model's first candidate, the best of its K candidates (lowest L1 to the ground truth), the
model with N hint patches from the ground truth (with the hint fill, as users get it, and the network
alone), and the "sketch as output" baseline. Columns: PSNR,
SSIM, FSIM(c), mean CIE ΔE, Lab chroma, colourfulness, FID (when an Inception file is available),
and the candidates' diversity (mean pairwise ΔE).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from ..data.datasets import DataConfig, SketchColorDataset
from ..data.hints import sample_hints
from ..data.images import image_to_tensor, list_images, load_rgb
from ..files import atomic_write_text
from ..metrics.fid import FIDUnavailable, InceptionFeatures, fid_from_features, find_inception
from ..metrics.fsim import fsim
from ..metrics.quality import candidate_diversity, chroma, colourfulness, delta_e, psnr, ssim

log = logging.getLogger(__name__)

COLUMNS = ("psnr", "ssim", "fsim", "delta_e", "chroma", "colourfulness", "fid")


@dataclass
class Scores:
    """Per-image metric lists for one row, plus the images kept for FID."""

    values: dict[str, list[float]] = field(default_factory=dict)
    images: list[torch.Tensor] = field(default_factory=list)

    def add(self, pred: torch.Tensor, target: torch.Tensor, with_fsim: bool = True) -> None:
        pred, target = pred[None].clamp(0, 1), target[None]
        metrics = {"psnr": psnr(pred, target), "ssim": ssim(pred, target), "delta_e": delta_e(pred, target),
                   "chroma": chroma(pred), "colourfulness": colourfulness(pred)}
        if with_fsim:
            metrics["fsim"] = fsim(pred, target)
        for k, v in metrics.items():
            self.values.setdefault(k, []).append(float(v[0]))
        self.images.append(pred[0])

    def summary(self) -> dict[str, float]:
        return {k: float(np.mean(v)) for k, v in self.values.items()}


def sketch_image(sketch: torch.Tensor) -> Image.Image:
    """(1, H, W) sketch tensor -> the 8-bit greyscale image the model is scored on (scripts reuse it)."""
    return Image.fromarray((sketch[0] * 255).round().byte().numpy(), "L")


def _add_fid(table: dict[str, dict], rows: dict[str, Scores], targets: list[torch.Tensor],
             inception_weights: str | None, enabled: bool = True) -> str:
    """Fill table[row]['fid'] for every row; returns how FID was computed or why it was not."""
    if not enabled:
        return "FID not computed (switched off)"
    try:
        net = InceptionFeatures(find_inception(inception_weights))
        real = torch.cat([net(torch.stack(targets[i:i + 16])) for i in range(0, len(targets), 16)])
        for name, scores in rows.items():
            if "best of" in name or "hints" in name:  # FID of a selection or a hinted result means little
                continue
            fake = torch.cat([net(torch.stack(scores.images[i:i + 16])) for i in range(0, len(scores.images), 16)])
            table[name]["fid"] = fid_from_features(real, fake)
        return f"FID with {net.name} on {len(targets)} images"
    except FIDUnavailable as e:
        return f"FID unavailable: {e}"


@torch.no_grad()
def evaluate_model(model: str | None, data_root: str, size: int = 256, images: int = 0, hint_patches: int = 20,
                   line_method: str = "dilate", inception_weights: str | None = None, seed: int = 0,
                   device: str = "cpu", progress: bool = False, fid: bool = True) -> dict:
    """Colourise a dataset's held-out split with every candidate and score it (see module docstring)."""
    from ..inference.colorizer import Colorizer

    colorizer = Colorizer.load(model, device=device, working_size=size)
    data = SketchColorDataset(DataConfig(root=data_root, size=size, line_method=line_method), "val", train=False)
    n = len(data) if images <= 0 else min(images, len(data))
    k = colorizer.candidates
    rows = {"model (candidate 1)": Scores(), f"model (best of {k})": Scores(), "sketch as output": Scores()}
    hint_row = f"model + {hint_patches} hints" if colorizer.takes_hints and hint_patches else None
    if hint_row:  # with the hint fill (the default a user gets) and the network alone
        rows[hint_row] = Scores()
        rows[hint_row + " (no fill)"] = Scores()
    targets, diversity = [], []
    indices = range(n)
    if progress:
        from tqdm import tqdm
        indices = tqdm(indices, desc="evaluate")
    for i in indices:
        item = data[i]
        sketch_im = sketch_image(item["sketch"])
        target = item["color"]
        cands = torch.stack([image_to_tensor(im) for im in colorizer.colorize(sketch_im, candidates=k)])
        best = int((cands - target).abs().flatten(1).mean(1).argmin())
        rows["model (candidate 1)"].add(cands[0], target)
        rows[f"model (best of {k})"].add(cands[best], target)
        rows["sketch as output"].add(item["sketch"].expand(3, -1, -1), target)
        diversity.append(float(candidate_diversity(cands)))
        if hint_row:
            hints = sample_hints(target, np.random.default_rng([seed, i]), count=hint_patches)
            for row, fill in ((hint_row, True), (hint_row + " (no fill)", False)):
                colouring = colorizer.colorize(sketch_im, hints=hints, fill_hints=fill)[0]
                rows[row].add(image_to_tensor(colouring), target)
        targets.append(target)
    table = {name: s.summary() for name, s in rows.items()}
    fid_note = _add_fid(table, rows, targets, inception_weights, fid)
    return {"model": model or "bundled demo", "data": data_root, "split": "val", "images": n, "size": size,
            "line_method": line_method, "candidates": k, "diversity": float(np.mean(diversity)),
            "fid_note": fid_note, "table": table}


class FolderMismatch(ValueError):
    """Prediction and ground-truth folders do not hold the same file names."""


def evaluate_folders(pred_dir: str, gt_dir: str, sketch_dir: str | None = None,
                     inception_weights: str | None = None, fid: bool = True) -> dict:
    """Score predictions against ground truth matched by file stem (prediction resized to the truth)."""
    gt = {p.stem: p for p in list_images(gt_dir)}
    preds = {p.stem: p for p in list_images(pred_dir)}
    cand_files = {s: p for s, p in preds.items() if "_c" in s and s.rsplit("_c", 1)[1].isdigit()}
    main = {s: p for s, p in preds.items() if s not in cand_files and not s.endswith("_sheet")}
    missing_pred, missing_gt = sorted(set(gt) - set(main)), sorted(set(main) - set(gt))
    if missing_pred or missing_gt:
        parts = []
        if missing_pred:
            parts.append(f"missing in {pred_dir}: {', '.join(missing_pred[:10])}" + (" ..." if len(missing_pred) > 10 else ""))
        if missing_gt:
            parts.append(f"missing in {gt_dir}: {', '.join(missing_gt[:10])}" + (" ..." if len(missing_gt) > 10 else ""))
        raise FolderMismatch("; ".join(parts))
    rows = {"prediction": Scores()}
    if cand_files:
        rows["best candidate"] = Scores()
    if sketch_dir:
        rows["sketch as output"] = Scores()
    targets, diversity = [], []
    for stem in sorted(gt):
        target_im = load_rgb(gt[stem])
        target = image_to_tensor(target_im)
        resize = lambda im: im.resize(target_im.size, Image.BICUBIC) if im.size != target_im.size else im
        rows["prediction"].add(image_to_tensor(resize(load_rgb(main[stem]))), target)
        cands = [image_to_tensor(resize(load_rgb(p)))
                 for s, p in sorted(cand_files.items()) if s.rsplit("_c", 1)[0] == stem]
        if cands:
            c = torch.stack(cands)
            rows["best candidate"].add(c[int((c - target).abs().flatten(1).mean(1).argmin())], target)
            diversity.append(float(candidate_diversity(c)))
        if sketch_dir:
            matches = [p for p in list_images(sketch_dir) if p.stem == stem]
            if not matches:
                raise FolderMismatch(f"missing in {sketch_dir}: {stem}")
            rows["sketch as output"].add(image_to_tensor(resize(load_rgb(matches[0]))), target)
        targets.append(target)
    table = {name: s.summary() for name, s in rows.items()}
    fid_note = _add_fid(table, rows, targets, inception_weights, fid) if len({t.shape for t in targets}) == 1 \
        else "FID unavailable: images differ in size"
    return {"pred": pred_dir, "gt": gt_dir, "images": len(gt), "fid_note": fid_note,
            "diversity": float(np.mean(diversity)) if diversity else None, "table": table}


def format_table(result: dict, markdown: bool = False) -> str:
    """The result's table as aligned text or markdown."""
    cols = [c for c in COLUMNS if any(c in row for row in result["table"].values())]
    head = ["row"] + [c.replace("_", " ") for c in cols]
    lines = []
    rows = [[name] + [f"{row[c]:.4f}" if c in ("ssim", "fsim") else f"{row[c]:.2f}" if c in row else "-"
                      for c in cols] for name, row in result["table"].items()]
    if markdown:
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        lines += ["| " + " | ".join(r) + " |" for r in rows]
    else:
        widths = [max(len(x) for x in col) for col in zip(head, *rows)]
        for r in [head] + rows:
            lines.append("  ".join(x.ljust(w) for x, w in zip(r, widths)))
    notes = [result["fid_note"]]
    if result.get("diversity") is not None:
        notes.append(f"candidate diversity (mean pairwise ΔE): {result['diversity']:.2f}")
    return "\n".join(lines + [""] + notes)


def write_reports(result: dict, json_path: str | None, markdown_path: str | None) -> None:
    if json_path:
        atomic_write_text(json_path, json.dumps(result, indent=1))
    if markdown_path:
        atomic_write_text(markdown_path, format_table(result, markdown=True) + "\n")
