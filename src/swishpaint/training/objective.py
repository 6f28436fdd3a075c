"""The GAN objective of the paper (Eq. 3 and 4) as loss terms of tensors and networks, apart from the loop.

Like pix2pix's backward_D / backward_G: one method per player returns its loss and the values to log.
Nothing here steps an optimiser, scales for AMP, freezes D or moves data: training/loop.py does that
and hands in D as `critic`, a callable already under the loop's autocast (and frozen for G's turn).
Images are in [0, 1]; D sees them in [-1, 1]. `candidates` are G's K outputs, (B, K, 3, H, W).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .. import losses as L

Critic = Callable[[torch.Tensor], tuple[torch.Tensor, list[torch.Tensor]]]  # image -> (logits, φ_1..φ_n)


def _flat(candidates: torch.Tensor) -> torch.Tensor:
    """(B, K, 3, H, W) -> (B*K, 3, H, W) in float32: D scores every candidate as one image."""
    return candidates.reshape(-1, *candidates.shape[2:]).float()


@dataclass
class GanObjective:
    config: L.LossConfig

    @property
    def needs_critic(self) -> bool:
        """Whether G's loss uses D at all: without the perceptual and the adversarial term (the pixel
        terms alone, as SwishU-net-WPL with adversarial_weight=0) D need neither learn nor run, which
        makes a step about 7x cheaper on a CPU (docs/anime-model.md)."""
        return self.config.perceptual or self.config.adversarial_weight > 0

    def discriminator_loss(self, critic: Critic, real: torch.Tensor,
                           candidates: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Eq. 4: real -> 1, every candidate -> 0, in a single pass (DDP sees one forward per backward)."""
        b = real.shape[0]
        logits, _ = critic(torch.cat([real, _flat(candidates).detach()]) * 2 - 1)
        loss = L.discriminator_loss(logits[:b].float(), logits[b:].float())
        return loss, {"loss_d": loss.item()}

    def generator_loss(self, critic: Critic, generator: nn.Module, sketch: torch.Tensor, real: torch.Tensor,
                       candidates: torch.Tensor, hints: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, float]]:
        """Eq. 3: min over candidates of Σ λ_l ‖φ_l(y) - φ_l(G(x))‖ with φ from D (φ_0 = pixels), plus
        the configured extras: candidate 1 as anchor (its Eq. 3 distance, its squared error),
        adversarial, pixel L1 on the best candidate, hint following, coupled α‖W‖²."""
        cfg = self.config
        flat = _flat(candidates)
        real_feats: list[torch.Tensor] = []
        if cfg.perceptual:
            with torch.no_grad():
                _, real_feats = critic(real * 2 - 1)
        fake_logits, fake_feats = critic(flat * 2 - 1) if self.needs_critic else (None, [])
        layers = len(fake_feats) if cfg.perceptual else 0
        per_cand = L.perceptual_distances([flat] + [f.float() for f in fake_feats[:layers]],
                                          [real] + [f.float() for f in real_feats[:layers]],
                                          cfg.lambdas, sketch if cfg.sketch_mask else None)
        loss_perc = L.min_over_candidates(per_cand, cfg.candidate_mean_weight)
        loss = loss_perc
        logged = {"loss_perc": loss_perc.item()}
        if cfg.anchor_weight > 0:
            loss_anchor = per_cand[:, 0].mean()
            loss = loss + cfg.anchor_weight * loss_anchor
            logged["loss_anchor"] = loss_anchor.item()
        if cfg.anchor_mse_weight > 0:
            loss_anchor_mse = (candidates[:, 0].float() - real).pow(2).mean()
            loss = loss + cfg.anchor_mse_weight * loss_anchor_mse
            logged["loss_anchor_mse"] = loss_anchor_mse.item()
        if cfg.adversarial_weight > 0:
            loss_adv = L.generator_adversarial_loss(fake_logits.float())
            loss = loss + cfg.adversarial_weight * loss_adv
            logged["loss_adv"] = loss_adv.item()
        if cfg.pixel_l1_weight > 0:
            best = per_cand.argmin(dim=1)
            chosen = candidates[torch.arange(real.shape[0], device=real.device), best]
            loss = loss + cfg.pixel_l1_weight * (chosen - real).abs().mean()
        if cfg.hint_l1_weight > 0 and hints is not None:
            loss_hint = L.hint_following_l1(candidates.float(), real, hints)
            loss = loss + cfg.hint_l1_weight * loss_hint
            logged["loss_hint"] = loss_hint.item()
        if cfg.l2_mode == "coupled":
            loss = loss + L.l2_regularization(generator, cfg.l2_alpha)
        logged["loss_g"] = loss.item()
        return loss, logged
