"""Padding an image batch to a size multiple, shared by the networks and the pipeline."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad NCHW `x` on the bottom/right so H and W are multiples of `multiple`.

    Reflect padding, or replicate when a pad would be as long as the side (reflect cannot do
    that, e.g. for tiny inputs). Returns `x` itself when no padding is needed; crop the result
    back with `[..., :H, :W]`.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)
