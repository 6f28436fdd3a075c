"""Colorizer: the Python API for colouring sketches with a trained model.

    from swishpaint import Colorizer
    images = Colorizer.load().colorize("sketch.png", hints="hints.png", candidates=3)

Colouring is region-first, as a colourist works. The sketch is split into line-enclosed regions
(swishpaint.regions). The network runs at its working size (the sketch scaled down when larger, padded
to a multiple of 32 with paper white) and is brought back to full size by a guided upsampling along the
original lines. Every region then gets one flat colour (its hints' colour, else the network's median
colour there, or with hints the model's region chooser's pick; big background regions stay paper
white unless hinted or the chooser colours them), the network's light and shadow inside each region
stay as a shading multiplier, and the original line art is multiplied over:
final = flats × shading × lines, exactly what the layered file (inference.layered) composites to.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..configs import INFERENCE_DEVICE, check_device
from ..data.hints import resize_hints
from ..data.images import DEFAULT_MAX_PIXELS, image_to_tensor, to_uint8
from ..errors import InvalidArgument
from ..metrics.ranking import hint_errors
from ..models.registry import (CONFIG_FILE, check_trained, chooser_path, DEFAULT_WORKING_SIZE, ModelLoadError,
                               generator_input, load_model, model_folder, read_model_card, takes_hints)
from ..regions.choice import RegionChooser, candidate_medians, region_options
from ..regions.flats import FlatConfig, Flats, flats_from_network, line_zone
from ..regions.segment import SegmentConfig, Segmentation, regions_key, segment, with_line_threshold
from .inputs import ImageLike, as_grey, as_hints, as_rgb, as_sketch
from .layered import line_rows
from .upsample import BAND_ROWS, guided_upsample_bands

BUNDLED = Path(__file__).resolve().parent.parent / "weights" / "demo"

# The network runs at most at this size (longer side): its activations grow with the square of it.
# Measured peak RSS, CLI, bundled model, 7000x7000 sketch, 9 candidates: 1.2 GB at the default 256,
# 2.2 GB at 1536, 3.4 GB at 2048 - so 1536 keeps the 3 GB budget.
MAX_WORKING_SIZE = 1536

MOSTLY_INK = 0.5  # a sketch more ink than paper is no line art (inverted, a photo, a dark scene): said
OUTPUTS = ("final", "flat", "network")  # flats × shading × lines; flats × lines; the network's colours × lines


@dataclass
class RegionColouring:
    """One sketch coloured by regions, kept in parts: the sketch (H, W) in [0, 1], its regions, the
    hints (H, W, 4) if any, and the network's best candidates at working size. Full-size parts are made
    one candidate at a time (`flats(k)`, `image(k)`), so memory holds one candidate, not K. A sketch with
    colour (colour-trace lines) also keeps `line_colour`, its RGB, for the lines multiplied over."""

    sketch: np.ndarray
    segmentation: Segmentation | None
    hints: np.ndarray | None
    small_sketch: torch.Tensor  # (1, h, w) at working size
    network_small: torch.Tensor  # (K, 3, h, w), best first
    flat_config: FlatConfig
    working: int
    candidate_colours: np.ndarray | None = None  # with hints and a region chooser: (count, K, 3) every
    # candidate's median per region, raw model order, the chooser's options
    chooser: RegionChooser | None = None
    line_colour: np.ndarray | None = None  # (H, W, 3) uint8, only when the sketch has colour
    paper_gain: float = 1.0  # what the sketch's grey paper was multiplied by to be white (inputs.as_sketch)
    _first_paper: np.ndarray | None = field(default=None, init=False, repr=False)  # flats(0).paper

    def lines(self, y0: int = 0, y1: int | None = None) -> np.ndarray:
        """Rows y0..y1 of the line art multiplied over the colours (see `line_rows`)."""
        return line_rows(self.sketch, self.line_colour, y0, y1)

    def network(self, k: int = 0) -> np.ndarray:
        """(H, W, 3) float32: candidate k of the network at full size (guided upsampling)."""
        h, w = self.sketch.shape
        colour = self.network_small[k]
        if tuple(self.small_sketch.shape[-2:]) == (h, w):
            return colour.permute(1, 2, 0).numpy().copy()
        out = np.empty((h, w, 3), np.float32)
        sketch = torch.from_numpy(self.sketch)[None]
        for y0, rows in guided_upsample_bands(colour, self.small_sketch, sketch):
            out[y0:y0 + rows.shape[1]] = rows.permute(1, 2, 0).numpy()
        return out

    @cached_property
    def line_zone(self) -> np.ndarray:
        """Where the network draws its own lines at full size (the same for every candidate)."""
        return line_zone(self.segmentation, max(1.0, max(self.sketch.shape) / self.working))

    def flats(self, k: int = 0, first_paper: bool = True) -> Flats:
        """Candidate k by regions: hinted regions in their hints' colour, the rest in the network's; with
        hints and a region chooser, candidate 1's unhinted regions take the chooser's pick instead.
        Every candidate also leaves as paper the regions candidate 1 left as paper: the candidates are other
        colourings of the figure, not of the background (otherwise some paint the paper orange);
        first_paper=False: only its own, as candidate k would look if it were shown first."""
        first_paper = first_paper and k > 0
        if first_paper and self._first_paper is None:
            self.flats(0)
        choose = None
        if k == 0 and self.chooser is not None and self.candidate_colours is not None:
            def choose(hinted: dict[int, np.ndarray], regions: np.ndarray) -> np.ndarray:
                options = region_options(self.segmentation, self.sketch, self.candidate_colours, hinted)
                return self.chooser.choose(options, regions)
        flats = flats_from_network(self.segmentation, self.network(k), self.hints, self.flat_config,
                                   zone=self.line_zone, choose_unhinted=choose,
                                   paper=self._first_paper if first_paper else None)
        if k == 0:
            self._first_paper = flats.paper.copy()  # the caller may change its Flats; the others need this
        return flats

    def image(self, k: int = 0, output: str = "final", keep_lines: bool = True,
              flats: Flats | None = None) -> np.ndarray:
        """(H, W, 3) uint8 rendering of candidate k: "final", "flat" or "network" (see OUTPUTS), made in
        row bands so that a large sketch needs one float plane, not several. Pass `flats(k)` when it
        is already made (the web page also sends the flats), so it is made once."""
        check_output(output)
        if output != "network" and self.segmentation is not None:
            flats = flats or self.flats(k)
        else:
            flats = None
        network = self.network(k) if flats is None else None
        h = self.sketch.shape[0]
        out = np.empty(self.sketch.shape + (3,), np.uint8)
        for y0 in range(0, h, BAND_ROWS):
            y1 = min(h, y0 + BAND_ROWS)
            rows = network[y0:y1] if flats is None else flats.rows(y0, y1, shading=output == "final")
            if keep_lines:
                rows = rows * self.lines(y0, y1)  # multiply the original lines over the colours
            out[y0:y1] = to_uint8(rows)
        return out


def check_output(output: str) -> None:
    """One rule for the API, the CLI's options and the server: an output is one of OUTPUTS."""
    if output not in OUTPUTS:
        raise InvalidArgument(f"output must be one of {', '.join(OUTPUTS)}, got {output!r}")


def check_line_threshold(threshold: float | None, output: str = "final", name: str = "line threshold") -> None:
    """One rule for the API's callers, the CLI's options and the server: a line threshold a person set is
    a darkness in (0, 1), and it decides regions, which output network does not use."""
    with_line_threshold(SegmentConfig(), threshold)
    if threshold is not None and output == "network":
        raise InvalidArgument(f"{name} sets how regions are found: output network uses none")


def _is_int(value: object) -> bool:
    """A whole number as a count (numpy's too), not a bool, float or string that merely compares like one."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_working_size(size: int) -> None:
    """Refuse working sizes whose activations would not fit the memory budget."""
    if not _is_int(size):
        raise InvalidArgument(f"working size must be an integer between 32 and {MAX_WORKING_SIZE}, got {size!r}")
    if not 32 <= size <= MAX_WORKING_SIZE:
        raise InvalidArgument(f"working size {size} is outside 32..{MAX_WORKING_SIZE} "
                              f"(the limit keeps peak memory within 3 GB)")


def check_candidates(candidates: int, available: int, name: str = "candidates") -> None:
    """Refuse a candidate count the model cannot give (a string or float would fail deep in slicing);
    `name`: what the caller calls it (the CLI's "--candidates")."""
    if not _is_int(candidates) or not 1 <= candidates <= available:
        raise InvalidArgument(f"{name} must be an integer between 1 and {available} for this model, got {candidates!r}")


def check_candidate_order(order, candidates: int) -> list[int]:
    """The order candidates come in without hints: every one of the model's candidates once (None: the
    model's own order). Anything else would drop, repeat or index past candidates when colouring."""
    if order is None:
        return list(range(candidates))
    if not isinstance(order, (list, tuple)) or not all(_is_int(i) for i in order) \
            or sorted(order) != list(range(candidates)):  # whole numbers first: sorted() of mixed types raises
        raise InvalidArgument(f"candidate_order must list each of the model's {candidates} candidates "
                              f"(0..{candidates - 1}) once, got {order!r}")
    return [int(i) for i in order]


def check_card(card, candidates: int, path: Path) -> None:
    """A model folder's card (models.ModelCard) as colouring will use it: a working size and candidate
    order it can run with, else a ModelLoadError naming the config.yaml that holds them. One check for
    Colorizer.load, `info` and `export`, so none of them passes a folder the others refuse."""
    try:
        check_working_size(card.working_size)
        check_candidate_order(card.candidate_order, candidates)
    except InvalidArgument as e:
        raise ModelLoadError(f"{model_folder(path) / CONFIG_FILE}: {e}") from None


def model_path(name_or_path: str | Path | None) -> Path:
    """The folder a --model names, and the one home of its default: every command that runs a model
    (and `info`, which describes it) means the bundled demo model when none is given."""
    if name_or_path is not None and not isinstance(name_or_path, (str, Path)):
        raise InvalidArgument(f"a model is a folder path or a registered name, got {type(name_or_path).__name__}")
    if name_or_path == "":  # an empty variable in a script, say: not a quiet "the bundled one"
        raise ModelLoadError("the model is an empty name; give a model folder, or leave it out for the bundled one")
    if name_or_path:
        return Path(name_or_path)
    if not (BUNDLED / CONFIG_FILE).is_file():
        raise ModelLoadError(f"{BUNDLED}: the bundled demo weights are missing from this install")
    return BUNDLED


class Colorizer:
    """A loaded generator plus the pre/post-processing that makes any sketch size work."""

    def __init__(self, model: torch.nn.Module, device: str | torch.device = INFERENCE_DEVICE,
                 working_size: int = DEFAULT_WORKING_SIZE, max_pixels: int = DEFAULT_MAX_PIXELS, name: str = "",
                 candidate_order: list[int] | None = None, flat_config: FlatConfig = FlatConfig(),
                 segment_config: SegmentConfig = SegmentConfig(), region_chooser: RegionChooser | None = None,
                 line_threshold: float | None = None):
        self.device = torch.device(device)
        check_working_size(working_size)
        # Without hints, candidates come in this order (e.g. best on average on training data first).
        self.candidate_order = check_candidate_order(candidate_order, model.config.candidates)
        self.flat_config = flat_config  # how regions get their colours and shading (regions.flats)
        # how the sketch is split into regions (regions.segment); line_threshold: the ink level a person set
        self.segment_config = segment_config if line_threshold is None else with_line_threshold(segment_config,
                                                                                                line_threshold)
        self.region_chooser = region_chooser  # with hints, candidate 1's unhinted regions (regions.choice)
        if region_chooser is not None and region_chooser.candidates != model.config.candidates:
            raise ModelLoadError(f"{name}: the region chooser was fitted for {region_chooser.candidates} "
                                 f"candidates, the model has {model.config.candidates}")
        if region_chooser is not None and region_chooser.segmentation != regions_key(segment_config):
            raise ModelLoadError(f"{name}: the region chooser was fitted on other regions "
                                 f"({region_chooser.segmentation}); refit it with swishpaint fit-regions")
        if not _is_int(max_pixels) or max_pixels < 1:  # checked here, not at the first colorize
            raise InvalidArgument(f"max_pixels must be a positive integer, got {max_pixels!r}")
        self.model = model.eval().to(self.device)
        self.working_size = working_size
        self.max_pixels = max_pixels
        self.name = name
        self.multiple = model.config.size_multiple

    @classmethod
    def load(cls, name_or_path: str | Path | None = None, device: str = INFERENCE_DEVICE,
             allow_untrained: bool = False, **kwargs) -> "Colorizer":
        """The bundled demo model by default, or a model folder. A registered architecture name has random
        weights and would colour noise without a word, so it is refused unless allow_untrained is set. The
        device is checked first: colorize, serve, evaluate and fit-regions all load their model here."""
        check_device(device)
        path = model_path(name_or_path)
        card = read_model_card(path)
        check_trained(path, allow_untrained, "give a model folder (see swishpaint train)", card)
        model, device = cls._load_generator(path, device)
        chooser = chooser_path(path)
        if "region_chooser" not in kwargs and chooser.is_file():  # region_chooser=None: not read
            kwargs["region_chooser"] = RegionChooser.load(chooser)
        check_card(card, model.config.candidates, path)
        kwargs.setdefault("working_size", card.working_size)
        kwargs.setdefault("candidate_order", card.candidate_order)
        return cls(model, device, name=str(name_or_path or "demo"), **kwargs)

    @classmethod
    def _load_generator(cls, path: Path, device: str) -> tuple[torch.nn.Module, str]:
        """The one seam a backend overrides: the network behind the Colorizer, and the device it runs on."""
        return load_model(path, map_location=device), device

    def with_line_threshold(self, threshold: float | None) -> "Colorizer":
        """This colorizer, sharing its network, with the line threshold a person set for a sketch: a
        darkness in (0, 1) above which a pixel is line (lower: faint pencil strokes count as lines and
        close their areas; higher: a scan's grey smudges do not), or None to follow each image."""
        other = copy.copy(self)
        other.segment_config = with_line_threshold(self.segment_config, threshold)
        return other

    @property
    def candidates(self) -> int:
        return self.model.config.candidates

    @property
    def takes_hints(self) -> bool:
        return takes_hints(self.model.config.in_channels)

    def colorize(self, image: ImageLike, hints: ImageLike | torch.Tensor | None = None, candidates: int = 1,
                 size: int | None = None, keep_lines: bool = True, output: str = "final",
                 warnings: list[str] | None = None) -> list[Image.Image]:
        """Colour one sketch; returns `candidates` RGB images at the input's size, best first.

        image: path, PIL image or array (any mode; transparency goes on white). hints: RGBA image
        or path the size of the sketch (other sizes are resized, noted in `warnings` if a list is
        given); every hinted region takes its hints' colour in every candidate, and with hints the
        candidates are ordered by how well the network followed them. output: "final" (flats × shading
        × lines), "flat" (flats × lines) or "network" (the network's own colours × lines). Thread-safe.
        For large sketches with many candidates prefer colorize_iter, which holds one at a time.
        """
        return list(self.colorize_iter(image, hints, candidates, size, keep_lines, output, warnings))

    def colorize_iter(self, image: ImageLike, hints: ImageLike | torch.Tensor | None = None, candidates: int = 1,
                      size: int | None = None, keep_lines: bool = True, output: str = "final",
                      warnings: list[str] | None = None) -> Iterator[Image.Image]:
        """colorize(), one full-size candidate at a time: peak memory is one candidate, not K.

        Arguments are checked, the sketch segmented and the network run before the first image is yielded.
        """
        check_output(output)
        if not isinstance(keep_lines, (bool, np.bool_)):  # "no" or "false" would count as true
            raise InvalidArgument(f"keep_lines must be True or False, got {keep_lines!r}")
        colouring = self.colorize_regions(image, hints, candidates, size, warnings, regions=output != "network")
        return (Image.fromarray(colouring.image(k, output, keep_lines), "RGB") for k in range(candidates))

    def colorize_regions(self, image: ImageLike, hints: ImageLike | torch.Tensor | None = None,
                         candidates: int = 1, size: int | None = None, warnings: list[str] | None = None,
                         regions: bool = True, segmentation: Segmentation | None = None) -> RegionColouring:
        """Colour one sketch by regions and keep the parts (layered files, the web page, evaluation).
        `segmentation`: the sketch's regions when the caller has them already (evaluation colours one
        sketch several times)."""
        check_candidates(candidates, self.candidates)
        if hints is not None and not self.takes_hints:
            raise InvalidArgument(f"model {self.name} takes no hints (it has 1 input channel)")
        if size is not None:
            check_working_size(size)
        working = size or self.working_size
        with torch.inference_mode():
            grey, line_colour, paper_gain = as_sketch(image, self.max_pixels, warnings)
            sketch = image_to_tensor(grey, "L")  # (1, H, W)
            del grey
            hint_full = None
            if hints is not None:
                hint_full, note = as_hints(hints, (sketch.shape[2], sketch.shape[1]), self.max_pixels)
                if note and warnings is not None:
                    warnings.append(note)
                if not bool(hint_full[3].any()):  # a hints file with no dab colours as no hints file does
                    hint_full = None
                    if warnings is not None:  # but is said: a layer exported without its alpha looks the same
                        warnings.append("the hints hold no dab (no pixel with alpha > 0): coloured without hints")
            small_sketch, colours, every = self._colour(sketch, hint_full, working, candidates)
        plain = sketch[0].numpy()
        seg = (segmentation or segment(plain, self.segment_config)) if regions else None
        if seg is not None and warnings is not None and (ink := float(seg.lines.mean())) > MOSTLY_INK:
            warnings.append(f"{ink:.0%} of the sketch reads as ink: swishpaint expects dark lines on light paper "
                            "(white lines on black, or a dark scene, colour badly)")
        hints_np = hint_full.permute(1, 2, 0).numpy() if hint_full is not None else None
        options = candidate_medians(seg, every.numpy()) \
            if seg is not None and hints_np is not None and self.region_chooser is not None else None
        return RegionColouring(plain, seg, hints_np, small_sketch, colours, self.flat_config, working, options,
                               self.region_chooser, line_colour, paper_gain)

    def load_sketch(self, image: ImageLike) -> np.ndarray:
        """Any image the API takes -> the (H, W) float sketch in [0, 1] that gets segmented."""
        return np.asarray(as_grey(image, self.max_pixels), np.float32) / 255

    def load_colour(self, image: ImageLike) -> np.ndarray:
        """Any image the API takes -> (H, W, 3) float RGB in [0, 1] (a coloured keyframe)."""
        return np.asarray(as_rgb(image, self.max_pixels), np.float32) / 255

    def load_lines(self, image: ImageLike) -> tuple[np.ndarray, np.ndarray | None]:
        """`load_sketch`, and the sketch's RGB uint8 when it has colour (its lines keep it; see `line_rows`)."""
        grey, line_colour, _ = as_sketch(image, self.max_pixels)
        return np.asarray(grey, np.float32) / 255, line_colour

    def colorize_sequence(self, frames: list[ImageLike], reference: ImageLike | None = None,
                          reference_sketch: ImageLike | None = None, palette=None,
                          warnings: list[str] | None = None) -> list:
        """Colour an animation's frames (sketches, in order) from a coloured keyframe `reference` (its
        line art `reference_sketch` when separate) or a palette (a palette file, or inference.palette's
        ColouredRegions); any image the API takes, frames too (a single frame may be given alone);
        returns one inference.sequence.FrameColouring per frame (.image(), .unmatched). A frame that
        cannot be used is an error naming it ("frame 3: ..."); inference.sequence.colour_sequence yields
        the frames one by one, for a caller that wants to keep those before it. `warnings`, if a list:
        notes for the person (a keyframe with no colour)."""
        from ..regions.matching import ColouredRegions
        from .palette import read_palette
        from .sequence import coloured_key, colour_sequence

        if reference is None and palette is None:
            raise InvalidArgument("give a reference keyframe or a palette")
        if reference is not None and palette is not None:
            raise InvalidArgument("give a reference keyframe or a palette, not both")
        if isinstance(frames, (str, Path, bytes, np.ndarray, Image.Image)):
            frames = [frames]  # one frame given alone, not a list of them
        if not isinstance(frames, Iterable):
            raise InvalidArgument(f"frames must be a list of images, got {type(frames).__name__}")
        if isinstance(palette, (str, Path)):
            palette = read_palette(palette)
        elif palette is not None and not isinstance(palette, ColouredRegions):
            raise InvalidArgument(f"palette must be a palette file or ColouredRegions, got {type(palette).__name__}")
        key = palette if palette is not None else coloured_key(reference, reference_sketch, self, warnings)
        return list(colour_sequence(self, frames, key, numbered=True))

    def _colour(self, sketch: torch.Tensor, hints: torch.Tensor | None, working: int,
                candidates: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(sketch at working size (1, sh, sw), the best `candidates` colourings (candidates, 3, sh, sw),
        all K colourings in the model's own order (K, 3, sh, sw))."""
        h, w = sketch.shape[-2:]
        scale = min(1.0, working / max(h, w))
        sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
        small = F.interpolate(sketch[None], size=(sh, sw), mode="area")[0] if scale < 1 else sketch
        small_hints = resize_hints(hints, (sh, sw))[None] if hints is not None and scale < 1 else \
            (hints[None] if hints is not None else None)
        ph, pw = -sh % self.multiple, -sw % self.multiple
        x = F.pad(small[None], (0, pw, 0, ph), value=1.0)  # paper white
        hx = F.pad(small_hints, (0, pw, 0, ph)) if small_hints is not None else None
        x = generator_input(x, hx, self.model.config.in_channels).to(self.device)
        out = self.model(x)[0, :, :, :sh, :sw].float().cpu().clamp(0, 1)  # (K, 3, sh, sw)
        order = _rank_by_hints(out, small_hints) if small_hints is not None else self.candidate_order
        return small, out[order[:candidates]], out


def _rank_by_hints(colours: torch.Tensor, hints: torch.Tensor) -> list[int]:
    """Candidate indices ordered by mean error at the hinted pixels (best first; model order if no hints)."""
    return hint_errors(colours[None], hints)[0].argsort(stable=True).tolist()



