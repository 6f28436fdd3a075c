"""Palettes: a keyframe's region colours saved as JSON, to colour later batches of the same cut.

Format (version 1), one JSON object:

    {"version": 1,
     "width": 512, "height": 512,                  # the keyframe's size
     "colours": [{"rgb": "#rrggbb",                # region i's flat colour
                  "area": 1234,                    # its pixels
                  "centroid": [y, x]}, ...],       # its centre, pixels from the top left
     "labels": "data:image/png;base64,..."}        # the keyframe's region map: pixel value i = region i
                                                   # (indexed PNG up to 256 regions, else 16-bit grey)

`colours` is what a person reads and may edit (an edited rgb changes that part in every frame); `labels`
gives matching the keyframe's regions themselves (their shape, neighbours and enclosure).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np

from ..errors import SwishpaintError
from ..files import atomic_write_text, read_json
from ..data.images import ImageError, open_image, to_uint8
from ..regions.matching import ColouredRegions
from ..regions.segment import Segmentation
from .layered import label_map_bytes

VERSION = 1
PNG_URL = "data:image/png;base64,"


class PaletteError(SwishpaintError, ValueError):
    """A palette file that cannot be read: printed as 'swishpaint: error: FILE: reason'."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(f"{path}: {reason}")


def palette_dict(key: ColouredRegions) -> dict:
    """The JSON object of a coloured keyframe (see the module docstring)."""
    labels = key.labels
    seg = Segmentation(labels, np.zeros(labels.shape, bool))
    areas = seg.areas()
    cy, cx = seg.centroids().T
    rgb = to_uint8(key.colours).astype(int)
    colours = [{"rgb": "#%02x%02x%02x" % tuple(c), "area": int(a), "centroid": [round(float(y), 1), round(float(x), 1)]}
               for c, a, y, x in zip(rgb, areas, cy, cx)]
    url = PNG_URL + base64.b64encode(label_map_bytes(labels)).decode("ascii")
    return {"version": VERSION, "width": labels.shape[1], "height": labels.shape[0], "colours": colours,
            "labels": url}


def write_palette(path: str | Path, key: ColouredRegions) -> None:
    """The palette as JSON, one colour a line, so a person can read and edit it."""
    spec = palette_dict(key)
    colours = ",\n  ".join(json.dumps(c) for c in spec.pop("colours"))
    head = json.dumps({k: v for k, v in spec.items() if k != "labels"})[:-1]
    atomic_write_text(path, f'{head},\n "colours": [\n  {colours}],\n "labels": {json.dumps(spec["labels"])}}}\n')


def read_palette(path: str | Path) -> ColouredRegions:
    """A palette file -> the keyframe's regions and colours; PaletteError for anything malformed."""
    try:
        spec = read_json(Path(path))
    except OSError as e:
        raise PaletteError(path, e.strerror or str(e)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PaletteError(path, f"not JSON ({e})") from None
    except RecursionError:  # arrays nested thousands deep: no palette, and no traceback
        raise PaletteError(path, "not a palette (JSON nested too deep)") from None
    return palette_from_dict(spec, path)


def palette_from_dict(spec, path: str | Path = "<palette>") -> ColouredRegions:
    """A palette's JSON object -> the keyframe's regions and colours; each malformed part is named the way
    a person editing the file would look for it ("colour 4 has no \"rgb\"")."""
    if not isinstance(spec, dict) or spec.get("version") != VERSION:
        raise PaletteError(path, f"not a version {VERSION} swishpaint palette")
    for key in ("width", "height", "colours", "labels"):
        if key not in spec:
            raise PaletteError(path, f'missing "{key}"')
    if not isinstance(spec["colours"], list):
        raise PaletteError(path, '"colours" must be a list of {"rgb": "#rrggbb", ...}')
    colours = np.array([_colour(i, entry, path) for i, entry in enumerate(spec["colours"])], np.float32).reshape(-1, 3)
    labels = _labels(spec["labels"], path)
    if labels.ndim != 2 or labels.shape != (spec["height"], spec["width"]):
        raise PaletteError(path, "the label map does not match width and height")
    if labels.size == 0 or labels.max() + 1 != len(colours):
        raise PaletteError(path, f"the label map has {int(labels.max()) + 1 if labels.size else 0} regions but "
                                 f'"colours" has {len(colours)} entries: keep one entry per region (edit '
                                 f"their rgb, do not add or remove any)")
    return ColouredRegions(labels, colours)


def _colour(index: int, entry, path: str | Path) -> tuple[float, float, float]:
    """Entry `index` of "colours" (counted from 0, as the label map counts regions)."""
    if not isinstance(entry, dict) or "rgb" not in entry:
        raise PaletteError(path, f'colour {index} has no "rgb"')
    text = entry["rgb"]
    if not (isinstance(text, str) and len(text) == 7 and text[0] == "#") or \
            any(c not in "0123456789abcdefABCDEF" for c in text[1:]):
        raise PaletteError(path, f"colour {index}: {text!r} is not #rrggbb")
    return tuple(int(text[i:i + 2], 16) / 255 for i in (1, 3, 5))


def _labels(url, path: str | Path) -> np.ndarray:
    if not (isinstance(url, str) and url.startswith(PNG_URL)):
        raise PaletteError(path, '"labels" is not a PNG data URL (it must stay as swishpaint wrote it)')
    try:
        data = base64.b64decode(url[len(PNG_URL):])
    except ValueError as e:
        raise PaletteError(path, f'"labels" cannot be read ({e})') from None
    try:  # the one safe loader: allowed decoders only, the pixel count checked before decoding
        return np.asarray(open_image(data, name='"labels"'), np.int32)
    except ImageError as e:
        raise PaletteError(path, f'"labels" cannot be read ({e.reason})') from None
