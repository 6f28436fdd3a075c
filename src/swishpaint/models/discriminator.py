"""ResNet discriminator with spectral normalisation and ReLU; it doubles as the perceptual network.

Decisions (architecture.md §2.4): the paper's "normalized" ResNet is read as SNGAN's SN-ResNet
(the SSN-GAN follow-up of SGRU): spectral norm couples no samples, so φ(fake) does not depend on the
rest of the batch. It is unconditional (Eq. 4 feeds it an RGB image only). φ_1..φ_5 are the outputs of
blocks 1-5 (multi-scale, like VGG's conv1_2..conv5_2 one pyramid level down); φ_0 is the image itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


@dataclass
class DiscriminatorConfig:
    """Channels of each down-sampling residual block; the paper-scale D has seven blocks for 512x512."""

    widths: tuple[int, ...] = (64, 128, 256, 512, 512, 1024, 1024)
    in_channels: int = 3
    feature_blocks: int = 5  # how many block outputs are perceptual features φ_1..φ_n


def _sn_conv(cin: int, cout: int, kernel: int, gain: float) -> nn.Module:
    conv = nn.Conv2d(cin, cout, kernel, padding=kernel // 2)
    nn.init.xavier_uniform_(conv.weight, gain=gain)
    nn.init.zeros_(conv.bias)
    return spectral_norm(conv)


class ResBlockDown(nn.Module):
    """SNGAN block: [ReLU] -> conv3x3 -> ReLU -> conv3x3 -> avgpool, plus a 1x1 (pooled) shortcut."""

    def __init__(self, cin: int, cout: int, first: bool):
        super().__init__()
        self.first = first
        self.conv1 = _sn_conv(cin, cout if first else cin, 3, math.sqrt(2))
        self.conv2 = _sn_conv(cout if first else cin, cout, 3, math.sqrt(2))
        self.shortcut = _sn_conv(cin, cout, 1, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)
        h = F.avg_pool2d(self.conv2(F.relu(self.conv1(h))), 2)
        # SNGAN's optimised first block pools before its shortcut conv; the others after.
        s = self.shortcut(F.avg_pool2d(x, 2)) if self.first else F.avg_pool2d(self.shortcut(x), 2)
        return h + s


class ResNetDiscriminator(nn.Module):
    """RGB image in [-1, 1] (B, 3, H, W) -> (logit (B,), [φ_1..φ_n] block outputs).

    H and W must be at least 2**len(widths); every block halves the resolution.
    """

    def __init__(self, config: DiscriminatorConfig):
        super().__init__()
        self.config = config
        widths = config.widths
        if not 1 <= config.feature_blocks <= len(widths):
            raise ValueError(f"feature_blocks must be in 1..{len(widths)}, got {config.feature_blocks}")
        self.blocks = nn.ModuleList(
            ResBlockDown(config.in_channels if i == 0 else widths[i - 1], widths[i], first=i == 0)
            for i in range(len(widths))
        )
        self.linear = spectral_norm(nn.Linear(widths[-1], 1))
        nn.init.xavier_uniform_(self.linear.parametrizations.weight.original)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        min_size = 2 ** len(self.blocks)
        if min(x.shape[-2:]) < min_size:
            raise ValueError(f"discriminator input {tuple(x.shape[-2:])} is smaller than {min_size} pixels")
        features = []
        h = x
        for i, block in enumerate(self.blocks):
            h = block(h)
            if i < self.config.feature_blocks:
                features.append(h)
        logit = self.linear(F.relu(h).sum(dim=(2, 3))).squeeze(1)  # global sum pool, as SNGAN
        return logit, features
