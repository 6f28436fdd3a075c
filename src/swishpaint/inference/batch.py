"""Batch processing for the CLI: many files, one line per failure, the rest still processed.

Before any work, every input is given its own output names (planned in one place, plan_outputs):
inputs found in a folder keep their subfolders, a name that would clash with another input's outputs
gets a suffix, and no output may ever land on an input. An earlier result already at an output's
place fails that input (one line) unless --overwrite. Each input's outputs are written all or
nothing (files.FileGroup), so a failure - a bad image, a full disk - leaves no partial set and never
touches the other inputs' files. The exit code is 1 when any input failed, 0 otherwise.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from PIL import Image

from ..data.images import (LINE_ART, RESULT, fit_within, header_size, image_grid, list_images, output_png_info,
                           swishpaint_output)
from ..errors import InvalidArgument, OutputError, SwishpaintError, os_reason
from ..files import FileGroup, candidate_names, check_new_output, prepare_output_dir, refuse_existing
from .layered import LABEL_MAP_SUFFIX, LAYERED_SUFFIXES, label_map_path
from .options import ColorizeOptions, SequenceOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    """An input file and its path relative to what was named on the command line (its output name)."""

    path: Path
    relative: Path


@dataclass(frozen=True)
class Job:
    """One input and the output files planned for it (outputs[0] is the main result)."""

    source: Source
    outputs: tuple[Path, ...]


def collect_inputs(inputs: Iterable[str | Path], out_dir: Path | None = None,
                   not_sketches: Iterable[Path] = (), own: tuple[str, ...] = (RESULT,)) -> tuple[list[Source], list[str]]:
    """Files and folders -> image files (folders searched recursively, skipping out_dir and the
    `not_sketches` folders (hints) inside them, and swishpaint's own outputs of the `own` kinds found
    there; a file named twice is taken once), plus errors for missing paths."""
    files, errors = [], []
    skipped = [f.resolve() for f in ([out_dir] if out_dir is not None else []) + list(not_sketches)]
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            # an output or hints folder inside an input folder holds results or hints, not sketches; an
            # input folder inside the output folder (`-o .`) holds sketches all the same
            inside = [f for f in skipped if p.resolve() in f.parents]
            unreadable: list[Path] = []
            not_read: list[Path] = []  # TIFF, BMP, ...: said below
            found = [f for f in list_images(p, unreadable, not_read)
                     if not any(s in f.resolve().parents for s in inside)]
            errors.extend(f"{folder}: cannot read this folder; its images were left out"
                          for folder in unreadable)
            # this command's own earlier outputs (a re-run into the input folder) are not new inputs
            earlier = {f for f in found if swishpaint_output(f) in own}
            if earlier:
                found = [f for f in found if f not in earlier]
                print(f"swishpaint: note: {p}: left out {len(earlier)} earlier swishpaint output(s) (name a file "
                      "to read it all the same)", file=sys.stderr)
            others = Counter(f.suffix.lower() for f in not_read  # our own outputs' folders and layered files aside
                             if not any(s in f.resolve().parents for s in inside) and not _layered_output(f))
            if others:
                counts = ", ".join(f"{n} {suffix}" for suffix, n in sorted(others.items()))
                print(f"swishpaint: note: {p}: left out {counts} file(s): swishpaint reads PNG, JPEG and WEBP "
                      "(convert them to PNG)", file=sys.stderr)
            if not found and not unreadable and not earlier:
                errors.append(f"{p}: folder holds no PNG, JPEG or WEBP images")
            files.extend(Source(f, f.relative_to(p)) for f in found)
        elif p.is_file():
            files.append(Source(p, Path(p.name)))
        else:
            errors.append(f"{p}: no such file or folder")
    unique, seen = [], set()
    for source in files:
        resolved = source.path.resolve()
        if resolved not in seen:
            seen.add(resolved)
            unique.append(source)
    return unique, errors


def _layered_output(path: Path) -> bool:
    """A PSD or ORA swishpaint wrote (its label map is beside it): no sketch left out of a folder run."""
    return path.suffix.lower() in LAYERED_SUFFIXES and path.with_name(path.stem + LABEL_MAP_SUFFIX).is_file()


def plan_outputs(sources: list[Source], out_dir: Path, file_names: Callable[[str], list[str]],
                 also_inputs: Iterable[Path] = ()) -> list[Job]:
    """Give every input its own outputs: out_dir/<subfolders>/<name> + file_names(name).

    Names are compared as resolved paths, so `-o` pointing at the input folder (or through a link)
    cannot overwrite an input (a sketch, or one of `also_inputs`: hint files, a keyframe), not even
    with --overwrite, and no two inputs share an output. A PNG input chooses first: dog.png's result
    is dog.png, and dog.jpg's dog_jpg.png, whatever their order. Jobs come in the sources' order.
    """
    inputs = {s.path.resolve() for s in sources} | {Path(p).resolve() for p in also_inputs}
    taken: set[Path] = set()
    planned: dict[int, Job] = {}
    png_first = sorted(range(len(sources)), key=lambda i: sources[i].relative.suffix.lower() != ".png")
    for i in png_first:
        source = sources[i]
        folder = out_dir / source.relative.parent
        for name in candidate_names(source.relative):
            outputs = tuple(folder / f for f in file_names(name))
            resolved = {o.resolve() for o in outputs}
            if resolved.isdisjoint(taken) and resolved.isdisjoint(inputs):
                break
        taken |= resolved
        planned[i] = Job(source, outputs)
    return [planned[i] for i in range(len(sources))]


def left_from_earlier_runs(job: Job, planned: set[Path]) -> list[Path]:
    """swishpaint's own results beside job's main output that this run does not write: <name>_cN.png and
    <name>_sheet.png from a run with more candidates, <name>.labels.png and the layered file beside it
    from one with --layers. They would pass for this result's alternatives, so they are named in a
    warning; they are kept, as every file this run was not asked to write is (`planned`: every job's
    outputs, resolved). Exact names only, a few file checks a sketch, however full the folder."""
    main = job.outputs[0]
    name = main.stem

    def ours(path: Path) -> bool:
        return swishpaint_output(path) == RESULT  # None for a missing file or a person's own

    def is_file(path: Path) -> bool:  # a name too long to exist (a long stem + "_c1.png") is no file
        try:
            return path.is_file()
        except OSError:
            return False

    candidates = []
    for k in itertools.count(1):  # an earlier run wrote _c1.._cK, none missing between
        path = main.with_name(candidate_file(name, k))
        if not is_file(path):
            break
        candidates.append(path)
    labels = main.with_name(name + LABEL_MAP_SUFFIX)
    beside = [main.with_name(sheet_file(name)), labels]
    earlier = [p for p in candidates + beside if p.resolve() not in planned and ours(p)]
    if ours(labels):  # a layered run's, this one's or an earlier: a PSD has no mark, its label map speaks for it
        earlier += [p for p in (main.with_name(name + suffix) for suffix in LAYERED_SUFFIXES)
                    if is_file(p) and p.resolve() not in planned]
    return sorted(earlier, key=lambda p: (len(p.name), p.name))


def process_files(jobs: list[Job], work: Callable[[Job], None], what: str, out_dir: Path,
                  errors: list[str] | None = None, overwrite: bool = False, colourings: bool = False) -> int:
    """Run work(job) for every input whose outputs are free (or overwrite); report failures one line
    each; print a summary; return the exit code. colourings: warn, after each result, of the earlier
    runs' candidates, sheet or label map beside it that no longer match it (left_from_earlier_runs)."""
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    planned = {o.resolve() for job in jobs for o in job.outputs} if colourings else set()
    errors = list(errors or [])
    for e in errors:
        print(f"swishpaint: error: {e}", file=sys.stderr)
    failed = len(errors)
    show_bar = len(jobs) > 1 and sys.stderr.isatty()
    with logging_redirect_tqdm() if show_bar else contextlib.nullcontext():  # log lines above the bar too
        done, failed = _run_jobs(tqdm(jobs, disable=not show_bar, unit="img", file=sys.stderr), work,
                                 overwrite, planned, colourings, failed)
    print(f"{what} {done} of {done + failed} input(s) into {out_dir}" + (f"; {failed} failed" if failed else ""))
    return 1 if failed else 0


def report(line: str) -> None:
    """A line for the person about one input, on stderr: above the batch's progress bar, not after it."""
    from tqdm import tqdm

    tqdm.write(line, file=sys.stderr)


def _run_jobs(jobs: Iterable[Job], work: Callable[[Job], None], overwrite: bool, planned: set[Path],
              colourings: bool, failed: int) -> tuple[int, int]:
    """process_files's loop: (done, failed)."""
    done = 0
    for job in jobs:
        try:
            for output in job.outputs:
                refuse_existing(output, overwrite)
            work(job)
            done += 1
        except SwishpaintError as e:  # a bad image, bad hints, an output that cannot be written
            failed += 1
            message = str(e)
            if not message.startswith(str(job.source.path)) and not isinstance(e, OutputError):
                message = f"{job.source.path}: {message}"
            report(f"swishpaint: error: {message}")
        except OSError as e:  # what the file system refuses (a name too long to exist): this input alone
            failed += 1
            where = f" ({e.filename})" if e.filename and str(e.filename) != str(job.source.path) else ""
            report(f"swishpaint: error: {job.source.path}: {os_reason(e)}{where}")
        else:
            earlier = left_from_earlier_runs(job, planned) if colourings else []
            if earlier:
                report(f"swishpaint: warning: {job.source.path}: {', '.join(str(p) for p in earlier)} "
                       f"{'is' if len(earlier) == 1 else 'are'} from an earlier run and not part of this "
                       "result; left in place")
    return done, failed


def write_outputs(writes: Callable[[FileGroup], None]) -> None:
    """Run writes(group) and rename every file into place together, or none (files.FileGroup)."""
    with FileGroup() as group:
        writes(group)


def _save(im: Image.Image, kind: str = RESULT) -> Callable[[Path], None]:
    """Write im as PNG, marked as swishpaint's output of `kind` (data.images.OUTPUT_KEY)."""
    return lambda tmp: im.save(tmp, format="PNG", pnginfo=output_png_info(kind))


def _hints_for(source: Source, hints: Path | None) -> tuple[Path | None, str]:
    """--hints is a file (one input: run_colorize checks) or a folder of hint PNGs: <subfolders>/<stem>.png,
    else <stem>.png; and a note when a sketch in a subfolder takes a top-level <stem>.png, which two cuts'
    frames of the same name would share."""
    if hints is None or not hints.is_dir():
        return hints, ""
    own = hints / source.relative.with_suffix(".png")
    if own.is_file():
        return own, ""
    shared = hints / f"{source.path.stem}.png"
    if shared.is_file():
        note = "" if source.relative.parent == Path(".") else \
            f"hints from {shared} (no {source.relative.with_suffix('.png')} in {hints})"
        return shared, note
    return None, ""


CANDIDATE_TAIL, SHEET_TAIL = "_c", "_sheet"  # <name>_c1.png.., <name>_sheet.png: read back by `evaluate`


def candidate_file(name: str, k: int) -> str:
    """Candidate k's file (1-based) beside <name>.png: the one home of the name, for writing and for
    recognising an earlier run's (left_from_earlier_runs)."""
    return f"{name}{CANDIDATE_TAIL}{k}.png"


def sheet_file(name: str) -> str:
    return f"{name}{SHEET_TAIL}.png"


def colorize_names(candidates: int, layers: str | None = None) -> Callable[[str], list[str]]:
    """<name>.png; with K > 1 <name>_c1..cK.png and <name>_sheet.png; with layers <name>.psd (or .ora)
    and its label map <name>.labels.png, last."""
    def names(name: str) -> list[str]:
        extra = [candidate_file(name, k) for k in range(1, candidates + 1)] + [sheet_file(name)] if candidates > 1 \
            else []
        layered = [f"{name}.{layers}", label_map_path(f"{name}.{layers}").name] if layers else []
        return [f"{name}.png", *extra, *layered]
    return names


def run_colorize(inputs: list[str], out_dir: Path, options: ColorizeOptions) -> int:
    """`swishpaint colorize`: OUT/<name>.png, with K > 1 <name>_c1..cK.png and <name>_sheet.png, and
    with layers="psd" or "ora" the layered file of candidate 1 plus its label map. Earlier results are
    replaced only with overwrite."""
    from .colorizer import Colorizer, check_candidates
    from .layered import check_layered_size, hidden_layers, stage_layers

    prepare_output_dir(out_dir)  # before the model loads: an unusable -o fails at once
    hints_path = options.hints_path
    hints_dir = hints_path if hints_path is not None and hints_path.is_dir() else None
    sources, errors = collect_inputs(inputs, out_dir, [hints_dir] if hints_dir else [])
    if hints_path is not None and hints_path.is_file() and len(sources) != 1:
        raise InvalidArgument("--hints FILE needs exactly one input; give a folder of <stem>.png hints for many")
    options.check()  # after the rule that needs the inputs: the first error named is the one it always was
    colorizer = Colorizer.load(options.model, device=options.device, line_threshold=options.line_threshold) \
        if options.backend == "torch" else _onnx_colorizer(options.model, options.line_threshold)
    candidates, output, layers = options.candidates, options.output, options.layers
    check_candidates(candidates, colorizer.candidates, "--candidates")
    hint_files = list_images(hints_dir) if hints_dir else [hints_path] if hints_path else []
    jobs = plan_outputs(sources, out_dir, colorize_names(candidates, layers), hint_files)

    def work(job: Job) -> None:
        path = job.source.path
        warnings: list[str] = []
        job_hints, note = _hints_for(job.source, hints_path)
        if note:
            warnings.append(note)
        if job_hints is None and hints_path is not None:  # a folder of hints without this sketch's
            looked = dict.fromkeys((str(job.source.relative.with_suffix(".png")), f"{job.source.path.stem}.png"))
            warnings.append(f"no hints for it in {hints_path} (looked for {' and '.join(looked)}); "
                            "coloured without hints")
        if layers:  # before the colouring: a sketch too large for the format fails at once
            width, height = header_size(path) or (0, 0)  # an unreadable file: the loader below says why
            check_layered_size(f".{layers}", height, width)
        if options.backend == "torch":
            colouring = colorizer.colorize_regions(path, hints=job_hints, candidates=candidates, size=options.size,
                                                   warnings=warnings, regions=output != "network")
            first_flats = colouring.flats(0) if layers else None  # shared by candidate 1 and the layered file
            images = (Image.fromarray(colouring.image(k, output, options.keep_lines, first_flats if k == 0 else None),
                                      "RGB")
                      for k in range(candidates))
        else:
            images = colorizer.colorize_iter(path, hints=job_hints, candidates=candidates, size=options.size,
                                             keep_lines=options.keep_lines, output=output, warnings=warnings)

        def writes(group: FileGroup) -> None:
            cells = []
            for i, im in enumerate(images):  # one full-size candidate in memory at a time
                if i == 0:
                    group.write(job.outputs[0], _save(im))
                if candidates > 1:
                    first = group.staged(job.outputs[0]) if i == 0 else None
                    group.write(job.outputs[1 + i], (lambda tmp, f=first: shutil.copyfile(f, tmp)) if first
                                else _save(im))
                    cells.append(thumbnail(im))
                del im
            if candidates > 1:
                group.write(job.outputs[candidates + 1], _save(contact_sheet(cells)))
            if layers:  # composites to the PNG beside it; the label map is job.outputs[-1]
                stage_layers(group, job.outputs[-2], first_flats.image, first_flats.shading, colouring.lines(),
                             colouring.segmentation.labels, hidden_layers(output, options.keep_lines))

        write_outputs(writes)
        for w in warnings:
            report(f"swishpaint: warning: {path}: {w}")

    return process_files(jobs, work, "colourised", out_dir, errors, options.overwrite, colourings=True)


def run_colorize_sequence(inputs: list[str], out_dir: Path, options: SequenceOptions) -> int:
    """`swishpaint colorize FRAMES... --reference KEY.png` (or --palette): the frames, in the order given
    (folders sorted by name), coloured from the keyframe, each frame the reference for the next
    (inference.sequence). OUT/<name>.png, with layers <name>.psd/.ora and <name>.labels.png; regions
    the network had to colour are reported on stderr, one line per frame."""
    from .colorizer import Colorizer
    from .layered import hidden_layers, stage_layers
    from .palette import read_palette, write_palette
    from .sequence import SequenceColourer, coloured_key

    options.check()
    reference, reference_sketch, palette_out = options.reference, options.reference_sketch, options.palette_out
    prepare_output_dir(out_dir)
    sources, errors = collect_inputs(inputs, out_dir)
    given = tuple(Path(p) for p in (reference, reference_sketch, options.palette) if p)
    if reference is not None and any(s.path.resolve() == Path(reference).resolve() for s in sources):
        # the coloured key found among the frames is no frame (its line art may well be frame 1: kept)
        sources = [s for s in sources if s.path.resolve() != Path(reference).resolve()]
        print(f"swishpaint: note: left out the keyframe {reference} found among the frames", file=sys.stderr)
        if not sources and not errors:
            raise InvalidArgument("no frames to colour besides the keyframe")
    jobs = plan_outputs(sources, out_dir, colorize_names(1, options.layers), given)
    if palette_out is not None:  # before the model loads; never onto the key, a frame, a frame's output or an earlier palette
        check_new_output(palette_out, options.overwrite, given + tuple(s.path for s in sources))
        if Path(palette_out).resolve() in {o.resolve() for job in jobs for o in job.outputs}:
            raise OutputError(f"{palette_out}: is also a frame's output; write the palette elsewhere")
    colorizer = Colorizer.load(options.model, device=options.device, line_threshold=options.line_threshold)
    notes: list[str] = []
    key = read_palette(options.palette) if options.palette else \
        coloured_key(Path(reference), reference_sketch and Path(reference_sketch), colorizer, notes)
    for note in notes:
        print(f"swishpaint: warning: {reference}: {note}", file=sys.stderr)
    if palette_out is not None:
        write_palette(palette_out, key)
        print(f"wrote palette {palette_out} ({key.count} regions)")
    colourer = SequenceColourer(colorizer, key)

    def work(job: Job) -> None:
        frame = colourer.colour(job.source.path)  # a bad frame fails alone; the next follows the last good one

        def writes(group: FileGroup) -> None:
            group.write(job.outputs[0], _save(Image.fromarray(frame.image(options.keep_lines), "RGB")))
            if options.layers:
                flats = frame.flats()
                # its shading is white: visible or not, the same
                stage_layers(group, job.outputs[-2], flats.image, flats.shading, frame.lines(),
                             frame.segmentation.labels, hidden_layers(keep_lines=options.keep_lines))

        write_outputs(writes)
        if len(frame.unmatched):
            centres = frame.unmatched_centres()
            where = ", ".join(f"({x}, {y})" for x, y in centres[:8]) + (", ..." if len(centres) > 8 else "")
            report(f"swishpaint: note: {job.source.path}: {len(frame.unmatched)} region(s) with no match in the "
                   f"reference, coloured by the network, at x, y = {where}")

    return process_files(jobs, work, "colourised", out_dir, errors, options.overwrite, colourings=True)


def thumbnail(im: Image.Image, max_cell: int = 384) -> Image.Image:
    """A candidate scaled so its longer side is at most max_cell (a contact-sheet cell)."""
    return fit_within(im, max_cell)


def contact_sheet(images: list[Image.Image], columns: int = 3, max_cell: int = 384) -> Image.Image:
    """Candidates side by side (scaled so a cell is at most max_cell pixels)."""
    cells = [thumbnail(im, max_cell) for im in images]
    return image_grid([cells[i:i + columns] for i in range(0, len(cells), columns)])


def _onnx_colorizer(model: str | None, line_threshold: float | None = None):
    from .onnx import OnnxColorizer

    return OnnxColorizer.load(model, line_threshold=line_threshold)


def run_lines(inputs: list[str], out_dir: Path, method: str = "xdog", overwrite: bool = False) -> int:
    """`swishpaint lines`: OUT/<name>.png line art for every input image."""
    from ..data.images import load_rgb, tensor_to_image
    from ..data.lines import extract_lines

    prepare_output_dir(out_dir)
    sources, errors = collect_inputs(inputs, out_dir, own=(RESULT, LINE_ART))  # not its own line art again
    jobs = plan_outputs(sources, out_dir, lambda name: [f"{name}.png"])

    def work(job: Job) -> None:
        sketch = extract_lines(load_rgb(job.source.path), method)
        im = tensor_to_image(sketch[None])
        write_outputs(lambda group: group.write(job.outputs[0], _save(im, LINE_ART)))  # colorize takes these

    return process_files(jobs, work, "extracted lines from", out_dir, errors, overwrite)
