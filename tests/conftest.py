"""Shared fixtures: synthetic drawings and small datasets in every supported layout (no network)."""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from swishpaint.data.lines import extract_lines
from swishpaint.models import create_model, save_model
from swishpaint.server.launch import free_port  # noqa: F401  (tests import it from here)


def drawing(seed: int, size: int = 64) -> Image.Image:
    """A cartoon-like colour image: filled shapes with black outlines on white."""
    rng = np.random.default_rng(seed)
    im = Image.new("RGB", (size, size), "white")
    d = ImageDraw.Draw(im)
    for _ in range(4):
        x0, y0 = rng.integers(0, size // 2, 2)
        x1, y1 = x0 + rng.integers(size // 4, size // 2), y0 + rng.integers(size // 4, size // 2)
        fill = tuple(int(v) for v in rng.integers(40, 255, 3))
        shape = d.ellipse if rng.random() < 0.5 else d.rectangle
        shape([int(x0), int(y0), int(x1), int(y1)], fill=fill, outline="black", width=2)
    return im


def sketch_of(im: Image.Image) -> Image.Image:
    return Image.fromarray((extract_lines(im, "xdog") * 255).byte().numpy(), "L")


TINY_CANDIDATES = 3


def png_declaring(width: int, height: int) -> bytes:
    """A greyscale PNG whose header declares width x height and which holds no pixels (a decompression bomb)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b""))


def make_tiny_model() -> torch.nn.Module:
    """The one model of the inference, server, browser and evaluation tests: a seeded tiny SwishU-net that
    takes hints (5 input channels) and makes TINY_CANDIDATES candidates, built in milliseconds."""
    torch.manual_seed(0)
    return create_model("swish_unet_tiny", in_channels=5, candidates=TINY_CANDIDATES)


@pytest.fixture(autouse=True, scope="session")
def _ctrl_c_delivered_as_in_a_terminal():
    """A suite started in the background of a non-interactive shell inherits SIGINT ignored, and so do
    the commands it starts: the Ctrl-C tests need it delivered, as in a terminal, however pytest began."""
    before = signal.getsignal(signal.SIGINT)
    if before is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


@pytest.fixture
def tiny_model() -> torch.nn.Module:
    return make_tiny_model()


@pytest.fixture
def model_dir(tiny_model, tmp_path: Path) -> Path:
    """tiny_model saved as a model folder (model.safetensors + model.yaml), as `--model` takes it."""
    return save_model(tiny_model, tmp_path / "model")


@pytest.fixture
def kaggle_dir(tmp_path: Path) -> Path:
    for split, n in (("train", 6), ("val", 2)):
        (tmp_path / split).mkdir()
        for i in range(n):
            color = drawing(i + (100 if split == "val" else 0))
            pair = Image.new("RGB", (128, 64), "white")
            pair.paste(color, (0, 0))
            pair.paste(sketch_of(color).convert("RGB"), (64, 0))
            pair.save(tmp_path / split / f"{i}.png")
    return tmp_path


@pytest.fixture
def paired_dir(tmp_path: Path) -> Path:
    (tmp_path / "sketch").mkdir()
    (tmp_path / "color").mkdir()
    for i in range(8):
        color = drawing(i)
        color.save(tmp_path / "color" / f"img{i}.png")
        sketch_of(color).save(tmp_path / "sketch" / f"img{i}.jpg")
    return tmp_path


@pytest.fixture
def color_dir(tmp_path: Path) -> Path:
    """Colour-only images, plus a corrupt, a truncated, an empty and a non-image file."""
    for split, n in (("train", 8), ("val", 3)):
        (tmp_path / split).mkdir()
        for i in range(n):
            drawing(i + (100 if split == "val" else 0)).save(tmp_path / split / f"img{i}.png")
    (tmp_path / "train" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    good = (tmp_path / "train" / "img0.png").read_bytes()
    (tmp_path / "train" / "truncated.png").write_bytes(good[: len(good) // 2])
    (tmp_path / "train" / "empty.png").write_bytes(b"")
    (tmp_path / "train" / "notes.webp").write_text("hello")
    return tmp_path
