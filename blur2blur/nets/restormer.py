"""Restormer (Zamir et al., CVPR 2022) with the official state-dict key names.

A 4-level U-Net of transformer blocks. Each block is a channel LayerNorm, multi-Dconv head
transposed attention (MDTA: attention across channels, not pixels, so its cost grows linearly with
the image area; a learnable temperature per head) and a gated-Dconv feed-forward network (GDFN:
GELU gate). Levels are joined by PixelUnshuffle / PixelShuffle convolutions; the output is added
to the input (global residual). Images RGB float32 in [0, 1], tensors NCHW, no normalisation.

The default arguments are the official single-image motion-deblurring configuration: 26,126,644
parameters and 494 state-dict keys, so ``motion_deblurring.pth`` (``{'params': sd}``) loads with
``strict=True``. Key names follow the official modules (``patch_embed.proj``,
``encoder_level1.0.norm1.body.weight``, ``...attn.temperature``, ``attn.qkv``, ``attn.qkv_dwconv``,
``attn.project_out``, ``ffn.project_in``, ``ffn.dwconv``, ``ffn.project_out``, ``down1_2.body.0``,
``up4_3.body.0``, ``reduce_chan_level3``, ``latent``, ``decoder_level1``, ``refinement``,
``output``).

Padding: the official network needs H and W divisible by 8 and leaves the padding to the caller
(its test scripts reflect-pad). This one pads inside ``forward`` (reflect, or replicate when the
image is too small to reflect) and crops back, so any input size is handled correctly.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .padding import pad_to_multiple

LAYER_NORM_TYPES = ("WithBias", "BiasFree")


class _ChannelNormBody(nn.Module):
    """Per-pixel normalisation over channels (eps 1e-5, biased variance), holds weight [and bias].

    ``with_bias=False`` is the official 'BiasFree' variant: it divides by the standard deviation
    but does not subtract the mean.
    """

    def __init__(self, channels: int, with_bias: bool):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels)) if with_bias else None
        self.eps = 1e-5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: N x C x H x W, statistics over C.
        var, mean = torch.var_mean(x, dim=1, keepdim=True, correction=0)
        scale = self.weight.view(1, -1, 1, 1)
        if self.bias is None:
            return x * torch.rsqrt(var + self.eps) * scale
        return (x - mean) * torch.rsqrt(var + self.eps) * scale + self.bias.view(1, -1, 1, 1)


class LayerNorm(nn.Module):
    """Channel LayerNorm of an NCHW map; parameters under ``body`` as in the official code."""

    def __init__(self, channels: int, layer_norm_type: str = "WithBias"):
        super().__init__()
        if layer_norm_type not in LAYER_NORM_TYPES:
            raise ValueError(f"LayerNorm_type must be one of {LAYER_NORM_TYPES}, got {layer_norm_type!r}")
        self.body = _ChannelNormBody(channels, with_bias=layer_norm_type == "WithBias")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Attention(nn.Module):
    """MDTA: 1x1 then 3x3 depthwise conv give Q, K, V; attention over channels within each head.

    Q and K rows (one per channel, length H*W) are L2-normalised, their dot products scaled by a
    learnable per-head ``temperature`` and soft-maxed; the C/heads x C/heads map mixes V's channels.
    """

    def __init__(self, dim: int, num_heads: int, bias: bool):
        super().__init__()
        self.num_heads = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.qkv = nn.Conv2d(dim, dim * 3, kernel_size=1, bias=bias)
        self.qkv_dwconv = nn.Conv2d(dim * 3, dim * 3, kernel_size=3, padding=1, groups=dim * 3, bias=bias)
        self.project_out = nn.Conv2d(dim, dim, kernel_size=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv_dwconv(self.qkv(x)).chunk(3, dim=1)
        shape = (n, self.num_heads, c // self.num_heads, h * w)
        q = F.normalize(q.reshape(shape), dim=-1)
        k = F.normalize(k.reshape(shape), dim=-1)
        v = v.reshape(shape)
        weights = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * self.temperature, dim=-1)
        out = torch.matmul(weights, v).reshape(n, c, h, w)
        return self.project_out(out)


class FeedForward(nn.Module):
    """GDFN: 1x1 to 2*hidden, 3x3 depthwise, GELU(first half) * second half, 1x1 back to dim.

    ``hidden = int(dim * ffn_expansion_factor)`` (127 for dim 48 and factor 2.66).
    """

    def __init__(self, dim: int, ffn_expansion_factor: float, bias: bool):
        super().__init__()
        hidden = int(dim * ffn_expansion_factor)
        self.project_in = nn.Conv2d(dim, hidden * 2, kernel_size=1, bias=bias)
        self.dwconv = nn.Conv2d(hidden * 2, hidden * 2, kernel_size=3, padding=1, groups=hidden * 2, bias=bias)
        self.project_out = nn.Conv2d(hidden, dim, kernel_size=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, value = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(gate) * value)


class TransformerBlock(nn.Module):
    """Pre-norm block: x + attn(norm1(x)), then + ffn(norm2(.))."""

    def __init__(self, dim: int, num_heads: int, ffn_expansion_factor: float, bias: bool,
                 LayerNorm_type: str):
        super().__init__()
        self.norm1 = LayerNorm(dim, LayerNorm_type)
        self.attn = Attention(dim, num_heads, bias)
        self.norm2 = LayerNorm(dim, LayerNorm_type)
        self.ffn = FeedForward(dim, ffn_expansion_factor, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class OverlapPatchEmbed(nn.Module):
    """3x3 conv from image channels to ``embed_dim`` (no bias, as in the official code)."""

    def __init__(self, in_c: int = 3, embed_dim: int = 48, bias: bool = False):
        super().__init__()
        self.proj = nn.Conv2d(in_c, embed_dim, kernel_size=3, padding=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class Downsample(nn.Module):
    """Halve the resolution, double the channels: 3x3 conv to C/2 then PixelUnshuffle(2)."""

    def __init__(self, n_feat: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(n_feat, n_feat // 2, kernel_size=3, padding=1, bias=False),
            nn.PixelUnshuffle(2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Upsample(nn.Module):
    """Double the resolution, halve the channels: 3x3 conv to 2C then PixelShuffle(2)."""

    def __init__(self, n_feat: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(n_feat, n_feat * 2, kernel_size=3, padding=1, bias=False),
            nn.PixelShuffle(2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _stage(n: int, dim: int, heads: int, ffn: float, bias: bool, ln: str) -> nn.Sequential:
    return nn.Sequential(*[TransformerBlock(dim, heads, ffn, bias, ln) for _ in range(n)])


class Restormer(nn.Module):
    """Restormer. Input NCHW float in [0,1] of any size; output the same size.

    Widths per level are ``dim * (1, 2, 4, 8)``; decoder level 1 and the refinement stage work at
    ``2 * dim``. With ``dual_pixel_task=True`` (dual-pixel defocus deblurring; set
    ``inp_channels=6``) a ``skip_conv`` adds the embedded input before ``output`` and there is no
    image residual, as in the official code. Inputs are padded to a multiple of 8 inside forward
    (reflect; replicate when a side is too short to reflect) and the output is cropped back.
    """

    def __init__(
        self,
        inp_channels: int = 3,
        out_channels: int = 3,
        dim: int = 48,
        num_blocks: Sequence[int] = (4, 6, 6, 8),
        num_refinement_blocks: int = 4,
        heads: Sequence[int] = (1, 2, 4, 8),
        ffn_expansion_factor: float = 2.66,
        bias: bool = False,
        LayerNorm_type: str = "WithBias",
        dual_pixel_task: bool = False,
    ):
        super().__init__()
        num_blocks, heads = list(num_blocks), list(heads)
        if len(num_blocks) != 4 or len(heads) != 4:
            raise ValueError(f"num_blocks and heads need 4 entries each, got {num_blocks} and {heads}")
        if LayerNorm_type not in LAYER_NORM_TYPES:
            raise ValueError(f"LayerNorm_type must be one of {LAYER_NORM_TYPES}, got {LayerNorm_type!r}")
        if dim < 2 or dim % 2:
            raise ValueError(f"dim must be a positive even number, got {dim}")
        widths = [dim, dim * 2, dim * 4, dim * 8]
        for level, (width, head) in enumerate(zip(widths, heads), start=1):
            if head < 1 or width % head:
                raise ValueError(f"level {level}: width {width} is not divisible by {head} heads")
        if dim * 2 % heads[0]:
            raise ValueError(f"decoder level 1 width {dim * 2} is not divisible by {heads[0]} heads")
        if not dual_pixel_task and inp_channels != out_channels:
            raise ValueError("the global residual needs inp_channels == out_channels "
                             f"(got {inp_channels} and {out_channels}); only dual_pixel_task differs")

        f, b, ln = ffn_expansion_factor, bias, LayerNorm_type
        self.patch_embed = OverlapPatchEmbed(inp_channels, dim)
        self.encoder_level1 = _stage(num_blocks[0], widths[0], heads[0], f, b, ln)
        self.down1_2 = Downsample(widths[0])
        self.encoder_level2 = _stage(num_blocks[1], widths[1], heads[1], f, b, ln)
        self.down2_3 = Downsample(widths[1])
        self.encoder_level3 = _stage(num_blocks[2], widths[2], heads[2], f, b, ln)
        self.down3_4 = Downsample(widths[2])
        self.latent = _stage(num_blocks[3], widths[3], heads[3], f, b, ln)

        self.up4_3 = Upsample(widths[3])
        self.reduce_chan_level3 = nn.Conv2d(widths[3], widths[2], kernel_size=1, bias=bias)
        self.decoder_level3 = _stage(num_blocks[2], widths[2], heads[2], f, b, ln)
        self.up3_2 = Upsample(widths[2])
        self.reduce_chan_level2 = nn.Conv2d(widths[2], widths[1], kernel_size=1, bias=bias)
        self.decoder_level2 = _stage(num_blocks[1], widths[1], heads[1], f, b, ln)
        # Level 1: the upsampled map (dim) and the skip (dim) are concatenated, no channel reduction.
        self.up2_1 = Upsample(widths[1])
        self.decoder_level1 = _stage(num_blocks[0], widths[1], heads[0], f, b, ln)
        self.refinement = _stage(num_refinement_blocks, widths[1], heads[0], f, b, ln)

        self.dual_pixel_task = bool(dual_pixel_task)
        if self.dual_pixel_task:
            self.skip_conv = nn.Conv2d(dim, widths[1], kernel_size=1, bias=bias)
        self.output = nn.Conv2d(widths[1], out_channels, kernel_size=3, padding=1, bias=bias)
        self.inp_channels = inp_channels
        self.padder_size = 8

    def forward(self, inp_img: torch.Tensor) -> torch.Tensor:
        if inp_img.dim() != 4 or inp_img.shape[1] != self.inp_channels:
            raise ValueError(f"Restormer expects an Nx{self.inp_channels}xHxW tensor, "
                             f"got shape {tuple(inp_img.shape)}")
        h, w = inp_img.shape[-2:]
        out = self._forward_padded(pad_to_multiple(inp_img, self.padder_size))
        return out[:, :, :h, :w]

    def _forward_padded(self, x_in: torch.Tensor) -> torch.Tensor:
        emb = self.patch_embed(x_in)
        enc1 = self.encoder_level1(emb)
        enc2 = self.encoder_level2(self.down1_2(enc1))
        enc3 = self.encoder_level3(self.down2_3(enc2))
        z = self.latent(self.down3_4(enc3))

        z = self.reduce_chan_level3(torch.cat([self.up4_3(z), enc3], dim=1))
        z = self.decoder_level3(z)
        z = self.reduce_chan_level2(torch.cat([self.up3_2(z), enc2], dim=1))
        z = self.decoder_level2(z)
        z = self.decoder_level1(torch.cat([self.up2_1(z), enc1], dim=1))
        z = self.refinement(z)
        if self.dual_pixel_task:
            return self.output(z + self.skip_conv(emb))
        return self.output(z) + x_in
