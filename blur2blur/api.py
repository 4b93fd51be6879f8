"""The model in your own code: one call to load, one call to deblur.

    import blur2blur
    model = blur2blur.load_pipeline()                     # the shipped deblurrer alone
    model = blur2blur.load_pipeline(translator="runs/translator/translator")   # Blur2Blur for a camera
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
from PIL import Image

from blur2blur.infer.export import OnnxPipeline
from blur2blur.infer.pipeline import DeblurPipeline
from blur2blur.io import read_image
from blur2blur.perf import configure_allocator
from blur2blur.video.io import is_video


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
            if is_video(image):
                raise ValueError(f"{image} is a video: use blur2blur.video.deblur.deblur_video(model.pipeline, "
                                 f"{str(image)!r}, 'out.mp4') (or `blur2blur deblur` on the command line)")
            return self(read_image(Path(image)), translate)
        if isinstance(image, torch.Tensor):
            batch = image.dim() == 4
            if image.dim() not in (3, 4) or image.shape[-3] != 3:
                raise ValueError(f"expected a CHW or NCHW tensor with 3 channels, got shape {tuple(image.shape)}")
            u8 = image.dtype == torch.uint8  # (what image readers give: 0..255)
            if not (u8 or image.is_floating_point()):
                raise TypeError(f"expected a float tensor in [0,1] or a uint8 tensor, got {image.dtype}")
            x = _checked(image.float() / 255.0 if u8 else image)
            y = self._run(x if batch else x[None], translate)
            y = (y * 255.0).round().clamp(0, 255).to(image.device, torch.uint8) if u8 else y.to(image.device, image.dtype)
            return y if batch else y[0]
        if isinstance(image, Image.Image):
            mode = image.mode
            if mode in ("I", "I;16", "I;16B", "I;16L", "F"):
                raise ValueError(f"PIL images of mode {mode} (16-bit or float) have no fixed range: convert to 'RGB' "
                                 "or 'L' first, or give a numpy array in [0,1]; accepted modes: L, LA, RGB, RGBA "
                                 "(returned in the same mode, alpha kept) and 1, P, CMYK, YCbCr (returned as RGB)")
            if mode in ("RGBA", "LA") or (mode == "P" and "transparency" in image.info):
                rgba = np.asarray(image.convert("RGBA"))
                out = self(rgba, translate)  # (alpha passed through)
                back = Image.fromarray(out, "RGBA")
                return back.convert("LA") if mode == "LA" else back
            out = Image.fromarray(self(np.asarray(image.convert("RGB")), translate), "RGB")
            return out.convert("L") if mode == "L" else out
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
        if arr.size == 0:
            raise ValueError(f"the image is empty (shape {arr.shape})")
        rgb = arr[..., :3]
        if arr.dtype == np.uint8:
            x = rgb.astype(np.float32) / 255.0
        elif np.issubdtype(arr.dtype, np.floating):
            x = _checked(torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32))).numpy()
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


def _checked(x: torch.Tensor) -> torch.Tensor:
    """`x` if it is a finite, non-empty float image in [0,1] (a little rounding allowed), else a
    ValueError that says what it is and what to do."""
    if x.numel() == 0:
        raise ValueError(f"the image is empty (shape {tuple(x.shape)})")
    if not torch.isfinite(x).all():
        raise ValueError(f"the image holds {int((~torch.isfinite(x)).sum())} NaN or infinite values: fix or "
                         "replace them first")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        hint = " (it looks like 0..255: divide by 255)" if hi > 1.5 and lo >= 0 else (
            " (it looks like -1..1: compute (x + 1) / 2)" if lo >= -1.001 and hi <= 1.001 else "")
        raise ValueError(f"float images must be in [0, 1]; this one spans [{lo:.3g}, {hi:.3g}]{hint}")
    return x.clamp(0, 1)


def load_pipeline(deblurrer: str | os.PathLike | None = "shipped", translator: str | os.PathLike | None = None,
                  official: str | None = None, tlc: bool = False, device: str | None = "auto",
                  amp: str = "auto", tile: int | str | None = "auto", scale: float = 1.0,
                  ensemble: int = 1) -> Deblurrer:
    """A ready-to-call deblurrer: `deblurrer` ("shipped", the default: the model inside the package for
    the known camera `actioncam`; our checkpoint stem; or an official file with its
    configuration name `official`, e.g. "nafnet-gopro-width64", and `tlc` for NAFNet's test-time
    local converter) after the optional blur `translator`; `device` "auto" (CUDA when present),
    "cpu", "cuda:1"...; `amp` "auto" | "bf16" | "none"; `tile` "auto" | 0 | a tile side in px;
    `scale` < 1 works at that fraction of the size, for blur longer than the deblurrer's range;
    `ensemble` 2, 4 or 8 averages the deblurrer over that many flipped views (slower, higher PSNR).
    A path ending in .onnx loads an exported model (`blur2blur export`) instead. Nothing is
    downloaded: weights are given by path or shipped in the package. Sets the process's C
    allocator to reuse large blocks (`blur2blur.perf.configure_allocator`), as the CLI does."""
    configure_allocator()
    if deblurrer is not None and str(deblurrer).lower().endswith(".onnx"):  # (an exported model)
        if translator or official or tlc or scale != 1 or ensemble != 1:
            raise ValueError("an exported .onnx model holds its translator and settings: give it alone (and tile=)")
        return Deblurrer(OnnxPipeline(deblurrer, tile=tile))
    pipe = DeblurPipeline.from_checkpoints(deblurrer, translator, device, deblurrer_official=official, tlc=tlc,
                                           amp=amp, tile=tile, scale=scale, ensemble=ensemble)
    return Deblurrer(pipe)
