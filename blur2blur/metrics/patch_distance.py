"""A label-free score of a blur translator: how far a set of images is from the known-blur set.

The camera has no ground truth, so the translator T is judged by the statistic it is trained to
match, measured on data it never trained on: the sliced Wasserstein distance between the
contrast-normalised high-pass patches (losses/patch_swd.py) of T(B_val), held-out camera images
translated, and of K_val, held-out known-blur images. The same distance of B_val itself is the
identity's score: a translator helps by this measure only when it brings the camera's images
closer to K than they already are. Over-smoothing moves them away again (a smoothed patch has a
different shape from a known-blur one), so the score also ranks a translator that smooths too much
below the identity.

The estimate is deterministic: every patch of the reference (or a fixed random subset of at most
`max_patches`), fixed projection directions, and the same fixed subset positions for every image
set of the same sizes, so two translators are compared on identical patches.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import torch

from blur2blur.losses.patch_swd import PatchBank


class PatchDistance:
    """Distance of image sets to a fixed reference set (K_val) by their patch statistics.

    `reference`: HxWx3 arrays or (1x)3xHxW tensors in [0,1], any sizes (each at least
    `patch` + 4 px). `score(images)` returns the squared sliced Wasserstein-2 distance (a small
    number, ~1e-5 for 7 px patches; lower = closer to the reference). `projections` directions and
    the patch subsets are drawn once from `seed`.
    """

    def __init__(self, reference: Sequence, patch: int = 7, projections: int = 256,
                 max_patches: int = 32768, seed: int = 0):
        self.bank = PatchBank(reference, patch, size=max_patches, pool=projections, seed=seed)

    def score(self, images: Iterable) -> float:
        """Distance of `images` (as `reference`) to the reference set; lower is closer."""
        with torch.no_grad(), torch.autocast(self.bank.dirs.device.type, enabled=False):  # (float32 always)
            p = self.bank.patches(images)
            if p.shape[0] == 0:
                raise ValueError("no images to score")
            return float(self.bank.distance_of_patches(p))
