"""Evaluation: image-quality metrics, FID, dataset scoring and the paper's tables."""
