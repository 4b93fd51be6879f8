"""Pixel losses between images (tensors NCHW or CHW, values in [0, 1]): L1, low-pass L1,
Charbonnier, PSNR."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape != y.shape:
        raise ValueError(f"shape mismatch: x {tuple(x.shape)} vs y {tuple(y.shape)}")


def l1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over all elements (scalar)."""
    _check_pair(x, y)
    return (x - y).abs().mean()


def lowpass_l1(x: torch.Tensor, y: torch.Tensor, factor: int) -> torch.Tensor:
    """L1 of NCHW `x` and `y` after `factor` x `factor` average pooling (ceil mode, any size):
    compares colour and tone while ignoring detail finer than `factor` px (scalar)."""
    _check_pair(x, y)
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    return l1(F.avg_pool2d(x, factor, ceil_mode=True), F.avg_pool2d(y, factor, ceil_mode=True))


def charbonnier(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Charbonnier loss mean(sqrt((x - y)^2 + eps^2)) over all elements (scalar).

    ``eps`` is the smoothing scale itself (it enters squared), so identical inputs give exactly
    ``eps``; bkse-style code that adds 1e-6 inside the root corresponds to eps=1e-3 here.
    """
    _check_pair(x, y)
    return torch.sqrt((x - y) ** 2 + eps * eps).mean()


def psnr_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Negative PSNR (NAFNet style, peak 1): mean over images of 10*log10(mse_i + 1e-8) in dB.

    mse_i is the mean squared error of image i over C, H, W; a CHW input is one image. Equals
    -PSNR (averaged over the batch) up to the 1e-8 guard; lower is better.
    """
    _check_pair(x, y)
    if x.dim() == 3:
        x, y = x.unsqueeze(0), y.unsqueeze(0)
    if x.dim() < 2:
        raise ValueError(f"expected NCHW or CHW tensors, got shape {tuple(x.shape)}")
    mse = ((x - y) ** 2).reshape(x.shape[0], -1).mean(dim=1)
    return (10.0 * torch.log10(mse + 1e-8)).mean()
