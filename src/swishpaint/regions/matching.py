"""Region correspondence: carry a coloured frame's region colours to the next frame of an animation.

A colourist paints frame after frame of a cut with the paint bucket, giving each part the colour it had
in the key. Here each region of a target frame's segmentation is matched to a region of a coloured
reference frame (its label map and one colour per region), as BasicPBC (CVPR 2024) does with learned
features, with hand-made ones:

1. global alignment: the foreground (every region except the large background ones at the border) of
   the reference is moved (and scaled) onto the target's: no motion, centroid and size, or phase
   correlation, whichever overlaps most;
2. candidates per target region: the reference regions it overlaps after the alignment, plus the
   nearest few by aligned centroid (a part that moved further than its own size);
3. cost of a pair, each term about 0..1: share of the target region not covered by the candidate,
   centroid distance (relative to the foreground size), area ratio, bounding-box shape, and the context:
   whether the colours of the target's neighbours (from a first pass, weighted by shared border) occur
   around the candidate, and whether the region that encloses the target (its largest neighbour) has
   the colour of the one enclosing the candidate (inclusion);
4. every target region takes its cheapest candidate's colour; above `max_cost` it is unmatched.

Everything is per region (a few hundred), vectorised over the candidate pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.ndimage import find_objects
from scipy.spatial import cKDTree

from .segment import Segmentation


@dataclass(frozen=True)
class MatchConfig:
    neighbours: int = 6  # nearest reference regions (aligned centroid) considered besides overlapping ones
    w_overlap: float = 1.0  # cost weights, each term in about 0..1
    w_position: float = 1.0
    w_area: float = 0.5
    w_shape: float = 0.25
    w_context: float = 0.75
    position_scale: float = 0.25  # a centroid distance of this share of the foreground size costs 1
    max_cost: float = 2.8  # above: the region is unmatched (the network colours it, and it is reported);
    # tuned on training characters' sequences (scripts/tune_matching.py, docs/sequence-benchmark.md)
    background_area: float = 0.02  # border regions at least this share of the image are background


@dataclass
class ColouredRegions:
    """A coloured frame by regions: labels (H, W) int32 0..count-1 and colours (count, 3) in [0, 1]."""

    labels: np.ndarray
    colours: np.ndarray

    @property
    def count(self) -> int:
        return len(self.colours)


@dataclass
class Match:
    """Per target region: colours (count, 3), source (count,) reference region or -1, cost (count,)."""

    colours: np.ndarray
    source: np.ndarray
    cost: np.ndarray

    @property
    def unmatched(self) -> np.ndarray:
        """Indices of target regions that found no reference region cheap enough."""
        return np.flatnonzero(self.source < 0)


@dataclass
class RegionFeatures:
    """What matching compares: per region area, centroid (y, x), bbox (h, w), its neighbours, and the
    frame's foreground centroid and size."""

    areas: np.ndarray
    centroids: np.ndarray
    boxes: np.ndarray
    pairs: np.ndarray  # (E, 2) neighbouring regions
    borders: np.ndarray  # (E,) shared border length
    parent: np.ndarray  # (count,) the largest neighbour (the enclosing region), -1 if none
    centre: np.ndarray  # (2,) foreground centroid
    size: float  # foreground size: sqrt of its area
    foreground: np.ndarray  # (H, W) bool: not the background paper


def region_features(labels: np.ndarray, cfg: MatchConfig = MatchConfig()) -> RegionFeatures:
    seg = Segmentation(labels, np.zeros(labels.shape, bool))
    count = seg.count
    areas = seg.areas().astype(np.float64)
    centroids = seg.centroids()
    boxes = np.ones((count, 2))
    for i, found in enumerate(find_objects(labels + 1)):  # the bounding box of every region, one pass
        if found is not None:
            boxes[i] = (found[0].stop - found[0].start, found[1].stop - found[1].start)
    pairs, borders = seg.adjacency()
    parent = np.full(count, -1)
    if len(pairs):
        both = np.r_[pairs[:, 0], pairs[:, 1]]
        other = np.r_[pairs[:, 1], pairs[:, 0]]
        order = np.lexsort((areas[other], both))  # per region, its largest neighbour last
        parent[both[order]] = other[order]
    background = background_regions(seg, cfg)
    fg = ~background[labels]
    if not fg.any():
        fg = np.ones(labels.shape, bool)
    fy, fx = np.nonzero(fg)
    return RegionFeatures(areas, centroids, boxes, pairs, borders, parent,
                          np.array([fy.mean(), fx.mean()]), float(np.sqrt(fg.sum())), fg)


def background_regions(seg: Segmentation, cfg: MatchConfig = MatchConfig()) -> np.ndarray:
    """(count,) bool: large regions touching the border, the paper around the drawing."""
    return seg.touches_border() & (seg.areas() >= cfg.background_area * seg.labels.size)


def align(reference: RegionFeatures, target: RegionFeatures) -> tuple[float, np.ndarray]:
    """Scale and offset (y, x) that move reference coordinates onto the target: p' = s p + t.

    Tried: no motion, the foregrounds' centroids and sizes, and the shift phase correlation finds
    between the foregrounds (robust to a part that appears or leaves); the one under which the
    foregrounds overlap most wins.
    """
    scale = target.size / max(reference.size, 1e-6)
    tries = [(1.0, np.zeros(2)), (scale, target.centre - scale * reference.centre)]
    if reference.foreground.shape == target.foreground.shape:
        (dx, dy), _ = cv2.phaseCorrelate(reference.foreground.astype(np.float32), target.foreground.astype(np.float32))
        tries.append((1.0, np.array([dy, dx])))
    overlap = [np.count_nonzero(_warp_labels(reference.foreground.astype(np.int32), s, t, target.foreground.shape)
                                [target.foreground] == 1) for s, t in tries]
    return tries[int(np.argmax(overlap))]


def _warp_labels(labels: np.ndarray, scale: float, offset: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    m = np.array([[scale, 0, offset[1]], [0, scale, offset[0]]], np.float64)
    out = cv2.warpAffine(labels.astype(np.float32), m, (shape[1], shape[0]), flags=cv2.INTER_NEAREST,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=-1)
    return out.astype(np.int64)


def _colour_keys(colours: np.ndarray) -> np.ndarray:
    """Colours quantised to 4 bits per channel, as one integer: 'the same colour' for context."""
    q = np.clip(colours * 15 + 0.5, 0, 15).astype(np.int64)
    return q[:, 0] * 256 + q[:, 1] * 16 + q[:, 2]


def match_regions(reference: ColouredRegions, target_labels: np.ndarray, cfg: MatchConfig = MatchConfig(),
                  reference_features: RegionFeatures | None = None,
                  target_features: RegionFeatures | None = None) -> Match:
    """Colour the target frame's regions from the reference's (see the module docstring); features
    already computed (a chain reuses each frame's as the next reference's) may be passed in."""
    ref = reference_features or region_features(reference.labels, cfg)
    tgt = target_features or region_features(target_labels, cfg)
    nr, nt = reference.count, int(tgt.areas.shape[0])
    scale, offset = align(ref, tgt)
    # candidates: overlap after alignment...
    warped = _warp_labels(reference.labels, scale, offset, target_labels.shape)
    inside = warped >= 0
    keys, overlap = np.unique(target_labels[inside].astype(np.int64) * nr + warped[inside], return_counts=True)
    t_idx, r_idx = keys // nr, keys % nr
    # ...and the nearest reference regions by aligned centroid
    ref_centres = ref.centroids * scale + offset
    k = min(cfg.neighbours, nr)
    _, near = cKDTree(ref_centres).query(tgt.centroids, k=k)
    near = np.asarray(near).reshape(nt, k)
    t_all = np.r_[t_idx, np.repeat(np.arange(nt), k)]
    r_all = np.r_[r_idx, near.ravel()]
    pair_keys, first = np.unique(t_all * nr + r_all, return_index=True)
    t_all, r_all = pair_keys // nr, pair_keys % nr
    covered = np.zeros(len(pair_keys))
    covered[np.searchsorted(pair_keys, keys)] = overlap
    base = (cfg.w_overlap * (1 - covered / tgt.areas[t_all])
            + cfg.w_position * np.linalg.norm(tgt.centroids[t_all] - ref_centres[r_all], axis=1)
            / (cfg.position_scale * tgt.size)
            + cfg.w_area * np.minimum(np.abs(np.log(tgt.areas[t_all] / (scale ** 2 * ref.areas[r_all]))), 2) / 2
            + cfg.w_shape * np.minimum(np.abs(np.log((tgt.boxes[t_all, 0] / tgt.boxes[t_all, 1])
                                                      / (ref.boxes[r_all, 0] / ref.boxes[r_all, 1]))), 2) / 2)
    source = _cheapest(t_all, r_all, base, nt)
    cost = base
    if cfg.w_context > 0 and len(tgt.pairs):
        cost = base + cfg.w_context * _context_cost(reference, ref, tgt, source, t_all, r_all)
        source = _cheapest(t_all, r_all, cost, nt)
    best_cost = np.full(nt, np.inf)
    np.minimum.at(best_cost, t_all, cost)
    source = np.where(best_cost <= cfg.max_cost, source, -1)
    colours = np.where(source[:, None] >= 0, reference.colours[np.maximum(source, 0)], np.nan).astype(np.float32)
    return Match(colours, source, best_cost)


def _cheapest(t: np.ndarray, r: np.ndarray, cost: np.ndarray, nt: int) -> np.ndarray:
    """Per target region, the reference region of its cheapest pair."""
    order = np.lexsort((cost, t))
    firsts, where = np.unique(t[order], return_index=True)
    out = np.zeros(nt, np.int64)
    out[firsts] = r[order][where]
    return out


def _context_cost(reference: ColouredRegions, ref: RegionFeatures, tgt: RegionFeatures, first_pass: np.ndarray,
                  t_all: np.ndarray, r_all: np.ndarray) -> np.ndarray:
    """Per candidate pair in 0..1: the border-weighted share of the target's neighbours whose first-pass
    colour is not among the candidate's neighbours' colours, averaged with whether the enclosing regions'
    colours differ."""
    ref_keys = _colour_keys(reference.colours)
    tgt_keys = ref_keys[first_pass]
    # the set of (reference region, neighbour colour) pairs
    a, b = ref.pairs[:, 0], ref.pairs[:, 1]
    ref_set = np.unique(np.r_[a * 4096 + ref_keys[b], b * 4096 + ref_keys[a]])
    # target neighbour lists: for each pair (t, r), each neighbour n of t with border w
    ta, tb = tgt.pairs[:, 0], tgt.pairs[:, 1]
    region, neighbour, weight = np.r_[ta, tb], np.r_[tb, ta], np.r_[tgt.borders, tgt.borders].astype(np.float64)
    total = np.bincount(region, weight, minlength=len(tgt.areas))
    # expand: pairs × neighbours of their target region, via sorting by region
    order = np.argsort(region, kind="stable")
    region, neighbour, weight = region[order], neighbour[order], weight[order]
    starts = np.searchsorted(region, t_all)
    ends = np.searchsorted(region, t_all, side="right")
    lengths = ends - starts
    pair_of = np.repeat(np.arange(len(t_all)), lengths)
    idx = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths) + np.repeat(starts, lengths)
    probe = r_all[pair_of] * 4096 + tgt_keys[neighbour[idx]]
    hit = np.isin(probe, ref_set)
    agree = np.bincount(pair_of, weight[idx] * hit, minlength=len(t_all)) / np.maximum(total[t_all], 1)
    parent_t, parent_r = tgt.parent[t_all], ref.parent[r_all]
    same_parent = (parent_t >= 0) & (parent_r >= 0) & (tgt_keys[np.maximum(parent_t, 0)]
                                                        == ref_keys[np.maximum(parent_r, 0)])
    return 0.5 * (1 - agree) + 0.5 * (1 - same_parent)


def max_overlap(reference: ColouredRegions, target_labels: np.ndarray) -> np.ndarray:
    """The BasicPBC reference row: each target region takes the colour of the reference region it
    overlaps most, in place, without alignment; (count, 3)."""
    nr = reference.count
    nt = int(target_labels.max()) + 1
    keys, n = np.unique(target_labels.astype(np.int64) * nr + reference.labels, return_counts=True)
    t, r = keys // nr, keys % nr
    return reference.colours[_cheapest(t, r, -n.astype(np.float64), nt)]
