"""Layered output: one PSD or OpenRaster file per sketch that Krita, GIMP, Photoshop and Clip Studio open.

Region-first colouring produces three float RGB images in [0, 1], each H×W×3:
flats (one opaque colour per region), shading (a multiplicative factor, 1 = no change) and the
sketch (white paper, dark or coloured lines). The default output is their product,
`composite(flats, shading, sketch)`; the layered file holds the same three parts so an artist can
recolour a region or repaint the shading, and composites to that product (within 8-bit rounding).

Layers, top to bottom:
  "lines"    multiply, transparent paper, line colour kept (see `lines_layer`)
  "shading"  multiply, opaque
  "flats"    normal, opaque
and, when region labels are given, a label map PNG beside the file (see `write_label_map`).
All three layers are always written, so a person can edit any of them; a layer the PNG beside the file
left out (`--flat`: no shading; `--no-keep-lines`: no lines) is written hidden (`hidden_layers`),
so the file as opened composites to that PNG. Both formats carry the flag: the PSD layer record's
visible bit (psd-tools `Layer.visible`; its merged image leaves hidden layers out) and OpenRaster's
`visibility="hidden"`.

The format follows the suffix: .psd (8-bit RGB, written with psd-tools; blend keys 'mul ' and
'norm') or .ora (OpenRaster: a zip with an uncompressed `mimetype` first, stack.xml with
composite-op "svg:multiply" / "svg:src-over", data/*.png, mergedimage.png, Thumbnails/thumbnail.png).
Both apps blend a layer of colour c and alpha a over an opaque backdrop b as
b·(1 − a) + a·B(b, c), with B(b, c) = b·c for multiply (W3C compositing, PSD and OpenRaster alike).
Checked by hand: GIMP 2.10 opens the PSD with these names and modes and flattens it to within
1.2/255 of `composite`. (GIMP 2.10's ORA loader is a Python 2 plug-in that Debian 12 lacks;
GIMP 3 and Krita read ORA natively.)
"""

from __future__ import annotations

import colorsys
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
from PIL import Image

from ..data.images import output_png_info, to_uint8
from ..errors import InvalidArgument, SwishpaintError
from ..files import FileGroup, atomic_path

LAYERED_SUFFIXES = (".psd", ".ora")
LABEL_MAP_SUFFIX = ".labels.png"
THUMBNAIL_SIZE = 256  # OpenRaster: the thumbnail's longest side is at most 256 pixels
MAX_PALETTE_LABELS = 256  # a PNG palette holds at most 256 colours
MAX_LABELS = 65536  # a 16-bit grey PNG holds labels 0..65535
ORA_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed, so the same inputs give the same bytes
PSD_MAX_SIDE = 30000  # the PSD format's limit per side (larger needs PSB, which few apps write); ORA has none


@dataclass(frozen=True)
class Layer:
    """One 8-bit layer: `pixels` is H×W×4 uint8 RGBA (straight, not premultiplied, alpha)."""

    name: str
    pixels: np.ndarray
    blend: str  # "multiply" or "normal"
    visible: bool = True


HIDEABLE_LAYERS = ("lines", "shading")  # flats is the opaque base: hiding it would show no colouring
ORA_COMPOSITE_OPS = {"multiply": "svg:multiply", "normal": "svg:src-over"}


def composite(flats: np.ndarray, shading: np.ndarray, sketch: np.ndarray,
              hidden: frozenset[str] = frozenset()) -> np.ndarray:
    """The default colouring output, flats × shading × sketch: H×W×3 float32 in [0, 1], of the layers
    not `hidden` (a hidden multiply layer changes nothing).

    shading and sketch may be H×W grey or H×W×3 RGB; the layered file composites to this product.
    """
    flats, shading, sketch = _checked_parts(flats, shading, sketch)
    _check_hidden(hidden)
    result = flats.copy()
    if "shading" not in hidden:
        result *= shading
    if "lines" not in hidden:
        result *= sketch
    return result


def lines_layer(sketch: np.ndarray) -> np.ndarray:
    """The sketch as a transparent multiply layer: H×W×4 uint8 RGBA that composites to `base * sketch`.

    With a = max over channels of (1 − s) and colour c_k = 1 − (1 − s_k) / a (c = 0 where a = 0),
    multiply gives base·(1 − a + a·c_k) = base·(1 − a + a − (1 − s_k)) = base·s_k exactly, so the
    paper is transparent and the lines keep their colour; grey lines (all s_k equal) get c = 0, black,
    with alpha 1 − s. c lies in [0, 1] because a ≥ 1 − s_k. Alpha is rounded to 8 bits before the
    colour is derived from it (and the colour clipped to [0, 1] where rounding made a < 1 − s_k),
    so what remains is about the colour's rounding, ≤ 0.5/255 after blending.
    """
    ink = 1.0 - _three_channels(_checked_unit("sketch", sketch))
    alpha = to_uint8(np.maximum(np.maximum(ink[..., 0], ink[..., 1]), ink[..., 2]))
    a = alpha[..., None] / np.float32(255.0)
    colour = 1.0 - ink / np.maximum(a, np.float32(1 / 255))
    colour *= alpha[..., None] > 0  # the paper's colour is invisible; 0 keeps it out of resampled edges
    return np.concatenate([to_uint8(np.clip(colour, 0.0, 1.0)), alpha[..., None]], axis=-1)


def line_rows(sketch: np.ndarray, line_colour: np.ndarray | None, y0: int = 0, y1: int | None = None) -> np.ndarray:
    """Rows y0..y1 of the lines multiplied over a colouring, float32 in [0, 1]: (rows, W, 3) in the sketch's
    own colours when it has them (`line_colour`, uint8), else (rows, W, 1) grey. Colour-trace lines
    (iro-sen) stay red or blue; a grey sketch gives exactly its grey, as before."""
    if line_colour is None:
        return sketch[y0:y1, :, None]
    return line_colour[y0:y1] / np.float32(255)


def hidden_layers(output: str = "final", keep_lines: bool = True) -> frozenset[str]:
    """The layers the PNG of `output` ("final" or "flat") and `keep_lines` leaves out: written hidden, not
    dropped, so the layered file composites to that PNG and the artist can still turn them on."""
    return frozenset({"shading"} if output == "flat" else set()) | frozenset(set() if keep_lines else {"lines"})


def layer_stack(flats: np.ndarray, shading: np.ndarray, sketch: np.ndarray,
                hidden: frozenset[str] = frozenset()) -> list[Layer]:
    """The three layers, top to bottom, as 8-bit RGBA; those named in `hidden` are written hidden."""
    flats, shading, sketch = _checked_parts(flats, shading, sketch)
    _check_hidden(hidden)
    layers = [
        Layer("lines", lines_layer(sketch), "multiply"),
        Layer("shading", _opaque(shading), "multiply"),
        Layer("flats", _opaque(flats), "normal"),
    ]
    return [Layer(l.name, l.pixels, l.blend, l.name not in hidden) for l in layers]


def label_map_path(layered_path: str | Path) -> Path:
    """Where the label map of a layered file goes: beside it, `NAME.labels.png`."""
    layered_path = Path(layered_path)
    return layered_path.with_name(layered_path.stem + LABEL_MAP_SUFFIX)


def write_layers(
    path: str | Path,
    flats: np.ndarray,
    shading: np.ndarray,
    sketch: np.ndarray,
    labels: np.ndarray | None = None,
    hidden: frozenset[str] = frozenset(),
) -> list[Path]:
    """Write the layered file (format from the suffix) and, given labels, the label map; return their paths.

    flats: H×W×3, shading and sketch: H×W or H×W×3, all float in [0, 1]; labels: H×W integers ≥ 0;
    hidden: names of layers written hidden (see `hidden_layers`).
    """
    with FileGroup() as group:  # the pair, all or nothing
        return stage_layers(group, path, flats, shading, sketch, labels, hidden)


def stage_layers(group: FileGroup, path: str | Path, flats: np.ndarray, shading: np.ndarray, sketch: np.ndarray,
                 labels: np.ndarray | None = None, hidden: frozenset[str] = frozenset()) -> list[Path]:
    """Stage in `group` the layered file at `path` and, given labels, its label map beside it
    (`label_map_path`); return their paths. Everything is checked before anything is written, so a
    refusal leaves no files; the group renames them into place with the rest of its files (write_layers
    alone, or a colouring's PNGs and the layered pair together)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in LAYERED_SUFFIXES:
        raise SwishpaintError(
            f"{path}: a layered output must end in {' or '.join(LAYERED_SUFFIXES)}, not '{path.suffix}'"
        )
    flats, shading, sketch = _checked_parts(flats, shading, sketch)
    check_layered_size(suffix, *flats.shape[:2])
    label_path = label_map_path(path)
    if labels is not None:
        labels = _checked_labels(label_path, labels)
        if labels.shape != flats.shape[:2]:
            raise ValueError(f"labels are {labels.shape}, the images {flats.shape[:2]}")
    group.write(path, lambda tmp: _write_checked(tmp, suffix, flats, shading, sketch, hidden))
    if labels is not None:
        group.write(label_path, lambda tmp: write_label_png(tmp, labels, label_path))
    return [path] + ([label_path] if labels is not None else [])


def write_layered(path: str | Path, suffix: str, flats: np.ndarray, shading: np.ndarray, sketch: np.ndarray,
                  hidden: frozenset[str] = frozenset()) -> None:
    """Write the layered file in the format of `suffix` (".psd" or ".ora") straight to `path`, which
    is a temporary: callers make the write atomic (`layered_bytes` reads it back). Layers named in
    `hidden` are written hidden, and the merged image leaves them out."""
    flats, shading, sketch = _checked_parts(flats, shading, sketch)
    check_layered_size(suffix, *flats.shape[:2])
    _write_checked(path, suffix, flats, shading, sketch, hidden)


def _write_checked(path: str | Path, suffix: str, flats: np.ndarray, shading: np.ndarray, sketch: np.ndarray,
                   hidden: frozenset[str]) -> None:
    layers = layer_stack(flats, shading, sketch, hidden)
    if suffix == ".psd":
        write_psd(path, layers)
    else:
        write_ora(path, layers, to_uint8(composite(flats, shading, sketch, hidden)))


def check_layered_size(suffix: str, height: int, width: int) -> None:
    """A sketch too large for the format is the person's to fix (another format), not a crash."""
    if suffix == ".psd" and max(height, width) > PSD_MAX_SIDE:
        raise InvalidArgument(f"{width}x{height} is too large for a PSD (at most {PSD_MAX_SIDE} pixels a side); "
                              "OpenRaster (ora) has no such limit")


LAYERED_TYPES = {"psd": "image/vnd.adobe.photoshop", "ora": "image/openraster"}


def check_layers(layers: str | None, output: str = "final", backend: str = "torch", name: str = "layers") -> None:
    """A layered file is a colouring's regions (flats, shading, lines): psd or ora, of region output, from
    the torch backend (an ONNX graph gives finished images only). `name`: what the caller calls the
    setting (the CLI's "--layers"). None or "" asks for no layered file."""
    if not layers:
        return
    if layers not in LAYERED_TYPES:
        raise InvalidArgument(f"{name} takes psd or ora, got {layers!r}")
    if output == "network":
        raise InvalidArgument(f"{name} needs region output (the layers are its flats and shading), not output network")
    if backend != "torch":
        raise InvalidArgument(f"{name} needs the torch backend ({backend} gives finished images only)")


def layered_bytes(suffix: str, flats: np.ndarray, shading: np.ndarray, sketch: np.ndarray,
                  hidden: frozenset[str] = frozenset()) -> bytes:
    """The layered file's bytes (for the REST API), written through a temporary file."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"layers{suffix}"
        write_layered(path, suffix, flats, shading, sketch, hidden)
        return path.read_bytes()


def label_map_bytes(labels: np.ndarray) -> bytes:
    """The label map PNG's bytes (for the REST API)."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        return write_label_map(Path(folder) / "labels.png", labels).read_bytes()


def label_map_rgb_bytes(labels: np.ndarray) -> bytes:
    """The label map as an RGB PNG holding label = r + 256·g (b = 0), for browsers: a canvas reads 8-bit
    RGBA exactly, but neither a palette PNG's indices nor a 16-bit grey PNG's values."""
    labels = _checked_labels(Path("labels"), labels)
    rgb = np.zeros((*labels.shape, 3), np.uint8)
    rgb[..., 0], rgb[..., 1] = labels & 255, labels >> 8
    return _png_bytes(Image.fromarray(rgb, "RGB"))


def write_psd(path: str | Path, layers: list[Layer]) -> None:
    """Write 8-bit RGB PSD layers (given top to bottom) with psd-tools, which also stores the merged image.

    psd-tools composites the merged image itself (multiply included, hidden layers left out), so
    previews and apps that only read the merged image see the same result; it needs no compiled extension.
    """
    from psd_tools import PSDImage
    from psd_tools.constants import BlendMode

    modes = {"multiply": BlendMode.MULTIPLY, "normal": BlendMode.NORMAL}
    height, width = layers[0].pixels.shape[:2]
    psd = PSDImage.new("RGB", (width, height), depth=8)
    for layer in reversed(layers):  # a PSD lists its layers bottom first
        written = psd.create_pixel_layer_from_array(layer.pixels, name=layer.name, blend_mode=modes[layer.blend])
        written.visible = layer.visible  # the layer record's visible flag
    psd.save(str(path))


def write_ora(path: str | Path, layers: list[Layer], merged: np.ndarray) -> None:
    """Write an OpenRaster file: layers given top to bottom, `merged` the H×W×3 uint8 composite."""
    height, width = merged.shape[:2]
    merged_image = Image.fromarray(merged)
    thumbnail = merged_image.copy()
    thumbnail.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
    with zipfile.ZipFile(path, "w") as ora:
        # The spec: "mimetype" first, stored uncompressed, so `file` and apps can sniff the type.
        ora.writestr(_zip_entry("mimetype", zipfile.ZIP_STORED), "image/openraster")
        ora.writestr(_zip_entry("stack.xml"), _stack_xml(layers, width, height))
        for layer in layers:
            ora.writestr(_zip_entry(f"data/{layer.name}.png"), _png_bytes(Image.fromarray(layer.pixels)))
        ora.writestr(_zip_entry("mergedimage.png"), _png_bytes(merged_image))
        ora.writestr(_zip_entry("Thumbnails/thumbnail.png"), _png_bytes(thumbnail))


def write_label_map(path: str | Path, labels: np.ndarray) -> Path:
    """Write region labels as a PNG that reads back exactly; return the path.

    Labels 0..255 become an indexed (mode 'P') PNG whose palette gives each region a distinct colour,
    so it is also a readable picture. Labels up to 65535 do not fit a PNG palette (256 entries at
    most) and become a 16-bit grey PNG holding the label values (it looks black in a viewer; read
    it as numbers). Larger or negative labels are refused.
    """
    path = Path(path)
    with atomic_path(path) as tmp:  # a refusal inside removes the temporary: nothing is left behind
        write_label_png(tmp, labels, path)
    return path


def write_label_png(path: str | Path, labels: np.ndarray, target: str | Path | None = None) -> None:
    """The label map (see write_label_map) straight to `path`, a temporary that callers make atomic
    (write_label_map, write_layers, the CLI's all-or-nothing groups); `target` names it in errors."""
    labels = _checked_labels(Path(target or path), labels)
    high = int(labels.max()) if labels.size else 0
    if high < MAX_PALETTE_LABELS:
        image = Image.frombytes("P", labels.shape[::-1], labels.astype(np.uint8).tobytes())
        image.putpalette(label_palette(high + 1).tobytes())
    else:
        image = Image.fromarray(labels.astype(np.uint16))  # mode 'I;16': a 16-bit grey PNG
    image.save(path, format="PNG", pnginfo=output_png_info())  # beside a result, never a sketch


def label_palette(count: int = MAX_PALETTE_LABELS) -> np.ndarray:
    """`count` (≤ 256) distinct colours, count×3 uint8: golden-ratio hues over 3 saturations × 3 values.

    Neighbouring labels differ in hue by ~137.5°, so adjacent regions (often consecutive ids) contrast.
    """
    golden = (5**0.5 - 1) / 2
    colours = [
        colorsys.hsv_to_rgb((i * golden) % 1.0, (0.85, 0.55, 0.7)[i % 3], (0.95, 0.75, 0.55)[(i // 3) % 3])
        for i in range(count)
    ]
    return to_uint8(np.array(colours).reshape(count, 3))


def _checked_labels(path: Path, labels: np.ndarray) -> np.ndarray:
    """An H×W integer array with labels 0..65535, or an error naming the label map it was meant for."""
    labels = np.asarray(labels)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be an H×W integer array, not {labels.dtype} {labels.shape}")
    low, high = (int(labels.min()), int(labels.max())) if labels.size else (0, 0)
    if low < 0 or high >= MAX_LABELS:
        raise SwishpaintError(f"{path}: labels must lie in 0..{MAX_LABELS - 1}, not {low}..{high}")
    return labels


def _stack_xml(layers: list[Layer], width: int, height: int) -> bytes:
    """stack.xml: the first <layer> is the top one."""
    image = ElementTree.Element("image", version="0.0.5", w=str(width), h=str(height))
    stack = ElementTree.SubElement(image, "stack")
    for layer in layers:
        ElementTree.SubElement(
            stack,
            "layer",
            name=layer.name,
            src=f"data/{layer.name}.png",
            x="0",
            y="0",
            opacity="1.0",
            visibility="visible" if layer.visible else "hidden",
            **{"composite-op": ORA_COMPOSITE_OPS[layer.blend]},
        )
    return ElementTree.tostring(image, encoding="UTF-8", xml_declaration=True)


def _check_hidden(hidden: frozenset[str]) -> None:
    """A misspelt layer name would silently hide nothing: refuse it."""
    unknown = set(hidden) - set(HIDEABLE_LAYERS)
    if unknown:
        raise ValueError(f"cannot hide {', '.join(sorted(unknown))}: only {' and '.join(HIDEABLE_LAYERS)} can be hidden")


def _zip_entry(name: str, compression: int = zipfile.ZIP_DEFLATED) -> zipfile.ZipInfo:
    entry = zipfile.ZipInfo(name, date_time=ORA_ZIP_DATE)
    entry.compress_type = compression
    entry.external_attr = 0o644 << 16
    return entry


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _checked_parts(flats, shading, sketch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three parts as float32 H×W×3 arrays of one size, or a ValueError naming the bad one."""
    flats = _checked_unit("flats", flats)
    if flats.ndim != 3 or flats.shape[2] != 3:
        raise ValueError(f"flats must be H×W×3 RGB, not {flats.shape}")
    parts = [flats, *(_three_channels(_checked_unit(name, part)) for name, part in (("shading", shading),
                                                                                     ("sketch", sketch)))]
    for name, part in zip(("shading", "sketch"), parts[1:]):
        if part.shape != flats.shape:
            raise ValueError(f"{name} is {part.shape[:2]}, flats {flats.shape[:2]}: they must match")
    return parts[0], parts[1], parts[2]


def _checked_unit(name: str, array: np.ndarray) -> np.ndarray:
    """`array` as float32 (8-bit output needs no more), or a ValueError if it leaves [0, 1]."""
    array = np.asarray(array, dtype=np.float32)
    if array.size and not (np.isfinite(array).all() and array.min() >= 0.0 and array.max() <= 1.0):
        raise ValueError(f"{name} must be float in [0, 1], got {np.nanmin(array)}..{np.nanmax(array)}")
    return array


def _three_channels(array: np.ndarray) -> np.ndarray:
    """H×W, H×W×1 or H×W×3 → H×W×3 (a grey factor applies to every channel)."""
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 3):
        raise ValueError(f"expected H×W grey or H×W×3 RGB, not {array.shape}")
    return np.broadcast_to(array, (*array.shape[:2], 3))


def _opaque(rgb: np.ndarray) -> np.ndarray:
    alpha = np.full((*rgb.shape[:2], 1), 255, np.uint8)
    return np.concatenate([to_uint8(rgb), alpha], axis=-1)
