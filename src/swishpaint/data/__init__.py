"""Datasets, safe image loading, line extraction, colour hints, augmentation and the demo corpus."""
