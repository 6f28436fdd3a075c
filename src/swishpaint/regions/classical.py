"""Classical colourings that a learned model must beat, given the same sketch and hints.

- region fill: each hinted region takes its hints' colour, each other enclosed region the colour of the
  nearest hinted region over the region adjacency graph, and unhinted regions touching the border stay
  white (a colourist's paint bucket with no model);
- Levin, Lischinski & Weiss (2004), *Colorization using Optimization*: colours propagate between
  neighbouring pixels of similar intensity, a sparse least-squares solve;
- the oracle flat fill: every region gets its true mean colour, the ceiling of flat colouring.

Each returns (H, W, 3) colours in [0, 1] with the original lines multiplied over.
"""

from __future__ import annotations

import numpy as np

from .flats import FlatConfig, hinted_regions
from .segment import Segmentation


def region_fill(seg: Segmentation, hints: np.ndarray, sketch: np.ndarray, cfg: FlatConfig = FlatConfig()) -> np.ndarray:
    """Hinted regions keep their hints' colour; enclosed regions take the nearest hinted region's colour
    (fewest region steps, then the longest shared border); border regions without hints stay white."""
    return fill_colours(seg, hinted_regions(seg, hints, cfg))[seg.labels] * sketch[..., None]


def fill_colours(seg: Segmentation, hinted: dict[int, np.ndarray],
                 adjacency: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """(count, 3) region fill's colour per region, from region -> hint colour (flats.hinted_regions);
    `adjacency`: seg.adjacency() when the caller has it already."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import dijkstra

    count = seg.count
    colours = np.ones((count, 3), np.float32)
    if hinted:
        pairs, lengths = adjacency or seg.adjacency()
        # a step costs 1, minus a little for long shared borders so that ties go to the closest neighbour
        cost = 1.0 + 1.0 / (1.0 + lengths)
        graph = sp.coo_matrix((np.r_[cost, cost], (np.r_[pairs[:, 0], pairs[:, 1]], np.r_[pairs[:, 1], pairs[:, 0]])),
                              shape=(count, count)).tocsr()
        sources = np.array(sorted(hinted))
        _, _, nearest = dijkstra(graph, indices=sources, min_only=True, return_predecessors=True)
        reached = nearest >= 0
        lut = np.zeros((count, 3), np.float32)
        lut[sources] = np.stack([hinted[s] for s in sources])
        fill = ~seg.touches_border() & reached
        colours[fill] = lut[nearest[fill]]
        colours[sources] = lut[sources]
    return colours


def oracle_flats(seg: Segmentation, truth: np.ndarray, sketch: np.ndarray) -> np.ndarray:
    """Every region in its true mean colour (over its pixels off the lines), lines multiplied over."""
    return region_means(seg, truth)[0][seg.labels] * sketch[..., None]


def region_means(seg: Segmentation, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """((count, 3) mean colour of truth (H, W, 3) over each region's pixels off the lines, (count,) how
    many pixels that is); a region wholly on lines uses all its pixels."""
    count = seg.count
    where = ~seg.lines
    weight = np.bincount(seg.labels[where], minlength=count)
    off_lines = weight.copy()
    fallback = weight == 0
    colours = np.stack([np.bincount(seg.labels[where], truth[..., c][where], minlength=count) for c in range(3)], 1)
    if fallback.any():  # regions wholly on lines
        all_w = np.bincount(seg.labels.ravel(), minlength=count)
        all_c = np.stack([np.bincount(seg.labels.ravel(), truth[..., c].ravel(), minlength=count) for c in range(3)], 1)
        colours[fallback], weight = all_c[fallback], np.where(fallback, all_w, weight)
    return (colours / np.maximum(weight, 1)[:, None]).astype(np.float32), off_lines


def levin_colorize(sketch: np.ndarray, hints: np.ndarray, border_white: bool = True) -> np.ndarray:
    """Levin et al. (2004) on a line-art sketch: RGB propagated through a 3×3 affinity on the sketch's
    intensity, hints and (optionally) the image border as hard constraints, lines multiplied over.

    Each pixel's colour is the affinity-weighted mean of its neighbours' (w_rs ∝ exp(-(Y_r - Y_s)² / 2σ_r²),
    σ_r from the local variance, as in the paper); one sparse LU factorisation serves all three channels.
    """
    import scipy.sparse as sp
    from scipy.sparse.linalg import splu

    h, w = sketch.shape
    n = h * w
    y = sketch.astype(np.float64)
    index = np.arange(n).reshape(h, w)
    pad = np.pad(y, 1, mode="edge")
    pad_index = np.pad(index, 1, mode="edge")
    shifts = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
    neigh = np.stack([pad[1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy, dx in shifts])  # (8, h, w)
    neigh_index = np.stack([pad_index[1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy, dx in shifts])
    window = np.concatenate([neigh, y[None]])
    variance = np.maximum(window.var(0) * 0.6, 2e-6)
    weights = np.exp(-((neigh - y[None]) ** 2) / (2 * variance[None]))
    weights[neigh_index == index[None]] = 0  # the edge padding repeats the pixel itself
    weights /= np.maximum(weights.sum(0, keepdims=True), 1e-12)

    fixed = hints[..., 3] > 0
    values = np.zeros((h, w, 3))
    values[fixed] = hints[..., :3][fixed]
    if border_white:
        border = np.zeros((h, w), bool)
        border[[0, -1], :] = border[:, [0, -1]] = True
        border &= ~fixed
        values[border] = 1.0
        fixed = fixed | border
    free = ~fixed.ravel()
    rows = np.repeat(np.arange(n)[None], 8, 0).ravel()
    a = sp.csr_matrix((-weights.ravel(), (rows, neigh_index.ravel())), shape=(n, n))
    a = (a + sp.identity(n, format="csr")).tocsr()
    a_free = a[free][:, free].tocsc()
    rhs = -(a[free][:, ~free] @ values.reshape(n, 3)[~free])
    result = values.reshape(n, 3).copy()
    if free.any():
        result[free] = splu(a_free).solve(rhs)
    return np.clip(result.reshape(h, w, 3), 0, 1).astype(np.float32) * sketch[..., None].astype(np.float32)
