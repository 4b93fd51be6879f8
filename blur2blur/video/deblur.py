"""Deblur a video with a pipeline (translator + deblurrer), and score a clip against its ground truth.

`deblur_video` decodes the frames upright, runs them through `DeblurPipeline.run_tensor` in
batches (the pipeline's tiling and bfloat16 settings apply), and writes H.264 with the input's
size, frame timestamps (so its frame rate, variable or not), display rotation and audio stream
(copied untouched). The output exists at its final name only once complete (video/io.py
`VideoWriter`); the input is never written to.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from blur2blur.io import list_images, read_image, write_image
from blur2blur.metrics.flicker import flicker_index
from blur2blur.metrics.psnr import psnr
from blur2blur.outputs.files import guard_output, remove_stale_temps
from blur2blur.outputs.run_folder import RunLock
from blur2blur.progress import tqdm
from blur2blur.video.io import VideoWriter, probe, read_frames


def deblur_video(pipeline, src: str | os.PathLike, dst: str | os.PathLike, crf: int = 18,
                 compare: bool = False, frames_dir: str | os.PathLike | None = None, batch: int = 4,
                 progress: bool = True, overwrite: bool = False) -> dict:
    """Deblur video `src` into video `dst` with `pipeline` (infer/pipeline.py DeblurPipeline).

    `compare`: each output frame is input | result side by side (twice the width). `frames_dir`:
    also write each result frame there as PNG (`frame_00000.png`, ... by frame index). `batch`:
    frames per network call. An existing `dst` is refused unless `overwrite`. Returns
    {"frames", "seconds", "fps" (frames per second of processing), "path"}.
    """
    src, dst = Path(src), Path(dst)
    guard_output(dst, [src], "output video", folder=False)
    if frames_dir is not None:
        frames_dir = Path(frames_dir)
        if frames_dir.resolve() == dst.resolve():
            raise ValueError(f"--frames {frames_dir} is the output video's path: give a folder for the frames")
        guard_output(frames_dir, [src, dst], "frames folder")
        if frames_dir.exists() and not frames_dir.is_dir():
            raise FileExistsError(f"--frames {frames_dir} is a file: give a folder for the frames")
        held = sorted(p.name for p in frames_dir.iterdir() if not p.name.startswith(".")) if frames_dir.is_dir() else []
        others = [n for n in held if not (n.startswith("frame_") and n.endswith(".png"))]
        if others:
            raise FileExistsError(f"--frames {frames_dir} holds other files ({', '.join(others[:5])}): give an empty "
                                  "or new folder")
        if held and not overwrite:
            raise FileExistsError(f"--frames {frames_dir} holds {len(held)} frames of an earlier run ({held[0]}, ...): "
                                  "give an empty folder, or --overwrite to replace them")
    if dst.exists() and not overwrite:
        raise FileExistsError(f"{dst} exists: choose another name or pass --overwrite")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    with RunLock(dst.parent, name=f".{dst.name}.lock", doing=f"writing {dst.name} into"):
        remove_stale_temps(dst.parent)  # (a killed earlier run's hidden partial video)
        if frames_dir is not None and frames_dir.is_dir():  # (--overwrite: no stale frame stays mixed in)
            for old in frames_dir.glob("frame_*.png"):
                old.unlink()
        return _deblur_video(pipeline, src, dst, crf, compare, frames_dir, batch, progress)


def _deblur_video(pipeline, src: Path, dst: Path, crf: int, compare: bool, frames_dir, batch: int,
                  progress: bool) -> dict:
    info = probe(src)
    if info.note:
        print(f"note: {src.name}: {info.note}")
    width = info.width * (2 if compare else 1)
    start = time.time()
    count = 0
    frames = read_frames(src)
    first = next(frames)
    with VideoWriter(dst, width, info.height, info.fps, crf=crf, rotation=info.rotation,
                     audio_from=src if info.has_audio else None, time_base=first.time_base) as writer, \
            tqdm(total=info.frames, desc=f"deblur {src.name}", unit="frame", disable=not progress,
                 dynamic_ncols=True) as bar:
        pending = [first]

        def flush():
            nonlocal count
            x = torch.stack([torch.from_numpy(f.image).permute(2, 0, 1) for f in pending])
            out = pipeline.run_tensor(x)[pipeline.output_keys()[-1]]  # (deblurred, or translated alone)
            out = out.float().cpu().permute(0, 2, 3, 1).numpy()
            for f, y in zip(pending, out):
                if frames_dir is not None:
                    write_image(Path(frames_dir) / f"frame_{f.index:05d}.png", y)
                writer.write(np.concatenate([f.image, y], axis=1) if compare else y, pts=f.pts)
                count += 1
            bar.update(len(pending))
            pending.clear()

        for frame in frames:
            if len(pending) == batch:
                flush()
            pending.append(frame)
        flush()
    seconds = time.time() - start
    if writer.retimed:
        print(f"note: {src.name}: {writer.retimed} frame(s) had timestamps that went back or repeated; each was "
              "placed one frame period after the previous frame")
    return {"frames": count, "seconds": round(seconds, 2), "fps": count / max(seconds, 1e-9), "path": str(dst),
            "retimed": writer.retimed}


def score_clip(frames: list[np.ndarray] | str | os.PathLike, gt: str | os.PathLike | list[np.ndarray]) -> dict:
    """PSNR (dB, RGB, uint8-rounded) of every frame of a clip against its ground truth, and the
    flicker index (metrics/flicker.py). `frames`: a video file or a list of HxWx3 float images;
    `gt`: a folder of frame PNGs (in name order) or a list. Returns {"psnr" (mean), "psnr_per_frame",
    "flicker"}."""
    if not isinstance(frames, list):
        frames = [f.image for f in read_frames(frames)]
    if not isinstance(gt, list):
        gt = [read_image(f) for f in list_images(gt)]
    if len(frames) != len(gt):
        raise ValueError(f"the clip has {len(frames)} frames, its ground truth {len(gt)}")
    per_frame = [psnr(f, g) for f, g in zip(frames, gt)]
    return {"psnr": statistics.fmean(per_frame), "psnr_per_frame": per_frame, "flicker": flicker_index(frames, gt)}
