"""NAFNet (Chen et al., ECCV 2022) with the official state-dict key names.

Images are RGB float32 in [0, 1], tensors NCHW, no normalisation. Official GoPro checkpoints
(``{'params': sd}``, 664 keys) load strictly. The optional test-time local converter (TLC, Chu et
al., ECCV 2022) replaces every channel-attention global average pool by a local average over a
window that covers ``tlc_base_size`` input pixels, which is how NAFNet's published GoPro numbers
were measured.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel dimension of an NCHW tensor (per pixel), eps 1e-6."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
            # Channels-last: the NHWC view is free, and F.layer_norm over its last dimension is
            # this same per-pixel normalisation in one fused pass (forward and backward).
            y = F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), self.weight, self.bias, self.eps)
            return y.permute(0, 3, 1, 2)
        mean = x.mean(dim=1, keepdim=True)
        var = (x - mean).pow(2).mean(dim=1, keepdim=True)
        y = (x - mean) / torch.sqrt(var + self.eps)
        return y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class SimpleGate(nn.Module):
    """Split the channels in two halves and multiply them."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return a * b


class ChannelPool(nn.Module):
    """Average pool for simplified channel attention.

    Global (output 1x1) by default. With ``window`` = (base, H, W) set (TLC: a ``base`` px window
    on an H x W network input), a feature map of size (h, w) gets the mean of a
    ``base*h//H x base*w//W`` window at every pixel, computed from an integral image and
    edge-replicated back to (h, w). If the window covers the whole map this is the global pool.
    """

    def __init__(self):
        super().__init__()
        self.window: tuple[int, int, int] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.window is None:
            return x.mean(dim=(2, 3), keepdim=True)
        base, in_h, in_w = self.window
        h, w = x.shape[-2:]
        kh = max(1, base * h // in_h)
        kw = max(1, base * w // in_w)
        if kh >= h and kw >= w:
            return x.mean(dim=(2, 3), keepdim=True)
        kh, kw = min(kh, h), min(kw, w)
        return local_mean(x, kh, kw)


def local_mean(x: torch.Tensor, kh: int, kw: int) -> torch.Tensor:
    """Mean over every valid ``kh x kw`` window (integral image), edge-replicated to x's size."""
    h, w = x.shape[-2:]
    # Integral image with a leading row/column of zeros. Accumulate in float64 where the device
    # supports it, and on the centred signal, so large maps do not lose precision.
    acc = torch.float64 if x.device.type in ("cpu", "cuda") else torch.float32
    centre = x.mean(dim=(2, 3), keepdim=True)
    s = (x - centre).to(acc).cumsum(dim=-1).cumsum(dim=-2)
    s = F.pad(s, (1, 0, 1, 0))
    total = s[..., kh:, kw:] - s[..., :-kh, kw:] - s[..., kh:, :-kw] + s[..., :-kh, :-kw]
    out = (total / (kh * kw)).to(x.dtype) + centre
    oh, ow = out.shape[-2:]
    dh, dw = h - oh, w - ow
    return F.pad(out, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2), mode="replicate")


class NAFBlock(nn.Module):
    """NAFNet block: LN, 1x1 expand, 3x3 depthwise, SimpleGate, SCA, 1x1; then an LN-FFN-gate."""

    def __init__(self, c: int, dw_expand: int = 2, ffn_expand: int = 2):
        super().__init__()
        dw = c * dw_expand
        self.conv1 = nn.Conv2d(c, dw, 1)
        self.conv2 = nn.Conv2d(dw, dw, 3, padding=1, groups=dw)
        self.conv3 = nn.Conv2d(dw // 2, c, 1)
        self.sca = nn.Sequential(ChannelPool(), nn.Conv2d(dw // 2, dw // 2, 1))
        self.sg = SimpleGate()
        ffn = c * ffn_expand
        self.conv4 = nn.Conv2d(c, ffn, 1)
        self.conv5 = nn.Conv2d(ffn // 2, c, 1)
        self.norm1 = LayerNorm2d(c)
        self.norm2 = LayerNorm2d(c)
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        x = self.sg(self.conv2(self.conv1(self.norm1(inp))))
        x = self.conv3(x * self.sca(x))
        # (the scales in the activations' dtype: under bfloat16 autocast a float32 beta would
        # promote the rest of the block to float32 and cost a cast before every conv
        # (docs/performance.md); in float32 this is the same product)
        y = inp + x * self.beta.to(x.dtype)
        x = self.conv5(self.sg(self.conv4(self.norm2(y))))
        return y + x * self.gamma.to(x.dtype)


class NAFNet(nn.Module):
    """NAFNet U-Net. Input NCHW [0,1] of any size; output the same size (global residual).

    ``tlc=True`` turns on the test-time local converter: the channel-attention pools average over a
    window equal to a ``tlc_base_size`` x ``tlc_base_size`` input region scaled to each level
    (384 = 1.5 x the 256 training crop in NAFNet's GoPro evaluation). No extra parameters.
    ``train_size`` is kept for reference/metadata (the crop size the weights were trained on).
    """

    def __init__(
        self,
        img_channel: int = 3,
        width: int = 32,
        middle_blk_num: int = 1,
        enc_blk_nums: Sequence[int] = (1, 1, 1, 28),
        dec_blk_nums: Sequence[int] = (1, 1, 1, 1),
        tlc: bool = False,
        tlc_base_size: int = 384,
        train_size: int = 256,
    ):
        super().__init__()
        if len(enc_blk_nums) != len(dec_blk_nums):
            raise ValueError(
                f"NAFNet needs as many encoder as decoder levels, got enc_blk_nums={list(enc_blk_nums)} "
                f"and dec_blk_nums={list(dec_blk_nums)}"
            )
        self.intro = nn.Conv2d(img_channel, width, 3, padding=1)
        self.ending = nn.Conv2d(width, img_channel, 3, padding=1)
        self.encoders = nn.ModuleList()
        self.decoders = nn.ModuleList()
        self.downs = nn.ModuleList()
        self.ups = nn.ModuleList()
        chan = width
        for num in enc_blk_nums:
            self.encoders.append(nn.Sequential(*[NAFBlock(chan) for _ in range(num)]))
            self.downs.append(nn.Conv2d(chan, chan * 2, 2, stride=2))
            chan *= 2
        self.middle_blks = nn.Sequential(*[NAFBlock(chan) for _ in range(middle_blk_num)])
        for num in dec_blk_nums:
            self.ups.append(nn.Sequential(nn.Conv2d(chan, chan * 2, 1, bias=False), nn.PixelShuffle(2)))
            chan //= 2
            self.decoders.append(nn.Sequential(*[NAFBlock(chan) for _ in range(num)]))
        self.padder_size = 2 ** len(enc_blk_nums)
        self.tlc = bool(tlc)
        self.tlc_base_size = int(tlc_base_size)
        self.train_size = int(train_size)
        if self.tlc_base_size < 1:
            raise ValueError(f"tlc_base_size must be a positive number of pixels, got {tlc_base_size}")

    def _set_pool_windows(self, height: int, width: int) -> None:
        window = (self.tlc_base_size, height, width) if self.tlc else None
        for m in self.modules():
            if isinstance(m, ChannelPool):
                m.window = window

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        if inp.dim() != 4:
            raise ValueError(f"NAFNet expects an NCHW tensor, got shape {tuple(inp.shape)}")
        _, _, h, w = inp.shape
        ph = (-h) % self.padder_size
        pw = (-w) % self.padder_size
        x_in = F.pad(inp, (0, pw, 0, ph)) if (ph or pw) else inp
        self._set_pool_windows(h + ph, w + pw)

        x = self.intro(x_in)
        skips = []
        for encoder, down in zip(self.encoders, self.downs):
            x = encoder(x)
            skips.append(x)
            x = down(x)
        x = self.middle_blks(x)
        for decoder, up, skip in zip(self.decoders, self.ups, reversed(skips)):
            x = decoder(up(x) + skip)
        x = self.ending(x) + x_in
        return x[:, :, :h, :w]
