"""Give a single-output restoration network the three output scales the translator losses use."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class ThreeScales(nn.Module):
    """Wraps `net` (NCHW -> NCHW); forward returns [quarter, half, full] like MIMO-UNet.

    The quarter and half outputs are the full output resized (bilinear, antialiased) to
    ceil(H/4) x ceil(W/4) and ceil(H/2) x ceil(W/2). State-dict keys are `net.<official name>`.
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        full = self.net(x)
        h, w = full.shape[-2:]
        outs = []
        for s in (4, 2):
            size = (-(-h // s), -(-w // s))
            outs.append(F.interpolate(full, size=size, mode="bilinear", align_corners=False,
                                      antialias=True))
        return outs + [full]
