"""Inference layer: (event, group, window) cells and the registered test statistics."""
