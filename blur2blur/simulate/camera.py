"""Camera simulator: render what a camera (a CameraProfile) captures from a sharp photo.

capture(): the input photo (RGB float32 HxWx3 in [0,1], display-referred) is linearised with a
plain gamma (``input_gamma``, 2.2), then: motion blur (average of warped sub-frames in linear
light, or a kernel convolution for type "kernels") -> exposure gain -> Poisson-Gaussian sensor
noise -> optional Bayer mosaic and bilinear demosaicing -> clip (saturation) -> colour cast ->
camera response curve -> clip -> optional JPEG (a fixed quality or one drawn from a range).

Randomness: the blur depends only on (seed, image size) and the noise on a separate stream of the
same seed, so capture(img, s) and blur_only(img, s) share the same shake.
"""

from __future__ import annotations

import io
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy.ndimage import convolve
from scipy.signal import fftconvolve

from .kernels import center_kernel, load_kernels, resize_kernel
from .profile import CameraProfile, load_profile
from .response import apply_response, invert_response
from .trajectory import Trajectory, random_trajectory, trajectory_kernel


def _rngs(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent (motion, noise) generators for a non-negative integer seed."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    motion, noise = np.random.SeedSequence(int(seed)).spawn(2)
    return np.random.default_rng(motion), np.random.default_rng(noise)


def _check_image(img) -> np.ndarray:
    if not isinstance(img, np.ndarray):
        raise TypeError(f"expected a numpy HxWx3 image, got {type(img).__name__}")
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 RGB image, got shape {img.shape}")
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    return np.clip(img.astype(np.float32), 0.0, 1.0)


def render_trajectory(lin: np.ndarray, traj: Trajectory, chunk: int = 16) -> np.ndarray:
    """Average of the image warped along the trajectory (bilinear, mirrored border).

    Sub-frame i shows the image rotated by theta[i] about the image centre, then shifted by
    (dx[i], dy[i]) pixels (x right, y down). ``lin``: HxWx3 float (linear light). Returns float32.
    """
    h, w = lin.shape[:2]
    x = torch.from_numpy(np.ascontiguousarray(lin, dtype=np.float32)).permute(2, 0, 1)[None]
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                            torch.arange(w, dtype=torch.float32), indexing="ij")
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    acc = torch.zeros(3, h, w)
    params = torch.tensor(np.stack([traj.dx, traj.dy, traj.theta], 1), dtype=torch.float32)
    with torch.no_grad():
        for start in range(0, len(traj), chunk):
            p = params[start:start + chunk]
            n = p.shape[0]
            dx, dy, th = (p[:, i].view(n, 1, 1) for i in range(3))
            px, py = xs - cx - dx, ys - cy - dy
            cos, sin = torch.cos(th), torch.sin(th)
            sx = cos * px + sin * py + cx  # inverse rotation: where each output pixel comes from
            sy = -sin * px + cos * py + cy
            grid = torch.stack([(2 * sx + 1) / w - 1, (2 * sy + 1) / h - 1], dim=-1)
            out = F.grid_sample(x.expand(n, -1, -1, -1), grid, mode="bilinear",
                                padding_mode="reflection", align_corners=False)
            acc += out.sum(0)
    return (acc / len(traj)).permute(1, 2, 0).numpy()


def convolve_kernel(lin: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """True 2-D convolution of each channel with ``kernel`` (centre = middle pixel; mirrored border)."""
    kh, kw = kernel.shape
    if kh % 2 == 0 or kw % 2 == 0:
        kernel = center_kernel(kernel)
        kh, kw = kernel.shape
    py, px = kh // 2, kw // 2
    padded = np.pad(lin.astype(np.float64), ((py, py), (px, px), (0, 0)), mode="symmetric")
    out = fftconvolve(padded, kernel.astype(np.float64)[:, :, None], mode="valid", axes=(0, 1))
    return np.clip(out, 0.0, None).astype(np.float32)


def jpeg_roundtrip(img: np.ndarray, quality: int) -> np.ndarray:
    """Encode as 8-bit JPEG at ``quality`` and decode (PIL defaults, 4:2:0). Returns float32 [0,1]."""
    u8 = np.round(np.clip(img, 0, 1) * 255.0).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(u8, "RGB").save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def mosaic_rggb(lin: np.ndarray) -> np.ndarray:
    """An HxWx3 image sampled by an RGGB Bayer sensor: each pixel keeps one channel, the others 0."""
    out = np.zeros_like(lin)
    out[0::2, 0::2, 0] = lin[0::2, 0::2, 0]
    out[0::2, 1::2, 1] = lin[0::2, 1::2, 1]
    out[1::2, 0::2, 1] = lin[1::2, 0::2, 1]
    out[1::2, 1::2, 2] = lin[1::2, 1::2, 2]
    return out


def demosaic_bilinear(raw: np.ndarray) -> np.ndarray:
    """Bilinear demosaicing of `mosaic_rggb`'s output: each missing sample is the mean of its
    nearest samples of that colour (normalised convolution, mirrored border). HxWx3 float."""
    mask = np.zeros_like(raw)
    mask[0::2, 0::2, 0] = mask[0::2, 1::2, 1] = mask[1::2, 0::2, 1] = mask[1::2, 1::2, 2] = 1.0
    k = np.array([[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]])
    out = np.empty_like(raw)
    for c in range(3):
        num = convolve(raw[..., c], k, mode="mirror")
        den = convolve(mask[..., c], k, mode="mirror")
        out[..., c] = np.where(mask[..., c] > 0, raw[..., c], num / np.maximum(den, 1e-12))
    return out


def add_sensor_noise(lin: np.ndarray, photon_scale: float | None, read_sigma: float,
                     rng: np.random.Generator) -> np.ndarray:
    """Poisson-Gaussian noise: Poisson(lin * photon_scale) / photon_scale + N(0, read_sigma^2).

    ``photon_scale`` is the electron count at white (1.0); None or 0 skips the shot noise.
    """
    out = lin.astype(np.float64)
    if photon_scale:
        out = rng.poisson(np.clip(out, 0.0, None) * photon_scale) / photon_scale
    if read_sigma > 0:
        out = out + rng.normal(0.0, read_sigma, size=out.shape)
    return out.astype(np.float32)


class Camera:
    """A simulated camera built from a CameraProfile (or a profile name / YAML path).

    Args:
        profile: CameraProfile, shipped profile name or YAML path.
        input_gamma: gamma used to linearise the input photos in capture() (display-referred).
    """

    def __init__(self, profile: CameraProfile | str | os.PathLike, input_gamma: float = 2.2):
        self.profile = profile if isinstance(profile, CameraProfile) else load_profile(profile)
        self.input_gamma = float(input_gamma)
        self._kernels = load_kernels(self.profile.kernels) if self.profile.type == "kernels" else None

    def __repr__(self) -> str:
        return f"Camera({self.profile.name!r}, type={self.profile.type!r})"

    # ----- blur -----
    def trajectory(self, seed: int, height: int, width: int) -> Trajectory:
        """The shake trajectory of capture number ``seed`` for an image of this size (type trajectory)."""
        if self.profile.type != "trajectory":
            raise ValueError(f"profile {self.profile.name!r} is of type {self.profile.type!r}: no trajectory")
        return self._trajectory(_rngs(seed)[0], height, width)

    def _trajectory(self, rng: np.random.Generator, height: int, width: int) -> Trajectory:
        p = self.profile
        factor = rng.uniform(1.0 - p.length_spread, 1.0 + p.length_spread)
        length = p.shake_speed * p.exposure * p.blur_scale(height, width) * factor
        return random_trajectory(rng, length, rotation=p.rotation_speed * p.exposure,
                                 curviness=p.curviness, n_subframes=p.n_subframes,
                                 radius=0.5 * math.hypot(height, width))

    def _kernel(self, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
        k = self._kernels[int(rng.integers(len(self._kernels)))]
        return center_kernel(resize_kernel(k, self.profile.blur_scale(height, width)))

    def kernel_for(self, seed: int, image_size: tuple[int, int], size: int | None = None) -> np.ndarray:
        """Effective blur kernel (float32, sums to 1) of capture ``seed`` at image_size (H, W).

        For trajectories only the translation is rasterised (rotation ignored). ``size`` (odd)
        pads or centre-crops the kernel to size x size.
        """
        h, w = image_size
        rng = _rngs(seed)[0]
        if self.profile.type == "trajectory":
            k = trajectory_kernel(self._trajectory(rng, h, w))
        else:
            k = self._kernel(rng, h, w)
        if size is None:
            return k
        if size % 2 == 0 or size < 1:
            raise ValueError(f"kernel size must be a positive odd number, got {size}")
        half, kh = size // 2, k.shape[0] // 2
        if kh <= half:
            k = np.pad(k, half - kh)
        else:
            k = k[kh - half:kh + half + 1, kh - half:kh + half + 1]
        return (k / k.sum()).astype(np.float32)

    def _blur(self, lin: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = lin.shape[:2]
        if self.profile.type == "kernels":
            return convolve_kernel(lin, self._kernel(rng, h, w))
        traj = self._trajectory(rng, h, w)
        if traj.is_still():
            return lin
        return render_trajectory(lin, traj)

    # ----- public -----
    def capture(self, img: np.ndarray, seed: int, motion: bool = True, noise: bool = True,
                jpeg: bool = True) -> np.ndarray:
        """What the camera captures of a sharp photo (HxWx3 float32 [0,1] -> same).

        motion=False: the same camera held still (no blur). noise=False: no sensor noise; with both
        off the result is deterministic: response(cast(gain * input ** input_gamma)) (+ JPEG).
        Sharp captures with noise use the noise scaled by ``sharp_noise_scale``. jpeg=False skips
        the profile's JPEG step (for ideal ground-truth frames).
        """
        img = _check_image(img)
        rng_motion, _ = _rngs(seed)
        lin = img.astype(np.float64) ** self.input_gamma
        if motion:
            lin = self._blur(lin, rng_motion).astype(np.float64)
        return self.develop(lin, seed, motion=motion, noise=noise, jpeg=jpeg)

    def develop(self, lin: np.ndarray, seed: int, motion: bool = True, noise: bool = True,
                jpeg: bool = True, noise_scale: float = 1.0) -> np.ndarray:
        """Everything capture() does after the blur, on a linear-light HxWx3 image: gain, sensor
        noise (the noise stream of ``seed``, its std times ``noise_scale``), clip, colour cast,
        response, JPEG. Returns float32 [0,1]. Shared with the on-the-fly synthesis
        (simulate/online.py), which blurs by itself."""
        p = self.profile
        _, rng_noise = _rngs(seed)
        lin = np.asarray(lin, dtype=np.float64) * p.gain
        if noise:
            s = (1.0 if motion else p.sharp_noise_scale) * noise_scale
            if s > 0:
                ps = p.noise["photon_scale"]
                lin = add_sensor_noise(lin, ps / s**2 if ps else None, p.noise["read_sigma"] * s, rng_noise)
        if p.mosaic and noise:  # (a sensor trait, like the noise: the ideal ground truth has neither)
            lin = demosaic_bilinear(mosaic_rggb(lin))
        lin = np.clip(lin, 0.0, 1.0)
        if p.colour_cast != (1.0, 1.0, 1.0):
            lin = np.clip(lin * np.asarray(p.colour_cast, dtype=np.float64), 0.0, 1.0)
        out = np.clip(apply_response(lin, p.response), 0.0, 1.0).astype(np.float32)
        if jpeg and p.jpeg_quality is not None:
            q = p.jpeg_quality
            if isinstance(q, list):  # (a range: drawn per capture, from the noise stream of `seed`)
                q = int(rng_noise.integers(q[0], q[1] + 1))
            out = jpeg_roundtrip(out, q)
        return out

    def blur_only(self, img: np.ndarray, seed: int) -> np.ndarray:
        """Only the profile's motion blur of a photo this camera took (for the known-blur set K).

        Linearises with the inverse of the profile's response, blurs (same shake as capture() with
        this seed), re-applies the response. No gain, noise, cast or JPEG. HxWx3 float32 [0,1].
        """
        img = _check_image(img)
        lin = invert_response(img.astype(np.float64), self.profile.response)
        blurred = self._blur(lin, _rngs(seed)[0])
        return np.clip(apply_response(blurred.astype(np.float64), self.profile.response), 0, 1).astype(np.float32)
