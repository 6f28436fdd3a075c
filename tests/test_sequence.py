"""Colouring an animation from a keyframe: region matching, chaining, palettes, the CLI and the benchmark."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from swishpaint.cli import main
from swishpaint.experiments.sequences import Frame, accuracy, evaluate_sequences
from swishpaint.inference.colorizer import Colorizer
from swishpaint.inference.palette import read_palette, write_palette
from swishpaint.regions.flats import region_medians
from swishpaint.regions.matching import ColouredRegions, match_regions, max_overlap
from swishpaint.regions.segment import segment

from .conftest import png_declaring


SIZE = 192
PARTS = [  # (kind, centre (x, y) in the pose at t=0, size, colour): a head, an eye, a body, a hand
    ("circle", (96, 60), 34, (230, 200, 170)),
    ("circle", (108, 56), 8, (40, 120, 40)),
    ("rect", (96, 130), (40, 36), (40, 80, 200)),
    ("circle", (150, 120), 12, (220, 60, 60)),
]


def pose(t: float, extra: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A tiny animated character at time t: it walks right and the hand swings further. Returns the
    colour render (H, W, 3) in [0, 1] on white and its line art (H, W) in [0, 1]."""
    colour = np.full((SIZE, SIZE, 3), 255, np.uint8)
    lines = np.full((SIZE, SIZE), 255, np.uint8)
    walk = int(round(14 * t))
    parts = PARTS + ([("rect", (30, 160), (12, 12), (250, 200, 0))] if extra else [])
    for i, (kind, (x, y), size, rgb) in enumerate(parts):
        x += walk + (int(round(12 * t)) if i == 3 else 0)
        for img, fill, edge in ((colour, rgb, (0, 0, 0)), (lines, 255, 0)):
            if kind == "circle":
                cv2.circle(img, (x, y), size, fill, -1)
                cv2.circle(img, (x, y), size, edge, 2)
            else:
                w, h = size
                cv2.rectangle(img, (x - w, y - h), (x + w, y + h), fill, -1)
                cv2.rectangle(img, (x - w, y - h), (x + w, y + h), edge, 2)
    return colour.astype(np.float32) / 255, lines.astype(np.float32) / 255


def frame(t: float, extra: bool = False) -> Frame:
    colour, lines = pose(t, extra)
    seg = segment(lines)
    return Frame(colour, lines, seg, region_medians(seg.labels, colour, seg.count, where=~seg.lines))


def assert_all_right(scores: tuple[float, float, float]) -> None:
    """Every region and pixel right; against the render, all but a few anti-aliased edge pixels."""
    region, pixel, render = scores
    assert region == pixel == 1.0 and render > 0.999


def test_render_pixel_accuracy_counts_shading_that_the_flat_truth_per_region_hides():
    shaded = frame(0)
    truth = shaded.truth.copy()
    body = shaded.segmentation.labels == shaded.segmentation.labels[130, 96]
    truth[body & (np.arange(SIZE)[:, None] > 130)] *= 0.6  # a shadow over the lower half of the body
    shaded = Frame(truth, shaded.sketch, shaded.segmentation, shaded.colours)  # dominant colours unchanged
    region, pixel, render = accuracy(shaded, shaded.colours)
    assert region == pixel == 1.0 and 0.5 < render < 0.95


def test_matching_follows_a_moving_character_where_max_overlap_fails():
    key, target = frame(0), frame(1)
    matched = match_regions(key.key(), target.segmentation.labels)
    assert len(matched.unmatched) == 0
    assert_all_right(accuracy(target, matched.colours))
    region, _, _ = accuracy(target, max_overlap(key.key(), target.segmentation.labels))
    assert region < 1.0  # the hand swung off its old place: in-place overlap gives it the wrong colour


def test_a_new_part_is_unmatched_and_the_network_colours_it(model_dir):
    key, target = frame(0), frame(0.5, extra=True)
    colouring = Colorizer.load(model_dir).colorize_sequence([target.sketch], reference=key.truth,
                                                            reference_sketch=key.sketch)[0]
    new = target.segmentation.labels[160, 30 + 7]
    assert list(colouring.unmatched) == [new]
    assert colouring.unmatched_centres()[0] == pytest.approx((37, 160), abs=2)
    others = np.ones(target.segmentation.count, bool)
    others[new] = False
    right = np.abs(colouring.colours - target.colours).max(1) < 0.05
    assert right[others].all()


def test_chained_frames_keep_the_keys_colours(model_dir):
    key = frame(0)
    frames = [pose(t)[1] for t in (0.5, 1.0, 1.5, 2.0)]
    colourings = Colorizer.load(model_dir).colorize_sequence(frames, palette=key.key())
    for t, colouring in zip((0.5, 1.0, 1.5, 2.0), colourings):
        assert_all_right(accuracy(frame(t), colouring.colours))
        image = colouring.image()
        assert image.shape == (SIZE, SIZE, 3) and image[frame(t).sketch < 0.2].max() < 60  # lines kept


@pytest.mark.parametrize("form", ["path", "pil", "uint8", "float"])
def test_the_keyframe_may_be_any_image_the_api_takes(model_dir, tmp_path, form):
    key_colour, _ = pose(0)
    as_uint8 = (key_colour * 255).round().astype(np.uint8)
    Image.fromarray(as_uint8).save(tmp_path / "key.png")
    reference = {"path": tmp_path / "key.png", "pil": Image.open(tmp_path / "key.png"), "uint8": as_uint8,
                 "float": as_uint8 / np.float32(255)}[form]
    colouring, = Colorizer.load(model_dir).colorize_sequence(pose(0.5)[1], reference=reference)  # one frame alone
    assert_all_right(accuracy(frame(0.5), colouring.colours))


def test_sequence_api_arguments_are_checked_in_words(model_dir, tmp_path):
    from swishpaint.errors import InvalidArgument

    colorizer = Colorizer.load(model_dir)
    with pytest.raises(InvalidArgument, match="give a reference keyframe or a palette$"):
        colorizer.colorize_sequence([pose(0.5)[1]])
    with pytest.raises(InvalidArgument, match="not both"):
        colorizer.colorize_sequence([pose(0.5)[1]], reference=pose(0)[0], palette=frame(0).key())
    write_palette(tmp_path / "p.json", frame(0).key())  # a palette file's path works as well as its contents
    colouring, = colorizer.colorize_sequence([pose(0.5)[1]], palette=tmp_path / "p.json")
    assert_all_right(accuracy(frame(0.5), colouring.colours))
    with pytest.raises(InvalidArgument, match="^palette must be a palette file or ColouredRegions, got dict$"):
        colorizer.colorize_sequence([pose(0.5)[1]], palette={"regions": []})
    with pytest.raises(InvalidArgument, match="^frames must be a list of images, got NoneType$"):
        colorizer.colorize_sequence(None, reference=pose(0)[0])


def test_a_bad_frame_is_named_by_its_number_and_a_grey_keyframe_is_noted(model_dir):
    from swishpaint.errors import InvalidArgument
    from swishpaint.inference.sequence import GREY_KEY

    colorizer = Colorizer.load(model_dir)
    frames = [pose(0.5)[1], pose(1.0)[1], b"not an image"]
    with pytest.raises(InvalidArgument, match=r"^frame 3: <upload>: "):
        colorizer.colorize_sequence(frames, reference=pose(0)[0])
    with pytest.raises(InvalidArgument, match=r"^frame 2: image contains NaN"):
        colorizer.colorize_sequence([pose(0.5)[1], np.full((8, 8), np.nan)], reference=pose(0)[0])
    notes: list[str] = []
    colorizer.colorize_sequence([pose(0.5)[1]], reference=pose(0)[0], warnings=notes)
    assert notes == []  # a coloured key
    colouring, = colorizer.colorize_sequence([pose(0.5)[1]], reference=pose(0)[1], warnings=notes)  # its lines
    assert notes == [GREY_KEY] and np.ptp(colouring.colours, axis=1).max() < 0.01  # grey, and said so


def test_palette_round_trips_and_bad_palettes_are_one_line_errors(tmp_path, capsys):
    key = frame(0).key()
    write_palette(tmp_path / "p.json", key)
    back = read_palette(tmp_path / "p.json")
    assert (back.labels == key.labels).all()
    assert np.abs(back.colours - key.colours).max() <= 0.5 / 255 + 1e-6
    spec = json.loads((tmp_path / "p.json").read_text())
    assert spec["version"] == 1 and len(spec["colours"]) == key.count and spec["colours"][0]["rgb"].startswith("#")
    spec["colours"] = spec["colours"][:1]
    (tmp_path / "short.json").write_text(json.dumps(spec))
    (tmp_path / "sketch.png").write_bytes(b"")
    assert main(["colorize", str(tmp_path / "sketch.png"), "-o", str(tmp_path / "o"),
                 "--palette", str(tmp_path / "short.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"swishpaint: error: {tmp_path / 'short.json'}: ") and err.count("\n") == 1
    assert f'has {key.count} regions but "colours" has 1 entries' in err


def _png_url_declaring(width: int, height: int) -> str:
    """A PNG data URL whose header declares width x height (a decompression bomb, with no pixels)."""
    import base64

    return "data:image/png;base64," + base64.b64encode(png_declaring(width, height)).decode()


@pytest.mark.parametrize("edit,message", [
    (lambda spec: spec.pop("labels"), 'missing "labels"'),
    (lambda spec: spec["colours"][2].pop("rgb"), 'colour 2 has no "rgb"'),
    (lambda spec: spec["colours"][1].update(rgb="#gg0000"), "colour 1: '#gg0000' is not #rrggbb"),
    (lambda spec: spec["colours"][0].update(rgb="green"), "colour 0: 'green' is not #rrggbb"),
    (lambda spec: spec.update(labels="a picture"), '"labels" is not a PNG data URL'),
    (lambda spec: spec.update(colours={"rgb": "#000000"}), '"colours" must be a list'),
    (lambda spec: spec["colours"].append({"rgb": "#000000"}), 'the label map has 7 regions but "colours" has 8'),
    (lambda spec: spec.update(labels=_png_url_declaring(100_000, 100_000)), '"labels" cannot be read'),
])
def test_a_hand_edited_palette_gone_wrong_says_what_to_fix(tmp_path, edit, message):
    from swishpaint.inference.palette import PaletteError

    write_palette(tmp_path / "p.json", frame(0).key())
    spec = json.loads((tmp_path / "p.json").read_text())
    edit(spec)
    (tmp_path / "p.json").write_text(json.dumps(spec))
    with pytest.raises(PaletteError) as e:
        read_palette(tmp_path / "p.json")
    assert str(e.value).startswith(f"{tmp_path / 'p.json'}: {message}")


def test_cli_colours_frames_from_a_key_saves_and_applies_its_palette(tmp_path, model_dir):
    key_colour, key_lines = pose(0)
    Image.fromarray((key_colour * 255).astype(np.uint8)).save(tmp_path / "key.png")
    Image.fromarray((key_lines * 255).astype(np.uint8)).save(tmp_path / "key_sketch.png")
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, t in enumerate((0.5, 1.0)):
        Image.fromarray((pose(t)[1] * 255).astype(np.uint8)).save(frames / f"f{i}.png")
    out = tmp_path / "out"
    assert main(["colorize", str(frames), "-o", str(out), "--model", str(model_dir), "--reference",
                 str(tmp_path / "key.png"), "--reference-sketch", str(tmp_path / "key_sketch.png"),
                 "--palette-out", str(tmp_path / "palette.json"), "--layers", "ora"]) == 0
    assert {p.name for p in out.iterdir()} == {f"f{i}{s}" for i in (0, 1) for s in (".png", ".ora", ".labels.png")}
    coloured = np.asarray(Image.open(out / "f1.png"), np.float32) / 255
    target = frame(1.0)
    medians = region_medians(target.segmentation.labels, coloured, target.segmentation.count,
                             where=~target.segmentation.lines)
    assert_all_right(accuracy(target, medians))
    again = tmp_path / "again"
    assert main(["colorize", str(frames / "f1.png"), "-o", str(again), "--model", str(model_dir),
                 "--palette", str(tmp_path / "palette.json")]) == 0
    assert (np.asarray(Image.open(again / "f1.png")) == np.asarray(Image.open(out / "f1.png"))).all()


def test_sequence_options_are_checked(tmp_path, capsys):
    assert main(["colorize", "x.png", "-o", str(tmp_path / "o"), "--palette-out", "p.json"]) == 2
    assert main(["colorize", "x.png", "-o", str(tmp_path / "o"), "--reference", str(tmp_path / "none.png")]) == 2
    assert main(["colorize", "x.png", "-o", str(tmp_path / "o"), "--reference", "k.png", "-k", "2"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(line.startswith("swishpaint: error: ") for line in err)


def test_sequence_benchmark_scores_every_row(tmp_path, model_dir):
    folder = tmp_path / "walker" / "seq_00"
    folder.mkdir(parents=True)
    for i in range(12):
        Image.fromarray((pose(i / 6)[0] * 255).astype(np.uint8)).save(folder / f"frame_{i:03d}.png")
    report = evaluate_sequences(tmp_path, str(model_dir))
    table = report.table()
    assert set(table) == {"keyframe matching", "chained through the frames between", "max-overlap (no alignment)",
                          "independent (model, automatic)"}
    assert table["keyframe matching"]["next"]["pairs"] == 11 and table["keyframe matching"]["10 apart"]["pairs"] == 2
    assert table["keyframe matching"]["next"]["region_accuracy"] >= 0.9
    assert table["keyframe matching"]["10 apart"]["pixel_accuracy"] > table["max-overlap (no alignment)"]["10 apart"]["pixel_accuracy"]


def test_a_sequence_with_an_unreadable_frame_is_left_out_and_the_others_scored(tmp_path, model_dir, capsys):
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        for i in range(3):
            Image.fromarray((pose(i / 6)[0] * 255).astype(np.uint8)).save(folder / f"frame_{i:03d}.png")
    (tmp_path / "a" / "frame_001.png").write_bytes(b"")
    report = tmp_path / "r.json"
    assert main(["evaluate", "--sequences", str(tmp_path), "--model", str(model_dir), "--json", str(report)]) == 1
    out, err = capsys.readouterr()
    assert err.strip() == f"swishpaint: error: {tmp_path / 'a' / 'frame_001.png'}: empty file (sequence left out)"
    saved = json.loads(report.read_text())
    assert saved["sequences"] == [str(tmp_path / "b")] and len(saved["left_out"]) == 1
    assert saved["table"]["keyframe matching"]["next"]["pairs"] == 2 and "1 sequence;" in out
    for i in range(3):  # `data pack` stores frames as WEBP: the packed corpus is scored as it is
        Image.open(tmp_path / "b" / f"frame_{i:03d}.png").save(tmp_path / "b" / f"frame_{i:03d}.webp", lossless=True)
        (tmp_path / "b" / f"frame_{i:03d}.png").unlink()
    assert main(["evaluate", "--sequences", str(tmp_path / "b"), "--model", str(model_dir)]) == 0
    assert "1 sequence; pairs: next 2" in capsys.readouterr().out
    (tmp_path / "b" / "frame_000.webp").write_bytes(b"")
    assert main(["evaluate", "--sequences", str(tmp_path), "--model", str(model_dir)]) == 2
    assert capsys.readouterr().err.endswith(f"swishpaint: error: {tmp_path}: none of its 2 sequence(s) could be read\n")


def test_the_coloured_key_among_the_frames_is_not_coloured_as_a_frame(tmp_path, model_dir, capsys):
    cut = tmp_path / "cut"
    cut.mkdir()
    Image.fromarray((pose(0)[0] * 255).astype(np.uint8)).save(cut / "a_key.png")
    Image.fromarray((pose(0)[1] * 255).astype(np.uint8)).save(cut / "a_key_lines.png")
    for i, t in enumerate((0.5, 1.0)):
        Image.fromarray((pose(t)[1] * 255).astype(np.uint8)).save(cut / f"f{i}.png")
    out = tmp_path / "out"
    assert main(["colorize", str(cut), "-o", str(out), "--model", str(model_dir), "--reference", str(cut / "a_key.png"),
                 "--reference-sketch", str(cut / "a_key_lines.png")]) == 0
    captured = capsys.readouterr()
    assert captured.err == f"swishpaint: note: left out the keyframe {cut / 'a_key.png'} found among the frames\n"
    # the key's line art is a frame's sketch like any other (often the cut's first): coloured
    assert "colourised 3 of 3" in captured.out
    assert sorted(p.name for p in out.iterdir()) == ["a_key_lines.png", "f0.png", "f1.png"]
    assert main(["colorize", str(cut / "a_key.png"), "-o", str(tmp_path / "o1"), "--model", str(model_dir),
                 "--reference", str(cut / "a_key.png")]) == 2
    assert capsys.readouterr().err.endswith("swishpaint: error: no frames to colour besides the keyframe\n")
    Image.fromarray((pose(0)[1] * 255).astype(np.uint8)).resize((100, 90)).save(cut / "a_key_lines.png")
    assert main(["colorize", str(cut / "f0.png"), "-o", str(tmp_path / "o2"), "--model", str(model_dir),
                 "--reference", str(cut / "a_key.png"), "--reference-sketch", str(cut / "a_key_lines.png")]) == 2
    assert capsys.readouterr().err == (f"swishpaint: error: the reference sketch {cut / 'a_key_lines.png'} is 100x90, "
                                       f"the reference {cut / 'a_key.png'} 192x192: they must be the same size\n")


def test_a_palette_nested_too_deep_is_one_line(tmp_path, model_dir, capsys):
    palette = tmp_path / "deep.json"
    palette.write_text("[" * 100000 + "]" * 100000)
    frame = tmp_path / "f.png"
    Image.fromarray((pose(0.5)[1] * 255).astype(np.uint8)).save(frame)
    assert main(["colorize", str(frame), "-o", str(tmp_path / "out"), "--model", str(model_dir),
                 "--palette", str(palette)]) == 2
    assert capsys.readouterr().err == f"swishpaint: error: {palette}: not a palette (JSON nested too deep)\n"


def test_sequences_too_short_to_pair_are_refused_in_one_line(tmp_path, capsys):
    """Single-frame sequences make no pair: refused before the model loads, not scored as an empty table."""
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        Image.fromarray((pose(0)[0] * 255).astype(np.uint8)).save(tmp_path / name / "frame_000.png")
    assert main(["evaluate", "--sequences", str(tmp_path), "--model", str(tmp_path / "no-model")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == (f"swishpaint: error: {tmp_path}: no sequence has 2 or more frames to pair "
                                 f'(frames a pair needs: "next" 2, "10 apart" 11)\n')
    assert main(["evaluate", "--sequences", str(tmp_path / "a" / "frame_000.png")]) == 2
    assert capsys.readouterr().err == f"swishpaint: error: {tmp_path / 'a' / 'frame_000.png'}: not a folder\n"
    assert main(["evaluate", "--sequences", str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err == f"swishpaint: error: {tmp_path / 'none'}: no such folder\n"


def test_sequence_table_counts_one_sequence_in_the_singular():
    from swishpaint.experiments.sequences import SequenceReport, format_sequence_table

    report = SequenceReport(["walker/seq_00"])
    report.add("keyframe matching", "next", (1.0, 1.0, 0.5))
    assert "\n1 sequence; pairs: next 1\n" in format_sequence_table(report)
    report.sequences.append("walker/seq_01")
    assert "\n2 sequences; pairs: next 1\n" in format_sequence_table(report)


def write_cut(folder: Path, frames: dict[str, float | bytes]) -> Path:
    """folder/key.png (pose 0, coloured) and folder/frames/<name>: pose t's line art, or raw bytes."""
    Image.fromarray((pose(0)[0] * 255).astype(np.uint8)).save(folder / "key.png")
    (folder / "frames").mkdir()
    for name, t in frames.items():
        if isinstance(t, bytes):
            (folder / "frames" / name).write_bytes(t)
        else:
            Image.fromarray((pose(t)[1] * 255).astype(np.uint8)).save(folder / "frames" / name)
    return folder / "frames"


def test_palette_out_never_replaces_the_key_a_frame_or_an_earlier_palette(tmp_path, model_dir, capsys):
    frames = write_cut(tmp_path, {"f0.png": 0.5})
    (tmp_path / "palette.json").write_text("an earlier palette")
    before = {p: p.read_bytes() for p in (tmp_path / "key.png", frames / "f0.png", tmp_path / "palette.json")}
    for target, flags, problem in ((tmp_path / "key.png", ["--overwrite"], "is one of the inputs"),
                                   (frames / "f0.png", ["--overwrite"], "is one of the inputs"),
                                   (tmp_path / "palette.json", [], "exists; pass --overwrite"),
                                   (frames, [], "is a folder"),
                                   (tmp_path / "out" / "f0.png", ["--overwrite"], "is also a frame's output")):
        assert main(["colorize", str(frames), "-o", str(tmp_path / "out"), "--model", str(model_dir),
                     "--reference", str(tmp_path / "key.png"), "--palette-out", str(target), *flags]) == 2
        err = capsys.readouterr().err
        assert err == f"swishpaint: error: {target}: {problem}" + err.split(problem, 1)[1] and err.count("\n") == 1
    assert all(p.read_bytes() == b for p, b in before.items()) and not (tmp_path / "out").exists()


def test_a_bad_frame_fails_alone_and_the_next_follows_the_last_good_one(tmp_path, model_dir, capsys):
    frames = write_cut(tmp_path, {"f0.png": 0.5, "f1.png": b"not a png", "f2.png": 1.0})
    out = tmp_path / "out"
    assert main(["colorize", str(frames), "-o", str(out), "--model", str(model_dir),
                 "--reference", str(tmp_path / "key.png")]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "f1.png" in captured.err and "colourised 2 of 3" in captured.out
    target = frame(1.0)
    coloured = np.asarray(Image.open(out / "f2.png"), np.float32) / 255
    medians = region_medians(target.segmentation.labels, coloured, target.segmentation.count,
                             where=~target.segmentation.lines)
    assert_all_right(accuracy(target, medians))


def test_flat_goes_with_a_reference_and_a_long_list_of_unmatched_regions_says_it_is_cut(tmp_path, model_dir, capsys,
                                                                                      monkeypatch):
    frames = write_cut(tmp_path, {"f0.png": 0.5})
    from swishpaint.inference import sequence

    import dataclasses

    real = sequence.SequenceColourer.colour  # as if twelve regions had matched nothing
    monkeypatch.setattr(sequence.SequenceColourer, "colour",
                        lambda self, f: dataclasses.replace(real(self, f), unmatched=np.arange(12)))
    monkeypatch.setattr(sequence.FrameColouring, "unmatched_centres", lambda self: [(i, i) for i in range(12)])
    assert main(["colorize", str(frames), "-o", str(tmp_path / "out"), "--model", str(model_dir),
                 "--reference", str(tmp_path / "key.png"), "--flat"]) == 0
    note = capsys.readouterr().err
    assert "12 region(s) with no match" in note and "(7, 7), ..." in note and "(8, 8)" not in note
