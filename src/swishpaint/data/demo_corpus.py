"""The demo training corpus: freely licensed colour illustrations from Debian packages.

`swishpaint data build-demo --out DIR` downloads the packages (apt-get download), unpacks them
(dpkg -x), renders SVG with cairosvg, composites on white, filters out icons, flags, text and
near-blank images, resizes to at most `max_side` pixels, writes DIR/train and DIR/val (colour-only
layout: sketches are extracted at training time) and DIR/manifest.json with sources, versions,
licences, files and counts. The few anime-style images are weighted up with crops at several scales.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import shutil
import subprocess
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import require_extra
from ..files import atomic_write_text, prepare_output_dir
from .datasets import DatasetError, hash_split
from .images import ImageError, fit_within, load_rgb, save_png

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    package: str
    licence: str
    patterns: tuple[str, ...]  # globs below the unpacked tree
    exclude: tuple[str, ...] = ()
    anime: bool = False  # weighted up with extra crops
    held_out: tuple[str, ...] = ()  # file stems always in val (whole characters, no leaks)


SOURCES = (
    Source("renpy-demo", "Expat (MIT)",
           ("*/images/eileen *.png", "*/images/lucy *.png", "*/images/concert*.png"),
           anime=True, held_out=("lucy mad", "lucy happy", "concert3")),
    Source("wesnoth-1.16-data", "GPL-2+", ("*/images/portraits/*.png", "*/images/portraits/*.webp"),
           exclude=("*transparent*", "*mask*")),
    Source("tuxpaint-stamps-default", "GPL-2+", ("*/stamps/*.svg", "*/stamps/*.png"),
           exclude=("*/symbols/*", "*/seasonal/*flag*", "*_mirror*", "*/shapes/*", "*/text/*")),
    Source("openclipart-svg", "public domain", ("*/openclipart/*.svg",),
           exclude=("*/symbols/*", "*flag*", "*/signs*", "*icon*", "*logo*", "*text*", "*letter*",
                    "*alphabet*", "*font*", "*arrow*", "*button*", "*banner*", "*map*", "*number*")),
)

VAL_PERCENT = 8.0


@dataclass
class Filter:
    min_side: int = 96
    min_ink: float = 0.08  # share of non-white pixels
    min_colourfulness: float = 18.0  # Hasler & Süsstrunk (2003) over the non-white pixels
    max_dominant: float = 0.6  # share of the most common colour among non-white pixels
    min_colours: int = 4  # colours (4 bits/channel) holding >= 1% of the non-white pixels each


def judge(rgb: Image.Image, f: Filter = Filter()) -> str | None:
    """None if the image is a usable illustration, else the reason to reject it."""
    if min(rgb.size) < f.min_side:
        return "tiny"
    a = np.asarray(rgb, dtype=np.int32)
    ink = (a < 235).any(axis=2)
    if ink.mean() < f.min_ink:
        return "near-blank"
    px = a[ink]
    rg = px[:, 0] - px[:, 1]
    yb = (px[:, 0] + px[:, 1]) / 2 - px[:, 2]
    colourfulness = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(np.abs(rg.mean()), np.abs(yb.mean()))
    if colourfulness < f.min_colourfulness:
        return "not colourful"
    q = (px[:, 0] >> 4) * 256 + (px[:, 1] >> 4) * 16 + (px[:, 2] >> 4)
    shares = np.bincount(q, minlength=4096) / len(q)
    if shares.max() > f.max_dominant:
        return "one colour"
    if (shares >= 0.01).sum() < f.min_colours:
        return "too few colours (icon, flag or text)"
    return None


def _render(path: Path, width: int) -> Image.Image:
    if path.suffix.lower() == ".svg":
        import cairosvg

        try:
            png = cairosvg.svg2png(url=str(path), output_width=width)
        except Exception as e:  # cairosvg raises many kinds on bad SVG
            raise ImageError(str(path), f"cannot render SVG ({type(e).__name__})") from None
        return load_rgb(png, name=str(path))
    return load_rgb(path)


def anime_crops(im: Image.Image, max_side: int) -> list[Image.Image]:
    """Extra views of a rare anime image: squares at two scales sliding over it."""
    crops = []
    for frac in (0.5, 0.75):
        side = int(min(im.size) * frac)
        step = max(1, side // 2)
        for top in range(0, im.height - side + 1, step):
            for left in range(0, im.width - side + 1, step):
                crops.append(fit_within(im.crop((left, top, left + side, top + side)), max_side))
    return crops


def _process(task: tuple) -> dict:
    source, path, out_dir, split, max_side = task
    stem = f"{source.package}--{_slug(path)}"
    record = {"source": source.package, "origin": str(path), "split": split, "files": []}
    try:
        im = _render(path, max_side)
    except ImageError as e:
        record["rejected"] = e.reason.split(" (")[0]
        return record
    reason = judge(im)
    if reason:
        record["rejected"] = reason
        return record
    views = [fit_within(im, max_side)]
    if source.anime and split == "train":
        views += anime_crops(im, max_side)
    for i, view in enumerate(views):
        name = f"{split}/{stem}{'' if i == 0 else f'-crop{i}'}.png"
        save_png(view, Path(out_dir) / name)
        record["files"].append(name)
    return record


def _slug(path: Path) -> str:
    parts = path.with_suffix("").parts[-2:]
    return "-".join(p.replace(" ", "_") for p in parts)


def fetch_package(package: str, cache: Path) -> tuple[Path, str]:
    """apt-get download + dpkg -x into cache; returns (unpacked tree, version)."""
    cache.mkdir(parents=True, exist_ok=True)
    debs = sorted(cache.glob(f"{package}_*.deb"))
    if not debs:
        run = subprocess.run(["apt-get", "download", package], cwd=cache, capture_output=True, text=True)
        debs = sorted(cache.glob(f"{package}_*.deb"))
        if run.returncode != 0 or not debs:
            reason = (run.stderr.strip().splitlines() or ["no .deb file appeared"])[-1]
            raise DatasetError(f"apt-get download {package} failed: {reason} (run 'apt-get update' first?)")
    deb = debs[-1]
    version = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], check=True, capture_output=True,
                             text=True).stdout.strip()
    tree = cache / f"x_{package}"
    if not tree.is_dir():
        tmp = cache / f".x_{package}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run(["dpkg", "-x", str(deb), str(tmp)], check=True)
        tmp.rename(tree)
    return tree, version


def _select(source: Source, tree: Path, max_files: int) -> list[Path]:
    files = sorted(p for p in tree.rglob("*") if p.is_file()
                   and any(fnmatch.fnmatch(str(p), pat) for pat in source.patterns)
                   and not any(fnmatch.fnmatch(str(p).lower(), pat) for pat in source.exclude))
    if len(files) > max_files:  # a fixed, name-based sample: reproducible
        files = sorted(files, key=lambda p: zlib.crc32(str(p.relative_to(tree)).encode()))[:max_files]
    return files


def _split_of(source: Source, path: Path) -> str:
    if source.held_out:
        return "val" if path.stem in source.held_out else "train"
    return hash_split(path.stem, VAL_PERCENT)


def build_demo_corpus(out: str | Path, cache: str | Path, max_per_source: int = 2500, max_side: int = 512,
                      workers: int = 2, sources: tuple[Source, ...] = SOURCES, progress=None) -> dict:
    """Build the corpus into `out`; returns (and writes) the manifest."""
    start = time.time()
    require_extra("swishpaint data build-demo (SVG rendering)", "data", "cairosvg")  # before minutes of downloads
    out, cache = Path(out), Path(cache)
    prepare_output_dir(out)  # a file or read-only --out fails here, not after the downloads
    prepare_output_dir(cache)
    manifest: dict = {"sources": {}, "files": [], "max_side": max_side, "max_per_source": max_per_source}
    tasks = []
    for source in sources:
        tree, version = fetch_package(source.package, cache)
        files = _select(source, tree, max_per_source)
        manifest["sources"][source.package] = {"version": version, "licence": source.licence,
                                               "copyright": f"/usr/share/doc/{source.package}/copyright",
                                               "candidates": len(files)}
        tasks += [(source, p, out, _split_of(source, p), max_side) for p in files]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        records = pool.map(_process, tasks, chunksize=16)
        for record in (progress(records, total=len(tasks)) if progress else records):
            stats = manifest["sources"][record["source"]]
            if "rejected" in record:
                rejected = stats.setdefault("rejected", {})
                rejected[record["rejected"]] = rejected.get(record["rejected"], 0) + 1
                continue
            for name in record["files"]:
                manifest["files"].append({"file": name, "source": record["source"],
                                          "origin": record["origin"].split(f"x_{record['source']}")[-1],
                                          "split": record["split"]})
            key = f"{record['split']}_images"
            stats[key] = stats.get(key, 0) + len(record["files"])
            stats[f"{record['split']}_originals"] = stats.get(f"{record['split']}_originals", 0) + 1
    manifest["counts"] = {split: sum(1 for f in manifest["files"] if f["split"] == split) for split in ("train", "val")}
    manifest["seconds"] = round(time.time() - start, 1)
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=1))
    return manifest
