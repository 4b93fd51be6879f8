"""The blur kernel of a blurry/sharp pair, in closed form (no kernel network), and its noise.

For a pair (x sharp, y blurry) of the same scene, the kernel k minimises, over the image
gradients (which condition the problem far better than the intensities),

    sum_d ||d(x) * k - d(y)||^2 + lam ||k||^2,      d in {horizontal, vertical difference},

solved in the Fourier domain (K = sum conj(DX) DY / (sum |DX|^2 + lam)), then projected onto blur
kernels: cropped to a `support` x `support` window around its centre of mass, negatives and values
below `floor` x the peak set to 0, normalised to sum 1. Both images are linearised first with
`gamma` (2.2: real cameras and the simulator blur in linear light; 1 for sets blurred in display
values, such as Levin et al.'s). `lam` 0.03 and `floor` 0.05 were chosen on the 32 Levin pairs
(fit PSNR 44.1 dB mean, 40.1 lowest: benchmarks/kernel_estimate_levin.py). The noise of the pair is the robust standard
deviation (1.4826 x median absolute deviation) of the residual y - x * k in linear light.

Blur varies over a real frame, so `estimate_pair_kernels` estimates one kernel per tile. A kernel
and its noise, applied to other sharp images (`apply_kernel`), carry the known domain's blur onto
the camera's own scenes: the known-blur set K without bkse's networks (issue #28, item 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from blur2blur.simulate.camera import convolve_kernel

GAMMA = 2.2


@dataclass
class PairKernel:
    """A kernel estimated from one tile of a pair: `kernel` (odd square, float32, sum 1), the
    tile's box (y, x, h, w), the residual's robust std `noise` (linear light; noise plus misfit)
    and the fit's PSNR (dB)."""

    kernel: np.ndarray
    box: tuple[int, int, int, int]
    noise: float
    fit_psnr: float


def _luma(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img, np.float64)
    return img if img.ndim == 2 else img[..., :3] @ np.array([0.299, 0.587, 0.114])


def _grads(z: np.ndarray) -> list[np.ndarray]:
    return [np.diff(z, axis=1, append=z[:, -1:]), np.diff(z, axis=0, append=z[-1:, :])]


def estimate_kernel(sharp: np.ndarray, blurry: np.ndarray, support: int = 41, lam: float = 0.03,
                    floor: float = 0.05, gamma: float = GAMMA) -> np.ndarray:
    """The blur kernel (odd `support` x `support`, float32, sum 1) that maps `sharp` to `blurry`
    (HxW or HxWx3 arrays in [0,1] of the same size; colour images use their luma)."""
    if support % 2 == 0 or support < 3:
        raise ValueError(f"support must be an odd number >= 3, got {support}")
    x, y = _luma(sharp) ** gamma, _luma(blurry) ** gamma
    if x.shape != y.shape:
        raise ValueError(f"the sharp and blurry images differ in size: {x.shape} and {y.shape}")
    h, w = x.shape
    if min(h, w) < 2 * support:
        raise ValueError(f"a {w}x{h} tile is too small for kernels of {support} px: use tiles of at least "
                         f"{2 * support} px")
    num = np.zeros((h, w), np.complex128)
    den = np.full((h, w), lam * h * w * np.mean([g.var() for g in _grads(x)]))  # (lam relative to the energy)
    win = np.outer(np.hanning(h), np.hanning(w))  # (tapered edges: no wrap-around streak in the spectrum)
    for gx, gy in zip(_grads(x), _grads(y)):
        fx, fy = np.fft.fft2(gx * win), np.fft.fft2(gy * win)
        num += np.conj(fx) * fy
        den += np.abs(fx) ** 2
    k = np.fft.fftshift(np.real(np.fft.ifft2(num / den)))
    cy, cx = h // 2, w // 2
    r = support // 2
    k = k[cy - r:cy + r + 1, cx - r:cx + r + 1]
    k = np.where(k > floor * k.max(), k, 0.0)
    if k.sum() <= 0:
        raise ValueError("no blur kernel could be estimated from this pair (are they the same scene?)")
    return (k / k.sum()).astype(np.float32)


def apply_kernel(img: np.ndarray, kernel: np.ndarray, noise: float = 0.0, rng: np.random.Generator | None = None,
                 gamma: float = GAMMA) -> np.ndarray:
    """`img` (HxWx3 in [0,1]) blurred by `kernel` in linear light, with Gaussian noise of std `noise`
    (linear light) added, back to display values. Returns float32 HxWx3 in [0,1]."""
    lin = np.clip(np.asarray(img, np.float64), 0, 1) ** gamma
    out = convolve_kernel(lin, kernel).astype(np.float64)
    if noise > 0:
        out = out + (rng or np.random.default_rng(0)).normal(0.0, noise, out.shape)
    return (np.clip(out, 0, 1) ** (1 / gamma)).astype(np.float32)


def residual_noise(sharp: np.ndarray, blurry: np.ndarray, kernel: np.ndarray, gamma: float = GAMMA) -> tuple[float, float]:
    """(noise std, fit PSNR dB) of blurry - sharp * kernel in linear light, away from the border."""
    x = np.clip(np.asarray(sharp, np.float64), 0, 1) ** gamma
    y = np.clip(np.asarray(blurry, np.float64), 0, 1) ** gamma
    if x.ndim == 2:
        x, y = x[..., None], y[..., None]
    fit = convolve_kernel(x, kernel).astype(np.float64)
    r = kernel.shape[0] // 2 + 1
    res = (y - fit)[r:-r, r:-r]
    mse = float(np.mean(res ** 2))
    noise = 1.4826 * float(np.median(np.abs(res - np.median(res))))
    return noise, (10 * np.log10(1.0 / mse) if mse > 0 else float("inf"))


def estimate_pair_kernels(sharp: np.ndarray, blurry: np.ndarray, tile: int = 256, support: int = 41,
                          lam: float = 0.03, gamma: float = GAMMA) -> list[PairKernel]:
    """One kernel per `tile` px tile of a pair (the whole pair when it is smaller than a tile,
    and at least 2 x `support` px); each with its noise and fit (`gamma`: see `estimate_kernel`)."""
    h, w = sharp.shape[:2]
    if blurry.shape[:2] != (h, w):
        raise ValueError(f"the sharp and blurry images differ in size: {w}x{h} and "
                         f"{blurry.shape[1]}x{blurry.shape[0]}")
    th, tw = min(tile, h), min(tile, w)
    out = []
    for y0 in range(0, h - th + 1, th):
        for x0 in range(0, w - tw + 1, tw):
            s, b = sharp[y0:y0 + th, x0:x0 + tw], blurry[y0:y0 + th, x0:x0 + tw]
            k = estimate_kernel(s, b, support, lam, gamma=gamma)
            noise, fit = residual_noise(s, b, k, gamma=gamma)
            out.append(PairKernel(k, (y0, x0, th, tw), noise, fit))
    return out
