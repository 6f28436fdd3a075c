"""Colorizer: the Python API for colouring sketches with a trained model.

    from swishpaint import Colorizer
    images = Colorizer.load().colorize("sketch.png", hints="hints.png", candidates=3)

Any input size works: the sketch is scaled down to the model's working size when larger, padded to a
multiple of 32 with paper white, coloured, cropped, scaled back up with a guided upsampling that
follows the original lines, and the original line art is multiplied over the colours so it stays crisp.
"""

from __future__ import annotations

from pathlib import Path


import numpy as np
import torch
import torch.nn.functional as F
import yaml
from PIL import Image

from ..data.hints import hints_from_rgba, resize_hints
from ..data.images import (DEFAULT_MAX_PIXELS, ImageError, composite_on_white, from_float_array, image_to_tensor,
                           load_grey, load_rgba, tensor_to_image)
from ..metrics.ranking import hint_errors
from ..models.registry import CONFIG_FILE, generator_input, load_model
from .hint_fill import HintFill, spread_hints
from .upsample import guided_upsample

BUNDLED = Path(__file__).resolve().parent.parent / "weights" / "demo"
DEFAULT_WORKING_SIZE = 512

ImageLike = str | Path | Image.Image | np.ndarray


def _as_grey(image: ImageLike, max_pixels: int) -> Image.Image:
    if isinstance(image, (str, Path, bytes)):
        return load_grey(image, max_pixels)
    if isinstance(image, np.ndarray):
        if image.dtype == np.uint8:
            image = Image.fromarray(image)
        else:  # floats in [0, 1], or in [0, 255] when any value is above 1
            image = from_float_array(image / 255.0 if image.max() > 1.0 else image)
    return composite_on_white(image).convert("L")


def _as_hints(hints: ImageLike | torch.Tensor, size: tuple[int, int], max_pixels: int) -> tuple[torch.Tensor, bool]:
    """Hints as (4, H, W) at the sketch's size; returns (hints, resized?)."""
    if isinstance(hints, torch.Tensor):
        t = hints
    else:
        if isinstance(hints, (str, Path, bytes)):
            im = load_rgba(hints, max_pixels, require_alpha=True)
        elif isinstance(hints, np.ndarray):
            if hints.ndim != 3 or hints.shape[2] != 4:
                raise ImageError("<hints array>", "hints must be an RGBA array (H, W, 4)")
            im = Image.fromarray(hints.astype(np.uint8), "RGBA")
        else:
            if hints.mode not in ("RGBA", "LA", "PA"):
                raise ImageError("<hints image>", f"hints must be RGBA (alpha > 0 marks a hint), got mode {hints.mode}")
            im = hints.convert("RGBA")
        t = hints_from_rgba(im)
    resized = tuple(t.shape[-2:]) != (size[1], size[0])
    return (resize_hints(t, (size[1], size[0])) if resized else t), resized


class Colorizer:
    """A loaded generator plus the pre/post-processing that makes any sketch size work."""

    def __init__(self, model: torch.nn.Module, device: str | torch.device = "cpu",
                 working_size: int = DEFAULT_WORKING_SIZE, max_pixels: int = DEFAULT_MAX_PIXELS, name: str = "",
                 candidate_order: list[int] | None = None, hint_fill: HintFill = HintFill()):
        self.device = torch.device(device)
        # Without hints, candidates come in this order (e.g. best on average on training data first).
        self.candidate_order = list(candidate_order or range(model.config.candidates))
        self.hint_fill = hint_fill  # how hint colours are spread through their regions (see hint_fill)
        self.model = model.eval().to(self.device)
        self.working_size = working_size
        self.max_pixels = max_pixels
        self.name = name
        self.multiple = model.config.size_multiple

    @classmethod
    def load(cls, name_or_path: str | Path | None = None, device: str = "cpu", **kwargs) -> "Colorizer":
        """The bundled demo model by default, or a model folder / registered name."""
        path = Path(name_or_path) if name_or_path else BUNDLED
        if name_or_path is None and not (path / CONFIG_FILE).is_file():
            raise FileNotFoundError(f"{path}: the bundled demo weights are missing from this install")
        extras = model_extras(path)
        kwargs.setdefault("working_size", extras["working_size"])
        kwargs.setdefault("candidate_order", extras["candidate_order"])
        model, device = cls._load_generator(path, device)
        return cls(model, device, name=str(name_or_path or "demo"), **kwargs)

    @classmethod
    def _load_generator(cls, path: Path, device: str) -> tuple[torch.nn.Module, str]:
        """The one seam a backend overrides: the network behind the Colorizer, and the device it runs on."""
        return load_model(path, map_location=device), device

    @property
    def candidates(self) -> int:
        return self.model.config.candidates

    @property
    def takes_hints(self) -> bool:
        return self.model.config.in_channels == 5

    @torch.inference_mode()
    def colorize(self, image: ImageLike, hints: ImageLike | torch.Tensor | None = None, candidates: int = 1,
                 size: int | None = None, keep_lines: bool = True, fill_hints: bool = True,
                 warnings: list[str] | None = None) -> list[Image.Image]:
        """Colour one sketch; returns `candidates` RGB images at the input's size, best first.

        image: path, PIL image or array (any mode; transparency goes on white). hints: RGBA image
        or path the size of the sketch (other sizes are resized, noted in `warnings` if a list is
        given). With hints, candidates are ordered by how well the network followed the hints, then
        with fill_hints each hint's colour is spread through its region (see hint_fill). Thread-safe.
        """
        if not 1 <= candidates <= self.candidates:
            raise ValueError(f"candidates must be between 1 and {self.candidates}, got {candidates}")
        grey = _as_grey(image, self.max_pixels)
        sketch_full = image_to_tensor(grey, "L")[None]
        hint_full = None
        if hints is not None:
            if not self.takes_hints:
                raise ValueError(f"model {self.name} takes no hints (it has 1 input channel)")
            hint_full, resized = _as_hints(hints, grey.size, self.max_pixels)
            if resized and warnings is not None:
                warnings.append(f"hints resized to the sketch's size {grey.size[0]}x{grey.size[1]}")
            hint_full = hint_full[None]
        colours = self._colour(sketch_full, hint_full, size or self.working_size, candidates, fill_hints)
        if keep_lines:
            colours = colours * sketch_full[0]  # multiply the original lines over the colours
        return [tensor_to_image(c) for c in colours]

    def _colour(self, sketch: torch.Tensor, hints: torch.Tensor | None, working: int,
                candidates: int, fill: bool) -> torch.Tensor:
        """The best `candidates` colourings (candidates, 3, H, W) at the sketch's size, best first."""
        h, w = sketch.shape[-2:]
        scale = min(1.0, working / max(h, w))
        sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
        small = F.interpolate(sketch, size=(sh, sw), mode="area") if scale < 1 else sketch
        small_hints = resize_hints(hints[0], (sh, sw))[None] if hints is not None and scale < 1 else hints
        ph, pw = -sh % self.multiple, -sw % self.multiple
        x = F.pad(small, (0, pw, 0, ph), value=1.0)  # paper white
        hx = F.pad(small_hints, (0, pw, 0, ph)) if small_hints is not None else None
        x = generator_input(x, hx, self.model.config.in_channels).to(self.device)
        out = self.model(x)[0, :, :, :sh, :sw].float().cpu().clamp(0, 1)  # (K, 3, sh, sw)
        order = _rank_by_hints(out, small_hints) if small_hints is not None else self.candidate_order
        out = out[order[:candidates]]
        if small_hints is not None and fill:
            out = spread_hints(out, small[0], small_hints[0], self.hint_fill)
        if scale < 1:
            out = guided_upsample(out, small[0], sketch[0])
        return out


def model_extras(path: Path) -> dict:
    """Inference settings stored beside a model's config: working size and candidate order."""
    extras = {"working_size": DEFAULT_WORKING_SIZE, "candidate_order": None}
    try:
        spec = yaml.safe_load((Path(path) / CONFIG_FILE).read_text())
    except (OSError, yaml.YAMLError):
        return extras
    if isinstance(spec, dict):
        extras["working_size"] = int(spec.get("working_size", DEFAULT_WORKING_SIZE))
        extras["candidate_order"] = spec.get("candidate_order")
    return extras


def _rank_by_hints(colours: torch.Tensor, hints: torch.Tensor) -> list[int]:
    """Candidate indices ordered by mean error at the hinted pixels (best first; model order if no hints)."""
    return hint_errors(colours[None], hints)[0].argsort(stable=True).tolist()



