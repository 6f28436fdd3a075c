"""Layered output: files read back by independent readers composite to composite(...) within 2/255.

PSD is written with psd-tools and read back with pytoshop (records, blend keys, channels); ORA is
read back with zipfile, ElementTree and PIL. The blending below is written from the PSD/OpenRaster
definition (b·(1 − a) + a·B(b, c)), not taken from the module under test.
"""

from __future__ import annotations

import zipfile
from xml.etree import ElementTree

import numpy as np
import pytest
from PIL import Image

from swishpaint.cli import main
from swishpaint.data.images import to_uint8
from swishpaint.errors import InvalidArgument, OutputError, SwishpaintError
from swishpaint.inference.layered import (
    PSD_MAX_SIDE,
    composite,
    hidden_layers,
    label_map_path,
    label_palette,
    lines_layer,
    write_label_map,
    write_layers,
)

H, W = 48, 64
TOLERANCE = 2 / 255
LAYER_ORDER = ["lines", "shading", "flats"]  # top to bottom
PSD_MODES = {b"mul ": "multiply", b"norm": "normal"}
ORA_MODES = {"svg:multiply": "multiply", "svg:src-over": "normal"}


def regions(seed: int, count: int, height: int = H, width: int = W) -> np.ndarray:
    """Voronoi regions around `count` random seeds: H×W int32 labels 0..count-1."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform((0, 0), (height, width), (count, 2))
    yx = np.stack(np.mgrid[:height, :width], axis=-1).astype(float)
    return np.argmin(((yx[:, :, None, :] - centres) ** 2).sum(-1), axis=-1).astype(np.int32)


@pytest.fixture
def parts() -> dict[str, np.ndarray]:
    """flats per region, RGB shading, and a sketch with grey, coloured, anti-aliased and arbitrary lines."""
    rng = np.random.default_rng(7)
    labels = regions(seed=3, count=12)
    flats = rng.uniform(0.2, 1.0, (12, 3))[labels]
    gradient = np.linspace(0.35, 1.0, W)[None, :, None]
    shading = np.broadcast_to(gradient, (H, W, 3)) * np.where(labels[..., None] % 3 == 0, [0.7, 0.75, 0.9], 1.0)
    sketch = np.ones((H, W, 3))
    edge = np.zeros((H, W), bool)
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    edge[:-1, :] |= labels[:-1, :] != labels[1:, :]
    halo = np.roll(edge, 1, axis=1) & ~edge
    coloured = labels % 2 == 0
    sketch[edge & ~coloured] = 0.12  # dark grey line
    sketch[edge & coloured] = [0.8, 0.2, 0.1]  # red colour-trace line
    sketch[halo & ~coloured] = 0.6  # anti-aliasing
    sketch[halo & coloured] = [0.95, 0.7, 0.65]
    sketch[:6, :6] = rng.uniform(0, 1, (6, 6, 3))  # any RGB must round-trip too
    return {"flats": flats, "shading": shading, "sketch": sketch, "labels": labels}


def blend(layers_bottom_up: list[tuple[np.ndarray, str]]) -> np.ndarray:
    """Composite 8-bit straight-alpha RGBA layers by their declared blend modes over the bottom one."""
    result = None
    for rgba, mode in layers_bottom_up:
        colour, alpha = rgba[..., :3] / 255.0, rgba[..., 3:] / 255.0
        if result is None:
            result = np.ones_like(colour)  # white canvas under the (opaque) bottom layer
        mixed = {"multiply": result * colour, "normal": colour}[mode]
        result = result * (1 - alpha) + alpha * mixed
    return result


@pytest.fixture
def pytoshop_reader():
    return _pytoshop()


def _pytoshop():
    """pytoshop, with PIL's PackBits codec standing in where its optional Cython decoder is not built."""
    import pytoshop
    import pytoshop.codecs as codecs

    class PillowPackBits:
        @staticmethod
        def decode(data: bytes, height: int, width: int, depth: int, version: int) -> bytes:
            row_lengths = (2 if version == 1 else 4) * height  # each row's packed size comes first
            rows = bytes(data[row_lengths:])
            return Image.frombytes("L", (width * depth, height), rows, "packbits", "L").tobytes()

    if not hasattr(codecs, "packbits"):
        codecs.packbits = PillowPackBits
    return pytoshop


def test_lines_layer_multiplies_to_the_sketch(parts):
    rng = np.random.default_rng(1)
    base = rng.uniform(0, 1, (H, W, 3))
    layer = lines_layer(parts["sketch"])
    result = blend([(np.dstack([base * 255, np.full((H, W), 255)]), "normal"), (layer, "multiply")])
    assert np.abs(result - base * parts["sketch"]).max() <= 1 / 255
    paper = (parts["sketch"] == 1).all(-1)
    grey = (parts["sketch"] == 0.12).all(-1)
    assert (layer[paper, 3] == 0).all()  # the paper is transparent
    assert (layer[grey, :3] == 0).all() and (layer[grey, 3] == round(0.88 * 255)).all()  # grey lines: black
    red = (parts["sketch"] == [0.8, 0.2, 0.1]).all(-1)
    assert (layer[red, 0] > 150).all() and (layer[red, 3] == round(0.9 * 255)).all()  # colour is kept


def test_composite_is_the_product_and_accepts_grey(parts):
    grey_shading = parts["shading"][..., 0]
    out = composite(parts["flats"], grey_shading, parts["sketch"])
    assert out.shape == (H, W, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, parts["flats"] * grey_shading[..., None] * parts["sketch"], atol=1e-6)


def test_psd_reads_back_in_pytoshop_and_composites(tmp_path, parts, pytoshop_reader):
    written = write_layers(tmp_path / "page.psd", parts["flats"], parts["shading"], parts["sketch"], parts["labels"])
    assert written == [tmp_path / "page.psd", tmp_path / "page.labels.png"]
    with open(written[0], "rb") as f:
        psd = pytoshop_reader.read(f)
        assert (psd.width, psd.height, psd.depth, psd.num_channels) == (W, H, 8, 3)
        assert psd.color_mode == pytoshop_reader.enums.ColorMode.rgb
        records = psd.layer_and_mask_info.layer_info.layer_records  # bottom first
        assert [r.name for r in records][::-1] == LAYER_ORDER
        assert [r.blend_mode for r in records][::-1] == [b"mul ", b"mul ", b"norm"]
        assert all(r.opacity == 255 and r.visible for r in records)
        assert all((r.top, r.left, r.bottom, r.right) == (0, 0, H, W) for r in records)
        layers = [(np.dstack([r.channels[c].image for c in (0, 1, 2, -1)]), r.blend_mode) for r in records]
        merged = np.dstack([psd.image_data.channels[c] for c in range(3)]) / 255.0
    modes = {b"mul ": "multiply", b"norm": "normal"}
    flats_alpha, shading_alpha = layers[0][0][..., 3], layers[1][0][..., 3]
    assert (flats_alpha == 255).all() and (shading_alpha == 255).all()
    expected = composite(parts["flats"], parts["shading"], parts["sketch"])
    assert np.abs(blend([(rgba, modes[key]) for rgba, key in layers]) - expected).max() <= TOLERANCE
    assert np.abs(merged - expected).max() <= TOLERANCE  # the merged image previews show


def test_ora_reads_back_and_composites(tmp_path, parts):
    path = write_layers(tmp_path / "page.ora", parts["flats"], parts["shading"], parts["sketch"])[0]
    with zipfile.ZipFile(path) as ora:
        first = ora.infolist()[0]
        assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED
        assert ora.read("mimetype") == b"image/openraster"
        assert path.read_bytes()[30:38] == b"mimetype"  # first local header, no extra field: sniffable
        image = ElementTree.fromstring(ora.read("stack.xml"))
        assert (image.tag, image.get("w"), image.get("h")) == ("image", str(W), str(H))
        stack = image.find("stack").findall("layer")  # top first
        assert [layer.get("name") for layer in stack] == LAYER_ORDER
        assert [layer.get("composite-op") for layer in stack] == ["svg:multiply", "svg:multiply", "svg:src-over"]

        def png(name: str) -> Image.Image:
            with ora.open(name) as f:
                im = Image.open(f)
                im.load()
                return im

        layers = [(np.asarray(png(layer.get("src")).convert("RGBA")), layer.get("composite-op")) for layer in stack]
        merged = np.asarray(png("mergedimage.png").convert("RGB")) / 255.0
        thumbnail = png("Thumbnails/thumbnail.png")
    modes = {"svg:multiply": "multiply", "svg:src-over": "normal"}
    expected = composite(parts["flats"], parts["shading"], parts["sketch"])
    assert np.abs(blend([(rgba, modes[op]) for rgba, op in layers[::-1]]) - expected).max() <= TOLERANCE
    assert np.abs(merged - expected).max() <= TOLERANCE
    assert thumbnail.size == (W, H)  # at most 256 on a side, never enlarged


def test_ora_is_byte_identical_for_the_same_inputs(tmp_path, parts):
    a = write_layers(tmp_path / "a.ora", parts["flats"], parts["shading"], parts["sketch"])[0]
    b = write_layers(tmp_path / "b.ora", parts["flats"], parts["shading"], parts["sketch"])[0]
    assert a.read_bytes() == b.read_bytes()


def test_label_map_up_to_256_labels_is_an_indexed_png(tmp_path):
    labels = regions(seed=5, count=256, height=40, width=40)
    labels[0, 0] = 255  # the largest label a palette holds
    path = write_label_map(tmp_path / "labels.png", labels)
    with Image.open(path) as im:
        assert im.mode == "P"
        np.testing.assert_array_equal(np.asarray(im), labels)
        palette = np.array(im.getpalette()).reshape(-1, 3)[: labels.max() + 1]
    np.testing.assert_array_equal(palette, label_palette(int(labels.max()) + 1))


def test_label_map_beyond_256_labels_is_16_bit(tmp_path):
    labels = np.arange(H * W, dtype=np.int32).reshape(H, W) * 21  # 3072 labels up to 64491
    path = write_label_map(tmp_path / "labels.png", labels)
    with Image.open(path) as im:
        assert im.mode == "I;16"
        np.testing.assert_array_equal(np.asarray(im), labels)


def test_label_palette_colours_are_distinct():
    palette = label_palette()
    assert palette.shape == (256, 3) and palette.dtype == np.uint8
    assert len({tuple(c) for c in palette}) == 256
    neighbours = np.abs(palette[1:].astype(int) - palette[:-1]).sum(-1)
    assert neighbours.min() >= 60  # consecutive ids (often neighbouring regions) contrast


@pytest.mark.parametrize("bad", [-1, 65536])
def test_label_map_refuses_labels_a_png_cannot_hold(tmp_path, bad):
    labels = np.zeros((4, 4), np.int64)
    labels[0, 0] = bad
    with pytest.raises(SwishpaintError, match="labels.png: labels must lie in 0..65535"):
        write_label_map(tmp_path / "labels.png", labels)
    assert list(tmp_path.iterdir()) == []


def test_refused_labels_leave_no_layered_file(tmp_path, parts):
    labels = parts["labels"].copy()
    labels[0, 0] = -1
    with pytest.raises(SwishpaintError, match="page.labels.png: labels must lie in 0..65535, not -1..11"):
        write_layers(tmp_path / "page.ora", parts["flats"], parts["shading"], parts["sketch"], labels)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "page.labels.png").mkdir()  # the label map cannot be written: neither file is
    with pytest.raises(OutputError, match="page.labels.png: is a folder"):
        write_layers(tmp_path / "page.psd", parts["flats"], parts["shading"], parts["sketch"], parts["labels"])
    assert [p.name for p in tmp_path.iterdir()] == ["page.labels.png"]


def test_unknown_suffix_is_a_one_line_user_error(tmp_path, parts):
    with pytest.raises(SwishpaintError, match=r"page.tif: a layered output must end in .psd or .ora"):
        write_layers(tmp_path / "page.tif", parts["flats"], parts["shading"], parts["sketch"])
    assert list(tmp_path.iterdir()) == []


def test_writes_replace_old_files_and_leave_no_temporaries(tmp_path, parts):
    for suffix in (".psd", ".ora"):
        target = tmp_path / f"page{suffix}"
        target.write_bytes(b"old")
        write_layers(target, parts["flats"], parts["shading"], parts["sketch"], parts["labels"])
        assert target.read_bytes() != b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.labels.png", "page.ora", "page.psd"]
    assert label_map_path(tmp_path / "page.psd") == tmp_path / "page.labels.png"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"shading": np.ones((H, W - 1))}, "shading is"),
        ({"sketch": np.full((H, W, 3), 1.5)}, r"sketch must be float in \[0, 1\]"),
        ({"flats": np.ones((H, W))}, "flats must be H×W×3"),
        ({"labels": np.zeros((H, W + 1), np.int32)}, "labels are"),
    ],
)
def test_bad_inputs_name_the_array(tmp_path, parts, change, message):
    args = {**parts, **change}
    with pytest.raises(ValueError, match=message):
        write_layers(tmp_path / "page.psd", args["flats"], args["shading"], args["sketch"], args["labels"])
    assert list(tmp_path.iterdir()) == []


def read_layered(path) -> tuple[list[str], list[bool], np.ndarray, np.ndarray]:
    """A layered file read back by an independent reader: layer names and visibility (top first), the
    composite of its visible layers, and its stored merged image (floats in [0, 1])."""
    if path.suffix == ".psd":
        with open(path, "rb") as f:
            psd = _pytoshop().read(f)
            records = psd.layer_and_mask_info.layer_info.layer_records[::-1]  # top first
            layers = [(np.dstack([r.channels[c].image for c in (0, 1, 2, -1)]), PSD_MODES[r.blend_mode], r.visible)
                      for r in records]
            names = [r.name for r in records]
            merged = np.dstack([psd.image_data.channels[c] for c in range(3)]) / 255.0
    else:
        with zipfile.ZipFile(path) as ora:
            stack = ElementTree.fromstring(ora.read("stack.xml")).find("stack").findall("layer")
            assert all(layer.get("visibility") in ("visible", "hidden") for layer in stack)
            layers = [(np.asarray(Image.open(ora.open(layer.get("src"))).convert("RGBA")),
                       ORA_MODES[layer.get("composite-op")], layer.get("visibility") == "visible") for layer in stack]
            names = [layer.get("name") for layer in stack]
            merged = np.asarray(Image.open(ora.open("mergedimage.png")).convert("RGB")) / 255.0
    visible = [shown for _, _, shown in layers]
    return names, visible, blend([(rgba, mode) for rgba, mode, shown in layers[::-1] if shown]), merged


def test_hidden_layers_follow_the_png_options():
    assert hidden_layers() == frozenset()
    assert hidden_layers("flat") == {"shading"}
    assert hidden_layers("final", keep_lines=False) == {"lines"}
    assert hidden_layers("flat", keep_lines=False) == {"lines", "shading"}


@pytest.mark.parametrize("suffix", [".psd", ".ora"])
@pytest.mark.parametrize("hidden", [frozenset(), {"shading"}, {"lines"}, {"lines", "shading"}])
def test_hidden_layers_are_kept_flagged_and_left_out_of_the_composite(tmp_path, parts, suffix, hidden):
    path = write_layers(tmp_path / f"page{suffix}", parts["flats"], parts["shading"], parts["sketch"],
                        hidden=frozenset(hidden))[0]
    names, visible, shown, merged = read_layered(path)
    assert names == LAYER_ORDER  # every layer is there to edit
    assert visible == [name not in hidden for name in LAYER_ORDER]
    expected = parts["flats"] * (1 if "shading" in hidden else parts["shading"]) * \
        (1 if "lines" in hidden else parts["sketch"])
    assert np.abs(shown - expected).max() <= TOLERANCE
    assert np.abs(merged - expected).max() <= TOLERANCE


def test_only_lines_and_shading_can_be_hidden(tmp_path, parts):
    with pytest.raises(ValueError, match="cannot hide flats"):
        write_layers(tmp_path / "page.ora", parts["flats"], parts["shading"], parts["sketch"], hidden=frozenset({"flats"}))
    assert list(tmp_path.iterdir()) == []


def line_sketch(size: int = 64) -> Image.Image:
    """White paper with a dark grey box and a cross: a few regions, grey lines."""
    grey = np.full((size, size), 255, np.uint8)
    grey[8:56, [8, 9, 54, 55]] = grey[[8, 9, 54, 55], 8:56] = 30
    grey[30:32, 8:56] = grey[8:56, 30:32] = 60
    return Image.fromarray(grey)


@pytest.mark.parametrize("kind", ["psd", "ora"])
@pytest.mark.parametrize("flags", [[], ["--flat"], ["--no-keep-lines"], ["--flat", "--no-keep-lines"]])
def test_cli_layered_file_composites_to_the_png_beside_it(model_dir, tmp_path, kind, flags):
    line_sketch().save(tmp_path / "page.png")
    out = tmp_path / "out"
    assert main(["colorize", str(tmp_path / "page.png"), "-o", str(out), "--model", str(model_dir),
                 "--layers", kind, *flags]) == 0
    names, visible, shown, merged = read_layered(out / f"page.{kind}")
    assert names == LAYER_ORDER
    assert visible == ["--no-keep-lines" not in flags, "--flat" not in flags, True]
    png = np.asarray(Image.open(out / "page.png").convert("RGB")) / 255.0
    assert np.abs(shown - png).max() <= TOLERANCE
    assert np.abs(merged - png).max() <= TOLERANCE


def test_a_sketch_too_large_for_a_psd_is_one_line_and_the_batch_goes_on(model_dir, tmp_path, capsys):
    """PSD holds at most 30000 pixels a side (a 40x30001 sketch is well inside the pixel limit): that
    sketch fails alone, in one line pointing to ora, which takes it; the API says the same."""
    src = tmp_path / "in"
    src.mkdir()
    line_sketch().save(src / "b.png")
    tall = np.full((PSD_MAX_SIDE + 1, 40), 255, np.uint8)
    tall[:, 19:21] = 0
    Image.fromarray(tall).save(src / "a_tall.png")
    out = tmp_path / "out"
    assert main(["colorize", str(src), "-o", str(out), "--model", str(model_dir), "--layers", "psd"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"swishpaint: error: {src / 'a_tall.png'}: 40x30001 is too large for a PSD (at most 30000 "
                   "pixels a side); OpenRaster (ora) has no such limit")
    assert sorted(p.name for p in out.iterdir()) == ["b.labels.png", "b.png", "b.psd"]
    assert main(["colorize", str(src / "a_tall.png"), "-o", str(out), "--model", str(model_dir), "--layers", "ora"]) == 0
    flat = np.ones((PSD_MAX_SIDE + 1, 2, 3), np.float32)
    with pytest.raises(InvalidArgument, match="2x30001 is too large for a PSD"):
        write_layers(tmp_path / "big.psd", flat, flat, flat)
    assert not (tmp_path / "big.psd").exists()


def test_cli_sequence_layered_file_composites_to_the_png_without_lines(model_dir, tmp_path):
    sketch = line_sketch()
    key = np.asarray(sketch.convert("RGB")).copy()
    key[12:28, 12:28] = (200, 40, 40)
    Image.fromarray(key).save(tmp_path / "key.png")
    sketch.save(tmp_path / "key_sketch.png")
    sketch.save(tmp_path / "f0.png")
    out = tmp_path / "out"
    assert main(["colorize", str(tmp_path / "f0.png"), "-o", str(out), "--model", str(model_dir), "--reference",
                 str(tmp_path / "key.png"), "--reference-sketch", str(tmp_path / "key_sketch.png"),
                 "--layers", "ora", "--no-keep-lines"]) == 0
    names, visible, shown, merged = read_layered(out / "f0.ora")
    assert names == LAYER_ORDER and visible == [False, True, True]
    png = np.asarray(Image.open(out / "f0.png").convert("RGB")) / 255.0
    assert np.abs(shown - png).max() <= TOLERANCE and np.abs(merged - png).max() <= TOLERANCE


def colour_line_sketch() -> Image.Image:
    """`line_sketch` with a red and a blue colour-trace line across it (RGB)."""
    rgb = np.asarray(line_sketch().convert("RGB")).copy()
    rgb[18:20, 12:50] = (220, 20, 20)  # red
    rgb[42:44, 12:50] = (20, 40, 220)  # blue
    return Image.fromarray(rgb)


@pytest.mark.parametrize("kind", ["psd", "ora"])
def test_cli_colour_trace_lines_keep_their_colour_in_the_png_and_the_lines_layer(model_dir, tmp_path, kind):
    colour_line_sketch().save(tmp_path / "page.png")
    out = tmp_path / "out"
    assert main(["colorize", str(tmp_path / "page.png"), "-o", str(out), "--model", str(model_dir),
                 "--layers", kind, "--flat"]) == 0
    from swishpaint.inference.colorizer import Colorizer

    png = np.asarray(Image.open(out / "page.png").convert("RGB")).astype(int)
    flats = Colorizer.load(model_dir).colorize_regions(tmp_path / "page.png").flats(0).image
    expected = flats * np.asarray(colour_line_sketch()) / 255  # the flats × the lines in their own colours
    assert np.abs(png / 255 - expected).max() <= TOLERANCE
    red, blue = png[18:20, 12:50].reshape(-1, 3), png[42:44, 12:50].reshape(-1, 3)
    assert (red[:, 0] > red[:, 1:].max(1)).all() and (blue[:, 2] > blue[:, :2].max(1)).all()  # not grey
    names, visible, shown, merged = read_layered(out / f"page.{kind}")
    assert np.abs(shown - png / 255).max() <= TOLERANCE and np.abs(merged - png / 255).max() <= TOLERANCE
    if kind == "ora":
        with zipfile.ZipFile(out / "page.ora") as ora:
            lines = np.asarray(Image.open(ora.open("data/lines.png")).convert("RGBA")).astype(int)
        # over white, the lines layer alone gives the sketch's colour back (within a few /255)
        alone = 255 * (1 - lines[..., 3:] / 255) + lines[..., :3] * lines[..., 3:] / 255
        assert np.abs(alone[18:20, 12:50] - [220, 20, 20]).max() <= 3
        assert np.abs(alone[42:44, 12:50] - [20, 40, 220]).max() <= 3


def test_colour_lines_are_multiplied_over_every_output_and_in_sequences(model_dir, tmp_path):
    from swishpaint.inference.colorizer import Colorizer
    from swishpaint.inference.sequence import SequenceColourer
    from swishpaint.regions.matching import ColouredRegions

    c = Colorizer.load(model_dir)
    sketch = colour_line_sketch()
    colouring = c.colorize_regions(sketch)
    assert colouring.line_colour is not None and colouring.lines().shape == (64, 64, 3)
    flats = colouring.flats(0)
    expected = to_uint8(flats.image * flats.shading[..., None] * np.asarray(sketch) / 255)
    assert np.abs(colouring.image(0).astype(int) - expected).max() <= 1
    key = c.colorize_regions(line_sketch())
    frame = SequenceColourer(c, ColouredRegions(key.segmentation.labels, key.flats(0).colours)).colour(sketch)
    assert (frame.image()[18:20, 12:50, 0].astype(int) > frame.image()[18:20, 12:50, 1] + 60).all()


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_grey_sketches_carry_no_colour_copy_and_colour_as_before(model_dir, mode):
    from swishpaint.inference.colorizer import Colorizer

    c = Colorizer.load(model_dir)
    sketch = line_sketch().convert(mode)
    colouring = c.colorize_regions(sketch)
    assert colouring.line_colour is None  # grey, even stored as RGB: nothing extra held
    for output in ("final", "flat", "network"):
        before = colouring.image(0, output)  # the grey rule, as it was: colours × grey sketch, in bands
        flats = colouring.flats(0) if output != "network" else None
        rows = colouring.network(0) if flats is None else flats.rows(0, 64, shading=output == "final")
        assert before.tobytes() == to_uint8(rows * colouring.sketch[..., None]).tobytes()
