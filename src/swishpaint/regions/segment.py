"""Line-art segmentation: a sketch -> an integer map of the regions its lines enclose.

Colourists fill line-enclosed areas ("flats"); this module finds them, as LineFiller's trapped-ball
fill does, with whole-image OpenCV primitives instead of a ball walked pixel by pixel:

1. Ink: pixels darker than a threshold that follows the image (Otsu over the darkness, clamped), so
   grey pencil lines count as lines and the anti-aliased fringe of black lines does not.
   Ink specks smaller than `min_speck` are dirt, not lines.
2. Seeds: where a ball of radius r fits between the lines (distance to ink > r), so a gap narrower
   than the ball does not join the areas on either side. Each connected seed is a region.
3. Smaller balls, then single pixels, fill what the larger balls could not reach (narrow strips
   between two lines); what they find there becomes a region of its own when large enough.
4. Everything else (lines, the anti-aliased fringe, corners the ball missed, specks) takes the label
   of the nearest region pixel, so a line is split between the regions on its two sides and colour
   can sit under it. Regions smaller than `min_region` (specks, hatching cells) are merged the same way.
5. A second, finer pass (smaller balls) and the first are laid over each other: every area that either
   pass separates is a region. The large first ball cannot enter a narrow part (a collar, a leg, a
   skirt band on a small figure), whose pixels then go to a neighbour; the fine pass finds them, while
   the coarse pass's borders cut the fine pass's leaks through gaps its balls slip through. Pieces
   smaller than `min_region` join their neighbours.

Sizes are given for a 512-pixel sketch and scale with the sketch's longer side.
"""

from __future__ import annotations

import dataclasses
import numbers
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image

from ..data.images import paper_gain, paper_to_white, to_uint8
from ..errors import InvalidArgument

REFERENCE_SIDE = 512


@dataclass(frozen=True)
class SegmentConfig:
    balls: tuple[float, ...] = (10.0, 5.0, 2.5, 1.0)  # trapped-ball radii, largest first: a ball of radius r
    # closes gaps up to about 2r wide; smaller balls then fill the narrow areas the larger ones missed
    fine_balls: tuple[float, ...] | None = (5.0, 2.5, 1.25, 1.0)  # the finer pass laid over the first (step
    # 5); None: one pass. Chosen on training characters and held-out cartoons, not on the scored images:
    # the oracle flat fill rose 3-4 dB there, region fill from the same hints did not fall (docs/decisions.md)
    min_region: float = 30.0  # smaller regions (pixels) are specks, merged into their neighbours
    min_speck: float = 6.0  # smaller ink components (pixels) are dirt, not lines
    threshold: float | None = None  # ink darkness in [0, 1]; None: follows the image (Otsu)
    min_threshold: float = 0.06  # the adaptive threshold stays in this range
    max_threshold: float = 0.2
    max_open_border: float = 0.5  # neighbours whose shared border crosses more paper than this share merge


def with_line_threshold(cfg: SegmentConfig, threshold: float | None) -> SegmentConfig:
    """cfg with the ink level a person set: a darkness in (0, 1) above which a pixel is line (lower counts
    fainter pencil lines as lines; higher ignores a scan's grey smudges), or None to follow the image."""
    if threshold is not None and (isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, numbers.Real)
                                  or not 0 < float(threshold) < 1):  # NaN fails the comparison too
        raise InvalidArgument(f"the line threshold must be a darkness between 0 and 1 (0.1: a pixel 10 % darker "
                              f"than the paper is line), got {threshold!r}")
    return dataclasses.replace(cfg, threshold=None if threshold is None else float(threshold))


def regions_key(cfg: SegmentConfig) -> str:
    """What a region chooser's features depend on (it records this, Colorizer checks it): every setting of
    the segmentation but its ink level, which a person may set for each sketch."""
    return repr(dataclasses.replace(cfg, threshold=None))


@dataclass(eq=False)
class Segmentation:
    """labels (H, W) int32 in 0..count-1, every pixel (lines included) in exactly one region;
    lines (H, W) bool, the pixels judged ink. Both are read, never changed: the figures derived from
    them (areas, centroids, borders) are computed once, as every step of a colouring asks for them."""

    labels: np.ndarray
    lines: np.ndarray
    _derived: dict = field(default_factory=dict, init=False, repr=False)

    def _once(self, name: str, compute):
        """compute(), the first time only; arrays come back read-only, as every caller shares them."""
        if name not in self._derived:
            value = compute()
            for array in value if isinstance(value, tuple) else (value,):
                if isinstance(array, np.ndarray):
                    array.flags.writeable = False
            self._derived[name] = value
        return self._derived[name]

    @property
    def count(self) -> int:
        return self._once("count", lambda: int(self.labels.max()) + 1 if self.labels.size else 0)

    def areas(self) -> np.ndarray:
        """Pixels per region, (count,)."""
        return self._once("areas", lambda: np.bincount(self.labels.ravel(), minlength=self.count))

    def paper_areas(self) -> np.ndarray:
        """Pixels per region off the lines, (count,)."""
        return self._once("paper_areas", lambda: np.bincount(self.labels[~self.lines], minlength=self.count))

    def centroids(self) -> np.ndarray:
        """(count, 2) mean (y, x) of each region's pixels (0 for a label with no pixels)."""
        return self._once("centroids", self._centroids)

    def _centroids(self) -> np.ndarray:
        h, w = self.labels.shape
        sums = np.zeros((self.count, 2))
        rows = max(1, (1 << 20) // max(w, 1))  # a band at a time: no full-size float planes at 7000²
        for y0 in range(0, h, rows):
            band = self.labels[y0:y0 + rows].ravel()
            n = len(band) // w if w else 0
            sums[:, 0] += np.bincount(band, np.repeat(np.arange(y0, y0 + n, dtype=np.float64), w), self.count)
            sums[:, 1] += np.bincount(band, np.tile(np.arange(w, dtype=np.float64), n), self.count)
        return sums / np.maximum(self.areas(), 1)[:, None]

    def touches_border(self) -> np.ndarray:
        """(count,) bool: the region reaches the image's edge."""
        def touching() -> np.ndarray:
            lab = self.labels
            touch = np.zeros(self.count, bool)
            touch[np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])] = True
            return touch
        return self._once("touches_border", touching)

    def adjacency(self) -> tuple[np.ndarray, np.ndarray]:
        """Pairs of 4-neighbouring regions (E, 2) with a < b, and the length of their shared border (E,)."""
        return self._once("adjacency", self._adjacency)

    def _adjacency(self) -> tuple[np.ndarray, np.ndarray]:
        keys, counts = np.unique(border_pairs(self.labels)[0], return_counts=True)
        return np.stack([keys // self.count, keys % self.count], 1), counts


def to_grey_uint8(sketch: np.ndarray) -> np.ndarray:
    """(H, W) sketch, float in [0, 1] or uint8 -> uint8 (255 = paper)."""
    if sketch.dtype == np.uint8:
        return np.ascontiguousarray(sketch)
    return to_uint8(sketch)


def ink_threshold(darkness: np.ndarray, cfg: SegmentConfig) -> int:
    """Darkness level (0..255) above which a pixel is ink: Otsu over the image, clamped to the config's range."""
    if cfg.threshold is not None:
        return int(round(cfg.threshold * 255))
    otsu, _ = cv2.threshold(darkness, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return int(np.clip(otsu, cfg.min_threshold * 255, cfg.max_threshold * 255))


def _scale(shape: tuple[int, int]) -> float:
    return max(shape) / REFERENCE_SIDE


def _components(mask: np.ndarray, connectivity: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Connected components of a bool mask: labels (0 = background, 1..n) and areas (n + 1,)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=connectivity,
                                                           ltype=cv2.CV_32S)
    return labels, stats[:, cv2.CC_STAT_AREA]


def ink_mask(grey: np.ndarray, cfg: SegmentConfig = SegmentConfig()) -> np.ndarray:
    """(H, W) uint8 sketch -> bool ink pixels, without isolated specks smaller than cfg.min_speck.

    Ink within two pixels of other ink counts as one stroke, so the dashes of a dotted line are kept.
    """
    gain = paper_gain(grey)  # darkness is measured from the paper, white or not (1.0 for white paper)
    if gain != 1.0:
        grey = np.asarray(paper_to_white(Image.fromarray(grey), gain))
    darkness = 255 - grey
    ink = darkness > ink_threshold(darkness, cfg)
    joined = cv2.dilate(ink.view(np.uint8), np.ones((5, 5), np.uint8))
    strokes, _ = _components(joined > 0, connectivity=8)
    ink_per_stroke = np.bincount(strokes[ink], minlength=strokes.max() + 1)
    big = ink_per_stroke >= cfg.min_speck * _scale(grey.shape) ** 2
    return ink & big[strokes]


def grow_to_nearest(labels: np.ndarray) -> np.ndarray:
    """Give every unlabelled pixel (0) the label of the nearest labelled pixel (labels >= 1 kept)."""
    unlabelled = labels == 0
    if not unlabelled.any():
        return labels
    if unlabelled.all():
        return np.ones_like(labels)
    # [1]: only the nearest-pixel numbers; the distances (a float plane) are dropped at once
    nearest = cv2.distanceTransformWithLabels(unlabelled.view(np.uint8), cv2.DIST_L2, 5,
                                              labelType=cv2.DIST_LABEL_PIXEL)[1]
    # DIST_LABEL_PIXEL numbers the labelled pixels 1.. in raster order, as boolean indexing lists them
    by_number = np.concatenate([np.zeros(1, labels.dtype), labels[~unlabelled]])
    grown = labels.copy()
    grown[unlabelled] = by_number[nearest[unlabelled]]  # only the unlabelled pixels: a few in ten
    return grown


def _renumber(labels: np.ndarray) -> np.ndarray:
    """Labels 1..n with holes -> 0..m-1 in order of first appearance by label value."""
    present = np.bincount(labels.ravel()) > 0
    lut = (np.cumsum(present) - 1).astype(np.int32)
    return lut[labels]


def segment(sketch: np.ndarray, cfg: SegmentConfig = SegmentConfig()) -> Segmentation:
    """(H, W) sketch (float in [0, 1] or uint8; 1 / 255 = paper) -> its line-enclosed regions."""
    grey = to_grey_uint8(sketch)
    scale = _scale(grey.shape)
    lines = ink_mask(grey, cfg)
    free = ~lines
    to_ink = cv2.distanceTransform(free.view(np.uint8), cv2.DIST_L2, 5)
    min_area = cfg.min_region * scale ** 2

    def trapped_balls(balls: tuple[float, ...]) -> np.ndarray:
        return _trapped_balls(to_ink, lines, [r * scale for r in balls], min_area, cfg.max_open_border)

    if not cfg.fine_balls:
        return Segmentation(_renumber(trapped_balls(cfg.balls)), lines)
    if grey.size <= SIDE_BY_SIDE_PIXELS:  # OpenCV releases the GIL: two cores cut the wait by a quarter to a third
        with ThreadPoolExecutor(1) as beside:  # one per call: safe in forked workers, waited for on errors
            fine = beside.submit(trapped_balls, cfg.fine_balls)
            coarse = trapped_balls(cfg.balls)
            fine = fine.result()
    else:  # one pass's planes at a time: a 7000² sketch's would add about 1 GB
        coarse, fine = trapped_balls(cfg.balls), trapped_balls(cfg.fine_balls)
    to_ink = None  # frees the distance map (the closure holds the name: a del would leave it unbound)
    # the overlay: a region is a connected piece where both passes agree. The passes split lines between
    # their regions a little differently; the slivers that makes are small and join a neighbour
    labels = connected_pieces(coarse, fine)
    del coarse, fine
    return Segmentation(_renumber(_merge_small(labels, free, min_area)), lines)


SIDE_BY_SIDE_PIXELS = 4096 * 4096  # up to this size the two passes run at once (4096²: 4.4 -> 3.0-3.4 s,
# peak 1.2 -> 1.5 GB on the bench's sketches)


def connected_pieces(*label_maps: np.ndarray) -> np.ndarray:
    """Labels 1.. of the 4-connected pieces where every one of `label_maps` (H, W) keeps one label: OpenCV's
    components on a grid twice the size whose in-between cells are set where the two pixels they join
    agree in every map."""
    h, w = label_maps[0].shape
    grid = np.zeros((2 * h - 1, 2 * w - 1), np.uint8)
    grid[::2, ::2] = 1
    across, down = grid[::2, 1::2], grid[1::2, ::2]
    across[:], down[:] = 1, 1
    for labels in label_maps:
        across &= labels[:, :-1] == labels[:, 1:]
        down &= labels[:-1] == labels[1:]
    pieces = cv2.connectedComponents(grid, connectivity=4, ltype=cv2.CV_32S)[1]
    del grid
    return np.ascontiguousarray(pieces[::2, ::2])


def _trapped_balls(to_ink: np.ndarray, lines: np.ndarray, radii: list[float], min_area: float,
                   max_open_border: float) -> np.ndarray:
    """Steps 2-4 with these ball radii (pixels, largest first): labels (H, W) int32 >= 1 (merges leave
    unused numbers between them)."""
    labels = np.zeros(to_ink.shape, np.int32)
    born = np.zeros(1, np.int64)  # per label: the index of the ball that found it
    swept = np.zeros(to_ink.shape, bool)  # where a ball that made a region has rolled: seeds ⊕ ball
    for ball, radius in enumerate(radii + [0.0]):  # big balls first, then what they could not enter
        first = not labels.any()
        found, areas = _components((to_ink > radius) & ~swept)
        # corners a larger ball missed are not regions of their own
        keep = areas >= (1 if first else min_area if radius == 0 else min_area / 4)
        keep[0] = False
        seeds = keep[found]
        offset = int(labels.max())
        born = np.concatenate([born[:offset + 1], np.full(len(areas) - 1, ball)])
        np.add(found, offset, out=labels, where=seeds)
        swept |= _within(seeds, radius + 1.0) if radius > 0 else seeds
    del swept  # a large plane no longer needed before the next large step
    labels = grow_to_nearest(labels)
    labels = merge_open_borders(labels, lines, born, max_open_border)
    return _merge_small(labels, ~lines, min_area)


def _merge_small(labels: np.ndarray, free: np.ndarray, min_area: float) -> np.ndarray:
    """Regions with fewer than min_area paper pixels (a sliver of line is no area) join their neighbours."""
    areas = np.bincount(labels[free], minlength=labels.max() + 1)
    small = areas < min_area
    small[0] = False
    if small[1:].any() and not small[1:].all():
        labels = grow_to_nearest(np.where(small[labels], 0, labels))
    return labels


def border_pairs(labels: np.ndarray, lines: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """The 4-neighbour pixel pairs that straddle a border between two regions, as keys lo * n + hi of
    their two labels (n = labels.max() + 1), and, given the lines, whether both pixels are paper."""
    count = int(labels.max()) + 1
    across, down = labels[:, :-1] != labels[:, 1:], labels[:-1] != labels[1:]
    a = np.concatenate([labels[:, :-1][across], labels[:-1][down]]).astype(np.int64)
    b = np.concatenate([labels[:, 1:][across], labels[1:][down]]).astype(np.int64)
    paper = None if lines is None else \
        ~np.concatenate([(lines[:, :-1] | lines[:, 1:])[across], (lines[:-1] | lines[1:])[down]])
    return np.minimum(a, b) * count + np.maximum(a, b), paper


def merge_open_borders(labels: np.ndarray, lines: np.ndarray, born: np.ndarray, max_open: float) -> np.ndarray:
    """Merge neighbouring regions whose shared border mostly runs through paper, not along a line.

    A ball too big for a narrow neck of one area splits it in two; the border between the halves then
    crosses paper. A gap in a line is the opposite case: the border runs along the line and crosses
    paper only at the gap, so those regions stay apart. Regions found by the largest ball merge with
    each other; a region found by a smaller ball (a corner, the inside of a gap) joins only its one
    widest open older neighbour, so the merges form a forest and never chain the two sides of a gap.
    born: (labels.max() + 1,) the ball index per label.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    count = int(labels.max()) + 1
    key, paper = border_pairs(labels, lines)
    keys, inverse, total = np.unique(key, return_inverse=True, return_counts=True)
    open_share = np.bincount(inverse, paper) / total
    lo, hi = keys // count, keys % count
    is_open = open_share > max_open
    same_ball = is_open & (born[lo] == 0) & (born[hi] == 0)
    # a region a smaller ball found in a corner joins the one older neighbour it opens onto most widely
    open_length = np.bincount(inverse, paper)
    younger = np.where(born[lo] > born[hi], lo, hi)
    older = np.where(born[lo] > born[hi], hi, lo)
    candidate = is_open & (born[lo] != born[hi])
    order = np.lexsort((-open_length[candidate], younger[candidate]))
    young, first = np.unique(younger[candidate][order], return_index=True)
    pairs = np.concatenate([keys[same_ball], young * count + older[candidate][order][first]])
    merge = pairs
    graph = coo_matrix((np.ones(len(merge)), (merge // count, merge % count)), shape=(count, count))
    _, component = connected_components(graph, directed=False)
    return np.where(labels > 0, component[labels] + 1, 0).astype(np.int32)


def _within(mask: np.ndarray, distance: float) -> np.ndarray:
    """Pixels within `distance` of a True pixel of mask."""
    return cv2.distanceTransform((~mask).view(np.uint8), cv2.DIST_L2, 5) <= distance
