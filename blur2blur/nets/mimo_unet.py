"""MIMO-UNet / MIMO-UNet+ (Cho et al., ICCV 2021): the Blur2Blur blur translator.

Multi-input multi-output U-Net: it reads the image at scales 1/4, 1/2 and 1 and predicts an image
at each, each the residual of the nearest-downsampled input. Module and key names follow the
official code (``Encoder``, ``Decoder``, ``feat_extract``, ``SCM1/2``, ``FAM1/2``, ``AFFs``,
``Convs``, ``ConvsOut``; ``main.0`` inside every BasicConv), so ``{'model': sd}`` checkpoints load
strictly. Images RGB float32 in [0,1], NCHW.
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
        return self.main(x) + x


class ResStack(nn.Module):
    """``num_res`` ResBlocks in ``layers`` (the official EBlock and DBlock are both this)."""

    def __init__(self, channel, num_res=8):
        super().__init__()
        self.layers = nn.Sequential(*[ResBlock(channel, channel) for _ in range(num_res)])

    def forward(self, x):
        return self.layers(x)


class AFF(nn.Module):
    """Asymmetric feature fusion: concatenate the three encoder levels, 1x1 then 3x3 conv."""

    def __init__(self, in_channel, out_channel):
        super().__init__()
        self.conv = nn.Sequential(
            BasicConv(in_channel, out_channel, 1, relu=True),
            BasicConv(out_channel, out_channel, 3, relu=False),
        )

    def forward(self, x1, x2, x4):
        return self.conv(torch.cat([x1, x2, x4], dim=1))


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
    """

    def __init__(self, base_channel: int = 32, num_res: int = 8, dropout: float = 0.0):
        super().__init__()
        c = int(base_channel)
        if c < 4 or c % 4:
            raise ValueError(f"base_channel must be a positive multiple of 4, got {base_channel}")
        if num_res < 1:
            raise ValueError(f"num_res must be >= 1, got {num_res}")
        self.Encoder = nn.ModuleList([ResStack(c, num_res), ResStack(c * 2, num_res), ResStack(c * 4, num_res)])
        self.feat_extract = nn.ModuleList([
            BasicConv(3, c, 3, stride=1, relu=True),
            BasicConv(c, c * 2, 3, stride=2, relu=True),
            BasicConv(c * 2, c * 4, 3, stride=2, relu=True),
            BasicConv(c * 4, c * 2, 4, stride=2, relu=True, transpose=True),
            BasicConv(c * 2, c, 4, stride=2, relu=True, transpose=True),
            BasicConv(c, 3, 3, stride=1, relu=False),
        ])
        self.Decoder = nn.ModuleList([ResStack(c * 4, num_res), ResStack(c * 2, num_res), ResStack(c, num_res)])
        self.Convs = nn.ModuleList([
            BasicConv(c * 4, c * 2, 1, relu=True),
            BasicConv(c * 2, c, 1, relu=True),
        ])
        self.ConvsOut = nn.ModuleList([
            BasicConv(c * 4, 3, 3, relu=False),
            BasicConv(c * 2, 3, 3, relu=False),
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

        z12 = F.interpolate(res1, scale_factor=0.5, mode="nearest")
        z21 = F.interpolate(res2, scale_factor=2.0, mode="nearest")
        z42 = F.interpolate(z, scale_factor=2.0, mode="nearest")
        z41 = F.interpolate(z42, scale_factor=2.0, mode="nearest")
        res2 = self.drop2(self.AFFs[1](z12, res2, z42))
        res1 = self.drop1(self.AFFs[0](res1, z21, z41))

        z = self.Decoder[0](z)
        out_quarter = self.ConvsOut[0](z) + x_4
        z = self.feat_extract[3](z)
        z = self.Decoder[1](self.Convs[0](torch.cat([z, res2], dim=1)))
        out_half = self.ConvsOut[1](z) + x_2
        z = self.feat_extract[4](z)
        z = self.Decoder[2](self.Convs[1](torch.cat([z, res1], dim=1)))
        out_full = self.feat_extract[5](z) + x
        return [out_quarter, out_half, out_full]
