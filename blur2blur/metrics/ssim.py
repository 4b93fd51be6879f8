"""SSIM under the two conventions of the field (DESIGN.md section 3); name the one used.

Both work on uint8-rounded values in [0, 255] (data range 255, so C1 = (0.01*255)**2 and
C2 = (0.03*255)**2), in float64, with the Gaussian sigma 1.5 and 11 taps per axis
(weights exp(-x**2 / (2*1.5**2)) for x = -5..5, normalised to sum 1).

``matlab3d`` -- MATLAB's ``ssim(A, ref)`` on an HxWx3 array, used by NAFNet, Restormer and the
official Blur2Blur numbers. MATLAB treats a 3-D array as a volume: local statistics come from
``imgaussfilt3`` with sigma 1.5 ("Radius"), filter size 2*ceil(3*1.5)+1 = 11 in each of the three
dimensions and 'replicate' padding. With only 3 channels the depth axis is filtered with
replicate padding too, so every channel's statistics mix all three channels. The SSIM map has one
value per voxel (no crop) and the score is its mean over the whole volume. MATLAB computes in
single precision for non-double inputs; this implementation uses float64, so results can differ
from MATLAB's in about the 6th decimal.

``channelwise`` -- BasicSR-style 2-D SSIM: each channel separately, an 11x11 Gaussian window (the
outer product of the 1-D one), 'valid' filtering (the map is cropped by 5 px on each side), the
map averaged, then the channels averaged. Needs H, W >= 11.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .psnr import prepare_pair

SSIM_CONVENTIONS = ("matlab3d", "channelwise")

_SIGMA = 1.5
_RADIUS = 5  # 11 taps: 2*ceil(3*sigma)+1
_C1 = (0.01 * 255.0) ** 2
_C2 = (0.03 * 255.0) ** 2


def gaussian_taps(sigma: float = _SIGMA, radius: int = _RADIUS) -> np.ndarray:
    """1-D Gaussian weights for offsets -radius..radius, float64, summing to 1."""
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-(x**2) / (2.0 * sigma**2))
    return w / w.sum()


def _blur(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Separable Gaussian filter along ``axes`` with replicate ('nearest') borders."""
    taps = gaussian_taps()
    for ax in axes:
        x = ndimage.correlate1d(x, taps, axis=ax, mode="nearest")
    return x


def _ssim_map(x: np.ndarray, y: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Per-pixel SSIM (C3 = C2/2, unit exponents) with local statistics filtered along ``axes``."""
    mu_x = _blur(x, axes)
    mu_y = _blur(y, axes)
    var_x = _blur(x * x, axes) - mu_x * mu_x
    var_y = _blur(y * y, axes) - mu_y * mu_y
    cov = _blur(x * y, axes) - mu_x * mu_y
    num = (2.0 * mu_x * mu_y + _C1) * (2.0 * cov + _C2)
    den = (mu_x * mu_x + mu_y * mu_y + _C1) * (var_x + var_y + _C2)
    return num / den


def ssim(pred, gt, convention: str = "matlab3d", rounding: bool = True) -> float:
    """SSIM of ``pred`` against ``gt`` (RGB float [0, 1], numpy HxWx3 or torch CHW/1CHW).

    ``convention``: "matlab3d" or "channelwise" (see the module docstring). Images are rounded
    to uint8 levels first (``rounding=True``; uint8 arrays are used as they are), data range 255.
    Identical images give 1.0.
    """
    if convention not in SSIM_CONVENTIONS:
        raise ValueError(f"unknown SSIM convention {convention!r}; expected one of {SSIM_CONVENTIONS}")
    p, g = prepare_pair(pred, gt, rounding)
    if convention == "matlab3d":
        return float(_ssim_map(p, g, axes=(0, 1, 2)).mean())
    h, w = p.shape[:2]
    if h < 2 * _RADIUS + 1 or w < 2 * _RADIUS + 1:
        raise ValueError(f"channelwise SSIM needs images of at least 11x11 pixels, got {h}x{w}")
    # Filtering only along H and W keeps channels separate; cropping the border leaves exactly
    # the 'valid' positions, whose values do not depend on the padding mode.
    m = _ssim_map(p, g, axes=(0, 1))[_RADIUS:-_RADIUS, _RADIUS:-_RADIUS]
    return float(m.mean(axis=(0, 1)).mean())
