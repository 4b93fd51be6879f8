"""Camera response curves: linear light in [0,1] <-> display values in [0,1], and their inverses.

Types (the ``response`` mapping of a CameraProfile):
  gamma  {gamma}: y = x ** (1 / gamma)
  srgb   {}: the sRGB transfer curve (linear toe below 0.0031308)
  filmic {gamma, contrast, midpoint}: u = x ** (1 / gamma), then a logistic S-curve of slope
         ``contrast`` centred at ``midpoint`` rescaled so 0 -> 0 and 1 -> 1 (more contrast,
         compressed shadows and highlights)
  linear {}: y = x
"""

from __future__ import annotations

import numpy as np


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _filmic_ends(contrast: float, midpoint: float) -> tuple[float, float]:
    return float(_sigmoid(-contrast * midpoint)), float(_sigmoid(contrast * (1.0 - midpoint)))


def apply_response(x: np.ndarray, response: dict) -> np.ndarray:
    """Linear values (clipped to [0,1]) -> display values in [0,1]; same dtype as float input."""
    x = np.clip(x, 0.0, 1.0)
    kind = response["type"]
    if kind == "linear":
        return x
    if kind == "gamma":
        return x ** (1.0 / response["gamma"])
    if kind == "srgb":
        return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)
    if kind == "filmic":
        c, m = response["contrast"], response["midpoint"]
        lo, hi = _filmic_ends(c, m)
        u = x ** (1.0 / response["gamma"])
        return np.clip((_sigmoid(c * (u - m)) - lo) / (hi - lo), 0.0, 1.0)
    raise ValueError(f"unknown response type {kind!r}")


def invert_response(y: np.ndarray, response: dict) -> np.ndarray:
    """Display values (clipped to [0,1]) -> linear values in [0,1] (exact inverse of apply_response)."""
    y = np.clip(y, 0.0, 1.0)
    kind = response["type"]
    if kind == "linear":
        return y
    if kind == "gamma":
        return y ** response["gamma"]
    if kind == "srgb":
        return np.where(y <= 0.04045, y / 12.92, ((y + 0.055) / 1.055) ** 2.4)
    if kind == "filmic":
        c, m = response["contrast"], response["midpoint"]
        lo, hi = _filmic_ends(c, m)
        s = np.clip(lo + y * (hi - lo), 1e-12, 1 - 1e-12)
        u = np.clip(m + np.log(s / (1.0 - s)) / c, 0.0, 1.0)
        return u ** response["gamma"]
    raise ValueError(f"unknown response type {kind!r}")
