"""The identity translator: what a translator that did not learn is exported as.

When the label-free check of a translator run (train/translator_check.py) finds that T does not
bring the camera's images closer to the known blur than they already are, the run exports this
network instead, so that Blur2Blur falls back to the known deblurrer applied directly and is never
worse than it. Same interface as MIMO-UNet: NCHW [0,1] in, ``[quarter, half, full]`` out (the
smaller scales are the input nearest-downsampled, as MIMO-UNet's input pyramid); no parameters.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class IdentityTranslator(nn.Module):
    """``forward(x)`` returns ``[x[::4, ::4], x[::2, ::2], x]`` (spatially; sizes ceil(H/4) ...)."""

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"IdentityTranslator expects an Nx3xHxW tensor, got shape {tuple(x.shape)}")
        return [x[..., ::4, ::4], x[..., ::2, ::2], x]
