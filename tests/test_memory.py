"""Large sketches stay within 3 GB: candidates are streamed one at a time and upsampled in row bands.

The unit tests check the streaming and banding at small size; the slow test measures the CLI's peak
memory on a 7000x7000 sketch with 9 candidates in a fresh process.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from swishpaint.errors import InvalidArgument
from swishpaint.inference import upsample
from swishpaint.inference.colorizer import MAX_WORKING_SIZE, Colorizer
from swishpaint.inference.upsample import bilinear_rows, guided_coefficients, guided_upsample

ROOT = Path(__file__).resolve().parent.parent


def test_bilinear_rows_equal_full_interpolation_for_any_band():
    x = torch.rand(1, 3, 23, 31)
    for size in ((200, 150), (23, 31), (40, 90)):
        full = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        for band in (1, 7, 64):
            rows = torch.cat([bilinear_rows(x, size, y, min(size[0], y + band)) for y in range(0, size[0], band)], -2)
            assert (rows - full).abs().max() < 1e-5


def test_banded_guided_upsampling_equals_the_whole_image_at_once(monkeypatch):
    colours, small, full = torch.rand(2, 3, 16, 20), torch.rand(1, 16, 20), torch.rand(1, 97, 121)
    a, b = guided_coefficients(colours[1], small)
    size = full.shape[-2:]
    whole = (F.interpolate(a, size=size, mode="bilinear") * full[None] + F.interpolate(b, size=size, mode="bilinear"))
    monkeypatch.setattr(upsample, "BAND_ROWS", 10)
    banded = guided_upsample(colours, small, full)
    assert (banded[1] - whole[0].clamp(0, 1)).abs().max() < 1e-5


def test_candidates_stream_one_at_a_time(tiny_model):
    c = Colorizer(tiny_model, working_size=32)
    sketch = np.full((150, 100), 255, np.uint8)
    sketch[40:44, :] = 0
    stream = c.colorize_iter(sketch, candidates=3)
    first = next(stream)  # the network has run; one full-size image exists
    assert first.size == (100, 150)
    rest = list(stream)
    assert [np.asarray(im).tobytes() for im in [first, *rest]] == \
        [np.asarray(im).tobytes() for im in c.colorize(sketch, candidates=3)]
    with pytest.raises(InvalidArgument, match=f"outside 32..{MAX_WORKING_SIZE}"):
        c.colorize_iter(sketch, size=MAX_WORKING_SIZE + 1)  # refused before any work


@pytest.mark.slow
def test_7000_sketch_with_9_candidates_within_3_gb(tmp_path):
    """The CLI in a fresh process (peak RSS of the child), the bundled model, all 9 candidates written."""
    big = np.full((7000, 7000), 255, np.uint8)
    yy, xx = np.ogrid[0:7000, 0:7000]
    big[np.abs(np.hypot(yy - 3500, xx - 3500) - 2000) < 8] = 0
    big[:, 3495:3505] = 0
    Image.fromarray(big).save(tmp_path / "big.png", compress_level=1)
    del big, yy, xx
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}
    cli = [sys.executable, "-m", "swishpaint", "colorize", str(tmp_path / "big.png"), "-o", str(tmp_path / "out"),
           "-k", "9"]
    # a fresh parent whose only child is the CLI, so RUSAGE_CHILDREN is that child's peak
    probe = ("import resource, subprocess, sys\n"
             f"r = subprocess.run({cli!r}, stdout=subprocess.DEVNULL)\n"
             "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)\n")
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    rc, peak_mb = run.stdout.split()[-2:]
    assert rc == "0", run.stderr
    peak_mb = float(peak_mb)
    print(f"peak RSS {peak_mb:.0f} MB")
    assert peak_mb < 3072, f"peak memory {peak_mb:.0f} MB"
    assert all(Image.open(tmp_path / "out" / f"big_c{i}.png").size == (7000, 7000) for i in range(1, 10))
