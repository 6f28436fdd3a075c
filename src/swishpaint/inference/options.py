"""What `swishpaint colorize` is asked to do, as one value per run, and the checks that need no model.

Each run function (inference.batch) calls options.check() before the model loads, so a mistyped
setting fails in one line at once rather than after seconds of loading; the checks that need the
inputs or the model stay beside the code that has them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..configs import INFERENCE_DEVICE
from ..errors import InvalidArgument
from ..files import why_not_a_file


LINE_THRESHOLD_HELP = ("how dark a pixel must be to count as line when regions are found: a darkness between 0 "
                       "and 1 (0.1: 10 % darker than the paper). Lower it when faint pencil strokes should close "
                       "their areas, raise it when a scan's grey smudges split them (default: each sketch's "
                       "own, from its darkness)")


@dataclass(frozen=True, kw_only=True)
class SharedOptions:
    """What colouring pages and colouring a sequence have in common: the model and device, and how the
    results are written."""

    model: str | None = None  # a model folder; None: the bundled one
    device: str = INFERENCE_DEVICE
    keep_lines: bool = True
    layers: str | None = None  # "psd" or "ora": a layered file and its label map beside each PNG
    overwrite: bool = False
    line_threshold: float | None = None  # the ink level a person set (regions.segment); None: each image's own

    def check(self) -> None:
        """The checks every run shares: the line threshold."""
        from .colorizer import check_line_threshold

        check_line_threshold(self.line_threshold, name="--line-threshold")


@dataclass(frozen=True, kw_only=True)
class ColorizeOptions(SharedOptions):
    """`swishpaint colorize`: each input coloured on its own, optionally from hints."""

    hints: str | None = None  # a hint PNG (one input) or a folder of <stem>.png hints
    candidates: int = 1
    size: int | None = None  # the working size; None: the model's own
    backend: str = "torch"
    output: str = "final"  # one of colorizer.OUTPUTS

    @property
    def hints_path(self) -> Path | None:
        return Path(self.hints) if self.hints else None

    def check(self) -> None:
        """Refuse settings that are wrong for any model: a missing hints path, a working size outside the
        memory budget, an unknown output, or layers the backend or output cannot give."""
        from .colorizer import check_line_threshold, check_output, check_working_size
        from .layered import check_layers

        super().check()
        if self.hints_path is not None and not self.hints_path.exists():
            raise InvalidArgument(f"{self.hints_path}: no such hints file or folder")
        if self.size is not None:
            check_working_size(self.size)
        check_output(self.output)
        check_line_threshold(self.line_threshold, self.output, "--line-threshold")
        check_layers(self.layers, self.output, self.backend, "--layers")


@dataclass(frozen=True, kw_only=True)
class SequenceOptions(SharedOptions):
    """`swishpaint colorize FRAMES... --reference KEY.png` (or --palette): where the key's colours come
    from, and where to save them."""

    reference: str | None = None  # the coloured keyframe
    reference_sketch: str | None = None  # its line art, when the keyframe has its own
    palette: str | None = None  # a palette.json saved by an earlier --palette-out, instead of a keyframe
    palette_out: str | None = None

    def check(self) -> None:
        """Refuse a key given twice or not at all, options without the --reference they go with, unknown
        layers, and key files that are not there."""
        from .layered import check_layers

        super().check()
        if (self.reference is None) == (self.palette is None):
            raise InvalidArgument("give --reference KEY.png or --palette palette.json (one of them)")
        if self.reference_sketch and not self.reference:
            raise InvalidArgument("--reference-sketch goes with --reference")
        if self.palette_out is not None and not self.reference:
            raise InvalidArgument("--palette-out saves the colours of --reference KEY.png")
        check_layers(self.layers, name="--layers")
        for given in (self.reference, self.reference_sketch, self.palette):
            reason = given and why_not_a_file(given)
            if reason:
                raise InvalidArgument(f"{given}: {reason}")
