"""Sliced Wasserstein distance between the local patch statistics of two image sets.

A critic without parameters for the blur translator (issue #12, item 4): it compares the
distributions of small high-pass patches of T(b) and of known-blur crops k, whatever their
content. Each patch is contrast-normalised (zero mean, unit norm), so the distance measures the
*shape* of local structure (how far an edge is spread, how grain looks) rather than its contrast;
without that normalisation it prefers images with less texture of any kind (measured in
issue #12: it ranked the un-smoothed input closest to K).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# ITU-R BT.601 luma weights: the statistics are of grey patches.
_LUMA = (0.299, 0.587, 0.114)


def highpass_patches(x: torch.Tensor, patch: int = 7, samples: int = 1024,
                     generator: torch.Generator | None = None, eps: float = 1e-3) -> torch.Tensor:
    """`samples` random contrast-normalised `patch` x `patch` luma high-pass patches of NCHW `x`.

    High-pass: luma minus its 5x5 box mean. Each patch has its mean removed and is divided by its
    norm plus `eps` (flat patches stay near zero instead of amplifying rounding). Returns
    samples x patch^2 (float32). Patch positions are drawn with `generator` (CPU).
    """
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"expected Nx3xHxW images, got shape {tuple(x.shape)}")
    if patch < 2 or min(x.shape[-2:]) < patch + 4:
        raise ValueError(f"patch must be >= 2 and the images at least patch + 4 px, "
                         f"got patch {patch} and size {tuple(x.shape[-2:])}")
    w = torch.tensor(_LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    y = (x * w).sum(1, keepdim=True)
    y = y - F.avg_pool2d(F.pad(y, (2, 2, 2, 2), mode="reflect"), 5, stride=1)
    # all patches as rows (unfold, whose backward is a deterministic fold), then a random subset
    p = F.unfold(y.float(), patch).transpose(1, 2).reshape(-1, patch * patch)
    idx = torch.randint(0, p.shape[0], (samples,), generator=generator).to(x.device)
    p = p.index_select(0, idx)
    p = p - p.mean(1, keepdim=True)
    return p / (p.norm(dim=1, keepdim=True) + eps)


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, projections: int = 128,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """Squared sliced Wasserstein-2 distance between point sets `a` and `b` (M x D each, equal M):
    the mean over `projections` random unit directions of the mean squared difference of the
    sorted projections (scalar; differentiable in both)."""
    if a.shape != b.shape or a.dim() != 2:
        raise ValueError(f"expected two M x D point sets of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    dirs = torch.randn(a.shape[1], projections, generator=generator).to(a.device, a.dtype)
    dirs = dirs / dirs.norm(dim=0, keepdim=True)
    pa, _ = (a @ dirs).sort(dim=0)
    pb, _ = (b @ dirs).sort(dim=0)
    return ((pa - pb) ** 2).mean()


def patch_swd(x: torch.Tensor, y: torch.Tensor, patch: int = 7, projections: int = 128,
              samples: int = 1024, generator: torch.Generator | None = None) -> torch.Tensor:
    """Patch-statistics distance between image batches `x` and `y` (NCHW in [0,1], any sizes):
    the sliced Wasserstein distance of their contrast-normalised high-pass patches (scalar)."""
    return sliced_wasserstein(highpass_patches(x, patch, samples, generator),
                              highpass_patches(y, patch, samples, generator), projections, generator)
