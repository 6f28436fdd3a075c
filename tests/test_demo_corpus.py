"""The demo corpus builder, end to end on a small .deb made here (no download)."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from swishpaint.data.demo_corpus import Source, build_demo_corpus, judge

from .conftest import drawing

SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200">
<rect width="200" height="200" fill="white"/>
<circle cx="70" cy="80" r="50" fill="#e33" stroke="black" stroke-width="4"/>
<rect x="90" y="90" width="90" height="80" fill="#3a5" stroke="black" stroke-width="4"/>
<polygon points="20,190 60,120 100,190" fill="#36c" stroke="black" stroke-width="4"/>
<ellipse cx="150" cy="40" rx="40" ry="25" fill="#fc2" stroke="black" stroke-width="4"/></svg>"""


def test_filter_rejects_blank_grey_and_flat_images():
    assert judge(Image.new("RGB", (200, 200), "white")) == "near-blank"
    assert judge(Image.new("RGB", (50, 50), "red")) == "tiny"
    grey = Image.fromarray(np.tile(np.linspace(0, 200, 200, dtype=np.uint8), (200, 1))).convert("RGB")
    assert judge(grey) == "not colourful"
    assert judge(Image.new("RGB", (200, 200), (200, 30, 30))) == "one colour"
    assert judge(drawing(0, 200)) is None


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs Debian's dpkg-deb")
def test_build_demo_from_a_local_package(tmp_path):
    root = tmp_path / "pkg"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        "Package: fake-art\nVersion: 1.2-3\nArchitecture: all\nMaintainer: t <t@t>\nDescription: test\n")
    art = root / "usr" / "share" / "fake-art"
    art.mkdir(parents=True)
    for i in range(12):
        drawing(i, 160).save(art / f"pic{i}.png")
    (art / "flat.png").write_bytes(b"")  # broken file: rejected, counted
    Image.new("RGB", (160, 160), "white").save(art / "blank.png")
    (art / "vector.svg").write_text(SVG)
    cache = tmp_path / "cache"
    cache.mkdir()
    subprocess.run(["dpkg-deb", "--build", str(root), str(cache / "fake-art_1.2-3_all.deb")],
                   check=True, capture_output=True)
    source = Source("fake-art", "public domain", ("*/fake-art/*.png", "*/fake-art/*.svg"))
    out = tmp_path / "corpus"
    m = build_demo_corpus(out, cache, max_side=128, workers=1, sources=(source,))
    stats = m["sources"]["fake-art"]
    assert stats["version"] == "1.2-3" and stats["candidates"] == 15
    assert stats["rejected"] == {"empty file": 1, "near-blank": 1}
    assert m["counts"]["train"] + m["counts"]["val"] == 13
    saved = sorted((out / "train").glob("*.png")) + sorted((out / "val").glob("*.png"))
    assert len(saved) == 13 and all(max(Image.open(p).size) <= 128 for p in saved)
    assert json.loads((out / "manifest.json").read_text())["counts"] == m["counts"]
