"""The user-like hint protocol: one dab per area, the way people colour with hints.

Evaluation's other protocol (random patches, in swishpaint.data.hints) scatters hints anywhere; a
person instead puts one dab of the right colour inside each big area. This protocol takes the N
largest coloured regions of the sketch (white ones are paper and left alone) and puts one small dab in
each, in the region's median true colour, at the point deepest inside the region.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from ..data.hints import hint_protocol
from .flats import region_medians
from .segment import SegmentConfig, Segmentation, segment

USER_LIKE = "user-like"
WHITE = 0.9  # a region whose median true colour is at least this light in every channel is paper
# The areas the simulated person sees and dabs: the one-pass segmentation the protocol was defined with,
# kept fixed so that tuning the pipeline's own segmentation never moves the benchmark's hints.
PROTOCOL_SEGMENTATION = SegmentConfig(balls=(10.0, 5.0, 2.5, 1.0), fine_balls=None, min_region=30.0, min_speck=6.0,
                                      threshold=None, min_threshold=0.06, max_threshold=0.2, max_open_border=0.5)


def deepest_points(seg: Segmentation, regions: np.ndarray) -> np.ndarray:
    """(len(regions), 2) (y, x): for each region, the pixel farthest from its edges and from the lines."""
    from scipy import ndimage

    lab = seg.labels
    edge = seg.lines.copy()
    edge[:, 1:] |= lab[:, 1:] != lab[:, :-1]
    edge[1:, :] |= lab[1:, :] != lab[:-1, :]
    depth = cv2.distanceTransform((~edge).astype(np.uint8), cv2.DIST_L2, 5)
    points = ndimage.maximum_position(depth, lab, index=regions)
    return np.array(points, dtype=np.int64).reshape(-1, 2)


def user_like_hints(seg: Segmentation, truth: np.ndarray, count: int = 20, radius: float | None = None) -> np.ndarray:
    """(H, W, 4) hints: one dab in each of the `count` largest non-white regions of the truth (H, W, 3).

    radius: the dab's radius in pixels, by default 2 at 256 px, scaled with the longer side. The dab
    stays inside its region and off the lines, so it never says anything about a neighbour.
    """
    h, w = seg.labels.shape
    radius = max(1.0, 2.0 * max(h, w) / 256) if radius is None else radius
    medians = region_medians(seg.labels, truth, seg.count, where=~seg.lines)
    areas = seg.areas()
    coloured = np.flatnonzero(medians.min(1) < WHITE)
    chosen = coloured[np.argsort(-areas[coloured], kind="stable")][:count]
    hints = np.zeros((h, w, 4), np.float32)
    if len(chosen) == 0:
        return hints
    yy, xx = np.mgrid[-int(radius):int(radius) + 1, -int(radius):int(radius) + 1]
    disc = yy ** 2 + xx ** 2 <= radius ** 2
    for region, (y, x) in zip(chosen, deepest_points(seg, chosen)):  # at most `count` dabs
        ys, xs = np.clip(y + yy[disc], 0, h - 1), np.clip(x + xx[disc], 0, w - 1)
        inside = (seg.labels[ys, xs] == region) & ~seg.lines[ys, xs]
        hints[ys[inside], xs[inside], :3] = medians[region]
        hints[ys[inside], xs[inside], 3] = 1.0
        hints[y, x, :3], hints[y, x, 3] = medians[region], 1.0  # the deepest point itself always
    return hints


@hint_protocol(USER_LIKE)
def user_like_protocol(sketch: torch.Tensor, color: torch.Tensor, rng: np.random.Generator, count: int) -> torch.Tensor:
    """The held-out hint protocol (data.hints): (1, H, W) sketch and (3, H, W) truth -> (4, H, W) hints.
    Deterministic, so `rng` is unused."""
    seg = segment(sketch[0].numpy(), PROTOCOL_SEGMENTATION)
    hints = user_like_hints(seg, color.permute(1, 2, 0).numpy(), count)
    return torch.from_numpy(hints).permute(2, 0, 1).contiguous()
