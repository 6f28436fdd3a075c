"""U-net baseline (pix2pix-style): the paper's "U-net model" of Table 1, same input/output contract.

pix2pix's generator: 4x4 stride-2 convs down (norm + LeakyReLU 0.2, no norm on the outermost layer),
ReLU + 4x4 stride-2 transposed convs up (+ norm), plain concatenation skips. Deviations, and why:
- levels are configurable; six levels (five down-samplings) give the same 32-multiple size rule as
  SwishU-net, so both models train on the same crops;
- no dropout: pix2pix used it as its noise source, here diversity comes from the K candidates;
- the head is a linear 1x1 conv to 3K channels read as K candidates, exactly as in SwishU-net.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .layers import candidates_from_raw, check_size, init_xavier, norm_layer


@dataclass
class UNetConfig:
    widths: tuple[int, ...] = (64, 128, 256, 512, 512, 512)
    in_channels: int = 1
    candidates: int = 9
    norm: str = "bn"  # pix2pix uses BatchNorm
    slope: float = 0.2

    @property
    def size_multiple(self) -> int:
        return 2 ** (len(self.widths) - 1)


class UNet(nn.Module):
    """Sketch (B, C_in, H, W) in [0, 1] -> (B, K, 3, H, W) in ~[0, 1]; H, W multiples of 2**(levels-1)."""

    def __init__(self, config: UNetConfig):
        super().__init__()
        self.config = config
        w, norm = config.widths, config.norm
        self.stem = nn.Sequential(nn.Conv2d(config.in_channels, w[0], 3, padding=1), nn.LeakyReLU(config.slope))
        self.downs = nn.ModuleList(
            nn.Sequential(nn.Conv2d(w[k - 1], w[k], 4, stride=2, padding=1, bias=norm == "none"),
                          norm_layer(norm, w[k]), nn.LeakyReLU(config.slope))
            for k in range(1, len(w))
        )
        self.ups = nn.ModuleList()
        for k in range(len(w) - 1, 0, -1):
            cin = w[k] if k == len(w) - 1 else 2 * w[k]
            self.ups.append(nn.Sequential(
                nn.ReLU(), nn.ConvTranspose2d(cin, w[k - 1], 4, stride=2, padding=1, bias=norm == "none"),
                norm_layer(norm, w[k - 1])))
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(2 * w[0], 3 * config.candidates, 1))
        init_xavier(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_size(x, self.config.size_multiple)
        h = self.stem(x)
        skips = [h]
        for down in self.downs:
            h = down(h)
            skips.append(h)
        skips.pop()  # the innermost level has no skip partner
        for up in self.ups:
            h = torch.cat([up(h), skips.pop()], dim=1)
        return candidates_from_raw(self.head(h), self.config.candidates)
