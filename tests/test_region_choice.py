"""The region chooser: with hints, which colour each undabbed region takes (regions.choice)."""

from __future__ import annotations

import numpy as np
import pytest

from swishpaint.cli import main
from swishpaint.inference.colorizer import Colorizer
from swishpaint.models.registry import CHOOSER_FILE, save_model
from swishpaint.regions.choice import (OPTION_FEATURES, REGION_FEATURES, RegionChooser,
                                       RegionChooserError, feature_count, option_count)
from swishpaint.training.region_choice import ChooserFitConfig, RegionExamples, fit_region_chooser

from .conftest import TINY_CANDIDATES
from .test_regions import POINTS, drawn

K = TINY_CANDIDATES
LARGER_HINTED = REGION_FEATURES.index("larger_hinted_share")
LIGHTNESS = len(REGION_FEATURES) + OPTION_FEATURES.index("lightness")


def synthetic_examples(n: int, seed: int) -> RegionExamples:
    """Regions where white is right when most larger regions were dabbed, candidate 1 otherwise."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, option_count(K), feature_count(K))).astype(np.float32)
    skipped = rng.random(n) > 0.5
    features[:, :, LARGER_HINTED] = np.where(skipped, 0.9, 0.1)[:, None]
    features[:, :, len(REGION_FEATURES) + len(OPTION_FEATURES):] = np.eye(option_count(K))  # which option
    errors = np.ones((n, option_count(K)), np.float32)
    errors[skipped, K] = 0  # white
    errors[~skipped, 0] = 0  # candidate 1
    return RegionExamples(features, errors, rng.uniform(1e-4, 1e-2, n).astype(np.float32))  # shares of the image


def test_the_fitted_chooser_picks_the_option_the_features_point_to():
    train, test = synthetic_examples(2000, 0), synthetic_examples(500, 1)
    chooser = fit_region_chooser(train, K, ChooserFitConfig(epochs=15, batch=256))
    picks = chooser.scores(test.features).argmax(1)
    assert test.mean_error(picks) < 0.05 < test.mean_error(np.zeros(len(test), int))


def test_one_huge_region_does_not_outweigh_many_small_ones():
    """Half an image of background must not decide the fit for 200 small regions that look the same to
    the features: each region weighs at most max_area_share of its image."""
    rng = np.random.default_rng(0)
    n = 201
    features = np.zeros((n, option_count(K), feature_count(K)), np.float32)
    features[:, :, len(REGION_FEATURES) + len(OPTION_FEATURES):] = np.eye(option_count(K))
    features[:, :, 0] = rng.normal(size=(n, 1)) * 1e-3  # indistinguishable regions
    errors = np.ones((n, option_count(K)), np.float32)
    errors[0, K] = 0  # the background: white is right
    errors[1:, 0] = 0  # the small regions: candidate 1 is right
    areas = np.r_[0.5, np.full(n - 1, 1e-3)].astype(np.float32)  # 0.5 against 200 x 0.001 = 0.2
    examples = RegionExamples(features, errors, areas)
    picks = {cap: fit_region_chooser(examples, K, ChooserFitConfig(epochs=60, batch=256, max_area_share=cap))
             .scores(features).argmax(1) for cap in (1.0, 0.02)}
    assert (picks[1.0] == K).all()  # uncapped, the background's half image wins every region
    assert (picks[0.02] == 0).all()  # capped, the 200 small regions do


def test_a_saved_chooser_reads_back_and_unusable_files_fail_with_their_name(tmp_path):
    chooser = fit_region_chooser(synthetic_examples(300, 0), K, ChooserFitConfig(epochs=1))
    path = tmp_path / CHOOSER_FILE
    chooser.save(path)
    again = RegionChooser.load(path)
    features = synthetic_examples(20, 2).features
    np.testing.assert_allclose(again.scores(features), chooser.scores(features), rtol=1e-6)
    assert again.candidates == K
    (tmp_path / "bad").write_bytes(b"not safetensors")
    with pytest.raises(RegionChooserError, match="bad: cannot read"):
        RegionChooser.load(tmp_path / "bad")
    short = RegionChooser({k: v for k, v in chooser.weights.items() if k != "w3"}, K)
    short.save(tmp_path / "short")
    with pytest.raises(RegionChooserError, match="short: not a region chooser .*w3"):
        RegionChooser.load(tmp_path / "short")


def lightest_option_chooser() -> RegionChooser:
    """A hand-set chooser whose score is the option's lightness: it always picks paper white."""
    f = feature_count(K)
    w1 = np.zeros((1, f), np.float32)
    w1[0, LIGHTNESS] = 1
    one = np.ones((1, 1), np.float32)
    return RegionChooser({"mean": np.zeros(f, np.float32), "std": np.ones(f, np.float32), "w1": w1,
                          "b1": np.zeros(1, np.float32), "w2": one, "b2": np.zeros(1, np.float32), "w3": one,
                          "b3": np.zeros(1, np.float32)}, K)


def test_with_hints_the_chooser_decides_the_undabbed_regions_of_candidate_1_only(tiny_model):
    sketch = (drawn() * 255).astype(np.uint8)
    hints = np.zeros(sketch.shape + (4,), np.uint8)
    y, x = POINTS["left"]
    hints[y - 2:y + 3, x - 2:x + 3] = (200, 30, 30, 255)
    plain = Colorizer(tiny_model, working_size=256)
    chosen = Colorizer(tiny_model, working_size=256, region_chooser=lightest_option_chooser())
    with_chooser = chosen.colorize_regions(sketch, hints=hints, candidates=K)
    without = plain.colorize_regions(sketch, hints=hints, candidates=K)
    seg = with_chooser.segmentation
    first, reference = with_chooser.flats(0), without.flats(0)
    left, right, corner = (seg.labels[POINTS[n]] for n in ("left", "right", "corner"))
    np.testing.assert_allclose(first.colours[left], np.array((200, 30, 30)) / 255, atol=1 / 255)
    assert (first.colours[[right, corner]] == 1).all() and not (reference.colours[[right, corner]] == 1).all()
    np.testing.assert_array_equal(with_chooser.flats(1).colours, without.flats(1).colours)  # others: the network's
    automatic = chosen.colorize_regions(sketch)  # no hints: nothing to read, the network decides
    np.testing.assert_array_equal(automatic.flats(0).colours, plain.colorize_regions(sketch).flats(0).colours)


def test_fit_regions_writes_a_chooser_the_model_folder_then_uses_and_keeps_it(model_dir, color_dir, capsys):
    assert main(["fit-regions", "--model", str(model_dir), "--data", str(color_dir), "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert "unhinted regions of 3 images" in out and "user-like:20" in out and "patches:40" in out
    path = model_dir / CHOOSER_FILE
    assert Colorizer.load(model_dir).region_chooser is not None
    before = path.read_bytes()
    assert main(["fit-regions", "--model", str(model_dir), "--data", str(color_dir)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: exists; pass --overwrite" in err and "Traceback" not in err
    assert path.read_bytes() == before
    save_model(Colorizer.load(model_dir).model, model_dir)  # new weights: the old chooser no longer fits them
    assert not path.exists() and Colorizer.load(model_dir).region_chooser is None


def test_fit_regions_refuses_an_unwritable_destination_before_colouring_anything(model_dir, color_dir, tmp_path,
                                                                                  capsys):
    (tmp_path / "file").write_text("not a folder")
    assert main(["fit-regions", "--model", str(model_dir), "--data", str(color_dir),
                 "--out", str(tmp_path / "file" / CHOOSER_FILE)]) == 2
    err = capsys.readouterr()
    assert "output folder is a file" in err.err and "fit-regions" not in err.err  # no progress bar: nothing ran
    for own in (model_dir / "model.safetensors", model_dir / "config.yaml", next(color_dir.rglob("*.png"))):
        before = own.read_bytes()  # the model's own files and the images it fits on are inputs
        assert main(["fit-regions", "--model", str(model_dir), "--data", str(color_dir), "--out", str(own),
                     "--overwrite"]) == 2
        assert f"{own}: is one of the inputs" in capsys.readouterr().err and own.read_bytes() == before


def test_fit_regions_with_a_missing_model_fails_in_one_line_and_makes_no_folder(color_dir, tmp_path, capsys):
    missing = tmp_path / "no-such-model"
    assert main(["fit-regions", "--model", str(missing), "--data", str(color_dir)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(missing) in err and "Traceback" not in err
    assert not missing.exists()  # a folder made here would later be taken for a model


def test_a_model_folder_with_a_broken_chooser_fails_in_one_line(model_dir, tmp_path, capsys):
    (model_dir / CHOOSER_FILE).write_bytes(b"\x00" * 10)
    from tests.conftest import drawing, sketch_of
    sketch_of(drawing(0)).save(tmp_path / "s.png")
    assert main(["colorize", str(tmp_path / "s.png"), "--model", str(model_dir), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert CHOOSER_FILE in err and "cannot read the region chooser" in err and len(err.splitlines()) == 1
    assert Colorizer.load(model_dir, region_chooser=None).region_chooser is None  # asked for none: the file is not read


def test_a_chooser_fitted_on_other_regions_is_refused_in_one_line(model_dir, tmp_path, capsys):
    import dataclasses

    from swishpaint.regions.segment import SegmentConfig

    chooser = lightest_option_chooser()
    chooser.save(model_dir / CHOOSER_FILE)
    assert RegionChooser.load(model_dir / CHOOSER_FILE).segmentation == repr(SegmentConfig())
    assert Colorizer.load(model_dir).region_chooser is not None  # fitted on today's regions: used
    # a person's line threshold changes the ink level, not what the chooser's features describe
    assert Colorizer.load(model_dir, line_threshold=0.08).region_chooser is not None
    assert Colorizer.load(model_dir).with_line_threshold(0.3).region_chooser is not None
    one_pass = repr(SegmentConfig(fine_balls=None))
    dataclasses.replace(chooser, segmentation=one_pass).save(model_dir / CHOOSER_FILE)
    from tests.conftest import drawing, sketch_of
    sketch_of(drawing(0)).save(tmp_path / "s.png")
    assert main(["colorize", str(tmp_path / "s.png"), "--model", str(model_dir), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "fitted on other regions" in err and "fit-regions" in err
    assert not (tmp_path / "o").exists()
