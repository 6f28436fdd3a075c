"""Colourise: CLI and Python API on a tiny model; any size and mode; hints; bad input."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image

from swishpaint.cli import main
from swishpaint.data.images import NotRGBA
from swishpaint.errors import InvalidArgument
from swishpaint.inference.colorizer import Colorizer, RegionColouring
from swishpaint.inference.upsample import guided_upsample
from swishpaint.regions.flats import FlatConfig
from swishpaint.regions.segment import segment

from .conftest import TINY_CANDIDATES, drawing, sketch_of


@pytest.fixture
def sketches(tmp_path):
    d = tmp_path / "sketches"
    d.mkdir()
    sketch_of(drawing(0, 70)).save(d / "odd.png")  # not a multiple of 32
    rgba = Image.new("RGBA", (50, 90), (255, 0, 0, 0))
    rgba.paste((0, 0, 0, 255), (10, 10, 20, 80))
    rgba.save(d / "rgba.png")
    Image.fromarray((np.random.default_rng(0).random((40, 40)) * 65535).astype(np.uint16)).save(d / "g16.png")
    p = sketch_of(drawing(2, 64)).convert("P")
    p.save(d / "palette.png")
    sketch_of(drawing(3, 64)).convert("RGB").save(d / "photo.jpg")
    return d


def test_cli_colourises_every_mode_and_size(model_dir, sketches, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["colorize", str(sketches), "-o", str(out), "--model", str(model_dir), "-k", "3"]) == 0
    for stem, size in {"odd": (70, 70), "rgba": (50, 90), "g16": (40, 40), "palette": (64, 64), "photo": (64, 64)}.items():
        assert Image.open(out / f"{stem}.png").size == size
        for i in (1, 2, 3):
            assert Image.open(out / f"{stem}_c{i}.png").size == size
        assert (out / f"{stem}_sheet.png").is_file()
    assert "colourised 5 of 5" in capsys.readouterr().out


def test_bad_inputs_are_reported_and_the_rest_processed(model_dir, sketches, tmp_path, capsys):
    (sketches / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    (sketches / "empty.jpg").write_bytes(b"")
    (sketches / "text.webp").write_text("not an image")
    Image.new("L", (3000, 3000), 255).save(sketches / "huge.png")
    out = tmp_path / "out"
    code = main(["colorize", str(sketches), str(tmp_path / "missing.png"), "-o", str(out), "--model", str(model_dir)])
    assert code == 1
    captured = capsys.readouterr()
    err_lines = [line for line in captured.err.splitlines() if line.startswith("swishpaint: error")]
    assert len(err_lines) == 4
    assert any("broken.png: corrupt" in line for line in err_lines)
    assert any("empty.jpg: empty file" in line for line in err_lines)
    assert any("text.webp: not an image" in line for line in err_lines)
    assert any("missing.png: no such file" in line for line in err_lines)
    assert "Traceback" not in captured.err
    assert sorted(p.name for p in out.iterdir()) == ["g16.png", "huge.png", "odd.png", "palette.png",
                                                     "photo.jpg".replace(".jpg", ".png"), "rgba.png"]
    assert not list(out.glob(".*"))  # no temporary leftovers


def test_too_large_input_is_refused(model_dir, tmp_path):
    Image.new("L", (200, 200), 255).save(tmp_path / "big.png")
    c = Colorizer.load(model_dir, max_pixels=10_000)
    from swishpaint.data.images import ImageError

    with pytest.raises(ImageError, match="too large"):
        c.colorize(tmp_path / "big.png")
    # the same limit for images handed over in memory: the pipeline after needs several times their size
    big = Image.new("L", (200, 200), 255)
    for image, label in ((big, "<image>"), (np.asarray(big), "<image>")):
        with pytest.raises(ImageError, match=f"^{label}: too large: 200x200 = 40000 pixels \\(limit 10000\\)$"):
            c.colorize(image)
    small = Image.new("L", (50, 50), 255)
    for hints, label in ((Image.new("RGBA", (200, 200)), "<hints image>"), (np.zeros((200, 200, 4), np.uint8),
                         "<hints array>"), (torch.zeros(4, 200, 200), "<hints tensor>")):
        with pytest.raises(ImageError, match=f"^{label}: too large"):
            c.colorize(small, hints=hints)
    assert c.colorize(small, hints=torch.zeros(4, 100, 100))  # within the limit: resized to the sketch


def test_hints_checks(model_dir, sketches, tmp_path, capsys):
    sketch = sketches / "odd.png"
    Image.new("RGB", (70, 70), "red").save(tmp_path / "rgb_hints.png")
    code = main(["colorize", str(sketch), "-o", str(tmp_path / "o1"), "--model", str(model_dir),
                 "--hints", str(tmp_path / "rgb_hints.png")])
    assert code == 1 and "must be an RGBA PNG" in capsys.readouterr().err
    hints = Image.new("RGBA", (35, 35), (0, 0, 0, 0))
    hints.paste((0, 0, 255, 255), (5, 5, 10, 10))
    hints.save(tmp_path / "small_hints.png")
    code = main(["colorize", str(sketch), "-o", str(tmp_path / "o2"), "--model", str(model_dir),
                 "--hints", str(tmp_path / "small_hints.png"), "-k", "2"])
    err = capsys.readouterr().err
    assert code == 0 and "hints resized from 35x35 to the sketch's size 70x70" in err and "stretched" not in err
    hints.resize((35, 20)).save(tmp_path / "wide_hints.png")
    code = main(["colorize", str(sketch), "-o", str(tmp_path / "o3"), "--model", str(model_dir),
                 "--hints", str(tmp_path / "wide_hints.png")])
    assert code == 0 and "from 35x20 to the sketch's size 70x70 and stretched" in capsys.readouterr().err
    code = main(["colorize", str(sketch), str(sketches / "rgba.png"), "-o", str(tmp_path / "o4"), "--model",
                 str(model_dir), "--hints", str(tmp_path / "small_hints.png")])  # one hints file, two sketches
    assert code == 2 and capsys.readouterr().err.strip().splitlines() == [
        "swishpaint: error: --hints FILE needs exactly one input; give a folder of <stem>.png hints for many"]
    assert not (tmp_path / "o4").exists()


@pytest.mark.parametrize("flags,message", [
    (["--layers", "psd", "--output", "network"], "--layers needs region output (the layers are its flats and "
                                                 "shading), not output network"),
    (["--layers", "ora", "--backend", "onnx"], "--layers needs the torch backend (onnx gives finished images only)"),
    (["--flat", "--output", "network"], "--flat is --output flat: it does not go with --output network"),
])
def test_options_that_contradict_each_other_are_one_line_before_the_model_loads(sketches, tmp_path, capsys,
                                                                                       flags, message):
    code = main(["colorize", str(sketches / "odd.png"), "-o", str(tmp_path / "out"), "--model",
                 str(tmp_path / "no-model"), *flags])  # the options are refused before the missing model is noticed
    assert code == 2 and capsys.readouterr().err == f"swishpaint: error: {message}\n"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("model", ["swish_unet_tiny", "unet_tiny"])
def test_cli_refuses_an_untrained_architecture_name(sketches, tmp_path, monkeypatch, capsys, model):
    monkeypatch.chdir(tmp_path)
    assert main(["colorize", str(sketches / "odd.png"), "-o", "out", "--model", model]) == 2
    err = capsys.readouterr().err
    assert err == (f"swishpaint: error: {model}: an untrained architecture, not a trained model; "
                   f"give a model folder (see swishpaint train)\n")
    assert not (tmp_path / "out").exists()  # nothing coloured with random weights, no folder left behind


def test_cli_names_a_model_path_that_is_an_image_file(sketches, tmp_path, capsys):
    code = main(["colorize", str(sketches / "odd.png"), "-o", str(tmp_path / "out"),
                 "--model", str(sketches / "odd.png")])
    err = capsys.readouterr().err
    assert code == 2 and err.strip() == (f"swishpaint: error: {sketches / 'odd.png'}: not a model folder "
                                         f"(give the folder holding config.yaml and model.safetensors)")


def test_cli_output_modes_match_the_api(model_dir, sketches, tmp_path):
    sketch = sketches / "odd.png"
    hints = Image.new("RGBA", (70, 70), (0, 0, 0, 0))
    hints.paste((0, 200, 0, 255), (30, 30, 36, 36))
    hints.save(tmp_path / "hints.png")
    c = Colorizer.load(model_dir)
    results = {}
    for flags, output in ((["--flat"], "flat"), (["--output", "network"], "network"), ([], "final")):
        out = tmp_path / output
        assert main(["colorize", str(sketch), "-o", str(out), "--model", str(model_dir),
                     "--hints", str(tmp_path / "hints.png"), *flags]) == 0
        expected = c.colorize(sketch, hints=tmp_path / "hints.png", output=output)[0]
        results[output] = np.asarray(Image.open(out / "odd.png").convert("RGB"), np.int16)
        assert np.array_equal(results[output], np.asarray(expected))
    assert np.abs(results["flat"] - results["network"]).max() > 30  # regions change the colours


def test_layers_flag_writes_a_layered_file_that_composites_to_the_default_output(model_dir, sketches, tmp_path):
    from psd_tools import PSDImage

    from swishpaint.inference.layered import composite

    sketch = sketches / "odd.png"
    for kind in ("psd", "ora"):
        out = tmp_path / kind
        assert main(["colorize", str(sketch), "-o", str(out), "--model", str(model_dir), "--layers", kind]) == 0
        assert (out / f"odd.{kind}").stat().st_size > 0 and (out / "odd.labels.png").is_file()
    psd = PSDImage.open(tmp_path / "psd" / "odd.psd")
    assert [layer.name for layer in psd] == ["flats", "shading", "lines"]  # bottom to top
    colouring = Colorizer.load(model_dir).colorize_regions(sketch)
    flats = colouring.flats(0)
    default = np.asarray(Image.open(tmp_path / "psd" / "odd.png"), np.float32) / 255
    np.testing.assert_allclose(composite(flats.image, flats.shading, colouring.sketch), default, atol=1 / 255 + 1e-6)
    labels = np.asarray(Image.open(tmp_path / "psd" / "odd.labels.png"))
    assert np.array_equal(labels, colouring.segmentation.labels)


def test_python_api_accepts_paths_images_and_arrays(model_dir, sketches):
    c = Colorizer.load(model_dir)
    path = sketches / "odd.png"
    a = c.colorize(path, candidates=TINY_CANDIDATES)
    b = c.colorize(Image.open(path))
    arr = np.asarray(Image.open(path))
    d = c.colorize(arr)
    e = c.colorize(arr.astype(np.float32) / 255)
    assert len(a) == TINY_CANDIDATES and all(im.mode == "RGB" and im.size == (70, 70) for im in a + b + d + e)
    assert np.array_equal(np.asarray(a[0]), np.asarray(b[0])) and np.array_equal(np.asarray(b[0]), np.asarray(d[0]))
    with pytest.raises(ValueError, match=f"between 1 and {TINY_CANDIDATES}"):
        c.colorize(path, candidates=TINY_CANDIDATES + 1)


@pytest.mark.parametrize("kwargs,message", [
    ({"candidates": "3"}, f"candidates must be an integer between 1 and {TINY_CANDIDATES} for this model, got '3'"),
    ({"candidates": 2.5}, "got 2.5"),
    ({"candidates": True}, "got True"),
    ({"size": "64"}, "working size must be an integer between 32 and 1536, got '64'"),
    ({"image": None}, "image must be a file path, bytes, a PIL image or a numpy array, got NoneType"),
    ({"image": 5}, "got int"),
    ({"image": np.zeros((0, 0), np.uint8)}, "image is empty (0x0)"),
    ({"image": np.zeros((0, 4), np.float32)}, "image is empty (4x0)"),
    ({"image": Image.new("L", (0, 5))}, "image is empty (0x5)"),
    ({"image": np.full((8, 8), np.nan, np.float32)}, "image contains NaN or infinite values"),
    ({"image": np.array([[0.5, np.inf]])}, "NaN or infinite"),
    ({"image": np.zeros((4, 4, 5), np.uint8)}, "got shape (4, 4, 5)"),
    ({"image": np.array([["a"]])}, "must hold numbers"),
    ({"hints": 5}, "hints must be a file path, bytes, a PIL image, a numpy array or a tensor, got int"),
    ({"hints": np.zeros((0, 0, 4), np.uint8)}, "hints: image is empty (0x0)"),
    ({"hints": Image.new("RGBA", (0, 0))}, "hints image is empty (0x0)"),
    ({"hints": np.full((32, 32, 4), np.nan)}, "hints: image contains NaN or infinite values"),
    ({"hints": torch.zeros(3, 32, 32)}, "a hints tensor must be float (4, H, W): RGB in [0, 1] and a mask, got "
                                        "torch.float32 (3, 32, 32)"),
    ({"hints": torch.zeros(1, 4, 32, 32)}, "got torch.float32 (1, 4, 32, 32)"),
    ({"hints": torch.full((4, 32, 32), float("nan"))}, "hints: the tensor holds NaN or infinite values"),
    ({"hints": torch.zeros(4, 0, 96)}, "hints tensor is empty (96x0)"),
])
def test_python_api_refuses_wrong_arguments_with_invalid_argument(tiny_model, kwargs, message):
    c = Colorizer(tiny_model, working_size=64)
    call = {"image": np.full((32, 32), 255, np.uint8), **kwargs}
    with pytest.raises(InvalidArgument) as e:
        c.colorize(**call)
    assert message in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(InvalidArgument):
        c.colorize_regions(**call)


@pytest.mark.parametrize("max_pixels", ["x", None, 0, 2.5, True])
def test_a_bad_pixel_limit_is_refused_when_the_colorizer_is_made(tiny_model, max_pixels):
    with pytest.raises(InvalidArgument, match=f"max_pixels must be a positive integer, got {max_pixels!r}"):
        Colorizer(tiny_model, max_pixels=max_pixels)


def test_a_hints_file_without_a_dab_colours_as_no_hints_do(model_dir, tmp_path):
    """Every candidate the same as without hints, in the model card's order (not re-ranked by no dabs)."""
    colorizer = Colorizer.load(model_dir)
    colorizer.candidate_order = list(range(colorizer.candidates))[::-1]  # any order but the model's own
    sketch = sketch_of(drawing(3, 48))
    empty = Image.new("RGBA", sketch.size, (0, 0, 0, 0))
    plain = colorizer.colorize(sketch, candidates=3)
    warnings: list[str] = []
    with_empty = colorizer.colorize(sketch, hints=empty, candidates=3, warnings=warnings)
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(plain, with_empty))
    assert warnings == ["the hints hold no dab (no pixel with alpha > 0): coloured without hints"]
    colouring = colorizer.colorize_regions(sketch)
    with pytest.raises(InvalidArgument, match="got 'bogus'"):
        colouring.image(0, output="bogus")


def test_hints_as_a_pil_image_follow_the_file_rule_for_transparency(tiny_model):
    """A palette PNG with a transparent colour is a hints file; the same image in memory is hints too."""
    import io
    c = Colorizer(tiny_model, working_size=64)
    sketch = np.full((32, 32), 255, np.uint8)
    dabs = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    dabs.paste((200, 30, 30, 255), (4, 4, 12, 12))
    palette = Image.new("P", (32, 32), 0)  # colour 0 transparent, colour 1 the dab
    palette.putpalette([0, 0, 0, 200, 30, 30])
    palette.paste(1, (4, 4, 12, 12))
    palette.info["transparency"] = 0
    buffer = io.BytesIO()
    palette.save(buffer, "PNG", transparency=0)
    from_bytes = c.colorize(sketch, hints=buffer.getvalue(), candidates=1)
    from_image = c.colorize(sketch, hints=palette, candidates=1)
    from_rgba = c.colorize(sketch, hints=dabs, candidates=1)
    assert np.array_equal(np.asarray(from_bytes[0]), np.asarray(from_image[0]))
    assert np.array_equal(np.asarray(from_image[0]), np.asarray(from_rgba[0]))
    with pytest.raises(NotRGBA, match="got mode P"):
        c.colorize(sketch, hints=Image.new("P", (32, 32), 0), candidates=1)


def test_a_sketch_on_grey_paper_comes_out_on_white_with_its_hints_and_an_inverted_one_is_said(model_dir):
    colorizer = Colorizer.load(model_dir)
    white = np.asarray(sketch_of(drawing(3, 96)), np.float32)
    seg = segment(white / 255)
    region = int(np.argmax(seg.areas() * (np.bincount(seg.labels.ravel()) > 0)))
    ys, xs = np.nonzero((seg.labels == region) & ~seg.lines)
    hints = Image.new("RGBA", (96, 96), (0, 0, 0, 0))
    hints.putpixel((int(xs[len(xs) // 2]), int(ys[len(ys) // 2])), (200, 30, 30, 255))
    photo = Image.fromarray((white * 0.75).astype(np.uint8))  # paper at 191: a phone photo of the page
    warnings: list[str] = []
    colouring = colorizer.colorize_regions(photo, hints=hints, warnings=warnings)
    assert warnings == [] and colouring.segmentation.count == seg.count
    out = colouring.image(0, "flat")
    assert (out[seg.labels == region][:, 0] > 150).mean() > 0.9  # the dab's region took its red
    assert np.abs(colouring.sketch - white / 255).mean() < 0.01  # the lines multiplied over: on white paper
    inverted = Image.fromarray((255 - white).astype(np.uint8))
    colorizer.colorize_regions(inverted, warnings=warnings)
    assert len(warnings) == 1 and "of the sketch reads as ink: swishpaint expects dark lines on light paper" \
        in warnings[0]


def test_hints_without_a_transparent_pixel_are_refused_everywhere(tiny_model, tmp_path, capsys, model_dir):
    """A hint layer exported with its white background would paint the whole sketch white."""
    opaque = Image.new("RGBA", (32, 32), (255, 255, 255, 255))
    opaque.paste((200, 30, 30, 255), (4, 4, 9, 9))
    c = Colorizer(tiny_model, working_size=64)
    sketch = np.full((32, 32), 255, np.uint8)
    for hints, name in ((opaque, "<hints image>"), (np.asarray(opaque), "<hints array>")):
        with pytest.raises(NotRGBA, match=f"^{re.escape(name)}: the hints have no transparent pixel"):
            c.colorize(sketch, hints=hints)
    opaque.save(tmp_path / "hints.png")
    Image.fromarray(sketch).save(tmp_path / "s.png")
    assert main(["colorize", str(tmp_path / "s.png"), "-o", str(tmp_path / "out"), "--model", str(model_dir),
                 "--hints", str(tmp_path / "hints.png")]) == 1
    assert capsys.readouterr().err == (f"swishpaint: error: {tmp_path / 's.png'}: {tmp_path / 'hints.png'}: the hints "
                                       "have no transparent pixel, so every pixel would be a hint: export the hint "
                                       "layer alone, transparent where there is no dab\n")


def test_a_turned_photo_opened_by_the_caller_comes_out_as_its_path_does(model_dir, tmp_path):
    """Image.open keeps a JPEG's EXIF turn for its reader; the API turns it as it turns a file."""
    c = Colorizer.load(model_dir)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored on its side, shown upright
    sketch_of(drawing(1, 64)).resize((64, 40)).convert("RGB").save(tmp_path / "photo.jpg", exif=exif.tobytes())
    from_path = c.colorize(tmp_path / "photo.jpg")[0]
    from_image = c.colorize(Image.open(tmp_path / "photo.jpg"))[0]
    assert from_path.size == from_image.size == (40, 64)
    assert np.array_equal(np.asarray(from_path), np.asarray(from_image))


def test_an_animation_file_is_read_by_its_first_frame_and_said(model_dir, tmp_path):
    c = Colorizer.load(model_dir)
    first, second = Image.new("RGB", (48, 48), "white"), sketch_of(drawing(2, 48)).convert("RGB")
    for name in ("cut.webp", "cut.png"):
        first.save(tmp_path / name, save_all=True, append_images=[second], lossless=True)
        warnings: list[str] = []
        c.colorize(tmp_path / name, warnings=warnings)
        assert warnings == ["the file holds 2 frames (an animation): only the first was read"]
    second.save(tmp_path / "photo.jpg", "MPO", save_all=True, append_images=[first])  # a phone JPEG + gain map
    assert Image.open(tmp_path / "photo.jpg").n_frames == 2
    warnings = []
    c.colorize(tmp_path / "photo.jpg", warnings=warnings)
    assert warnings == []


def test_python_api_takes_numpy_integers_and_one_channel_arrays(tiny_model):
    c = Colorizer(tiny_model, working_size=64)
    out = c.colorize(np.full((16, 24, 1), 255, np.uint8), candidates=np.int64(2), size=np.int32(64))
    assert len(out) == 2 and out[0].size == (24, 16)
    assert len(c.colorize(np.full((16, 24), 255, np.uint8), keep_lines=np.bool_(False))) == 1
    with pytest.raises(InvalidArgument, match="^keep_lines must be True or False, got 'no'$"):  # not truthy
        c.colorize(np.full((16, 24), 255, np.uint8), keep_lines="no")


def test_keep_lines_keeps_the_ink_dark(model_dir, sketches):
    c = Colorizer.load(model_dir)
    ink = np.asarray(Image.open(sketches / "odd.png")) < 64
    on = np.asarray(c.colorize(sketches / "odd.png", keep_lines=True)[0].convert("L"))
    off = np.asarray(c.colorize(sketches / "odd.png", keep_lines=False)[0].convert("L"))
    assert on[ink].mean() < 40 and on[ink].mean() <= off[ink].mean()


def test_hints_order_candidates_by_agreement(model_dir):
    c = Colorizer.load(model_dir)
    sketch = np.full((64, 64), 255, np.uint8)
    hints = np.zeros((64, 64, 4), np.uint8)
    hints[20:40, 20:40] = (255, 0, 0, 255)
    out = c.colorize(sketch, hints=hints, candidates=TINY_CANDIDATES, keep_lines=False, output="network")
    err = [np.abs(np.asarray(im, np.float32)[20:40, 20:40] - [255, 0, 0]).mean() for im in out]
    assert err == sorted(err)


def test_large_sketch_is_coloured_at_working_size_and_upsampled(model_dir, tmp_path):
    sketch_of(drawing(5, 96)).resize((600, 600), Image.NEAREST).save(tmp_path / "big.png")
    c = Colorizer.load(model_dir, working_size=64)
    out = c.colorize(tmp_path / "big.png")
    assert out[0].size == (600, 600)


def test_guided_upsampling_follows_the_guide_edges():
    """A colour edge at low resolution lands on the full-resolution line, not blurred across it."""
    full = torch.ones(1, 64, 64)
    full[:, :, 31:33] = 0.0  # a line at x = 31..32
    small = torch.nn.functional.interpolate(full[None], size=(16, 16), mode="area")[0]
    colours = torch.zeros(1, 3, 16, 16)
    colours[:, 0, :, 8:] = 1.0  # red right of the line
    up = guided_upsample(colours, small, full)
    assert up.shape == (1, 3, 64, 64)
    assert up[0, 0, 32, 40] > 0.9 and up[0, 0, 32, 20] < 0.1


def test_stored_candidate_order_is_used_without_hints(model_dir):
    import yaml

    spec = yaml.safe_load((model_dir / "config.yaml").read_text())
    spec["candidate_order"] = [2, 0, 1]
    (model_dir / "config.yaml").write_text(yaml.safe_dump(spec))
    plain = Colorizer.load(model_dir, candidate_order=[0, 1, 2]).colorize(np.full((32, 32), 255, np.uint8), candidates=3)
    ordered = Colorizer.load(model_dir).colorize(np.full((32, 32), 255, np.uint8), candidates=3)
    assert [np.asarray(im).tobytes() for im in ordered] == [np.asarray(plain[i]).tobytes() for i in (2, 0, 1)]


def _boxed_sketch(size: int = 48, gap: bool = False) -> torch.Tensor:
    """(1, S, S) paper with a closed square outline from 12 to 35 (a gap in its top side if asked)."""
    sketch = torch.ones(1, size, size)
    sketch[:, 12:36, 12:14] = sketch[:, 12:36, 34:36] = 0
    sketch[:, 12:14, 12:36] = sketch[:, 34:36, 12:36] = 0
    if gap:
        sketch[:, 12:14, 22:26] = 1
    return sketch


def test_numbers_read_by_their_range_sixteen_bit_and_unit_floats_too_and_hints_alike(model_dir):
    """Arrays and PIL's number modes follow one rule (data.images.value_range): a 16-bit array is not
    clipped to white, a float image in [0, 1] not divided to black, and float hints in [0, 1] keep
    their colour (they used to be cast to uint8: red became 1/255)."""
    c = Colorizer.load(model_dir)
    ramp = np.linspace(0, 1, 48 * 48).reshape(48, 48)
    for given in ((ramp * 65535).astype(np.uint16), Image.fromarray(ramp.astype(np.float32)),
                  ramp, (ramp * 255).astype(np.uint8)):
        assert abs(float(c.load_sketch(given).mean()) - 0.5) < 0.01, type(given)
    grey_alpha = Image.fromarray((ramp * 255).astype(np.uint8)).convert("LA").convert("La")
    assert abs(float(c.load_sketch(grey_alpha).mean()) - 0.5) < 0.01  # premultiplied grey: PIL's 'La'
    sketch = (_boxed_sketch()[0].numpy() * 255).astype(np.uint8)
    hints = np.zeros((48, 48, 4))
    hints[20:22, 20:22] = (1.0, 0.0, 0.0, 1.0)  # red, as floats in [0, 1]
    flat = np.asarray(c.colorize(sketch, hints=hints, keep_lines=False, output="flat")[0], np.float32)
    assert np.abs(flat[16:32, 16:32] - [255, 0, 0]).max() <= 1


def test_a_model_folder_with_a_working_size_or_candidate_order_it_cannot_run_fails_to_load(model_dir):
    from swishpaint.models import ModelLoadError

    config = model_dir / "config.yaml"
    original = config.read_text()
    for line, message in (("working_size: 0", "working size 0 is outside 32..1536"),
                          ("working_size: 100000", "working size 100000 is outside"),
                          ("candidate_order: [0]", f"candidate_order must list each of the model's {TINY_CANDIDATES} "
                                                   "candidates"),
                          ("candidate_order: [0, 0, 1]", "got [0, 0, 1]")):
        config.write_text(original + line + "\n")
        with pytest.raises(ModelLoadError) as e:
            Colorizer.load(model_dir)
        assert str(e.value).startswith(f"{config}: ") and message in str(e.value)
    config.write_text(original + "working_size: -5\n")  # info and export read the card as colorize does
    for command in (["info", str(model_dir)], ["export", "onnx", "--model", str(model_dir), "--out",
                                               str(model_dir.parent / "onnx")]):
        assert main(command) == 2, command
    assert not (model_dir.parent / "onnx").exists()
    config.write_text(original)
    with pytest.raises(InvalidArgument, match="working size 0 is outside"):
        Colorizer.load(model_dir, working_size=0)  # given to the loader: the argument, not the file
    with pytest.raises(ModelLoadError, match="^the model is an empty name; give a model folder, or leave it out"):
        Colorizer.load("")  # not a quiet "the bundled one"
    with pytest.raises(InvalidArgument, match="^a model is a folder path or a registered name, got int$"):
        Colorizer.load(5)
    with pytest.raises(InvalidArgument, match="got \\[5\\]"):
        Colorizer.load(model_dir, candidate_order=[5])


def test_hinted_regions_take_the_hint_colour_in_every_candidate_and_nothing_across_lines(model_dir):
    c = Colorizer.load(model_dir)
    sketch = (_boxed_sketch()[0].numpy() * 255).astype(np.uint8)
    hints = np.zeros((48, 48, 4), np.uint8)
    hints[20:22, 20:22] = (0, 0, 255, 255)
    flat = [np.asarray(im, np.float32) for im in c.colorize(sketch, hints=hints, candidates=3, keep_lines=False,
                                                            output="flat")]
    plain = np.asarray(c.colorize(sketch, hints=hints, keep_lines=False, output="network")[0], np.float32)
    for im in flat:  # every candidate honours the hint exactly inside the box
        assert np.abs(im[16:32, 16:32] - [0, 0, 255]).max() <= 1
    assert np.abs(plain[16:32, 16:32] - [0, 0, 255]).mean() > 40  # an untrained network ignores hints
    assert np.abs(flat[0][40:, 40:] - [0, 0, 255]).mean() > 40  # outside the box: not the hint's colour


def one_error_line(err: str) -> str:
    """The single stderr line of a user error (and proof there is nothing else: no traceback)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("device,expected", [
    pytest.param("cuda", "CUDA is not available on this machine",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")),
    pytest.param("cuda:0", "CUDA is not available on this machine",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")),
    ("banana", "not a device (cpu, cuda or cuda:N)"),
])
def test_unusable_device_is_one_line_naming_the_option_not_the_weights(model_dir, sketches, tmp_path, capsys,
                                                                      device, expected):
    out = tmp_path / "out"
    assert main(["colorize", str(sketches / "odd.png"), "-o", str(out), "--model", str(model_dir),
                 "--device", device]) == 2
    assert one_error_line(capsys.readouterr().err) == f"swishpaint: error: --device {device}: {expected}"
    assert not out.exists() or not any(out.iterdir())
    with pytest.raises(InvalidArgument, match=re.escape(f"device {device!r}: {expected}")):  # the API's name
        Colorizer.load(model_dir, device=device)


def test_evaluate_and_fit_regions_check_the_device_too(model_dir, tmp_path, capsys):
    assert main(["evaluate", "--model", str(model_dir), "--data", str(tmp_path), "--device", "banana"]) == 2
    assert main(["fit-regions", "--model", str(model_dir), "--data", str(tmp_path), "--device", "banana"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == ["swishpaint: error: --device banana: not a device (cpu, cuda or cuda:N)"] * 2
    for command, option, value in (("fit-regions", "--epochs", "0"), ("fit-regions", "--images", "-3"),
                                   ("evaluate", "--hints", "-3"), ("evaluate", "--images", "-1")):
        with pytest.raises(SystemExit) as e:
            main([command, "--model", str(model_dir), "--data", str(tmp_path), option, value])
        assert e.value.code == 2 and f"argument {option}: {int(value)}: must be at least" in capsys.readouterr().err
    assert not (model_dir / "region_choice.safetensors").exists()


def test_every_candidate_keeps_the_paper_that_candidate_1_left_white():
    """The candidates are other colourings of the figure, not of the background: a candidate that paints
    the paper orange keeps it white where candidate 1 left it white, and still colours the figure."""
    sketch = _boxed_sketch(64)[0]
    network = torch.empty(2, 3, 64, 64)
    network[0] = 0.95  # candidate 1: light paper, light box
    network[1] = torch.tensor([1.0, 0.5, 0.0])[:, None, None]  # candidate 2: orange everywhere
    colouring = RegionColouring(sketch.numpy(), segment(sketch.numpy()), None, sketch[None], network,
                                FlatConfig(shading_strength=0), 64)
    second = colouring.image(1, "flat", keep_lines=False).astype(np.float32)
    assert np.abs(second[2:8, 2:8] - 255).max() <= 1  # the paper stays white
    assert np.abs(second[20:28, 20:28] - [255, 128, 0]).max() <= 2  # the box takes candidate 2's colour
    assert colouring.flats(0).paper.sum() == colouring.flats(1).paper.sum() == 1
    # a background candidate 1 colours stays each candidate's own to decide: one that leaves it light keeps paper
    network[0] = torch.tensor([0.2, 0.3, 0.6])[:, None, None]  # candidate 1: a blue background
    network[1] = 0.95
    colouring = RegionColouring(sketch.numpy(), segment(sketch.numpy()), None, sketch[None], network,
                                FlatConfig(shading_strength=0), 64)
    assert colouring.flats(0).paper.sum() == 0
    assert np.abs(colouring.image(1, "flat", keep_lines=False)[2:8, 2:8].astype(np.float32) - 255).max() <= 1


def test_a_line_threshold_a_person_sets_decides_the_regions_in_the_cli_and_the_api(model_dir, tmp_path, capsys):
    """--line-threshold / line_threshold=: a faint stroke beside inked lines closes its areas when the
    person says it is line; the network and its region chooser are shared, not reloaded or refused."""
    from .test_regions import faint_split

    Image.fromarray(faint_split()).save(tmp_path / "faint.png")
    for threshold, out, regions in ((None, "auto", 2), ("0.08", "low", 3)):
        flag = ["--line-threshold", threshold] if threshold else []
        assert main(["colorize", str(tmp_path / "faint.png"), "-o", str(tmp_path / out), "--model", str(model_dir),
                     "--layers", "ora", *flag]) == 0
        labels = np.asarray(Image.open(tmp_path / out / "faint.labels.png"))
        assert len(np.unique(labels)) == regions
    c = Colorizer.load(model_dir)
    low = c.with_line_threshold(0.08)
    assert low.model is c.model and low.region_chooser is c.region_chooser and c.segment_config.threshold is None
    assert low.colorize_regions(tmp_path / "faint.png").segmentation.count == 3
    assert Colorizer.load(model_dir, line_threshold=0.08).colorize_regions(tmp_path / "faint.png").segmentation.count == 3
    assert c.colorize_regions(tmp_path / "faint.png").segmentation.count == 2
    capsys.readouterr()
    for flags, message in ((["--line-threshold", "1.5"], "line threshold must be a darkness between 0 and 1"),
                           (["--line-threshold", "0.1", "--output", "network"], "output network uses none"),
                           (["--line-threshold", "2", "--reference", str(tmp_path / "faint.png")],
                            "line threshold must be a darkness between 0 and 1")):
        assert main(["colorize", str(tmp_path / "faint.png"), "-o", str(tmp_path / "bad"), "--model", str(model_dir),
                     *flags]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and not (tmp_path / "bad").exists()
    with pytest.raises(InvalidArgument, match="line threshold"):
        c.with_line_threshold(2)
