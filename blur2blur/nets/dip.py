"""Deep Image Prior generators for blind deblurring in the bkse kernel space (Algorithm 1 of Tran et
al., CVPR 2021): ``DIPImage`` draws the sharp image x and ``DIPKernel`` the kernel map k, each from
a fixed noise tensor; only their weights are optimised.

``DIPImage`` is the "skip" encoder-decoder of Ulyanov et al. (Deep Image Prior, CVPR 2018), the
variant bkse uses: per level a stride-2 3x3 conv and a 3x3 conv (down), a 1x1 conv skip branch,
bilinear x2 up-sampling, BatchNorm on the concatenation, a 3x3 then a 1x1 conv (up); every conv is
followed by BatchNorm and LeakyReLU(0.2), reflection padding; a 1x1 conv and a sigmoid at the end
(output in [0, 1]). Defaults: 5 levels, 128 channels down and up, 16-channel skips (about 2.3 M
parameters with 8 noise channels).

``DIPKernel`` follows the bkse kernel DIP: a 7x7 conv on a 64-channel noise code, five stride-2
3x3 convs (widths nf*2**(i+1) capped at ``kernel_dim``, ReLU) and residual blocks at the kernel-map
resolution, linear output (kernel codes are unbounded). Its noise is 32x the map size per side, so
the output has the kernel map's cells (2x2 for a 256x256 image and a 64x64 code).

Both generators are meant to run in training mode (BatchNorm on the single noise tensor's own
statistics, as in DIP). Tensors are NCHW float32.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .kernel_space import ReflectPad1


def _conv_bn_act(c_in: int, c_out: int, k: int, stride: int = 1, slope: float = 0.2) -> list[nn.Module]:
    """Conv (reflection padding k//2) + BatchNorm + LeakyReLU."""
    return [nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, padding_mode="reflect" if k > 1 else "zeros"),
            nn.BatchNorm2d(c_out), nn.LeakyReLU(slope, inplace=True)]


class _SkipLevel(nn.Module):
    """One level of the skip network: ``skip`` (1x1 branch at this resolution), ``down`` (to half
    resolution), ``inner`` (the deeper levels or None), bilinear x2 up, then ``merge``."""

    def __init__(self, c_in: int, c_down: int, c_up: int, c_skip: int, inner: "_SkipLevel | None",
                 inner_out: int, upsample_mode: str):
        super().__init__()
        self.skip = nn.Sequential(*_conv_bn_act(c_in, c_skip, 1)) if c_skip > 0 else None
        self.down = nn.Sequential(*_conv_bn_act(c_in, c_down, 3, stride=2), *_conv_bn_act(c_down, c_down, 3))
        self.inner = inner
        self.upsample_mode = upsample_mode
        c_cat = c_skip + inner_out
        self.merge = nn.Sequential(nn.BatchNorm2d(c_cat), *_conv_bn_act(c_cat, c_up, 3), *_conv_bn_act(c_up, c_up, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        deep = self.down(x)
        if self.inner is not None:
            deep = self.inner(deep)
        if self.upsample_mode == "nearest":
            deep = F.interpolate(deep, size=x.shape[-2:], mode="nearest")
        else:
            deep = F.interpolate(deep, size=x.shape[-2:], mode="bilinear", align_corners=False)
        if self.skip is not None:
            deep = torch.cat((self.skip(x), deep), dim=1)
        return self.merge(deep)


class DIPImage(nn.Module):
    """Skip encoder-decoder (Deep Image Prior) mapping noise z_x (N x in_channels x h x w) to an
    image (N x out_channels x h x w) in [0, 1] through a sigmoid.

    Args: ``in_channels`` of the noise (8 in bkse, 32 in DIP deblurring), ``out_channels``,
    ``channels`` per level (int or one per level, down and up), ``skip_channels`` (int or per
    level; 0 disables a skip), ``levels``, ``upsample_mode`` "bilinear" | "nearest".
    ``forward`` needs h, w multiples of ``2**levels``: build the noise with ``make_noise``, which
    pads any image size up to that, then crop the output with ``[..., :H, :W]``.
    """

    def __init__(self, in_channels: int = 8, out_channels: int = 3, channels: int | tuple[int, ...] = 128,
                 skip_channels: int | tuple[int, ...] = 16, levels: int = 5, upsample_mode: str = "bilinear"):
        super().__init__()
        if upsample_mode not in ("bilinear", "nearest"):
            raise ValueError(f"upsample_mode must be 'bilinear' or 'nearest', got {upsample_mode!r}")
        chans = (channels,) * levels if isinstance(channels, int) else tuple(channels)
        skips = (skip_channels,) * levels if isinstance(skip_channels, int) else tuple(skip_channels)
        if len(chans) != levels or len(skips) != levels:
            raise ValueError(f"need {levels} channel and skip widths, got {chans} and {skips}")
        self.in_channels, self.levels = in_channels, levels
        inner, inner_out = None, 0
        for i in reversed(range(levels)):
            c_in = in_channels if i == 0 else chans[i - 1]
            inner = _SkipLevel(c_in, chans[i], chans[i], skips[i], inner,
                               inner_out if inner is not None else chans[i], upsample_mode)
            inner_out = chans[i]
        self.body = inner
        self.head = nn.Conv2d(chans[0], out_channels, 1)

    def noise_size(self, height: int, width: int) -> tuple[int, int]:
        """Noise (= network) size for an image of height x width: each side rounded up to a multiple
        of 2**levels and at least 2**(levels+1) (so the deepest maps are >= 2x2)."""
        m = 2 ** self.levels
        return tuple(max(math.ceil(s / m) * m, 2 * m) for s in (height, width))  # type: ignore[return-value]

    def make_noise(self, height: int, width: int, generator: torch.Generator | None = None,
                   scale: float = 0.1) -> torch.Tensor:
        """Fixed input code: 1 x in_channels x noise_size, uniform in [0, scale) (DIP's choice), on the
        CPU (move it to the network's device)."""
        h, w = self.noise_size(height, width)
        return torch.rand(1, self.in_channels, h, w, generator=generator) * scale

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        m = 2 ** self.levels
        if z.shape[-2] % m or z.shape[-1] % m:
            raise ValueError(f"noise size {tuple(z.shape[-2:])} must be a multiple of {m} (use make_noise)")
        return torch.sigmoid(self.head(self.body(z)))


class _KernelResBlock(nn.Module):
    """Reflect-pad, conv3x3, ReLU, reflect-pad, conv3x3, plus identity (biases; replicate padding on
    1-cell maps)."""

    def __init__(self, dim: int):
        super().__init__()
        self.body = nn.Sequential(ReflectPad1(), nn.Conv2d(dim, dim, 3), nn.ReLU(inplace=True),
                                  ReflectPad1(), nn.Conv2d(dim, dim, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class DIPKernel(nn.Module):
    """Generator of a kernel map (N x kernel_dim x h x w) from noise z_k (N x in_channels x 32h x 32w).

    Args: ``kernel_dim`` (the wizard's), ``in_channels`` of the noise (64 in bkse), ``nf`` width of
    the first conv (64), ``n_down`` stride-2 convs (5: 32x reduction), ``n_blocks`` residual blocks
    at the map resolution (6 in bkse; 34.8 M parameters at kernel_dim 512). Output is linear.
    """

    def __init__(self, kernel_dim: int = 512, in_channels: int = 64, nf: int = 64, n_down: int = 5,
                 n_blocks: int = 6):
        super().__init__()
        self.kernel_dim, self.in_channels, self.n_down = kernel_dim, in_channels, n_down
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, min(nf, kernel_dim), 7),
                                   nn.ReLU(inplace=True)]
        width = min(nf, kernel_dim)
        for i in range(n_down):
            out = kernel_dim if i == n_down - 1 else min(nf * 2 ** (i + 1), kernel_dim)
            layers += [nn.Conv2d(width, out, 3, stride=2, padding=1), nn.ReLU(inplace=True)]
            width = out
        if n_down == 0 and width != kernel_dim:
            layers += [nn.Conv2d(width, kernel_dim, 1)]
        layers += [_KernelResBlock(kernel_dim) for _ in range(n_blocks)]
        self.model = nn.Sequential(*layers)

    def noise_size(self, map_h: int, map_w: int) -> tuple[int, int]:
        """Noise size for a kernel map of map_h x map_w cells: 2**n_down pixels per cell."""
        s = 2 ** self.n_down
        return map_h * s, map_w * s

    def make_noise(self, map_h: int, map_w: int, generator: torch.Generator | None = None,
                   scale: float = 0.1) -> torch.Tensor:
        """Fixed input code 1 x in_channels x noise_size, uniform in [0, scale), on the CPU."""
        h, w = self.noise_size(map_h, map_w)
        return torch.rand(1, self.in_channels, h, w, generator=generator) * scale

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(z)
