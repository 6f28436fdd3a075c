"""SwishU-net: the paper's generator, a Swish-gated residual U-net (SGRU) with 9 RGB candidates.

Decisions on the paper's ambiguities (see docs/decisions.md and ../shared architecture.md §1.5):
- G1 blocks concatenate T(x) and S(x) (Eq. 2, ⊕ = concatenation); no additive identity.
- G2 normalisation is SGRU's LayerNorm = GroupNorm(1, C) (batch-independent); 'bn'/'in'/'none' selectable.
- G3 LeakyReLU slope 0.2 (SGRU-TF, CRN).
- G4 the swish gate conv has norm but no LeakyReLU.
- G5 pooling / up-sampling come before the gate (the SGRU authors' fix).
- G6 the first block gates the raw input (1 or 5 channels), so level 1 outputs 96 + C_in channels.
- G7 the "1x1 convolution" between blocks is 1x1 with the level's width.
- G8 down-sampling 2x2 max-pool; up-sampling 2x2 stride-2 transposed conv (+ norm + LReLU), as SGRU.
- G9 the last layer is a linear 1x1 conv with 3K kernels, read as K RGB candidates via (raw + 1) / 2:
  outputs are ~[0, 1], not clamped in training (clamp for display and metrics only).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .layers import ConvNormAct, SwishGate, UpNormAct, candidates_from_raw, check_size, init_xavier


@dataclass
class SwishUNetConfig:
    """Widths per level (level 1 first); the paper's are 96/192/288/384/480/512."""

    widths: tuple[int, ...] = (96, 192, 288, 384, 480, 512)
    in_channels: int = 1  # 1 = sketch; 5 = sketch + hint RGB + hint mask
    candidates: int = 9
    norm: str = "ln"
    slope: float = 0.2
    upsample: str = "deconv"

    @property
    def size_multiple(self) -> int:
        return 2 ** (len(self.widths) - 1)


class EncoderSGB(nn.Module):
    """Encoder Swish Gated Block: y = maxpool(T(x)) ⊕ S(maxpool(x)); T(x) is also the level's skip."""

    def __init__(self, cin: int, width: int, first: bool, norm: str, slope: float):
        super().__init__()
        # The first block sees the raw sketch; the others get a 1x1 conv to the level's width (G6, G7).
        self.project = nn.Identity() if first else ConvNormAct(cin, width, 1, norm, slope)
        x_ch = cin if first else width
        self.transform = nn.Sequential(ConvNormAct(x_ch, width, 3, norm, slope),
                                       ConvNormAct(width, width, 3, norm, slope))
        self.pool = nn.MaxPool2d(2)
        self.gate = SwishGate(x_ch, norm)
        self.out_channels = width + x_ch

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.project(h)
        t = self.transform(x)
        return torch.cat([self.pool(t), self.gate(self.pool(x))], dim=1), t


class DecoderSGB(nn.Module):
    """Decoder Swish Gated Block: y = up(T(x)) ⊕ S(up'(x)) ⊕ skip; the gated skip replaces U-net's copy."""

    def __init__(self, cin: int, width: int, norm: str, slope: float, upsample: str):
        super().__init__()
        self.project = ConvNormAct(cin, width, 1, norm, slope)
        self.transform = nn.Sequential(ConvNormAct(width, width, 3, norm, slope),
                                       ConvNormAct(width, width, 3, norm, slope))
        self.up_main = UpNormAct(width, width, upsample, norm, slope)
        self.up_gate = UpNormAct(width, width, upsample, norm, slope)
        self.gate = SwishGate(width, norm)

    def forward(self, h: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.project(h)
        t = self.transform(x)
        return torch.cat([self.up_main(t), self.gate(self.up_gate(x)), skip], dim=1)


class SwishUNet(nn.Module):
    """Sketch (B, C_in, H, W) in [0, 1] -> K colour candidates (B, K, 3, H, W) in ~[0, 1].

    H and W must be multiples of 2**(levels - 1) (32 for the paper's six levels).
    """

    def __init__(self, config: SwishUNetConfig):
        super().__init__()
        self.config = config
        w, norm, slope = config.widths, config.norm, config.slope
        if len(w) < 2:
            raise ValueError("SwishUNet needs at least two levels")
        self.encoders = nn.ModuleList()
        cin = config.in_channels
        for k in range(len(w) - 1):
            block = EncoderSGB(cin, w[k], first=k == 0, norm=norm, slope=slope)
            self.encoders.append(block)
            cin = block.out_channels
        # Skip connections are swish-gated too (SGRU's green "S" on the horizontal arrows).
        self.skip_gates = nn.ModuleList(SwishGate(w[k], norm) for k in range(len(w) - 1))
        self.decoders = nn.ModuleList()
        for level in range(len(w) - 1, 0, -1):
            self.decoders.append(DecoderSGB(cin, w[level], norm, slope, config.upsample))
            cin = 2 * w[level] + w[level - 1]
        self.head = nn.Sequential(
            ConvNormAct(cin, w[0], 1, norm, slope),
            ConvNormAct(w[0], w[0], 3, norm, slope),
            ConvNormAct(w[0], w[0], 3, norm, slope),
            nn.Conv2d(w[0], 3 * config.candidates, 1),  # no norm, no activation (paper §3.1)
        )
        init_xavier(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_size(x, self.config.size_multiple)
        skips = []
        h = x
        for encoder, skip_gate in zip(self.encoders, self.skip_gates):
            h, t = encoder(h)
            skips.append(skip_gate(t))
        for decoder, skip in zip(self.decoders, reversed(skips)):
            h = decoder(h, skip)
        return candidates_from_raw(self.head(h), self.config.candidates)
