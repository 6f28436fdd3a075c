"""`swishpaint bench page`: the web page's paint bucket on a 2048² sketch in Chromium (target ≤ 50 ms).

Starts `swishpaint serve` (the bundled model) on a loopback port, opens the page in Debian's chromium
with playwright, colourises an example sketch scaled to 2048² and bucket-fills regions of several sizes
(the largest, usually the paper, and ones at the 90th and 50th percentile of area). Per fill it reports
the page's own handler time (fill, undo record and repaint of the region's box, `data-last-fill-ms`)
and the time from the synthetic click to the next painted frame.
"""

from __future__ import annotations

import base64
import io
import tempfile
from pathlib import Path

import numpy as np

from ..server.launch import running_server

CHROMIUM = "/usr/bin/chromium"
SKETCH = Path(__file__).resolve().parents[3] / "examples" / "sketches" / "lucy.png"  # a source checkout
TARGET_MS = 50

# Click pixel (x, y) of the hints canvas and resolve after the frame that shows the fill is painted.
CLICK_TO_FRAME = """async ([x, y]) => {
  const c = document.getElementById('hints'), r = c.getBoundingClientRect();
  const at = { clientX: r.left + (x + 0.5) * r.width / c.width, clientY: r.top + (y + 0.5) * r.height / c.height,
               button: 0, bubbles: true, pointerId: 1 };
  const t0 = performance.now();
  c.dispatchEvent(new PointerEvent('pointerdown', at));
  c.dispatchEvent(new PointerEvent('pointerup', at));
  await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
  return [Number(document.body.dataset.lastFillMs), performance.now() - t0];
}"""


def _sketch(size: int, folder: Path) -> Path:
    """The example sketch scaled onto a size² white page (synthetic shapes if the checkout lacks it)."""
    from PIL import Image, ImageDraw

    from ..data.images import centred_on_white, fit_within

    page = Image.new("L", (size, size), 255)
    if SKETCH.is_file():
        page = centred_on_white(fit_within(Image.open(SKETCH).convert("L"), size, enlarge=True), size)
    else:
        rng = np.random.default_rng(0)
        draw = ImageDraw.Draw(page)
        for _ in range(60):
            x, y, w, h = (int(v) for v in rng.integers(0, size, 4) // (1, 1, 4, 4))
            draw.ellipse((x, y, x + w + 8, y + h + 8), outline=0, width=max(2, size // 512))
    path = folder / f"sketch{size}.png"
    page.save(path)
    return path


def labels_from(body: dict) -> np.ndarray:
    """The region label map of a /api/colorize answer (its browser-friendly `labels_rgb`), H×W int64."""
    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(base64.b64decode(body["labels_rgb"].split(",", 1)[1]))).convert("RGB"),
                     np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1]


def deepest_point(labels: np.ndarray, region: int) -> tuple[int, int]:
    """(x, y) of the pixel of `region` farthest from its edge: a click there hits the region at any zoom."""
    import cv2

    depth = cv2.distanceTransform((labels == region).astype(np.uint8), cv2.DIST_L2, 3)
    y, x = np.unravel_index(int(depth.argmax()), depth.shape)
    return int(x), int(y)


def inner_regions(labels: np.ndarray, count: int | None = None) -> list[int]:
    """The regions that do not touch the border, largest first (the first `count`)."""
    border = set(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]).tolist())
    return [int(r) for r in np.argsort(-np.bincount(labels.ravel())) if r not in border][:count]


def colourise_page(page, url: str, sketch: Path, candidates: int | None = None, timeout_ms: int = 300_000) -> np.ndarray:
    """Open the page, load `sketch`, colourise; return the region label map the page works on."""
    page.goto(url)
    page.wait_for_selector("#model-info:has-text('candidates')")
    page.set_input_files("#file", str(sketch))
    page.wait_for_selector("#stack:not([hidden])")
    if candidates:
        page.fill("#candidates", str(candidates))
    with page.expect_response("**/api/colorize", timeout=timeout_ms) as answer:
        page.click("#run")
    page.wait_for_selector("#status:has-text('Done')", timeout=timeout_ms)
    return labels_from(answer.value.json())


def bench_page(runs: int, quick: bool) -> dict:
    size = 512 if quick else 2048
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"error": "playwright is not installed"}
    if not Path(CHROMIUM).exists():
        return {"error": f"{CHROMIUM} is missing (Debian's chromium)"}
    from PIL import Image

    with tempfile.TemporaryDirectory() as folder, running_server(timeout=60) as server, sync_playwright() as pw:
        sketch = _sketch(size, Path(folder))
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-background-networking", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        labels = colourise_page(page, server.url, sketch, candidates=1)
        order = np.argsort(-np.bincount(labels.ravel()))
        picks = {"largest": order[0], "p90": order[len(order) // 10], "median": order[len(order) // 2]}
        page.keyboard.press("b")
        cases = {}
        for name, region in picks.items():
            x, y = deepest_point(labels, region)
            times = []
            for i in range(runs + 1):  # the first fill warms the JIT up and is not counted
                page.fill("#color", "#%02x%02x%02x" % (40 + 30 * i % 200, 90, 160))
                times.append(page.evaluate(CLICK_TO_FRAME, [x, y]))
            handler, frame = np.array(times[1:]).T
            cases[name] = {"pixels": int((labels == labels[y, x]).sum()), "handler_ms": float(np.median(handler)),
                           "handler_max_ms": float(handler.max()), "to_frame_ms": float(np.median(frame))}
            print(f"bucket fill {size}², {name} region ({cases[name]['pixels']} px): handler median "
                  f"{cases[name]['handler_ms']:.1f} ms (max {cases[name]['handler_max_ms']:.1f}), click to painted "
                  f"frame {cases[name]['to_frame_ms']:.1f} ms", flush=True)
        version = browser.version
        browser.close()
    return {"size": size, "regions": int(labels.max()) + 1, "chromium": version, "bucket_fill": cases,
            "targets": {"bucket_fill_ms_2048": TARGET_MS}}
