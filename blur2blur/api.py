"""The model in your own code: one call to load, one call to deblur.

    import blur2blur
    model = blur2blur.load_pipeline("runs/deblurrer/deblurrer", translator="runs/translator/translator")
    sharp = model(photo)          # numpy, PIL image, torch tensor or a file path

`load_pipeline` takes what `blur2blur deblur` takes (our checkpoints, or an official NAFNet /
Restormer file named by `official`; device, `amp`, tiling) and returns a `Deblurrer`, which gives
back the kind of image it was given: a numpy array of the same dtype (uint8 stays uint8, float
stays float in [0,1]) and layout (HxWx3, or HxW grey), a PIL image of the same mode, a torch tensor
of the same shape (CHW or NCHW, [0,1]) on the same device; a file path gives a numpy float32
HxWx3 array in [0,1].
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from blur2blur.infer.pipeline import DeblurPipeline


class Deblurrer:
    """Callable wrapper of a `DeblurPipeline` (`.pipeline`); `translate=True` in a call returns the
    translated image T(y) instead of the deblurred one."""

    def __init__(self, pipeline: DeblurPipeline):
        self.pipeline = pipeline

    def _run(self, x: torch.Tensor, translate: bool) -> torch.Tensor:
        key = "translated" if translate else "deblurred"
        outs = self.pipeline.run_tensor(x)
        if key not in outs:
            raise ValueError("this pipeline has no translator" if translate else "this pipeline has no deblurrer")
        return outs[key]

    def __call__(self, image, translate: bool = False):
        if isinstance(image, (str, os.PathLike)):
            from blur2blur.io import read_image

            return self(read_image(Path(image)), translate)
        if isinstance(image, torch.Tensor):
            batch = image.dim() == 4
            if image.dim() not in (3, 4) or image.shape[-3] != 3:
                raise ValueError(f"expected a CHW or NCHW tensor with 3 channels, got shape {tuple(image.shape)}")
            y = self._run(image[None] if not batch else image, translate)
            y = y.to(image.device, image.dtype if image.is_floating_point() else torch.float32)
            return y if batch else y[0]
        try:
            from PIL import Image
        except ImportError:  # pragma: no cover
            Image = None
        if Image is not None and isinstance(image, Image.Image):
            mode = image.mode
            arr = np.asarray(image.convert("RGB"))
            out = self(arr, translate)
            return Image.fromarray(out).convert(mode) if mode in ("L", "RGB", "RGBA") else Image.fromarray(out)
        if isinstance(image, np.ndarray):
            return self._numpy(image, translate)
        raise TypeError(f"cannot deblur a {type(image).__name__}: give a numpy array, a PIL image, a torch tensor "
                        "or a file path")

    def _numpy(self, arr: np.ndarray, translate: bool) -> np.ndarray:
        grey = arr.ndim == 2
        if grey:
            arr = np.repeat(arr[..., None], 3, axis=2)
        if arr.ndim != 3 or arr.shape[2] not in (3, 4):
            raise ValueError(f"expected an HxWx3 (or HxW, HxWx4) array, got shape {arr.shape}")
        rgb = arr[..., :3]
        if arr.dtype == np.uint8:
            x = rgb.astype(np.float32) / 255.0
        elif np.issubdtype(arr.dtype, np.floating):
            x = rgb.astype(np.float32)
        else:
            raise TypeError(f"expected a uint8 or float array, got {arr.dtype}")
        y = self._run(torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None], translate)
        out = y[0].permute(1, 2, 0).float().cpu().numpy()
        if arr.dtype == np.uint8:
            out = np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)
        else:
            out = out.astype(arr.dtype)
        if arr.shape[2] == 4:  # (alpha passed through)
            out = np.concatenate([out, arr[..., 3:]], axis=2)
        if grey:
            out = out.astype(np.float32).mean(axis=2)
            out = np.round(out).astype(np.uint8) if arr.dtype == np.uint8 else out.astype(arr.dtype)
        return out


def load_pipeline(deblurrer: str | os.PathLike | None, translator: str | os.PathLike | None = None,
                  official: str | None = None, tlc: bool = False, device: str | None = "auto",
                  amp: str = "auto", tile: int | str | None = "auto") -> Deblurrer:
    """A ready-to-call deblurrer: `deblurrer` (our checkpoint stem, or an official file with its
    configuration name `official`, e.g. "nafnet-gopro-width64", and `tlc` for NAFNet's test-time
    local converter) after the optional blur `translator`; `device` "auto" (CUDA when present),
    "cpu", "cuda:1"...; `amp` "auto" | "bf16" | "none"; `tile` "auto" | 0 | a tile side in px.
    Nothing is downloaded: weights are given by path."""
    pipe = DeblurPipeline.from_checkpoints(deblurrer, translator, device, deblurrer_official=official, tlc=tlc,
                                           amp=amp, tile=tile)
    return Deblurrer(pipe)
