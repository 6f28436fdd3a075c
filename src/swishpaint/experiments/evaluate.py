"""Score colourings: a model on a dataset's held-out split, or existing prediction folders.

Rows, all computed in the same run on the same images, sketches and hints:
- automatic: the model's first candidate (default output, flats only, the network alone), the best of
  its K candidates (lowest L1 to the ground truth), and the "sketch as output" baseline;
- for each hint protocol with N hints (user-like: one dab in each of the N largest coloured regions;
  random: N patches anywhere): the model (default output, flats, the network alone) against the
  classical references, region fill from the hints alone and Levin et al. (2004);
- the oracle flat fill (every region in its true mean colour), the ceiling of flat colouring.
Columns: PSNR,
SSIM, FSIM(c), mean CIE ΔE, Lab chroma, colourfulness, FID (when an Inception file is available),
and the candidates' diversity (mean pairwise ΔE).
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal

import numpy as np
import torch
from PIL import Image

from ..configs import DEFAULT_VAL_PERCENT, INFERENCE_DEVICE
from ..data.datasets import DataConfig, SketchColorDataset
from ..data.hints import held_out_hints
from ..data.images import ImageError, image_to_tensor, list_images, load_rgb, tensor_to_image
from ..errors import InvalidArgument
from ..files import atomic_write_text
from ..inference.batch import CANDIDATE_TAIL, SHEET_TAIL
from ..inference.layered import LABEL_MAP_SUFFIX
from ..metrics.fid import FIDUnavailable, InceptionFeatures, fid_from_features, find_inception
from ..metrics.fsim import fsim
from ..metrics.quality import MIN_SIDE, candidate_diversity, chroma, colourfulness, delta_e, psnr, ssim
from ..metrics.ranking import closest_candidate
from ..regions.classical import levin_colorize, oracle_flats, region_fill
from ..regions.segment import Segmentation, segment
from ..regions.user_hints import USER_LIKE  # registers the user-like protocol

EVALUATED_PROTOCOLS = (USER_LIKE, "patches")  # evaluate reports both, each beside its classical references

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


# automatic: the model's candidate 1 (default output / flats / network alone), the best of K, the sketch;
# per hint protocol: the model (default / flats / network alone), region fill and Levin 2004;
# oracle flats; prediction: a folder's images
RowKind = Literal["candidate_1", "flats", "network", "best", "sketch", "oracle_flats", "hints", "hints_flats",
                  "hints_network", "region_fill", "levin", "prediction"]
FID_KINDS = ("candidate_1", "flats", "network", "sketch", "oracle_flats", "prediction")  # FID of a selection
# or a hinted result means little


@dataclass
class Row:
    """One table row: `kind` says what it scores (code matches on it), `name` is only for people."""

    kind: RowKind
    name: str
    scores: Scores = field(default_factory=Scores)
    protocol: str | None = None  # the hint protocol of a hinted row
    means: dict[str, float] = field(default_factory=dict)  # metric -> mean over the images

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **({"protocol": self.protocol} if self.protocol else {}), **self.means}


@dataclass
class Evaluation:
    """An evaluation's rows plus what was scored (`about`: model or folders, data, sizes)."""

    about: dict[str, Any]
    rows: list[Row]
    fid_note: str = ""
    diversity: float | None = None  # mean pairwise ΔE between a sketch's candidates

    def row(self, kind: RowKind, protocol: str | None = None) -> Row | None:
        return next((r for r in self.rows if r.kind == kind and r.protocol == protocol), None)

    def to_dict(self) -> dict[str, Any]:
        """The JSON report: `table` maps each row's name to its kind and metric means."""
        return {**self.about, "diversity": self.diversity, "fid_note": self.fid_note,
                "table": {r.name: r.to_dict() for r in self.rows}}


def sketch_image(sketch: torch.Tensor) -> Image.Image:
    """(1, H, W) sketch tensor -> the 8-bit greyscale image the model is scored on (scripts reuse it)."""
    return tensor_to_image(sketch)


def _summarise(rows: list[Row]) -> None:
    for row in rows:
        row.means = row.scores.summary()


def _add_fid(rows: list[Row], targets: list[torch.Tensor], inception_weights: str | None,
             enabled: bool = True) -> str:
    """Add 'fid' to the means of every row of a FID_KINDS kind; returns how FID was computed or why not,
    or nothing when it was switched off (no note about a number nobody asked for)."""
    if not enabled:
        return ""
    if len({t.shape for t in targets}) > 1:
        return "FID unavailable: images differ in size"
    try:
        net = InceptionFeatures(find_inception(inception_weights))
        real = torch.cat([net(torch.stack(targets[i:i + 16])) for i in range(0, len(targets), 16)])
        for row in rows:
            if row.kind not in FID_KINDS:
                continue
            images = row.scores.images
            fake = torch.cat([net(torch.stack(images[i:i + 16])) for i in range(0, len(images), 16)])
            row.means["fid"] = fid_from_features(real, fake)
        return f"FID with {net.name} on {len(targets)} images"
    except FIDUnavailable as e:
        return f"FID unavailable: {e}"


@dataclass
class HeldOutImage:
    """One held-out image as evaluation scores it: the sketch (8-bit image and (H, W) floats), the truth
    ((3, H, W) tensor and (H, W, 3) array) and the sketch's regions."""

    index: int
    item: dict[str, torch.Tensor]
    sketch_grey: Image.Image
    sketch: np.ndarray
    target: torch.Tensor
    truth: np.ndarray
    segmentation: Segmentation


def leave_out(error: ImageError, left_out: list[str] | None, what: str = "left out") -> None:
    """An image that cannot be scored: said on stderr in one line, and its reason kept for the report."""
    print(f"swishpaint: error: {error} ({what})", file=sys.stderr)
    if left_out is not None:
        left_out.append(str(error))


def held_out_images(data: SketchColorDataset, images: int, segment_config, progress: bool = False,
                    desc: str = "evaluate", left_out: list[str] | None = None) -> Iterator[HeldOutImage]:
    """The first `images` (all if <= 0) of a held-out split, sketched and segmented once each. An
    unreadable file is left out, said on stderr in one line, and its reason appended to `left_out`."""
    n = len(data) if images <= 0 else min(images, len(data))
    indices = range(n)
    if progress:
        from tqdm import tqdm
        indices = tqdm(indices, desc=desc)
    for i in indices:
        try:
            item = data.read(i)
        except ImageError as e:
            leave_out(e, left_out)
            continue
        sketch_im = sketch_image(item["sketch"])
        sketch = np.asarray(sketch_im, np.float32) / 255
        target = item["color"]
        yield HeldOutImage(i, item, sketch_im, sketch, target, target.permute(1, 2, 0).numpy(),
                           segment(sketch, segment_config))


@torch.no_grad()
def evaluate_model(model: str | None, data_root: str, size: int = 256, images: int = 0, hint_patches: int = 20,
                   line_method: str = "dilate", inception_weights: str | None = None, seed: int = 0,
                   device: str = INFERENCE_DEVICE, progress: bool = False, fid: bool = True,
                   val_percent: float = DEFAULT_VAL_PERCENT) -> Evaluation:
    """Colourise a dataset's held-out split with every candidate and score it (see module docstring).
    `val_percent`: the held-out share of a folder without train/ and val/, as training's data.val_percent."""
    from ..inference.colorizer import Colorizer

    colorizer = Colorizer.load(model, device=device, working_size=size)
    data = SketchColorDataset(DataConfig(root=data_root, size=size, line_method=line_method, val_percent=val_percent),
                              "val", train=False)
    n = len(data) if images <= 0 else min(images, len(data))
    k = colorizer.candidates
    rows: dict[tuple[str, str | None], Row] = {}

    def add(kind: RowKind, name: str, colours, target: torch.Tensor, protocol: str | None = None) -> None:
        """Score (3, H, W) tensor or (H, W, 3) array colours in row (kind, protocol), made on first use."""
        if not isinstance(colours, torch.Tensor):
            colours = torch.from_numpy(np.ascontiguousarray(colours, np.float32)).permute(2, 0, 1)
        row = rows.setdefault((kind, protocol), Row(kind, name, protocol=protocol))
        row.scores.add(colours.float(), target)

    protocols = EVALUATED_PROTOCOLS if colorizer.takes_hints and hint_patches else ()
    targets, diversity = [], []
    left_out: list[str] = []
    for image in held_out_images(data, n, colorizer.segment_config, progress, left_out=left_out):
        i, item, sketch_im, sketch = image.index, image.item, image.sketch_grey, image.sketch
        target, truth, seg = image.target, image.truth, image.segmentation  # seg: shared by every row below
        colouring = colorizer.colorize_regions(sketch_im, candidates=k, segmentation=seg)
        first_flats = colouring.flats(0)  # candidate 1 in three outputs: its flats made once
        cands = torch.stack([torch.from_numpy(colouring.image(c, "final", flats=first_flats if c == 0 else None))
                             .permute(2, 0, 1).float() / 255 for c in range(k)])
        best = int(closest_candidate(cands[None], target[None])[0])
        add("sketch", "sketch as output", item["sketch"].expand(3, -1, -1), target)
        add("candidate_1", "model (candidate 1)", cands[0], target)
        add("flats", "model flats (candidate 1)", colouring.image(0, "flat", flats=first_flats) / 255.0, target)
        add("network", "model network only (candidate 1)", colouring.image(0, "network") / 255.0, target)
        add("best", f"model (best of {k})", cands[best], target)
        diversity.append(float(candidate_diversity(cands)))
        add("oracle_flats", "oracle flats (true mean per region)", oracle_flats(seg, truth, sketch), target)
        for protocol in protocols:
            hints_t = held_out_hints(item["sketch"], target, i, hint_patches, seed, protocol)
            hints = hints_t.permute(1, 2, 0).numpy()
            prefix = f"{hint_patches} {protocol} hints: "
            add("region_fill", prefix + "region fill", region_fill(seg, hints, sketch), target, protocol)
            add("levin", prefix + "Levin 2004", levin_colorize(sketch, hints), target, protocol)
            hinted = colorizer.colorize_regions(sketch_im, hints=hints_t, segmentation=seg)
            hinted_flats = hinted.flats(0)
            for output, kind, label in (("final", "hints", "model"), ("flat", "hints_flats", "model flats"),
                                        ("network", "hints_network", "model network only")):
                add(kind, prefix + label, hinted.image(0, output, flats=hinted_flats) / 255.0, target, protocol)
        targets.append(target)
    if not targets:
        raise InvalidArgument(f"{data_root}: no readable image in its held-out split to score")
    table = list(rows.values())
    _summarise(table)
    fid_note = _add_fid(table, targets, inception_weights, fid)
    about = {"model": model or "bundled demo", "data": data_root, "split": "val", "val_percent": val_percent,
             "images": n - len(left_out), "left_out": left_out, "size": size,
             "line_method": line_method, "candidates": k, "hints": hint_patches, "hint_protocols": list(protocols)}
    return Evaluation(about, table, fid_note, float(np.mean(diversity)))


class FolderMismatch(ValueError):
    """Prediction and ground-truth folders do not hold the same file names."""


def _check_folder(folder: str) -> None:
    """A missing folder lists no images, which would read as every file missing from it: name it instead."""
    path = Path(folder)
    if not path.exists():
        raise InvalidArgument(f"{folder}: no such folder")
    if not path.is_dir():
        raise InvalidArgument(f"{folder}: not a folder")


def _images_by_name(folder: str) -> dict[str, Path]:
    """Images under `folder` by relative path without suffix ('s1/a'): names repeat across subfolders (a
    colorize output keeps them); one image under two suffixes (a.png, a.jpg) cannot be matched."""
    found: dict[str, Path] = {}
    for path in list_images(folder):
        name = path.relative_to(folder).with_suffix("").as_posix()
        if name in found:
            raise FolderMismatch(f"{found[name]} and {path} in {folder} are the same image under two suffixes")
        found[name] = path
    return found


def _candidate_of(name: str, gt: dict[str, Path]) -> str | None:
    """The ground-truth name whose candidate `name` is (<name>_cN, as colorize writes them), else None."""
    base, _, number = name.rpartition(CANDIDATE_TAIL)
    return base if base in gt and number.isdigit() and name not in gt else None


def _is_extra(name: str, gt: dict[str, Path]) -> bool:
    """Beside a prediction, what colorize also writes: candidates, the contact sheet, the label map. A name
    the ground truth itself holds (a drawing called model_sheet) is never one."""
    if name in gt:
        return False
    return _candidate_of(name, gt) is not None or any(
        name.endswith(tail) and name[:-len(tail)] in gt for tail in (SHEET_TAIL, Path(LABEL_MAP_SUFFIX).stem))


def evaluate_folders(pred_dir: str, gt_dir: str, sketch_dir: str | None = None,
                     inception_weights: str | None = None, fid: bool = True) -> Evaluation:
    """Score predictions against ground truth matched by relative path without suffix (prediction resized to
    the truth). An image that cannot be read is left out, said on stderr, and listed in about["left_out"]."""
    for folder in filter(None, (pred_dir, gt_dir, sketch_dir)):
        _check_folder(folder)
    gt = _images_by_name(gt_dir)
    if not gt:
        raise InvalidArgument(f"{gt_dir}: holds no PNG, JPEG or WEBP images to score against")
    preds = _images_by_name(pred_dir)
    main = {n: p for n, p in preds.items() if n in gt}
    cand_files: dict[str, list[Path]] = {}
    for n, p in sorted(preds.items()):
        if (base := _candidate_of(n, gt)) is not None:
            cand_files.setdefault(base, []).append(p)
    extra = sorted(n for n in preds if n not in gt and not _is_extra(n, gt))
    left_out: list[str] = []
    for name in sorted(set(gt) - set(main)):  # a truth that cannot be read has no prediction to miss:
        try:  # colorize failed on it too. Left out and said, as an unreadable image is below
            load_rgb(gt[name])
        except ImageError as e:
            leave_out(e, left_out)
            del gt[name]
    missing_pred = sorted(set(gt) - set(main))
    if missing_pred or extra:
        parts = []
        if missing_pred:
            parts.append(f"missing in {pred_dir}: {', '.join(missing_pred[:10])}" + (" ..." if len(missing_pred) > 10 else ""))
        if extra:
            parts.append(f"missing in {gt_dir}: {', '.join(extra[:10])}" + (" ..." if len(extra) > 10 else ""))
        raise FolderMismatch("; ".join(parts))
    sketches = _images_by_name(sketch_dir) if sketch_dir else {}
    if sketch_dir and set(gt) - set(sketches):
        raise FolderMismatch(f"missing in {sketch_dir}: {', '.join(sorted(set(gt) - set(sketches))[:10])}")
    prediction, best_row, sketch_row = (Row("prediction", "prediction"), Row("best", "best candidate"),
                                        Row("sketch", "sketch as output"))
    rows = [prediction] + ([best_row] if cand_files else []) + ([sketch_row] if sketch_dir else [])
    targets, diversity = [], []
    for name in sorted(gt):
        try:
            target_im = load_rgb(gt[name])
            if min(target_im.size) < MIN_SIDE:
                raise ImageError(str(gt[name]), f"{target_im.width}x{target_im.height} is too small to score "
                                 f"(at least {MIN_SIDE}x{MIN_SIDE} pixels)")
            resize = lambda im: im.resize(target_im.size, Image.BICUBIC) if im.size != target_im.size else im
            pred = image_to_tensor(resize(load_rgb(main[name])))
            cands = [image_to_tensor(resize(load_rgb(p))) for p in cand_files.get(name, [])]
            sketch = image_to_tensor(resize(load_rgb(sketches[name]))) if sketch_dir else None
        except ImageError as e:  # this image only: the rest are scored, and the exit code says it
            leave_out(e, left_out)
            continue
        target = image_to_tensor(target_im)
        prediction.scores.add(pred, target)
        if cands:
            c = torch.stack(cands)
            best_row.scores.add(c[int(closest_candidate(c[None], target[None])[0])], target)
            diversity.append(float(candidate_diversity(c)))
        if sketch is not None:
            sketch_row.scores.add(sketch, target)
        targets.append(target)
    if not targets:
        raise InvalidArgument(f"{gt_dir}: none of its {len(gt)} image(s) could be scored")
    _summarise(rows)
    fid_note = _add_fid(rows, targets, inception_weights, fid)
    return Evaluation({"pred": pred_dir, "gt": gt_dir, "images": len(targets), "left_out": left_out}, rows, fid_note,
                      float(np.mean(diversity)) if diversity else None)


def format_table(result: Evaluation, markdown: bool = False) -> str:
    """The result's table as aligned text or markdown."""
    cols = [c for c in COLUMNS if any(c in row.means for row in result.rows)]
    head = ["row"] + [c.replace("_", " ") for c in cols]
    rows = [[row.name] + [f"{row.means[c]:.4f}" if c in ("ssim", "fsim") else f"{row.means[c]:.2f}"
                          if c in row.means else "-" for c in cols] for row in result.rows]
    lines = table_lines(head, rows, markdown)
    notes = [result.fid_note] if result.fid_note else []
    if result.diversity is not None:
        notes.append(f"candidate diversity (mean pairwise ΔE): {result.diversity:.2f}")
    return "\n".join(lines + [""] + notes)


def table_lines(head: list[str], rows: list[list[str]], markdown: bool = False) -> list[str]:
    """A table as aligned text lines, or markdown."""
    if markdown:
        return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    return ["  ".join(x.ljust(w) for x, w in zip(r, widths)) for r in [head] + rows]


def write_reports(result: Evaluation, json_path: str | None, markdown_path: str | None) -> None:
    if json_path:
        atomic_write_text(json_path, json.dumps(result.to_dict(), indent=1))
    if markdown_path:  # what was scored, first: a saved table must say where its numbers come from
        said = "; ".join(f"{key.replace('_', ' ')} {', '.join(map(str, value)) if isinstance(value, list) else value}"
                         for key, value in result.about.items() if key != "left_out" and value not in (None, "", []))
        left = len(result.about.get("left_out") or [])
        atomic_write_text(markdown_path, f"Scored: {said}" + (f"; {left} image(s) left out" if left else "") + ".\n\n"
                          + format_table(result, markdown=True) + "\n")
