"""A camera's noise, estimated from its own photos, and added to other images.

The known-blur set K should differ from the camera's blurry set B only in blur (issue #12, item
3): K is built from the camera's sharp photos S, whose grain the known blur would smear along the
shake while B's grain is fresh. So K is made from lightly smoothed S, blurred, plus fresh noise
drawn from the camera's noise level function, which this module estimates from S.

The model is signal-dependent Gaussian noise in display space (what a Poisson-Gaussian sensor
behind a tone curve looks like): per channel, a standard deviation for each of `bins` intensity
levels in [0, 1], linearly interpolated in between.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from blur2blur.outputs.files import atomic_write_text

_BLOCK = 8       # px: side of the blocks whose residual spread is measured
_PERCENTILE = 10  # lowest-spread blocks per intensity level: the flattest, least texture


@dataclass
class NoiseCurve:
    """Noise standard deviation (intensity units, [0,1] scale) per channel at intensity `levels`."""

    levels: list[float]
    std: list[list[float]]  # [channel][level]

    def to_json(self, path: str | Path) -> None:
        atomic_write_text(path, json.dumps(asdict(self), indent=1))

    @classmethod
    def from_json(cls, path: str | Path) -> "NoiseCurve":
        data = json.loads(Path(path).read_text())
        curve = cls(levels=[float(v) for v in data["levels"]], std=[[float(v) for v in c] for c in data["std"]])
        if len(curve.std) != 3 or any(len(c) != len(curve.levels) for c in curve.std):
            raise ValueError(f"{path}: a noise curve needs 3 channels of {len(curve.levels)} levels")
        return curve

    def sigma(self, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel noise std for NCHW images `x` in [0,1], by linear interpolation in intensity."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"expected Nx3xHxW images, got shape {tuple(x.shape)}")
        levels = torch.tensor(self.levels, dtype=x.dtype, device=x.device)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device)  # 3 x L
        pos = (x.clamp(levels[0], levels[-1]) - levels[0]) / (levels[1] - levels[0])
        lo = pos.floor().clamp(max=len(self.levels) - 2).long()
        frac = pos - lo
        return torch.stack([std[c][lo[:, c]] * (1 - frac[:, c]) + std[c][lo[:, c] + 1] * frac[:, c]
                            for c in range(3)], dim=1)

    def add(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """`x` plus fresh Gaussian noise of this curve's level, clipped to [0,1] (same shape)."""
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device="cpu").to(x.device)
        return (x + noise * self.sigma(x)).clamp(0.0, 1.0)


def _local_mean(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)


def _block_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean intensity and residual spread of every `_BLOCK` block of a CHW image, per channel
    (C x blocks each).

    The residual is the image minus its 3x3 mean, whose std for white noise of std s is
    s * sqrt(8/9)."""
    x = x[None]
    resid = x - _local_mean(x)
    mean = F.avg_pool2d(x, _BLOCK)
    spread = F.avg_pool2d(resid * resid, _BLOCK) - F.avg_pool2d(resid, _BLOCK) ** 2
    return mean[0].flatten(1), spread[0].clamp(min=0).sqrt().flatten(1)


def _calibration() -> float:
    """Factor from the low-percentile block spread of white noise of std 1 to 1 (the bias of the
    estimator), measured once on seeded noise."""
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(1, 512, 512, generator=gen, dtype=torch.float64)
    _, spread = _block_stats(noise)
    return 1.0 / float(torch.quantile(spread[0], _PERCENTILE / 100))


def estimate_noise_curve(images, bins: int = 8, min_blocks: int = 16) -> NoiseCurve:
    """Estimate a camera's noise level function from its photos (HxWx3 float arrays in [0,1]).

    For each channel and each of `bins` intensity levels, the noise std is the `_PERCENTILE`-th
    percentile of the residual spread of the blocks at that level (flat blocks show only noise;
    texture only raises the spread), corrected by the same statistic measured on white noise.
    Levels with fewer than `min_blocks` blocks take the value of the nearest measured level.
    """
    means, spreads = [], []
    for img in images:
        arr = np.asarray(img, dtype=np.float64)
        if arr.ndim != 3 or arr.shape[2] != 3:
            raise ValueError(f"expected HxWx3 images, got shape {arr.shape}")
        if min(arr.shape[:2]) < 2 * _BLOCK:
            continue
        m, s = _block_stats(torch.from_numpy(arr).permute(2, 0, 1))
        means.append(m)
        spreads.append(s)
    if not means:
        raise ValueError(f"no image of at least {2 * _BLOCK} px to estimate the noise from")
    mean, spread = torch.cat(means, 1), torch.cat(spreads, 1)
    edges = np.linspace(0.0, 1.0, bins + 1)
    levels = [(edges[i] + edges[i + 1]) / 2 for i in range(bins)]
    factor = _calibration()
    std: list[list[float]] = []
    for c in range(3):
        values = [np.nan] * bins
        for i in range(bins):
            sel = (mean[c] >= edges[i]) & (mean[c] < edges[i + 1] if i < bins - 1 else mean[c] <= 1.0)
            if int(sel.sum()) >= min_blocks:
                values[i] = factor * float(torch.quantile(spread[c][sel], _PERCENTILE / 100))
        known = [i for i, v in enumerate(values) if not np.isnan(v)]
        if not known:
            raise ValueError(f"too few {_BLOCK} px blocks ({spread.shape[1]}) to estimate the noise: "
                             f"at least {min_blocks} of one brightness are needed")
        std.append([values[min(known, key=lambda j: abs(j - i))] if np.isnan(v) else v
                    for i, v in enumerate(values)])
    return NoiseCurve(levels=[float(v) for v in levels], std=std)
