"""Data: layouts, safe image loading, line extraction, hints, augmentation, bad files."""

from __future__ import annotations


import numpy as np
import pytest
import torch
from PIL import Image

from swishpaint.cli import main
from swishpaint.data.augment import aligned_augment, vary_line_style
from swishpaint.data.datasets import DataConfig, SketchColorDataset, check_dataset, detect_layout
from swishpaint.data.hints import HintSampling, hints_from_rgba, hints_to_rgba, resize_hints, sample_hints
from swishpaint.data.images import ImageError, load_grey, load_rgb, load_rgba
from swishpaint.data.lines import extract_lines

from .conftest import drawing


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
    assert set(ds.bad_files) == {str(color_dir / "train" / n) for n in
                                 ("corrupt.png", "truncated.png", "empty.png", "notes.webp")}
    assert "empty file" in ds.bad_files[str(color_dir / "train" / "empty.png")]
    assert any("corrupt.png" in r.message for r in caplog.records)
    cache = list((color_dir / ".swishpaint-cache").rglob("*.png"))
    assert len(cache) == 8


def test_data_check_reports_unreadable_files(color_dir, capsys):
    report = check_dataset(color_dir)
    assert report["splits"]["train"]["samples"] == 12 and report["splits"]["val"]["samples"] == 3
    assert len(report["unreadable"]) == 4
    assert main(["data", "check", str(color_dir)]) == 1
    out = capsys.readouterr().out
    assert "layout color" in out and "truncated.png" in out


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
