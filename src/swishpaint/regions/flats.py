"""Flat colours per region, and the shading that the network paints inside each region.

A colourist first fills every line-enclosed area with one base colour ("flats"), then adds light and
shadow inside it, and keeps the line art on top. Here:

- a region with hints takes the hints' colour (the dominant one if several disagree);
- a region without hints takes a robust colour of the network's output over it (the median), or, when
  the person hinted elsewhere, what the caller's chooser picks (regions.choice);
- large regions that touch the border and that the network leaves near white stay paper white (with
  hints, all of them, unless a chooser decides them);
- shading is the network's luminance inside a region relative to the region's median luminance, a
  multiplier in (0, 1], so a layered file can hold it as a multiply layer.

All arrays are numpy: sketches (H, W) float in [0, 1], colours (H, W, 3) float in [0, 1],
hints (H, W, 4) float = RGB + mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from .segment import Segmentation


@dataclass(frozen=True)
class FlatConfig:
    dab_share: float = 0.25  # a dab colours every region holding this share of its off-line pixels (and
    # always the region it mostly covers), so a dab that strays over a line does not colour the neighbour
    background_area: float = 0.02  # a border region at least this share of the image can be paper...
    background_lightness: float = 0.85  # ...when the network leaves it at least this light,
    hinted_paper: bool = True  # ...or whatever its colour when the person gave hints but none there and no
    # region chooser decides: one dab per area is how people hint, so an unhinted background is one they
    # left as paper. A chooser decides such regions itself (paper white is one of its options): forced
    # paper cost 0.1-0.4 dB with random patches, which often miss a coloured border region, and gained
    # nothing with one dab per area (docs/decisions.md)
    shading_strength: float = 0.25  # 0: flats only; 1: the network's full light and shadow. 0.25: the best
    # of 0 / 0.25 / 0.5 / 0.75 in PSNR on unscored images of characters the network never saw (the
    # chooser's fitting images and renpy's training split, automatic and 20 hints); on unseen characters
    # its shadows are in place but too strong, and 0.5 (tuned on its training characters) cost 0.1-0.2 dB
    min_shading: float = 0.35  # the darkest shadow the network may add (a multiplier)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """(…, 3) RGB in [0, 1] -> Rec. 601 luma (…)."""
    return rgb @ np.array([0.299, 0.587, 0.114], np.float32)


def region_medians(labels: np.ndarray, values: np.ndarray, count: int, where: np.ndarray | None = None) -> np.ndarray:
    """Per-region median of each channel of values (H, W, C) or (H, W) in [0, 1] -> (count, C).

    Counted over the pixels in `where` (e.g. off the lines); a region with none there uses all its pixels.
    """
    return plane_medians(labels, values[None] if values.ndim == 2 else np.moveaxis(values, -1, 0), count, where)


def plane_medians(labels: np.ndarray, planes: np.ndarray, count: int, where: np.ndarray | None = None) -> np.ndarray:
    """region_medians of channel-first planes (C, H, W) -> (count, C).

    Computed from 256-bin histograms, so it is one bincount per channel, with no per-region loop.
    """
    channels = planes.shape[0]
    out = np.empty((count, channels), np.float32)
    group = max(1, HISTOGRAM_BYTES // (4 * 256 * max(count, 1)))  # channels whose histograms are held at once
    for c0 in range(0, channels, group):
        some = planes[c0:c0 + group]
        hist = _level_histograms(labels, some, count, where)
        if where is not None:
            on_lines_only = hist[0].sum(1) == 0
            if on_lines_only.any():  # regions lying wholly on lines: all their pixels
                hist[:, on_lines_only] += _level_histograms(labels, some, count, ~where)[:, on_lines_only]
        cdf = hist.cumsum(2, dtype=np.int32)
        out[:, c0:c0 + group] = ((cdf < (cdf[..., -1:] + 1) // 2).sum(2) / 255.0).T
    return out


HISTOGRAM_BYTES = 32 << 20  # plane_medians holds at most this much of histograms at once
BAND_VALUES = 1 << 22  # ...and quantises this many values at once


def _level_histograms(labels: np.ndarray, planes: np.ndarray, count: int, where: np.ndarray | None) -> np.ndarray:
    """(C, count, 256) int32 pixel counts per channel, region and 8-bit level, over the `where` pixels.

    A band of rows at a time, all its channels quantised to bytes together, so a 7000² image needs no
    full-size copies and many channels (a sketch's 27 candidate planes) cost one pass over the pixels.
    """
    channels, h, w = planes.shape
    key_type = np.int32 if count * 256 < 2**31 else np.int64
    hist = np.zeros((channels, count * 256), np.int32)
    rows = max(1, BAND_VALUES // (w * channels))
    for y0 in range(0, h, rows):
        level = planes[:, y0:y0 + rows] * np.float32(255)
        level += 0.5
        np.clip(level, 0, 255, out=level)
        level = np.ascontiguousarray(level.astype(np.uint8)).reshape(channels, -1)
        keys = labels[y0:y0 + rows].ravel()
        picked = np.flatnonzero(where[y0:y0 + rows]) if where is not None else None
        keys = (keys[picked] if picked is not None else keys).astype(key_type) * 256
        for c in range(channels):
            level_c = level[c][picked] if picked is not None else level[c]
            hist[c] += np.bincount(keys + level_c, minlength=count * 256)  # int32 counts suffice
    return hist.reshape(channels, count, 256)


def hinted_regions(seg: Segmentation, hints: np.ndarray, cfg: FlatConfig = FlatConfig()) -> dict[int, np.ndarray]:
    """Region -> the hint colour (3,) that rules it.

    A region painted whole (every pixel, lines included, with some off the lines: what the page's paint
    bucket sends) takes its own dominant colour, whatever touches it, so a bucket fill beside other fills
    or strokes is never swallowed by them. On the rest, each dab (connected hint stroke) colours the
    region holding most of its off-line pixels, and any other region holding at least cfg.dab_share of
    them; a dab wholly on a line colours nothing. Several dabs in one region: the colour covering most
    hint pixels there wins (colours compared at 4 bits per channel).
    """
    mask = hints[..., 3] > 0
    if not mask.any():
        return {}
    count = seg.count
    painted = np.bincount(seg.labels[mask], minlength=count)
    has_paper = seg.paper_areas() > 0
    whole = (painted == seg.areas()) & has_paper
    result = _dominant_colours(seg.labels, hints, mask & whole[seg.labels])
    mask &= ~whole[seg.labels]
    if not mask.any():
        return result
    n_dabs, dabs = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    on_paper = mask & ~seg.lines  # a dab lying wholly on a line paints the line, not a region: ignored
    colouring = _dab_regions(dabs[on_paper].astype(np.int64) * count + seg.labels[on_paper], count, n_dabs, cfg)
    # every hint pixel votes for its own region if its dab colours that region
    votes = np.zeros_like(mask)
    votes[mask] = np.isin(dabs[mask].astype(np.int64) * count + seg.labels[mask], colouring)
    return {**_dominant_colours(seg.labels, hints, votes), **result}


def _dab_regions(dab_region: np.ndarray, count: int, n_dabs: int, cfg: FlatConfig) -> np.ndarray:
    """The keys dab * count + region of the regions each dab colours, from its off-line pixels' keys.

    Only the pairs that occur are counted: a soft brush's thousands of one-pixel dabs over thousands of
    regions would make a dab-by-region table of GBs.
    """
    pairs, pixels = np.unique(dab_region, return_counts=True)
    dab = pairs // count
    share = pixels / np.bincount(dab, pixels, minlength=n_dabs)[dab]
    most = np.zeros(n_dabs)
    np.maximum.at(most, dab, share)
    return pairs[(share >= cfg.dab_share) | (share == most[dab])]


def _dominant_colours(labels: np.ndarray, hints: np.ndarray, votes: np.ndarray) -> dict[int, np.ndarray]:
    """Region -> the mean of its most frequent hint colour (4 bits per channel) among the `votes` pixels."""
    ys, xs = np.nonzero(votes)
    if not len(ys):
        return {}
    r, rgb = labels[ys, xs], hints[ys, xs, :3]
    q = np.clip(rgb * 15 + 0.5, 0, 15).astype(np.int64)
    key = r.astype(np.int64) * 4096 + q[:, 0] * 256 + q[:, 1] * 16 + q[:, 2]
    keys, inverse, n = np.unique(key, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    sums = np.stack([np.bincount(inverse, weights=rgb[:, c], minlength=len(keys)) for c in range(3)], 1)
    best: dict[int, int] = {}
    for i, k in enumerate(keys):  # one entry per (region, colour): a few dozen
        region = int(k // 4096)
        if region not in best or n[i] > n[best[region]]:
            best[region] = i
    return {region: (sums[i] / n[i]).astype(np.float32) for region, i in best.items()}


def background_regions(seg: Segmentation, cfg: FlatConfig = FlatConfig()) -> np.ndarray:
    """(count,) bool: the large regions that touch the border, the ones that can be background paper."""
    return seg.touches_border() & (seg.areas() >= cfg.background_area * seg.labels.size)


def paper_regions(seg: Segmentation, medians: np.ndarray, cfg: FlatConfig = FlatConfig(),
                  hinted: bool = False) -> np.ndarray:
    """(count,) bool: large border regions that are background paper: the network leaves them near
    white, or (cfg.hinted_paper) the person hinted the sketch elsewhere."""
    big = background_regions(seg, cfg)
    if hinted and cfg.hinted_paper:
        return big
    return big & (luminance(medians) >= cfg.background_lightness)


@dataclass
class Flats:
    """One colouring by regions: colours (count, 3) per region, which regions hints decided, the
    region labels (H, W) and the shading multiplier (H, W) in (0, 1]; `paper` (count,), the regions
    taken for paper, when known (white unless a hint colours them). Full-size colour planes are made
    on demand (`image`, `rows`): at 7000² each is 0.6 GB."""

    colours: np.ndarray
    hinted: np.ndarray
    labels: np.ndarray
    shading: np.ndarray
    paper: np.ndarray | None = None

    @property
    def image(self) -> np.ndarray:
        """The flat image (H, W, 3) float32."""
        return self.colours[self.labels]

    def rows(self, y0: int, y1: int, shading: bool = True) -> np.ndarray:
        """Rows y0:y1 of the flats, times the shading unless shading=False: (y1 - y0, W, 3)."""
        out = self.colours[self.labels[y0:y1]]
        if shading:
            out *= self.shading[y0:y1, :, None]
        return out

    def final(self, sketch: np.ndarray) -> np.ndarray:
        """flats × shading × lines: what the layered file composites to."""
        return self.rows(0, self.labels.shape[0]) * sketch[..., None]


def line_zone(seg: Segmentation, width: float) -> np.ndarray:
    """Ink pixels and those within `width` of them: where the network draws its own lines, which the
    original lines replace, so shading is left out there."""
    if width <= 0:
        return seg.lines
    far = cv2.distanceTransform((~seg.lines).astype(np.uint8), cv2.DIST_L2, 3)
    return far <= width


UnhintedChoice = Callable[[dict[int, np.ndarray], np.ndarray], np.ndarray]  # (hinted, regions) -> colours


def flats_from_network(seg: Segmentation, network: np.ndarray, hints: np.ndarray | None = None,
                       cfg: FlatConfig = FlatConfig(), line_width: float = 1.0,
                       zone: np.ndarray | None = None, choose_unhinted: UnhintedChoice | None = None,
                       paper: np.ndarray | None = None) -> Flats:
    """Colour every region: hints first, then the network's median colour, paper stays white.

    network: (H, W, 3) the network's colouring at the sketch's size. line_width: the reach (pixels) of
    the network's own line drawing around the ink, left out of statistics and shading; `zone`, that
    area if already made (it is the same for every candidate of a sketch). choose_unhinted: with hints,
    the colours (len(regions), 3) of the unhinted regions, from the hinted regions (region -> colour) and
    those regions' indices (regions.choice); it decides backgrounds too, and the large border regions it
    leaves white are paper. By default the network's colours, and (cfg.hinted_paper) backgrounds paper.
    paper: (count,) bool, regions that stay paper whatever this network paints there (the background is
    the sketch's, not a colouring's: every candidate keeps the first one's paper), besides those this
    network leaves paper itself.
    """
    zone = line_zone(seg, line_width) if zone is None else zone
    by_hints = hinted_regions(seg, hints, cfg) if hints is not None else {}
    # with hints and a chooser, hints and the chooser decide every region: no network medians then
    chooser_decides = bool(by_hints) and choose_unhinted is not None
    if chooser_decides:
        colours, own = np.ones((seg.count, 3), np.float32), np.zeros(seg.count, bool)
    else:
        colours = region_medians(seg.labels, network, seg.count, where=~zone)
        # a caller that passes `paper` (candidate 1's) has decided the background: no forced paper then
        own = paper_regions(seg, colours, cfg, hinted=bool(by_hints) and paper is None)
    paper = own if paper is None else own | paper
    colours[paper] = 1.0
    hinted = np.zeros(seg.count, bool)
    for region, colour in by_hints.items():
        colours[region] = colour
        hinted[region] = True
    if chooser_decides:
        free = np.flatnonzero(~hinted & ~paper)
        colours[free] = choose_unhinted(by_hints, free)
        paper |= background_regions(seg, cfg) & ~hinted & (colours.min(1) >= 1.0)
    shading = network_shading(seg, network, colours, zone, cfg)
    return Flats(colours, hinted, seg.labels, shading, paper)


def network_shading(seg: Segmentation, network: np.ndarray, colours: np.ndarray, zone: np.ndarray,
                    cfg: FlatConfig = FlatConfig()) -> np.ndarray:
    """The network's light and shadow inside each region, relative to the region's median: (H, W) in (0, 1].

    1 on and beside the lines, and on paper (white regions keep no shading).
    """
    if cfg.shading_strength <= 0:
        return np.ones(seg.labels.shape, np.float32)
    shade = luminance(network.astype(np.float32, copy=False))
    median = np.maximum(region_medians(seg.labels, shade, seg.count, where=~zone)[:, 0], 1e-3)
    # in place, one plane: 1 - strength * (1 - lum / median), clamped
    shade /= median[seg.labels]
    shade -= 1
    shade *= cfg.shading_strength
    shade += 1
    np.clip(shade, cfg.min_shading, 1.0, out=shade)
    shade[zone] = 1.0
    shade[(colours.min(1) >= 1.0)[seg.labels]] = 1.0
    return shade
