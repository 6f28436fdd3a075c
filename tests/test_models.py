"""Generators and discriminator: shapes, size rules, gradients at every level, save/load, registry."""

from __future__ import annotations

import re

import pytest
import torch

from swishpaint.configs import ConfigError
from swishpaint.models import (MODELS, DiscriminatorConfig, ModelLoadError, ResNetDiscriminator, SwishUNet,
                               SwishUNetConfig, count_flops, count_parameters, create_model, load_model,
                               save_model)


@pytest.mark.parametrize("size", [(32, 32), (64, 96), (96, 64)])
@pytest.mark.parametrize("name", ["swish_unet_tiny", "unet_tiny"])
def test_output_shape(name, size):
    model = create_model(name, candidates=4, in_channels=5)
    out = model(torch.rand(2, 5, *size))
    assert out.shape == (2, 4, 3, *size)


def test_paper_config_has_27_output_channels_and_runs():
    model = create_model("swish_unet_paper")
    assert model.head[-1].out_channels == 27
    assert model.config.widths == (96, 192, 288, 384, 480, 512)
    assert len(model.encoders) == 5 and len(model.decoders) == 5  # ten Swish Gated Blocks
    with torch.no_grad():
        out = model(torch.rand(1, 1, 32, 32))
    assert out.shape == (1, 9, 3, 32, 32)


def test_paper_parameter_count_matches_the_analytic_count():
    assert count_parameters(create_model("swish_unet_paper")) == 47_827_558  # architecture.md §4: 47.83 M


@pytest.mark.parametrize("name", ["swish_unet_tiny", "unet_tiny"])
def test_bad_size_gives_clear_error(name):
    model = create_model(name)  # 4 levels: multiples of 8
    with pytest.raises(ValueError, match="not a multiple of 8"):
        model(torch.rand(1, 1, 36, 40))


def test_gradients_reach_every_level():
    """The swish gates are meant to keep the middle layers trained: check each block gets gradient."""
    torch.manual_seed(0)
    model = create_model("swish_unet_small", widths=(8, 8, 16, 16, 24, 24))
    model(torch.rand(2, 1, 64, 64)).mean().backward()
    blocks = list(model.encoders) + list(model.skip_gates) + list(model.decoders) + [model.head]
    for i, block in enumerate(blocks):
        norms = [p.grad.norm().item() for p in block.parameters() if p.grad is not None]
        assert norms and all(n > 0 for n in norms), f"block {i} ({type(block).__name__}) got no gradient"


def test_seeded_models_are_identical_and_save_load_round_trips(tmp_path):
    torch.manual_seed(3)
    a = create_model("swish_unet_tiny", in_channels=5)
    torch.manual_seed(3)
    b = create_model("swish_unet_tiny", in_channels=5)
    x = torch.rand(1, 5, 32, 32)
    assert torch.equal(a.eval()(x), b.eval()(x))
    save_model(a, tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.yaml", "model.safetensors"]
    c = load_model(tmp_path / "m")
    assert isinstance(c, SwishUNet) and c.config == a.config
    assert torch.equal(c(x), a(x))


def test_weights_saved_as_fp16_load_as_float32_and_compute_what_the_file_holds(tmp_path):
    """save_model(half=True), how the bundled weights ship: half the file, and a model rounded to fp16
    in memory (bundle_demo ranks its candidates so) gives exactly the loaded model's outputs."""
    from safetensors.torch import load_file

    from swishpaint.models.registry import half_precision

    torch.manual_seed(3)
    a = create_model("swish_unet_tiny", in_channels=5).eval()
    save_model(a, tmp_path / "full")
    save_model(a, tmp_path / "half", half=True)
    stored = load_file(str(tmp_path / "half" / "model.safetensors"))
    assert {v.dtype for v in stored.values() if v.is_floating_point()} == {torch.float16}
    assert (tmp_path / "half" / "model.safetensors").stat().st_size < 0.6 * (tmp_path / "full" / "model.safetensors").stat().st_size
    c = load_model(tmp_path / "half")
    assert all(p.dtype == torch.float32 for p in c.parameters())
    a.load_state_dict(half_precision(a.state_dict()))
    x = torch.rand(1, 5, 32, 32)
    assert torch.equal(c(x), a(x))


def test_model_card_is_typed_and_read_in_one_place(tmp_path):
    """The card's keys round-trip with their types; the bundled demo's card reads; a stray key is named."""
    from swishpaint.inference.colorizer import BUNDLED
    from swishpaint.models import ModelCard, read_model_card

    card = ModelCard(working_size=128, candidate_order=[1, 0], step=7, val={"psnr_best": 12.5})
    save_model(create_model("swish_unet_tiny", candidates=2), tmp_path / "m", card)
    assert read_model_card(tmp_path / "m") == card
    assert read_model_card("swish_unet_tiny") == ModelCard()  # a registered name: the defaults
    demo = read_model_card(BUNDLED)
    assert demo.working_size == 256 and sorted(demo.candidate_order) == list(range(9)) and demo.trained["step"]
    (tmp_path / "m" / "config.yaml").write_text((tmp_path / "m" / "config.yaml").read_text() + "workin_size: 64\n")
    with pytest.raises(ModelLoadError, match="unknown key.*workin_size"):
        read_model_card(tmp_path / "m")


def test_load_errors_are_clear(tmp_path):
    with pytest.raises(ModelLoadError, match="no such model folder"):
        load_model(tmp_path / "missing")
    save_model(create_model("unet_tiny"), tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(ModelLoadError, match="cannot read weights"):
        load_model(tmp_path / "m")
    save_model(create_model("unet_tiny", widths=[8, 8, 8]), tmp_path / "other")
    (tmp_path / "m" / "model.safetensors").write_bytes((tmp_path / "other" / "model.safetensors").read_bytes())
    with pytest.raises(ModelLoadError, match=r"weights do not fit the config: size mismatch for \S+: \[.*\] in the "
                                             r"file, \[.*\] in this config"):
        load_model(tmp_path / "m")  # says what differs, not only torch's "Error(s) in loading state_dict for"
    save_model(create_model("swish_unet_tiny"), tmp_path / "swish")  # every name differs: one is shown, and how many
    (tmp_path / "m" / "model.safetensors").write_bytes((tmp_path / "swish" / "model.safetensors").read_bytes())
    with pytest.raises(ModelLoadError) as e:
        load_model(tmp_path / "m")
    assert len(str(e.value)) < 300 and re.search(r"and \d+ more missing from the file$", str(e.value)), str(e.value)
    with pytest.raises(ConfigError, match="unknown model"):
        create_model("nope")
    with pytest.raises(ConfigError, match="unknown key"):
        create_model("swish_unet_tiny", widht=3)
    for overrides, message in (({"in_channels": 7}, "in_channels=7 (generators take 1 or 5 input channels)"),
                               ({"in_channels": 0}, "in_channels=0 (sizes and counts must be positive)"),
                               ({"candidates": 0}, "candidates=0 (sizes and counts must be positive)")):
        with pytest.raises(ConfigError) as e:  # the same rules as a model folder's config.yaml (ModelLoadError)
            create_model("swish_unet_tiny", **overrides)
        assert str(e.value) == f"model config (swish_unet): invalid model config: {message}"


def test_a_file_that_is_not_in_a_model_folder_is_named_itself(tmp_path):
    save_model(create_model("unet_tiny"), tmp_path / "m")
    assert isinstance(load_model(tmp_path / "m" / "model.safetensors"), torch.nn.Module)  # a file in a model folder
    (tmp_path / "good.png").write_bytes(b"png")
    with pytest.raises(ModelLoadError) as e:
        load_model(tmp_path / "good.png")
    assert str(e.value) == (f"{tmp_path / 'good.png'}: not a model folder "
                            f"(give the folder holding config.yaml and model.safetensors)")


def test_colorizer_refuses_an_untrained_architecture_unless_asked(tmp_path, monkeypatch):
    from swishpaint.inference.colorizer import Colorizer

    monkeypatch.chdir(tmp_path)  # no folder of that name here
    with pytest.raises(ModelLoadError) as e:
        Colorizer.load("swish_unet_tiny")
    assert str(e.value) == ("swish_unet_tiny: an untrained architecture, not a trained model; "
                            "give a model folder (see swishpaint train)")
    assert Colorizer.load("swish_unet_tiny", allow_untrained=True).candidates == create_model("swish_unet_tiny").config.candidates


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_registered_model_counts_flops(name):
    model = create_model(name)
    assert count_flops(model, 64) > 0 and count_parameters(model) > 0


def test_flops_of_the_paper_model():
    gflops = count_flops(create_model("swish_unet_paper"), 512) / 1e9
    assert 1090 < gflops < 1100  # 547 GMAC (architecture.md §4)


def test_norm_options():
    for norm in ("ln", "bn", "in", "none"):
        m = SwishUNet(SwishUNetConfig(widths=(4, 8), norm=norm))
        assert m(torch.rand(2, 1, 16, 16)).shape == (2, 9, 3, 16, 16)


def test_discriminator_logit_and_features():
    d = ResNetDiscriminator(DiscriminatorConfig(widths=(4, 8, 8, 16, 16, 32), feature_blocks=5))
    logit, feats = d(torch.rand(3, 3, 64, 64) * 2 - 1)
    assert logit.shape == (3,)
    assert [f.shape[1:] for f in feats] == [(4, 32, 32), (8, 16, 16), (8, 8, 8), (16, 4, 4), (16, 2, 2)]
    with pytest.raises(ValueError, match="smaller than"):
        d(torch.rand(1, 3, 32, 32))


def test_discriminator_features_do_not_depend_on_the_batch():
    """Spectral norm, not BatchNorm: φ(x) is the same alone or in a batch."""
    d = ResNetDiscriminator(DiscriminatorConfig(widths=(4, 8, 8), feature_blocks=3)).eval()
    x = torch.rand(4, 3, 16, 16)
    _, alone = d(x[:1])
    _, batched = d(x)
    assert torch.allclose(alone[-1], batched[-1][:1], atol=1e-6)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_knows_its_paper_scale_model_by_registry_name(name):
    from swishpaint.models.registry import paper_scale_model

    paper = paper_scale_model(create_model(name))
    assert paper in MODELS and MODELS[paper][0] == MODELS[name][0]


@pytest.mark.parametrize("size", ["37", "0", "-8"])
def test_info_refuses_a_size_the_model_cannot_take_in_one_line(size, capsys):
    from swishpaint.cli import main

    assert main(["info", "swish_unet_tiny", "--size", size]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"swishpaint: error: --size must be a positive multiple of 8 for this model, got {size}\n"


def test_info_describes_the_bundled_model_by_default_and_labels_an_architecture_untrained(capsys):
    from swishpaint.cli import main
    from swishpaint.inference.colorizer import BUNDLED

    assert main(["info", "--size", "64"]) == 0
    lines = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    assert lines[0] == f"model {BUNDLED} (the bundled demo model)"
    assert {"working size 256", "region chooser yes (region_choice.safetensors)"} <= set(lines)
    assert any(line.startswith("candidate order 0 ") for line in lines)
    assert any(line.startswith("trained step ") for line in lines)
    assert main(["info", "swish_unet_tiny", "--size", "64"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split(maxsplit=1)[1] == "swish_unet_tiny (an untrained architecture: random weights)"
    assert "working size" not in out and "region chooser" not in out


def test_info_of_a_model_folder_shows_how_it_runs_and_its_card(tmp_path, capsys):
    from swishpaint.cli import main
    from swishpaint.models import ModelCard

    card = ModelCard(working_size=128, candidate_order=[1, 0], step=7, val={"psnr_best": 12.5})
    save_model(create_model("swish_unet_tiny", candidates=2), tmp_path / "m", card)
    assert main(["info", str(tmp_path / "m"), "--size", "64"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split(maxsplit=1) == ["model", str(tmp_path / "m")]
    assert [" ".join(line.split()) for line in lines[4:]] == [
        "working size 128", "candidate order 1 0", "region chooser none (swishpaint fit-regions fits one)",
        "step 7", "val psnr_best 12.5"]
    (tmp_path / "m" / "region_choice.safetensors").write_bytes(b"")  # a file colorize would refuse
    assert main(["info", str(tmp_path / "m"), "--size", "64"]) == 0
    assert "region chooser  unusable: cannot read the region chooser" in capsys.readouterr().out


def test_a_training_run_folder_points_to_its_model(tmp_path, capsys):
    """info and colorize on a run folder name the model inside it, not the training config.yaml."""
    from swishpaint.cli import main

    run = tmp_path / "runs" / "tiny"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("steps: 3\n")
    save_model(create_model("swish_unet_tiny"), run / "best")
    expected = f"swishpaint: error: {run}: a training run; its model is {run / 'best'}\n"
    assert main(["info", str(run)]) == 2
    assert capsys.readouterr().err == expected
    assert main(["colorize", str(tmp_path / "x.png"), "-o", str(tmp_path / "out"), "--model", str(run)]) == 2
    assert capsys.readouterr().err == expected
    (run / "best").rename(tmp_path / "elsewhere")  # no model inside: the config itself is named
    with pytest.raises(ModelLoadError, match="config.yaml: not a swishpaint model config"):
        load_model(run)
