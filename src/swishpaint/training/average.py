"""An exponential moving average of the generator's weights (`TrainConfig.ema_decay`).

A GAN generator's weights wander from step to step: checkpoints 120 steps apart scored 0.1-0.4 dB
apart on held-out images, not always in the same direction (docs/anime-model.md). The average of
the recent weights smooths that wander; validation, best/, the samples and a sitting's hand-back use
it, while training goes on with the raw weights. Checkpoints keep both, so a resumed run continues the
average exactly.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class GeneratorAverage:
    """The averaged copy of a generator. Early on the decay is held lower, (1 + n) / (10 + n) after n
    updates, so the average is not dominated by the weights the run started from."""

    def __init__(self, generator: nn.Module, decay: float):
        self.decay = decay  # in (0, 1): TrainConfig.validate checks ema_decay
        self.model = copy.deepcopy(generator).eval().requires_grad_(False)

    def reset(self, generator: nn.Module) -> None:
        """Start the average again at `generator`'s weights (a fine-tuning run's starting point)."""
        self.model.load_state_dict(generator.state_dict())

    @torch.no_grad()
    def update(self, generator: nn.Module, updates: int) -> None:
        """Fold in the generator's weights after its `updates`-th step (counted from its first, so the
        discriminator's warm-up steps, which leave it alone, do not count). Floating-point buffers
        (a BatchNorm's running statistics) are averaged with the weights, counters copied."""
        decay = min(self.decay, (1 + updates) / (10 + updates))
        pairs = zip(self.model.state_dict().items(), generator.state_dict().items(), strict=True)
        for (name, mine), (theirs_name, theirs) in pairs:
            if name != theirs_name:
                raise ValueError(f"the average holds {name} where the generator has {theirs_name}")
            if mine.is_floating_point():
                mine.lerp_(theirs.detach().to(mine.dtype), 1.0 - decay)
            else:
                mine.copy_(theirs)
