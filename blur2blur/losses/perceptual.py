"""Perceptual loss: weighted L1 distance between frozen VGG features of two images.

One pair of tensors per call (NCHW, [0,1]); the caller sums or averages over the translator's
scales. Presets (``PERCEPTUAL_PRESETS``):
- ``official``: Blur2Blur's code: VGG16, relu2_2, relu3_3, relu4_1, relu4_3 (these four are
  rectified in the official code because of an in-place ReLU) and conv5_1 (pre-ReLU), weights
  1/32, 1/16, 1/8, 1/4, 1, mean L1 per layer, no ImageNet normalisation.
- ``paper``: the paper says VGG19 features with L1 normalised by element count but names no
  layers; we take the last ReLU of blocks 1-4 and relu5_1 (relu1_2, relu2_2, relu3_4, relu4_4,
  relu5_1), equal weights 1/5 (so the value is the mean over layers), ImageNet normalisation (how
  VGG19 was trained). It needs VGG19 weights (hub cache or a path): stlpips ships VGG16 only.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..nets.vgg import VGGFeatures

PERCEPTUAL_PRESETS: dict[str, dict] = {
    "official": dict(
        arch="vgg16",
        layers=("relu2_2", "relu3_3", "relu4_1", "relu4_3", "conv5_1"),
        layer_weights=(1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0),
        normalize=False,
        per_element=True,
    ),
    "paper": dict(
        arch="vgg19",
        layers=("relu1_2", "relu2_2", "relu3_4", "relu4_4", "relu5_1"),
        layer_weights=(0.2, 0.2, 0.2, 0.2, 0.2),
        normalize=True,
        per_element=True,
    ),
}


class PerceptualLoss(nn.Module):
    """sum_l w_l * L1(phi_l(x), phi_l(y)); per_element=True: mean over elements, False: sum.

    The VGG is frozen (no grad, eval); the target ``y`` branch runs under no_grad, so gradients
    reach ``x`` only. ``weights``/``pool`` are passed to VGGFeatures (see nets/vgg.py).
    """

    def __init__(self, arch: str = "vgg16",
                 layers: Sequence[str] = ("relu2_2", "relu3_3", "relu4_1", "relu4_3", "conv5_1"),
                 layer_weights: Sequence[float] = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0),
                 weights="auto", normalize: bool = False, per_element: bool = True, pool: str = "auto"):
        super().__init__()
        layers = tuple(layers)
        layer_weights = tuple(float(w) for w in layer_weights)
        if len(layers) != len(layer_weights):
            raise ValueError(f"PerceptualLoss: {len(layers)} layers but {len(layer_weights)} layer_weights")
        self.vgg = VGGFeatures(arch=arch, layers=layers, weights=weights, pool=pool,
                               requires_grad=False, normalize=normalize)
        self.layers = layers
        self.layer_weights = layer_weights
        self.per_element = bool(per_element)

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "PerceptualLoss":
        """Build from ``PERCEPTUAL_PRESETS[name]`` with keyword overrides (e.g. ``weights=path``)."""
        if name not in PERCEPTUAL_PRESETS:
            raise ValueError(f"unknown perceptual preset {name!r}; choose one of {sorted(PERCEPTUAL_PRESETS)}")
        return cls(**{**PERCEPTUAL_PRESETS[name], **overrides})

    def describe(self) -> str:
        return f"PerceptualLoss(layers={self.layers}, weights={self.layer_weights}) on {self.vgg.describe_weights()}"

    def train(self, mode: bool = True):
        super().train(mode)
        self.vgg.eval()
        return self

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.shape != y.shape:
            raise ValueError(f"PerceptualLoss: shapes differ, x {tuple(x.shape)} vs y {tuple(y.shape)}")
        # Each pool halves the image: pad tiny inputs (e.g. the 1/4 scale of a small crop) so the
        # deepest layer still has at least one pixel, instead of crashing.
        n_pools = sum(not isinstance(m, (nn.Conv2d, nn.ReLU)) for m in self.vgg.features)
        min_side = 2 ** n_pools
        h, w = x.shape[-2:]
        if h < min_side or w < min_side:
            pad = (0, max(0, min_side - w), 0, max(0, min_side - h))
            x, y = F.pad(x, pad, mode="replicate"), F.pad(y, pad, mode="replicate")
        fx = self.vgg(x)
        with torch.no_grad():
            fy = self.vgg(y.detach())
        reduction = "mean" if self.per_element else "sum"
        total = x.new_zeros((), dtype=torch.float32)
        for w, a, b in zip(self.layer_weights, fx, fy):
            # (float32 L1 even when the VGG ran under bfloat16 autocast)
            total = total + w * F.l1_loss(a.float(), b.float(), reduction=reduction)
        return total
