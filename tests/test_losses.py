"""Losses: min over candidates, the WPL switch, λ weighting, GAN terms, L2, and overfitting one batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from swishpaint import losses as L
from swishpaint.metrics.ranking import closest_candidate
from swishpaint.models import create_model

from .conftest import drawing, sketch_of


def test_min_over_candidates_picks_the_best_candidate_per_image():
    per_cand = torch.tensor([[3.0, 1.0, 2.0], [0.5, 4.0, 4.0]])
    assert L.min_over_candidates(per_cand, mean_weight=0.0).item() == pytest.approx((1.0 + 0.5) / 2)
    mixed = L.min_over_candidates(per_cand, mean_weight=0.001).item()
    assert mixed == pytest.approx((0.999 * 1 + 0.001 * 2 + 0.999 * 0.5 + 0.001 * 8.5 / 3) / 2)


def test_perceptual_distances_find_the_matching_candidate():
    real = torch.rand(2, 3, 8, 8)
    cands = torch.rand(2, 4, 3, 8, 8)
    cands[0, 2] = real[0]
    cands[1, 0] = real[1]
    d = L.perceptual_distances([cands.flatten(0, 1)], [real], (1.0,))
    assert d.shape == (2, 4)
    assert d.argmin(1).tolist() == [2, 0] and d.min(1).values.abs().max() < 1e-7
    assert closest_candidate(cands, real).tolist() == [2, 0]


def test_each_lambda_weights_its_layer():
    real = [torch.zeros(1, 3, 4, 4), torch.zeros(1, 5, 2, 2)]
    fake = [torch.ones(2, 3, 4, 4), torch.full((2, 5, 2, 2), 2.0)]
    base = L.perceptual_distances(fake, real, (1.0, 1.0))
    assert torch.allclose(base, torch.full((1, 2), 3.0))
    assert torch.allclose(L.perceptual_distances(fake, real, (0.5, 1.0)), torch.full((1, 2), 2.5))
    assert torch.allclose(L.perceptual_distances(fake, real, (1.0, 0.25)), torch.full((1, 2), 1.5))
    with pytest.raises(ValueError):
        L.perceptual_distances(fake * 1, real, (1.0,))


def test_sketch_mask_ignores_line_pixels():
    real = torch.zeros(1, 3, 4, 4)
    fake = torch.zeros(1, 3, 4, 4)
    fake[..., 0, :] = 1.0  # wrong only on row 0
    mask = torch.ones(1, 1, 4, 4)
    mask[..., 0, :] = 0.0  # row 0 is ink
    assert L.perceptual_distances([fake], [real], (1.0,), mask).item() == 0.0
    assert L.perceptual_distances([fake], [real], (1.0,), None).item() == pytest.approx(0.25)


def test_wpl_switch_removes_the_perceptual_term(tmp_path):
    """With perceptual=False only φ_0 (pixels) counts: changing D's features changes nothing."""
    from swishpaint.training.config import load_config
    from swishpaint.training.distributed import DistInfo
    from swishpaint.training.loop import build_state, gan_step

    batch = {"sketch": torch.rand(2, 1, 32, 32), "color": torch.rand(2, 3, 32, 32), "hints": torch.zeros(2, 4, 32, 32)}
    results = {}
    for perceptual in (True, False):
        for d_seed in (0, 1):
            cfg = load_config("configs/tiny.yaml", [f"loss.perceptual={perceptual}", "loss.adversarial_weight=0"])
            state = build_state(cfg, DistInfo())
            torch.manual_seed(d_seed)
            for p in state.d.parameters():
                p.data.normal_()
            state.opt_d.param_groups[0]["lr"] = 0.0  # the D step changes nothing: G sees the D we set
            results[(perceptual, d_seed)] = gan_step(state, batch)["loss_perc"]
    assert results[(False, 0)] == pytest.approx(results[(False, 1)])
    assert results[(True, 0)] != pytest.approx(results[(True, 1)])
    assert results[(True, 0)] > results[(False, 0)]


def test_an_objective_without_perceptual_and_adversarial_terms_neither_runs_nor_trains_d(monkeypatch):
    """The pixel terms alone need no D: its step is skipped (D's weights stay bit-equal and D is never
    called), G still learns from the first step, d_warmup_steps has nothing to warm up, and G's loss is
    the same as with a D that is run and left alone."""
    from swishpaint.training.config import load_config
    from swishpaint.training.distributed import DistInfo
    from swishpaint.training.loop import build_state, d_warmup_steps, gan_step

    batch = {"sketch": torch.rand(2, 1, 32, 32), "color": torch.rand(2, 3, 32, 32), "hints": torch.zeros(2, 4, 32, 32)}
    pixels_only = ["loss.perceptual=false", "loss.adversarial_weight=0", "loss.anchor_weight=1",
                   "loss.anchor_mse_weight=10", "d_warmup_steps=5"]
    state = build_state(load_config("configs/tiny.yaml", pixels_only), DistInfo())
    assert not state.objective.needs_critic and d_warmup_steps(state) == 0
    d_before = {k: v.clone() for k, v in state.d.state_dict().items()}
    g_before = [p.detach().clone() for p in state.g.parameters()]

    def never(*args):
        raise AssertionError("D was run")

    monkeypatch.setattr(state.d, "forward", never)
    out = gan_step(state, batch)
    assert "loss_d" not in out and out["loss_anchor_mse"] > 0
    assert all(torch.equal(v, d_before[k]) for k, v in state.d.state_dict().items())
    assert any(not torch.equal(p, q) for p, q in zip(state.g.parameters(), g_before))

    monkeypatch.undo()
    torch.manual_seed(0)
    fresh = build_state(load_config("configs/tiny.yaml", pixels_only), DistInfo())
    torch.manual_seed(0)
    kept_d = build_state(load_config("configs/tiny.yaml", pixels_only[:-1] + ["loss.adversarial_weight=1e-12"]),
                         DistInfo())
    assert kept_d.objective.needs_critic
    kept_d.opt_d.param_groups[0]["lr"] = 0.0
    assert gan_step(fresh, batch)["loss_g"] == pytest.approx(gan_step(kept_d, batch)["loss_g"], rel=1e-6)


def test_gan_losses():
    assert L.discriminator_loss(torch.tensor([10.0]), torch.tensor([-10.0])).item() < 1e-3
    assert L.discriminator_loss(torch.tensor([-10.0]), torch.tensor([10.0])).item() > 10
    assert L.generator_adversarial_loss(torch.tensor([10.0, 10.0])).item() < 1e-3


def test_l2_regularization_covers_kernels_only():
    model = create_model("swish_unet_tiny")
    expected = 0.009 * sum(p.pow(2).sum() for n, p in model.named_parameters() if p.ndim > 1)
    assert L.l2_regularization(model, 0.009).item() == pytest.approx(expected.item())
    assert all(p.ndim > 1 for p in L.decayed_parameters(model))


def test_one_batch_can_be_overfitted():
    torch.manual_seed(0)
    model = create_model("swish_unet_tiny", widths=(8, 16, 16, 32), candidates=3)
    colors = [drawing(i, 32) for i in range(2)]
    target = torch.stack([torch.from_numpy(np.asarray(c, dtype=np.float32) / 255).permute(2, 0, 1) for c in colors])
    sketch = torch.stack([torch.from_numpy(np.asarray(sketch_of(c), dtype=np.float32) / 255)[None] for c in colors])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(300):
        out = model(sketch)
        loss = L.min_over_candidates(L.perceptual_distances([out.flatten(0, 1)], [target], (1.0,)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0], (losses[0], losses[-1])


def test_hint_loss_trains_the_candidate_that_follows_the_hints():
    target = torch.zeros(2, 3, 8, 8)
    cands = torch.stack([torch.full((3, 8, 8), v) for v in (0.9, 0.1, 0.5)])[None].repeat(2, 1, 1, 1, 1)
    cands.requires_grad_(True)
    hints = torch.zeros(2, 4, 8, 8)
    hints[0, :, 2, 2] = torch.tensor([0.1, 0.1, 0.1, 1.0])  # image 0 hints the 0.1 candidate
    from swishpaint.metrics.ranking import hint_errors

    assert hint_errors(cands[:1].detach(), hints[:1])[0].argmin() == 1
    loss = L.hint_following_l1(cands, target, hints)
    assert loss.item() == pytest.approx(0.1)  # only image 0 counts (image 1 has no hints)
    loss.backward()
    touched = cands.grad.flatten(2).abs().sum(2)
    assert touched[0, 1] > 0 and touched[0, 0] == 0 and touched[0, 2] == 0 and touched[1].sum() == 0
    assert L.hint_following_l1(cands, target, torch.zeros(2, 4, 8, 8)).item() == 0


def test_discriminator_objective_reads_real_then_candidates_from_one_pass():
    from swishpaint.training.objective import GanObjective

    real, candidates = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 3, 8, 8)
    seen = []

    def critic(x):  # says "real" to the first two images of the pass and "fake" to the rest
        seen.append(x.shape[0])
        return torch.tensor([10.0] * 2 + [-10.0] * (x.shape[0] - 2)), []

    loss, logged = GanObjective(L.LossConfig()).discriminator_loss(critic, real, candidates)
    assert seen == [2 + 6] and loss.item() < 1e-3 and logged == {"loss_d": loss.item()}


def test_generator_objective_scores_each_image_by_its_best_candidate():
    """A perfect candidate per image (at different positions) costs nothing; the others only through
    the candidate mean weight; the adversarial term adds its weighted share."""
    from swishpaint.models.discriminator import DiscriminatorConfig, ResNetDiscriminator
    from swishpaint.training.objective import GanObjective

    torch.manual_seed(0)
    d = ResNetDiscriminator(DiscriminatorConfig(widths=(4, 8, 8, 16), feature_blocks=4)).eval()
    real, sketch = torch.rand(2, 3, 32, 32), torch.ones(2, 1, 32, 32)
    noise = torch.rand(2, 3, 3, 32, 32)
    candidates = noise.clone()
    candidates[0, 0], candidates[1, 2] = real[0], real[1]
    hints = torch.zeros(2, 4, 32, 32)
    hints[:, :3, :4, :4], hints[:, 3, :4, :4] = real[:, :, :4, :4], 1.0
    exact = L.LossConfig(adversarial_weight=0, candidate_mean_weight=0, pixel_l1_weight=1, hint_l1_weight=1,
                         l2_mode="off")
    loss, logged = GanObjective(exact).generator_loss(d, d, sketch, real, candidates, hints)
    assert loss.item() == pytest.approx(0, abs=1e-5) and logged["loss_hint"] == pytest.approx(0, abs=1e-6)

    mixed = L.LossConfig(adversarial_weight=0.5, l2_mode="off")
    loss, logged = GanObjective(mixed).generator_loss(d, d, sketch, real, candidates, hints)
    assert logged["loss_perc"] > 0 and logged["loss_adv"] > 0
    assert logged["loss_g"] == pytest.approx(logged["loss_perc"] + 0.5 * logged["loss_adv"])


def test_the_anchor_term_charges_candidate_1_even_when_another_candidate_is_perfect():
    """With anchor_weight, candidate 1 pays its full distance although the min over candidates is 0:
    that is what makes it learn the plausible colouring rather than one corner of the colour space."""
    from swishpaint.models.discriminator import DiscriminatorConfig, ResNetDiscriminator
    from swishpaint.training.objective import GanObjective

    torch.manual_seed(0)
    d = ResNetDiscriminator(DiscriminatorConfig(widths=(4, 8, 8, 16), feature_blocks=4)).eval()
    real, sketch = torch.rand(2, 3, 32, 32), torch.ones(2, 1, 32, 32)
    candidates = torch.rand(2, 3, 3, 32, 32)
    candidates[:, 1] = real  # candidate 2 is perfect, candidate 1 is noise
    plain = L.LossConfig(adversarial_weight=0, candidate_mean_weight=0, l2_mode="off")
    anchored = L.LossConfig(adversarial_weight=0, candidate_mean_weight=0, l2_mode="off", anchor_weight=2.0)
    loss_plain, _ = GanObjective(plain).generator_loss(d, d, sketch, real, candidates, None)
    loss, logged = GanObjective(anchored).generator_loss(d, d, sketch, real, candidates, None)
    assert loss_plain.item() == pytest.approx(0, abs=1e-5)
    assert logged["loss_anchor"] > 0.1
    assert loss.item() == pytest.approx(2.0 * logged["loss_anchor"], rel=1e-5)
    candidates[:, 0] = real  # once candidate 1 is right, the anchor costs nothing
    loss, logged = GanObjective(anchored).generator_loss(d, d, sketch, real, candidates, None)
    assert logged["loss_anchor"] == pytest.approx(0, abs=1e-5)


def test_the_anchor_mse_term_is_candidate_1s_squared_error_alone():
    """anchor_mse_weight adds w · mean((candidate 1 - truth)²): the other candidates do not enter it."""
    from swishpaint.models.discriminator import DiscriminatorConfig, ResNetDiscriminator
    from swishpaint.training.objective import GanObjective

    torch.manual_seed(0)
    d = ResNetDiscriminator(DiscriminatorConfig(widths=(4, 8, 8, 16), feature_blocks=4)).eval()
    real, sketch = torch.rand(2, 3, 32, 32), torch.ones(2, 1, 32, 32)
    candidates = torch.rand(2, 3, 3, 32, 32)
    candidates[:, 1] = real
    config = L.LossConfig(adversarial_weight=0, candidate_mean_weight=0, l2_mode="off", anchor_mse_weight=3.0)
    loss, logged = GanObjective(config).generator_loss(d, d, sketch, real, candidates, None)
    expected = ((candidates[:, 0] - real) ** 2).mean().item()
    assert logged["loss_anchor_mse"] == pytest.approx(expected, rel=1e-5)
    assert loss.item() == pytest.approx(3.0 * expected, rel=1e-5)
    candidates[:, 2] = 0.5  # another candidate's change costs nothing here
    _, again = GanObjective(config).generator_loss(d, d, sketch, real, candidates, None)
    assert again["loss_anchor_mse"] == pytest.approx(expected, rel=1e-5)
