"""With hints, which colour a region nobody dabbed takes: a small learned per-region choice.

On characters it never saw, the network paints its idea of a plausible colour over every region the
person left without a hint, and a region left alone is often paper: one dab per area is how people
hint, so an undabbed region larger than ones they dabbed was usually left white on purpose. The
network cannot read that from its pixels; the regions can. For every unhinted region, the background
included (random hints often miss a coloured one), a scorer picks one of these options:

- the median colour of each of the network's K candidates over the region (raw model order);
- paper white;
- the region fill colour: the nearest hinted region's colour over the region graph (regions.classical).

The scorer is a two-layer MLP over region features (size, place, what share of the larger regions the
person dabbed, how much the candidates agree, ...) and option features (the colour, and its distance
to the candidates' median, to candidate 1, to the neighbours and to the dabbed neighbours' colours).
It is fitted on characters the network never saw (`swishpaint fit-regions`; the fitting lives in
training.region_choice), and kept beside the model's weights as `region_choice.safetensors`. This
module only runs it, in numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import SwishpaintError
from ..files import atomic_path
from .classical import fill_colours
from .flats import luminance, plane_medians
from .segment import SegmentConfig, Segmentation

REGION_FEATURES = ("log_area", "touches_border", "centre_y", "centre_x", "sketch_mean", "candidate_spread",
                   "median_lightness", "hinted_share", "log_hinted", "hinted_area_share",
                   "log_area_over_smallest_hinted", "size_rank", "larger_hinted_share", "touches_hinted")
OPTION_FEATURES = ("red", "green", "blue", "lightness", "saturation", "to_median", "to_candidate_1",
                   "to_neighbours", "to_fill", "to_hinted_neighbour")  # then the option's one-hot index
FEATURE_NAMES = ",".join(REGION_FEATURES + OPTION_FEATURES)  # kept in the file: a chooser fits these only


class RegionChooserError(SwishpaintError, ValueError):
    """A region_choice.safetensors file that cannot be used; the message says which and why."""


@dataclass
class RegionOptions:
    """The options of every region of one sketch: colours (count, O, 3) with O = K candidates + white
    + fill, and their features (count, O, F) for the scorer."""

    colours: np.ndarray
    features: np.ndarray


def option_count(candidates: int) -> int:
    return candidates + 2


def region_options(seg: Segmentation, sketch: np.ndarray, candidate_colours: np.ndarray,
                   hinted: dict[int, np.ndarray]) -> RegionOptions:
    """Options and features for every region. candidate_colours: (count, K, 3) median colour of each
    candidate per region (raw model order); hinted: region -> hint colour (regions.flats.hinted_regions)."""
    count = len(candidate_colours)
    cands = candidate_colours.astype(np.float32)
    is_hinted = np.zeros(count, bool)
    hint_colour = np.zeros((count, 3), np.float32)
    for region, colour in hinted.items():
        is_hinted[region], hint_colour[region] = True, colour
    adjacency = seg.adjacency()
    fill = fill_colours(seg, hinted, adjacency)
    options = np.concatenate([cands, np.ones((count, 1, 3), np.float32), fill[:, None]], 1)  # (count, O, 3)
    region, neighbours, to_hinted = _region_features(seg, sketch, cands, is_hinted, hint_colour, options, adjacency)
    median = np.median(cands, 1)
    distance = lambda to: np.linalg.norm(options - to, axis=2)  # noqa: E731  (count, O)
    per_option = {"red": options[..., 0], "green": options[..., 1], "blue": options[..., 2],
                  "lightness": luminance(options), "saturation": options.max(2) - options.min(2),
                  "to_median": distance(median[:, None]), "to_candidate_1": distance(cands[:, :1]),
                  "to_neighbours": distance(neighbours[:, None]), "to_fill": distance(fill[:, None]),
                  "to_hinted_neighbour": to_hinted}
    n_opt = options.shape[1]
    features = np.concatenate([np.broadcast_to(region[:, None], (count, n_opt, len(REGION_FEATURES))),
                               np.stack([per_option[name] for name in OPTION_FEATURES], 2),
                               np.broadcast_to(np.eye(n_opt, dtype=np.float32), (count, n_opt, n_opt))], 2)
    return RegionOptions(options, features.astype(np.float32))


def _region_features(seg: Segmentation, sketch: np.ndarray, cands: np.ndarray, is_hinted: np.ndarray,
                     hint_colour: np.ndarray, options: np.ndarray, adjacency: tuple[np.ndarray, np.ndarray]):
    """(REGION_FEATURES per region (count, R), the border-weighted mean colour of each region's
    neighbours (count, 3), each option's distance to the nearest dabbed neighbour's colour (count, O))."""
    count = len(cands)
    h, w = seg.labels.shape
    pairs, lengths = adjacency
    a, b = np.r_[pairs[:, 0], pairs[:, 1]], np.r_[pairs[:, 1], pairs[:, 0]]
    shared = np.r_[lengths, lengths].astype(np.float64)
    known = np.where(is_hinted[:, None], hint_colour, cands[:, 0])  # what each neighbour looks like
    neighbours = np.stack([np.bincount(a, shared * known[b, c], count) for c in range(3)], 1)
    neighbours = (neighbours / np.maximum(np.bincount(a, shared, count), 1e-6)[:, None]).astype(np.float32)
    to_hinted = np.full(options.shape[:2], 2.0, np.float32)  # 2 > any RGB distance: no dabbed neighbour
    by_hint = is_hinted[b]
    if by_hint.any():
        gaps = np.linalg.norm(options[a[by_hint]] - hint_colour[b[by_hint]][:, None], axis=2)
        np.minimum.at(to_hinted, a[by_hint], gaps)

    off_lines = seg.paper_areas().astype(np.float64)
    order = np.argsort(-off_lines, kind="stable")  # largest first
    rank = np.empty(count)
    rank[order] = np.arange(count)
    dabbed = is_hinted[order].astype(np.float64)
    larger_hinted = np.empty(count)
    larger_hinted[order] = (np.cumsum(dabbed) - dabbed) / np.maximum(np.arange(count), 1)
    smallest_hinted = off_lines[is_hinted].min() if is_hinted.any() else 1.0
    centre = seg.centroids()
    features = {
        "log_area": np.log(np.maximum(off_lines, 1) / (h * w)),
        "touches_border": seg.touches_border(),
        "centre_y": centre[:, 0] / h,
        "centre_x": centre[:, 1] / w,
        "sketch_mean": np.bincount(seg.labels.ravel(), sketch.ravel(), count) / np.maximum(seg.areas(), 1),
        "candidate_spread": cands.std(1).mean(1),
        "median_lightness": luminance(np.median(cands, 1)),
        "hinted_share": np.full(count, is_hinted.mean()),
        "log_hinted": np.full(count, np.log1p(is_hinted.sum())),
        "hinted_area_share": np.full(count, off_lines[is_hinted].sum() / max(off_lines.sum(), 1)),
        "log_area_over_smallest_hinted": np.log(np.maximum(off_lines, 1) / max(smallest_hinted, 1)) * is_hinted.any(),
        "size_rank": rank / count,
        "larger_hinted_share": larger_hinted,
        "touches_hinted": np.bincount(a[by_hint], minlength=count) > 0,
    }
    region = np.stack([features[name] for name in REGION_FEATURES], 1).astype(np.float32)
    return region, neighbours, to_hinted


def candidate_medians(seg: Segmentation, candidates: np.ndarray) -> np.ndarray:
    """(count, K, 3): each candidate's median colour over each region's off-line pixels.

    candidates: (K, 3, h, w) at the network's working size, channel-first as the network gives them; the
    regions are sampled (nearest) at that size, so this costs K small histograms however large the
    sketch. A region too small to appear there takes the candidates' colour at its centre.
    """
    k, _, h, w = candidates.shape
    big_h, big_w = seg.labels.shape
    rows = np.minimum(((np.arange(h) + 0.5) * big_h / h).astype(np.int64), big_h - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * big_w / w).astype(np.int64), big_w - 1)
    labels, off_lines = seg.labels[np.ix_(rows, cols)], ~seg.lines[np.ix_(rows, cols)]
    count = seg.count
    medians = plane_medians(labels, candidates.reshape(k * 3, h, w), count, where=off_lines).reshape(count, k, 3)
    absent = np.bincount(labels.ravel(), minlength=count) == 0
    if absent.any():
        centre = seg.centroids()[absent]
        y = np.clip((centre[:, 0] * h / big_h).astype(np.int64), 0, h - 1)
        x = np.clip((centre[:, 1] * w / big_w).astype(np.int64), 0, w - 1)
        medians[absent] = np.moveaxis(candidates[:, :, y, x], 2, 0)
    return medians


def feature_count(candidates: int) -> int:
    return len(REGION_FEATURES) + len(OPTION_FEATURES) + option_count(candidates)


@dataclass
class RegionChooser:
    """The fitted scorer: features are standardised (mean, std), then
    score = w3 · silu(w2 · silu(w1 · x + b1) + b2) + b3 per option; the highest score wins."""

    weights: dict[str, np.ndarray]  # mean, std, w1, b1, w2, b2, w3, b3 (torch Linear layout: out × in)
    candidates: int
    # the segmentation it was fitted on (its features describe those regions): repr of a SegmentConfig
    segmentation: str = field(default_factory=lambda: repr(SegmentConfig()))

    def scores(self, features: np.ndarray) -> np.ndarray:
        """(…, O, F) features -> (…, O) scores."""
        p = self.weights
        x = (features - p["mean"]) / p["std"]
        for layer in ("1", "2"):
            x = x @ p["w" + layer].T + p["b" + layer]
            x = x / (1 + np.exp(-x))  # SiLU
        return (x @ p["w3"].T + p["b3"])[..., 0]

    def choose(self, options: RegionOptions, regions: np.ndarray) -> np.ndarray:
        """(len(regions), 3) the chosen colour for each of `regions`."""
        if not len(regions):
            return np.zeros((0, 3), np.float32)
        pick = self.scores(options.features[regions]).argmax(1)
        return options.colours[regions, pick]

    def save(self, path: str | Path) -> None:
        from safetensors.numpy import save_file

        with atomic_path(path) as tmp:
            save_file({k: np.ascontiguousarray(v, np.float32) for k, v in self.weights.items()}, str(tmp),
                      metadata={"candidates": str(self.candidates), "features": FEATURE_NAMES,
                                "segmentation": self.segmentation})

    @classmethod
    def load(cls, path: str | Path) -> "RegionChooser":
        """Read a region_choice.safetensors (never unpickles); a clear error if it does not fit."""
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), "np") as f:
                meta = f.metadata() or {}
                weights = {k: f.get_tensor(k) for k in f.keys()}
        except (OSError, SafetensorError) as e:
            raise RegionChooserError(f"{path}: cannot read the region chooser ({e})") from None
        missing = {"mean", "std", "w1", "b1", "w2", "b2", "w3", "b3"} - set(weights)
        if missing or not meta.get("candidates", "").isdigit():
            what = ", ".join(sorted(missing)) or "metadata"
            raise RegionChooserError(f"{path}: not a region chooser (missing {what})")
        if meta.get("features") != FEATURE_NAMES:
            raise RegionChooserError(f"{path}: made for other features than this swishpaint's; refit it with "
                                     "swishpaint fit-regions")
        chooser = cls(weights, int(meta["candidates"]), meta.get("segmentation", "one-pass regions (before 2026-11-28)"))
        inputs = weights["w1"].shape[1]
        if inputs != feature_count(chooser.candidates) or weights["mean"].shape[-1] != inputs:
            raise RegionChooserError(f"{path}: weight shapes do not match {chooser.candidates} candidates")
        return chooser
