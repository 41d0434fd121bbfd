"""Estimation layer: normal-return models, the return store and panel, the batched engine."""
