"""Where every image enters the Python API: a path, bytes, a PIL image or a numpy array (hints also a
float tensor) becomes a PIL image or a tensor, or an InvalidArgument naming what is wrong. Arrays and
in-memory images meet the same size limits a file does (data.images.check_pixels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageChops

from ..data.hints import hints_from_rgba, resize_hints
from ..data.images import (NotRGBA, check_hint_transparency, check_pixels, composite_on_white, first_frame_note,
                           from_float_array, has_alpha, load_rgba, open_image, paper_gain, paper_to_white, to_rgba,
                           upright, value_range)
from ..errors import InvalidArgument

ImageLike = str | Path | bytes | Image.Image | np.ndarray


def check_in_memory_size(width: int, height: int, max_pixels: int, label: str = "<image>", what: str = "image") -> None:
    """An image handed over in memory: not empty, and within the pixel limit a file has (`what` names it
    when empty, `label` when too large)."""
    if width == 0 or height == 0:
        raise InvalidArgument(f"{what} is empty ({width}x{height})")
    check_pixels(label, width, height, max_pixels)


def array_image(array: np.ndarray, max_pixels: int, label: str = "<image>") -> Image.Image:
    """An (H, W) or (H, W, 1|2|3|4) array as a PIL image: uint8 as it is, other numbers in [0, 1], in
    [0, 255] when any value is above 1, in [0, 65535] (16-bit) when any is above 255 (data.images.value_range).
    Refused here: shapes, dtypes and values no image has."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or array.ndim == 3 and array.shape[2] not in (2, 3, 4):
        raise InvalidArgument(f"image array must be (H, W) or (H, W, 1|2|3|4), got shape {array.shape}")
    check_in_memory_size(array.shape[1], array.shape[0], max_pixels, label)
    if array.dtype.kind not in "buif":
        raise InvalidArgument(f"image array must hold numbers, got dtype {array.dtype}")
    if array.dtype == np.uint8:
        return Image.fromarray(array)
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise InvalidArgument("image contains NaN or infinite values")
    return from_float_array(array / value_range(array))


def as_image(image: ImageLike, max_pixels: int) -> Image.Image:
    """Where every image enters the API (a sketch, a coloured keyframe), in its own mode: anything but a
    path, bytes, PIL image or usable array is refused."""
    if isinstance(image, (str, Path, bytes)):
        return open_image(image, max_pixels)
    if isinstance(image, np.ndarray):
        image = array_image(image, max_pixels)
    elif not isinstance(image, Image.Image):
        raise InvalidArgument(f"image must be a file path, bytes, a PIL image or a numpy array, "
                              f"got {type(image).__name__}")
    check_in_memory_size(image.width, image.height, max_pixels)
    # Image.open(photo.jpg) leaves the EXIF turn to its reader: turned as a path is (checked first: no copy
    # of an image too large)
    return upright(image)


def as_rgb(image: ImageLike, max_pixels: int) -> Image.Image:
    """Any image the API takes as RGB, transparency on white."""
    return composite_on_white(as_image(image, max_pixels))


def as_grey(image: ImageLike, max_pixels: int) -> Image.Image:
    """The sketch as 8-bit grey on white paper: what is segmented and what the network sees (as_sketch,
    without looking for the lines' colour)."""
    return _on_white_paper(as_image(image, max_pixels))[1]


GREY_MODES = ("1", "L", "LA", "La", "I", "I;16", "F")  # modes that hold no colour at all


def line_colour(rgb: Image.Image, mode: str) -> np.ndarray | None:
    """The sketch's (H, W, 3) uint8 RGB when any pixel has colour, else None: a grey sketch carries no
    copy (a 7000² RGB copy is 147 MB), a coloured one keeps its lines' colour in the output. `mode`: the
    image's own mode; a grey one is not searched for colour (160 ms at 7000²)."""
    if mode in GREY_MODES:
        return None
    r, g, b = rgb.split()
    if ImageChops.difference(r, g).getbbox() is None and ImageChops.difference(g, b).getbbox() is None:
        return None
    return np.asarray(rgb)


def as_sketch(image: ImageLike, max_pixels: int, warnings: list[str] | None = None
              ) -> tuple[Image.Image, np.ndarray | None, float]:
    """The grey sketch and, when the sketch has colour, its RGB (see `line_colour`), on white paper, and
    the gain that put it there: a sketch photographed or scanned on grey paper is levelled so that its
    paper is white (data.images.paper_gain; a sketch on white paper is left exactly as it is, gain 1)."""
    own = as_image(image, max_pixels)
    if warnings is not None and (note := first_frame_note(own)):
        warnings.append(note)
    rgb, grey, gain = _on_white_paper(own)
    return grey, line_colour(rgb, own.mode), gain


def _on_white_paper(own: Image.Image) -> tuple[Image.Image, Image.Image, float]:
    """An image's RGB and grey, transparency on white and grey paper levelled to white, and the gain."""
    rgb = composite_on_white(own)
    grey = rgb.convert("L")
    gain = paper_gain(np.asarray(grey))
    if gain != 1.0:
        rgb, grey = paper_to_white(rgb, gain), paper_to_white(grey, gain)
    return rgb, grey, gain


def as_hints(hints: ImageLike | torch.Tensor, size: tuple[int, int], max_pixels: int) -> tuple[torch.Tensor, str]:
    """Hints as (4, H, W) at the sketch's size (W, H), and a note for the person when they had to be
    resized ("" when not): stretched to another shape, they may no longer sit on their regions."""
    if isinstance(hints, torch.Tensor):
        if hints.ndim != 3 or hints.shape[0] != 4 or not hints.is_floating_point():
            raise InvalidArgument(f"a hints tensor must be float (4, H, W): RGB in [0, 1] and a mask, got "
                                  f"{hints.dtype} {tuple(hints.shape)}")
        check_in_memory_size(hints.shape[2], hints.shape[1], max_pixels, "<hints tensor>", "hints tensor")
        if not bool(torch.isfinite(hints).all()):  # as a NaN image is refused: it would colour nothing sensible
            raise InvalidArgument("hints: the tensor holds NaN or infinite values")
        t = hints
    else:
        if isinstance(hints, (str, Path, bytes)):
            im = load_rgba(hints, max_pixels, require_alpha=True)
        elif isinstance(hints, np.ndarray):
            if hints.ndim != 3 or hints.shape[2] != 4:
                raise NotRGBA("<hints array>", "hints must be an RGBA array (H, W, 4)")
            try:  # the sketch's rules for numbers (uint8; floats in [0, 1]; ...), NaN refused
                im = array_image(hints, max_pixels, "<hints array>")
            except InvalidArgument as e:
                raise InvalidArgument(f"hints: {e}") from None
            check_hint_transparency(im, "<hints array>")
        elif not isinstance(hints, Image.Image):
            raise InvalidArgument(f"hints must be a file path, bytes, a PIL image, a numpy array or a tensor, "
                                  f"got {type(hints).__name__}")
        else:
            if not has_alpha(hints):
                raise NotRGBA("<hints image>", f"hints must be RGBA (alpha > 0 marks a hint), got mode {hints.mode}")
            check_in_memory_size(hints.width, hints.height, max_pixels, "<hints image>", "hints image")
            im = to_rgba(upright(hints))  # turned as the sketch is (as_image)
            check_hint_transparency(im, "<hints image>")
        t = hints_from_rgba(im)
    h, w = t.shape[-2:]
    if (w, h) == tuple(size):
        return t, ""
    note = f"hints resized from {w}x{h} to the sketch's size {size[0]}x{size[1]}"
    if abs(w / h - size[0] / size[1]) > 0.01 * size[0] / size[1]:
        note += " and stretched (their shape differs from the sketch's): check that they sit on their regions"
    return resize_hints(t, (size[1], size[0])), note
