"""Inference: deblur(T(y)) on whole images of any size, and on folders.

The translator T maps the camera's blur to the known blur; the deblurrer of the known domain then
removes it. Without a translator the pipeline is the "apply the known deblurrer directly" baseline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from blur2blur.device import pick_device
from blur2blur.io import list_images, read_image, to_numpy, to_tensor, write_image
from blur2blur.nets.official import load_network
from blur2blur.nets.padding import pad_to_multiple


class DeblurPipeline:
    """`translator` (optional, a MIMO-style net returning a list of scales) then `deblurrer`.

    `run(img)` takes an HxWx3 float [0,1] array and returns a dict with "deblurred" and, when a
    translator is set, "translated" (both HxWx3 float [0,1], same size as the input).
    """

    def __init__(self, deblurrer: torch.nn.Module | None, translator: torch.nn.Module | None = None,
                 device: str | None = "auto", pad_multiple: int = 16):
        if deblurrer is None and translator is None:
            raise ValueError("a pipeline needs a deblurrer, a translator, or both")
        self.device = pick_device(device)
        self.deblurrer = deblurrer.to(self.device).eval() if deblurrer is not None else None
        self.translator = translator.to(self.device).eval() if translator is not None else None
        self.pad_multiple = pad_multiple

    @classmethod
    def from_checkpoints(cls, deblurrer: str | Path | None, translator: str | Path | None = None,
                         device: str | None = "auto", deblurrer_official: str | None = None,
                         tlc: bool = False) -> "DeblurPipeline":
        """Build from our checkpoints (path stems of `.safetensors` + `.json` files), or an
        official deblurrer file named by `deblurrer_official` (see nets/official.py)."""
        deb = load_network(deblurrer, deblurrer_official, tlc=tlc) if deblurrer else None
        tra = load_network(translator) if translator else None
        return cls(deb, tra, device=device)

    @torch.no_grad()
    def run_tensor(self, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """NCHW [0,1] in; dict of NCHW [0,1] outputs of the input's size."""
        h, w = y.shape[-2:]
        x = pad_to_multiple(y.to(self.device), self.pad_multiple)
        out: dict[str, torch.Tensor] = {}
        if self.translator is not None:
            scales = self.translator(x)
            x = scales[-1] if isinstance(scales, (list, tuple)) else scales
            x = x.clamp(0, 1)
            out["translated"] = x[..., :h, :w]
        if self.deblurrer is not None:
            out["deblurred"] = self.deblurrer(x).clamp(0, 1)[..., :h, :w]
        return out

    def run(self, img: np.ndarray) -> dict[str, np.ndarray]:
        outs = self.run_tensor(to_tensor(img).unsqueeze(0))
        return {k: to_numpy(v[0].float().cpu()) for k, v in outs.items()}

    def run_folder(self, src: str | Path, out_dir: str | Path, save_translated: bool = False,
                   progress: bool = True) -> list[Path]:
        """Process one image file or every image of a folder; write PNGs named by input stem."""
        src, out_dir = Path(src), Path(out_dir)
        files = [src] if src.is_file() else list_images(src)
        if not files:
            raise ValueError(f"no images found at {src}")
        written = []
        for f in tqdm(files, desc="deblur", disable=not progress, dynamic_ncols=True):
            outs = self.run(read_image(f))
            key = "deblurred" if "deblurred" in outs else "translated"
            path = out_dir / f"{f.stem}.png"
            write_image(path, outs[key])
            written.append(path)
            if save_translated and "translated" in outs and key != "translated":
                write_image(out_dir / "translated" / f"{f.stem}.png", outs["translated"])
        return written
