"""Training augmentations: pure functions of arrays and a numpy Generator."""
from __future__ import annotations

import numpy as np


def random_scale(x: np.ndarray, rng: np.random.Generator, max_delta: float) -> np.ndarray:
    """Scale each axis by a factor drawn from U(1 - max_delta, 1 + max_delta). x: (..., C); zeros stay zero."""
    factors = rng.uniform(1 - max_delta, 1 + max_delta, size=x.shape[-1]).astype(x.dtype)
    return x * factors


def jitter(x: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Add N(0, sigma²) noise to present joints. x: (..., V, C) with all-zero rows meaning absent."""
    present = np.any(x != 0, axis=-1, keepdims=True)
    noise = rng.normal(0.0, sigma, size=x.shape).astype(x.dtype)
    return np.where(present, x + noise, x)


def augment_skeleton(x: np.ndarray, rng: np.random.Generator | None, scale: float, sigma: float) -> np.ndarray:
    """Scale + jitter for training (rng given); unchanged for evaluation (rng None). x: (M, T, V, C) float32."""
    if rng is None:
        return x
    return jitter(random_scale(x, rng, scale), rng, sigma).astype(np.float32)
