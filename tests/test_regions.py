"""Regions: segmentation of line art, flat colours, and the classical references."""

import cv2
import numpy as np
import pytest

from swishpaint.regions.classical import levin_colorize, oracle_flats, region_fill
from swishpaint.regions.flats import FlatConfig, flats_from_network, hinted_regions, region_medians
from swishpaint.regions.segment import SegmentConfig, Segmentation, regions_key, segment, with_line_threshold
from swishpaint.regions.user_hints import user_like_hints

SIZE = 256


def drawn(lines_grey: int = 0, gap: int = 6) -> np.ndarray:
    """A 256² sketch: a frame (inside / outside), split by a vertical line with a `gap`-pixel break,
    the right half split again by an anti-aliased grey diagonal; plus a few ink specks."""
    img = np.full((SIZE, SIZE), 255, np.uint8)
    cv2.rectangle(img, (20, 20), (235, 235), lines_grey, 2, cv2.LINE_AA)
    cv2.line(img, (128, 20), (128, 120 - gap // 2), lines_grey, 2, cv2.LINE_AA)
    cv2.line(img, (128, 120 + gap - gap // 2), (128, 235), lines_grey, 2, cv2.LINE_AA)
    cv2.line(img, (128, 235), (235, 128), lines_grey, 1, cv2.LINE_AA)
    for y, x in ((60, 60), (200, 70), (90, 180)):
        img[y, x] = 0  # specks: dirt, not lines
    return img.astype(np.float32) / 255


POINTS = {"outside": (5, 5), "left": (120, 60), "right": (60, 200), "corner": (215, 215)}


def region_at(seg, name):
    return seg.labels[POINTS[name]]


@pytest.mark.parametrize("grey", [0, 150])  # black ink and light pencil
def test_segmentation_finds_line_enclosed_regions_and_closes_small_gaps(grey):
    seg = segment(drawn(grey))
    labels = {name: region_at(seg, name) for name in POINTS}
    assert len(set(labels.values())) == 4, labels  # the 6-pixel gap does not join left and right
    main = sum(seg.areas()[list(labels.values())])
    assert main >= 0.98 * SIZE * SIZE  # at most slivers in acute corners besides the four areas
    for y, x in ((60, 60), (200, 70), (90, 180)):  # specks made no regions of their own
        assert seg.labels[y, x] == seg.labels[y + 4, x + 4]
    assert seg.labels.min() == 0 and seg.labels.max() == seg.count - 1
    assert seg.lines[200, 128] or seg.lines[200, 127]  # the lines are found...
    assert not seg.lines[60, 60]  # ...the specks are not lines
    # line pixels belong to a neighbouring region: both sides of the vertical line own some of it
    line_labels = set(seg.labels[200, 125:132].tolist())
    assert line_labels == {labels["left"], labels["right"]}


@pytest.mark.parametrize("paper", [200, 150, 110])
def test_a_sketch_on_grey_paper_has_the_regions_it_has_on_white(paper):
    """A phone photo or scan: its darkness is measured from its paper, not from white, noise and all."""
    white = segment(drawn(0))
    rng = np.random.default_rng(0)
    on_grey = np.clip(drawn(0) * paper + rng.normal(0, 3, (SIZE, SIZE)), 0, 255).astype(np.uint8)
    grey = segment(on_grey)
    assert grey.count == white.count
    assert len({region_at(grey, name) for name in POINTS}) == 4


def test_paper_gain_levels_grey_paper_and_leaves_white_and_dark_images_alone():
    from swishpaint.data.images import paper_gain

    sketch = (drawn(0) * 255).astype(np.uint8)
    assert paper_gain(sketch) == 1.0  # white paper: exactly as it is
    assert paper_gain((sketch * (200 / 255)).astype(np.uint8)) == pytest.approx(255 / 200, rel=0.01)
    assert paper_gain(255 - sketch) == 1.0  # white lines on black: no paper to level


def narrow_part(gap: int = 4) -> np.ndarray:
    """A 256² sketch: a thin outlined part 6 pixels wide (a leg, a strap on a small figure) on paper, its
    left outline broken by a `gap`-pixel gap, as faint lines come out of line extraction."""
    img = np.full((SIZE, SIZE), 255, np.uint8)
    cv2.rectangle(img, (120, 80), (126, 140), 0, 1, cv2.LINE_AA)
    img[110:110 + gap, 119:122] = 255
    return img.astype(np.float32) / 255


def faint_split() -> np.ndarray:
    """A black square split down the middle by a faint stroke (darkness 30/255), as a pencil line beside
    inked ones: the image's own threshold (set by the black lines) reads it as paper."""
    sketch = np.full((128, 128), 255, np.uint8)
    sketch[10:12, 10:118] = sketch[116:118, 10:118] = sketch[10:118, 10:12] = sketch[10:118, 116:118] = 0
    sketch[10:118, 63:65] = 225
    return sketch


def test_a_line_threshold_a_person_sets_lets_faint_strokes_close_their_areas():
    sketch = faint_split()
    follows_the_image = segment(sketch)
    assert follows_the_image.labels[40, 30] == follows_the_image.labels[40, 90]  # one area
    set_low = segment(sketch, with_line_threshold(SegmentConfig(), 0.08))
    assert set_low.labels[40, 30] != set_low.labels[40, 90] and set_low.lines[40, 63]
    set_high = segment(sketch, with_line_threshold(SegmentConfig(), 0.5))  # ignores the faint stroke again
    assert set_high.labels[40, 30] == set_high.labels[40, 90]
    # a region chooser's features describe regions whatever the ink level: the same key
    assert regions_key(with_line_threshold(SegmentConfig(), 0.08)) == regions_key(SegmentConfig())
    assert regions_key(SegmentConfig(fine_balls=None)) != regions_key(SegmentConfig())
    assert with_line_threshold(SegmentConfig(), None) == SegmentConfig()
    assert with_line_threshold(SegmentConfig(), np.float32(0.25)).threshold == 0.25  # numpy's numbers too
    assert type(with_line_threshold(SegmentConfig(), np.float64(0.1)).threshold) is float
    for bad in (0, 1, 1.5, -0.1, float("nan"), float("inf"), True, np.bool_(True), "0.1", np.array([0.1, 0.2])):
        with pytest.raises(ValueError, match="line threshold must be a darkness between 0 and 1"):
            with_line_threshold(SegmentConfig(), bad)


def test_a_narrow_part_the_large_ball_cannot_enter_is_a_region_of_its_own():
    from dataclasses import replace

    from swishpaint.regions.segment import SegmentConfig

    sketch, inside, paper = narrow_part(), (100, 123), (10, 10)
    seg = segment(sketch)
    assert seg.labels[inside] != seg.labels[paper]
    assert (seg.labels == seg.labels[inside]).sum() < 0.01 * SIZE * SIZE  # the part, not a leak
    # the large ball alone cannot enter it: what smaller balls find there joins the paper through the gap
    one_pass = segment(sketch, replace(SegmentConfig(), fine_balls=None))
    assert one_pass.labels[inside] == one_pass.labels[paper]


def test_the_coarse_pass_keeps_closed_a_gap_the_fine_balls_slip_through():
    from dataclasses import replace

    from swishpaint.regions.segment import SegmentConfig

    sketch = drawn(gap=8)  # wider than the fine balls close (5 px at 256), narrower than the coarse (10 px)
    fine_alone = segment(sketch, replace(SegmentConfig(), balls=SegmentConfig().fine_balls, fine_balls=None))
    assert region_at(fine_alone, "left") == region_at(fine_alone, "right")  # the leak the overlay stops
    seg = segment(sketch)
    assert region_at(seg, "left") != region_at(seg, "right")


def test_a_wide_opening_is_not_a_gap():
    seg = segment(drawn(gap=60))
    assert region_at(seg, "left") == region_at(seg, "right")


def test_dab_partly_on_a_line_colours_the_region_it_mostly_covers():
    sketch = drawn()
    seg = segment(sketch)
    hints = np.zeros((SIZE, SIZE, 4), np.float32)
    hints[100:109, 122:131] = (1, 0, 0, 1)  # mostly left of the line at x=128, a little right of it
    hints[170:182, 60:72] = (0, 0, 1, 1)  # three dabs in the left region: the larger colour wins
    hints[150:152, 60:62] = (0, 1, 0, 1)
    regions = hinted_regions(seg, hints)
    assert set(regions) == {region_at(seg, "left")}
    np.testing.assert_allclose(regions[region_at(seg, "left")], (0, 0, 1))
    on_line = np.zeros_like(hints)
    on_line[seg.lines] = (0, 1, 0, 1)  # a dab wholly on the lines paints them, not a region
    assert hinted_regions(seg, on_line) == {}


def test_flats_take_hints_then_the_network_median_and_keep_paper_white():
    sketch = drawn()
    seg = segment(sketch)
    network = np.full((SIZE, SIZE, 3), 0.97, np.float32)  # the network leaves the outside near white
    yy, xx = np.mgrid[:SIZE, :SIZE]
    inside = (yy > 25) & (yy < 230) & (xx > 25) & (xx < 230)
    network[inside] = (0.2, 0.6, 0.3)
    network[inside & (xx > 128) & (yy < 60)] = (0.1, 0.3, 0.15)  # a shadow: darker, same hue
    network[100:110, 40:50] = (1, 0, 1)  # an outlier the median ignores
    hints = np.zeros((SIZE, SIZE, 4), np.float32)
    hints[118:123, 58:63] = (0.9, 0.1, 0.1, 1)
    flats = flats_from_network(seg, network, hints, FlatConfig(shading_strength=1.0))
    right, left, outside = (region_at(seg, n) for n in ("right", "left", "outside"))
    np.testing.assert_allclose(flats.colours[left], (0.9, 0.1, 0.1), atol=1 / 255)
    np.testing.assert_allclose(flats.colours[right], (0.2, 0.6, 0.3), atol=1 / 255)
    assert (flats.colours[outside] == 1).all()
    assert flats.hinted[left] and not flats.hinted[right]
    # shading keeps the network's shadow inside the region, nothing elsewhere
    assert flats.shading[40, 200] < 0.7 and flats.shading[100, 200] == pytest.approx(1, abs=0.01)
    assert flats.shading.max() <= 1 and flats.shading[5, 5] == 1 and flats.shading[seg.lines].min() == 1
    half = flats_from_network(seg, network, hints, FlatConfig(shading_strength=0.5)).shading
    assert half[40, 200] == pytest.approx(1 - 0.5 * (1 - flats.shading[40, 200]), abs=1e-4)
    final = flats.final(sketch)
    np.testing.assert_allclose(final, flats.image * flats.shading[..., None] * sketch[..., None])


def test_unhinted_network_colours_and_no_hints_keep_near_white_border_regions_only():
    seg = segment(drawn())
    network = np.full((SIZE, SIZE, 3), 0.5, np.float32)  # a grey background is not paper without hints
    flats = flats_from_network(seg, network, None, FlatConfig())
    assert flats.colours[region_at(seg, "outside")] == pytest.approx([0.5, 0.5, 0.5], abs=1 / 255)


@pytest.mark.parametrize("pick", ["colour", "white"])
def test_with_hints_a_chooser_decides_the_background_and_without_one_it_stays_paper(pick):
    """Hints elsewhere leave an unhinted background paper, unless a region chooser decides it: random hints
    often miss a coloured background. A background the chooser leaves white is paper for every candidate."""
    seg = segment(drawn())
    network = np.full((SIZE, SIZE, 3), 0.5, np.float32)
    hints = np.zeros((SIZE, SIZE, 4), np.float32)
    y, x = POINTS["left"]
    hints[y - 2:y + 3, x - 2:x + 3] = (0.9, 0.1, 0.1, 1)
    outside = region_at(seg, "outside")
    decided = []

    def choose(hinted, regions):
        decided.extend(regions.tolist())
        return np.tile(np.float32([0.2, 0.4, 0.8] if pick == "colour" else [1, 1, 1]), (len(regions), 1))

    forced = flats_from_network(seg, network, hints, FlatConfig())
    assert (forced.colours[outside] == 1).all() and forced.paper[outside]
    chosen = flats_from_network(seg, network, hints, FlatConfig(), choose_unhinted=choose)
    assert outside in decided and region_at(seg, "left") not in decided
    assert chosen.paper[outside] == (pick == "white")
    expected = (0.2, 0.4, 0.8) if pick == "colour" else (1, 1, 1)
    np.testing.assert_allclose(chosen.colours[outside], expected)
    other = flats_from_network(seg, network, hints, FlatConfig(), paper=chosen.paper)  # a later candidate
    assert other.paper[outside] == (pick == "white")
    assert (other.colours[outside] == 1).all() == (pick == "white")


def test_region_medians_are_per_region_medians():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, (40, 30))
    values = rng.random((40, 30, 3)).astype(np.float32)
    med = region_medians(labels, values, 5)
    for r in range(5):
        q = np.round(values[labels == r] * 255)
        # the histogram median is the lower median of the 8-bit values
        np.testing.assert_allclose(med[r] * 255, np.sort(q, 0)[(len(q) - 1) // 2], atol=1)


def test_region_medians_in_bands_and_channel_groups_match_per_region_medians_off_the_lines(monkeypatch):
    import swishpaint.regions.flats as flats_module

    rng = np.random.default_rng(1)
    labels = rng.integers(0, 7, (50, 20)).astype(np.int32)
    labels[:5] = 7  # region 7 lies wholly on "lines": it falls back to all its pixels
    where = rng.random((50, 20)) > 0.3
    where[:5] = False
    values = rng.random((50, 20, 5)).astype(np.float32)
    whole = region_medians(labels, values, 9, where)
    monkeypatch.setattr(flats_module, "BAND_VALUES", 7 * 20 * 2)  # bands of 7 rows for two channels
    monkeypatch.setattr(flats_module, "HISTOGRAM_BYTES", 4 * 256 * 9 * 2)  # two channels at a time
    np.testing.assert_array_equal(region_medians(labels, values, 9, where), whole)
    for r in range(9):
        pixels = values[(labels == r) & where] if r < 7 else values[labels == r]
        if r == 8:  # no pixels at all
            assert (whole[r] == 0).all()
            continue
        q = np.round(pixels * 255)
        np.testing.assert_allclose(whole[r] * 255, np.sort(q, 0)[(len(q) - 1) // 2], atol=1)


def test_segmentation_figures_describe_its_regions():
    labels = np.array([[0, 0, 1, 1],
                       [0, 0, 1, 1],
                       [2, 2, 2, 1]], np.int32)
    lines = np.zeros(labels.shape, bool)
    lines[:, 1] = True
    seg = Segmentation(labels, lines)
    assert seg.count == 3
    np.testing.assert_array_equal(seg.areas(), [4, 5, 3])
    np.testing.assert_array_equal(seg.paper_areas(), [2, 5, 2])
    np.testing.assert_allclose(seg.centroids(), [[0.5, 0.5], [0.8, 2.6], [2, 1]])
    pairs, lengths = seg.adjacency()
    np.testing.assert_array_equal(pairs, [[0, 1], [0, 2], [1, 2]])
    np.testing.assert_array_equal(lengths, [2, 2, 2])
    assert seg.touches_border().all()
    assert seg.adjacency()[0] is pairs and not pairs.flags.writeable  # computed once, shared read-only


def test_region_fill_spreads_hints_by_adjacency_and_keeps_border_regions_white():
    sketch = drawn()
    seg = segment(sketch)
    hints = np.zeros((SIZE, SIZE, 4), np.float32)
    hints[118:123, 58:63] = (0.9, 0.1, 0.1, 1)  # only the left region
    out = region_fill(seg, hints, sketch)
    for name in ("left", "right", "corner"):  # enclosed regions reach the only hinted colour
        np.testing.assert_allclose(out[POINTS[name]], (0.9, 0.1, 0.1), atol=0.02)
    np.testing.assert_allclose(out[POINTS["outside"]], (1, 1, 1), atol=0.02)
    assert out[seg.lines].mean() < out[~seg.lines].mean()  # the lines are multiplied over


def test_oracle_flats_give_each_region_its_true_mean():
    sketch = drawn()
    seg = segment(sketch)
    truth = np.ones((SIZE, SIZE, 3), np.float32)
    truth[:, :128] = (0.2, 0.4, 0.6)
    out = oracle_flats(seg, truth, sketch)
    np.testing.assert_allclose(out[POINTS["left"]], (0.2, 0.4, 0.6), atol=0.02)
    np.testing.assert_allclose(out[POINTS["right"]], (1, 1, 1), atol=0.02)


def test_levin_propagates_hints_within_lines_and_honours_them():
    sketch = drawn(gap=0)[::4, ::4].copy()  # 64² keeps the solve fast
    hints = np.zeros(sketch.shape + (4,), np.float32)
    hints[30, 15] = (1, 0, 0, 1)
    hints[15, 50] = (0, 0, 1, 1)
    out = levin_colorize(sketch, hints)
    np.testing.assert_allclose(out[30, 15], (1, 0, 0), atol=0.01)
    assert out[10, 10, 0] > out[10, 10, 2] + 0.3  # red spreads through the left region...
    assert out[15, 45, 2] > out[15, 45, 0] + 0.3  # ...blue through the right one
    np.testing.assert_allclose(out[0, 0], (1, 1, 1), atol=0.01)  # the border stays white


def test_user_like_hints_dab_the_largest_coloured_regions_at_their_deepest_point():
    sketch = drawn()
    seg = segment(sketch)
    truth = np.ones((SIZE, SIZE, 3), np.float32)
    truth[20:236, 20:128] = (0.2, 0.4, 0.6)  # the left region and the lower right corner are coloured
    truth[128:236, 128:236] = (0.8, 0.2, 0.2)
    hints = user_like_hints(seg, truth, count=20)
    hinted = set(np.unique(seg.labels[hints[..., 3] > 0]).tolist())
    assert {region_at(seg, "left"), region_at(seg, "corner")} <= hinted
    assert not {region_at(seg, "outside"), region_at(seg, "right")} & hinted  # white regions are skipped
    one = user_like_hints(seg, truth, count=1)
    assert set(np.unique(seg.labels[one[..., 3] > 0]).tolist()) == {region_at(seg, "left")}  # the largest
    left = hints[..., 3] > 0
    left &= seg.labels == region_at(seg, "left")
    np.testing.assert_allclose(hints[left][:, :3].mean(0), (0.2, 0.4, 0.6), atol=1 / 255)
    ys, xs = np.nonzero(left)
    assert 80 < ys.mean() < 170 and 55 < xs.mean() < 95  # deep inside, not at an edge


def test_training_can_take_user_like_hints_for_a_share_of_samples():
    """HintSampling.protocols: with the whole share on user-like, every hinted training sample gets dabs
    inside coloured regions only (white ones left alone), 1..max_hints of them; unknown names fail."""
    import torch

    from swishpaint.configs import ConfigError
    from swishpaint.data.hints import HintSampling, training_hints
    from swishpaint.training.config import load_config

    sketch = drawn()
    seg = segment(sketch)
    truth = np.ones((SIZE, SIZE, 3), np.float32)
    truth[20:236, 20:128] = (0.2, 0.4, 0.6)
    truth[128:236, 128:236] = (0.8, 0.2, 0.2)
    cfg = HintSampling(probability=1.0, max_hints=3, protocols={"user-like": 1.0})
    sketch_t, truth_t = torch.from_numpy(sketch)[None], torch.from_numpy(truth).permute(2, 0, 1)
    for seed in range(4):
        hints = training_hints(sketch_t, truth_t, np.random.default_rng(seed), cfg)
        hinted = set(np.unique(seg.labels[hints[3].numpy() > 0]).tolist())
        assert 1 <= len(hinted) <= 3 and not {region_at(seg, "outside"), region_at(seg, "right")} & hinted
    import pickle

    from swishpaint.data.hints import resolve_protocols
    resolved = pickle.loads(pickle.dumps(resolve_protocols(cfg.protocols)))  # as a spawned worker gets them
    np.testing.assert_array_equal(training_hints(sketch_t, truth_t, np.random.default_rng(1), cfg, resolved),
                                  training_hints(sketch_t, truth_t, np.random.default_rng(1), cfg))
    patches = training_hints(sketch_t, truth_t, np.random.default_rng(0), HintSampling(probability=1.0))
    assert patches[3].sum() > 0  # no protocols: random patches, as before
    assert load_config("tiny", ["data.hints.protocols.user-like=0.5"]).data.hints.protocols == {"user-like": 0.5}
    with pytest.raises(ConfigError, match="unknown"):
        load_config("tiny", ["data.hints.protocols.scribbles=0.5"])
    with pytest.raises(ConfigError, match="sum to at most 1"):
        load_config("tiny", ["data.hints.protocols.user-like=1.5"])


def test_regions_painted_whole_keep_their_colour_beside_other_fills_and_strokes():
    """The page's paint bucket sends whole regions (lines included): neighbouring fills touch, and a
    small one beside a large one is still its own colour; a stroke touching a fill still counts."""
    sketch = drawn()
    seg = segment(sketch)
    hints = np.zeros((SIZE, SIZE, 4), np.float32)
    fills = {"left": (1, 0, 0), "right": (0, 1, 0), "corner": (0, 0, 1)}  # the corner is ~14% of the three
    for name, colour in fills.items():
        hints[seg.labels == region_at(seg, name)] = (*colour, 1)
    touching = np.zeros((SIZE, SIZE), bool)
    touching[100:108, 8:24] = True  # outside, reaching into the left fill's share of the frame line
    assert (hints[touching, 3] > 0).any()
    hints[touching & (hints[..., 3] == 0)] = (1, 1, 0, 1)
    regions = hinted_regions(seg, hints)
    for name, colour in fills.items():
        np.testing.assert_allclose(regions[region_at(seg, name)], colour)
    np.testing.assert_allclose(regions[region_at(seg, "outside")], (1, 1, 0))
    assert len(regions) == 4


def test_many_dabs_over_many_regions_need_no_table_of_every_dab_and_region():
    """Hints from a soft or textured brush are thousands of one-pixel dabs; with thousands of regions a
    dab-by-region table was hundreds of MB (GBs at 4096²). Only the pairs that occur are counted."""
    import tracemalloc

    side, cell = 1024, 24
    yy, xx = np.mgrid[0:side, 0:side]
    lines = (yy % cell == 0) | (xx % cell == 0)
    labels = ((yy // cell) * (side // cell + 1) + xx // cell).astype(np.int32)
    seg = segment_of(labels, lines)
    hints = np.zeros((side, side, 4), np.float32)
    dots = (yy % 6 == 3) & (xx % 6 == 3) & ~lines  # isolated pixels: each its own dab
    hints[dots] = (1, 0, 0, 1)
    hints[5:9, 5:9] = (0, 0, 1, 1)  # one larger dab: its region's colour is the larger one
    tracemalloc.start()
    try:
        regions = hinted_regions(seg, hints)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, f"{peak / 2**20:.0f} MB for {int(dots.sum())} dabs over {seg.count} regions"
    assert set(regions) == set(np.unique(seg.labels[hints[..., 3] > 0]).tolist())
    np.testing.assert_allclose(regions[int(seg.labels[6, 6])], (0, 0, 1))
    np.testing.assert_allclose(regions[int(seg.labels[100, 100])], (1, 0, 0))


def segment_of(labels: np.ndarray, lines: np.ndarray) -> Segmentation:
    """A Segmentation of given labels, numbered 0.. without holes."""
    return Segmentation(np.unique(labels, return_inverse=True)[1].reshape(labels.shape).astype(np.int32), lines)


def test_the_two_passes_give_the_same_regions_side_by_side_or_one_after_the_other(monkeypatch):
    import swishpaint.regions.segment as segment_module

    sketch = drawn(gap=8)
    side_by_side = segment(sketch)
    monkeypatch.setattr(segment_module, "SIDE_BY_SIDE_PIXELS", 0)  # as a sketch too large to run both at once
    np.testing.assert_array_equal(segment(sketch).labels, side_by_side.labels)


def test_every_region_is_one_connected_piece():
    from scipy import ndimage

    from swishpaint.regions.segment import connected_pieces

    for sketch in (drawn(gap=8), narrow_part(), drawn(150)):
        seg = segment(sketch)
        assert all(ndimage.label(seg.labels == r)[1] == 1 for r in range(seg.count))
    # the pieces of a label map: a U cut by a bar is three pieces, though two carry one label
    labels = np.zeros((6, 6), np.int32)
    labels[2:4, :] = 1
    pieces = connected_pieces(labels)
    assert len(np.unique(pieces)) == 3 and pieces[0, 0] != pieces[5, 0] and pieces.min() == 1


def _segment_count(sketch):
    return segment(sketch).count


def test_segmentation_works_in_a_forked_worker_after_the_parent_used_it():
    import multiprocessing

    sketch = drawn(gap=8)
    expected = segment(sketch).count  # the parent's side-by-side pass has run
    with multiprocessing.get_context("fork").Pool(1) as pool:  # as DataLoader workers start on Linux
        assert pool.apply_async(_segment_count, (sketch,)).get(timeout=60) == expected
