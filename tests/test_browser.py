"""A real browser on the page: upload a sketch, paint a hint stroke, colourise, see the result.

Debian's chromium driven by the playwright package (no browser download); .ci/run installs chromium.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from swishpaint.server.launch import running_server

from .conftest import drawing, sketch_of

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def server(model_dir):
    pytest.importorskip("fastapi")
    with running_server("--model", str(model_dir), env={"PYTHONPATH": str(ROOT / "src")}) as running:
        yield running.url


@pytest.fixture()
def browser_page():
    """A Chromium page with no network but the local server (the Debian chromium .ci/run installs)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (.ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        yield browser.new_page(viewport={"width": 1200, "height": 800})
        browser.close()


def test_page_upload_paint_and_colourise(server, browser_page, tmp_path):
    sketch = tmp_path / "sketch.png"
    sketch_of(drawing(3, 160)).save(sketch)
    page = browser_page
    page.goto(server)
    page.wait_for_selector("#model-info:has-text('candidates')")
    page.set_input_files("#file", str(sketch))
    page.wait_for_selector("#stack:not([hidden])")
    box = page.locator("#hints").bounding_box()
    page.mouse.move(box["x"] + 30, box["y"] + 30)
    page.mouse.down()
    page.mouse.move(box["x"] + 120, box["y"] + 90, steps=8)
    page.mouse.up()
    painted = page.evaluate("""() => {
        const c = document.getElementById('hints');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""")
    assert painted > 50
    page.click("#run")
    page.wait_for_selector("#candidates-list img", timeout=60_000)
    assert page.locator("#candidates-list img").count() == 3
    assert "Done" in page.text_content("#status")
    filled = page.get_attribute("#download-result", "href")
    assert page.input_value("#output") == "final"  # region colouring is the default
    page.select_option("#output", "network")  # the same hints, the network's colours alone: they differ
    page.click("#run")
    page.wait_for_function("old => document.getElementById('download-result').href !== old", arg=filled,
                           timeout=60_000)
    assert page.get_attribute("#download-result", "href").startswith("data:image/png")
    page.screenshot(path=str(tmp_path / "page.png"))
    assert (tmp_path / "page.png").stat().st_size > 10_000


def test_a_failed_request_clears_the_results_and_disables_the_downloads(server, browser_page, tmp_path):
    sketch = tmp_path / "sketch.png"
    sketch_of(drawing(4, 96)).save(sketch)
    page = browser_page
    page.goto(server)
    page.set_input_files("#file", str(sketch))
    page.wait_for_selector("#stack:not([hidden])")
    page.click("#run")
    page.wait_for_selector("#candidates-list img", timeout=60_000)
    assert page.get_attribute("#download-result", "href").startswith("data:image/png")
    page.route("**/api/colorize", lambda route: route.fulfill(
        status=503, content_type="application/json", body='{"error": "busy: too many requests"}'))
    page.click("#run")
    page.wait_for_selector("#status.error")
    assert "busy" in page.text_content("#status")
    assert page.locator("#candidates-list img").count() == 0
    assert page.get_attribute("#download-result", "href") is None
    assert page.get_attribute("#download-result", "aria-disabled") == "true"
    assert not page.is_visible("#results")
