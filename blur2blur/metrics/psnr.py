"""PSNR with the GoPro benchmark convention (DESIGN.md section 3).

Full image, all RGB channels, no border crop, both images rounded to uint8 first.
"""

from __future__ import annotations

import math

import numpy as np


def to_hwc_array(img, rounding: bool = True, name: str = "image") -> np.ndarray:
    """Return ``img`` as a float64 HxWxC array on the 0..255 scale.

    Accepts a numpy array HxWxC or HxW (float in [0, 1], or uint8 taken as 0..255 as is) or a
    torch tensor CHW / 1xCxHxW in [0, 1]. With ``rounding`` the float values are clipped to
    [0, 1] and rounded (half to even, like ``np.round``) to uint8 levels, as when the image is
    saved as an 8-bit file; without it they are only scaled by 255 (no clipping).
    """
    if not isinstance(img, np.ndarray):
        if hasattr(img, "detach"):  # torch tensor, without importing torch here
            t = img.detach()
            if t.dim() == 4:
                if t.shape[0] != 1:
                    raise ValueError(f"{name}: expected one image (1xCxHxW), got shape {tuple(t.shape)}")
                t = t[0]
            if t.dim() != 3:
                raise ValueError(f"{name}: expected a CHW or 1xCxHxW tensor, got shape {tuple(t.shape)}")
            img = t.cpu().double().numpy().transpose(1, 2, 0)
        else:
            img = np.asarray(img)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3:
        raise ValueError(f"{name}: expected an HxWxC or HxW array, got shape {img.shape}")
    if img.dtype == np.uint8:
        return img.astype(np.float64)
    if not np.issubdtype(img.dtype, np.floating):
        raise TypeError(f"{name}: expected float values in [0, 1] or uint8, got dtype {img.dtype}")
    out = img.astype(np.float64) * 255.0
    if rounding:
        out = np.round(np.clip(out, 0.0, 255.0))
    return out


def prepare_pair(pred, gt, rounding: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Convert both images with :func:`to_hwc_array` and check that their shapes agree."""
    p = to_hwc_array(pred, rounding, "pred")
    g = to_hwc_array(gt, rounding, "gt")
    if p.shape != g.shape:
        raise ValueError(f"shape mismatch: pred {p.shape} vs gt {g.shape} (HxWxC)")
    if p.size == 0:
        raise ValueError(f"empty images: shape {p.shape}")
    return p, g


def psnr(pred, gt, rounding: bool = True) -> float:
    """PSNR in dB between ``pred`` and ``gt`` (RGB float [0, 1], numpy HxWx3 or torch CHW/1CHW).

    GoPro convention: both images rounded to uint8 (``rounding=True``), MSE over every pixel and
    channel, peak 255, no border crop. Identical images give ``float('inf')``.
    """
    p, g = prepare_pair(pred, gt, rounding)
    mse = float(np.mean((p - g) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(255.0**2 / mse)
