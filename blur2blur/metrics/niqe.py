"""NIQE, the no-reference Natural Image Quality Evaluator (Mittal, Soundararajan and Bovik, IEEE
Signal Processing Letters 2013), computed as its authors' MATLAB release computes it.

Lower is better. The image is reduced to the luma Y of MATLAB's `rgb2ycbcr` on 8-bit data (an
integer in [16, 235]), cropped to whole 96 x 96 blocks, and described at two scales (the second
made by MATLAB's `imresize(.., 0.5)`, bicubic with antialiasing) by 18 statistics per block of the
mean-subtracted contrast-normalised (MSCN) coefficients: the shape and spread of a generalised
Gaussian fit, and of asymmetric generalised Gaussian fits to the products of neighbours in four
directions. The quality is the distance between a multivariate Gaussian fitted to the blocks and
the pristine model's: sqrt((mu_p - mu)^T pinv((C_p + C) / 2) (mu_p - mu)).

The pristine model (mean `mu_pris_param`, 36 values, covariance `cov_pris_param`, 36 x 36) is
not part of this project: pass a `.npz` holding those two arrays (see docs/metrics.md).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from scipy import ndimage
from scipy.special import gamma as gamma_fn

BLOCK = 96
# Candidate shape parameters of the generalised Gaussian fits, as in the MATLAB code (0.2:0.001:10).
_SHAPES = 0.2 + 0.001 * np.arange(9801)
_RATIO = gamma_fn(2 / _SHAPES) ** 2 / (gamma_fn(1 / _SHAPES) * gamma_fn(3 / _SHAPES))


def load_pristine_model(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(mu, cov) of a NIQE pristine model from an .npz with `mu_pris_param` and `cov_pris_param`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NIQE pristine model {path} not found")
    with np.load(path) as data:
        missing = [k for k in ("mu_pris_param", "cov_pris_param") if k not in data]
        if missing:
            raise ValueError(f"{path} has no {missing}: a NIQE pristine model needs mu_pris_param and cov_pris_param")
        mu, cov = np.asarray(data["mu_pris_param"], np.float64).ravel(), np.asarray(data["cov_pris_param"], np.float64)
    if mu.shape != (36,) or cov.shape != (36, 36):
        raise ValueError(f"{path}: expected a 36-value mean and a 36 x 36 covariance, got {mu.shape} and {cov.shape}")
    return mu, cov


def matlab_luma(img: np.ndarray) -> np.ndarray:
    """Y of MATLAB's rgb2ycbcr on the 8-bit version of an RGB float image in [0,1] (HxWx3), as
    float64 integers in [16, 235]; a 2-D image is taken as grey levels in [0,1] scaled to 8 bits."""
    arr = np.asarray(img, dtype=np.float64)
    if arr.ndim == 2:
        return np.round(np.clip(arr, 0, 1) * 255)
    rgb = np.round(np.clip(arr, 0, 1) * 255)
    return np.round(16 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255)


def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    return ((1.5 * ax ** 3 - 2.5 * ax ** 2 + 1) * (ax <= 1)
            + (-0.5 * ax ** 3 + 2.5 * ax ** 2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)))


def _resize_weights(n_in: int, n_out: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Tap indices and weights of MATLAB's antialiased bicubic resize along one axis (0-based)."""
    width = 4.0 / scale if scale < 1 else 4.0
    u = np.arange(1, n_out + 1, dtype=np.float64)
    x = u / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(x - width / 2)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]
    dist = x[:, None] - idx
    w = scale * _cubic(scale * dist) if scale < 1 else _cubic(dist)
    w = w / w.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(n_in), np.arange(n_in - 1, -1, -1)])  # symmetric border
    idx = mirror[np.mod(idx.astype(np.int64) - 1, 2 * n_in)]
    keep = np.any(w != 0, axis=0)
    return idx[:, keep], w[:, keep]


def matlab_half(img: np.ndarray) -> np.ndarray:
    """MATLAB's imresize(img, 0.5) (bicubic, antialiased) of a 2-D float64 image."""
    out = img
    for axis in (0, 1):
        n_in = out.shape[axis]
        n_out = int(math.ceil(n_in * 0.5))
        idx, w = _resize_weights(n_in, n_out, 0.5)
        moved = np.moveaxis(out, axis, 0)
        out = np.moveaxis(np.einsum("ok,ok...->o...", w, moved[idx]), 0, axis)
    return out


def _gaussian_window() -> np.ndarray:
    r = np.arange(7) - 3
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * (7 / 6) ** 2))
    return g / g.sum()


def _aggd(values: np.ndarray) -> tuple[float, float, float]:
    """(shape, left scale, right scale) of an asymmetric generalised Gaussian fitted by moments."""
    left = values[values < 0]
    right = values[values > 0]
    left_std = math.sqrt(np.mean(left ** 2)) if left.size else 0.0
    right_std = math.sqrt(np.mean(right ** 2)) if right.size else 0.0
    if left_std == 0 or right_std == 0:
        return float("nan"), float("nan"), float("nan")
    gamma_hat = left_std / right_std
    r_hat = np.mean(np.abs(values)) ** 2 / np.mean(values ** 2)
    r_norm = r_hat * (gamma_hat ** 3 + 1) * (gamma_hat + 1) / (gamma_hat ** 2 + 1) ** 2
    shape = float(_SHAPES[np.argmin((_RATIO - r_norm) ** 2)])
    factor = math.sqrt(gamma_fn(1 / shape) / gamma_fn(3 / shape))
    return shape, left_std * factor, right_std * factor


def _block_features(block: np.ndarray) -> list[float]:
    """The 18 statistics of one block of MSCN coefficients."""
    shape, left, right = _aggd(block.ravel(order="F"))
    feats = [shape, (left + right) / 2]
    for shift in ((0, 1), (1, 0), (1, 1), (-1, 1)):  # MATLAB circshift(block, shift)
        pair = block * np.roll(block, shift, axis=(0, 1))
        shape, left, right = _aggd(pair.ravel(order="F"))
        mean = (right - left) * gamma_fn(2 / shape) / gamma_fn(1 / shape)
        feats += [shape, mean, left, right]
    return feats


def niqe_features(y: np.ndarray) -> np.ndarray:
    """Per-block features (blocks x 36) of a 2-D luma image in 8-bit units, cropped to whole blocks."""
    rows, cols = y.shape[0] // BLOCK, y.shape[1] // BLOCK
    if rows == 0 or cols == 0:
        raise ValueError(f"NIQE needs an image of at least {BLOCK} x {BLOCK} px, got {y.shape[1]} x {y.shape[0]}")
    im = y[:rows * BLOCK, :cols * BLOCK].astype(np.float64)
    window = _gaussian_window()
    scales = []
    for scale in (1, 2):
        mu = ndimage.correlate(im, window, mode="nearest")
        sigma = np.sqrt(np.abs(ndimage.correlate(im * im, window, mode="nearest") - mu * mu))
        mscn = (im - mu) / (sigma + 1)
        size = BLOCK // scale
        scales.append(np.array([_block_features(mscn[r * size:(r + 1) * size, c * size:(c + 1) * size])
                                for c in range(cols) for r in range(rows)]))
        if scale == 1:
            im = matlab_half(im)
    return np.concatenate(scales, axis=1)


def niqe(img: np.ndarray, model: tuple[np.ndarray, np.ndarray]) -> float:
    """NIQE of an RGB float image in [0,1] (HxWx3) against a pristine `model` (mu, cov)."""
    feats = niqe_features(matlab_luma(img))
    mu_p, cov_p = model
    mu_d = np.nanmean(feats, axis=0)
    good = feats[~np.isnan(feats).any(axis=1)]
    cov_d = np.cov(good, rowvar=False) if len(good) > 1 else np.zeros_like(cov_p)
    diff = mu_p - mu_d
    return float(np.sqrt(diff @ np.linalg.pinv((cov_p + cov_d) / 2) @ diff))
