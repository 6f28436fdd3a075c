"""FSIM and FSIMc: the feature similarity index.

L. Zhang, L. Zhang, X. Mou and D. Zhang, "FSIM: A Feature Similarity Index for Image Quality
Assessment", IEEE Transactions on Image Processing 20(8), 2378-2386, 2011.

A port of the authors' MATLAB FeatureSIM.m (phase congruency after Kovesi's phasecong2: 4 scales,
4 orientations, minimum wavelength 6, multiplier 2, σ_f 0.55, dθ/σ 1.2, k = 2) with its constants
T1 = 0.85, T2 = 160, T3 = T4 = 200, λ = 0.03 on a 0-255 scale. Written here because the packaged
implementations (piq, pyiqa) drag in torchvision; the tests compare it with piq's numbers.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

T1, T2, T3, T4, LAMBDA = 0.85, 160.0, 200.0, 200.0, 0.03


def _axis(n: int, dtype) -> torch.Tensor:
    if n % 2:
        return torch.arange(-(n - 1) / 2, (n - 1) / 2 + 1, dtype=dtype) / (n - 1)
    return torch.arange(-n / 2, n / 2, dtype=dtype) / n


def _filters(h: int, w: int, scales=4, orientations=4, min_wavelength=6, mult=2, sigma_onf=0.55,
             dtheta_on_sigma=1.2, dtype=torch.float64) -> torch.Tensor:
    """Log-Gabor filters in the frequency domain: (orientations, scales, H, W)."""
    y, x = torch.meshgrid(_axis(h, dtype), _axis(w, dtype), indexing="ij")
    radius = torch.sqrt(x**2 + y**2)
    theta = torch.atan2(-y, x)
    lowpass = torch.fft.ifftshift(1.0 / (1.0 + (radius / 0.45) ** 30))  # Butterworth, cutoff .45, order 15
    radius = torch.fft.ifftshift(radius)
    theta = torch.fft.ifftshift(theta)
    radius[0, 0] = 1.0
    sin_t, cos_t = torch.sin(theta), torch.cos(theta)
    theta_sigma = math.pi / orientations / dtheta_on_sigma
    log_gabor = []
    for s in range(scales):
        f0 = 1.0 / (min_wavelength * mult**s)
        g = torch.exp(-(torch.log(radius / f0) ** 2) / (2 * math.log(sigma_onf) ** 2)) * lowpass
        g[0, 0] = 0.0
        log_gabor.append(g)
    out = []
    for o in range(orientations):
        angle = o * math.pi / orientations
        ds = sin_t * math.cos(angle) - cos_t * math.sin(angle)
        dc = cos_t * math.cos(angle) + sin_t * math.sin(angle)
        spread = torch.exp(-(torch.atan2(ds, dc).abs() ** 2) / (2 * theta_sigma**2))
        out.append(torch.stack([g * spread for g in log_gabor]))
    return torch.stack(out)


def phase_congruency(img: torch.Tensor, k: float = 2.0, eps: float = 1e-4) -> torch.Tensor:
    """(H, W) float64 image -> (H, W) phase congruency map (phasecong2 as used by FeatureSIM.m)."""
    h, w = img.shape
    filters = _filters(h, w, dtype=img.dtype)
    orientations, scales = filters.shape[:2]
    image_fft = torch.fft.fft2(img)
    energy_all = torch.zeros_like(img)
    an_all = torch.zeros_like(img)
    for o in range(orientations):
        eo = torch.fft.ifft2(image_fft * filters[o])  # (scales, H, W) complex
        an = eo.abs()
        sum_e, sum_o = eo.real.sum(0), eo.imag.sum(0)
        x_energy = torch.sqrt(sum_e**2 + sum_o**2) + eps
        mean_e, mean_o = sum_e / x_energy, sum_o / x_energy
        energy = (eo.real * mean_e + eo.imag * mean_o - (eo.real * mean_o - eo.imag * mean_e).abs()).sum(0)
        em_n = (filters[o, 0] ** 2).sum()
        median_e2n = torch.median((an[0] ** 2).flatten())  # MATLAB's median: lower of the middle two
        noise_power = -median_e2n / math.log(0.5) / em_n
        ifft_filters = torch.fft.ifft2(filters[o]).real * math.sqrt(h * w)
        sum_an2 = (ifft_filters**2).sum()
        sum_ai_aj = sum((ifft_filters[i] * ifft_filters[j]).sum()
                        for i in range(scales - 1) for j in range(i + 1, scales))
        tau = torch.sqrt((2 * noise_power * sum_an2 + 4 * noise_power * sum_ai_aj) / 2)
        threshold = (tau * math.sqrt(math.pi / 2) + k * torch.sqrt((2 - math.pi / 2) * tau**2)) / 1.7
        energy_all += (energy - threshold).clamp_min(0)
        an_all += an.sum(0)
    # a flat image has no filter response at all: no phase congruency there (0/0 would poison the score)
    return torch.where(an_all > 0, energy_all / an_all.clamp_min(torch.finfo(an_all.dtype).tiny), 0.0)


def _gradient(img: torch.Tensor) -> torch.Tensor:
    dx = torch.tensor([[3.0, 0, -3], [10, 0, -10], [3, 0, -3]], dtype=img.dtype) / 16
    kernels = torch.stack([dx, dx.t()])[:, None].flip(-1, -2)  # conv2 convolves: flip for cross-correlation
    g = F.conv2d(img[None, None], kernels, padding=1)[0]
    return torch.sqrt((g**2).sum(0))


def _similarity(a: torch.Tensor, b: torch.Tensor, c: float) -> torch.Tensor:
    return (2 * a * b + c) / (a**2 + b**2 + c)


def fsim(pred: torch.Tensor, target: torch.Tensor, chromatic: bool = True) -> torch.Tensor:
    """(B,) FSIMc (or FSIM with chromatic=False) for (B, 3, H, W) or (3, H, W) images in [0, 1]."""
    pred = (pred[None] if pred.ndim == 3 else pred).clamp(0, 1).double() * 255
    target = (target[None] if target.ndim == 3 else target).double() * 255
    m = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=torch.float64)
    scores = []
    for p, t in zip(pred, target):
        yiq_p, yiq_t = torch.einsum("ij,jhw->ihw", m, p), torch.einsum("ij,jhw->ihw", m, t)
        factor = max(1, round(min(p.shape[-2:]) / 256))
        if factor > 1:  # FeatureSIM.m: average filter, then keep every factor-th pixel
            yiq_p = F.avg_pool2d(yiq_p[None], factor)[0]
            yiq_t = F.avg_pool2d(yiq_t[None], factor)[0]
        pc_p, pc_t = phase_congruency(yiq_p[0]), phase_congruency(yiq_t[0])
        sim = _similarity(pc_p, pc_t, T1) * _similarity(_gradient(yiq_p[0]), _gradient(yiq_t[0]), T2)
        if chromatic:
            iq = _similarity(yiq_p[1], yiq_t[1], T3) * _similarity(yiq_p[2], yiq_t[2], T4)
            # MATLAB's real((S_I .* S_Q) .^ λ): a negative base gives |x|^λ cos(λπ)
            sim = sim * torch.where(iq >= 0, iq.abs() ** LAMBDA, iq.abs() ** LAMBDA * math.cos(LAMBDA * math.pi))
        pc_max = torch.maximum(pc_p, pc_t)
        # two flat images have no features to weight by: their similarity's plain mean
        scores.append((sim * pc_max).sum() / pc_max.sum() if pc_max.sum() > 0 else sim.mean())
    return torch.stack(scores).float()
