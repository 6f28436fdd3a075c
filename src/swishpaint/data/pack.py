"""A compact copy of a colour-only corpus, to carry to a GPU machine.

`swishpaint data pack DIR OUT` writes every image of DIR/train and DIR/val (and DIR/sequences, when
present) as WebP with its longest side at most `max_side`, in the same layout, so training and
evaluation read OUT unchanged. The manifest is copied with its file names pointing at the packed files.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..files import atomic_write, atomic_write_text
from .datasets import DatasetError
from .demo_corpus import _fit
from .images import ImageError, list_images, load_rgb

FOLDERS = ("train", "val", "sequences")


def pack_corpus(root: str | Path, out: str | Path, max_side: int = 320, quality: int = 90,
                max_per_folder: int = 0) -> dict:
    """Pack `root` into `out`; returns {'images', 'bytes', 'skipped'}. Re-running skips packed files.

    quality 101 means lossless WebP. max_per_folder > 0 keeps an evenly spaced subset of each
    folder's images (e.g. fewer frames of each Live2D model) to fit a size budget.
    """
    root, out = Path(root), Path(out)
    if not (root / "train").is_dir():
        raise DatasetError(f"{root}: no train/ folder to pack")
    renamed: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for folder in FOLDERS:
        if not (root / folder).is_dir():
            continue
        by_dir: dict[Path, list[Path]] = {}
        for path in list_images(root / folder):
            by_dir.setdefault(path.parent, []).append(path)
        for paths in by_dir.values():
            if max_per_folder and len(paths) > max_per_folder and folder != "sequences":
                step = len(paths) / max_per_folder
                paths = [paths[int(i * step)] for i in range(max_per_folder)]
            for path in paths:
                rel = path.relative_to(root).as_posix()
                target = out / Path(rel).with_suffix(".webp")
                renamed[rel] = target.relative_to(out).as_posix()
                if target.is_file():
                    continue
                try:
                    im = _fit(load_rgb(path), max_side)
                except ImageError as e:
                    skipped[rel] = e.reason
                    renamed.pop(rel)
                    continue
                atomic_write(target, lambda tmp, im=im: im.save(tmp, format="WEBP", quality=min(quality, 100),
                                                                 lossless=quality > 100, method=6))
    if (root / "manifest.json").is_file():
        manifest = json.loads((root / "manifest.json").read_text())
        manifest["files"] = [dict(f, file=renamed[f["file"]]) for f in manifest.get("files", []) if f["file"] in renamed]
        manifest["packed"] = {"from": str(root), "max_side": max_side, "quality": quality,
                              "max_per_folder": max_per_folder}
        atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=1))
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"images": len(renamed), "bytes": size, "skipped": skipped}

