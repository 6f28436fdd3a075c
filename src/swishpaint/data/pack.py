"""A compact copy of a colour-only corpus, to carry to a GPU machine.

`swishpaint data pack DIR OUT` writes every image of DIR/train and DIR/val (and DIR/sequences, when
present) as WebP with its longest side at most `max_side`, in the same layout, so training and
evaluation read OUT unchanged. The manifest is copied with its file names pointing at the packed files.

Packing is resumable: OUT/manifest.json records where and how it was packed (written before the first
image), and a re-run with the same root and settings skips the images already there, each of which
names its source inside (EXIF ImageDescription), so a name that passed to another image is packed
again (a pack made before 2026-11-28's seventh session names none: resumed, it is packed anew once).
Any other non-empty OUT is refused unless overwrite, because its files would otherwise pass for packed ones.
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from pathlib import Path

from PIL import Image

from ..errors import InvalidArgument, OutputError
from ..files import JSON_READ_ERRORS, FileGroup, atomic_write_text, candidate_names, output_folder, read_json, read_json_object
from .datasets import DatasetError, check_root
from .images import ImageError, fit_within, list_images, load_rgb

FOLDERS = ("train", "val", "sequences")
LOSSLESS = 101  # --quality 101: lossless WebP


def parse_cap(text: str) -> tuple[str, int]:
    """'FOLDERS=N' (a --cap) -> (pattern, N); InvalidArgument naming it when it is not that."""
    pattern, sep, count = text.rpartition("=")
    if not sep or not pattern or not count.strip().isdigit():
        raise InvalidArgument(f"--cap {text}: must be FOLDERS=N, e.g. 'val/*=40' (at most N images in each "
                              "folder the pattern matches; 0 keeps all)")
    return pattern, int(count)


def check_settings(max_side: int, quality: int, max_per_folder: int, caps: tuple[tuple[str, int], ...] = ()) -> None:
    """InvalidArgument naming the option for a value WebP or the subset cannot honour (0 pixels would
    write 1x1 images, -1 packs nothing), before any folder is made."""
    if max_side < 1:
        raise InvalidArgument(f"--max-side {max_side}: must be at least 1 (pixels of the longest side)")
    if not 0 <= quality <= LOSSLESS:
        raise InvalidArgument(f"--quality {quality}: must be 0 to 100, or {LOSSLESS} for lossless")
    for named, n in [("--max-per-folder ", max_per_folder)] + [(f"--cap {pattern}=", n) for pattern, n in caps]:
        if not isinstance(n, int) or n < 0:
            raise InvalidArgument(f"{named}{n}: must be 0 (keep all) or more")


def check_apart(root: Path, out: Path) -> None:
    """OutputError when OUT is the input, inside it, or holds it: packing would write into the corpus
    it reads (WebP copies beside the originals, the pack packed again, the manifest replaced)."""
    r, o = root.resolve(), out.resolve()
    if o == r:
        raise OutputError(f"{out}: is the input folder; write the pack elsewhere")
    if r in o.parents:
        raise OutputError(f"{out}: is inside the input folder {root}; write the pack elsewhere")
    if o in r.parents:
        raise OutputError(f"{out}: holds the input folder {root}; write the pack elsewhere")


def _read_root(root: Path) -> dict | None:
    """The corpus's manifest (None without one), read before any work so a broken one fails at once."""
    check_root(root)
    if not (root / "train").is_dir():
        raise DatasetError(f"{root}: no train/ folder to pack")
    path = root / "manifest.json"
    if not path.is_file():
        return None
    manifest = read_json_object(path, DatasetError, "a corpus manifest")
    files = manifest.get("files", [])
    if not isinstance(files, list) or not all(isinstance(f, dict) and isinstance(f.get("file", ""), str)
                                              for f in files):
        raise DatasetError(f"{path}: 'files' must be a list of entries with a 'file' name; the pack copies it "
                           "pointing at the packed images")
    return manifest


def _settings(root: Path, max_side: int, quality: int, max_per_folder: int,
              caps: tuple[tuple[str, int], ...]) -> dict:
    return {"from": str(root.resolve()), "max_side": max_side, "quality": quality, "max_per_folder": max_per_folder,
            "caps": [f"{pattern}={n}" for pattern, n in caps]}


def _earlier_pack(out: Path) -> dict | None:
    """The settings recorded in OUT/manifest.json by an earlier pack, or None (no such manifest)."""
    try:
        packed = read_json(out / "manifest.json").get("packed")
    except (*JSON_READ_ERRORS, AttributeError):
        return None
    return packed if isinstance(packed, dict) else None


def _may_resume(out: Path, earlier: dict | None, settings: dict, overwrite: bool) -> bool:
    """True when OUT's existing images are an earlier run (`earlier`: its recorded settings) of this very
    pack (skip them); False when there is nothing to resume or overwrite repacks everything; OutputError
    for any other non-empty OUT, whose files would otherwise pass for packed ones."""
    if not out.is_dir() or not any(out.iterdir()) or overwrite:
        return False
    if earlier is None:
        raise OutputError(f"{out}: is not empty and holds no earlier pack; pass --overwrite to pack into it "
                          f"anyway, or choose an empty folder")
    if Path(earlier.get("from", "")).resolve() != Path(settings["from"]):
        raise OutputError(f"{out}: holds a pack of {earlier.get('from')}; pass --overwrite to repack "
                          f"everything, or choose another folder")
    changed = [f"--{key.replace('_', '-')} {earlier.get(key)}" for key in ("max_side", "quality", "max_per_folder")
               if earlier.get(key) != settings[key]]
    if earlier.get("caps", []) != settings["caps"]:
        changed.append(" ".join(f"--cap {c}" for c in earlier.get("caps", [])) or "no --cap")
    if changed:
        raise OutputError(f"{out}: was packed with {', '.join(changed)}; pass --overwrite to repack everything "
                          f"with the new settings, or choose another folder")
    return True


def folder_cap(folder: str, max_per_folder: int, caps: tuple[tuple[str, int], ...]) -> int:
    """How many images of `folder` (relative to the corpus, e.g. 'train/dill/outfit') are kept: the first
    cap whose pattern matches it (fnmatch, '*' crossing '/'), else max_per_folder; 0 keeps all."""
    return next((n for pattern, n in caps if fnmatchcase(folder, pattern)), max_per_folder)


def plan_pack(root: Path, max_per_folder: int, caps: tuple[tuple[str, int], ...] = ()) -> list[tuple[Path, str]]:
    """(source image, packed name relative to OUT) for every image to pack. Names are <stem>.webp; two
    images of one folder that share a stem (a.png, a.jpg) get their own names by files.candidate_names
    (a.webp, a_jpg.webp), so none overwrites another. A folder over its cap (folder_cap) keeps an evenly
    spaced subset; sequences are never thinned (their frames are consecutive)."""
    plan = []
    for folder in FOLDERS:
        if not (root / folder).is_dir():
            continue
        by_dir: dict[Path, list[Path]] = {}
        for path in list_images(root / folder):
            by_dir.setdefault(path.parent, []).append(path)
        for where, paths in by_dir.items():
            cap = folder_cap(where.relative_to(root).as_posix(), max_per_folder, caps)
            if cap and len(paths) > cap and folder != "sequences":
                step = len(paths) / cap
                paths = [paths[int(i * step)] for i in range(cap)]
            taken: set[str] = set()
            for path in paths:
                rel = Path(path.relative_to(root).as_posix())
                name = next(n for n in candidate_names(rel) if f"{n}.webp" not in taken)
                taken.add(f"{name}.webp")
                plan.append((path, (rel.parent / f"{name}.webp").as_posix()))
    return plan


SOURCE_TAG = 0x010E  # EXIF ImageDescription: the packed image's source, relative to the corpus


def _write_webp(path: Path, target: Path, max_side: int, quality: int, source: str) -> None:
    """One image, all or nothing (FileGroup: no half-written WebP; a full disk is an OutputError), naming
    its `source` inside, so that a resumed pack knows what a file holds, not only that it is there."""
    im = fit_within(load_rgb(path), max_side)
    exif = Image.Exif()
    exif[SOURCE_TAG] = json.dumps(source)  # EXIF text is ASCII: a Japanese folder name survives escaped
    with FileGroup() as group:
        group.write(target, lambda tmp: im.save(tmp, format="WEBP", quality=min(quality, 100),
                                                lossless=quality >= LOSSLESS, method=6, exif=exif.tobytes()))


def packed_from(target: Path) -> str | None:
    """The source a packed image was made from (None: unreadable, or packed before it was recorded)."""
    try:
        with Image.open(target) as im:
            return json.loads(im.getexif()[SOURCE_TAG])
    except (OSError, ValueError, KeyError, TypeError):  # no tag, or not one this module wrote
        return None


def _remove_stale(out: Path, packed: set[str]) -> int:
    """After a repack over an earlier pack: remove that pack's images the new settings did not write
    (e.g. a smaller --max-per-folder), since training reads every image in OUT, not the manifest."""
    removed = 0
    inside = out.resolve()
    for folder in FOLDERS:
        for path in list_images(out / folder) if (out / folder).is_dir() else []:
            # only the pack's own files: an image reached through a linked folder is someone's original
            if path.relative_to(out).as_posix() not in packed and path.resolve().is_relative_to(inside):
                path.unlink()
                removed += 1
    return removed


def pack_corpus(root: str | Path, out: str | Path, max_side: int = 320, quality: int = 90,
                max_per_folder: int = 0, overwrite: bool = False, caps: tuple[tuple[str, int], ...] = ()) -> dict:
    """Pack `root` into `out`; returns {'images', 'bytes', 'skipped', 'removed'}. A re-run with the same
    settings resumes (skips packed files); overwrite repacks everything into any folder.

    quality 101 means lossless WebP. max_per_folder > 0 keeps an evenly spaced subset of each
    folder's images (e.g. fewer frames of each Live2D model) to fit a size budget; caps, (pattern, N)
    pairs, set other limits for the folders they match (e.g. ('val/*', 40): validation needs few).
    Unreadable images are left out and listed in 'skipped' ({path: reason}).
    """
    root, out, caps = Path(root), Path(out), tuple(caps)
    check_settings(max_side, quality, max_per_folder, caps)
    source_manifest = _read_root(root)
    check_apart(root, out)
    settings = _settings(root, max_side, quality, max_per_folder, caps)
    with output_folder(out):
        resume, repacking = _resume_state(out, settings, overwrite)
        plan = plan_pack(root, max_per_folder, caps)
        if not resume:  # recorded first, so an interrupted pack can be resumed
            _write_manifest(out, {"packed": settings, "complete": False})
        renamed: dict[str, str] = {}  # source path relative to root -> packed name
        skipped: dict[str, str] = {}
        for path, name in plan:
            reason = _pack_one(path, out / name, path.relative_to(root).as_posix(), resume, max_side, quality)
            if reason is None:
                renamed[path.relative_to(root).as_posix()] = name
            else:
                skipped[str(path)] = reason
        removed = _remove_stale(out, set(renamed.values())) if repacking else 0
        _write_manifest(out, _final_manifest(source_manifest, renamed, settings))
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"images": len(renamed), "bytes": size, "skipped": skipped, "removed": removed}


def _resume_state(out: Path, settings: dict, overwrite: bool) -> tuple[bool, bool]:
    """(resume, repacking): whether OUT holds an earlier run of this very pack whose images are skipped
    (_may_resume, which refuses any other non-empty OUT), and whether overwrite repacks over an earlier
    pack, whose images the new settings do not write must then go (_remove_stale)."""
    earlier = _earlier_pack(out)
    return _may_resume(out, earlier, settings, overwrite), overwrite and earlier is not None


def _pack_one(path: Path, target: Path, source: str, resume: bool, max_side: int, quality: int) -> str | None:
    """Pack one image unless a resumed pack already holds it under that name (a name can pass to another
    image: a.jpg added beside a.png takes a.webp); the reason when it is unreadable (the pack goes on
    without it), else None."""
    if resume and target.is_file() and packed_from(target) == source:
        return None
    try:
        _write_webp(path, target, max_side, quality, source)
    except ImageError as e:
        return e.reason
    return None


def _final_manifest(source_manifest: dict | None, renamed: dict[str, str], settings: dict) -> dict:
    """The corpus's manifest with its entries pointing at the packed files (entries of images left out
    dropped; one entry per image when the corpus has none), the settings, and complete: the first
    record said False, so an interrupted pack is told apart."""
    manifest = dict(source_manifest or {})
    files = source_manifest.get("files", []) if source_manifest else [{"file": rel} for rel in renamed]
    manifest["files"] = [dict(f, file=renamed[f["file"]]) for f in files if f.get("file") in renamed]
    manifest["packed"] = settings
    manifest["complete"] = True
    return manifest


def _write_manifest(out: Path, manifest: dict) -> None:
    """OUT/manifest.json, atomically: a resumed pack or training never reads half of one."""
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=1))
