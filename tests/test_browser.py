"""A real browser on the workspace page: upload, hint, colourise, bucket-fill regions, undo, re-roll,
download, and no request ever leaving the local server.

Debian's chromium driven by the playwright package (no browser download); .ci/run installs chromium.
"""

from __future__ import annotations

import base64
import io
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest
from PIL import Image

from swishpaint.data.images import OUTPUT_KEY, RESULT, swishpaint_output
from swishpaint.experiments.page_bench import deepest_point, inner_regions, labels_from
from swishpaint.models import save_model
from swishpaint.server.launch import running_server

from .conftest import drawing, make_tiny_model, sketch_of
from .test_layered import pytoshop_reader  # noqa: F401  (the layered test's PSD reader, a fixture)

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent
FILL = "#123456"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    pytest.importorskip("fastapi")
    model = save_model(make_tiny_model(), tmp_path_factory.mktemp("model") / "model")
    with running_server("--model", str(model), env={"PYTHONPATH": str(ROOT / "src")}) as running:
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
        yield browser.new_page(viewport={"width": 1200, "height": 800}, accept_downloads=True)
        browser.close()


def decode(data_url: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1])))


def open_sketch(page, server: str, path: Path) -> None:
    page.goto(server)
    page.wait_for_selector("#model-info:has-text('candidates')")
    page.set_input_files("#file", str(path))
    page.wait_for_selector("#stack:not([hidden])")


def colourise(page, button: str = "#run") -> dict:
    """Click Colourise (or Re-roll) and return the API's answer once the page shows it."""
    with page.expect_response("**/api/colorize", timeout=60_000) as answer:
        page.click(button)
    page.wait_for_selector("#status:has-text('Done')", timeout=60_000)
    return answer.value.json()


def canvas(page, canvas_id: str) -> np.ndarray:
    """The canvas's pixels as the page holds them, H×W×4 uint8."""
    url = page.evaluate(f"() => document.getElementById('{canvas_id}').toDataURL('image/png')")
    return np.asarray(decode(url).convert("RGBA"))


def deep_point(labels: np.ndarray, rank: int = 0) -> tuple[int, int]:
    """(x, y) deepest inside the `rank`-th largest region that does not touch the border."""
    return deepest_point(labels, inner_regions(labels)[rank])


def click_pixel(page, x: int, y: int) -> None:
    box = page.locator("#hints").bounding_box()
    width, height = page.evaluate("() => [document.getElementById('hints').width, document.getElementById('hints').height]")
    page.mouse.click(box["x"] + (x + 0.5) * box["width"] / width, box["y"] + (y + 0.5) * box["height"] / height)


def fill(page, x: int, y: int, colour: str = FILL) -> None:
    page.fill("#color", colour)
    page.keyboard.press("b")
    click_pixel(page, x, y)
    page.wait_for_selector("#status:has-text('Filled')")


def downloaded_hints(page, folder: Path) -> np.ndarray:
    """The hints PNG the page downloads (and sends with the next run), H×W×4 uint8."""
    with page.expect_download() as download:
        page.click("#download-hints")
    path = folder / download.value.suggested_filename
    download.value.save_as(path)
    return np.asarray(Image.open(path).convert("RGBA"))


def paint_stroke(page) -> None:
    """One hint stroke with the brush, from near the top left corner inwards."""
    page.keyboard.press("h")
    box = page.locator("#hints").bounding_box()
    page.mouse.move(box["x"] + 30, box["y"] + 30)
    page.mouse.down()
    page.mouse.move(box["x"] + 120, box["y"] + 90, steps=8)
    page.mouse.up()


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


@pytest.fixture
def sketch(tmp_path) -> Path:
    path = tmp_path / "sketch.png"
    sketch_of(drawing(3, 160)).save(path)
    return path


def test_page_upload_paint_and_colourise(server, browser_page, sketch, tmp_path):
    page = browser_page
    open_sketch(page, server, sketch)
    paint_stroke(page)
    assert (canvas(page, "hints")[..., 3] > 0).sum() > 50
    body = colourise(page)
    assert page.locator("#candidates-list img").count() == 3 == len(body["flats"])
    assert page.locator("#palette-flats .swatch").count() >= 1
    assert page.locator("#palette-used .swatch").count() == 1  # the stroke's colour
    first = canvas(page, "view")
    page.click("#candidates-list img >> nth=2")
    page.wait_for_function("() => document.querySelector('#candidates-list img.chosen').dataset.index === '2'")
    assert (canvas(page, "view") != first).any()  # the workspace shows the chosen candidate
    page.screenshot(path=str(tmp_path / "page.png"))
    assert (tmp_path / "page.png").stat().st_size > 10_000


def test_bucket_fills_exactly_the_clicked_region_and_undo_redo_restore(server, browser_page, sketch, tmp_path):
    page = browser_page
    open_sketch(page, server, sketch)
    labels = labels_from(colourise(page))
    page.check("input[name=view][value=flats]")
    x, y = deep_point(labels)
    before = canvas(page, "view")
    fill(page, x, y)
    after = canvas(page, "view")
    region = labels == labels[y, x]
    np.testing.assert_array_equal((before != after).any(-1), region)  # that region's pixels, and only those
    assert (after[region][:, :3] == rgb(FILL)).all()
    hints = downloaded_hints(page, tmp_path)
    np.testing.assert_array_equal(hints[..., 3] == 255, region)  # the fill is a hint covering the whole region
    assert (hints[region][:, :3] == rgb(FILL)).all()
    page.keyboard.press("Control+z")
    np.testing.assert_array_equal(canvas(page, "view"), before)
    page.click("#download-hints")
    page.wait_for_selector("#status:has-text('No hints yet')")  # the fill is no longer a hint
    page.keyboard.press("Control+Shift+z")
    np.testing.assert_array_equal(canvas(page, "view"), after)
    np.testing.assert_array_equal(downloaded_hints(page, tmp_path), hints)
    page.keyboard.press("i")  # the eyedropper picks the fill back
    page.fill("#color", "#000000")
    click_pixel(page, x, y)
    assert page.input_value("#color") == FILL


def test_colour_trace_lines_keep_their_colour_in_the_view_fills_and_the_png_download(server, browser_page, tmp_path):
    from .test_layered import colour_line_sketch

    page = browser_page
    path = tmp_path / "trace.png"
    colour_line_sketch().resize((128, 128), Image.NEAREST).save(path)
    open_sketch(page, server, path)
    body = colourise(page)
    shown = canvas(page, "view")[..., :3].astype(int)
    served = np.asarray(decode(body["images"][0]).convert("RGB")).astype(int)
    assert np.abs(shown - served).max() <= 2  # the page composites what the server returns
    red, blue = shown[37:39, 24:100].reshape(-1, 3), shown[85:87, 24:100].reshape(-1, 3)
    assert (red[:, 0] > red[:, 1:].max(1)).all() and (blue[:, 2] > blue[:, :2].max(1)).all()  # not grey
    labels = labels_from(body)
    x, y = deep_point(labels)
    fill(page, x, y)
    filled = canvas(page, "view")[..., :3].astype(int)
    region = labels == labels[y, x]
    np.testing.assert_array_equal((filled != shown).any(-1), region)  # the fill repaints that region only
    with page.expect_download() as download:
        page.click("#download-png")
    png_path = tmp_path / download.value.suggested_filename
    download.value.save_as(png_path)
    np.testing.assert_array_equal(np.asarray(Image.open(png_path).convert("RGB")), filled)  # lines in colour
    assert swishpaint_output(png_path) == RESULT  # saved beside its sketch, a batch run leaves it out


def test_a_sketch_on_grey_paper_is_shown_on_white_paper_as_the_server_coloured_it(server, browser_page, tmp_path):
    """A phone photo of a page: the server levels its paper to white, and so does the page's own copy."""
    page = browser_page
    path = tmp_path / "photo.png"
    Image.fromarray((np.asarray(sketch_of(drawing(3, 128)), np.float32) * 0.75).astype(np.uint8)).save(path)
    open_sketch(page, server, path)
    body = colourise(page)
    assert body["paper_gain"] == pytest.approx(255 / 191)
    shown = canvas(page, "view")[..., :3].astype(int)
    served = np.asarray(decode(body["images"][0]).convert("RGB")).astype(int)
    assert np.abs(shown - served).max() <= 2
    page.check("input[name=view][value=lines]")
    assert canvas(page, "view")[..., :3].max(-1).mean() > 240  # the lines view: white paper, not grey


def test_the_line_threshold_set_on_the_page_decides_the_regions_and_keeps_the_fills(server, browser_page, tmp_path):
    """A faint pencil stroke beside inked lines: the page's line threshold makes it a line, so the area
    it splits becomes two regions. A fill made before keeps both halves (each stays locked, re-roll
    included), and the bucket then fills one half alone."""
    from .test_regions import faint_split

    page = browser_page
    path = tmp_path / "faint.png"
    Image.fromarray(faint_split()).save(path)
    open_sketch(page, server, path)
    labels = np.asarray(decode(colourise(page)["labels"]))
    assert labels[40, 30] == labels[40, 90]  # the image's own threshold: one area
    page.check("input[name=view][value=flats]")
    fill(page, 30, 40)
    page.fill("#line-threshold", "0.08")
    labels = np.asarray(decode(colourise(page)["labels"]))
    left, right = labels == labels[40, 30], labels == labels[40, 90]
    assert labels[40, 30] != labels[40, 90]
    for button in ("#run", "#reroll"):
        if button == "#reroll":
            colourise(page, button)
        flats = canvas(page, "view")[..., :3]
        assert (flats[left] == rgb(FILL)).all() and (flats[right] == rgb(FILL)).all(), button
    fill(page, 90, 40, "#aa2200")
    flats = canvas(page, "view")[..., :3]
    assert (flats[right] == rgb("#aa2200")).all() and (flats[left] == rgb(FILL)).all()
    page.keyboard.press("Control+z")  # the half's own fill: back to the first fill's colour
    flats = canvas(page, "view")[..., :3]
    assert (flats[right] == rgb(FILL)).all() and (flats[left] == rgb(FILL)).all()
    locks = "() => [...S.locked.keys()].sort((a, b) => a - b)"  # the page's own state (a classic script's const)
    assert page.evaluate(locks) == sorted({int(labels[40, 30]), int(labels[40, 90])})
    page.keyboard.press("Control+z")  # the fill made before the split: taken back from both halves
    assert page.evaluate(locks) == []
    page.wait_for_selector("#status:has-text('Undone: fill region')")
    # text that is no number is refused in a line, not sent as "automatic"; nothing changes
    page.fill("#line-threshold", "")
    page.focus("#line-threshold")
    page.keyboard.type("1e-")
    assert page.evaluate("() => document.getElementById('line-threshold').validity.badInput")
    before = canvas(page, "view")
    page.click("#run")
    page.wait_for_selector("#status:has-text('not a number')")
    np.testing.assert_array_equal(canvas(page, "view"), before)
    # joined again by a higher threshold: a fill of one half holds the whole region it went into
    page.fill("#line-threshold", "0.08")
    colourise(page)
    fill(page, 30, 40)
    page.fill("#line-threshold", "0.5")
    labels = np.asarray(decode(colourise(page)["labels"]))
    assert labels[40, 30] == labels[40, 90] and page.evaluate(locks) == [int(labels[40, 30])]
    assert (canvas(page, "view")[..., :3][labels == labels[40, 30]] == rgb(FILL)).all()


def test_reroll_keeps_locked_regions_and_the_layered_download_holds_them(server, browser_page, sketch, tmp_path,
                                                                        pytoshop_reader):  # noqa: F811
    page = browser_page
    open_sketch(page, server, sketch)
    labels = labels_from(colourise(page))
    page.check("input[name=view][value=flats]")
    locked = {deep_point(labels, 0): FILL, deep_point(labels, 1): "#f0c020"}
    for (x, y), colour in locked.items():
        fill(page, x, y, colour)
    filled = canvas(page, "view")
    body = colourise(page, "#reroll")
    assert body["start"] == 1 and "candidate 2 of 3" in page.text_content("#status")
    rerolled = canvas(page, "view")
    mask = np.zeros(labels.shape, bool)
    for (x, y), colour in locked.items():
        region = labels == labels[y, x]
        assert (rerolled[region][:, :3] == rgb(colour)).all()
        mask |= region
    np.testing.assert_array_equal(rerolled[mask], filled[mask])
    assert (rerolled[~mask] != filled[~mask]).any()  # the unlocked regions took the next candidate's colours
    late = deep_point(labels, 2)
    fill(page, *late, "#3050e0")  # a fill after the last run: the layered file holds it too
    shown = canvas(page, "view")[..., :3]
    page.check("input[name=view][value=final]")
    final = canvas(page, "view")[..., :3]

    for layered_format in ("psd", "ora"):
        page.select_option("#layered-format", layered_format)
        with page.expect_download(timeout=60_000) as download:
            page.click("#download-layered")
        path = tmp_path / download.value.suggested_filename
        download.value.save_as(path)
        assert path.suffix == f".{layered_format}"
        if layered_format == "psd":
            with open(path, "rb") as f:  # pytoshop reads channels lazily: while the file is open
                records = pytoshop_reader.read(f).layer_and_mask_info.layer_info.layer_records  # bottom first
                assert [r.name for r in records][::-1] == ["lines", "shading", "flats"]
                flats = np.dstack([records[0].channels[c].image for c in (0, 1, 2)])
        else:
            with zipfile.ZipFile(path) as ora:
                stack = ElementTree.fromstring(ora.read("stack.xml")).find("stack").findall("layer")
                assert [layer.get("name") for layer in stack] == ["lines", "shading", "flats"]
                flats = np.asarray(Image.open(io.BytesIO(ora.read("data/flats.png"))).convert("RGB"))
        # the file is the picture on screen: the whole flats layer as shown (fills included), composited as shown
        np.testing.assert_array_equal(flats, shown)
        assert (flats[labels == labels[late[1], late[0]]] == rgb("#3050e0")).all()
        if layered_format == "ora":
            merged = np.asarray(Image.open(io.BytesIO(zipfile.ZipFile(path).read("mergedimage.png"))).convert("RGB"))
            assert np.abs(merged.astype(int) - final).max() <= 2

    hints = downloaded_hints(page, tmp_path)
    Image.fromarray(hints).save(tmp_path / "hints.png")
    page.click("#clear")
    page.set_input_files("#hints-file", str(tmp_path / "hints.png"))  # a saved hints PNG continues the work
    page.wait_for_selector("#status:has-text('hints loaded')")
    np.testing.assert_array_equal(canvas(page, "hints")[..., 3] == 255, mask | (labels == labels[late[1], late[0]]))


def test_no_request_leaves_the_local_server(server, browser_page, sketch):
    page = browser_page
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    open_sketch(page, server, sketch)
    labels = labels_from(colourise(page))
    fill(page, *deep_point(labels))
    colourise(page, "#reroll")
    page.goto(server + "/docs")
    page.wait_for_selector(".endpoint h2:has-text('POST /api/colorize')")
    assert "start" in page.text_content("#api")
    assert any(u.endswith("/openapi.json") for u in urls) and any(u.endswith("/static/app.js") for u in urls)
    outside = [u for u in urls if not u.startswith((server + "/", "data:", "blob:"))]
    assert outside == []


def failing(page, how: str):
    """Make every colourise request fail: a 503 from a full queue, or no answer at all."""
    def answer(route):
        if how == "503":
            route.fulfill(status=503, content_type="application/json", headers={"Retry-After": "2"},
                          body='{"error": "busy: too many requests in the queue; try again shortly"}')
        else:
            route.abort()
    page.route("**/api/colorize", answer)


def page_errors(page) -> list[str]:
    """The page's uncaught errors and unhandled rejections, as they happen."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def test_a_failed_request_keeps_the_colouring_fills_hints_and_history(server, browser_page, sketch, tmp_path):
    page = browser_page
    errors = page_errors(page)
    open_sketch(page, server, sketch)
    labels = labels_from(colourise(page))
    page.check("input[name=view][value=flats]")
    x, y = deep_point(labels)
    region = labels == labels[y, x]
    fill(page, x, y)
    paint_stroke(page)
    view, hints = canvas(page, "view"), downloaded_hints(page, tmp_path)
    for how, button in (("503", "#reroll"), ("503", "#run"), ("network", "#run")):
        failing(page, how)
        page.click(button)
        page.wait_for_selector("#status.error")
        page.unroute("**/api/colorize")
        np.testing.assert_array_equal(canvas(page, "view"), view)  # the colouring and the fill, as they were
        assert page.locator("#candidates-list img").count() == 3 and page.is_visible("#results")
        assert all(page.is_enabled(b) for b in ("#run", "#reroll", "#download-png", "#download-layered"))
        np.testing.assert_array_equal(downloaded_hints(page, tmp_path), hints)  # strokes and the fill as a hint
        status = page.text_content("#status")
        assert "Could not colourise" in status and ("busy, try again" in status) == (how == "503")
    page.keyboard.press("Control+z")  # the history too: the stroke, then the fill
    page.keyboard.press("Control+z")
    assert (canvas(page, "view")[region][:, :3] != rgb(FILL)).any()
    page.keyboard.press("Control+Shift+z")
    np.testing.assert_array_equal(canvas(page, "view"), view)
    colourise(page)  # and the next run works, the fill still locked
    assert (canvas(page, "view")[region][:, :3] == rgb(FILL)).all()
    page.click("#clear")
    page.click("#download-hints")
    page.wait_for_selector("#status:has-text('No hints yet')")  # clearing removed the stroke and the fill
    assert errors == []


def test_before_any_colouring_a_failed_run_leaves_the_tools_working(server, browser_page, sketch, tmp_path):
    page = browser_page
    errors = page_errors(page)
    open_sketch(page, server, sketch)
    paint_stroke(page)
    hints = canvas(page, "hints")
    failing(page, "503")
    page.click("#run")
    page.wait_for_selector("#status.error:has-text('busy')")
    np.testing.assert_array_equal(downloaded_hints(page, tmp_path), hints)
    page.keyboard.press("Control+z")
    assert (canvas(page, "hints")[..., 3] == 0).all()
    page.keyboard.press("Control+Shift+z")
    page.click("#clear")
    page.keyboard.press("b")
    click_pixel(page, 5, 5)
    page.wait_for_selector("#status:has-text('Colourise first')")
    assert errors == []


def test_switching_candidates_keeps_the_fills_and_undo_shows_the_chosen_candidate(server, browser_page, sketch,
                                                                                 tmp_path):
    page = browser_page
    open_sketch(page, server, sketch)
    body = colourise(page)
    labels = labels_from(body)
    page.check("input[name=view][value=flats]")
    x, y = deep_point(labels)
    region = labels == labels[y, x]
    fill(page, x, y)
    page.click("#candidates-list img >> nth=2")
    page.wait_for_function("() => document.querySelector('#candidates-list img.chosen').dataset.index === '2'")
    third = np.asarray(decode(body["flats"][2]).convert("RGB"))
    shown = canvas(page, "view")[..., :3]
    assert (shown[region] == rgb(FILL)).all()  # the fill stays on top of the chosen candidate
    np.testing.assert_array_equal(shown[~region], third[~region])
    page.check("input[name=view][value=final]")
    with page.expect_download() as download:
        page.click("#download-png")
    download.value.save_as(tmp_path / "colour.png")
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "colour.png").convert("RGBA")), canvas(page, "view"))
    page.check("input[name=view][value=flats]")
    page.keyboard.press("Control+z")  # undo gives the region the chosen candidate's colour, not an earlier one's
    np.testing.assert_array_equal(canvas(page, "view")[..., :3], third)


def leaving_asks(page) -> bool:
    """Whether the page's beforeunload handler asks before the page goes (it cancels the event)."""
    return page.evaluate("() => !window.dispatchEvent(new Event('beforeunload', { cancelable: true }))")


def test_unsaved_work_asks_before_leaving_or_opening_another_sketch(server, browser_page, sketch, tmp_path):
    other = tmp_path / "other.png"
    sketch_of(drawing(4, 96)).save(other)
    page = browser_page
    dialogs: list[str] = []
    answer = {"confirm": False}

    def on_dialog(dialog):
        dialogs.append(dialog.type)
        dialog.accept() if answer.get(dialog.type) else dialog.dismiss()
    page.on("dialog", on_dialog)
    open_sketch(page, server, sketch)
    assert not leaving_asks(page)  # nothing done yet
    paint_stroke(page)
    assert leaving_asks(page)
    page.set_input_files("#file", str(other))  # confirm() dismissed: the sketch and its stroke stay
    page.wait_for_selector("#status:has-text('Kept sketch.png')")
    assert dialogs == ["confirm"] and page.evaluate("() => document.getElementById('hints').width") == 160
    assert (canvas(page, "hints")[..., 3] > 0).any()
    downloaded_hints(page, tmp_path)  # a download keeps the work: leaving and replacing need no question
    assert not leaving_asks(page)
    page.set_input_files("#file", str(other))
    page.wait_for_selector("#status:has-text('other.png')")
    assert dialogs == ["confirm"] and page.evaluate("() => document.getElementById('hints').width") == 96
    paint_stroke(page)
    answer["confirm"] = True
    page.set_input_files("#file", str(sketch))  # confirmed: replaced
    page.wait_for_selector("#status:has-text('sketch.png: 160')")
    assert dialogs == ["confirm", "confirm"] and not leaving_asks(page)


def slow_requests(page, ms: int = 1500) -> None:
    """Every fetch the page makes answers `ms` later (in the page: a route handler would hold the driver)."""
    page.evaluate(f"() => {{ const f = window.fetch; window.fetch = (...a) => "
                  f"new Promise((ok) => setTimeout(() => ok(f(...a)), {ms})); }}")


def test_a_download_keeps_the_work_only_when_it_holds_it_all(server, browser_page, sketch, tmp_path):
    """A stroke is not in the PNG, so the PNG alone does not count as keeping the work (the hints PNG with it
    does); an edit made while the layered file is being made is not in it, so leaving still asks."""
    page = browser_page
    open_sketch(page, server, sketch)
    colourise(page)
    paint_stroke(page)
    with page.expect_download():
        page.click("#download-png")
    assert leaving_asks(page)  # the stroke is only in the hints
    downloaded_hints(page, tmp_path)
    assert not leaving_asks(page)  # the PNG and the hints PNG together hold it all
    slow_requests(page)
    with page.expect_download(timeout=60_000) as download:
        page.click("#download-layered")
        paint_stroke(page)  # while the file is being made
    assert download.value.suggested_filename == "sketch.psd"
    page.wait_for_selector("#status:has-text('Changes made meanwhile are not in it')")
    assert leaving_asks(page)


def test_a_picture_is_no_hints_png_and_the_same_hints_file_loads_again(server, browser_page, sketch, tmp_path):
    page = browser_page
    open_sketch(page, server, sketch)
    Image.new("RGB", (160, 160), (200, 30, 30)).save(tmp_path / "picture.png")
    page.set_input_files("#hints-file", str(tmp_path / "picture.png"))
    page.wait_for_selector("#status:has-text('has no transparent pixels')")
    assert not (canvas(page, "hints")[..., 3] > 0).any() and not leaving_asks(page)  # nothing loaded
    dabs = Image.new("RGBA", (80, 80), (0, 0, 0, 0))  # half the sketch's size: resized as pixels
    dabs.paste((0, 0, 255, 255), (20, 20, 30, 30))
    dabs.save(tmp_path / "dabs.png")
    for _ in range(2):  # loaded, undone, and the same file chosen again
        page.set_input_files("#hints-file", str(tmp_path / "dabs.png"))
        page.wait_for_selector("#status:has-text('dabs.png: hints loaded')")
        alpha = canvas(page, "hints")[..., 3]
        assert set(np.unique(alpha)) == {0, 255} and alpha.sum() == 255 * 20 * 20  # no blended edges
        page.keyboard.press("Control+z")
        page.wait_for_selector("#status:has-text('Undone: load hints')")
    page.focus("#show-hints")
    page.keyboard.press(" ")  # Space on a focused control is the control's, not the pan's
    assert not page.is_checked("#show-hints")


def test_cut_strip_shows_the_key_and_each_coloured_frame(server, browser_page, tmp_path):
    from .test_sequence import pose

    key = tmp_path / "key.png"
    Image.fromarray((pose(0)[0] * 255).astype(np.uint8)).save(key)
    frames = []
    for i, t in enumerate((0.5, 1.0, 1.5)):
        frames.append(tmp_path / (f"frame{i}.png" if i != 1 else "カット1.png"))
        Image.fromarray((pose(t)[1] * 255).astype(np.uint8)).save(frames[-1])
    page = browser_page
    page.goto(server)
    page.set_input_files("#cut-key", str(key))
    page.set_input_files("#cut-frames", [str(f) for f in frames])
    with page.expect_response("**/api/colorize-sequence", timeout=60_000) as answer:
        page.click("#cut-run")
    page.wait_for_selector("#cut-status:has-text('Done')", timeout=60_000)
    assert len(answer.value.json()["frames"]) == 3
    images = page.locator("#cut-strip img")
    assert images.count() == 4
    assert page.locator("#cut-strip figure").first.get_attribute("class") == "key"
    tops = [box["y"] for box in (images.nth(i).bounding_box() for i in range(4))]
    lefts = [box["x"] for box in (images.nth(i).bounding_box() for i in range(4))]
    assert max(tops) - min(tops) < 1 and lefts == sorted(lefts)  # side by side, the key first
    page.wait_for_function("() => [...document.querySelectorAll('#cut-strip img')].every((i) => i.complete "
                           "&& i.naturalWidth === 192)", timeout=10_000)  # every image decodes at the frame size
    # the coloured cut lives only in the page until it is downloaded: leaving asks till then
    assert leaving_asks(page)
    with page.expect_download() as download:
        page.click("#cut-download")
    assert download.value.suggested_filename == "key_cut.zip"
    path = tmp_path / "cut.zip"
    download.value.save_as(path)
    with zipfile.ZipFile(path) as z:  # a ZIP that Python's own reader takes, CRCs checked
        assert z.testzip() is None
        assert z.namelist() == ["001_frame0.png", "002_カット1.png", "003_frame2.png"]  # in cut order, UTF-8 names
        assert all(info.date_time[:3] >= (2020, 1, 1) for info in z.infolist())  # dated, not 1980-00-00
        shown = [decode(page.locator("#cut-strip img").nth(i + 1).get_attribute("src")) for i in range(3)]
        for name, image in zip(z.namelist(), shown):
            frame = Image.open(io.BytesIO(z.read(name)))
            assert frame.size == (192, 192) and frame.info.get(OUTPUT_KEY) == RESULT
            np.testing.assert_array_equal(np.asarray(frame.convert("RGB")), np.asarray(image.convert("RGB")))
    assert not leaving_asks(page)
