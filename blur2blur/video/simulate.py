"""A simulated handheld clip with ground truth, for tests, the video demo and benchmarks.

A virtual camera pans slowly across a photo and zooms in a little; every frame is rendered from
the photo (the sharp scene), then captured by a camera profile (simulate/camera.py): its own
random shake during the exposure, sensor noise, response, colour cast and JPEG. The blurry clip
is written as a real H.264 MP4; the camera's ideal frames (no shake, no noise, no JPEG: what a
perfect deblurrer would return) are kept as lossless PNGs, the ground truth.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Iterator

import av
import numpy as np
import torch
import torch.nn.functional as F

from blur2blur.io import read_image, write_image
from blur2blur.outputs.files import atomic_write_text, guard_output
from blur2blur.progress import tqdm
from blur2blur.simulate import Camera, load_profile
from blur2blur.video.io import VideoWriter


def pan_zoom_frames(photo: np.ndarray, n_frames: int, width: int, height: int, pan: float = 0.3,
                    zoom: float = 1.15, angle_deg: float = 20.0) -> Iterator[np.ndarray]:
    """`n_frames` views (height x width x 3 float32) of `photo` (HxWx3 float in [0,1]) by a
    camera that pans by `pan` of the photo's width along a line `angle_deg` from horizontal and
    zooms in by `zoom` overall, smoothly (eased at both ends). The first view is the largest box
    of the frame's aspect ratio that covers 80% of the photo's shorter extent. Made one at a
    time (a generator): memory does not grow with the number of frames."""
    if n_frames < 1 or width < 8 or height < 8:
        raise ValueError(f"need n_frames >= 1 and frames of at least 8x8 px, got {n_frames}, {width}x{height}")
    ph, pw = photo.shape[:2]
    aspect = width / height
    win_h0 = 0.8 * min(ph, pw / aspect)
    t = torch.from_numpy(np.ascontiguousarray(photo, dtype=np.float32)).permute(2, 0, 1)[None]
    # pre-smooth so that bilinear sampling at the frame's scale does not alias
    scale = win_h0 / height
    sigma = max(0.0, 0.5 * (scale - 1.0))
    if sigma > 0.2:
        r = int(3 * sigma + 0.5)
        x = torch.arange(-r, r + 1, dtype=torch.float32)
        g = torch.exp(-x ** 2 / (2 * sigma ** 2))
        g = (g / g.sum()).to(t)
        t = F.conv2d(F.pad(t, (r, r, 0, 0), mode="reflect"), g.view(1, 1, 1, -1).repeat(3, 1, 1, 1), groups=3)
        t = F.conv2d(F.pad(t, (0, 0, r, r), mode="reflect"), g.view(1, 1, -1, 1).repeat(3, 1, 1, 1), groups=3)
    return _views(t, n_frames, width, height, ph, pw, aspect, win_h0, pan, zoom, angle_deg)


def _views(t, n_frames, width, height, ph, pw, aspect, win_h0, pan, zoom, angle_deg) -> Iterator[np.ndarray]:
    a = math.radians(angle_deg)
    travel = pan * pw
    for i in range(n_frames):
        u = i / max(1, n_frames - 1)
        e = 0.5 - 0.5 * math.cos(math.pi * u)  # eased 0 -> 1
        s = 1.0 + (zoom - 1.0) * e
        win_h = win_h0 / s
        win_w = win_h * aspect
        cx = pw / 2 + (e - 0.5) * travel * math.cos(a)
        cy = ph / 2 + (e - 0.5) * travel * math.sin(a)
        cx = min(max(cx, win_w / 2), pw - win_w / 2)
        cy = min(max(cy, win_h / 2), ph - win_h / 2)
        ys = cy + (torch.arange(height, dtype=torch.float32) + 0.5 - height / 2) * (win_h / height)
        xs = cx + (torch.arange(width, dtype=torch.float32) + 0.5 - width / 2) * (win_w / width)
        gy, gx = torch.meshgrid(ys / ph * 2 - 1, xs / pw * 2 - 1, indexing="ij")
        grid = torch.stack([gx, gy], dim=-1)[None]
        view = F.grid_sample(t, grid, mode="bilinear", padding_mode="border", align_corners=False)
        yield view[0].permute(1, 2, 0).clamp(0, 1).numpy()


def simulate_clip(photo: str | os.PathLike | np.ndarray, out_dir: str | os.PathLike,
                  profile: str | os.PathLike = "unknown", n_frames: int = 48, width: int = 256,
                  height: int = 192, fps: float = 24.0, seed: int = 0, pan: float = 0.3, zoom: float = 1.15,
                  blur_size: int | None = None, crf: int = 14, audio: bool = False,
                  progress: bool = True, overwrite: bool = False) -> dict:
    """Write a simulated handheld clip of `photo` to `out_dir`:

    - `clip.mp4`: the camera's blurry frames (H.264, `crf`), with a quiet 440 Hz audio track
      when `audio`;
    - `gt/frame_00000.png`, ...: the ideal sharp frames (ground truth, lossless);
    - `sharp.mp4`: the same ground truth as a video (for side-by-side viewing);
    - `clip.json`: the parameters and file names.
    `blur_size`: the image size (longer side, px) at which the profile's blur lengths are taken
    (default: the frame's own, as for a photo of that size); e.g. 96 gives the blur the demo's
    96 px scenes get. Returns the contents of clip.json.
    """
    out = Path(out_dir)
    inputs = [photo] if not isinstance(photo, np.ndarray) else []
    guard_output(out, inputs, "clip folder")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} is not empty: give an empty folder or --overwrite")
    if width % 2 or height % 2:
        raise ValueError(f"the frame size must be even (H.264 yuv420p), got {width}x{height}")
    if not 1 <= fps <= 240:
        raise ValueError(f"--fps must be in [1, 240] frames per second, got {fps:g}")
    img = photo if isinstance(photo, np.ndarray) else read_image(photo)
    prof = load_profile(profile)
    if blur_size is not None:  # blur lengths as for an image of blur_size px
        ref = prof.reference_size or max(width, height)
        prof = dataclasses.replace(prof, reference_size=int(round(ref * max(width, height) / blur_size)))
    camera = Camera(prof)
    views = pan_zoom_frames(img, n_frames, width, height, pan, zoom)
    gt_dir = out / "gt"
    out.mkdir(parents=True, exist_ok=True)
    for stale in gt_dir.glob("frame_*.png") if gt_dir.is_dir() else []:  # (--overwrite: no earlier frame stays)
        stale.unlink()
    with VideoWriter(out / "clip.mp4", width, height, fps, crf=crf,
                     audio_from=_tone(out, n_frames / fps) if audio else None) as blurry, \
            VideoWriter(out / "sharp.mp4", width, height, fps, crf=crf) as sharp:
        for i, view in enumerate(tqdm(views, total=n_frames, desc="simulate clip", disable=not progress,
                                      dynamic_ncols=True)):
            frame_seed = seed * 100_003 + i
            ideal = camera.capture(view, frame_seed, motion=False, noise=False, jpeg=False)
            write_image(gt_dir / f"frame_{i:05d}.png", ideal)
            sharp.write(ideal)
            blurry.write(camera.capture(view, frame_seed))
    (out / ".tone.m4a").unlink(missing_ok=True)
    meta = {"photo": None if isinstance(photo, np.ndarray) else str(photo), "profile": prof.name,
            "n_frames": n_frames, "width": width, "height": height, "fps": fps, "seed": seed, "pan": pan,
            "zoom": zoom, "blur_size": blur_size, "crf": crf, "audio": audio,
            "clip": "clip.mp4", "sharp": "sharp.mp4", "gt": "gt"}
    atomic_write_text(out / "clip.json", json.dumps(meta, indent=1))
    return meta


def _tone(out: Path, seconds: float) -> Path:
    """A short AAC file with a quiet 440 Hz tone, to give a clip an audio track."""
    path = out / ".tone.m4a"
    rate = 16000
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=rate)
        n = int(seconds * rate)
        samples = (0.1 * np.sin(2 * np.pi * 440 * np.arange(n) / rate)).astype(np.float32)
        for start in range(0, n, 1024):
            chunk = samples[start:start + 1024][None]
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
