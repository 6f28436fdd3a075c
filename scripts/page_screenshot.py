"""Screenshots of the web page's workspace, empty and in use (docs/images/workspace-*.png), bundled model.

    python scripts/page_screenshot.py --sketch examples/sketches/lucy.png

Starts `swishpaint serve` on a free loopback port and drives Debian's chromium with playwright: the empty
page; then upload, a hint stroke, colourise, bucket fills of the largest enclosed regions, re-roll.
"""

from __future__ import annotations

import argparse

from playwright.sync_api import sync_playwright

from swishpaint.experiments.page_bench import colourise_page, deepest_point, inner_regions
from swishpaint.server.launch import running_server

FILLS = ("#e8a0b4", "#6c8fd8", "#f2d16b", "#8cc67a", "#b48ad8")


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
        labels = colourise_page(page, server.url, args.sketch)
        box = page.locator("#hints").bounding_box()
        height, width = labels.shape
        page.keyboard.press("b")
        for colour, region in zip(FILLS, inner_regions(labels, len(FILLS))):
            x, y = deepest_point(labels, region)
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
