"""Screenshots of the web page's workspace, empty and in use (docs/images/workspace-*.png), bundled model.

    python scripts/page_screenshot.py --sketch examples/sketches/lucy.png

Starts `swishpaint serve` on a free loopback port and drives Debian's chromium with playwright: the empty
page; then upload, a hint stroke, colourise, bucket fills of the largest enclosed regions, re-roll.
"""

from __future__ import annotations

import argparse
import base64
import io

import cv2
import numpy as np
from PIL import Image
from playwright.sync_api import sync_playwright

from swishpaint.server.launch import running_server

FILLS = ("#e8a0b4", "#6c8fd8", "#f2d16b", "#8cc67a", "#b48ad8")


def deep_points(labels: np.ndarray, count: int) -> list[tuple[int, int]]:
    """(x, y) deepest inside each of the `count` largest regions that do not touch the border."""
    border = set(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]).tolist())
    areas = np.bincount(labels.ravel())
    points = []
    for region in [r for r in np.argsort(-areas) if r not in border][:count]:
        depth = cv2.distanceTransform((labels == region).astype(np.uint8), cv2.DIST_L2, 3)
        y, x = np.unravel_index(int(depth.argmax()), depth.shape)
        points.append((int(x), int(y)))
    return points


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sketch", default="examples/sketches/lucy.png")
    p.add_argument("--out", default="docs/images")
    args = p.parse_args()
    with running_server(timeout=60) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        page.goto(server.url)
        page.wait_for_selector("#model-info:has-text('candidates')")
        page.screenshot(path=f"{args.out}/workspace-empty.png")
        page.set_input_files("#file", args.sketch)
        page.wait_for_selector("#stack:not([hidden])")
        with page.expect_response("**/api/colorize", timeout=300_000) as answer:
            page.click("#run")
        page.wait_for_selector("#status:has-text('Done')", timeout=300_000)
        rgb = np.asarray(Image.open(io.BytesIO(base64.b64decode(answer.value.json()["labels_rgb"].split(",")[1])))
                         .convert("RGB"), np.int64)
        labels = rgb[..., 0] + 256 * rgb[..., 1]
        box = page.locator("#hints").bounding_box()
        height, width = labels.shape
        page.keyboard.press("b")
        for colour, (x, y) in zip(FILLS, deep_points(labels, len(FILLS))):
            page.fill("#color", colour)
            page.mouse.click(box["x"] + (x + 0.5) * box["width"] / width, box["y"] + (y + 0.5) * box["height"] / height)
        page.click("#reroll")
        page.wait_for_selector("#status:has-text('Done')", timeout=300_000)
        page.keyboard.press("b")
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
        page.screenshot(path=f"{args.out}/workspace-in-use.png")
        browser.close()
    print(f"wrote {args.out}/workspace-empty.png and {args.out}/workspace-in-use.png")


if __name__ == "__main__":
    main()
