"""Backends compute the same function; high-resolution sketches work within memory, without seams."""

from __future__ import annotations

import errno
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from swishpaint.inference.colorizer import Colorizer
from swishpaint.models.registry import CHOOSER_FILE, ModelCard, load_model, read_model_card, save_model
from swishpaint.regions.choice import RegionChooser, feature_count

from .conftest import TINY_CANDIDATES

ROOT = Path(__file__).resolve().parent.parent


def test_onnx_backend_matches_pytorch(model_dir, tmp_path, capfd, recwarn):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from swishpaint.cli import main
    from swishpaint.inference.onnx import OnnxColorizer

    assert main(["export", "onnx", "--model", str(model_dir), "--out", str(tmp_path / "onnx")]) == 0
    captured = capfd.readouterr()  # the exporter's notices about torchvision and LeafSpec are silenced
    assert captured.err == "" and captured.out == f"wrote {tmp_path / 'onnx' / 'model.onnx'}\n"
    assert not [w for w in recwarn if "LeafSpec" in str(w.message)]
    assert main(["info", str(tmp_path / "onnx")]) == 0  # weights in model.onnx alone: described from config.yaml
    described = capfd.readouterr().out.splitlines()
    assert described[0].split(maxsplit=1)[1] == f"{tmp_path / 'onnx'} (an ONNX export: its weights are in model.onnx)"
    assert main(["info", str(model_dir)]) == 0
    source = capfd.readouterr().out.splitlines()
    assert described[2].startswith("parameters") and described[1:4] == source[1:4]  # arch, parameters, FLOPs
    onnx_net = OnnxColorizer.load(tmp_path / "onnx").model
    torch_net = Colorizer.load(model_dir).model
    for shape in [(1, 5, 32, 48), (2, 5, 64, 32)]:  # dynamic batch, height and width
        x = torch.rand(*shape)
        with torch.no_grad():
            assert (onnx_net(x) - torch_net(x)).abs().max() < 1e-3
    sketch = np.full((70, 90), 255, np.uint8)
    sketch[30:34, :] = 0
    a = np.asarray(Colorizer.load(model_dir).colorize(sketch)[0], np.int16)
    b = np.asarray(OnnxColorizer.load(tmp_path / "onnx").colorize(sketch)[0], np.int16)
    assert np.abs(a - b).max() <= 1


def test_an_onnx_graph_that_is_not_its_folders_network_is_one_line(model_dir, tmp_path, capsys):
    """Other channels than config.yaml says, or other weights than those beside it (trained on after the
    export): named, with the command that mends it, before any sketch is coloured."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from swishpaint.cli import main
    from swishpaint.inference.onnx import OnnxColorizer
    from swishpaint.models.registry import ModelLoadError, create_model, save_model

    assert main(["export", "onnx", "--model", str(model_dir), "--out", str(model_dir)]) == 0
    OnnxColorizer.load(model_dir)  # the export itself loads
    torch.manual_seed(1)
    save_model(create_model("swish_unet_tiny", in_channels=5, candidates=TINY_CANDIDATES), model_dir)  # retrained
    with pytest.raises(ModelLoadError, match=r"model.onnx: was exported from other weights than the "
                                             r"model.safetensors beside it; export it again: swishpaint export onnx"):
        OnnxColorizer.load(model_dir)
    import onnx  # an export from before exports recorded the hash: told by the tensors themselves

    graph = onnx.load(str(model_dir / "model.onnx"))
    del graph.metadata_props[:]
    onnx.save(graph, str(model_dir / "model.onnx"))
    with pytest.raises(ModelLoadError, match=r"model.onnx: was exported from other weights"):
        OnnxColorizer.load(model_dir)
    assert main(["export", "onnx", "--model", str(model_dir), "--out", str(tmp_path / "fresh")]) == 0
    graph = onnx.load(str(tmp_path / "fresh" / "model.onnx"))
    del graph.metadata_props[:]
    onnx.save(graph, str(tmp_path / "fresh" / "model.onnx"))
    shutil.copyfile(model_dir / "model.safetensors", tmp_path / "fresh" / "model.safetensors")
    OnnxColorizer.load(tmp_path / "fresh")  # no hash, the same weights: loads
    other = tmp_path / "other"
    save_model(create_model("swish_unet_tiny", in_channels=1, candidates=TINY_CANDIDATES), other)
    (model_dir / "model.onnx").rename(other / "model.onnx")  # a 5-channel graph beside a 1-channel config
    sketch = tmp_path / "s.png"
    Image.new("L", (40, 40), 255).save(sketch)
    assert main(["colorize", str(sketch), "-o", str(tmp_path / "out"), "--backend", "onnx", "--model", str(other)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"swishpaint: error: {other / 'model.onnx'}: takes 5 input channels and gives "
                          f"{TINY_CANDIDATES} candidates, but the config.yaml beside it describes 1 and ") \
        and err.count("\n") == 1


def test_a_graph_with_symbolic_channels_passes_and_one_without_outputs_is_one_line(tmp_path):
    from types import SimpleNamespace

    from swishpaint.inference.onnx import _check_graph
    from swishpaint.models.registry import ModelLoadError

    def session(inputs, outputs):
        return SimpleNamespace(get_inputs=lambda: [SimpleNamespace(shape=s) for s in inputs],
                               get_outputs=lambda: [SimpleNamespace(shape=s) for s in outputs],
                               get_modelmeta=lambda: SimpleNamespace(custom_metadata_map={}))

    config = SimpleNamespace(in_channels=5, candidates=9)
    _check_graph(session([["b", "c", "h", "w"]], [["b", None, 3, "h", "w"]]), tmp_path / "model.onnx", config)
    with pytest.raises(ModelLoadError, match="export it again from the model folder it came from"):
        _check_graph(session([["b", 5, "h", "w"]], []), tmp_path / "model.onnx", config)


def test_a_missing_onnx_extra_is_one_line(model_dir, tmp_path, capsys, monkeypatch):
    import sys

    from swishpaint.cli import main

    pytest.importorskip("onnx")  # present, so that onnxscript is the first one missing below

    for module in ("onnxruntime", "onnxscript"):
        monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    sketch = tmp_path / "s.png"
    Image.new("L", (40, 40), 255).save(sketch)
    assert main(["colorize", str(sketch), "-o", str(tmp_path / "o"), "--backend", "onnx", "--model", str(model_dir)]) == 2
    assert main(["export", "onnx", "--model", str(model_dir), "--out", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "swishpaint: error: the ONNX backend needs its extra: pip install 'swishpaint[onnx]' (onnxruntime is missing)",
        "swishpaint: error: ONNX export needs its extra: pip install 'swishpaint[onnx]' (onnxscript is missing)"]
    assert not (tmp_path / "o").exists() and not (tmp_path / "x").exists()


def test_a_model_folder_without_onnx_is_exported_on_the_fly_and_leaves_no_temporary_files(model_dir, tmp_path,
                                                                                          monkeypatch):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    import tempfile

    from swishpaint.inference.onnx import OnnxColorizer

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    before = sorted(p.name for p in model_dir.iterdir())
    sketch = np.full((70, 90), 255, np.uint8)
    sketch[30:34, :] = 0
    a = np.asarray(Colorizer.load(model_dir).colorize(sketch)[0], np.int16)
    b = np.asarray(OnnxColorizer.load(model_dir).colorize(sketch)[0], np.int16)
    assert np.abs(a - b).max() <= 1  # the graph made on the fly colours as the torch model does
    assert not list(scratch.glob("swishpaint-*")) and sorted(p.name for p in model_dir.iterdir()) == before


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("damage", ["truncated", "empty", "not_onnx"])
def test_damaged_onnx_model_is_one_line_naming_the_file(tmp_path, capsys, damage):
    pytest.importorskip("onnxruntime")
    from swishpaint.cli import main
    from swishpaint.inference.colorizer import BUNDLED

    model = Path(shutil.copytree(BUNDLED, tmp_path / "model"))
    good = (BUNDLED / "model.onnx").read_bytes()
    (model / "model.onnx").write_bytes({"truncated": good[:2000], "empty": b"", "not_onnx": b"garbage"}[damage])
    Image.new("L", (40, 40), 255).save(tmp_path / "in.png")
    assert main(["colorize", str(tmp_path / "in.png"), "-o", str(tmp_path / "out"), "--model", str(model),
                 "--backend", "onnx"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith(f"swishpaint: error: {model / 'model.onnx'}: not a valid ONNX model (")
    assert not (tmp_path / "out").exists()  # nothing written, no folder left behind


def test_export_to_a_file_or_over_an_earlier_export_is_refused_before_exporting(model_dir, tmp_path, capsys,
                                                                                monkeypatch):
    import swishpaint.inference.onnx as onnx_module
    from swishpaint.cli import main

    exported = []
    monkeypatch.setattr(onnx_module, "_export_network", lambda net, path, *_: exported.append(path.write_bytes(b"new")))
    (tmp_path / "taken.txt").write_text("an existing file")
    assert main(["export", "onnx", "--model", str(model_dir), "--out", str(tmp_path / "taken.txt")]) == 2
    assert one_error_line(capsys.readouterr().err) == \
        f"swishpaint: error: {tmp_path / 'taken.txt'}: output folder is a file"
    assert (tmp_path / "taken.txt").read_text() == "an existing file"

    out = tmp_path / "onnx"
    out.mkdir()
    (out / "model.onnx").write_bytes(b"an earlier export")
    assert main(["export", "onnx", "--model", str(model_dir), "--out", str(out)]) == 2
    assert one_error_line(capsys.readouterr().err) == \
        f"swishpaint: error: {out / 'model.onnx'}: exists; pass --overwrite to replace it"
    assert (out / "model.onnx").read_bytes() == b"an earlier export" and not exported
    assert sorted(p.name for p in out.iterdir()) == ["model.onnx"]  # config.yaml was not copied either

    assert main(["export", "onnx", "--model", str(model_dir), "--out", str(out), "--overwrite"]) == 0
    assert (out / "model.onnx").read_bytes() == b"new" and (out / "config.yaml").is_file()


def tiny_chooser() -> RegionChooser:
    """A hand-set region chooser for TINY_CANDIDATES candidates (it picks the lightest option)."""
    f = feature_count(TINY_CANDIDATES)
    w1 = np.zeros((1, f), np.float32)
    w1[0, 0] = 1
    one, zero = np.ones((1, 1), np.float32), np.zeros(1, np.float32)
    return RegionChooser({"mean": np.zeros(f, np.float32), "std": np.ones(f, np.float32), "w1": w1, "b1": zero,
                          "w2": one, "b2": zero, "w3": one, "b3": zero}, TINY_CANDIDATES)


@pytest.fixture
def checkpoint(tiny_model, tmp_path) -> Path:
    """A training checkpoint's layout: its model in generator/, with a card and a region chooser fitted to it."""
    ckpt = tmp_path / "ckpt-00000007"
    save_model(tiny_model, ckpt / "generator", ModelCard(step=7, working_size=256))
    tiny_chooser().save(ckpt / "generator" / CHOOSER_FILE)
    (ckpt / "state.json").write_text("{}")
    return ckpt


def export_source(kind: str, model_dir: Path, checkpoint: Path) -> list[str]:
    """--model for each kind of source: a model folder, a registered name (untrained, so said) or a checkpoint."""
    return {"folder": ["--model", str(model_dir)], "name": ["--model", "swish_unet_tiny", "--untrained"],
            "checkpoint": ["--model", str(checkpoint)]}[kind]


EXPORTED_FILES = {  # what each kind of source puts in --out
    "folder": ["config.yaml", "model.onnx"],
    "name": ["config.yaml", "model.onnx", "model.safetensors"],
    "checkpoint": ["config.yaml", "model.onnx", "model.safetensors", "region_choice.safetensors"],
}


def folder_state(folder: Path) -> dict[str, bytes] | None:
    """Every file under `folder` (temporaries included) and its bytes; None when there is no folder."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))} if folder.exists() else None


def test_export_of_a_name_or_checkpoint_writes_every_file_and_runs_with_onnx(checkpoint, tmp_path, capsys,
                                                                             monkeypatch):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from swishpaint.cli import main
    from swishpaint.inference.onnx import OnnxColorizer

    monkeypatch.chdir(tmp_path)  # no folder here shadows the registered name
    assert main(["export", "onnx", "--model", str(checkpoint), "--out", "from-ckpt"]) == 0
    assert sorted(p.name for p in (tmp_path / "from-ckpt").iterdir()) == EXPORTED_FILES["checkpoint"]
    onnx = OnnxColorizer.load(tmp_path / "from-ckpt")  # the card and the chooser came with the network
    assert onnx.working_size == 256 and onnx.region_chooser is not None
    assert read_model_card(tmp_path / "from-ckpt").step == 7
    x = torch.rand(1, 5, 32, 48)
    with torch.no_grad():
        assert (onnx.model(x) - Colorizer.load(checkpoint).model(x)).abs().max() < 1e-3

    assert main(["export", "onnx", "--model", "swish_unet_tiny", "--out", "from-name"]) == 2  # random weights...
    assert one_error_line(capsys.readouterr().err) == (
        "swishpaint: error: swish_unet_tiny: an untrained architecture, not a trained model; give a model folder, "
        "or --untrained to export its random weights")
    assert not (tmp_path / "from-name").exists()
    assert main(["export", "onnx", "--model", "swish_unet_tiny", "--untrained", "--out", "from-name"]) == 0  # ...if asked
    assert sorted(p.name for p in (tmp_path / "from-name").iterdir()) == EXPORTED_FILES["name"]
    x = torch.rand(1, 1, 16, 24)
    with torch.no_grad():  # model.onnx and model.safetensors hold the same (random) weights
        assert (OnnxColorizer.load(tmp_path / "from-name", allow_untrained=True).model(x)
                - load_model(tmp_path / "from-name")(x)).abs().max() < 1e-3
    assert capsys.readouterr().err == ""
    assert read_model_card(tmp_path / "from-name").untrained  # marked: random weights do not pass for a model
    Image.new("L", (32, 32), 255).save(tmp_path / "s.png")
    for backend in ("torch", "onnx"):
        assert main(["colorize", "s.png", "-o", "out", "--model", "from-name",
                     "--backend", backend]) == 2
        assert one_error_line(capsys.readouterr().err) == (
            "swishpaint: error: from-name: holds an architecture's random weights (exported with --untrained), not a "
            "trained model; give a model folder (see swishpaint train)")
    assert not (tmp_path / "out").exists()
    assert main(["info", "from-name"]) == 0
    assert capsys.readouterr().out.splitlines()[0].split(maxsplit=1)[1] == "from-name (an untrained architecture: random weights)"


@pytest.mark.parametrize("earlier", [False, True], ids=["new-folder", "over-earlier-export"])
@pytest.mark.parametrize("kind,failing", [("folder", "export"), ("name", "export"), ("checkpoint", "export"),
                                          ("name", "weights"), ("checkpoint", "chooser copy")])
def test_export_failing_part_way_leaves_the_folder_as_it_was(kind, failing, earlier, model_dir, checkpoint, tmp_path,
                                                             capsys, monkeypatch):
    import swishpaint.inference.onnx as onnx_module
    import swishpaint.models.registry as registry
    from swishpaint.cli import main

    def full_disk(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    copyfile = shutil.copyfile
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(onnx_module, "_export_network",
                        full_disk if failing == "export" else lambda net, path, *_: path.write_bytes(b"new"))
    if failing == "weights":  # after model.onnx is staged
        monkeypatch.setattr(registry, "save_file", full_disk)
    if failing == "chooser copy":  # after model.onnx, config.yaml and model.safetensors are staged
        monkeypatch.setattr(onnx_module.shutil, "copyfile",
                            lambda src, dst: (full_disk if Path(src).name == CHOOSER_FILE else copyfile)(src, dst))
    out = tmp_path / "out" / "onnx"
    if earlier:
        out.mkdir(parents=True)
        for name in ("model.onnx", "config.yaml", "model.safetensors", "region_choice.safetensors", "notes.txt"):
            (out / name).write_bytes(b"earlier " + name.encode())
    before = folder_state(out)
    source = export_source(kind, model_dir, checkpoint)
    assert main(["export", "onnx", *source, "--out", str(out), "--overwrite"]) == 2
    target = {"export": "model.onnx", "weights": "model.safetensors", "chooser copy": "region_choice.safetensors"}
    assert one_error_line(capsys.readouterr().err) == \
        f"swishpaint: error: {out / target[failing]}: cannot write (No space left on device)"
    assert folder_state(out) == before  # no file changed, none new, no temporary left
    assert (tmp_path / "out").exists() == earlier  # a folder made for the export goes again


def test_export_failing_inside_the_exporter_leaves_no_folder(model_dir, tmp_path, monkeypatch):
    import swishpaint.inference.onnx as onnx_module

    def exporter_bug(net, path, *_):
        path.write_bytes(b"half an export")
        raise RuntimeError("the exporter failed")

    monkeypatch.setattr(onnx_module, "_export_network", exporter_bug)
    with pytest.raises(RuntimeError, match="the exporter failed"):
        onnx_module.export_onnx(model_dir, tmp_path / "onnx")
    assert not (tmp_path / "onnx").exists()


@pytest.mark.parametrize("kind,existing", [
    *[(kind, name) for kind in ("folder", "name", "checkpoint")
      for name in ("model.onnx", "config.yaml", "region_choice.safetensors", "model.safetensors")]])
def test_export_refuses_any_file_it_would_replace_before_exporting(kind, existing, model_dir, checkpoint, tmp_path,
                                                                   capsys, monkeypatch):
    """Every file the export would write, and a region chooser or weights it would remove (another
    network's: a model folder's export brings no weights, and the torch backend would run the old ones
    beside the new config), is refused by name without --overwrite; nothing is exported or written."""
    import swishpaint.inference.onnx as onnx_module
    from swishpaint.cli import main

    exported = []
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(onnx_module, "_export_network", lambda net, path, *_: exported.append(path.write_bytes(b"new")))
    out = tmp_path / "onnx"
    out.mkdir()
    (out / existing).write_bytes(b"an earlier export")
    source = export_source(kind, model_dir, checkpoint)
    assert main(["export", "onnx", *source, "--out", str(out)]) == 2
    assert one_error_line(capsys.readouterr().err) == \
        f"swishpaint: error: {out / existing}: exists; pass --overwrite to replace it"
    assert folder_state(out) == {existing: b"an earlier export"} and not exported

    assert main(["export", "onnx", *source, "--out", str(out), "--overwrite"]) == 0
    assert sorted(folder_state(out)) == EXPORTED_FILES[kind]  # another network's chooser or weights went


def test_channels_last_computes_the_same_function(model_dir):
    net = Colorizer.load(model_dir).model
    x = torch.rand(1, 5, 64, 64)
    with torch.inference_mode():
        ref = net(x)
        fast = net.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
    assert (ref - fast).abs().max() < 1e-4


@pytest.mark.slow
def test_4096_sketch_within_4_gb_and_without_seams(model_dir, tmp_path):
    """A synthetic 4096x4096 sketch in a fresh process: peak memory measured, colours smooth across the image."""
    big = np.full((4096, 4096), 255, np.uint8)
    yy, xx = np.mgrid[0:4096, 0:4096]
    big[(np.abs(np.hypot(yy - 2048, xx - 2048) - 1200) < 6) | (np.abs(xx - yy) < 5)] = 0
    Image.fromarray(big).save(tmp_path / "big.png")
    script = (
        "import json, resource, sys, numpy as np\n"
        "from swishpaint.inference.colorizer import Colorizer\n"
        f"c = Colorizer.load({str(model_dir)!r}, working_size=512)\n"
        f"out = c.colorize({str(tmp_path / 'big.png')!r})[0]\n"
        f"out.save({str(tmp_path / 'out.png')!r})\n"
        "print(json.dumps({'peak_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    peak = json.loads(run.stdout.strip().splitlines()[-1])["peak_mb"]
    assert peak < 4096, f"peak memory {peak:.0f} MB"
    out = np.asarray(Image.open(tmp_path / "out.png").convert("RGB"), np.float32)
    assert out.shape == (4096, 4096, 3)
    # No seams: away from the lines, neighbouring rows and columns differ little everywhere (a tile
    # boundary would show as a band of large jumps along one row or column).
    paper = big[1:, 1:] > 0
    dy = np.abs(np.diff(out, axis=0))[:, 1:].mean(2)
    dx = np.abs(np.diff(out, axis=1))[1:, :].mean(2)
    row_jumps = np.where(paper, dy, 0).mean(1)
    col_jumps = np.where(paper, dx, 0).mean(0)
    assert row_jumps.max() < 8 and col_jumps.max() < 8, (row_jumps.max(), col_jumps.max())


def test_bench_train_quick_writes_results(tmp_path, capsys):
    from swishpaint.cli import main

    out = tmp_path / "results.json"
    assert main(["bench", "train", "--quick", "--runs", "1", "--out", str(out)]) == 0
    data = json.loads(out.read_text())["train-quick"]
    assert data["quick"] and {"cpu-demo (SwishU-net)", "cpu-demo, default layout", "U-net baseline"} <= set(data)
    assert all(data[k]["images_per_s"] > 0 for k in ("cpu-demo (SwishU-net)", "U-net baseline"))


def test_bench_regions_quick_measures_every_case(tmp_path):
    from swishpaint.cli import main

    out = tmp_path / "results.json"
    assert main(["bench", "regions", "--quick", "--runs", "1", "--out", str(out)]) == 0
    data = json.loads(out.read_text())["regions-quick"]
    for case in ("segmentation", "segmentation_large", "pipeline"):
        assert "error" not in data[case], data[case]
    assert data["segmentation"]["median_ms"] > 0 and data["pipeline"]["ratio"] > 0
    assert data["sketches"] == "examples/sketches (5 sketches)"  # what was timed is in the results


def test_every_bench_the_cli_offers_is_one_bench_runs():
    from swishpaint.configs import BENCHES
    from swishpaint.experiments import bench

    assert tuple(bench.BENCH_FUNCTIONS) == BENCHES


def test_bench_refuses_a_results_file_it_cannot_update_before_measuring(tmp_path, capsys, monkeypatch):
    from swishpaint.cli import main

    recorded = {"regions": {"quick": False, "pipeline": {"ratio": 1.2}}}
    out = tmp_path / "results.json"
    for content, problem in (("not json", "not a swishpaint results file (JSONDecodeError: Expecting value"),
                             ("[1, 2]", "not a swishpaint results file (not a JSON object)"),
                             ('{"table": {}, "images": 3}', "not a swishpaint bench results file (it holds images, "
                                                            "table); give another --out")):  # an evaluate report
        out.write_text(content)
        assert main(["bench", "regions", "--quick", "--out", str(out)]) == 2
        err = capsys.readouterr()
        assert err.err.startswith(f"swishpaint: error: {out}: {problem}") and err.err.count("\n") == 1
        assert "segmentation" not in err.out
        assert out.read_text() == content
    assert main(["bench", "regions", "--runs", "0", "--out", str(out)]) == 2
    assert "--runs must be at least 1" in capsys.readouterr().err
    out.write_text(json.dumps(recorded))
    from swishpaint.experiments import bench

    monkeypatch.setitem(bench.BENCH_FUNCTIONS, "regions", lambda runs, quick: {"pipeline": {"ratio": 9.9}})  # a smoke test's
    assert main(["bench", "regions", "--quick", "--runs", "1", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["regions"] == recorded["regions"] and data["regions-quick"]["pipeline"]["ratio"] == 9.9


def test_bench_case_failure_is_reported_not_hung_on():
    """A case that fails in its worker process (here an unknown model) comes back as an error entry."""
    from swishpaint.experiments.bench import run_case

    result = run_case("no_such_model", 64, 1, "eager", runs=1)
    assert "error" in result and "no_such_model" in result["error"]


def test_ctrl_c_stops_a_bench_case_without_the_child_process_traceback(tmp_path):
    """Ctrl-C reaches the whole process group: the case's fresh interpreter ignores it and is ended by the
    bench, which stops; before, the child printed its own KeyboardInterrupt traceback."""
    import subprocess
    import sys

    script = tmp_path / "case.py"
    script.write_text(
        "import os, signal, threading, time\n"
        "def slow(queue):\n"
        "    time.sleep(60)\n"
        "    queue.put({})\n"
        "if __name__ == '__main__':\n"
        "    from swishpaint.experiments.bench import _in_fresh_process\n"
        "    threading.Timer(3.0, lambda: os.killpg(os.getpgid(0), signal.SIGINT)).start()\n"
        "    try:\n"
        "        _in_fresh_process(slow)\n"
        "    except KeyboardInterrupt:\n"
        "        print('stopped')\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=50,
                          start_new_session=True, cwd=tmp_path)
    assert done.stdout.strip() == "stopped" and "Traceback" not in done.stderr, done.stderr


def test_a_bench_case_whose_process_dies_is_one_error_not_a_wait_forever():
    import sys

    from swishpaint.experiments.bench import BenchError, _in_fresh_process

    with pytest.raises(BenchError, match=r"a bench case \(exit\) ended with exit code 1 and no result"):
        _in_fresh_process(sys.exit)  # the child exits at once, its result never put


def test_bench_end_to_end_cases_time_the_bundled_pipeline(monkeypatch):
    """`bench infer`'s end-to-end cases colour the example sketches (real line art, as `bench regions`;
    a noise sketch would be thousands of one-pixel regions), each as a user's would be."""
    from swishpaint.experiments.bench import _example_sketches, _measure
    from swishpaint.inference.colorizer import BUNDLED, Colorizer

    colorize = Colorizer.colorize  # the ONNX backend's too (a subclass)
    for mode in ("colorize", "colorize-hints"):
        coloured = []
        monkeypatch.setattr(Colorizer, "colorize", lambda self, s, hints=None: coloured.append(
            (s.shape, hints is not None)) or colorize(self, s, hints=hints))
        r = _measure(str(BUNDLED), 64, 1, mode, runs=1)
        assert r["mode"] == mode and r["seconds"] > 0 and r["working_size"] == 256
        assert len(coloured) == 2 * len(_example_sketches(64)) == 10  # a warm-up and a timed run each
        assert all(shape == (64, 64) and hinted == (mode == "colorize-hints") for shape, hinted in coloured)


def test_a_bench_outside_a_source_checkout_says_it_timed_a_synthetic_sketch(monkeypatch):
    from swishpaint.experiments import bench

    monkeypatch.setattr(bench, "_example_files", lambda: [])
    assert bench.sketch_source().startswith("synthetic noise")
    assert [s.shape for s in bench._example_sketches(32)] == [(32, 32)]


def test_interleaved_timing_takes_the_calls_in_turn_and_reports_each_median():
    from swishpaint.metrics.timing import interleaved_median_times

    calls: list[str] = []
    times = interleaved_median_times({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, runs=3)
    assert calls == ["a", "b"] * 4  # one warm-up round, then three timed rounds, alternating
    assert set(times) == {"a", "b"} and all(t >= 0 for t in times.values())
