"""Plain U-Net with three output scales: the translator backbone of the paper's UNet ablation.

Same contract as MIMO-UNet, so it drops in as the blur translator T: ``forward(x)`` returns
``[out_quarter, out_half, out_full]``, each the residual of the input downsampled (nearest
neighbour, i.e. every 4th / 2nd pixel, the same as ``mimo_unet``) to 1/4, 1/2 and full size. The
quarter and half outputs come from the decoder levels at those resolutions through 3x3 conv heads.
Images RGB float32 in [0,1], tensors NCHW.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .padding import pad_to_multiple

UP_MODES = ("bilinear", "transpose")


class DoubleConv(nn.Module):
    """(3x3 conv, ReLU) twice, in ``body``."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Up(nn.Module):
    """Double the resolution and halve the channels.

    ``"bilinear"``: bilinear x2 (align_corners False) then a 1x1 conv; ``"transpose"``: a 2x2
    stride-2 transposed conv.
    """

    def __init__(self, in_channels: int, out_channels: int, mode: str = "bilinear"):
        super().__init__()
        if mode not in UP_MODES:
            raise ValueError(f"up_mode must be one of {UP_MODES}, got {mode!r}")
        self.mode = mode
        if mode == "transpose":
            self.conv = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)
        else:
            self.conv = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "bilinear":
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        return self.conv(x)


class UNet(nn.Module):
    """U-Net with ``levels`` 2x max-pool downsamplings and three residual outputs.

    Widths are ``base_channel * 2**i`` at level i (1/2**i resolution), i = 0..levels: 32..512 for
    the defaults, 7,243,881 parameters with bilinear ups, 7,766,121 with transposed convs. Decoder
    level i: up from level i+1, concat the encoder skip, DoubleConv. The heads read decoder levels
    0, 1, 2 (with ``levels=2`` the quarter head reads the bottleneck).

    ``forward(x)`` takes Nx3xHxW of any size and returns ``[out_quarter, out_half, out_full]`` of
    sizes ceil(H/4) x ceil(W/4), ceil(H/2) x ceil(W/2) and H x W. Inputs are padded to a multiple
    of ``2**levels`` inside (reflect, or replicate when a side is too short) and each scale is
    cropped back; the residual bases are ``x[..., ::4, ::4]``, ``x[..., ::2, ::2]`` and ``x``.
    """

    def __init__(self, base_channel: int = 32, levels: int = 4, up_mode: str = "bilinear"):
        super().__init__()
        if base_channel < 1:
            raise ValueError(f"base_channel must be >= 1, got {base_channel}")
        if levels < 2:
            raise ValueError(f"levels must be >= 2 (the quarter-scale output needs two), got {levels}")
        if up_mode not in UP_MODES:
            raise ValueError(f"up_mode must be one of {UP_MODES}, got {up_mode!r}")
        widths = [base_channel * 2 ** i for i in range(levels + 1)]
        self.levels = levels
        self.encoders = nn.ModuleList(
            [DoubleConv(3, widths[0])] + [DoubleConv(widths[i - 1], widths[i]) for i in range(1, levels + 1)]
        )
        # ups[i] / decoders[i] produce decoder level i (resolution 1/2**i), i = 0..levels-1.
        self.ups = nn.ModuleList([Up(widths[i + 1], widths[i], up_mode) for i in range(levels)])
        self.decoders = nn.ModuleList([DoubleConv(widths[i] * 2, widths[i]) for i in range(levels)])
        # heads: full (level 0), half (level 1), quarter (level 2).
        self.heads = nn.ModuleList([nn.Conv2d(widths[i], 3, 3, padding=1) for i in range(3)])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"UNet expects an Nx3xHxW tensor, got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        outs = self._forward_padded(pad_to_multiple(x, 2 ** self.levels))
        sizes = [(-(-h // 4), -(-w // 4)), (-(-h // 2), -(-w // 2)), (h, w)]
        return [o[:, :, :sh, :sw] for o, (sh, sw) in zip(outs, sizes)]

    def _forward_padded(self, x: torch.Tensor) -> list[torch.Tensor]:
        x_2 = F.interpolate(x, scale_factor=0.5, mode="nearest")
        x_4 = F.interpolate(x_2, scale_factor=0.5, mode="nearest")
        skips = []
        z = x
        for i, encoder in enumerate(self.encoders):
            if i:
                z = F.max_pool2d(z, 2)
            z = encoder(z)
            skips.append(z)
        z = skips.pop()
        level_out = {self.levels: z}  # with levels == 2 the quarter head reads the bottleneck
        for i in reversed(range(self.levels)):
            z = self.decoders[i](torch.cat([self.ups[i](z), skips[i]], dim=1))
            if i < 3:
                level_out[i] = z
        out_quarter = self.heads[2](level_out[2]) + x_4
        out_half = self.heads[1](level_out[1]) + x_2
        out_full = self.heads[0](level_out[0]) + x
        return [out_quarter, out_half, out_full]
