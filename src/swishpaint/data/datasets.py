"""Sketch/colour datasets, auto-detected from a folder's layout.

Layouts (each may sit in `train/` and `val/` sub-folders; without them the held-out split is a fixed
hash of the file name, `val_percent` of the files):
- 'kaggle': "Anime Sketch Colorization Pair" images, W = 2H, colour on the left half, sketch on the right;
- 'paired': `sketch/` and `color/` folders with matching file names (any image suffix);
- 'color': colour images only; sketches come from line extraction, cached on disk.

Every sample is a dict: sketch (1, S, S) in [0, 1] (1 = paper, 0 = ink), color (3, S, S) in [0, 1],
and, with hints on, hints (4, S, S) = hint RGB in [0, 1] (0 where none) + mask in {0, 1}.
"""

from __future__ import annotations

import json
import logging
import zlib
from dataclasses import dataclass, field
from typing import Literal
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ..configs import DEFAULT_VAL_PERCENT
from ..errors import OutputError, SwishpaintError
from .augment import LineStyle, aligned_augment, vary_hue, vary_line_style
from .hints import HintSampling, resolve_protocols, training_hints
from .images import DEFAULT_MAX_PIXELS, ImageError, image_to_tensor, list_images, load_grey, load_rgb, save_png, tensor_to_image
from .lines import extract_lines, random_xdog_params

log = logging.getLogger(__name__)


class DatasetError(SwishpaintError, ValueError):
    """A dataset folder cannot be used; the message names it and says why."""
SPLITS = {"train": ("train",), "val": ("val", "validation", "test")}
CACHE_DIR = ".swishpaint-cache"


@dataclass
class DataConfig:
    root: str = ""
    size: int = 256  # training crop size (multiple of the generator's 32)
    line_method: Literal["xdog", "dilate"] = "xdog"  # extraction method for colour-only folders
    line_style: LineStyle = field(default_factory=LineStyle)
    vary_lines: bool = True  # line-style augmentation for extracted sketches
    # chance that a training sample's colours (and so its hints) are turned round the grey axis by a
    # random angle (augment.rotate_hue): hues come from hints, or stay unsure on an unseen character
    hue_rotation: float = 0.0
    hints: HintSampling = field(default_factory=HintSampling)
    val_percent: float = DEFAULT_VAL_PERCENT
    workers: int = 0
    max_pixels: int = DEFAULT_MAX_PIXELS


@dataclass(frozen=True)
class SampleRef:
    """Where one sample comes from: a colour file, and a sketch file or None (kaggle half / extraction)."""

    color: Path
    sketch: Path | None
    name: str


def _split_dir(root: Path, split: str) -> Path | None:
    for name in SPLITS[split]:
        if (root / name).is_dir():
            return root / name
    return None


def check_run_outside_samples(root: str | Path, out_dir: str | Path) -> None:
    """DatasetError when a run's out_dir lies where the samples are searched for: its sample sheets
    would become training images of the next run or of a --resume, which would not continue as it was."""
    root = Path(root)
    searched = [d for d in (_split_dir(root, "train"), _split_dir(root, "val")) if d is not None] or [root]
    inside = next((d for d in searched if Path(out_dir).resolve().is_relative_to(d.resolve())), None)
    if inside is not None:
        raise DatasetError(f"out_dir {out_dir} is inside {inside}, where training images are read: its samples "
                           "would be trained on; put it outside")


def _is_side_by_side(path: Path) -> bool:
    try:
        with Image.open(path) as im:
            w, h = im.size
        return w == 2 * h
    except Exception:  # unreadable files are reported by the loader, not here
        return False


def _layout_of(folder: Path) -> str:
    if (folder / "sketch").is_dir() and (folder / "color").is_dir():
        return "paired"
    sample = list_images(folder)[:8]
    readable = [p for p in sample if _is_side_by_side(p)]
    return "kaggle" if sample and len(readable) >= max(1, len(sample) // 2) else "color"


def detect_layout(root: str | Path) -> str:
    """'kaggle', 'paired' or 'color' for a dataset folder (looking into train/ when present)."""
    root = check_root(root)
    return _layout_of(_split_dir(root, "train") or root)


def check_root(root: str | Path) -> Path:
    """DatasetError unless `root` is an existing folder (said the same way by every command that reads one)."""
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"{root}: no such dataset folder")
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    return root


def hash_split(name: str, val_percent: float = DEFAULT_VAL_PERCENT) -> str:
    """'val' for about val_percent % of names, else 'train': a fixed hash of the name, so a sample (or a
    whole character, named once for all its images) stays on its side however the folder grows."""
    return "val" if zlib.crc32(name.encode()) % 10000 < val_percent * 100 else "train"


def find_samples(root: str | Path, split: str, val_percent: float = DEFAULT_VAL_PERCENT) -> tuple[str, list[SampleRef]]:
    """The layout and the samples of one split ('train' or 'val') of a dataset folder."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    root = Path(root)
    layout = detect_layout(root)
    folder = _split_dir(root, split)
    by_hash = _split_dir(root, "train") is None and _split_dir(root, "val") is None
    if folder is None:
        if not by_hash:
            return layout, []
        folder = root
    refs: list[SampleRef] = []
    if layout == "paired":  # matched by the path below color/ and sketch/, suffix aside: x/a.png <-> x/a.jpg
        def key(path: Path, below: Path) -> str:
            return path.relative_to(below).with_suffix("").as_posix()

        sketches = {key(p, folder / "sketch"): p for p in list_images(folder / "sketch")}
        for color in list_images(folder / "color"):
            name = key(color, folder / "color")
            if name in sketches:
                refs.append(SampleRef(color, sketches[name], name))
            else:
                log.warning("%s: no matching sketch in %s; skipped", color, folder / "sketch")
    else:
        refs = [SampleRef(p, None, str(p.relative_to(folder))) for p in list_images(folder)]
    if by_hash:
        refs = [r for r in refs if hash_split(r.name, val_percent) == split]
    return layout, refs


class SketchColorDataset(Dataset):
    """(sketch, colour[, hints]) samples from any supported layout; see the module docstring.

    Augmentation is seeded by (seed, epoch, index), so a resumed run sees the same samples.
    A bad file is skipped with a warning naming it; the next good sample is returned instead.
    """

    def __init__(self, config: DataConfig, split: str = "train", train: bool | None = None,
                 with_hints: bool = False, seed: int = 0, line_method: str | None = None):
        self.config = config
        self.split = split
        self.train = split == "train" if train is None else train
        self.with_hints = with_hints
        self.seed = seed
        self.epoch = 0
        self.line_method = line_method or config.line_method
        self.root = Path(config.root)
        self.layout, self.samples = find_samples(self.root, split, config.val_percent)
        self.bad_files: dict[str, str] = {}
        self.hint_protocols = resolve_protocols(config.hints.protocols) if with_hints else {}
        if not self.samples:
            raise DatasetError(f"{self.root}: no images found for the {split!r} split (layout {self.layout})")

    def __len__(self) -> int:
        return len(self.samples)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _cached_sketch(self, ref: SampleRef, color: Image.Image) -> torch.Tensor:
        # keyed by the path below the root, split folder included (train/0.png and val/0.png are two
        # images), and used only when newer than its image and of its size (a replaced image is re-drawn)
        cache = self.root / CACHE_DIR / f"lines-{self.line_method}" / (str(ref.color.relative_to(self.root)) + ".png")
        try:
            fresh = cache.stat().st_mtime_ns >= ref.color.stat().st_mtime_ns
        except OSError:  # no cache yet
            fresh = False
        if fresh:
            try:
                sketch = load_grey(cache)
                if sketch.size == color.size:
                    return _grey_tensor(sketch)
            except ImageError:
                log.warning("%s: damaged sketch cache; recomputing", cache)
        params = random_xdog_params(np.random.default_rng(zlib.crc32(ref.name.encode()))) \
            if self.line_method == "xdog" else {}
        sketch = tensor_to_image(extract_lines(color, self.line_method, **params)[None])
        try:
            save_png(sketch, cache)
        except OutputError as e:  # a read-only dataset still trains, just slower
            log.debug("cannot cache %s: %s", cache, e)
        return _grey_tensor(sketch)  # 8-bit, as the cache holds it: the first read and every later one agree

    def load_pair(self, ref: SampleRef) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """Full-size (sketch (1,H,W), colour (3,H,W), extracted?) for one sample; raises ImageError."""
        color_im = load_rgb(ref.color, self.config.max_pixels)
        if self.layout == "kaggle":
            w, h = color_im.size
            if _not_a_pair(color_im.size):
                raise ImageError(str(ref.color), _not_a_pair(color_im.size))
            sketch = _grey_tensor(color_im.crop((h, 0, w, h)).convert("L"))
            return sketch, image_to_tensor(color_im.crop((0, 0, h, h))), False
        if ref.sketch is not None:
            sketch_im = load_grey(ref.sketch, self.config.max_pixels)
            if sketch_im.size != color_im.size:
                sketch_im = sketch_im.resize(color_im.size, Image.BILINEAR)
            return _grey_tensor(sketch_im), image_to_tensor(color_im), False
        return self._cached_sketch(ref, color_im), image_to_tensor(color_im), True

    def __getitem__(self, index: int) -> dict:
        """Sample `index`, or, when its file is unreadable, the next readable one (training goes on).
        item["skipped"] names the files skipped for it (a JSON list of [path, reason]): a loader's worker
        process cannot tell the trainer otherwise, so the trainer passes each batch's to `note_skipped`,
        which warns once per file and keeps `bad_files` in the process that reports."""
        skipped = []
        for attempt in range(len(self.samples)):
            ref = self.samples[(index + attempt) % len(self.samples)]
            try:
                item = self._item(ref, index)
            except ImageError as e:
                skipped.append([str(ref.color), e.reason])
                continue
            item["skipped"] = json.dumps(skipped)  # a string: the default collate keeps one per item
            return item
        last = ": ".join(skipped[-1]) if skipped else ""
        raise DatasetError(f"{self.root}: no readable image in the {self.split!r} split (e.g. {last})")

    def note_skipped(self, skipped: str | list[str]) -> None:
        """Record the files an item or a batch skipped (its "skipped"), warning once for each new one."""
        for text in [skipped] if isinstance(skipped, str) else skipped:
            for path, reason in json.loads(text):
                if path not in self.bad_files:
                    log.warning("skipping %s: %s", path, reason)
                    self.bad_files[path] = reason

    def read(self, index: int) -> dict:
        """Sample `index` itself; ImageError when its file is unreadable. An evaluation leaves such an
        image out rather than score a stand-in twice."""
        return self._item(self.samples[index], index)

    def _item(self, ref: SampleRef, index: int) -> dict:
        sketch, color, extracted = self.load_pair(ref)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        sketch, color = aligned_augment([sketch, color], self.config.size, rng, self.train)
        if self.train and extracted and self.config.vary_lines:
            sketch = vary_line_style(sketch, rng, self.config.line_style)
        if self.train:
            color = vary_hue(color, rng, self.config.hue_rotation)
        item = {"sketch": sketch, "color": color, "name": ref.name}
        if self.with_hints:
            item["hints"] = training_hints(sketch, color, rng, self.config.hints, self.hint_protocols)
        return item


def _grey_tensor(im: Image.Image) -> torch.Tensor:
    return image_to_tensor(im, "L")




def _not_a_pair(size: tuple[int, int]) -> str | None:
    """Why an image of a side-by-side (kaggle) dataset is no colour|sketch pair, or None."""
    w, h = size
    return None if w == 2 * h else f"expected a side-by-side pair (width = 2 x height), got {w}x{h}"


def check_dataset(root: str | Path, val_percent: float = DEFAULT_VAL_PERCENT, max_pixels: int = DEFAULT_MAX_PIXELS) -> dict:
    """Decode every file of a dataset: layout, counts per split, size range, unreadable files. 'samples'
    counts only samples whose files all decode (what training gets); 'unreadable' the others. A folder
    without a single image is no dataset, so it is an error, not a report of zeros."""
    report: dict = {"root": str(root), "layout": detect_layout(root), "splits": {}, "unreadable": {}}
    found = 0
    for split in SPLITS:
        _, refs = find_samples(root, split, val_percent)
        found += len(refs)
        sizes, bad = [], 0
        for ref in refs:
            readable = True
            for path in filter(None, (ref.color, ref.sketch)):
                try:
                    size = load_rgb(path, max_pixels).size
                    if report["layout"] == "kaggle" and _not_a_pair(size):  # as training would refuse it
                        raise ImageError(str(path), _not_a_pair(size))
                    sizes.append(size)
                except ImageError as e:
                    report["unreadable"][str(path)] = e.reason
                    readable = False
            bad += not readable
        report["splits"][split] = {
            "samples": len(refs) - bad,
            "unreadable": bad,
            "min_size": list(min(sizes, key=lambda s: s[0] * s[1])) if sizes else None,
            "max_size": list(max(sizes, key=lambda s: s[0] * s[1])) if sizes else None,
        }
    if not found:
        raise DatasetError(f"{root}: no images found in the train or val split (layout {report['layout']})")
    return report
