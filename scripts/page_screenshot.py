"""Screenshot of the web page in use (docs/images/web-page.png), with the bundled model.

    python scripts/page_screenshot.py --sketch examples/sketches/lucy.png

Starts `swishpaint serve` on a free loopback port, drives Debian's chromium with playwright: upload,
paint two hint strokes, colourise, screenshot.
"""

from __future__ import annotations

import argparse

from playwright.sync_api import sync_playwright

from swishpaint.server.launch import running_server


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sketch", default="examples/sketches/lucy.png")
    p.add_argument("--out", default="docs/images/web-page.png")
    args = p.parse_args()
    with running_server(timeout=20) as server:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(server.url)
            page.set_input_files("#file", args.sketch)
            page.wait_for_selector("#stack:not([hidden])")
            box = page.locator("#hints").bounding_box()
            for colour, (x0, y0, x1, y1) in (("#e04a8a", (0.45, 0.12, 0.55, 0.16)), ("#3a6fd8", (0.4, 0.55, 0.6, 0.6))):
                page.fill("#color", colour)
                page.mouse.move(box["x"] + x0 * box["width"], box["y"] + y0 * box["height"])
                page.mouse.down()
                page.mouse.move(box["x"] + x1 * box["width"], box["y"] + y1 * box["height"], steps=10)
                page.mouse.up()
            page.click("#run")
            page.wait_for_selector("#candidates-list img", timeout=120_000)
            page.screenshot(path=args.out, full_page=True)
            browser.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
