"""Inference: the Colorizer API, batch processing for the CLI, high-resolution handling, ONNX."""
