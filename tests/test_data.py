"""Data: layouts, safe image loading, line extraction, hints, augmentation, bad files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from swishpaint.cli import main
from swishpaint.data.augment import aligned_augment, vary_line_style
from swishpaint.data.datasets import DataConfig, SketchColorDataset, check_dataset, detect_layout, find_samples
from swishpaint.data.hints import HintSampling, hints_from_rgba, hints_to_rgba, resize_hints, sample_hints
from swishpaint.data.images import ImageError, list_images, load_grey, load_rgb, load_rgba
from swishpaint.data.lines import extract_lines
from swishpaint.data.pack import pack_corpus, packed_from
from swishpaint.errors import InvalidArgument

from .conftest import drawing, png_declaring, sketch_of


def test_layouts_are_detected(kaggle_dir, tmp_path_factory):
    assert detect_layout(kaggle_dir) == "kaggle"


def test_paired_and_color_layouts(paired_dir):
    assert detect_layout(paired_dir) == "paired"
    ds = SketchColorDataset(DataConfig(root=str(paired_dir), size=32, val_percent=30), "train")
    val = SketchColorDataset(DataConfig(root=str(paired_dir), size=32, val_percent=30), "val")
    assert len(ds) + len(val) == 8 and len(val) > 0
    assert not {s.name for s in ds.samples} & {s.name for s in val.samples}


@pytest.mark.parametrize("hints", [False, True])
def test_kaggle_samples_have_documented_shapes_and_ranges(kaggle_dir, hints):
    ds = SketchColorDataset(DataConfig(root=str(kaggle_dir), size=32), "train", with_hints=hints)
    assert ds.layout == "kaggle" and len(ds) == 6
    item = ds[0]
    assert item["sketch"].shape == (1, 32, 32) and item["color"].shape == (3, 32, 32)
    for key in ("sketch", "color"):
        assert 0 <= item[key].min() and item[key].max() <= 1
    assert ("hints" in item) == hints
    # the sketch half is line art: mostly white
    assert item["sketch"].mean() > 0.7


def test_color_only_folder_extracts_and_caches_sketches_and_skips_bad_files(color_dir, caplog):
    ds = SketchColorDataset(DataConfig(root=str(color_dir), size=32), "train")
    assert ds.layout == "color" and len(ds) == 12  # 8 good + 4 bad files listed
    items = [ds[i] for i in range(len(ds))]
    assert all(it["sketch"].shape == (1, 32, 32) for it in items)
    assert ds.bad_files == {}  # an item names what it skipped; the process that reports records it
    for it in items:
        ds.note_skipped(it["skipped"])
    assert set(ds.bad_files) == {str(color_dir / "train" / n) for n in
                                 ("corrupt.png", "truncated.png", "empty.png", "notes.webp")}
    assert "empty file" in ds.bad_files[str(color_dir / "train" / "empty.png")]
    assert any("corrupt.png" in r.message for r in caplog.records)
    cache = list((color_dir / ".swishpaint-cache").rglob("*.png"))
    assert len(cache) == 8
    config = DataConfig(root=str(color_dir), size=32, line_method="dilate")  # grey levels, not XDoG's 0 and 1
    first, again = (SketchColorDataset(config, "train", train=False) for _ in range(2))
    fresh = [first[i]["sketch"] for i in range(len(first))]  # drawn, then cached
    cached = [again[i]["sketch"] for i in range(len(again))]  # read from that cache
    assert len(fresh) == len(cached) == 12
    assert all(torch.equal(a, b) for a, b in zip(fresh, cached))  # the first read is the 8-bit sketch later ones are


def test_paired_layout_matches_by_the_path_below_color_and_sketch(tmp_path):
    """color/x/a.png goes with sketch/x/a.*, never with sketch/y/a.png."""
    for sub, seed in (("x", 0), ("y", 5)):
        for kind in ("color", "sketch"):
            (tmp_path / "train" / kind / sub).mkdir(parents=True)
        drawing(seed).save(tmp_path / "train" / "color" / sub / "a.png")
    sketch_of(drawing(0)).save(tmp_path / "train" / "sketch" / "x" / "a.jpg")  # y/a has no sketch
    layout, refs = find_samples(tmp_path, "train")
    assert layout == "paired"
    assert [(r.color.relative_to(tmp_path), r.sketch.relative_to(tmp_path), r.name) for r in refs] == [
        (Path("train/color/x/a.png"), Path("train/sketch/x/a.jpg"), "x/a")]


def test_linked_folders_are_read_once_and_data_check_fails_without_a_training_sample(tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(2):
        drawing(i).save(images / f"{i}.png")
    data = tmp_path / "data"
    (data / "train").mkdir(parents=True)
    (data / "val").mkdir()
    (data / "train" / "linked").symlink_to(images, target_is_directory=True)
    (data / "train" / "linked" / "loop").symlink_to(data, target_is_directory=True)  # back up the tree
    (data / "train" / "own").mkdir()
    drawing(4).save(data / "train" / "own" / "4.png")
    (data / "train" / "a_alias").symlink_to(data / "train" / "own")  # within the root: listed once, as own/
    drawing(3).save(data / "val" / "v.png")
    assert [p.relative_to(data).as_posix() for p in list_images(data / "train")] == [
        "train/linked/0.png", "train/linked/1.png", "train/own/4.png"]
    assert main(["data", "check", str(data)]) == 0
    assert "train      3 samples" in capsys.readouterr().out
    for name in ("linked", "a_alias", "own/4.png"):
        (data / "train" / name).unlink()
    assert main(["data", "check", str(data)]) == 1
    assert capsys.readouterr().err == (f"swishpaint: error: {data}: no readable training sample; training would "
                                       "refuse it\n")


def test_cached_sketches_belong_to_one_image_each(tmp_path):
    """train/0.png and val/0.png are two images with two sketches; a replaced image gets a new sketch."""
    import os

    for split, size, seed in (("train", 64, 0), ("val", 96, 7)):
        (tmp_path / split).mkdir()
        drawing(seed, size).save(tmp_path / split / "0.png")
        drawing(seed + 1, size).save(tmp_path / split / "1.png")
    config = DataConfig(root=str(tmp_path), size=32)

    def sketch_of_file(split: str) -> torch.Tensor:
        ds = SketchColorDataset(config, split, train=False)
        ref = next(r for r in ds.samples if r.color.name == "0.png")
        return ds.load_pair(ref)[0]

    train_sketch = sketch_of_file("train")
    val_sketch = sketch_of_file("val")  # read after train's was cached under the same name
    assert train_sketch.shape == (1, 64, 64) and val_sketch.shape == (1, 96, 96)
    assert torch.equal(sketch_of_file("val"), val_sketch)  # from the cache now, the same
    drawing(5, 64).save(tmp_path / "train" / "0.png")  # replaced, same size
    later = os.stat(tmp_path / "train" / "0.png").st_mtime_ns + 10**9
    os.utime(tmp_path / "train" / "0.png", ns=(later, later))
    assert not torch.equal(sketch_of_file("train"), train_sketch)


def test_data_check_reports_unreadable_files(color_dir, capsys):
    report = check_dataset(color_dir)
    assert report["splits"]["train"]["samples"] == 8 and report["splits"]["val"]["samples"] == 3  # readable only
    assert report["splits"]["train"]["unreadable"] == 4 and report["splits"]["val"]["unreadable"] == 0
    assert len(report["unreadable"]) == 4
    assert main(["data", "check", str(color_dir)]) == 1
    out = capsys.readouterr().out
    assert "layout color" in out and "truncated.png" in out
    assert "train      8 samples" in out and ", 4 unreadable" in out


def test_data_check_counts_a_side_by_side_image_that_is_no_pair_as_training_does(kaggle_dir):
    drawing(3, 64).save(kaggle_dir / "train" / "square.png")  # 64x64: no colour|sketch pair
    report = check_dataset(kaggle_dir)
    assert report["layout"] == "kaggle" and report["splits"]["train"]["unreadable"] == 1
    assert report["unreadable"][str(kaggle_dir / "train" / "square.png")].startswith("expected a side-by-side pair")


def test_data_check_fails_on_a_folder_without_images(tmp_path, capsys):
    (tmp_path / "empty" / "train").mkdir(parents=True)
    (tmp_path / "empty" / "train" / "notes.txt").write_text("no images")
    assert main(["data", "check", str(tmp_path / "empty")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == (f"swishpaint: error: {tmp_path / 'empty'}: no images found in the "
                                                   f"train or val split (layout color)\n")


def test_lines_are_dark_on_white():
    im = drawing(1, 96)
    for method in ("xdog", "dilate"):
        s = extract_lines(im, method)
        assert s.shape == (96, 96)
        assert s.mean() > 0.8, method  # mostly paper
        assert (s < 0.5).float().mean() > 0.01, method  # some ink
        # ink sits on the drawn outlines: the black outline pixels of the drawing
        outline = torch.from_numpy(np.asarray(im.convert("L")) < 30)
        assert s[outline].mean() < s[~outline].mean() - 0.2, method


def test_lines_cli_composites_rgba_on_white(tmp_path, capsys):
    rgba = Image.new("RGBA", (64, 64), (255, 0, 0, 0))  # hidden red under full transparency
    rgba.paste((0, 0, 0, 255), (20, 20, 40, 40))
    rgba.save(tmp_path / "a.png")
    assert main(["lines", str(tmp_path / "a.png"), "-o", str(tmp_path / "out"), "--method", "xdog"]) == 0
    s = np.asarray(Image.open(tmp_path / "out" / "a.png"))
    assert s[2, 2] == 255  # the transparent area is white paper, not red edges
    assert (s < 128).any()


def test_safe_loading_handles_modes_and_limits(tmp_path):
    arr16 = (np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)
    Image.fromarray(arr16).save(tmp_path / "g16.png")
    g = np.asarray(load_grey(tmp_path / "g16.png"))
    assert g.max() == 255 and g.min() == 0 and 100 < g.mean() < 155  # scaled, not clipped
    pal = Image.new("P", (8, 8))
    pal.putpalette([255, 0, 0] * 256)
    pal.info["transparency"] = 0
    pal.save(tmp_path / "p.png", transparency=0)
    assert load_rgb(tmp_path / "p.png").getpixel((0, 0)) == (255, 255, 255)
    Image.new("CMYK", (8, 8), (0, 255, 0, 0)).save(tmp_path / "c.jpg")
    assert load_rgb(tmp_path / "c.jpg").mode == "RGB"
    Image.new("L", (100, 100)).save(tmp_path / "big.png")
    with pytest.raises(ImageError, match="too large"):
        load_rgb(tmp_path / "big.png", max_pixels=5000)
    # one limit, which names the size: Pillow's own bomb guard (89 M pixels, an error past 179 M) neither
    # names it nor gives way to a raised max_pixels
    (tmp_path / "bomb.png").write_bytes(png_declaring(20_000, 20_000))
    with pytest.raises(ImageError, match=r"bomb.png: too large: 20000x20000 = 400000000 pixels \(limit 50000000\)$"):
        load_rgb(tmp_path / "bomb.png")
    (tmp_path / "huge.png").write_bytes(png_declaring(9_500, 9_500))  # 90.25 M: past Pillow's warning
    with pytest.raises(ImageError, match="huge.png: corrupt or truncated"):  # read (it holds no pixels)
        load_grey(tmp_path / "huge.png", max_pixels=100_000_000)
    Image.new("RGB", (8, 8)).save(tmp_path / "x.bmp")
    with pytest.raises(ImageError, match="allowed format"):
        load_rgb(tmp_path / "x.bmp")
    with pytest.raises(ImageError, match="RGBA"):
        load_rgba(tmp_path / "c.jpg", require_alpha=True)


def test_exif_rotation_is_applied(tmp_path):
    im = Image.new("RGB", (40, 20), "white")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90
    im.save(tmp_path / "r.jpg", exif=exif)
    assert load_rgb(tmp_path / "r.jpg").size == (20, 40)


def test_hints_appear_only_where_the_mask_says():
    color = torch.rand(3, 64, 64)
    rng = np.random.default_rng(0)
    h = sample_hints(color, rng, HintSampling(probability=1.0), count=10)
    mask = h[3]
    assert 0 < mask.mean() < 0.5
    assert torch.all(h[:3][:, mask == 0] == 0)
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert sample_hints(color, rng, HintSampling(probability=0.0)).abs().sum() == 0


def test_hint_files_round_trip_and_resize():
    h = torch.zeros(4, 40, 40)
    h[:, 10:14, 10:14] = torch.tensor([1.0, 0.5, 0.0, 1.0])[:, None, None]
    im = hints_to_rgba(h)
    back = hints_from_rgba(im)
    assert torch.allclose(back, h, atol=1 / 255)
    small = resize_hints(h, (10, 10))
    assert small[3].sum() >= 1 and torch.allclose(small[:3, 3, 3], torch.tensor([1.0, 0.5, 0.0]), atol=1e-5)


def test_augmentation_keeps_sketch_and_colour_aligned():
    color = torch.zeros(3, 80, 60)
    color[:, 30:40, 20:25] = 1.0
    sketch = 1 - color[:1]
    for seed in range(10):
        s, c = aligned_augment([sketch, color], 32, np.random.default_rng(seed))
        assert torch.allclose(s, 1 - c[:1], atol=1e-6)


def test_line_style_variation_keeps_lines_where_they_are():
    sketch = torch.ones(1, 32, 32)
    sketch[:, 16, :] = 0.0
    for seed in range(10):
        v = vary_line_style(sketch, np.random.default_rng(seed))
        assert v[0, 16].mean() < v[0, 4].mean() - 0.3
        assert 0 <= v.min() and v.max() <= 1


def test_held_out_hints_are_one_seeded_protocol_and_a_second_is_a_small_addition():
    from swishpaint.configs import ConfigError
    from swishpaint.data.hints import HINT_PROTOCOLS, held_out_hints, hint_protocol

    color = torch.rand(3, 32, 32)
    sketch = torch.ones(1, 32, 32)
    a = held_out_hints(sketch, color, index=3, count=5, seed=7)
    assert torch.equal(a, held_out_hints(sketch, color, index=3, count=5, seed=7))  # same for every consumer
    assert torch.equal(a, sample_hints(color, np.random.default_rng([7, 3]), count=5))
    assert not torch.equal(a, held_out_hints(sketch, color, index=4, count=5, seed=7))
    with pytest.raises(ConfigError, match="hint protocol: unknown 'nope'; known: patches"):
        held_out_hints(sketch, color, 0, 5, protocol="nope")

    @hint_protocol("centre-dab")
    def centre_dab(sketch, color, rng, count):
        hints = torch.zeros(4, *color.shape[-2:])
        hints[:3, 16, 16], hints[3, 16, 16] = color[:, 16, 16], 1
        return hints

    try:
        h = held_out_hints(sketch, color, 0, 1, protocol="centre-dab")
        assert h[3].sum() == 1 and torch.equal(h[:3, 16, 16], color[:, 16, 16])
    finally:
        del HINT_PROTOCOLS["centre-dab"]


def test_image_tensor_conversions_round_trip_and_round_half_up():
    from swishpaint.data.images import image_to_tensor, tensor_to_image

    im = Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16), "L")
    t = image_to_tensor(im, "L")
    assert t.shape == (1, 16, 16) and torch.equal(image_to_tensor(tensor_to_image(t), "L"), t)
    assert image_to_tensor(im).shape == (3, 16, 16) and image_to_tensor(im.convert("RGBA"), "RGBA").shape == (4, 16, 16)
    half = torch.full((1, 1, 2), 0.5 / 255)  # exactly half a level: rounds up, as every writer does
    assert np.asarray(tensor_to_image(half)).tolist() == [[1, 1]]


def test_data_check_and_training_say_not_a_folder_for_a_file(tmp_path, capsys):
    drawing(0).save(tmp_path / "sketch.png")
    assert main(["data", "check", str(tmp_path / "sketch.png")]) == 2
    assert capsys.readouterr().err == f"swishpaint: error: {tmp_path / 'sketch.png'}: not a folder\n"
    with pytest.raises(Exception, match="not a folder"):
        SketchColorDataset(DataConfig(root=str(tmp_path / "sketch.png")), "train")


# ---------------------------------------------------------------- data pack


def _col(tmp_path, name: str = "col", n: int = 3):
    """A tiny colour-only corpus: n train images and one val image, 48 px."""
    root = tmp_path / name
    for split, count in (("train", n), ("val", 1)):
        (root / split).mkdir(parents=True)
        for i in range(count):
            drawing(i + 10 * (split == "val"), 48).save(root / split / f"img{i}.png")
    return root


def _tree(folder):
    """{relative path: bytes} of every file below folder: proves a refused run changed nothing."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _pack(*args) -> int:
    return main(["data", "pack", *map(str, args)])


def _one_error(capsys, expected: str) -> None:
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [f"swishpaint: error: {expected}"] and "Traceback" not in captured.err


def test_pack_refuses_an_output_that_is_or_is_inside_or_holds_its_input(tmp_path, capsys):
    col = _col(tmp_path)
    before = _tree(col)
    assert _pack(col, col) == 2
    _one_error(capsys, f"{col}: is the input folder; write the pack elsewhere")
    assert _pack(col, col / "train" / "sub") == 2
    _one_error(capsys, f"{col / 'train' / 'sub'}: is inside the input folder {col}; write the pack elsewhere")
    assert _pack(col, tmp_path) == 2
    _one_error(capsys, f"{tmp_path}: holds the input folder {col}; write the pack elsewhere")
    assert _tree(col) == before and not (col / "train" / "sub").exists()


def test_pack_refuses_a_manifest_whose_files_are_malformed_before_packing(tmp_path, capsys):
    col = _col(tmp_path)
    for files in (5, [1, 2], [{"file": ["x"]}]):
        (col / "manifest.json").write_text(json.dumps({"files": files}))
        assert _pack(col, tmp_path / "p") == 2
        _one_error(capsys, f"{col / 'manifest.json'}: 'files' must be a list of entries with a 'file' name; "
                           "the pack copies it pointing at the packed images")
        assert not (tmp_path / "p").exists()


def test_pack_gives_images_sharing_a_stem_their_own_names(tmp_path, capsys):
    col = _col(tmp_path, n=1)
    drawing(5, 48).save(col / "train" / "img0.jpg")
    assert _pack(col, tmp_path / "p") == 0
    assert "packed 3 images" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "p" / "train").iterdir()) == ["img0.webp", "img0_png.webp"]
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert sorted(f["file"] for f in manifest["files"]) == ["train/img0.webp", "train/img0_png.webp", "val/img0.webp"]


def test_a_resumed_pack_repacks_a_name_that_passed_to_another_image(tmp_path, capsys):
    """img0.jpg added beside img0.png takes img0.webp (by name order): the resumed pack must not keep the
    PNG's picture under that name, nor leave the JPEG out."""
    col = _col(tmp_path, n=1)
    packed = tmp_path / "p"
    assert _pack(col, packed, "--quality", 101) == 0
    drawing(7, 48).save(col / "train" / "img0.jpg", quality=100)
    assert _pack(col, packed, "--quality", 101) == 0
    capsys.readouterr()

    def picture(path):
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), int)

    for name, source in (("img0.webp", "img0.jpg"), ("img0_png.webp", "img0.png")):
        assert np.abs(picture(packed / "train" / name) - picture(col / "train" / source)).max() <= 8, name
    (col / "train" / "キャラ").mkdir()
    drawing(8, 48).save(col / "train" / "キャラ" / "a.png")
    assert _pack(col, packed, "--quality", 101) == 0
    before = {p: os.stat(p).st_mtime_ns for p in packed.rglob("*.webp")}
    assert packed_from(packed / "train" / "キャラ" / "a.webp") == "train/キャラ/a.png"
    assert _pack(col, packed, "--quality", 101) == 0  # nothing changed: nothing packed again, any name
    assert {p: os.stat(p).st_mtime_ns for p in packed.rglob("*.webp")} == before


def test_a_repack_never_removes_an_image_reached_through_a_linked_folder(tmp_path, capsys):
    col = _col(tmp_path, n=2)
    packed = tmp_path / "p"
    assert _pack(col, packed) == 0
    originals = tmp_path / "originals"
    originals.mkdir()
    drawing(9).save(originals / "mine.png")
    (packed / "train" / "linked").symlink_to(originals, target_is_directory=True)
    assert _pack(col, packed, "--max-per-folder", 1, "--overwrite") == 0
    assert (originals / "mine.png").is_file()  # not the pack's file: kept
    assert "removed 1 image(s) of the earlier pack" in capsys.readouterr().out


def test_pack_resumes_only_its_own_pack_and_refuses_other_folders(tmp_path, capsys):
    col = _col(tmp_path)
    foreign = tmp_path / "nonempty"
    (foreign / "train").mkdir(parents=True)
    Image.new("RGB", (8, 8), "red").save(foreign / "train" / "img0.webp")
    assert _pack(col, foreign) == 2
    _one_error(capsys, f"{foreign}: is not empty and holds no earlier pack; pass --overwrite to pack into it "
                       f"anyway, or choose an empty folder")
    assert _tree(foreign).keys() == {"train/img0.webp"}

    packed = tmp_path / "p"
    assert _pack(col, packed, "--max-side", 32) == 0
    first = _tree(packed)
    (packed / "train" / "img1.webp").unlink()  # an interrupted run: a re-run packs only what is missing
    assert _pack(col, packed, "--max-side", 32) == 0
    assert _tree(packed) == first
    capsys.readouterr()
    assert _pack(col, packed, "--max-side", 16) == 2
    _one_error(capsys, f"{packed}: was packed with --max-side 32; pass --overwrite to repack everything with the "
                       f"new settings, or choose another folder")
    assert _tree(packed) == first
    assert _pack(col, packed, "--max-side", 16, "--max-per-folder", 2, "--overwrite") == 0
    assert "removed 1 image(s) of the earlier pack" in capsys.readouterr().out
    assert sorted(_tree(packed)) == ["manifest.json", "train/img0.webp", "train/img1.webp", "val/img0.webp"]
    with Image.open(packed / "train" / "img0.webp") as im:
        assert max(im.size) == 16
    assert json.loads((packed / "manifest.json").read_text())["packed"]["max_side"] == 16
    assert _pack(col, foreign, "--overwrite") == 0  # a foreign folder, on request: every image packed anew
    with Image.open(foreign / "train" / "img0.webp") as im:
        assert im.size == (48, 48)


def test_pack_caps_limit_the_folders_they_match_and_a_change_of_caps_is_not_resumed(tmp_path, capsys):
    col = tmp_path / "col"
    for folder, n in (("train/a", 6), ("train/b", 6), ("val/c", 6)):
        (col / folder).mkdir(parents=True)
        for i in range(n):
            drawing(i, 24).save(col / folder / f"img{i}.png")
    packed = tmp_path / "p"
    assert _pack(col, packed, "--max-per-folder", 4, "--cap", "val/*=2", "--cap", "train/b=3", "--cap", "*=1") == 0
    counts = {d: len(list((packed / d).iterdir())) for d in ("train/a", "train/b", "val/c")}
    assert counts == {"train/a": 1, "train/b": 3, "val/c": 2}  # the first matching cap wins
    assert sorted(p.name for p in (packed / "val" / "c").iterdir()) == ["img0.webp", "img3.webp"]  # evenly spaced
    assert json.loads((packed / "manifest.json").read_text())["packed"]["caps"] == ["val/*=2", "train/b=3", "*=1"]
    capsys.readouterr()
    before = _tree(packed)
    assert _pack(col, packed, "--max-per-folder", 4) == 2
    _one_error(capsys, f"{packed}: was packed with --cap val/*=2 --cap train/b=3 --cap *=1; pass --overwrite to "
                       f"repack everything with the new settings, or choose another folder")
    assert _tree(packed) == before
    assert _pack(col, packed, "--max-per-folder", 4, "--cap", "val/*=2", "--cap", "train/b=3", "--cap", "*=1") == 0
    assert _tree(packed) == before  # the same caps resume
    for bad in ("val/*", "=3", "val/*=x", "val/*=-1"):
        assert _pack(col, tmp_path / "q", "--cap", bad) == 2
        _one_error(capsys, f"--cap {bad}: must be FOLDERS=N, e.g. 'val/*=40' (at most N images in each folder "
                           "the pattern matches; 0 keeps all)")
    assert not (tmp_path / "q").exists()
    with pytest.raises(InvalidArgument, match=r"--cap val/\*=-1: must be 0 \(keep all\) or more"):  # the API too
        pack_corpus(col, tmp_path / "q", caps=[("val/*", -1)])
    assert not (tmp_path / "q").exists()


def test_pack_names_every_unreadable_image_and_exits_1(tmp_path, capsys):
    col = _col(tmp_path)
    (col / "train" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    assert _pack(col, tmp_path / "p") == 1
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"swishpaint: error: {col / 'train' / 'bad.png'}: ")
    assert err[0].endswith("; not packed")
    assert "packed 4 images" in captured.out and "1 unreadable image(s) skipped" in captured.out


@pytest.mark.parametrize("option, value, problem", [
    ("--max-side", "-5", "must be at least 1 (pixels of the longest side)"),
    ("--max-side", "0", "must be at least 1 (pixels of the longest side)"),
    ("--quality", "-1", "must be 0 to 100, or 101 for lossless"),
    ("--quality", "500", "must be 0 to 100, or 101 for lossless"),
    ("--max-per-folder", "-2", "must be 0 (keep all) or more"),
])
def test_pack_settings_out_of_range_are_one_line_before_any_work(tmp_path, capsys, option, value, problem):
    col = _col(tmp_path, n=1)
    assert _pack(col, tmp_path / "p6", option, value) == 2
    _one_error(capsys, f"{option} {value}: {problem}")
    assert not (tmp_path / "p6").exists()


def test_pack_and_builds_into_a_file_are_one_line(tmp_path, capsys):
    col = _col(tmp_path, n=1)
    sketch = tmp_path / "sketch.png"
    drawing(0).save(sketch)
    before = sketch.read_bytes()
    assert _pack(col, sketch) == 2
    _one_error(capsys, f"{sketch}: output folder is a file")
    assert main(["data", "build-demo", "--out", str(sketch)]) == 2
    _one_error(capsys, f"{sketch}: output folder is a file")
    assert main(["data", "build-anime", "--out", str(sketch), "--sources", "openmoji"]) == 2
    _one_error(capsys, f"{sketch}: output folder is a file")
    assert sketch.read_bytes() == before
    assert _pack(tmp_path / "missing", tmp_path / "p") == 2
    _one_error(capsys, f"{tmp_path / 'missing'}: no such dataset folder")
    assert _pack(sketch, tmp_path / "p") == 2
    _one_error(capsys, f"{sketch}: not a folder")
    assert main(["data", "build-demo", "--out", str(tmp_path / "d"), "--workers", "0"]) == 2
    _one_error(capsys, "--workers 0: must be at least 1")
    assert not (tmp_path / "d").exists() and not (tmp_path / "p").exists()


def test_images_opened_from_many_threads_leave_the_warning_filters_as_they_were():
    import io
    import warnings
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image

    from swishpaint.data.images import open_image

    buffer = io.BytesIO()
    Image.new("L", (8, 8), 255).save(buffer, "PNG")
    data = buffer.getvalue()
    before = list(warnings.filters)
    with ThreadPoolExecutor(8) as pool:
        sizes = list(pool.map(lambda i: open_image(data, name=f"upload {i}").size, range(400)))
    assert sizes == [(8, 8)] * 400
    assert warnings.filters == before


def test_hue_rotation_keeps_greys_and_lightness_and_turns_hues():
    from swishpaint.data.augment import rotate_hue, vary_hue
    from swishpaint.metrics.quality import rgb_to_lab

    colours = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.8, 0.4, 0.3], [0.3, 0.6, 0.7]])
    image = colours.T[:, :, None]  # (3, 5, 1)
    turned = rotate_hue(image, 2.0)
    assert torch.allclose(turned[:, :3], image[:, :3], atol=1e-4)  # white paper, black ink, grey unchanged
    lab_before, lab_after = rgb_to_lab(image[None])[0], rgb_to_lab(turned[None])[0]
    assert (lab_after[0] - lab_before[0]).abs().max() < 1.0  # lightness kept
    hue = lambda lab: torch.atan2(lab[2], lab[1])
    assert ((hue(lab_after[:, 3:]) - hue(lab_before[:, 3:])).abs() > 0.5).all()  # hues really turned
    assert torch.allclose(rotate_hue(image, 2 * np.pi), image, atol=1e-5)  # a full turn is no turn
    assert vary_hue(image, np.random.default_rng(0), 0.0) is image
    draws = [not torch.equal(vary_hue(image, np.random.default_rng(s), 0.5), image) for s in range(200)]
    assert 70 < sum(draws) < 130


def test_training_samples_hue_rotated_with_their_hints_validation_never(tmp_path):
    from swishpaint.data.datasets import DataConfig, SketchColorDataset
    from swishpaint.data.hints import HintSampling
    from swishpaint.data.images import save_png

    for split in ("train", "val"):
        (tmp_path / split).mkdir()
        save_png(Image.fromarray(np.full((64, 64, 3), (220, 60, 40), np.uint8)), tmp_path / split / "a.png")
    original = torch.tensor([220, 60, 40]) / 255.0
    cfg = DataConfig(root=str(tmp_path), size=64, hue_rotation=1.0, hints=HintSampling(probability=1.0))
    item = SketchColorDataset(cfg, "train", train=True, with_hints=True)[0]
    turned = item["color"][:, 0, 0]
    assert (turned - original).abs().max() > 0.05 and torch.allclose(item["color"], turned[:, None, None])
    mask = item["hints"][3] > 0
    assert mask.any()
    assert torch.allclose(item["hints"][:3][:, mask], turned[:, None], atol=1e-4)  # hints from the turned colours
    val = SketchColorDataset(cfg, "val", train=False)
    assert torch.allclose(val[0]["color"], original[:, None, None].expand(3, 64, 64), atol=1e-6)
