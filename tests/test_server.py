"""Web app: API contract, limits and errors, the bounded queue, and no mixing of concurrent results."""

from __future__ import annotations

import base64
import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from swishpaint.inference.colorizer import Colorizer  # noqa: E402
from swishpaint.models import create_model  # noqa: E402
from swishpaint.server.app import ServerConfig, create_app  # noqa: E402

from .conftest import drawing, sketch_of  # noqa: E402


def png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def decode(data_url: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1])))


@pytest.fixture
def colorizer():
    torch.manual_seed(0)
    return Colorizer(create_model("swish_unet_tiny", in_channels=5, candidates=3), name="tiny")


@pytest.fixture
def client(colorizer):
    return TestClient(create_app(ServerConfig(max_upload_bytes=200_000, max_pixels=300_000), colorizer))


def test_health_models_page_and_openapi(client):
    assert client.get("/api/health").json()["status"] == "ok"
    assert client.get("/api/models").json()["models"][0] == {"name": "tiny", "candidates": 3, "takes_hints": True,
                                                             "working_size": 512}
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text and "cdn" not in page.text.lower()
    assert client.get("/static/app.js").status_code == 200
    assert "/api/colorize" in client.get("/openapi.json").json()["paths"]


def test_colorize_returns_candidates_at_the_sketch_size(client):
    sketch = png(sketch_of(drawing(0, 70)))
    hints = Image.new("RGBA", (70, 70), (0, 0, 0, 0))
    hints.paste((255, 0, 0, 255), (10, 10, 20, 20))
    r = client.post("/api/colorize", files={"sketch": ("s.png", sketch, "image/png"),
                                            "hints": ("h.png", png(hints), "image/png")}, data={"candidates": "3"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["candidates"] == 3 and len(body["images"]) == 3
    assert all(decode(u).size == (70, 70) for u in body["images"])


def test_output_field_and_layers_and_labels(client):
    sketch = Image.new("L", (64, 64), 255)
    ImageDraw.Draw(sketch).rectangle((16, 16, 48, 48), outline=0, width=2)
    hints = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    hints.paste((255, 0, 0, 255), (28, 28, 36, 36))
    files = {"sketch": ("s.png", png(sketch), "image/png"), "hints": ("h.png", png(hints), "image/png")}
    bodies = {o: client.post("/api/colorize", files=files, data={"output": o, "layers": "ora" if o == "flat" else ""})
              .json() for o in ("flat", "network")}
    flat, raw = (np.asarray(decode(bodies[o]["images"][0]).convert("RGB"), np.int16) for o in ("flat", "network"))
    assert np.abs(flat[24, 24] - (255, 0, 0)).max() <= 1  # the hinted region takes the hint's colour
    assert np.abs(flat - raw).mean() > 10  # the untrained network alone is nowhere near red
    assert bodies["flat"]["layered"].startswith("data:image/openraster;base64,")
    labels = np.asarray(decode(bodies["flat"]["labels"]))
    assert labels.shape == (64, 64) and labels[30, 30] != labels[2, 2]
    assert "labels" not in bodies["network"] and "layered" not in bodies["network"]
    assert client.post("/api/colorize", files=files, data={"output": "bogus"}).status_code == 422


@pytest.mark.parametrize("case,status,message", [
    ("big_upload", 413, "upload limit"),
    ("many_pixels", 413, "too large"),
    ("not_image", 415, "not an image"),
    ("zero_candidates", 422, "candidates"),
    ("too_many_candidates", 422, "between 1 and 3"),
    ("rgb_hints", 422, "RGBA"),
])
def test_errors_have_status_and_json_body(client, case, status, message):
    sketch = png(sketch_of(drawing(0, 64)))
    files = {"sketch": ("s.png", sketch, "image/png")}
    data = {"candidates": "1"}
    if case == "big_upload":
        files["sketch"] = ("s.png", np.random.default_rng(0).bytes(250_000), "image/png")
    elif case == "many_pixels":
        files["sketch"] = ("s.png", png(Image.new("L", (1000, 1000), 255)), "image/png")
    elif case == "not_image":
        files["sketch"] = ("s.txt", b"hello world", "text/plain")
    elif case == "zero_candidates":
        data["candidates"] = "0"
    elif case == "too_many_candidates":
        data["candidates"] = "4"
    elif case == "rgb_hints":
        files["hints"] = ("h.png", png(Image.new("RGB", (64, 64), "red")), "image/png")
    r = client.post("/api/colorize", files=files, data=data)
    assert r.status_code == status
    assert message in r.json()["error"]
    assert "Traceback" not in r.text


def test_full_queue_answers_503_and_health_stays_up(colorizer):
    gate = threading.Event()
    slow = colorizer.colorize_regions

    def blocked(*args, **kwargs):
        gate.wait(10)
        return slow(*args, **kwargs)

    colorizer.colorize_regions = blocked
    client = TestClient(create_app(ServerConfig(queue_size=1), colorizer))
    sketch = png(sketch_of(drawing(0, 64)))
    post = lambda: client.post("/api/colorize", files={"sketch": ("s.png", sketch, "image/png")})
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(post)
        deadline = time.time() + 10
        while client.get("/api/health").json()["pending"] < 1 and time.time() < deadline:
            time.sleep(0.02)
        t = time.perf_counter()
        assert client.get("/api/health").status_code == 200  # responsive while the model is busy
        assert time.perf_counter() - t < 2
        second = post()
        assert second.status_code == 503 and second.headers["retry-after"] == "2"
        assert "busy" in second.json()["error"]
        gate.set()
        assert first.result().status_code == 200


def test_concurrent_requests_never_mix_results(colorizer):
    client = TestClient(create_app(ServerConfig(queue_size=16), colorizer))
    sizes = [(64 + 8 * i, 40 + 4 * i) for i in range(8)]

    def run(size):
        im = sketch_of(drawing(size[0], 64)).resize(size)
        r = client.post("/api/colorize", files={"sketch": ("s.png", png(im), "image/png")})
        expected = np.asarray(colorizer.colorize(im)[0])
        return size, r, expected

    with ThreadPoolExecutor(8) as pool:
        for size, r, expected in pool.map(run, sizes):
            assert r.status_code == 200
            got = decode(r.json()["images"][0])
            assert got.size == size
            assert np.array_equal(np.asarray(got.convert("RGB")), expected)
