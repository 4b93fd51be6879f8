"""Random smooth camera-shake trajectories over one exposure.

A trajectory is the image motion at T equally spaced sub-frame times: translation (dx, dy) in
pixels and in-plane rotation theta in radians (about the image centre). The path heading and speed
follow smooth random curves (three low-frequency sinusoids, amplitudes falling as 1/k), so the path is smooth; it is centred
on its time-average so the blur does not shift the image on average.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Trajectory:
    """Image motion over an exposure: arrays of length T (float64)."""

    dx: np.ndarray
    dy: np.ndarray
    theta: np.ndarray

    def __len__(self) -> int:
        return len(self.dx)

    @classmethod
    def zeros(cls, n: int = 1) -> "Trajectory":
        """A still camera (no motion) sampled at n sub-frames."""
        z = np.zeros(n)
        return cls(z, z.copy(), z.copy())

    @property
    def length(self) -> float:
        """Path length of the translation in pixels."""
        return float(np.hypot(np.diff(self.dx), np.diff(self.dy)).sum())

    @property
    def extent(self) -> float:
        """Largest distance (px) between two translation samples (end-to-end size of the blur)."""
        pts = np.stack([self.dx, self.dy], 1)
        return float(np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1)).max())

    def is_still(self) -> bool:
        """True when all sub-frames are at the origin with no rotation."""
        return not (np.any(self.dx) or np.any(self.dy) or np.any(self.theta))


def random_trajectory(rng: np.random.Generator, length: float, rotation: float = 0.0,
                      curviness: float = 0.3, n_subframes: int = 16, max_step: float = 0.5,
                      radius: float = 0.0, max_subframes: int = 1024) -> Trajectory:
    """Draw a smooth random shake trajectory.

    Args:
        rng: numpy Generator (the result is deterministic for its state).
        length: translation path length in pixels.
        rotation: largest total rotation over the exposure in radians (drawn in [-rotation, rotation]).
        curviness: 0 = straight line; ~1 lets the heading turn by about pi.
        n_subframes: minimum number of sub-frames.
        max_step: largest motion (px) between consecutive sub-frames; raises the sub-frame count.
        radius: distance (px) from the rotation centre to the farthest pixel, used with max_step.
        max_subframes: upper bound on the sub-frame count.
    """
    if length < 0 or rotation < 0:
        raise ValueError(f"length and rotation must be >= 0, got {length}, {rotation}")
    # Draw every random number first so the stream does not depend on the sub-frame count.
    heading0 = rng.uniform(0, 2 * math.pi)
    turn = _coeffs(rng)
    speed = _coeffs(rng)
    rot_amount = rng.uniform(-1.0, 1.0) * rotation
    rot_wobble = _coeffs(rng)

    if length == 0 and rot_amount == 0:
        return Trajectory.zeros(max(1, int(n_subframes)))
    motion_px = length + abs(rot_amount) * radius
    n = min(max(int(n_subframes), int(math.ceil(motion_px / max_step)) + 1), int(max_subframes))
    while True:
        traj = _build(n, length, curviness, heading0, turn, speed, rot_amount, rot_wobble)
        step = np.hypot(np.diff(traj.dx), np.diff(traj.dy)) + np.abs(np.diff(traj.theta)) * radius
        worst = float(step.max()) if n > 1 else 0.0
        if worst <= max_step or n >= max_subframes:
            return traj
        n = min(int(math.ceil((n - 1) * worst / max_step)) + 2, int(max_subframes))


def _build(n: int, length: float, curviness: float, heading0: float, turn: np.ndarray,
           speed: np.ndarray, rot_amount: float, rot_wobble: np.ndarray) -> Trajectory:
    """Sample the trajectory defined by the drawn coefficients at n sub-frames."""
    if n == 1:
        return Trajectory.zeros(1)
    t = np.linspace(0.0, 1.0, n)
    heading = heading0 + curviness * math.pi * _eval(turn, t)
    v = np.exp(0.3 * _eval(speed, t))  # relative speed, smooth and positive
    seg = 0.5 * (v[1:] + v[:-1]) * np.diff(t)
    hd = 0.5 * (heading[1:] + heading[:-1])
    x = np.concatenate([[0.0], np.cumsum(seg * np.cos(hd))])
    y = np.concatenate([[0.0], np.cumsum(seg * np.sin(hd))])
    path = np.hypot(np.diff(x), np.diff(y)).sum()
    if path > 0:
        x, y = x * (length / path), y * (length / path)
    x -= x.mean()
    y -= y.mean()
    raw = t + 0.15 * _eval(rot_wobble, t)
    span = raw.max() - raw.min()
    theta = rot_amount * (raw - raw.mean()) / span if span > 0 else np.zeros(n)
    return Trajectory(x, y, theta)


def _coeffs(rng: np.random.Generator, n_terms: int = 3) -> np.ndarray:
    """Amplitudes and phases of a smooth random curve (see _eval)."""
    amps = rng.normal(size=n_terms) / np.arange(1, n_terms + 1)
    phases = rng.uniform(0, 2 * math.pi, size=n_terms)
    return np.stack([amps, phases])


def _eval(coeffs: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Evaluate sum_k a_k sin(pi k t + p_k) at times t in [0, 1]."""
    out = np.zeros_like(t)
    for k, (a, p) in enumerate(coeffs.T, start=1):
        out += a * np.sin(math.pi * k * t + p)
    return out


def trajectory_kernel(traj: Trajectory, size: int | None = None) -> np.ndarray:
    """Blur kernel of the translation part of a trajectory (rotation ignored).

    Each sub-frame deposits weight 1/T at (+dy, +dx) from the kernel centre, split bilinearly.
    Returns a float32 ``size x size`` array (odd size; default fits the path) summing to 1, so that
    convolving with it (scipy.ndimage.convolve convention) equals averaging the translated frames.
    """
    reach = float(max(np.abs(traj.dx).max(), np.abs(traj.dy).max()))
    if size is None:
        size = 2 * int(math.ceil(reach)) + 3
    if size % 2 == 0 or size < 1:
        raise ValueError(f"kernel size must be a positive odd number, got {size}")
    c = size // 2
    k = np.zeros((size, size), np.float64)
    w = 1.0 / len(traj)
    for x, y in zip(traj.dx + c, traj.dy + c):
        x0, y0 = math.floor(x), math.floor(y)
        fx, fy = x - x0, y - y0
        for yy, xx, ww in ((y0, x0, (1 - fx) * (1 - fy)), (y0, x0 + 1, fx * (1 - fy)),
                           (y0 + 1, x0, (1 - fx) * fy), (y0 + 1, x0 + 1, fx * fy)):
            if 0 <= yy < size and 0 <= xx < size:
                k[yy, xx] += w * ww
    total = k.sum()
    if total <= 0:
        raise ValueError(f"kernel size {size} is too small for a path reaching {reach:.1f} px")
    return (k / total).astype(np.float32)
