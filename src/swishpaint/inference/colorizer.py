"""Colorizer: the Python API for colouring sketches with a trained model.

    from swishpaint import Colorizer
    images = Colorizer.load().colorize("sketch.png", hints="hints.png", candidates=3)

Any input size works: the sketch is scaled down to the model's working size when larger, padded to a
multiple of 32 with paper white, coloured, cropped, scaled back up with a guided upsampling that
follows the original lines, and the original line art is multiplied over the colours so it stays crisp.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator


import numpy as np
import torch
import torch.nn.functional as F
import yaml
from PIL import Image

from ..data.hints import hint_errors, hints_from_rgba, resize_hints
from ..data.images import DEFAULT_MAX_PIXELS, NotRGBA, load_grey, load_rgba
from ..errors import InvalidArgument
from ..models.registry import CONFIG_FILE, ModelLoadError, generator_input, load_model
from .hint_fill import HintFill, spread_hints
from .upsample import guided_upsample_bands

BUNDLED = Path(__file__).resolve().parent.parent / "weights" / "demo"
DEFAULT_WORKING_SIZE = 512

# The network runs at most at this size (longer side): its activations grow with the square of it.
# Measured peak RSS, CLI, bundled model, 7000x7000 sketch, 9 candidates: 1.2 GB at the default 256,
# 2.2 GB at 1536, 3.4 GB at 2048 - so 1536 keeps the 3 GB budget.
MAX_WORKING_SIZE = 1536

ImageLike = str | Path | Image.Image | np.ndarray


def check_working_size(size: int) -> None:
    """Refuse working sizes whose activations would not fit the memory budget."""
    if not 32 <= size <= MAX_WORKING_SIZE:
        raise InvalidArgument(f"working size {size} is outside 32..{MAX_WORKING_SIZE} "
                              f"(the limit keeps peak memory within 3 GB)")


def _as_grey(image: ImageLike, max_pixels: int) -> Image.Image:
    if isinstance(image, (str, Path, bytes)):
        return load_grey(image, max_pixels)
    if isinstance(image, np.ndarray):
        arr = image
        if arr.dtype != np.uint8:
            arr = np.clip(arr * (255.0 if arr.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
        image = Image.fromarray(arr)
    from ..data.images import composite_on_white

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
                raise NotRGBA("<hints array>", "hints must be an RGBA array (H, W, 4)")
            im = Image.fromarray(hints.astype(np.uint8), "RGBA")
        else:
            if hints.mode not in ("RGBA", "LA", "PA"):
                raise NotRGBA("<hints image>", f"hints must be RGBA (alpha > 0 marks a hint), got mode {hints.mode}")
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
            raise ModelLoadError(f"{path}: the bundled demo weights are missing from this install")
        extras = model_extras(path)
        kwargs.setdefault("working_size", extras["working_size"])
        kwargs.setdefault("candidate_order", extras["candidate_order"])
        return cls(load_model(path, map_location=device), device, name=str(name_or_path or "demo"), **kwargs)

    @property
    def candidates(self) -> int:
        return self.model.config.candidates

    @property
    def takes_hints(self) -> bool:
        return self.model.config.in_channels == 5

    def colorize(self, image: ImageLike, hints: ImageLike | torch.Tensor | None = None, candidates: int = 1,
                 size: int | None = None, keep_lines: bool = True, fill_hints: bool = True,
                 warnings: list[str] | None = None) -> list[Image.Image]:
        """Colour one sketch; returns `candidates` RGB images at the input's size, best first.

        image: path, PIL image or array (any mode; transparency goes on white). hints: RGBA image
        or path the size of the sketch (other sizes are resized, noted in `warnings` if a list is
        given). With hints, candidates are ordered by how well the network followed the hints, then
        with fill_hints each hint's colour is spread through its region (see hint_fill). Thread-safe.
        For large sketches with many candidates prefer colorize_iter, which holds one at a time.
        """
        return list(self.colorize_iter(image, hints, candidates, size, keep_lines, fill_hints, warnings))

    def colorize_iter(self, image: ImageLike, hints: ImageLike | torch.Tensor | None = None, candidates: int = 1,
                      size: int | None = None, keep_lines: bool = True, fill_hints: bool = True,
                      warnings: list[str] | None = None) -> Iterator[Image.Image]:
        """colorize(), one full-size candidate at a time: peak memory is one candidate, not K.

        Arguments are checked and the network runs before the first image is yielded.
        """
        if not 1 <= candidates <= self.candidates:
            raise InvalidArgument(f"candidates must be between 1 and {self.candidates}, got {candidates}")
        if hints is not None and not self.takes_hints:
            raise InvalidArgument(f"model {self.name} takes no hints (it has 1 input channel)")
        if size is not None:
            check_working_size(size)
        with torch.inference_mode():
            grey = _as_grey(image, self.max_pixels)
            sketch = torch.from_numpy(np.asarray(grey, dtype=np.float32) / 255.0)[None]  # (1, H, W)
            del grey
            hint_full = None
            if hints is not None:
                hint_full, resized = _as_hints(hints, (sketch.shape[2], sketch.shape[1]), self.max_pixels)
                if resized and warnings is not None:
                    warnings.append(f"hints resized to the sketch's size {sketch.shape[2]}x{sketch.shape[1]}")
            small_sketch, colours = self._colour(sketch, hint_full, size or self.working_size, candidates,
                                                 fill_hints)
            del hint_full
        return self._full_size(sketch, small_sketch, colours, keep_lines)

    @staticmethod
    def _full_size(sketch: torch.Tensor, small: torch.Tensor, colours: torch.Tensor,
                   keep_lines: bool) -> Iterator[Image.Image]:
        """Each working-size candidate at the sketch's size, built band by band into one 8-bit image."""
        h, w = sketch.shape[-2:]
        for colour in colours:
            with torch.inference_mode():
                pixels = np.empty((h, w, 3), np.uint8)
                bands = guided_upsample_bands(colour, small, sketch) if small.shape != sketch.shape \
                    else [(0, colour)]
                for y0, rows in bands:
                    y1 = y0 + rows.shape[1]
                    if keep_lines:
                        rows = rows * sketch[:, y0:y1]  # multiply the original lines over the colours
                    pixels[y0:y1] = (rows.clamp(0, 1) * 255 + 0.5).byte().permute(1, 2, 0).numpy()
            yield Image.fromarray(pixels, "RGB")

    def _colour(self, sketch: torch.Tensor, hints: torch.Tensor | None, working: int,
                candidates: int, fill: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """(sketch at working size (1, sh, sw), the best `candidates` colourings (candidates, 3, sh, sw))."""
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
        out = out[order[:candidates]]
        if small_hints is not None and fill:
            out = spread_hints(out, small, small_hints[0], self.hint_fill)
        return small, out


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


def _to_image(t: torch.Tensor) -> Image.Image:
    return Image.fromarray((t.clamp(0, 1) * 255 + 0.5).byte().permute(1, 2, 0).numpy(), "RGB")


