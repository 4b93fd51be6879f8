"""MIMO-UNet / MIMO-UNet+ (Cho et al., ICCV 2021): the Blur2Blur blur translator.

Multi-input multi-output U-Net: it reads the image at scales 1/4, 1/2 and 1 and predicts an image
at each, each the residual of the nearest-downsampled input. Module and key names follow the
official code (``Encoder``, ``Decoder``, ``feat_extract``, ``SCM1/2``, ``FAM1/2``, ``AFFs``,
``Convs``, ``ConvsOut``; ``main.0`` inside every BasicConv), so ``{'model': sd}`` checkpoints load
strictly. Images RGB float32 in [0,1], NCHW.

Option (ours; off by default, in every preset and in the official models): ``out_kernel=k``
turns each output head into a kernel-prediction head (Bako et al. 2017; Mildenhall et al., CVPR
2018): per pixel it predicts a k x k filter of the input at that scale, point-symmetric and shared
by R, G and B, so T can re-blur, smooth or (``kernel_mode="residual"``) mildly sharpen, but cannot
shift the image, change a flat colour or paint new structure. Key names stay the official ones;
only the three output convs change shape. It did not make Blur2Blur win the demo (docs/research/demo.md,
fifth round).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .padding import pad_to_multiple


class BasicConv(nn.Module):
    """Conv (or transposed conv) with 'same' padding, optional BatchNorm and ReLU, in ``main``."""

    def __init__(self, in_channel, out_channel, kernel_size, stride=1, bias=True, norm=False,
                 relu=True, transpose=False):
        super().__init__()
        if norm:
            bias = False
        if transpose:
            conv = nn.ConvTranspose2d(in_channel, out_channel, kernel_size, stride=stride,
                                      padding=kernel_size // 2 - 1, bias=bias)
        else:
            conv = nn.Conv2d(in_channel, out_channel, kernel_size, stride=stride,
                             padding=kernel_size // 2, bias=bias)
        layers = [conv]
        if norm:
            layers.append(nn.BatchNorm2d(out_channel))
        if relu:
            layers.append(nn.ReLU(inplace=True))
        self.main = nn.Sequential(*layers)

    def forward(self, x):
        return self.main(x)


class ResBlock(nn.Module):
    """conv3x3-ReLU-conv3x3 plus identity."""

    def __init__(self, in_channel, out_channel):
        super().__init__()
        self.main = nn.Sequential(
            BasicConv(in_channel, out_channel, 3, relu=True),
            BasicConv(out_channel, out_channel, 3, relu=False),
        )

    def forward(self, x):
        out = self.main(x)
        out += x  # (in place: the same result, without a fresh full-size buffer)
        return out


class ResStack(nn.Module):
    """``num_res`` ResBlocks in ``layers`` (the official EBlock and DBlock are both this)."""

    def __init__(self, channel, num_res=8):
        super().__init__()
        self.layers = nn.Sequential(*[ResBlock(channel, channel) for _ in range(num_res)])

    def forward(self, x):
        return self.layers(x)


class AFF(nn.Module):
    """Asymmetric feature fusion: the three encoder levels, each nearest-resized to one size and
    concatenated, then a 1x1 and a 3x3 conv."""

    def __init__(self, in_channel, out_channel):
        super().__init__()
        self.conv = nn.Sequential(
            BasicConv(in_channel, out_channel, 1, relu=True),
            BasicConv(out_channel, out_channel, 3, relu=False),
        )

    def forward(self, levels: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        """`levels` at their own resolutions, each an integer multiple or fraction of `size` (the
        output's H x W). The 1x1 conv is split by input channels and each part applied at the
        smaller of its level's and the output's resolution: a per-pixel linear map commutes with
        nearest resizing, so this is the concatenation's result without its full-size copy
        (at 1280x720 a 7x-wide tensor at full resolution)."""
        first = self.conv[0].main[0]
        out, start = None, 0
        for x in levels:
            stop = start + x.shape[1]
            if x.shape[-1] > size[1]:  # (downsample first, then map)
                x = F.interpolate(x, size=size, mode="nearest")
            part = F.conv2d(x, first.weight[:, start:stop])
            if part.shape[-1] < size[1]:  # (map first, then upsample)
                part = F.interpolate(part, size=size, mode="nearest")
            out, start = part if out is None else out + part, stop
        out = F.relu(out + first.bias.view(1, -1, 1, 1))
        return self.conv[1](out)


class SCM(nn.Module):
    """Shallow convolutional module: features of a downsampled input image (keeps the RGB)."""

    def __init__(self, out_plane):
        super().__init__()
        q, h = out_plane // 4, out_plane // 2
        self.main = nn.Sequential(
            BasicConv(3, q, 3, relu=True),
            BasicConv(q, h, 1, relu=True),
            BasicConv(h, h, 3, relu=True),
            BasicConv(h, out_plane - 3, 1, relu=True),
        )
        self.conv = BasicConv(out_plane, out_plane, 1, relu=False)

    def forward(self, x):
        return self.conv(torch.cat([x, self.main(x)], dim=1))


class FAM(nn.Module):
    """Feature attention module: x1 + conv(x1 * x2)."""

    def __init__(self, channel):
        super().__init__()
        self.merge = BasicConv(channel, channel, 3, relu=False)

    def forward(self, x1, x2):
        return x1 + self.merge(x1 * x2)


class MIMOUNet(nn.Module):
    """MIMO-UNet (``num_res=8``, 6.81 M params) or MIMO-UNet+ (``num_res=20``, 16.11 M).

    ``forward(x)`` takes NCHW [0,1] of any size and returns ``[out_quarter, out_half, out_full]``
    of sizes ceil(H/4) x ceil(W/4), ceil(H/2) x ceil(W/2) and H x W. Inputs are reflect-padded to
    a multiple of 4 inside and every scale is cropped back. ``dropout`` is the Dropout2d rate on
    the fused skips (0.1 in the official MIMO-UNet+, 0 in MIMO-UNet; no parameters either way).
    ``out_kernel`` (odd, >= 3; 0 = the official residual heads): kernel-prediction heads (module
    docstring). Opposite taps share one weight, so each kernel's centroid is the pixel itself:
    no loss on unpaired data would notice a 1-2 px shift, which costs dB against the ground truth.
    ``kernel_mode`` "convex": softmax weights (a local weighted mean), ``logit_scale`` times the
    head plus ``identity_logit`` on the centre tap (centre weight 0.94 at init for k=5); the scale
    speeds the logits up, which under the pix2pix N(0, 0.02) init start near zero and would move by
    about the learning rate per step. "residual": x + sum over tap pairs of r (x(p+d) + x(p-d) - 2 x(p)) with
    r = tanh(head) / (k*k - 1), so the identity is at r = 0 inside the range rather than on its
    edge, and the centre weight stays in [0, 2].
    """

    def __init__(self, base_channel: int = 32, num_res: int = 8, dropout: float = 0.0,
                 out_kernel: int = 0, identity_logit: float = 6.0, logit_scale: float = 4.0,
                 kernel_mode: str = "convex"):
        super().__init__()
        c = int(base_channel)
        if c < 4 or c % 4:
            raise ValueError(f"base_channel must be a positive multiple of 4, got {base_channel}")
        if num_res < 1:
            raise ValueError(f"num_res must be >= 1, got {num_res}")
        if out_kernel and (out_kernel < 3 or out_kernel % 2 == 0):
            raise ValueError(f"out_kernel must be 0 or an odd size >= 3, got {out_kernel}")
        if kernel_mode not in ("convex", "residual"):
            raise ValueError(f"kernel_mode must be convex or residual, got {kernel_mode!r}")
        self.out_kernel, self.kernel_mode = int(out_kernel), kernel_mode
        self.identity_logit, self.logit_scale = float(identity_logit), float(logit_scale)
        # one head channel per pair of opposite taps, plus the centre tap for softmax weights
        n_out = (out_kernel ** 2 + (1 if kernel_mode == "convex" else -1)) // 2 if out_kernel else 3
        self.Encoder = nn.ModuleList([ResStack(c, num_res), ResStack(c * 2, num_res), ResStack(c * 4, num_res)])
        self.feat_extract = nn.ModuleList([
            BasicConv(3, c, 3, stride=1, relu=True),
            BasicConv(c, c * 2, 3, stride=2, relu=True),
            BasicConv(c * 2, c * 4, 3, stride=2, relu=True),
            BasicConv(c * 4, c * 2, 4, stride=2, relu=True, transpose=True),
            BasicConv(c * 2, c, 4, stride=2, relu=True, transpose=True),
            BasicConv(c, n_out, 3, stride=1, relu=False),
        ])
        self.Decoder = nn.ModuleList([ResStack(c * 4, num_res), ResStack(c * 2, num_res), ResStack(c, num_res)])
        self.Convs = nn.ModuleList([
            BasicConv(c * 4, c * 2, 1, relu=True),
            BasicConv(c * 2, c, 1, relu=True),
        ])
        self.ConvsOut = nn.ModuleList([
            BasicConv(c * 4, n_out, 3, relu=False),
            BasicConv(c * 2, n_out, 3, relu=False),
        ])
        self.AFFs = nn.ModuleList([AFF(c * 7, c), AFF(c * 7, c * 2)])
        self.FAM1 = FAM(c * 4)
        self.SCM1 = SCM(c * 4)
        self.FAM2 = FAM(c * 2)
        self.SCM2 = SCM(c * 2)
        self.drop1 = nn.Dropout2d(dropout)
        self.drop2 = nn.Dropout2d(dropout)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"MIMOUNet expects an Nx3xHxW tensor, got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        outs = self._forward_padded(pad_to_multiple(x, 4))
        sizes = [(-(-h // 4), -(-w // 4)), (-(-h // 2), -(-w // 2)), (h, w)]
        return [o[:, :, :sh, :sw] for o, (sh, sw) in zip(outs, sizes)]

    def _forward_padded(self, x):
        x_2 = F.interpolate(x, scale_factor=0.5, mode="nearest")
        x_4 = F.interpolate(x_2, scale_factor=0.5, mode="nearest")
        z2 = self.SCM2(x_2)
        z4 = self.SCM1(x_4)

        res1 = self.Encoder[0](self.feat_extract[0](x))
        z = self.FAM2(self.feat_extract[1](res1), z2)
        res2 = self.Encoder[1](z)
        z = self.FAM1(self.feat_extract[2](res2), z4)
        z = self.Encoder[2](z)

        # (the official code resizes every level with nearest interpolation to each AFF's size)
        res2_fused = self.drop2(self.AFFs[1]([res1, res2, z], res2.shape[-2:]))
        res1 = self.drop1(self.AFFs[0]([res1, res2, z], res1.shape[-2:]))
        res2 = res2_fused

        z = self.Decoder[0](z)
        out_quarter = self._head(self.ConvsOut[0](z), x_4)
        z = self.feat_extract[3](z)
        z = self.Decoder[1](self.Convs[0](torch.cat([z, res2], dim=1)))
        out_half = self._head(self.ConvsOut[1](z), x_2)
        z = self.feat_extract[4](z)
        z = self.Decoder[2](self.Convs[1](torch.cat([z, res1], dim=1)))
        out_full = self._head(self.feat_extract[5](z), x)
        return [out_quarter, out_half, out_full]

    def kernel_weights(self, y: torch.Tensor) -> torch.Tensor:
        """The per-pixel weights a kernel-prediction head ``y`` (N x C x H x W) stands for: for
        "convex" the k*k softmax weights of the taps in row-major order (sum 1), for "residual"
        the (k*k - 1) / 2 pair weights r in [-1/(k*k - 1), 1/(k*k - 1)]."""
        k = self.out_kernel
        if self.kernel_mode == "residual":
            return torch.tanh(y) / (k * k - 1)
        taps = torch.arange(k * k, device=y.device)
        logits = self.logit_scale * y[:, torch.minimum(taps, k * k - 1 - taps)]
        logits[:, k * k // 2] += self.identity_logit
        return torch.softmax(logits, dim=1)

    def _head(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """One scale's output from its head ``y`` and the input ``x`` at that scale: the residual
        ``y + x``, or with ``out_kernel`` the input filtered by the per-pixel kernels ``y``."""
        if not self.out_kernel:
            return y + x
        k = self.out_kernel
        h, w = x.shape[-2:]
        weights = self.kernel_weights(y)
        padded = F.pad(x, (k // 2,) * 4, mode="replicate")
        # tap i (row-major) and tap k*k-1-i are mirror images through the centre; a sum over the
        # k*k shifted views rather than an unfolded N x 3k^2 x H x W copy: the same result (to
        # float rounding) without that copy (docs/performance.md, the shipped pipeline's rows)
        tap = lambda i: padded[:, :, i // k:i // k + h, i % k:i % k + w]  # noqa: E731
        if self.kernel_mode == "residual":
            out = x
            for i in range(k * k // 2):
                out = out + weights[:, i:i + 1] * (tap(i) + tap(k * k - 1 - i) - 2 * x)
            return out
        out = weights[:, :1] * tap(0)
        for i in range(1, k * k):
            out = out + weights[:, i:i + 1] * tap(i)
        return out
