"""Web app: API contract, limits and errors, the bounded queue, and no mixing of concurrent results."""

from __future__ import annotations

import base64
import io
import socket
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from swishpaint.data.images import OUTPUT_KEY, RESULT  # noqa: E402
from swishpaint.inference.colorizer import Colorizer  # noqa: E402
from swishpaint.models.registry import ModelLoadError  # noqa: E402
from swishpaint.server.app import ServerConfig, create_app  # noqa: E402

from .conftest import TINY_CANDIDATES, drawing, free_port, sketch_of  # noqa: E402


def png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def decode(data_url: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1])))


@pytest.fixture
def colorizer(tiny_model):
    return Colorizer(tiny_model, name="tiny")


@pytest.fixture
def client(colorizer):
    return TestClient(create_app(ServerConfig(max_upload_bytes=200_000, max_pixels=300_000), colorizer))


def test_health_models_page_and_openapi(client):
    assert client.get("/api/health").json()["status"] == "ok"
    assert client.get("/api/models").json()["models"][0] == {"name": "tiny", "candidates": TINY_CANDIDATES, "takes_hints": True,
                                                             "working_size": 512}
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text and "cdn" not in page.text.lower()
    assert client.get("/static/app.js").status_code == 200
    assert "/api/colorize" in client.get("/openapi.json").json()["paths"]
    docs = client.get("/docs")  # a local page, not FastAPI's Swagger UI from a CDN
    assert docs.status_code == 200 and "openapi.json" in docs.text and "cdn" not in docs.text.lower()
    assert client.get("/redoc").status_code == 404


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
    assert all(decode(u).info.get(OUTPUT_KEY) == RESULT for u in body["images"])  # marked as the CLI's files


def box_with_hint(colour: tuple[int, int, int]) -> tuple[Image.Image, dict]:
    """A 64² sketch of one box and the upload of it with a dab of `colour` inside the box."""
    sketch = Image.new("L", (64, 64), 255)
    ImageDraw.Draw(sketch).rectangle((16, 16, 48, 48), outline=0, width=2)
    hints = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    hints.paste((*colour, 255), (28, 28, 36, 36))
    return sketch, {"sketch": ("s.png", png(sketch), "image/png"), "hints": ("h.png", png(hints), "image/png")}


def test_output_field_and_layers_and_labels(client):
    sketch, files = box_with_hint((255, 0, 0))
    bodies = {o: client.post("/api/colorize", files=files, data={"output": o, "layers": "ora" if o == "flat" else ""})
              .json() for o in ("flat", "network")}
    flat, raw = (np.asarray(decode(bodies[o]["images"][0]).convert("RGB"), np.int16) for o in ("flat", "network"))
    assert np.abs(flat[24, 24] - (255, 0, 0)).max() <= 1  # the hinted region takes the hint's colour
    assert np.abs(flat - raw).mean() > 10  # the untrained network alone is nowhere near red
    assert bodies["flat"]["layered"].startswith("data:image/openraster;base64,")
    labels = np.asarray(decode(bodies["flat"]["labels"]))
    assert labels.shape == (64, 64) and labels[30, 30] != labels[2, 2]
    assert "labels" not in bodies["network"] and "layered" not in bodies["network"]
    rgb = np.asarray(decode(bodies["flat"]["labels_rgb"]).convert("RGB"), np.int32)  # what the page reads
    np.testing.assert_array_equal(rgb[..., 0] + 256 * rgb[..., 1], labels)
    assert client.post("/api/colorize", files=files, data={"output": "bogus"}).status_code == 422


def test_a_line_threshold_field_decides_the_regions_and_a_bad_one_is_a_422(client):
    from .test_regions import faint_split

    files = {"sketch": ("faint.png", png(Image.fromarray(faint_split())), "image/png")}
    for data, regions in (({}, 2), ({"line_threshold": "0.08"}, 3)):
        r = client.post("/api/colorize", files=files, data=data)
        assert r.status_code == 200, r.text
        assert len(np.unique(np.asarray(decode(r.json()["labels"])))) == regions
    for bad in ("1.5", "0", "nan", "dark"):
        r = client.post("/api/colorize", files=files, data={"line_threshold": bad})
        assert r.status_code == 422 and "error" in r.json(), (bad, r.text)
    r = client.post("/api/colorize-sequence", files=[("key", files["sketch"]), ("frames", files["sketch"])],
                    data={"line_threshold": "2"})
    assert r.status_code == 422 and "line threshold" in r.json()["error"]
    r = client.post("/api/colorize", files=files, data={"line_threshold": "0.08", "output": "network"})
    assert r.status_code == 422 and "line_threshold sets how regions are found" in r.json()["error"]
    assert client.get("/api/health").json()["status"] == "ok"


def test_a_server_started_with_a_line_threshold_keeps_it_unless_a_request_sets_one(tiny_model):
    from .test_regions import faint_split

    preset = TestClient(create_app(ServerConfig(), Colorizer(tiny_model, name="tiny", line_threshold=0.08)))
    files = {"sketch": ("faint.png", png(Image.fromarray(faint_split())), "image/png")}
    for data, regions in (({}, 3), ({"line_threshold": "0.5"}, 2)):
        labels = np.asarray(decode(preset.post("/api/colorize", files=files, data=data).json()["labels"]))
        assert len(np.unique(labels)) == regions


def test_the_layered_file_of_what_is_shown_holds_those_flats_and_shading_under_the_lines(client):
    """/api/layered colours nothing: the page's flats (fills included) and shading, the sketch's own lines."""
    sketch = sketch_of(drawing(2, 48))
    rng = np.random.default_rng(0)
    flats = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
    shading = rng.integers(128, 256, (48, 48), dtype=np.uint8)
    files = {"sketch": ("s.png", png(sketch), "image/png"), "flats": ("f.png", png(Image.fromarray(flats)), "image/png"),
             "shading": ("h.png", png(Image.fromarray(shading)), "image/png")}
    body = client.post("/api/layered", files=files, data={"format": "ora"}).json()
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(body["layered"].split(",", 1)[1]))) as ora:
        layer = {n: np.asarray(Image.open(ora.open(f"data/{n}.png")).convert("RGB")) for n in ("flats", "shading")}
        merged = np.asarray(Image.open(ora.open("mergedimage.png")).convert("RGB")).astype(float)
    np.testing.assert_array_equal(layer["flats"], flats)
    np.testing.assert_array_equal(layer["shading"][..., 0], shading)
    lines = np.asarray(sketch.convert("L"), float)[..., None] / 255
    expected = flats / 255 * (shading[..., None] / 255) * lines * 255
    assert np.abs(merged - expected).max() <= 1.5
    files["flats"] = ("f.png", png(Image.fromarray(flats[:40])), "image/png")
    answer = client.post("/api/layered", files=files, data={"format": "psd"})
    assert answer.status_code == 422 and answer.json()["error"] == "flats are 48x40, the sketch 48x48: they must match"
    assert client.post("/api/layered", files=files, data={"format": "tiff"}).status_code == 422


def test_the_layered_file_takes_three_full_uploads_and_names_a_bad_sketch(client):
    """Each part may be as large as one upload (the page sends a large sketch's full-size flats and
    shading); a sketch that is no image is named as the other uploads are."""
    rng = np.random.default_rng(1)
    noise = [png(Image.fromarray(rng.integers(0, 256, (250, 250, 3), dtype=np.uint8))) for _ in range(3)]
    assert all(150_000 < len(b) < 200_000 for b in noise)  # each within the test server's 200 kB
    files = {"sketch": ("s.png", noise[0], "image/png"), "flats": ("f.png", noise[1], "image/png"),
             "shading": ("h.png", noise[2], "image/png")}
    assert client.post("/api/layered", files=files, data={"format": "ora"}).status_code == 200
    files["sketch"] = ("my-sketch.png", b"not an image", "image/png")
    answer = client.post("/api/layered", files=files, data={"format": "ora"})
    assert answer.status_code == 415 and answer.json()["error"].startswith("my-sketch.png: ")


def test_a_sketch_too_large_for_a_psd_is_a_422_naming_ora_and_the_server_goes_on(client):
    tall = np.full((30001, 8), 255, np.uint8)  # 240,030 pixels: inside the test server's limit
    tall[:, 3:5] = 0
    files = {"sketch": ("tall.png", png(Image.fromarray(tall)), "image/png")}
    answer = client.post("/api/colorize", files=files, data={"layers": "psd"})
    assert answer.status_code == 422 and "too large for a PSD" in answer.json()["error"]
    assert client.post("/api/colorize", files=files, data={"layers": "ora"}).status_code == 200


def test_colour_trace_lines_keep_their_colour_in_the_answer_and_the_layered_file(client, colorizer):
    from .test_layered import colour_line_sketch

    files = {"sketch": ("page.png", png(colour_line_sketch()), "image/png")}
    body = client.post("/api/colorize", files=files, data={"layers": "ora", "parts": "true"}).json()
    image = np.asarray(decode(body["images"][0]).convert("RGB")).astype(int)
    expected = colorizer.colorize_regions(colour_line_sketch()).image(0)  # what the CLI and the API write
    assert np.abs(image - expected).max() <= 1
    red, blue = image[18:20, 12:50].reshape(-1, 3), image[42:44, 12:50].reshape(-1, 3)
    assert (red[:, 0] > red[:, 1:].max(1)).all() and (blue[:, 2] > blue[:, :2].max(1)).all()  # not grey
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(body["layered"].split(",", 1)[1]))) as ora:
        lines = np.asarray(Image.open(ora.open("data/lines.png")).convert("RGBA")).astype(int)
    alone = 255 * (1 - lines[..., 3:] / 255) + lines[..., :3] * lines[..., 3:] / 255  # the layer over white
    assert np.abs(alone[18:20, 12:50] - [220, 20, 20]).max() <= 3


def test_parts_and_start_give_the_page_each_candidates_flats_shading_and_palette(client):
    sketch, files = box_with_hint((0, 128, 255))
    every = client.post("/api/colorize", files=files, data={"candidates": "3", "parts": "true"}).json()
    assert len(every["flats"]) == len(every["shading"]) == len(every["palettes"]) == 3
    flats = np.asarray(decode(every["flats"][1]).convert("RGB"))
    shading = np.asarray(decode(every["shading"][1]))
    assert shading.ndim == 2 and flats.shape == (64, 64, 3)
    assert tuple(flats[30, 30]) == (0, 128, 255) and "#0080ff" in every["palettes"][1]
    final = flats * (shading[..., None] / 255) * (np.asarray(sketch)[..., None] / 255)  # the page's composite
    assert np.abs(final - np.asarray(decode(every["images"][1]).convert("RGB"))).max() <= 2
    second = client.post("/api/colorize", files=files, data={"start": "1", "parts": "true"}).json()
    assert second["start"] == 1 and second["images"] == every["images"][1:2] and second["flats"] == every["flats"][1:2]
    over = client.post("/api/colorize", files=files, data={"start": "2", "candidates": "2"})
    assert over.status_code == 422
    assert over.json()["error"] == f"start 2 + candidates 2 exceeds the model's {TINY_CANDIDATES} candidates"
    schema = client.get("/openapi.json").text
    assert f"this model makes {TINY_CANDIDATES}" in schema  # the schema's generic limit is not taken for the model's


def test_server_refuses_an_untrained_architecture_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelLoadError, match="^swish_unet_tiny: an untrained architecture, not a trained model"):
        create_app(ServerConfig(model="swish_unet_tiny"))


@pytest.mark.parametrize("case,status,message", [
    ("big_upload", 413, "upload limit"),
    ("many_pixels", 413, "too large"),
    ("not_image", 415, "not an image"),
    ("zero_candidates", 422, "candidates"),
    ("too_many_candidates", 422, f"between 1 and {TINY_CANDIDATES}"),
    ("rgb_hints", 422, "RGBA"),
    ("opaque_hints", 422, "h.png: the hints have no transparent pixel"),
    ("bad_layers", 422, "layers takes psd or ora, got 'tif'"),
    ("layers_of_network", 422, "layers needs region output"),
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
        data["candidates"] = str(TINY_CANDIDATES + 1)
    elif case == "rgb_hints":
        files["hints"] = ("h.png", png(Image.new("RGB", (64, 64), "red")), "image/png")
    elif case == "opaque_hints":
        files["hints"] = ("h.png", png(Image.new("RGBA", (64, 64), (255, 0, 0, 255))), "image/png")
    elif case == "bad_layers":
        data["layers"] = "tif"
    elif case == "layers_of_network":
        data.update(layers="psd", output="network")
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


def test_status_follows_the_error_type_not_its_text():
    from swishpaint.data.images import ImageError, ImageTooLarge, NotRGBA
    from swishpaint.errors import InvalidArgument
    from swishpaint.server.app import ApiError, status_of

    assert status_of(ImageTooLarge("s.png", "over the limit")) == 413
    assert status_of(NotRGBA("h.png", "too large RGBA")) == 422  # the words in the text do not matter
    assert status_of(ImageError("s.png", "too large")) == 415
    assert status_of(InvalidArgument("candidates")) == 422
    assert status_of(ApiError(503, "busy")) == 503


def test_chunked_upload_is_cut_off_at_the_cap_while_it_streams(colorizer):
    """No Content-Length: the body is counted as it arrives and reading stops at the cap."""
    import asyncio

    app = create_app(ServerConfig(max_upload_bytes=100_000), colorizer)
    cap = 3 * 100_000 + 65536  # three uploads (/api/layered) and the form
    chunk = b"x" * 65536
    pulled, sent = [0], []
    boundary = b"b0undary"

    async def receive():
        pulled[0] += 1
        if pulled[0] == 1:
            body = b"--" + boundary + b'\r\nContent-Disposition: form-data; name="sketch"; filename="s.png"\r\n\r\n'
            return {"type": "http.request", "body": body, "more_body": True}
        if pulled[0] > 5000:  # 300 MB: the whole body; never reached
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/api/colorize", "raw_path": b"/api/colorize", "query_string": b"",
             "root_path": "", "server": ("test", 80), "client": ("test", 1),
             "headers": [(b"host", b"test"), (b"transfer-encoding", b"chunked"),
                         (b"content-type", b"multipart/form-data; boundary=" + boundary)]}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert start["status"] == 413 and "upload too large" in body.decode()
    assert (pulled[0] - 1) * len(chunk) <= cap + len(chunk)  # read up to the cap, not the 300 MB


def test_404_405_and_malformed_multipart_answer_in_the_error_shape(client):
    for r, status in ((client.get("/api/nothing"), 404), (client.get("/api/colorize"), 405),
                      (client.post("/api/colorize", content=b"--x\r\nbroken",
                                   headers={"content-type": "multipart/form-data; boundary=x"}), 422),
                      (client.post("/api/colorize", content=b"not a form",
                                   headers={"content-type": "multipart/form-data"}), 400)):
        assert r.status_code == status, (r.status_code, r.text)
        assert set(r.json()) == {"error"} and r.json()["error"]


@pytest.mark.parametrize("slow_part", ["decode", "encode"])
def test_health_answers_within_a_second_during_slow_decoding_and_encoding(colorizer, monkeypatch, slow_part):
    import swishpaint.server.app as app_module

    started = threading.Event()
    name = {"decode": "open_image", "encode": "_png_data_url"}[slow_part]
    real = getattr(app_module, name)

    def slow(*args, **kwargs):  # CPU-bound work that holds its thread, as a 4096² decode or encode does
        started.set()
        time.sleep(2.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(app_module, name, slow)
    client = TestClient(create_app(ServerConfig(), colorizer))
    sketch = png(sketch_of(drawing(0, 64)))
    with ThreadPoolExecutor(1) as pool:
        big = pool.submit(client.post, "/api/colorize", files={"sketch": ("s.png", sketch, "image/png")})
        assert started.wait(10)
        t = time.perf_counter()
        assert client.get("/api/health").status_code == 200
        assert time.perf_counter() - t < 1.0
        assert big.result().status_code == 200


def test_a_request_holds_its_queue_slot_while_it_decodes(colorizer, monkeypatch):
    import swishpaint.server.app as app_module

    gate, started, real = threading.Event(), threading.Event(), app_module.open_image

    def held(*args, **kwargs):  # a large upload still decoding
        started.set()
        gate.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(app_module, "open_image", held)
    client = TestClient(create_app(ServerConfig(queue_size=1), colorizer))
    sketch = png(sketch_of(drawing(0, 64)))
    post = lambda: client.post("/api/colorize", files={"sketch": ("s.png", sketch, "image/png")})  # noqa: E731
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(post)
        assert started.wait(10)
        assert client.get("/api/health").json()["pending"] == 1
        assert post().status_code == 503  # decoding counts against the queue: no unbounded decodes
        gate.set()
        assert first.result().status_code == 200
    assert client.get("/api/health").json()["pending"] == 0


def test_a_sequence_request_past_its_pixel_budget_is_refused(colorizer):
    from .test_sequence import SIZE

    client = TestClient(create_app(ServerConfig(max_sequence_pixels=2 * SIZE * SIZE), colorizer))
    files, _ = cut_upload()  # three frames of SIZE²
    r = client.post("/api/colorize-sequence", files=files)
    assert r.status_code == 413 and "at frame 3" in r.json()["error"] and "smaller parts" in r.json()["error"]
    assert client.post("/api/colorize-sequence", files=files[:3]).status_code == 200
    assert client.get("/api/health").json()["pending"] == 0


def cut_upload(key_sketch: bool = False) -> tuple[list, list[float]]:
    """A coloured keyframe of the walking character of test_sequence and three later frames' line art,
    as the multipart files of /api/colorize-sequence, with the frames' times."""
    from .test_sequence import pose

    times = [0.5, 1.0, 1.5]
    key_colour, key_lines = pose(0)
    files = [("key", ("key.png", png(Image.fromarray((key_colour * 255).astype(np.uint8))), "image/png"))]
    if key_sketch:
        files.append(("key_sketch", ("key_lines.png", png(Image.fromarray((key_lines * 255).astype(np.uint8))),
                                     "image/png")))
    for i, t in enumerate(times):
        files.append(("frames", (f"f{i}.png", png(Image.fromarray((pose(t)[1] * 255).astype(np.uint8))), "image/png")))
    return files, times


@pytest.mark.parametrize("key_sketch", [False, True])
def test_sequence_frames_keep_the_keys_colours(client, key_sketch):
    from .test_sequence import PARTS, SIZE

    files, times = cut_upload(key_sketch)
    r = client.post("/api/colorize-sequence", files=files)
    assert r.status_code == 200, r.text
    frames = r.json()["frames"]
    assert len(frames) == len(times)
    for t, answer in zip(times, frames):
        image = np.asarray(decode(answer["image"]).convert("RGB")).astype(int)
        assert image.shape == (SIZE, SIZE, 3) and (answer["width"], answer["height"]) == (SIZE, SIZE)
        walk = int(round(14 * t))
        head, body = PARTS[0], PARTS[2]
        for (x, y), rgb in (((head[1][0] - 20 + walk, head[1][1]), head[3]), ((body[1][0] + walk, body[1][1]), body[3])):
            assert np.abs(image[y, x] - rgb).max() <= 8, (t, (x, y), image[y, x], rgb)
        if key_sketch:  # the key's own lines: every region of the character is in the key
            assert answer["unmatched"] == []
        assert all(0 <= x < SIZE and 0 <= y < SIZE for x, y in answer["unmatched"])


def test_a_keyframe_without_colour_is_coloured_and_noted(client):
    from swishpaint.inference.sequence import GREY_KEY

    files, _ = cut_upload()
    files[0] = ("key", ("key.png", files[1][1][1], "image/png"))  # the first frame's line art as the key
    r = client.post("/api/colorize-sequence", files=files)
    assert r.status_code == 200, r.text
    assert r.json()["warnings"] == [f"key: {GREY_KEY}"]
    assert client.post("/api/colorize-sequence", files=cut_upload()[0]).json()["warnings"] == []


def test_sequence_errors_answer_in_the_error_shape(client):
    files, _ = cut_upload()
    files[2] = ("frames", ("f1.png", b"not an image", "image/png"))
    r = client.post("/api/colorize-sequence", files=files)
    assert r.status_code == 415 and set(r.json()) == {"error"} and "f1.png" in r.json()["error"]
    r = client.post("/api/colorize-sequence", files=files[:1])  # a key and no frames
    assert r.status_code == 422 and set(r.json()) == {"error"} and "frames" in r.json()["error"]


def serve_error(capsys, *args: str) -> str:
    """`swishpaint serve ARGS` that must fail at once: exit 2 and its one stderr line, no traceback."""
    from swishpaint.cli import main

    assert main(["serve", *args]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err.strip()


@pytest.mark.parametrize("port", ["99999", "0", "-1"])
def test_serve_refuses_a_port_out_of_range_in_one_line(capsys, port):
    assert serve_error(capsys, "--port", port) == f"swishpaint: error: --port {port}: not a port number (1 to 65535)"


def test_serve_on_a_busy_port_is_one_line_before_the_model_loads(capsys, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # a model that does not exist: the port check must come first
        err = serve_error(capsys, "--port", str(port), "--model", str(tmp_path / "no-model"))
    assert err == f"swishpaint: error: --port {port}: address already in use"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_serve_on_a_missing_accelerator_is_one_line(capsys):
    err = serve_error(capsys, "--port", str(free_port()), "--device", "cuda")
    assert err == "swishpaint: error: --device cuda: CUDA is not available on this machine"
