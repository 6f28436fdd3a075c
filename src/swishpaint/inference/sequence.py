"""Colour an animation from a coloured keyframe, frame after frame, as a colourist with a model sheet.

Each frame is split into regions (regions.segment) and each region takes the colour of the matching
region of a reference (regions.matching):

- chaining: the reference is the previous coloured frame, whose pose is closest;
- a region that matches the previous frame poorly (cost above `rematch_cost`) is matched against the
  keyframe too, and takes the cheaper of the two, so an error does not travel down the cut;
- a region with no match in either is coloured by the network (its flat colour there) and reported,
  so a colourist knows where to look.

The output keeps the original lines: flats × lines, with no shading (a cel colouring); layered files
hold the same flats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..data.images import to_uint8
from ..data.lines import extract_lines
from ..errors import InvalidArgument, SwishpaintError
from ..regions.flats import Flats, flats_from_network, region_medians
from ..regions.matching import ColouredRegions, MatchConfig, match_regions, region_features
from ..regions.segment import Segmentation, segment
from .inputs import ImageLike
from .layered import line_rows


KEY_LINE_METHOD = "dilate"  # a coloured keyframe without its own line art: lines from its colour edges


@dataclass(frozen=True)
class SequenceConfig:
    match: MatchConfig = field(default_factory=MatchConfig)
    rematch_cost: float = 0.8  # a region matching the previous frame worse than this tries the keyframe too


@dataclass
class FrameColouring:
    """One frame coloured from its reference: sketch (H, W) in [0, 1], its regions, colours (count, 3),
    cost (count,) of each region's match, `unmatched`: the regions the network coloured, and the
    sketch's RGB when it has colour (`line_colour`, see layered.line_rows)."""

    sketch: np.ndarray
    segmentation: Segmentation
    colours: np.ndarray
    cost: np.ndarray
    unmatched: np.ndarray
    line_colour: np.ndarray | None = None

    def lines(self) -> np.ndarray:
        """The line art multiplied over the flats: (H, W, 3) colour or (H, W, 1) grey."""
        return line_rows(self.sketch, self.line_colour)

    def flats(self) -> Flats:
        """Flat colours without shading (what a layered file holds)."""
        return Flats(self.colours, np.zeros(len(self.colours), bool), self.segmentation.labels,
                     np.ones(self.sketch.shape, np.float32))

    def image(self, keep_lines: bool = True) -> np.ndarray:
        """(H, W, 3) uint8: flats × lines."""
        colours = self.colours[self.segmentation.labels]
        if keep_lines:
            colours *= self.lines()  # in place: no second full-size copy
        return to_uint8(colours)

    def regions(self) -> ColouredRegions:
        return ColouredRegions(self.segmentation.labels, self.colours)

    def unmatched_centres(self) -> list[tuple[int, int]]:
        """(x, y) centre of each unmatched region, for a report a person reads."""
        centres = self.segmentation.centroids()[self.unmatched]  # one pass over the labels, not one per region
        return [(int(x), int(y)) for y, x in centres]


def named(what: str, image) -> str:
    """'the reference key.png' for a file, 'the reference' for an image in memory: messages name files."""
    return f"{what} {image}" if isinstance(image, (str, Path)) else what


GREY_KEY = ("holds no colour, so the frames come out grey (was its line art given as the coloured "
            "keyframe?)")


def coloured_key(colour: ImageLike, sketch: ImageLike | None, colorizer,
                 warnings: list[str] | None = None) -> ColouredRegions:
    """A coloured keyframe -> its regions (from its line art, else lines found in its colours) and the
    median colour of each off the lines. A key without any colour is noted in `warnings` (GREY_KEY): a
    grey colouring is possible, line art given by mistake is likelier."""
    rgb = colorizer.load_colour(colour)
    lines = colorizer.load_sketch(sketch) if sketch is not None else extract_lines(rgb, KEY_LINE_METHOD).numpy()
    if lines.shape != rgb.shape[:2]:
        raise InvalidArgument(f"{named('the reference sketch', sketch)} is {lines.shape[1]}x{lines.shape[0]}, "
                              f"{named('the reference', colour)} {rgb.shape[1]}x{rgb.shape[0]}: they must be "
                              "the same size")
    seg = segment(lines, colorizer.segment_config)
    key = ColouredRegions(seg.labels, region_medians(seg.labels, rgb, seg.count, where=~seg.lines))
    if warnings is not None and float(np.ptp(rgb, axis=2).max()) < 2 / 255:  # 8-bit rounding is no colour
        warnings.append(GREY_KEY)
    return key


class SequenceColourer:
    """Colours a cut's frames one after another from the key (see the module docstring). A frame that
    fails (a bad file) changes nothing, so the next frame is matched to the last one coloured."""

    def __init__(self, colorizer, key: ColouredRegions, cfg: SequenceConfig = SequenceConfig()):
        self.colorizer, self.key, self.cfg = colorizer, key, cfg
        self.key_features = region_features(key.labels, cfg.match)
        self.previous, self.previous_features = key, self.key_features

    def colour(self, frame: ImageLike) -> FrameColouring:
        cfg, key = self.cfg, self.key
        sketch, line_colour = self.colorizer.load_lines(frame)
        seg = segment(sketch, self.colorizer.segment_config)
        features = region_features(seg.labels, cfg.match)
        match = match_regions(self.previous, seg.labels, cfg.match, self.previous_features, features)
        colours, cost = match.colours.copy(), match.cost.copy()
        if self.previous is not key:
            poor = (cost > cfg.rematch_cost) | (match.source < 0)
            if poor.any():
                again = match_regions(key, seg.labels, cfg.match, self.key_features, features)
                better = poor & (again.source >= 0) & (again.cost < cost)
                colours[better], cost[better] = again.colours[better], again.cost[better]
        unmatched = np.flatnonzero(np.isnan(colours[:, 0]))
        if len(unmatched):
            network = self.colorizer.colorize_regions(sketch, regions=False).network(0)  # decoded once
            colours[unmatched] = flats_from_network(seg, network, None, self.colorizer.flat_config).colours[unmatched]
        result = FrameColouring(sketch, seg, colours.astype(np.float32), cost, unmatched, line_colour)
        self.previous, self.previous_features = result.regions(), features
        return result


def colour_sequence(colorizer, frames: Iterable[ImageLike], key: ColouredRegions,
                    cfg: SequenceConfig = SequenceConfig(), numbered: bool = False) -> Iterator[FrameColouring]:
    """Colour the frames in order from the key; one frame at a time. numbered: a frame that cannot be
    used is an InvalidArgument that says which ("frame 3: ..."), for frames given without names."""
    colourer = SequenceColourer(colorizer, key, cfg)
    for number, frame in enumerate(frames, 1):
        try:
            coloured = colourer.colour(frame)
        except SwishpaintError as e:
            if not numbered:
                raise
            raise InvalidArgument(f"frame {number}: {e}") from None
        yield coloured
