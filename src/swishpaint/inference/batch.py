"""Batch processing for the CLI: many files, one line per failure, the rest still processed.

Outputs are written atomically, so a failure never leaves a half-written file; the exit code is 1
when any input failed, 0 otherwise.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Callable, Iterable

from PIL import Image

from ..data.images import ImageError, image_grid, list_images, save_png

log = logging.getLogger(__name__)


def collect_inputs(inputs: Iterable[str | Path]) -> tuple[list[Path], list[str]]:
    """Files and folders -> image files (folders searched recursively), plus errors for missing paths."""
    files, errors = [], []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = list_images(p)
            if not found:
                errors.append(f"{p}: folder holds no PNG, JPEG or WEBP images")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            errors.append(f"{p}: no such file or folder")
    return files, errors


def process_files(files: list[Path], work: Callable[[Path], None], what: str, out_dir: Path,
                  errors: list[str] | None = None) -> int:
    """Run work(path) on every file; report failures one line each; print a summary; return the exit code."""
    from tqdm import tqdm

    errors = list(errors or [])
    for e in errors:
        print(f"swishpaint: error: {e}", file=sys.stderr)
    failed = len(errors)
    done = 0
    bar = tqdm(files, disable=len(files) < 2 or not sys.stderr.isatty(), unit="img", file=sys.stderr)
    for path in bar:
        try:
            work(path)
            done += 1
        except ImageError as e:
            failed += 1
            tqdm.write(f"swishpaint: error: {e}", file=sys.stderr)
        except ValueError as e:  # bad parameters for this file (e.g. hints on a model without hint input)
            failed += 1
            tqdm.write(f"swishpaint: error: {path}: {e}", file=sys.stderr)
    print(f"{what} {done} of {done + failed} input(s) into {out_dir}" + (f"; {failed} failed" if failed else ""))
    return 1 if failed else 0


def _hints_for(path: Path, hints: Path | None, single: bool) -> Path | None:
    """--hints is a file (one input) or a folder of <stem>.png hint files."""
    if hints is None:
        return None
    if hints.is_dir():
        match = hints / f"{path.stem}.png"
        return match if match.is_file() else None
    if not single:
        raise ValueError("--hints FILE needs exactly one input; give a folder of <stem>.png hints for many")
    return hints


def run_colorize(inputs: list[str], out_dir: Path, model: str | None = None, hints: str | None = None,
                 candidates: int = 1, size: int | None = None, device: str = "cpu", keep_lines: bool = True,
                 backend: str = "torch", fill_hints: bool = True) -> int:
    """`swishpaint colorize`: OUT/<stem>.png, and with K > 1 <stem>_c1..cK.png and <stem>_sheet.png."""
    from .colorizer import Colorizer

    files, errors = collect_inputs(inputs)
    hints_path = Path(hints) if hints else None
    if hints_path is not None and not hints_path.exists():
        raise FileNotFoundError(f"{hints_path}: no such hints file or folder")
    colorizer = Colorizer.load(model, device=device) if backend == "torch" else _onnx_colorizer(model, backend)
    if not 1 <= candidates <= colorizer.candidates:
        raise ValueError(f"--candidates must be between 1 and {colorizer.candidates} for this model")
    if hints_path is not None and hints_path.is_file() and len(files) != 1:
        raise ValueError("--hints FILE needs exactly one input; give a folder of <stem>.png hints for many")

    def work(path: Path) -> None:
        warnings: list[str] = []
        images = colorizer.colorize(path, hints=_hints_for(path, hints_path, len(files) == 1),
                                    candidates=candidates, size=size, keep_lines=keep_lines,
                                    fill_hints=fill_hints, warnings=warnings)
        for w in warnings:
            print(f"swishpaint: warning: {path}: {w}", file=sys.stderr)
        outputs = {out_dir / f"{path.stem}.png": images[0]}
        if candidates > 1:
            outputs.update({out_dir / f"{path.stem}_c{i + 1}.png": im for i, im in enumerate(images)})
            outputs[out_dir / f"{path.stem}_sheet.png"] = contact_sheet(images)
        for target, im in outputs.items():
            save_png(im, target)

    return process_files(files, work, "colourised", out_dir, errors)


def contact_sheet(images: list[Image.Image], columns: int = 3, max_cell: int = 384) -> Image.Image:
    """Candidates side by side (scaled so a cell is at most max_cell pixels)."""
    scale = min(1.0, max_cell / max(images[0].size))
    cells = [im.resize((max(1, int(im.width * scale)), max(1, int(im.height * scale))), Image.LANCZOS)
             if scale < 1 else im for im in images]
    return image_grid([cells[i:i + columns] for i in range(0, len(cells), columns)])


def _onnx_colorizer(model: str | None, backend: str):
    from .onnx import OnnxColorizer

    return OnnxColorizer.load(model)


def run_lines(inputs: list[str], out_dir: Path, method: str = "xdog") -> int:
    """`swishpaint lines`: OUT/<stem>.png line art for every input image."""
    from ..data.images import load_rgb
    from ..data.lines import extract_lines

    files, errors = collect_inputs(inputs)

    def work(path: Path) -> None:
        sketch = extract_lines(load_rgb(path), method)
        save_png(Image.fromarray((sketch * 255).round().byte().numpy(), "L"), out_dir / f"{path.stem}.png")

    return process_files(files, work, "extracted lines from", out_dir, errors)

