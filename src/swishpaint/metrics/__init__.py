"""Metrics, the leaf layer: pure functions of tensors that any other part of the package may import.

quality (PSNR, SSIM, ΔE, chroma, colourfulness, diversity), fsim, fid (+ its Inception network),
ranking (which of K candidates is best, by each rule) and timing. Nothing here imports the rest of
swishpaint except the base helpers (errors, files, configs).
"""
