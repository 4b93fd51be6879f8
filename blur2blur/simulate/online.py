"""Blurry/sharp training pairs made on the fly from sharp crops by a camera profile.

The pretrained deblurrer never sees a crop twice: each batch of sharp crops (taken `margin` pixels
larger on every side than the training crop) is blurred by the profile's camera with a fresh shake,
in linear light, by a true convolution of the margin crop, so the training crop has no border
effect; then the camera's noise and response are applied (`Camera.develop`, the same code as
`Camera.capture`). The sharp target is the same crop developed without blur or noise.

Only blurs that are one kernel over the frame can be made this way: trajectory profiles without
rotation, or kernel profiles, with lengths in absolute pixels (`reference_size: null`), since a
crop has no "image size" to scale the blur with.
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch
from scipy.signal import fftconvolve

from .camera import Camera, jpeg_roundtrip
from .profile import CameraProfile, ProfileError


class OnlineCamera:
    """Makes (blurry, sharp) NCHW batches from sharp crops with a margin.

    Args:
        profile: CameraProfile, shipped profile name or YAML path.
        input_gamma: gamma that linearises the sharp photos (as `Camera`).
        grain: (lo, hi) range of a factor on the profile's noise std, drawn log-uniformly per
            crop: a deblurrer that meets real photos should not expect exactly one noise level.
        jpeg: (probability, lowest quality): that share of the blurry crops is JPEG-compressed at
            a quality drawn in [lowest, 95] (real photos are mostly JPEG).
    """

    def __init__(self, profile: CameraProfile | str | os.PathLike, input_gamma: float = 2.2,
                 grain: tuple[float, float] = (1.0, 1.0), jpeg: tuple[float, int] = (0.0, 95)):
        if not (0 < grain[0] <= grain[1]):
            raise ValueError(f"grain must be a range 0 < lo <= hi, got {grain}")
        if not (0 <= jpeg[0] <= 1 and 1 <= jpeg[1] <= 95):
            raise ValueError(f"jpeg must be (probability in [0, 1], lowest quality 1..95), got {jpeg}")
        self.grain, self.jpeg = (float(grain[0]), float(grain[1])), (float(jpeg[0]), int(jpeg[1]))
        self.camera = Camera(profile, input_gamma)
        p = self.camera.profile
        if p.reference_size is not None:
            raise ProfileError(f"camera profile {p.name!r}: on-the-fly training pairs need blur lengths in "
                               f"absolute pixels (reference_size: null), got reference_size {p.reference_size}")
        if p.type == "trajectory" and p.rotation_speed > 0:
            raise ProfileError(f"camera profile {p.name!r}: on-the-fly training pairs convolve with one kernel "
                               f"per crop, so the profile must have rotation_speed 0 (got {p.rotation_speed})")
        self.margin = self._margin()

    def _margin(self) -> int:
        """Pixels needed on each side of a crop so that its blur sees real image content."""
        p = self.camera.profile
        if p.type == "trajectory":
            # The path is centred on its time-average, which lies inside the path, so no sample is
            # farther from the centre than the longest path; +1 for the bilinear splat.
            return int(math.ceil(p.shake_speed * p.exposure * (1.0 + p.length_spread))) + 1
        return max(max(k.shape) for k in self.camera._kernels) // 2 + 1

    def kernel(self, seed: int) -> np.ndarray:
        """The blur kernel of draw `seed` (odd square, float32, sums to 1, centred on its centroid)."""
        return self.camera.kernel_for(seed, (1, 1))

    def pair(self, crop: np.ndarray, seed: int, noise: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """One pair from an HxWx3 float [0,1] crop: (blurry, sharp), each (H-2m)x(W-2m)x3 float32."""
        m = self.margin
        h, w = crop.shape[:2]
        if h <= 2 * m or w <= 2 * m:
            raise ValueError(f"crop {h}x{w} is too small for a blur margin of {m} px on each side")
        lin = np.clip(crop.astype(np.float64), 0.0, 1.0) ** self.camera.input_gamma
        k = self.kernel(seed).astype(np.float64)
        r = k.shape[0] // 2
        if r > m:  # (cannot happen for shipped profiles; kept so a custom one fails loudly)
            raise ValueError(f"kernel radius {r} exceeds the margin {m}")
        window = lin[m - r:h - m + r, m - r:w - m + r]
        blurred = fftconvolve(window, k[:, :, None], mode="valid", axes=(0, 1))
        rng = np.random.default_rng([seed, 7])  # (grain and JPEG: apart from the camera's own streams)
        scale = math.exp(rng.uniform(math.log(self.grain[0]), math.log(self.grain[1])))
        blurry = self.camera.develop(np.clip(blurred, 0.0, None), seed, motion=True, noise=noise,
                                     noise_scale=scale)
        if rng.uniform() < self.jpeg[0]:
            blurry = jpeg_roundtrip(blurry, int(rng.integers(self.jpeg[1], 96)))
        sharp = self.camera.develop(lin[m:h - m, m:w - m], seed, motion=False, noise=False, jpeg=False)
        return blurry, sharp

    def batch(self, crops: torch.Tensor, gen: torch.Generator, noise: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """(blurry, sharp) NCHW float32 [0,1] from NCHW sharp crops with the margin (CPU tensors).

        Each image gets its own draw, seeded from `gen`, so a seeded generator gives the same batch.
        """
        blur, sharp = [], []
        for img in crops:
            seed = int(torch.randint(0, 2**31 - 1, (), generator=gen))
            b, s = self.pair(img.permute(1, 2, 0).numpy(), seed, noise=noise)
            blur.append(torch.from_numpy(b).permute(2, 0, 1))
            sharp.append(torch.from_numpy(s).permute(2, 0, 1))
        return torch.stack(blur), torch.stack(sharp)
