"""Curriculum by blur degree (Blur2Blur paper): optimise part of each batch first, then all of it.

The blur degree of an image is the variance of its Laplacian response (lower = blurrier;
metrics/blur_degree.py). Early in
training only a fraction of each batch (the blurriest or the sharpest crops) is optimised; the
fraction grows linearly to the whole batch at a given iteration.
"""

from __future__ import annotations

import math

import torch

def curriculum_fraction(iteration: int, start: float, until: int) -> float:
    """Fraction of the batch optimised at `iteration` (0-based): `start` growing linearly to 1."""
    if not 0 < start <= 1:
        raise ValueError(f"curriculum start fraction must be in (0, 1], got {start}")
    if until <= 0 or iteration >= until:
        return 1.0
    return start + (1.0 - start) * iteration / until


def select_fraction(degree: torch.Tensor, fraction: float, blurriest: bool = True) -> torch.Tensor:
    """Indices of the ceil(fraction * N) blurriest (lowest degree) or sharpest samples (>= 1)."""
    n = degree.shape[0]
    count = max(1, min(n, math.ceil(fraction * n - 1e-9)))
    order = torch.argsort(degree, descending=not blurriest, stable=True)
    return order[:count].sort().values
