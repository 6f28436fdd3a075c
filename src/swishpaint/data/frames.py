"""Framing and de-duplication of rendered figures (no GL here, so it is tested without a display).

A render shows a figure on white somewhere in a large canvas; `figure_views` crops it so that the
figure fills the frame (a whole-figure view and a closer, upper-body view), and `Deduper` drops
frames that look like one already kept (same pose to within a grey level or two at 32x32).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

INK_LEVEL = 245  # a pixel darker than this in any channel belongs to the figure


def figure_box(rgb: np.ndarray, margin: float = 0.06) -> tuple[int, int, int, int] | None:
    """Square (left, top, right, bottom) around the non-white pixels plus a margin; None if blank.

    The box may extend past the canvas: PIL's crop pads with black, so callers paste on white.
    """
    ink = (rgb < INK_LEVEL).any(axis=2)
    if ink.mean() < 0.002:
        return None
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    side = max(bottom - top, right - left) * (1 + 2 * margin)
    cy, cx = (top + bottom) / 2, (left + right) / 2
    half = side / 2
    return round(cx - half), round(cy - half), round(cx + half), round(cy + half)


def crop_on_white(rgb: np.ndarray, box: tuple[int, int, int, int], size: int) -> np.ndarray:
    left, top, right, bottom = box
    canvas = Image.new("RGB", (right - left, bottom - top), (255, 255, 255))
    canvas.paste(Image.fromarray(rgb), (-left, -top))
    return np.asarray(canvas.resize((size, size), Image.LANCZOS))


def figure_views(rgb: np.ndarray, size: int, rng: np.random.Generator) -> list[np.ndarray] | None:
    """[whole figure, closer view of its upper part] at size x size, or None for a blank render."""
    box = figure_box(rgb)
    if box is None:
        return None
    left, top, right, bottom = box
    side = right - left
    zoom = rng.uniform(0.35, 0.6)  # head and shoulders .. upper body
    z_side = max(8, round(side * zoom))
    ink_top = int(np.flatnonzero((rgb < INK_LEVEL).any(axis=2).any(axis=1))[0])
    z_left = round((left + right) / 2 - z_side / 2 + rng.uniform(-0.1, 0.1) * z_side)
    z_top = ink_top - round(0.05 * z_side)
    return [crop_on_white(rgb, box, size), crop_on_white(rgb, (z_left, z_top, z_left + z_side, z_top + z_side), size)]


def thumb(rgb: np.ndarray) -> np.ndarray:
    """32x32 grey of the upper half: head, face and arms carry most of the pose."""
    top = rgb[: max(1, rgb.shape[0] // 2)]
    return np.asarray(Image.fromarray(top).convert("L").resize((32, 32), Image.BILINEAR), dtype=np.float32)


class Deduper:
    """Remembers thumbnails of kept frames; a frame within `threshold` mean grey levels is a duplicate."""

    def __init__(self, threshold: float = 1.5):
        self.threshold = threshold
        self.kept: list[np.ndarray] = []

    def is_new(self, rgb: np.ndarray) -> bool:
        t = thumb(rgb)
        if self.kept and min(np.abs(t - k).mean() for k in self.kept) < self.threshold:
            return False
        self.kept.append(t)
        return True
