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
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import SwishpaintError
from ..files import atomic_write_text
from ..data.images import to_uint8
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
        spec = json.loads(Path(path).read_text())
    except OSError as e:
        raise PaletteError(path, e.strerror or str(e)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PaletteError(path, f"not JSON ({e})") from None
    return palette_from_dict(spec, path)


def palette_from_dict(spec, path: str | Path = "<palette>") -> ColouredRegions:
    if not isinstance(spec, dict) or spec.get("version") != VERSION:
        raise PaletteError(path, f"not a version {VERSION} swishpaint palette")
    try:
        colours = np.array([_parse_rgb(c["rgb"]) for c in spec["colours"]], np.float32).reshape(-1, 3)
        url = spec["labels"]
        if not url.startswith(PNG_URL):
            raise ValueError("labels is not a PNG data URL")
        labels = np.asarray(Image.open(io.BytesIO(base64.b64decode(url[len(PNG_URL):]))), np.int32)
    except (KeyError, TypeError, ValueError, OSError) as e:
        raise PaletteError(path, f"malformed palette ({e})") from None
    if labels.ndim != 2 or labels.shape != (spec.get("height"), spec.get("width")):
        raise PaletteError(path, "the label map does not match width and height")
    if labels.size == 0 or labels.max() >= len(colours):
        raise PaletteError(path, f"the label map has regions beyond the {len(colours)} colours")
    return ColouredRegions(labels, colours)


def _parse_rgb(text: str) -> tuple[float, float, float]:
    if not (isinstance(text, str) and len(text) == 7 and text[0] == "#"):
        raise ValueError(f"colour {text!r} is not #rrggbb")
    return tuple(int(text[i:i + 2], 16) / 255 for i in (1, 3, 5))
