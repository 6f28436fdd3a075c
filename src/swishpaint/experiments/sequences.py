"""The animation benchmark: colour frames from a coloured keyframe and score them as BasicPBC does.

Data: folders of consecutive colour renders (frame_000.png, frame_001.png, ... on white), e.g. the
held-out Live2D sequences. Each frame's sketch is extracted from its render (method 'dilate', as
`evaluate` does) and segmented; the truth's colour of a region is its dominant colour, the per-channel
median of the render over the region's pixels off the lines. The reference frame's colours come from
the truth (the colourist's key), as in BasicPBC.

Pairs: next frame (i -> i+1) and 10 frames apart (i -> i+10), every i of every sequence.

Metrics (a colour is right when within ΔE76 `TOLERANCE` of the truth's dominant colour there, which
absorbs anti-aliasing and render noise but not a different part's colour):
- region accuracy: the share of the target's regions (the paper around the drawing left out) whose
  assigned colour is right;
- foreground pixel accuracy: the share of non-white truth pixels off the lines whose region's colour is
  right (BasicPBC's pixel accuracy, with flat truth colours per region);
- render pixel accuracy: the same pixels, each compared with the render's own colour there (no flat
  truth per region, so parts that the sketch's regions merge, and shading, count as errors).

Rows, in the same run on the same pairs:
- keyframe matching: the product's path (inference.sequence) from the reference frame alone;
- chained: the product's path through every frame in between (i -> i+1 -> ... -> i+10);
- max-overlap: each region takes the colour of the reference region it overlaps most, no alignment;
- independent: each frame coloured on its own by the model (automatic, its region flats).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..configs import INFERENCE_DEVICE
from ..data.images import ImageError, is_image_file, load_rgb, tensor_to_image, to_float_array
from ..data.lines import extract_lines
from ..errors import InvalidArgument
from ..files import atomic_write_text
from .evaluate import leave_out, table_lines
from ..metrics.quality import rgb_to_lab
from ..regions.flats import region_medians
from ..regions.matching import ColouredRegions, background_regions, max_overlap
from ..regions.segment import Segmentation, segment

if TYPE_CHECKING:
    from ..inference.sequence import SequenceConfig

TOLERANCE = 10.0  # ΔE76
WHITE = 0.95  # truth pixels with every channel at least this light are paper, not foreground
GAPS = {"next": 1, "10 apart": 10}
METRICS = {"region_accuracy": "region acc", "pixel_accuracy": "pixel acc", "render_pixel_accuracy": "render px acc"}
LINE_METHOD = "dilate"


@dataclass
class Frame:
    truth: np.ndarray  # (H, W, 3) in [0, 1]
    sketch: np.ndarray  # (H, W) in [0, 1]
    segmentation: Segmentation
    colours: np.ndarray  # (count, 3) the truth's dominant colour per region

    def key(self) -> ColouredRegions:
        return ColouredRegions(self.segmentation.labels, self.colours)


def load_frames(folder: Path) -> list[Frame]:
    frames = []
    for path in frame_files(folder):
        truth = to_float_array(load_rgb(path))
        sketch = to_float_array(tensor_to_image(extract_lines(truth, LINE_METHOD)[None]))  # the 8-bit sketch a user has
        seg = segment(sketch)
        frames.append(Frame(truth, sketch, seg,
                            region_medians(seg.labels, truth, seg.count, where=~seg.lines)))
    return frames


def find_sequences(root: str | Path) -> list[Path]:
    """Folders below root holding frame_* images, sorted."""
    return sorted({p.parent for p in Path(root).rglob("frame_*") if is_image_file(p)})


def frame_files(folder: Path) -> list[Path]:
    """A sequence's frames in order: frame_NNN as PNG from build-anime, or WEBP after `data pack`."""
    return sorted(p for p in folder.glob("frame_*") if is_image_file(p))


def sequence_folders(root: str | Path) -> list[Path]:
    """The sequences below root, refused in one line when they make no pair at all (every one too short),
    before the model loads: scoring nothing would print an empty table and pass."""
    if not Path(root).is_dir():
        raise InvalidArgument(f"{root}: {'not a folder' if Path(root).exists() else 'no such folder'}")
    folders = find_sequences(root)
    if not folders:
        raise InvalidArgument(f"{root}: no folders of frame_* renders (PNG, JPEG or WEBP) below it")
    least = min(GAPS.values()) + 1
    if all(len(frame_files(f)) < least for f in folders):
        needs = ", ".join(f'"{name}" {gap + 1}' for name, gap in GAPS.items())
        raise InvalidArgument(f"{root}: no sequence has {least} or more frames to pair (frames a pair needs: {needs})")
    return folders


def _lab(colours: np.ndarray) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(np.asarray(colours, np.float64).T))[None, :, :, None]
    return rgb_to_lab(t)[0, :, :, 0].T.numpy()


def accuracy(frame: Frame, colours: np.ndarray) -> tuple[float, float, float]:
    """(region accuracy, foreground pixel accuracy, render pixel accuracy) of per-region colours
    (count, 3) on a frame. The last compares each foreground pixel's assigned colour with the render's
    own pixel there, not with the region's dominant colour: no upper bound from how the sketch's
    regions merge parts, and shading inside a part counts against every flat colouring alike."""
    right = np.linalg.norm(_lab(colours) - _lab(frame.colours), axis=1) <= TOLERANCE
    seg = frame.segmentation
    counted = ~background_regions(seg)
    region = float(right[counted].mean()) if counted.any() else 1.0
    foreground = (frame.truth.min(2) < WHITE) & ~seg.lines
    if not foreground.any():
        return region, 1.0, 1.0
    pixel = float(right[seg.labels[foreground]].mean())
    assigned = _lab(colours)[seg.labels[foreground]]
    render = float((np.linalg.norm(assigned - _lab(frame.truth[foreground]), axis=1) <= TOLERANCE).mean())
    return region, pixel, render


@dataclass
class SequenceReport:
    sequences: list[str]
    # row -> gap -> (region, pixel, render pixel) accuracy per pair
    scores: dict[str, dict[str, list[tuple[float, float, float]]]] = field(default_factory=dict)
    seconds_per_frame: float = 0.0
    unmatched_per_frame: float = 0.0
    left_out: list[str] = field(default_factory=list)  # why each sequence that could not be read was left out

    def add(self, row: str, gap: str, score: tuple[float, float, float]) -> None:
        self.scores.setdefault(row, {}).setdefault(gap, []).append(score)

    def table(self) -> dict[str, dict[str, dict[str, float]]]:
        return {row: {gap: {**{m: float(np.mean([s[i] for s in v])) for i, m in enumerate(METRICS)}, "pairs": len(v)}
                      for gap, v in gaps.items()} for row, gaps in self.scores.items()}

    def to_dict(self) -> dict:
        return {"sequences": self.sequences, "tolerance_delta_e": TOLERANCE, "line_method": LINE_METHOD,
                "seconds_per_frame": self.seconds_per_frame, "unmatched_per_frame": self.unmatched_per_frame,
                "left_out": self.left_out, "table": self.table()}


def evaluate_sequences(root: str | Path, model: str | None = None, device: str = INFERENCE_DEVICE,
                       progress: bool = False, config: SequenceConfig | None = None,
                       references: bool = True) -> SequenceReport:
    """Score every row on every pair of every sequence below root (see the module docstring).
    config: the matching settings (inference.sequence's defaults if None); references=False scores the
    product's rows only (tuning)."""
    from ..inference.colorizer import Colorizer
    from ..inference.sequence import SequenceConfig, colour_sequence

    config = config or SequenceConfig()

    folders = sequence_folders(root)
    colorizer = Colorizer.load(model, device=device)
    report = SequenceReport([str(f) for f in folders])
    seconds, coloured, unmatched = 0.0, 0, 0
    for folder in folders:
        if progress:
            print(f"  {folder}", flush=True)
        try:
            frames = load_frames(folder)
        except ImageError as e:  # this sequence only: the others are scored, and the exit code says it
            leave_out(e, report.left_out, "sequence left out")
            report.sequences.remove(str(folder))
            continue
        independent = [colorizer.colorize_regions(f.sketch).flats(0).colours for f in frames] if references else []
        for gap_name, gap in GAPS.items():
            for i in range(len(frames) - gap):
                key, target = frames[i], frames[i + gap]
                start = time.perf_counter()
                direct = next(colour_sequence(colorizer, [target.sketch], key.key(), config))
                seconds += time.perf_counter() - start
                coloured += 1
                unmatched += len(direct.unmatched)
                chain = list(colour_sequence(colorizer, [f.sketch for f in frames[i + 1:i + gap + 1]], key.key(),
                                             config))
                report.add("keyframe matching", gap_name, accuracy(target, direct.colours))
                report.add("chained through the frames between", gap_name, accuracy(target, chain[-1].colours))
                if references:
                    report.add("max-overlap (no alignment)", gap_name,
                               accuracy(target, max_overlap(key.key(), target.segmentation.labels)))
                    report.add("independent (model, automatic)", gap_name, accuracy(target, independent[i + gap]))
    if not report.sequences:
        raise InvalidArgument(f"{root}: none of its {len(folders)} sequence(s) could be read")
    report.seconds_per_frame = seconds / max(coloured, 1)
    report.unmatched_per_frame = unmatched / max(coloured, 1)
    return report


def format_sequence_table(report: SequenceReport, markdown: bool = False) -> str:
    table = report.table()
    head = ["row"] + [f"{gap} {label}" for gap in GAPS for label in METRICS.values()]
    rows = [[row] + [f"{100 * gaps[g][m]:.1f}" if g in gaps else "-" for g in GAPS for m in METRICS]
            for row, gaps in table.items()]
    lines = table_lines(head, rows, markdown)
    pairs = {g: next(iter(table.values()))[g]["pairs"] for g in GAPS if table and g in next(iter(table.values()))}
    count = len(report.sequences)
    notes = [f"{count} sequence{'' if count == 1 else 's'}; pairs: " + ", ".join(f"{g} {n}" for g, n in pairs.items()),
             f"a colour is right within ΔE76 {TOLERANCE:g} of the truth's dominant colour in the region",
             f"keyframe matching: {report.seconds_per_frame:.3f} s per frame (segmentation, matching, network "
             f"fallback), {report.unmatched_per_frame:.2f} unmatched regions per frame"]
    return "\n".join(lines + [""] + notes)


def write_sequence_reports(report: SequenceReport, json_path: str | None, markdown_path: str | None) -> None:
    if json_path:
        atomic_write_text(json_path, json.dumps(report.to_dict(), indent=1))
    if markdown_path:
        atomic_write_text(markdown_path, format_sequence_table(report, markdown=True) + "\n")
