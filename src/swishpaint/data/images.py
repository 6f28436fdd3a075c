"""One safe image loader for the whole package (training data, CLI inputs, hints, uploads).

- an allow-list of decoders (PNG, JPEG, WEBP): nothing else is parsed;
- the pixel count is checked from the header before decoding (no decompression bombs);
- EXIF orientation applied; palette, greyscale, CMYK and 16-bit handled (16-bit is scaled, not clipped);
- transparency composited on white (a plain RGB conversion exposes hidden colours).
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import SwishpaintError

ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".jif", ".webp")  # .jfif: Windows' saved JPEGs
# Image files a folder may hold that are not read (ALLOWED_FORMATS): counted and said, not passed over in silence
OTHER_IMAGE_SUFFIXES = (".tif", ".tiff", ".bmp", ".gif", ".avif", ".heic", ".heif", ".psd", ".kra", ".clip")
_HEADER_READS = threading.Lock()  # see _header_only
DEFAULT_MAX_PIXELS = 50_000_000  # ~7000x7000; a 4096x4096 sketch (16.8 M) is well inside
# The web app's tighter limit: an upload holds server memory while other requests wait in the queue.
UPLOAD_MAX_PIXELS = 4096 * 4096


# A PNG text entry in every image swishpaint writes: "result" for colourings and what goes beside them
# (candidates, sheets, label maps), "lines" for `swishpaint lines` output. A folder scanned for inputs
# leaves out the kinds its command makes, so a re-run with -o inside or equal to the input folder does
# not take its own earlier outputs for new inputs (colorize still colours line art).
OUTPUT_KEY = "swishpaint"
RESULT, LINE_ART = "result", "lines"


def output_png_info(kind: str = RESULT):
    """PngInfo marking a PNG as swishpaint's output of `kind` (PIL: image.save(..., pnginfo=...))."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text(OUTPUT_KEY, kind)
    return info


def swishpaint_output(path: Path) -> str | None:
    """The kind of swishpaint output a PNG is (its header's text says so), else None. Reads the header only;
    anything unreadable is None, for the loader to report."""
    if path.suffix.lower() != ".png":
        return None
    try:
        with _header_only():  # a huge image is no bomb here
            with Image.open(path, formats=["PNG"]) as im:  # text chunks before the pixels, where PIL writes them
                return im.info.get(OUTPUT_KEY)
    except (OSError, ValueError, UnidentifiedImageError):
        return None


@contextlib.contextmanager
def _header_only():
    """Open images (which reads their headers only) with Pillow's decompression-bomb guard off, so that one
    limit, check_pixels's max_pixels, decides, and says the size: Pillow's guard would refuse a file under a
    raised --max-pixels, and name no size. Its settings are one for the whole process, so threads (the
    server's) take turns to open; the decoding after runs side by side."""
    with _HEADER_READS, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        guard, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = guard


def header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from an image file's header, without decoding it; None when it cannot be read (the
    loader says why when it is read)."""
    try:
        with _header_only(), Image.open(path, formats=list(ALLOWED_FORMATS)) as im:
            return im.size
    except (OSError, ValueError, SyntaxError, UnidentifiedImageError):
        return None


class ImageError(SwishpaintError, ValueError):
    """An input image cannot be used; str() is one line naming the file and the problem."""

    def __init__(self, source: str, reason: str):
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class ImageTooLarge(ImageError):
    """More pixels than the limit allows (or a decompression bomb)."""


class NotRGBA(ImageError):
    """Hints without an alpha channel: alpha > 0 is what marks a hint."""


def _name(source: str | Path | BinaryIO | bytes, name: str | None) -> str:
    if name:
        return name
    if isinstance(source, (str, Path)):
        return str(source)
    return getattr(source, "name", "<upload>")


def check_pixels(label: str, width: int, height: int, max_pixels: int) -> None:
    """The one pixel limit, for files (before they are decoded) and images handed over in memory alike:
    what comes after (segmentation, shading) needs several times an image's size in memory."""
    if width * height > max_pixels:
        raise ImageTooLarge(label, f"too large: {width}x{height} = {width * height} pixels (limit {max_pixels})")


FRAMES_KEY = "swishpaint.frames"  # in an opened image's info: how many frames its file holds, when more than one


def first_frame_note(im: Image.Image) -> str:
    """What a person should hear when a file held several frames (an animation saved as WEBP or PNG):
    only the first is coloured. "" for a still image."""
    frames = im.info.get(FRAMES_KEY, 1)
    return f"the file holds {frames} frames (an animation): only the first was read" if frames > 1 else ""


def upright(im: Image.Image) -> Image.Image:
    """An image as viewers show it: turned by its EXIF orientation, as open_image turns files (a PIL
    image opened by the caller keeps the tag and the stored orientation)."""
    if im.getexif().get(0x0112, 1) in (None, 1):
        return im
    return ImageOps.exif_transpose(im)


def open_image(source: str | Path | BinaryIO | bytes, max_pixels: int = DEFAULT_MAX_PIXELS,
               name: str | None = None) -> Image.Image:
    """Open and fully decode an allowed image, EXIF-rotated, without mode conversion."""
    label = _name(source, name)
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    if isinstance(source, (str, Path)):
        from ..files import why_not_a_file

        reason = why_not_a_file(source)
        if reason:
            raise ImageError(label, reason)
        if os.path.getsize(source) == 0:
            raise ImageError(label, "empty file")
    try:
        with _header_only():
            im = Image.open(source, formats=list(ALLOWED_FORMATS))
        check_pixels(label, *im.size, max_pixels)
        # an animated WEBP or PNG: its first frame is what is read (a phone's JPEG may hold a second image,
        # a gain map, which is no frame of an animation)
        frames = getattr(im, "n_frames", 1) if im.format in ("PNG", "WEBP") else 1
        im.load()
        im = upright(im)  # exif_transpose alone copies every image, turned or not
        if frames > 1:
            im.info[FRAMES_KEY] = frames
    except ImageError:
        raise
    except UnidentifiedImageError:
        fmt = _signature(source)
        if fmt:
            raise ImageError(label, f"corrupt or truncated {fmt} file") from None
        raise ImageError(label, f"not an image in an allowed format ({', '.join(ALLOWED_FORMATS)})") from None
    except PermissionError:
        raise ImageError(label, "permission denied (cannot read it)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(label, f"corrupt or truncated image ({e})") from None
    return im


def _signature(source) -> str | None:
    """The allowed format a file claims by its first bytes, if any."""
    try:
        if isinstance(source, (str, Path)):
            with open(source, "rb") as f:
                head = f.read(12)
        else:
            source.seek(0)
            head = source.read(12)
    except (OSError, AttributeError, ValueError):
        return None
    if head.startswith(b"\x89PNG"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def to_rgba(im: Image.Image) -> Image.Image:
    """Any PIL mode as RGBA, transparency kept (palette transparency and premultiplied modes included)."""
    if im.mode == "La":  # premultiplied grey + alpha: PIL converts it only to LA
        im = im.convert("LA")
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        top = value_range(arr, sixteen_bit=im.mode.startswith("I;16"), unit=im.mode == "F")
        grey = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGBA")
    if im.mode == "P":
        return im.convert("RGBA")  # keeps palette transparency
    if im.mode == "CMYK":
        return im.convert("RGB").convert("RGBA")
    if im.mode in ("LA", "La", "PA", "RGBa"):
        return im.convert("RGBA")
    return im.convert("RGBA")


PAPER_SHARE = 0.01  # the level the brightest hundredth of a sketch reaches is its paper's
WHITE_PAPER = 230  # paper this light or lighter is left as it is: the ink threshold copes, and the lines stay exact
DARKEST_PAPER = 96  # below this the brightest pixels are no paper (white lines on black, a dark scene): left alone


def paper_gain(grey: np.ndarray) -> float:
    """What a sketch's grey levels (H×W uint8) are multiplied by so that its paper is white: 255 / the
    paper's level (the level the brightest PAPER_SHARE of pixels reach) for grey paper, 1.0 for paper
    that is white or nearly (WHITE_PAPER) and for an image too dark to have paper. A phone photo or a
    scan on grey paper would otherwise read as ink everywhere (darkness is measured from white) and
    carry its grey into every colour."""
    counts = np.bincount(grey.ravel(), minlength=256)
    paper = int(np.searchsorted(np.cumsum(counts), (1 - PAPER_SHARE) * grey.size))
    return 255 / paper if DARKEST_PAPER <= paper < WHITE_PAPER else 1.0


def paper_to_white(im: Image.Image, gain: float) -> Image.Image:
    """An 8-bit image (L or RGB) with every level multiplied by `gain` (paper_gain), capped at white."""
    lut = [min(255, int(v * gain + 0.5)) for v in range(256)]
    return im.point(lut * len(im.getbands()))


def composite_on_white(im: Image.Image) -> Image.Image:
    """RGBA -> RGB over white, so hidden colours under transparent pixels never show."""
    rgba = to_rgba(im)
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def load_rgb(source, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None) -> Image.Image:
    """Any allowed image as RGB, transparency on white."""
    return composite_on_white(open_image(source, max_pixels, name))


def load_grey(source, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None) -> Image.Image:
    """Any allowed image as 8-bit greyscale (mode 'L'), transparency on white."""
    return load_rgb(source, max_pixels, name).convert("L")


def has_alpha(im: Image.Image) -> bool:
    """Whether an image says which pixels are transparent: the one rule for what may be a hints image."""
    return im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (im.mode == "P" and "transparency" in im.info)


def load_rgba(source, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None,
              require_alpha: bool = False) -> Image.Image:
    """An RGBA image (hints). With require_alpha, an image without an alpha channel, or without a single
    transparent pixel, is an error (check_hint_transparency)."""
    im = open_image(source, max_pixels, name)
    if require_alpha and not has_alpha(im):
        raise NotRGBA(_name(source, name), f"hints must be an RGBA PNG (alpha > 0 marks a hint), got mode {im.mode}")
    rgba = to_rgba(im)
    if require_alpha:
        check_hint_transparency(rgba, _name(source, name))
    return rgba


def check_hint_transparency(rgba: Image.Image, name: str) -> None:
    """Hints mark their dabs by alpha > 0: an RGBA image with no transparent pixel at all is a hint layer
    exported with its background (or the drawing itself), and would make every pixel a hint that
    paints the whole sketch; refused, as the web page refuses it."""
    if rgba.width and rgba.height and rgba.getextrema()[3][0] > 0:
        raise NotRGBA(name, "the hints have no transparent pixel, so every pixel would be a hint: export the "
                            "hint layer alone, transparent where there is no dab")


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def list_images(root: str | Path, unreadable: list[Path] | None = None,
                others: list[Path] | None = None) -> list[Path]:
    """Image files below `root` (sorted, hidden files and folders skipped). Folders that cannot be
    listed (no permission) are appended to `unreadable`, and image files in formats swishpaint does not
    read (OTHER_IMAGE_SUFFIXES: TIFF, BMP, GIF, ...) to `others`, so a caller can say so rather than
    pass over them in silence. A linked folder is followed when it leads outside `root` (a dataset
    assembled from links is common), each real folder once; a link within `root` or up above it is
    not, so no image is listed twice or under another folder's name (a link from train/ up to the
    dataset would otherwise reach val/)."""
    found = []
    top = Path(os.path.realpath(root))
    seen: set[str] = set()

    def failed(error: OSError) -> None:
        if unreadable is not None and error.filename:
            unreadable.append(Path(error.filename))

    def followed(folder: str, name: str) -> bool:
        if name.startswith("."):
            return False
        path = os.path.join(folder, name)
        if not os.path.islink(path):
            return True
        target = Path(os.path.realpath(path))
        return not (target.is_relative_to(top) or top.is_relative_to(target))

    for folder, dirs, files in os.walk(root, onerror=failed, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # two links to one folder outside
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if followed(folder, d))
        visible = [Path(folder) / f for f in files if not f.startswith(".")]
        found.extend(p for p in visible if is_image_file(p))
        if others is not None:
            others.extend(p for p in visible if p.suffix.lower() in OTHER_IMAGE_SUFFIXES)
    return sorted(found)


def value_range(values: np.ndarray, sixteen_bit: bool = False, unit: bool = True) -> float:
    """The white of an image's numbers: 65535 for 16-bit data (or any value above 255), else 255 when any
    value is above 1, else 1 (floats in [0, 1]; `unit`=False for integer data, whose 1 is nearly black).
    The one rule for images given as numbers (arrays, PIL's I/F modes, hints)."""
    top = float(values.max()) if values.size else 0.0
    if sixteen_bit or top > 255:
        return 65535.0
    return 255.0 if top > 1 or not unit else 1.0


def to_float_array(im: Image.Image) -> np.ndarray:
    """PIL image -> float32 array in [0, 1], (H, W) or (H, W, C)."""
    return np.asarray(im, dtype=np.float32) / 255.0


def to_uint8(arr: np.ndarray) -> np.ndarray:
    """Float array in [0, 1] -> uint8, rounded half up and clamped: the one float -> 8-bit rule."""
    return np.clip(np.asarray(arr, np.float32) * np.float32(255) + np.float32(0.5), 0, 255).astype(np.uint8)


def from_float_array(arr: np.ndarray) -> Image.Image:
    """Float array in [0, 1] -> 8-bit PIL image (clamped)."""
    return Image.fromarray(to_uint8(arr))


def save_png(im: Image.Image, path: str | Path) -> None:
    """Write a PNG atomically (no half-written output if anything fails)."""
    from ..files import atomic_write

    atomic_write(path, lambda tmp: im.save(tmp, format="PNG"))


def fit_within(im: Image.Image, side: int, enlarge: bool = False) -> Image.Image:
    """`im` scaled (Lanczos, sizes rounded) so that its longer side is `side`; a smaller image is left as it
    is unless `enlarge`. The one rule for shrinking a picture to a size (corpora, packs, contact sheets,
    benchmarks)."""
    scale = side / max(im.size)
    if scale >= 1 and not enlarge or scale == 1:
        return im
    return im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.LANCZOS)


def centred_on_white(im: Image.Image, side: int | None = None) -> Image.Image:
    """`im` in the middle of a white square `side` pixels wide (default: its longer side), in its own mode."""
    side = side or max(im.size)
    canvas = Image.new(im.mode, (side, side), "white")
    canvas.paste(im, ((side - im.width) // 2, (side - im.height) // 2))
    return canvas


def image_grid(rows: list[list[Image.Image]], pad: int = 4, background=(255, 255, 255)) -> Image.Image:
    """Paste rows of images into one sheet (each cell as large as the largest image)."""
    cw = max(im.width for row in rows for im in row)
    ch = max(im.height for row in rows for im in row)
    cols = max(len(row) for row in rows)
    sheet = Image.new("RGB", (cols * (cw + pad) + pad, len(rows) * (ch + pad) + pad), background)
    for r, row in enumerate(rows):
        for c, im in enumerate(row):
            sheet.paste(im.convert("RGB"), (pad + c * (cw + pad), pad + r * (ch + pad)))
    return sheet


def image_to_tensor(im: Image.Image, mode: str = "RGB"):
    """PIL image -> (C, H, W) float tensor in [0, 1] (C = 3 for RGB, 1 for L, 4 for RGBA).

    The one image -> tensor conversion (x / 255); tensor_to_image is its inverse. The image is
    converted to `mode` first (PIL's conversion: no compositing; use load_rgb for that).
    """
    import torch  # here, so that this module (image loading and its errors) does not need torch

    arr = to_float_array(im if im.mode == mode else im.convert(mode))
    return torch.from_numpy(arr.reshape(*arr.shape[:2], -1)).permute(2, 0, 1).contiguous()


def tensor_to_image(t) -> Image.Image:
    """(C, H, W) float tensor in [0, 1] -> PIL image (C = 1: L, 3: RGB, 4: RGBA), clamped and rounded half up.

    The one tensor -> 8-bit conversion, so every saved, scored or shown image rounds the same way.
    """
    arr = t.detach().float().cpu().clamp(0, 1).permute(1, 2, 0).numpy()
    return from_float_array(arr[..., 0] if arr.shape[2] == 1 else arr)
