"""The root of swishpaint's user-facing errors.

Every error a user can cause and fix (a bad file, a bad setting, an unusable output folder) derives
from SwishpaintError, so the CLI prints it as one line and the server answers it as {"error": ...}
by type, never by the text of the message. Anything else is a bug and keeps its traceback.
Subclasses live beside the code that raises them (ImageError in data/images, ConfigError in
configs, ModelLoadError in models/registry, CheckpointError in training/checkpoints, ...).
"""

from __future__ import annotations


class SwishpaintError(Exception):
    """A user-facing error: the message names the file or value and what is wrong with it."""


class InvalidArgument(SwishpaintError, ValueError):
    """A parameter is out of range for this model or call (e.g. too many candidates, hints for a
    model without hint input)."""


class OutputError(SwishpaintError):
    """An output cannot be written: the folder is a file, read-only, or the disk is full."""


def os_reason(e: OSError) -> str:
    """An OSError as a short reason, without the file name the caller already prints."""
    return e.strerror or str(e)


class MissingExtra(SwishpaintError):
    """An optional dependency is not installed: the message names the extra that brings it."""

    def __init__(self, what: str, extra: str, module: str | None):
        missing = f" ({module} is missing)" if module else ""
        super().__init__(f"{what} needs its extra: pip install 'swishpaint[{extra}]'{missing}")


def require_extra(what: str, extra: str, *modules: str) -> None:
    """Import `modules` now, so that a missing optional dependency is one line, not a traceback from deep
    inside the code that needed it."""
    import importlib

    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise MissingExtra(what, extra, e.name or module) from None
