"""Small building blocks shared by the generators: conv + norm + LeakyReLU, up-sampling, the swish gate."""

from __future__ import annotations

import torch
from torch import nn

NORMS = ("ln", "bn", "in", "none")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """Normalisation by name: 'ln' is SGRU's LayerNorm (GroupNorm with one group), batch-independent."""
    if kind == "ln":
        return nn.GroupNorm(1, channels)
    if kind == "bn":
        return nn.BatchNorm2d(channels)
    if kind == "in":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; choose one of {NORMS}")


class ConvNormAct(nn.Sequential):
    """Conv (k x k, 'same' padding, no bias when a norm follows) -> norm -> LeakyReLU."""

    def __init__(self, cin: int, cout: int, kernel: int, norm: str = "ln", slope: float = 0.2):
        super().__init__(
            nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=norm == "none"),
            norm_layer(norm, cout),
            nn.LeakyReLU(slope),
        )


class UpNormAct(nn.Sequential):
    """2x up-sampling: 2x2 stride-2 transposed conv (SGRU) or bilinear resize + 1x1 conv, then norm + LReLU."""

    def __init__(self, cin: int, cout: int, mode: str = "deconv", norm: str = "ln", slope: float = 0.2):
        if mode == "deconv":
            up: list[nn.Module] = [nn.ConvTranspose2d(cin, cout, 2, stride=2, bias=norm == "none")]
        elif mode == "bilinear":
            up = [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                  nn.Conv2d(cin, cout, 1, bias=norm == "none")]
        else:
            raise ValueError(f"unknown upsample mode {mode!r}; choose 'deconv' or 'bilinear'")
        super().__init__(*up, norm_layer(norm, cout), nn.LeakyReLU(slope))


class SwishGate(nn.Module):
    """Swish module S(x) = x * sigmoid(norm(conv3x3(x))) (paper Eq. 1): a learned gate on a shortcut.

    The gate conv has norm but no LeakyReLU (architecture.md G4): an activation before the sigmoid would
    bias every gate towards 'open'.
    """

    def __init__(self, channels: int, norm: str = "ln"):
        super().__init__()
        self.gate = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=norm == "none"), norm_layer(norm, channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.gate(x))


def init_xavier(module: nn.Module) -> None:
    """Glorot-uniform weights and zero biases, as tf.contrib's defaults in SGRU."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def candidates_from_raw(raw: torch.Tensor, candidates: int) -> torch.Tensor:
    """(B, 3K, H, W) linear head output -> (B, K, 3, H, W) in ~[0, 1] (not clamped).

    Channel c holds colour c // K of candidate c % K, as in SGRU/CRN; (raw + 1) / 2 maps the head's
    [-1, 1] target range to [0, 1].
    """
    b, _, h, w = raw.shape
    return (raw.view(b, 3, candidates, h, w).transpose(1, 2) + 1) / 2


def check_size(x: torch.Tensor, multiple: int) -> None:
    """Raise a clear error when H or W is not a multiple of the network's total down-sampling."""
    h, w = x.shape[-2:]
    if h % multiple or w % multiple:
        raise ValueError(
            f"input size {h}x{w} is not a multiple of {multiple}; pad it first "
            f"(swishpaint.inference pads automatically)"
        )
