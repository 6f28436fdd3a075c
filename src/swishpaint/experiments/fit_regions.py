"""`swishpaint fit-regions`: fit a model's region chooser (regions.choice) on a dataset's held-out split.

The data must be characters the network never saw: the chooser learns how the network behaves on
unseen art (and how people dab), which differs from how it behaves on its training characters. Every
image is hinted by each protocol at several counts, coloured once per hinting through the Colorizer's
own pipeline, and every unhinted, non-paper region becomes one example (regions.choice's options, the
squared error of each against the truth's mean colour there).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..configs import DEFAULT_VAL_PERCENT, INFERENCE_DEVICE
from ..data.datasets import DataConfig, SketchColorDataset
from ..data.hints import check_protocols, held_out_hints
from ..errors import InvalidArgument, OutputError, os_reason
from ..data.images import list_images
from ..files import check_new_output
from ..models.registry import CHOOSER_FILE, chooser_path
from ..regions.choice import RegionChooser, RegionOptions
from ..regions.classical import region_means
from ..regions.segment import regions_key
from ..regions.user_hints import USER_LIKE
from ..training.region_choice import ChooserFitConfig, RegionExamples, fit_region_chooser
from .evaluate import held_out_images

DEFAULT_HINTINGS = ((USER_LIKE, (5, 10, 20, 40)), ("patches", (10, 20, 40)))


class _Recorder:
    """Stands in for the chooser inside the Colorizer's own flats, to see the exact regions it would decide
    (and the options it would decide among); it leaves candidate 1's colour in place."""

    options: RegionOptions | None = None
    regions: np.ndarray | None = None

    def __init__(self, candidates: int):
        self.candidates = candidates

    def choose(self, options: RegionOptions, regions: np.ndarray) -> np.ndarray:
        self.options, self.regions = options, regions
        return options.colours[regions, 0]


@dataclass
class FitReport:
    images: int
    regions: int
    error_network: float  # area-weighted mean squared error, the network's first candidate (model order,
    # the anchor) in every region
    error_chooser: float  # the fitted chooser's picks (on the same examples)
    error_best: float  # the best option in every region: the ceiling
    by_hinting: dict[str, tuple[float, float]] = field(default_factory=dict)  # name -> (network, chooser)
    path: str = ""


def collect_examples(colorizer, data_root: str, hintings=DEFAULT_HINTINGS, images: int = 0, seed: int = 1,
                     size: int = 256, line_method: str = "dilate", progress: bool = False,
                     val_percent: float = DEFAULT_VAL_PERCENT) -> tuple[dict[str, RegionExamples], int]:
    """('protocol:count' -> the examples of that hinting over the dataset's val split, images used).
    Sketches are made as `swishpaint evaluate` makes them (same size and line method); the colorizer's
    own chooser, if any, stands aside meanwhile."""
    check_protocols([p for p, _ in hintings])
    data = SketchColorDataset(DataConfig(root=data_root, size=size, line_method=line_method, val_percent=val_percent),
                              "val", train=False)
    own, colorizer.region_chooser = colorizer.region_chooser, _Recorder(colorizer.candidates)
    try:
        return _collect(colorizer, colorizer.region_chooser, data, hintings, images, seed, progress)
    finally:
        colorizer.region_chooser = own


def _collect(colorizer, recorder: "_Recorder", data: SketchColorDataset, hintings, images: int, seed: int,
             progress: bool) -> tuple[dict[str, RegionExamples], int]:
    parts: dict[str, list[RegionExamples]] = {}
    n = 0
    for image in held_out_images(data, images, colorizer.segment_config, progress, desc="fit-regions"):
        n += 1
        seg = image.segmentation
        true_colour, area = region_means(seg, image.truth)
        for protocol, counts in hintings:
            for count in counts:
                hints = held_out_hints(image.item["sketch"], image.target, image.index, count, seed, protocol)
                recorder.regions = None
                colorizer.colorize_regions(image.sketch_grey, hints=hints, segmentation=seg).flats(0)
                if recorder.regions is None or not len(recorder.regions):
                    continue
                r = recorder.regions
                errors = ((recorder.options.colours[r] - true_colour[r, None]) ** 2).sum(-1)
                parts.setdefault(f"{protocol}:{count}", []).append(
                    RegionExamples(recorder.options.features[r], errors.astype(np.float32),
                                   (area[r] / seg.labels.size).astype(np.float32)))
    return {k: RegionExamples.join(v) for k, v in parts.items()}, n


def fit_regions(model: str, data_root: str, out: str | None = None, overwrite: bool = False,
                hintings=DEFAULT_HINTINGS, images: int = 0, cfg: ChooserFitConfig = ChooserFitConfig(),
                device: str = INFERENCE_DEVICE, progress: bool = False,
                val_percent: float = DEFAULT_VAL_PERCENT) -> FitReport:
    """Collect examples with `model` (its own chooser switched off), fit, write `out` (by default the
    model folder's region_choice.safetensors, read by Colorizer.load); an existing file is kept unless
    overwrite."""
    from ..inference.colorizer import Colorizer, model_path

    colorizer = Colorizer.load(model, device=device, region_chooser=None)  # a missing model makes no folder
    home = chooser_path(model_path(model)).parent
    target = Path(out) if out else home / CHOOSER_FILE  # where Colorizer.load looks for it
    # never onto the model's own files (weights, config, export) nor the images it is fitted on
    inputs = tuple(f for f in home.iterdir() if f.name != CHOOSER_FILE) + tuple(list_images(data_root))
    check_new_output(target, overwrite, inputs)  # before minutes of colouring, not after
    if not colorizer.takes_hints:
        raise InvalidArgument(f"{model}: takes no hints, so it has no use for a region chooser")
    by_hinting, n = collect_examples(colorizer, data_root, hintings, images, progress=progress,
                                     val_percent=val_percent)
    if not by_hinting:
        raise InvalidArgument(f"{data_root}: no unhinted regions in its val split to fit on")
    examples = RegionExamples.join(list(by_hinting.values()))
    chooser = dataclasses.replace(fit_region_chooser(examples, colorizer.candidates, cfg),
                                  segmentation=regions_key(colorizer.segment_config))  # its features describe these
    try:
        chooser.save(target)
    except OSError as e:
        raise OutputError(f"{target}: cannot write the region chooser ({os_reason(e)})") from None
    report = FitReport(images=n, regions=len(examples), error_network=examples.mean_error(np.zeros(len(examples), int)),
                       error_chooser=examples.mean_error(_picks(chooser, examples)),
                       error_best=examples.mean_error(examples.errors.argmin(1)), path=str(target))
    for name, part in by_hinting.items():
        report.by_hinting[name] = (part.mean_error(np.zeros(len(part), int)), part.mean_error(_picks(chooser, part)))
    return report


def _picks(chooser: RegionChooser, examples: RegionExamples) -> np.ndarray:
    return chooser.scores(examples.features).argmax(1)
