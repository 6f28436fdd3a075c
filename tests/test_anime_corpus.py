"""The anime corpus without GL or network: split by character, framing, de-duplication, resume, packing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from swishpaint.data import anime_corpus
from swishpaint.data.anime_corpus import HELD_OUT_MODELS, BuildConfig, Item, build_anime_corpus, split_of
from swishpaint.data.datasets import DataConfig, DatasetError, SketchColorDataset, find_samples
from swishpaint.data.frames import Deduper, figure_box, figure_views
from swishpaint.data.live2d_render import _usable_model_json
from swishpaint.data.pack import pack_corpus

from .conftest import drawing


def _figure(canvas: int = 400, box=(250, 60, 330, 380), colour=(200, 40, 40)) -> np.ndarray:
    """A red 'figure' with a black head, placed off-centre on a white canvas."""
    a = np.full((canvas, canvas, 3), 255, np.uint8)
    left, top, right, bottom = box
    a[top:bottom, left:right] = colour
    a[top:top + 30, left + 20:right - 20] = 0
    return a


def test_split_holds_out_whole_characters():
    for model in HELD_OUT_MODELS:
        assert split_of("live2d", model) == "val" and split_of("live2d-atlas", model) == "val"
    assert split_of("live2d", "hibiki") == "train"
    assert split_of("dill", "purple_heart") == "train"
    assert [split_of("pokemon", str(i)) for i in (10, 25, 150, 151)] == ["val", "train", "val", "train"]
    splits = {split_of("openmoji", f"1F{i:03X}") for i in range(300)}
    assert splits == {"train", "val"}  # the hash splits characters, and does so the same way each time
    assert all(split_of("openmoji", f"1F{i:03X}") == split_of("openmoji", f"1F{i:03X}") for i in range(50))


def test_figure_views_fill_the_frame():
    rgb = _figure()
    left, top, right, bottom = figure_box(rgb)
    assert right - left == bottom - top  # square around the tall figure
    whole, close = figure_views(rgb, 128, np.random.default_rng(0))
    assert whole.shape == close.shape == (128, 128, 3)
    rows = np.flatnonzero((whole < 245).any(axis=2).any(axis=1))
    assert rows[-1] - rows[0] > 0.8 * 128  # the figure spans the frame's height
    assert (close[:20] < 50).all(axis=2).mean() > 0.05  # the close view starts at the (black) head
    assert figure_views(np.full((64, 64, 3), 255, np.uint8), 32, np.random.default_rng(0)) is None


def test_deduper_drops_same_pose_keeps_new_pose():
    d = Deduper()
    assert d.is_new(_figure())
    assert not d.is_new(_figure())
    assert d.is_new(_figure(box=(60, 40, 200, 390), colour=(40, 90, 200)))


def test_model_file_loses_missing_expressions_and_motions(tmp_path):
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "ok.json").write_text("{}")
    (tmp_path / "m.mtn").write_text("")
    model = tmp_path / "x.model.json"
    model.write_text(json.dumps({"model": "x.moc", "expressions": [{"name": "a", "file": "exp/ok.json"},
                                                                    {"name": "b", "file": "exp/gone.json"}],
                                 "motions": {"idle": [{"file": "m.mtn"}, {"file": "gone.mtn"}]}}))
    fixed = json.loads(_usable_model_json(model).read_text())
    assert fixed["expressions"] == [{"name": "a", "file": "exp/ok.json"}]
    assert fixed["motions"] == {"idle": [{"file": "m.mtn"}]}
    assert json.loads(model.read_text())["motions"]["idle"][1]["file"] == "gone.mtn"  # original untouched


def _fake_source(monkeypatch, calls: list):
    """openmoji's items replaced by 80 synthetic drawings of 40 characters (2 skin tones each)."""
    items = [Item(f"e{c}-{t}", "", f"e{c}") for c in range(40) for t in range(2)]

    def render(item, rng):
        calls.append(item.key)
        return [("", drawing(int(item.key[1:].replace("-", "")), 128))]

    monkeypatch.setattr(anime_corpus, "_items", lambda source, cfg, cache: (items, "9.9", render))
    monkeypatch.setattr(anime_corpus, "RENDERED_BY", {})  # drawn here: no rsvg-convert needed


def test_a_missing_renderer_is_said_before_any_download(tmp_path, monkeypatch):
    monkeypatch.setattr(anime_corpus.shutil, "which", lambda name: None)
    monkeypatch.setattr(anime_corpus, "_items", lambda *a: pytest.fail("fetched before the check"))
    monkeypatch.setattr(anime_corpus, "_run_live2d", lambda *a: pytest.fail("rendered before the check"))
    cfg = BuildConfig(out=str(tmp_path / "corpus"), cache=str(tmp_path / "cache"), sources=("live2d", "pokemon"))
    with pytest.raises(DatasetError, match=r"^rsvg-convert, xvfb-run not found: .*\(apt-get install librsvg2-bin "
                                           r"xvfb libgl1-mesa-dri, or leave those sources out with --sources\)$"):
        build_anime_corpus(cfg, log=lambda line: None)


def test_build_writes_manifest_by_character_and_resumes(tmp_path, monkeypatch):
    calls: list[str] = []
    _fake_source(monkeypatch, calls)
    cfg = BuildConfig(out=str(tmp_path / "corpus"), cache=str(tmp_path / "cache"), sources=("openmoji",))
    m = build_anime_corpus(cfg, log=lambda line: None)
    assert len(calls) == 80
    rows = m["files"]
    assert len(rows) == m["counts"]["train"] + m["counts"]["val"] == 80
    for row in rows:
        assert row["package"] == "openmoji" and row["version"] == "9.9" and row["licence"] == "CC-BY-SA-4.0"
        assert (tmp_path / "corpus" / row["file"]).is_file() and row["file"].startswith(row["split"] + "/")
    by_character = {}
    for row in rows:
        by_character.setdefault(row["character"], set()).add(row["split"])
    assert all(len(s) == 1 for s in by_character.values())  # no character in both splits
    assert {split for s in by_character.values() for split in s} == {"train", "val"}
    again = build_anime_corpus(cfg, log=lambda line: None)
    assert len(calls) == 80  # nothing rendered twice
    assert again["counts"] == m["counts"]


def test_pack_keeps_the_layout_training_reads(tmp_path, monkeypatch):
    calls: list[str] = []
    _fake_source(monkeypatch, calls)
    corpus = tmp_path / "corpus"
    build_anime_corpus(BuildConfig(out=str(corpus), cache=str(tmp_path / "c"), sources=("openmoji",)),
                       log=lambda line: None)
    big = Image.fromarray(np.tile(np.asarray(drawing(3, 128)), (4, 4, 1)))
    big.save(corpus / "train" / "openmoji" / "big.png")
    report = pack_corpus(corpus, tmp_path / "packed", max_side=96, quality=90)
    assert report["images"] == 81 and not report["skipped"]
    packed = tmp_path / "packed"
    for split in ("train", "val"):
        assert len(find_samples(packed, split)[1]) == len(find_samples(corpus, split)[1])
    with Image.open(packed / "train" / "openmoji" / "big.webp") as im:
        assert max(im.size) == 96
    manifest = json.loads((packed / "manifest.json").read_text())
    assert all((packed / f["file"]).is_file() and f["file"].endswith(".webp") for f in manifest["files"])
    item = SketchColorDataset(DataConfig(root=str(packed), size=64), "train")[0]
    assert item["color"].shape == (3, 64, 64)
    assert pack_corpus(corpus, packed, max_side=96)["images"] == 81  # re-run: nothing rewritten, same count


def test_live2d_sequences_go_to_the_benchmark_for_held_out_models_and_to_tuning_for_the_rest(tmp_path, monkeypatch):
    """Held-out characters' sequences score the animation benchmark; training characters' (on request)
    tune it, so the matching is never tuned on what it is scored on. A finished build gains the tuning
    sequences on a re-run without re-rendering its frames."""
    jobs = []

    def fake_render(out, model_id, job):
        jobs.append((model_id, job))
        for s in range(job["sequences"]):
            folder = tmp_path / job["sequence_dir"] / f"seq_{s:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            for f in range(job["sequence_length"]):
                (folder / f"frame_{f:03d}.png").write_bytes(b"png")
        return {"kept": [], "duplicates": 0, "sequences": [f"seq_{s:02d}" for s in range(job["sequences"])]}, ""

    models = [(name, tmp_path / f"{name}.model.json", f"live2d-widget-model-{name}", "1.0") for name in ("haruto", "hibiki")]
    monkeypatch.setattr(anime_corpus, "_render", fake_render)
    monkeypatch.setattr(anime_corpus, "live2d_models", lambda cache: models)
    monkeypatch.setattr(anime_corpus.shutil, "which", lambda name: "/usr/bin/" + name)
    out = tmp_path / "corpus"
    cfg = BuildConfig(str(out), str(tmp_path / "cache"), sources=("live2d",), sequences=2, sequence_length=3)
    build_anime_corpus(cfg, log=lambda line: None)
    assert {(m, j["sequences"], j["sequence_dir"].split("/")[-2]) for m, j in jobs} == \
        {("haruto", 2, "sequences"), ("hibiki", 0, "sequences-tune")}
    jobs.clear()
    build_anime_corpus(BuildConfig(**{**cfg.__dict__, "tuning_sequences": 1}), log=lambda line: None)
    assert [(m, j["frames"], j["sequences"]) for m, j in jobs] == [("hibiki", 0, 1)]  # only what is missing
    assert (out / "sequences-tune" / "hibiki" / "seq_00" / "frame_002.png").is_file()
    jobs.clear()
    build_anime_corpus(BuildConfig(**{**cfg.__dict__, "tuning_sequences": 1}), log=lambda line: None)
    assert jobs == []  # nothing left to do
