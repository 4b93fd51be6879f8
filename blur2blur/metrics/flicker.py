"""Temporal stability of a processed clip: the flicker index.

Deblurring a video frame by frame can make it flicker: details that come and go between frames.
The measure here compares how much consecutive frames of the output differ with how much
consecutive frames of the ground truth differ (the camera's own motion):

    temporal_change(frames) = mean over t of mean |frame_t - frame_{t-1}| (RGB, [0,1], uint8-rounded)
    flicker_index(out, gt) = temporal_change(out) / temporal_change(gt)

1.0 means the output changes from frame to frame exactly as much as the true scene does; above 1
the processing adds frame-to-frame change (flicker, or noise); below 1 it removes some (blur and
noise of the input make it higher than 1 too, since noise changes every frame).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def temporal_change(frames: Sequence[np.ndarray]) -> float:
    """Mean absolute difference of consecutive frames (HxWx3 float in [0,1], uint8-rounded)."""
    if len(frames) < 2:
        raise ValueError(f"temporal change needs at least 2 frames, got {len(frames)}")
    q = [np.round(np.clip(f, 0, 1) * 255.0) for f in frames]
    return float(np.mean([np.abs(a - b).mean() for a, b in zip(q[1:], q[:-1])]) / 255.0)


def flicker_index(frames: Sequence[np.ndarray], gt: Sequence[np.ndarray]) -> float:
    """temporal_change(frames) / temporal_change(gt) (same frame count); see the module doc."""
    if len(frames) != len(gt):
        raise ValueError(f"{len(frames)} frames against {len(gt)} ground-truth frames")
    ref = temporal_change(gt)
    if ref == 0:
        raise ValueError("the ground truth does not change between frames: the flicker index is undefined")
    return temporal_change(frames) / ref
