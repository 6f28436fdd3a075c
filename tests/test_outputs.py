"""Lose nothing in batch output: clashing names, -o on the inputs, unusable output folders, write
failures mid-batch (a full disk) - with hashes showing no input or earlier output changed."""

from __future__ import annotations

import errno
import sys
import hashlib
import types
from pathlib import Path

import pytest
from PIL import Image

import swishpaint.files as files_module
from swishpaint.cli import main
from swishpaint.inference import batch

from .conftest import drawing, sketch_of


def hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def make_sketches(folder: Path, names_sizes: dict[str, int]) -> Path:
    for i, (name, size) in enumerate(names_sizes.items()):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        sketch_of(drawing(i, size)).convert("RGB").save(folder / name)
    return folder


def colorize(*args: str) -> int:
    return main(["colorize", *args])


def test_a_folder_run_reads_jfif_and_says_which_image_files_it_left_out(model_dir, tmp_path, capsys):
    """Windows saves JPEGs as .jfif; a TIFF or BMP in the folder is named, not passed over in silence."""
    src = make_sketches(tmp_path / "in", {"a.png": 40, "b.jfif": 40, "sub/c.tif": 40, "sub/d.bmp": 40,
                                          "sub/e.tiff": 40})
    assert colorize(str(src), "-o", str(tmp_path / "out"), "--model", str(model_dir)) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png"]
    err = capsys.readouterr().err
    assert err == (f"swishpaint: note: {src}: left out 1 .bmp, 1 .tif, 1 .tiff file(s): swishpaint reads PNG, JPEG "
                   "and WEBP (convert them to PNG)\n")


def test_a_sketch_in_a_subfolder_taking_a_top_level_hints_file_is_said(model_dir, tmp_path, capsys):
    src = make_sketches(tmp_path / "in", {"ch1/dog.png": 40, "ch2/dog.png": 40, "cat.png": 40})
    hints = tmp_path / "hints"
    for name in ("ch1/dog.png", "dog.png", "cat.png"):
        (hints / name).parent.mkdir(parents=True, exist_ok=True)
        dab = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
        dab.putpixel((20, 20), (200, 0, 0, 255))
        dab.save(hints / name)
    assert colorize(str(src), "-o", str(tmp_path / "out"), "--model", str(model_dir), "--hints", str(hints)) == 0
    assert capsys.readouterr().err.splitlines() == [
        f"swishpaint: warning: {src / 'ch2' / 'dog.png'}: hints from {hints / 'dog.png'} (no ch2/dog.png in {hints})"]


def test_output_folder_inside_the_input_folder_is_not_read_as_input(model_dir, tmp_path):
    src = make_sketches(tmp_path / "in", {"cat.png": 40})
    out = src / "coloured"
    make_sketches(out, {"old.png": 32})  # an earlier run's result
    assert colorize(str(src), "-o", str(out), "--model", str(model_dir)) == 0
    assert sorted(p.name for p in out.iterdir()) == ["cat.png", "old.png"]


def test_clashing_names_each_get_their_own_outputs(model_dir, tmp_path, capsys):
    src = make_sketches(tmp_path / "in", {"dog.png": 40, "dog.webp": 48, "sub/dog.png": 56})
    before = hashes(src)
    out = tmp_path / "out"
    assert colorize(str(src), "-o", str(out), "--model", str(model_dir)) == 0
    sizes = {p: Image.open(out / p).size for p in ("dog.png", "dog_webp.png", "sub/dog.png")}
    assert sizes == {"dog.png": (40, 40), "dog_webp.png": (48, 48), "sub/dog.png": (56, 56)}
    assert len(list(out.rglob("*.png"))) == 3
    assert "colourised 3 of 3" in capsys.readouterr().out
    assert hashes(src) == before


def test_a_png_input_keeps_its_name_whatever_sorts_first(tmp_path):
    src = make_sketches(tmp_path / "in", {"good.jpg": 40, "good.png": 44})  # good.jpg sorts first
    assert main(["lines", str(src), "-o", str(tmp_path / "out")]) == 0
    assert Image.open(tmp_path / "out" / "good.png").size == (44, 44)
    assert Image.open(tmp_path / "out" / "good_jpg.png").size == (40, 40)


def test_clashing_candidate_names_are_suffixed_too(model_dir, tmp_path):
    a = make_sketches(tmp_path / "a", {"dog.png": 40, "dog_c1.png": 44})
    b = make_sketches(tmp_path / "b", {"dog.png": 48})
    out = tmp_path / "out"
    assert colorize(str(a), str(b / "dog.png"), "-o", str(out), "--model", str(model_dir), "-k", "2") == 0
    assert Image.open(out / "dog.png").size == (40, 40) and Image.open(out / "dog_c1.png").size == (40, 40)
    assert Image.open(out / "dog_c1_png.png").size == (44, 44)  # dog_c1 is dog's first candidate
    assert Image.open(out / "dog_png.png").size == (48, 48)  # the second dog.png
    assert (out / "dog_png_c2.png").is_file() and (out / "dog_png_sheet.png").is_file()


def test_output_into_the_input_folder_never_overwrites_an_input(model_dir, tmp_path):
    src = make_sketches(tmp_path / "in", {"cat.png": 40, "owl.png": 44})
    before = hashes(src)
    assert colorize(str(src), "-o", str(src), "--model", str(model_dir)) == 0
    after = hashes(src)
    assert {k: after[k] for k in before} == before  # the sketches are untouched
    assert Image.open(src / "cat_png.png").size == (40, 40) and Image.open(src / "owl_png.png").size == (44, 44)
    # a second run leaves the first run's results out (they say so in their PNG text), and overwrites nothing
    before = hashes(src)
    assert colorize(str(src), "-o", str(src), "--model", str(model_dir)) == 1  # cat_png.png exists: refused
    assert hashes(src) == before
    assert colorize(str(src), "-o", str(src), "--model", str(model_dir), "--overwrite") == 0
    assert sorted(hashes(src)) == sorted(before)  # no result of a result (cat_png_png.png)
    assert {k: v for k, v in hashes(src).items() if k in ("cat.png", "owl.png")} == \
        {k: before[k] for k in ("cat.png", "owl.png")}


def test_earlier_results_in_a_scanned_folder_are_left_out_and_said_but_a_named_one_is_coloured(
        model_dir, tmp_path, capsys):
    from swishpaint.data.images import swishpaint_output

    src = make_sketches(tmp_path / "in", {"cat.png": 40})
    assert colorize(str(src), "-o", str(src / "done"), "--model", str(model_dir), "-k", "2", "--layers") == 0
    written = sorted(p.name for p in (src / "done").iterdir())
    assert written == ["cat.labels.png", "cat.png", "cat.psd", "cat_c1.png", "cat_c2.png", "cat_sheet.png"]
    assert all(swishpaint_output(src / "done" / n) == "result" for n in written if n.endswith(".png"))
    assert swishpaint_output(src / "cat.png") is None  # a sketch
    capsys.readouterr()

    out = tmp_path / "again"
    assert colorize(str(src / "done"), "-o", str(out), "--model", str(model_dir)) == 0
    err = capsys.readouterr().err
    assert err.strip() == (f"swishpaint: note: {src / 'done'}: left out 5 earlier swishpaint output(s) "
                           "(name a file to read it all the same)")
    assert not out.exists()  # nothing to colour, nothing written, no folder
    assert colorize(str(src / "done" / "cat.png"), "-o", str(out), "--model", str(model_dir)) == 0
    assert (out / "cat.png").is_file()  # named, it is coloured


def test_line_art_from_lines_is_coloured_but_not_extracted_again_on_a_re_run(model_dir, tmp_path, capsys):
    from swishpaint.data.images import swishpaint_output

    src = make_sketches(tmp_path / "in", {"cat.png": 40, "owl.png": 44})
    assert main(["lines", str(src), "-o", str(src)]) == 0  # the line art lands beside its pictures
    assert swishpaint_output(src / "cat_png.png") == "lines"
    before = hashes(src)
    assert main(["lines", str(src), "-o", str(src), "--overwrite"]) == 0  # not cat_png_png.png
    assert sorted(hashes(src)) == sorted(before) and "left out 2 earlier" in capsys.readouterr().err
    out = tmp_path / "out"
    assert colorize(str(src), "-o", str(out), "--model", str(model_dir)) == 0  # line art is what colorize takes
    assert sorted(p.name for p in out.iterdir()) == ["cat.png", "cat_png.png", "owl.png", "owl_png.png"]


@pytest.mark.parametrize("case", ["file", "under_file", "read_only"])
def test_unusable_output_folder_fails_in_one_line_before_the_model_loads(tmp_path, capsys, monkeypatch, case):
    src = make_sketches(tmp_path / "in", {"cat.png": 40})
    (tmp_path / "taken").write_text("an existing file")
    out = {"file": tmp_path / "taken", "under_file": tmp_path / "taken" / "out", "read_only": tmp_path / "ro"}[case]
    if case == "read_only":  # as on a read-only mount (root ignores chmod, so the failure is injected)
        def refuse(*args, **kwargs):
            raise OSError(errno.EROFS, "Read-only file system")
        monkeypatch.setattr(files_module, "tempfile", types.SimpleNamespace(mkstemp=refuse))
    # a model that does not exist: the output check must come first
    code = colorize(str(src), "-o", str(out), "--model", str(tmp_path / "no-model"))
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    expected = {"file": "output folder is a file", "under_file": "which is a file",
                "read_only": "Read-only file system"}[case]
    assert err.startswith(f"swishpaint: error: {out}: ") and expected in err
    assert (tmp_path / "taken").read_text() == "an existing file"


def test_full_disk_mid_batch_loses_no_set_and_goes_on(model_dir, tmp_path, capsys, monkeypatch):
    src = make_sketches(tmp_path / "in", {"a.png": 40, "b.png": 44, "c.png": 48})
    out = tmp_path / "out"
    out.mkdir()
    (out / "b.png").write_bytes(b"an earlier run's result")  # must survive the failed write
    before_in, before_out = hashes(src), hashes(out)
    save = Image.Image.save

    def full_disk(self, fp, *args, **kwargs):
        if ".b_c2.png." in str(fp):  # b's second candidate: the disk fills up
            Path(fp).write_bytes(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", full_disk)
    code = colorize(str(src), "-o", str(out), "--model", str(model_dir), "-k", "3", "--overwrite")
    captured = capsys.readouterr()
    assert code == 1 and "Traceback" not in captured.err
    assert captured.err.strip() == f"swishpaint: error: {out / 'b_c2.png'}: cannot write (No space left on device)"
    assert "colourised 2 of 3 input(s)" in captured.out and "1 failed" in captured.out
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["b.png"] + [f"{s}{x}.png" for s in "ac" for x in ("", "_c1", "_c2", "_c3", "_sheet")])
    assert hashes(out)["b.png"] == before_out["b.png"] and hashes(src) == before_in


def test_write_failure_on_one_file_reports_it_and_processes_the_rest(model_dir, tmp_path, capsys, monkeypatch):
    src = make_sketches(tmp_path / "in", {"a.png": 40, "b.png": 44})
    out = tmp_path / "out"
    save = Image.Image.save

    def read_only(self, fp, *args, **kwargs):
        if ".a.png." in str(fp):
            raise PermissionError(errno.EACCES, "Permission denied")
        return save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", read_only)
    assert main(["lines", str(src), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"swishpaint: error: {out / 'a.png'}: cannot write (Permission denied)"
    assert sorted(p.name for p in out.iterdir()) == ["b.png"]


@pytest.mark.parametrize("config,expected", [
    ({"widths": [4, -8, 8, 16], "candidates": 3}, "widths=(4, -8, 8, 16)"),
    ({"widths": [4, 8, 8, 16], "candidates": 0}, "candidates=0"),
    ({"widths": [4, 8, 8, 16], "in_channels": 3}, "in_channels=3"),
    ({"widths": "wide"}, "expected a list"),
    ({"widths": [4]}, "at least two levels"),
])
def test_invalid_model_folder_config_is_one_line(model_dir, tmp_path, capsys, config, expected):
    import yaml

    spec = yaml.safe_load((model_dir / "config.yaml").read_text())
    spec["config"].update(config)
    (model_dir / "config.yaml").write_text(yaml.safe_dump(spec))
    src = make_sketches(tmp_path / "in", {"cat.png": 40})
    assert colorize(str(src), "-o", str(tmp_path / "out"), "--model", str(model_dir)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"swishpaint: error: {model_dir / 'config.yaml'}: invalid model config")
    assert expected in err and len(err.strip().splitlines()) == 1


def test_an_earlier_result_is_kept_unless_overwrite_and_the_other_inputs_go_on(model_dir, tmp_path, capsys):
    src = make_sketches(tmp_path / "in", {"a.png": 40, "b.png": 44})
    out = tmp_path / "out"
    out.mkdir()
    (out / "b_c2.png").write_bytes(b"my earlier painting")
    assert colorize(str(src), "-o", str(out), "--model", str(model_dir), "-k", "2") == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == f"swishpaint: error: {out / 'b_c2.png'}: exists; pass --overwrite to replace it"
    assert (out / "b_c2.png").read_bytes() == b"my earlier painting" and not (out / "b.png").exists()
    assert (out / "a_c2.png").is_file() and "colourised 1 of 2" in captured.out
    assert colorize(str(src), "-o", str(out), "--model", str(model_dir), "-k", "2", "--overwrite") == 0
    assert Image.open(out / "b_c2.png").size == (44, 44)


def test_an_earlier_runs_extra_candidates_are_named_in_a_warning_and_kept(model_dir, tmp_path, capsys):
    """A re-run with fewer candidates (or without --layers) would leave x_c3.png beside an x.png it no longer
    matches: it is said, and kept; a person's own x_c9.png (no swishpaint mark) and another sketch's
    results are not named."""
    src = make_sketches(tmp_path / "in", {"a.png": 40, "a_c3.png": 36})
    out = tmp_path / "out"
    assert colorize(str(src / "a.png"), "-o", str(out), "--model", str(model_dir), "-k", "3", "--layers") == 0
    capsys.readouterr()
    (out / "a_c9.png").write_bytes(b"my own file")
    before = hashes(out)
    assert colorize(str(src), "-o", str(out), "--model", str(model_dir), "-k", "2", "--overwrite") == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"swishpaint: warning: {src / 'a.png'}: {out / 'a.psd'}, {out / 'a.labels.png'} are from an "
                   "earlier run and not part of this result; left in place"]
    # a_c3.png is the other sketch's own result now, not a leftover; the leftovers are untouched
    kept = ("a.labels.png", "a.psd", "a_c9.png")
    assert {k: before[k] for k in kept} == {k: hashes(out)[k] for k in kept}
    assert colorize(str(src / "a.png"), "-o", str(out), "--model", str(model_dir), "--overwrite") == 0
    # alone, a.png's run names every result beside it that it did not write (a_c3.png too: the message holds)
    names = ", ".join(str(out / n) for n in ("a.psd", "a_c1.png", "a_c2.png", "a_c3.png", "a_sheet.png",
                                             "a.labels.png"))
    assert f"{src / 'a.png'}: {names} are from an earlier run" in capsys.readouterr().err
    # an .ora run beside the earlier .psd: its label map is this run's, the PSD is not
    assert colorize(str(src / "a.png"), "-o", str(out), "--model", str(model_dir), "-k", "3", "--layers", "ora",
                    "--overwrite") == 0
    assert capsys.readouterr().err.strip() == (f"swishpaint: warning: {src / 'a.png'}: {out / 'a.psd'} is from an "
                                               "earlier run and not part of this result; left in place")


def test_long_names_are_written_when_legal_and_fail_alone_in_one_line_when_not(model_dir, tmp_path, capsys):
    """A 250-byte output name is legal (the temporary beside it must be too); a name that the candidates'
    _c1 would push past the file system's 255 bytes fails that sketch alone, in one line."""
    fits, too_long = "é" * 120 + "x" * 5, "y" * 249  # 245 and 249 bytes of stem
    src = make_sketches(tmp_path / "in", {f"{fits}.png": 40, f"{too_long}.png": 40, "z.png": 40})
    out = tmp_path / "out"
    assert colorize(str(src / f"{fits}.png"), "-o", str(out), "--model", str(model_dir)) == 0
    assert (out / f"{fits}.png").is_file()
    assert colorize(str(src / f"{too_long}.png"), str(src / "z.png"), "-o", str(out), "--model", str(model_dir),
                    "-k", "2") == 1
    err = capsys.readouterr().err.strip()
    assert err == f"swishpaint: error: {out / (too_long + '_c1.png')}: cannot write (File name too long)"
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{fits}.png", "z.png", "z_c1.png", "z_c2.png",
                                                            "z_sheet.png"])
    one = tmp_path / "one"  # one candidate: its name is legal, and looking for an earlier run's _c1 is no crash
    assert colorize(str(src / f"{too_long}.png"), str(src / "z.png"), "-o", str(one), "--model", str(model_dir)) == 0
    assert sorted(p.name for p in one.iterdir()) == sorted([f"{too_long}.png", "z.png"])
    report = tmp_path / ("r" * 300 + ".json")  # a report name no file system takes: one line, no traceback
    assert main(["evaluate", "--pred", str(out), "--gt", str(out), "--json", str(report)]) == 2
    assert capsys.readouterr().err == f"swishpaint: error: {report}: cannot write (File name too long)\n"


def test_a_temporary_name_is_cut_between_characters():
    from swishpaint.files import TEMPORARY_NAME_BYTES, _shortened

    name = "a" + "é" * 150  # 301 bytes: 200 would cut an é in two
    short = _shortened(name)
    assert short == "a" + "é" * 99 and len(short.encode()) == TEMPORARY_NAME_BYTES - 1


def test_any_file_system_error_in_a_batch_fails_that_sketch_alone(model_dir, tmp_path, capsys, monkeypatch):
    import swishpaint.inference.batch as batch

    src = make_sketches(tmp_path / "in", {"a.png": 40, "b.png": 44})
    out = tmp_path / "out"
    write = batch.write_outputs
    calls = []

    def failing_disk(writes):  # the first sketch's writes meet a disk error that nothing converted
        calls.append(1)
        if len(calls) == 1:
            raise OSError(errno.EIO, "Input/output error", str(out))
        return write(writes)

    monkeypatch.setattr(batch, "write_outputs", failing_disk)
    assert colorize(str(src), "-o", str(out), "--model", str(model_dir)) == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == f"swishpaint: error: {src / 'a.png'}: Input/output error ({out})"
    assert "colourised 1 of 2" in captured.out and (out / "b.png").is_file()


def test_a_sketch_named_twice_is_coloured_once(model_dir, tmp_path, capsys):
    src = make_sketches(tmp_path / "in", {"a.png": 40})
    out = tmp_path / "out"
    assert colorize(str(src / "a.png"), str(src / "a.png"), str(src), "-o", str(out), "--model", str(model_dir)) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.png"] and "colourised 1 of 1" in capsys.readouterr().out


@pytest.mark.parametrize("model", ["bad", "good"])
def test_a_run_that_writes_nothing_leaves_no_output_folder(model_dir, tmp_path, capsys, model):
    (tmp_path / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "new" / "out"
    given = str(model_dir) if model == "good" else str(tmp_path / "no-model")
    assert colorize(str(tmp_path / "broken.png"), "-o", str(out), "--model", given) != 0
    assert not (tmp_path / "new").exists() and "Traceback" not in capsys.readouterr().err
    kept = tmp_path / "kept"
    kept.mkdir()  # a folder that was there before is never removed
    assert colorize(str(tmp_path / "broken.png"), "-o", str(kept), "--model", given) != 0
    assert kept.is_dir()


def test_a_failed_command_leaves_no_folder_it_made_for_a_report_or_palette(model_dir, tmp_path, capsys):
    """A report's or palette's new folders go again when the command fails before writing, as -o's do."""
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    pred.mkdir()
    gt.mkdir()
    sketch_of(drawing(0, 40)).convert("RGB").save(gt / "a.png")  # no prediction for it: nothing to score
    assert main(["evaluate", "--no-fid", "--pred", str(pred), "--gt", str(gt),
                 "--json", str(tmp_path / "new" / "deep" / "r.json")]) == 2
    key = make_sketches(tmp_path / "key", {"k.png": 40, "k_sketch.png": 44})  # the key and its sketch differ
    frame = tmp_path / "f.png"
    sketch_of(drawing(1, 40)).convert("RGB").save(frame)
    assert colorize(str(frame), "-o", str(tmp_path / "out"), "--model", str(model_dir), "--reference",
                    str(key / "k.png"), "--reference-sketch", str(key / "k_sketch.png"),
                    "--palette-out", str(tmp_path / "pal" / "sub" / "p.json")) == 2
    assert "44x44" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png", "gt", "key", "model", "pred"]
    kept = tmp_path / "kept"
    kept.mkdir()  # a folder that was there before stays, empty or not
    assert main(["evaluate", "--no-fid", "--pred", str(pred), "--gt", str(gt), "--json", str(kept / "r.json")]) == 2
    assert kept.is_dir()


def test_evaluate_reports_never_replace_an_input_nor_an_earlier_report(tmp_path, capsys):
    folder = make_sketches(tmp_path / "pred", {"a.png": 40})
    before = hashes(folder)
    assert main(["evaluate", "--pred", str(folder), "--gt", str(folder), "--no-fid",
                 "--json", str(folder / "a.png"), "--overwrite"]) == 2
    assert "a.png: is one of the inputs" in capsys.readouterr().err and hashes(folder) == before
    report = tmp_path / "report.json"
    report.write_text("earlier")
    assert main(["evaluate", "--pred", str(folder), "--gt", str(folder), "--no-fid", "--json", str(report)]) == 2
    assert "report.json: exists; pass --overwrite" in capsys.readouterr().err and report.read_text() == "earlier"
    assert main(["evaluate", "--pred", str(folder), "--gt", str(folder), "--no-fid", "--json", str(report),
                 "--overwrite"]) == 0
    assert report.read_text().startswith("{")
    assert main(["evaluate", "--pred", str(folder), "--gt", str(folder), "--no-fid", "--json", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_a_report_kept_beside_the_compared_images_can_be_refreshed(tmp_path, capsys):
    folder = make_sketches(tmp_path / "pred", {"a.png": 40})
    report = folder / "report.json"
    args = ["evaluate", "--pred", str(folder), "--gt", str(folder), "--no-fid", "--json", str(report)]
    assert main(args) == 0 and report.read_text().startswith("{")
    report.write_text("earlier")
    assert main(args) == 2 and "report.json: exists; pass --overwrite" in capsys.readouterr().err
    assert report.read_text() == "earlier"
    assert main(args + ["--overwrite"]) == 0 and report.read_text().startswith("{")


def test_evaluate_json_and_markdown_reports_may_not_be_one_file(tmp_path, capsys):
    folder = make_sketches(tmp_path / "pred", {"a.png": 40})
    report = tmp_path / "report"
    assert main(["evaluate", "--pred", str(folder), "--gt", str(folder), "--no-fid", "--json", str(report),
                 "--markdown", str(tmp_path / "." / "report")]) == 2  # the markdown would replace the JSON
    assert capsys.readouterr().err == f"swishpaint: error: {tmp_path / '.' / 'report'}: is also the --json report; " \
                                      f"write the markdown elsewhere\n"
    assert not report.exists()


@pytest.mark.parametrize("flag", ["--json", "--markdown"])
def test_an_empty_report_name_is_refused_not_skipped_in_silence(tmp_path, capsys, flag):
    folder = make_sketches(tmp_path / "pred", {"a.png": 40})
    assert main(["evaluate", "--pred", str(folder), "--gt", str(folder), "--no-fid", flag, ""]) == 2
    assert capsys.readouterr().err == "swishpaint: error: the output file is an empty name; name a file to write\n"


@pytest.mark.parametrize("text,expected", [
    ("arch: swish_unet\nconfig: {widths: [4, 8\n", "line 3, column 1: expected ',' or ']', but got '<stream end>'"),
    ("arch: swish_unet\n  config: x: y\n", "line 2, column 9: mapping values are not allowed here"),
])
def test_model_config_yaml_syntax_error_is_one_line(model_dir, tmp_path, capsys, text, expected):
    (model_dir / "config.yaml").write_text(text)
    src = make_sketches(tmp_path / "in", {"cat.png": 40})
    assert colorize(str(src), "-o", str(tmp_path / "out"), "--model", str(model_dir)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines() == [f"swishpaint: error: {model_dir / 'config.yaml'}: not valid YAML ({expected})"]


def test_more_candidates_than_the_model_has_is_one_line_and_writes_nothing(model_dir, tmp_path, capsys):
    from swishpaint.models.registry import load_model

    available = load_model(model_dir).config.candidates
    src = make_sketches(tmp_path / "in", {"cat.png": 40})
    out = tmp_path / "out"
    assert colorize(str(src), "-o", str(out), "--model", str(model_dir), "-k", str(available + 1)) == 2
    err = capsys.readouterr().err
    assert err.strip() == (f"swishpaint: error: --candidates must be an integer between 1 and {available} "
                           f"for this model, got {available + 1}")
    assert not list(out.rglob("*.png")) if out.exists() else True


def test_hint_files_are_inputs_too_never_replaced_even_with_overwrite(model_dir, tmp_path, capsys):
    """A hints file (or a folder of them) in the output folder under the result's name stays the
    person's hints: the result takes another name, with --overwrite too."""
    src = make_sketches(tmp_path / "in", {"dog.png": 40})
    out = tmp_path / "out"
    out.mkdir()
    hints = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    hints.putpixel((20, 20), (255, 0, 0, 255))
    hints.save(out / "dog.png")
    before = hashes(out)
    for flags in ([], ["--overwrite"]):
        assert colorize(str(src / "dog.png"), "-o", str(out), "--model", str(model_dir), "--hints",
                        str(out / "dog.png"), *flags) == 0
        assert hashes(out)["dog.png"] == before["dog.png"] and Image.open(out / "dog_png.png").size == (40, 40)
    folder_out = tmp_path / "hints"  # a folder of hints that is also -o
    folder_out.mkdir()
    hints.save(folder_out / "dog.png")
    assert colorize(str(src), "-o", str(folder_out), "--model", str(model_dir), "--hints", str(folder_out),
                    "--overwrite") == 0
    assert hashes(folder_out)["dog.png"] == before["dog.png"]


def test_a_keyframe_in_the_output_folder_is_never_replaced(model_dir, tmp_path):
    frames = make_sketches(tmp_path / "frames", {"f1.png": 40})
    out = tmp_path / "out"
    key = make_sketches(out, {"f1.png": 40}) / "f1.png"  # the keyframe, named as the frame's result
    before = hashes(out)
    assert colorize(str(frames / "f1.png"), "-o", str(out), "--model", str(model_dir), "--reference", str(key),
                    "--overwrite") == 0
    assert hashes(out)["f1.png"] == before["f1.png"] and (out / "f1_png.png").is_file()


def test_an_input_folder_inside_the_output_folder_is_read_and_a_hints_folder_inside_an_input_is_not(
        model_dir, tmp_path, capsys, monkeypatch):
    project = make_sketches(tmp_path / "project", {"sub/cat.png": 40, "owl.png": 44})
    hints = project / "hints"
    hints.mkdir()
    Image.new("RGBA", (44, 44), (0, 0, 0, 0)).save(hints / "owl.png")
    monkeypatch.chdir(project)
    assert colorize("sub", "-o", ".", "--model", str(model_dir)) == 0  # `-o .` above the input folder
    assert Image.open(project / "cat.png").size == (40, 40)
    out = tmp_path / "out"
    assert colorize(str(project), "-o", str(out), "--model", str(model_dir), "--hints", str(hints)) == 0
    assert not (out / "hints").exists() and (out / "owl.png").is_file()  # hints are not sketches


def test_an_empty_output_name_is_refused_not_taken_for_the_current_folder(model_dir, tmp_path, capsys,
                                                                           monkeypatch):
    src = make_sketches(tmp_path / "in", {"dog.png": 40})
    monkeypatch.chdir(tmp_path)
    assert colorize(str(src / "dog.png"), "-o", "", "--model", str(model_dir)) == 2
    assert capsys.readouterr().err.strip() == "swishpaint: error: the output folder is an empty name; name a folder to write into"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "model"]  # nothing written


def test_a_full_disk_on_a_single_file_output_is_one_line_naming_it(tmp_path, monkeypatch):
    from swishpaint.errors import OutputError

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(OutputError, match=r"report\.json: cannot write \(No space left on device\)"):
        files_module.atomic_write_text(tmp_path / "report.json", "{}")
    assert list(tmp_path.iterdir()) == []  # no temporary left


def test_sigterm_and_sighup_stop_a_command_as_ctrl_c_does():
    import os
    import signal
    import time

    from swishpaint.cli import _terminate_as_interrupt

    before = signal.getsignal(signal.SIGTERM)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        with pytest.raises(KeyboardInterrupt), _terminate_as_interrupt():
            os.kill(os.getpid(), sig)
            time.sleep(5)
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize("sig,code,line", [("SIGINT", 130, "swishpaint: interrupted"),
                                           ("SIGTERM", 143, "swishpaint: stopped by SIGTERM"),
                                           ("SIGHUP", 129, "swishpaint: stopped by SIGHUP")])
def test_a_stopped_command_exits_with_128_plus_the_signal_as_train_does(monkeypatch, capsys, sig, code, line):
    import os
    import signal
    import time

    import swishpaint.cli as cli

    def stopped(args):
        os.kill(os.getpid(), getattr(signal, sig))
        time.sleep(5)
        return 0

    monkeypatch.setattr(cli, "_cmd_info", stopped)
    assert cli.main(["info"]) == code
    assert capsys.readouterr().err == line + "\n"


def test_a_logged_traceback_keeps_its_lines_under_the_cli_format():
    """The server's unexpected errors answer "see the server log": the log must hold the traceback."""
    import logging

    from swishpaint.cli import _LogFormat

    try:
        1 / 0
    except ZeroDivisionError:
        record = logging.getLogger("swishpaint.server").makeRecord(
            "swishpaint.server", logging.ERROR, __file__, 1, "unexpected error", (), __import__("sys").exc_info())
    lines = _LogFormat().format(record).splitlines()
    assert lines[0] == "swishpaint: error: unexpected error"
    assert lines[1] == "Traceback (most recent call last):" and lines[-1] == "ZeroDivisionError: division by zero"


def test_output_to_a_reader_that_has_gone_is_no_traceback(tmp_path):
    """`swishpaint info | head -1`: the pipe's reader leaves before the output is written."""
    import os
    import subprocess
    import sys

    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run([sys.executable, "-m", "swishpaint", "info", "swish_unet_tiny"], stdout=write,
                              stderr=subprocess.PIPE, text=True, cwd=tmp_path, timeout=120)
    finally:
        os.close(write)
    assert done.returncode == 141 and done.stderr == ""


@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM"])
def test_a_stop_during_the_renames_of_a_set_waits_until_the_whole_set_is_in_place(tmp_path, monkeypatch, stop):
    """Ctrl-C (or kill) between two renames would leave half a set of new files beside half of the old."""
    import os
    import signal

    from swishpaint.cli import _terminate_as_interrupt
    from swishpaint.files import FileGroup

    targets = [tmp_path / f"{n}.png" for n in ("a", "a_c1", "a_c2", "a_sheet")]
    for t in targets:
        t.write_text("old")
    replace, renames = os.replace, []

    def replace_then_stop(src, dst):
        replace(src, dst)
        renames.append(dst)
        if len(renames) == 1:
            os.kill(os.getpid(), getattr(signal, stop))  # arrives after the first of four renames

    monkeypatch.setattr(os, "replace", replace_then_stop)
    with pytest.raises(KeyboardInterrupt), _terminate_as_interrupt(), FileGroup() as group:
        for t in targets:
            group.write(t, lambda tmp: Path(tmp).write_text("new"))
    assert [t.read_text() for t in targets] == ["new"] * 4 and len(renames) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(t.name for t in targets)  # no temporary left
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_lines_about_one_input_go_above_the_progress_bar(model_dir, tmp_path, capsys, monkeypatch):
    """On a terminal a batch shows a progress bar; a warning, an error or a logged line printed after it
    would sit on the bar's line ("...1.2img/s]swishpaint: warning: ...")."""
    import logging

    src = make_sketches(tmp_path / "in", {"a.png": 40, "b.png": 44, "c.png": 48})
    (src / "d.png").write_bytes(b"not a png")
    (tmp_path / "hints").mkdir()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    work = batch._run_jobs

    def logging_too(jobs, *rest):
        logging.getLogger("swishpaint.test").warning("swishpaint: warning: a logged line")
        return work(jobs, *rest)

    monkeypatch.setattr(batch, "_run_jobs", logging_too)
    assert colorize(str(src), "-o", str(tmp_path / "out"), "--model", str(model_dir), "--hints",
                    str(tmp_path / "hints")) == 1
    err = capsys.readouterr().err
    assert "%|" in err  # the bar was drawn
    said = [part for line in err.split("\n") for part in line.split("\r") if "swishpaint:" in part]
    assert len(said) == 5 and all(part.startswith("swishpaint: ") for part in said), said
    assert sum("no hints for it" in part for part in said) == 3 and sum("d.png: " in part for part in said) == 1


def test_a_folder_where_a_file_is_expected_is_named_so_and_a_sketch_without_hints_is_said(model_dir, tmp_path,
                                                                                          capsys):
    src = make_sketches(tmp_path / "in", {"dog.png": 40, "owl.png": 44})
    (tmp_path / "hints").mkdir()
    Image.new("RGBA", (40, 40), (0, 0, 0, 0)).save(tmp_path / "hints" / "dog.png")
    assert colorize(str(src), "-o", str(tmp_path / "out"), "--model", str(model_dir), "--hints",
                    str(tmp_path / "hints")) == 0
    err = capsys.readouterr().err
    assert (f"swishpaint: warning: {src / 'owl.png'}: no hints for it in {tmp_path / 'hints'} (looked for owl.png); "
            "coloured without hints") in err  # one name, when the sketch sits at the top of its folder
    assert "dog.png: no hints" not in err
    assert colorize(str(src / "dog.png"), "-o", str(tmp_path / "seq"), "--model", str(model_dir), "--reference",
                    str(src)) == 2
    assert capsys.readouterr().err.strip() == f"swishpaint: error: {src}: is a folder, not a file"


def test_an_output_name_taken_by_a_folder_fails_that_sketch_alone(model_dir, tmp_path, capsys):
    src = make_sketches(tmp_path / "in", {"dog.png": 40, "zzz.png": 44})
    out = tmp_path / "out"
    (out / "dog.png").mkdir(parents=True)
    for flags in ([], ["--overwrite"]):
        assert colorize(str(src), "-o", str(out), "--model", str(model_dir), *flags) == 1
        assert f"swishpaint: error: {out / 'dog.png'}: is a folder; the output cannot take its name" in \
            capsys.readouterr().err
        assert (out / "dog.png").is_dir() and (out / "zzz.png").is_file()


def test_an_unreadable_folder_or_file_in_a_batch_is_said_in_one_line(model_dir, tmp_path, capsys, monkeypatch):
    """Tests run as root, where permissions do not bite: the denials are simulated where they would come."""
    import os

    from PIL import Image as PILImage

    src = make_sketches(tmp_path / "in", {"dog.png": 40, "locked/cat.png": 44, "owl.png": 48})
    real_scandir, real_open = os.scandir, PILImage.open

    def scandir(path="."):
        if Path(path) == src / "locked":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_scandir(path)

    def image_open(fp, *args, **kwargs):
        if Path(str(fp)).name == "owl.png":
            raise PermissionError(errno.EACCES, "Permission denied", str(fp))
        return real_open(fp, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(PILImage, "open", image_open)
    assert colorize(str(src), "-o", str(tmp_path / "out"), "--model", str(model_dir)) == 1
    err = capsys.readouterr().err.splitlines()
    assert f"swishpaint: error: {src / 'locked'}: cannot read this folder; its images were left out" in err
    assert f"swishpaint: error: {src / 'owl.png'}: permission denied (cannot read it)" in err
    assert (tmp_path / "out" / "dog.png").is_file()
