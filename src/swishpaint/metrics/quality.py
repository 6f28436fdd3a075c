"""Per-image quality metrics on float tensors in [0, 1]: PSNR, SSIM, CIE ΔE (Lab), chroma, colourfulness.

PSNR and SSIM follow Wang et al. (2004) as scikit-image computes them with gaussian_weights=True,
sigma=1.5, use_sample_covariance=False, data_range=1 (checked against scikit-image in the tests);
for RGB, SSIM is the mean over channels. Inputs are (3, H, W) or (B, 3, H, W).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _batch(x: torch.Tensor) -> torch.Tensor:
    return x[None] if x.ndim == 3 else x


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """(B,) PSNR in dB per image (images clamped to [0, data_range])."""
    pred, target = _batch(pred).clamp(0, data_range), _batch(target)
    mse = (pred - target).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(data_range**2 / mse.clamp_min(1e-12))


WINDOW_RADIUS = 5  # SSIM's 11x11 gaussian window
MIN_SIDE = 2 * WINDOW_RADIUS + 1  # the least image side SSIM can score (it uses only whole windows)


def _gaussian_window(sigma: float = 1.5, radius: int = WINDOW_RADIUS) -> torch.Tensor:
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _filter(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    c = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """(B,) SSIM per image, mean over channels and valid (unpadded) window positions."""
    x = _batch(pred).clamp(0, data_range).double()
    y = _batch(target).double()
    g = _gaussian_window().to(x.device)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = _filter(x, g), _filter(y, g)
    vx = _filter(x * x, g) - mx**2
    vy = _filter(y * y, g) - my**2
    cxy = _filter(x * y, g) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return s.flatten(1).mean(1).float()


_RGB_TO_XYZ = ((0.412453, 0.357580, 0.180423),
               (0.212671, 0.715160, 0.072169),
               (0.019334, 0.119193, 0.950227))
_WHITE_D65 = (0.950456, 1.0, 1.088754)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) sRGB in [0, 1] -> CIE Lab (D65)."""
    rgb = _batch(rgb).clamp(0, 1).double()
    lin = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    m = torch.tensor(_RGB_TO_XYZ, dtype=torch.float64, device=rgb.device)
    xyz = torch.einsum("ij,bjhw->bihw", m, lin)
    xyz = xyz / torch.tensor(_WHITE_D65, dtype=torch.float64, device=rgb.device).view(1, 3, 1, 1)
    f = torch.where(xyz > 0.008856, xyz.clamp_min(1e-12) ** (1 / 3), 7.787 * xyz + 16 / 116)
    L = torch.where(xyz[:, 1:2] > 0.008856, 116 * f[:, 1:2] - 16, 903.3 * xyz[:, 1:2])
    a = 500 * (f[:, 0:1] - f[:, 1:2])
    b = 200 * (f[:, 1:2] - f[:, 2:3])
    return torch.cat([L, a, b], dim=1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) CIE Lab (D65) -> sRGB in [0, 1] (float64), the inverse of rgb_to_lab; colours outside
    the sRGB gamut are clipped."""
    lab = _batch(lab).double()
    L, a, b = lab[:, 0:1], lab[:, 1:2], lab[:, 2:3]
    fy = (L + 16) / 116
    f = torch.cat([fy + a / 500, fy, fy - b / 200], dim=1)
    xyz = torch.where(f > 0.206893, f ** 3, (f - 16 / 116) / 7.787)
    xyz[:, 1:2] = torch.where(L > 7.9996, xyz[:, 1:2], L / 903.3)
    xyz = xyz * torch.tensor(_WHITE_D65, dtype=torch.float64, device=lab.device).view(1, 3, 1, 1)
    m = torch.linalg.inv(torch.tensor(_RGB_TO_XYZ, dtype=torch.float64, device=lab.device))
    lin = torch.einsum("ij,bjhw->bihw", m, xyz).clamp(0, 1)
    return torch.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin.clamp_min(1e-12) ** (1 / 2.4) - 0.055).clamp(0, 1)


def delta_e(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B,) mean CIE76 ΔE between two sRGB images."""
    return (rgb_to_lab(pred) - rgb_to_lab(target)).pow(2).sum(1).sqrt().flatten(1).mean(1).float()


def chroma(rgb: torch.Tensor) -> torch.Tensor:
    """(B,) mean Lab chroma sqrt(a² + b²): ~0 for grey images, > 10 for clearly coloured ones."""
    lab = rgb_to_lab(rgb)
    return lab[:, 1:].pow(2).sum(1).sqrt().flatten(1).mean(1).float()


def colourfulness(rgb: torch.Tensor) -> torch.Tensor:
    """(B,) Hasler & Süsstrunk (2003) colourfulness on a 0-255 scale."""
    x = _batch(rgb).clamp(0, 1) * 255
    rg = x[:, 0] - x[:, 1]
    yb = (x[:, 0] + x[:, 1]) / 2 - x[:, 2]
    std = torch.hypot(rg.flatten(1).std(1, unbiased=False), yb.flatten(1).std(1, unbiased=False))
    mean = torch.hypot(rg.flatten(1).mean(1), yb.flatten(1).mean(1))
    return std + 0.3 * mean


def candidate_diversity(candidates: torch.Tensor) -> torch.Tensor:
    """(K, 3, H, W) -> mean pairwise ΔE between candidates (0 when K = 1)."""
    k = candidates.shape[0]
    if k < 2:
        return torch.tensor(0.0)
    lab = rgb_to_lab(candidates)
    total, pairs = 0.0, 0
    for i in range(k):
        for j in range(i + 1, k):
            total += (lab[i] - lab[j]).pow(2).sum(0).sqrt().mean().item()
            pairs += 1
    return torch.tensor(total / pairs)
