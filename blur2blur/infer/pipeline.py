"""Inference: deblur(T(y)) on whole images of any size, and on folders.

The translator T maps the camera's blur to the known blur; the deblurrer of the known domain then
removes it. Without a translator the pipeline is the "apply the known deblurrer directly" baseline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from blur2blur.device import pick_device
from blur2blur.infer.tiling import run_tiled
from blur2blur.io import list_images, no_images_message, read_image, to_numpy, to_tensor, write_image
from blur2blur.nets.official import load_network
from blur2blur.nets.padding import pad_to_multiple
from blur2blur.outputs.files import guard_output, output_names
from blur2blur.outputs.run_folder import RunLock
from blur2blur.perf import autocast, channels_last_ok, resolve_amp, to_channels_last
from blur2blur.progress import tqdm


# Above this many pixels an image is processed in tiles when `tile` is "auto": memory grows with
# the pixel count (docs/performance.md gives measured peaks), so a 12 MP photo is never run whole.
AUTO_TILE_PIXELS = 1536 * 1024
AUTO_TILE, AUTO_OVERLAP = 1024, 64
# Self-ensemble views: (transpose first?, flipped dims); each output is mapped back and averaged.
_FLIPS = [(), (-1,), (-2,), (-2, -1)]
ENSEMBLE_VIEWS = {1: [(False, ())], 2: [(False, ()), (False, (-1,))], 4: [(False, d) for d in _FLIPS],
                  8: [(t, d) for t in (False, True) for d in _FLIPS]}


class DeblurPipeline:
    """`translator` (optional, a MIMO-style net returning a list of scales) then `deblurrer`.

    `run(img)` takes an HxWx3 float [0,1] array and returns a dict with "deblurred" and, when a
    translator is set, "translated" (both HxWx3 float [0,1], same size as the input).
    `amp`: "auto" (bfloat16 where the device runs it natively, else float32), "bf16" or "none"
    (blur2blur/perf.py); `channels_last`: run the networks in channels-last memory format.
    `tile`: None or 0 = whole images; "auto" = tiles of 1024 px with a 64 px feathered overlap for
    images above 1.5 MP; an integer = that tile side (a multiple of 16) for every larger image;
    `tile_overlap` in pixels (infer/tiling.py).
    `scale`: work at this fraction of the input's size (0 < scale <= 1), for photos whose blur is
    longer than the deblurrer's range (the shipped one: 36 px, docs/known_camera.md): the image
    is shrunk (area-averaged, so the blur shrinks with it), processed, and what the networks
    changed is enlarged back and added to the full-size input (y + up(f(down y) - down y)), which
    keeps the input's own fine detail.
    `ensemble`: 1, 2, 4 or 8 views of the deblurrer (self-ensemble): its input as is, mirrored
    left-right, upside down, both (4), and the same four transposed (8); each output is mapped back
    and the views are averaged. Costs that many deblurrer passes per image for a higher PSNR
    (docs/model_card.md gives the measured gain: 4 views give nearly all of it).
    """

    def __init__(self, deblurrer: torch.nn.Module | None, translator: torch.nn.Module | None = None,
                 device: str | None = "auto", pad_multiple: int = 16, amp: str = "auto",
                 channels_last: bool = True, tile: int | str | None = "auto", tile_overlap: int = AUTO_OVERLAP,
                 scale: float = 1.0, ensemble: int = 1):
        if deblurrer is None and translator is None:
            raise ValueError("a pipeline needs a deblurrer, a translator, or both")
        if isinstance(ensemble, bool) or ensemble not in ENSEMBLE_VIEWS:
            raise ValueError(f"ensemble must be 1 (off), 2, 4 or 8 views of the deblurrer, got {ensemble!r}")
        self.ensemble = int(ensemble)
        if not (isinstance(scale, (int, float)) and 0.05 <= scale <= 1):
            raise ValueError(f"scale must be a number in [0.05, 1] (the fraction of the size to work at), got {scale!r}")
        self.scale = float(scale)
        if not (tile in (None, "auto") or (isinstance(tile, int) and tile >= 0)):
            raise ValueError(f"tile must be 'auto', 0 (no tiling) or a tile side in pixels, got {tile!r}")
        if isinstance(tile, int) and not isinstance(tile, bool) and 0 < tile <= 2 * tile_overlap:
            raise ValueError(f"a tile of {tile} px is too small for tiles that overlap by {tile_overlap} px: give a "
                             f"tile above {2 * tile_overlap} px (or a smaller overlap)")
        self.device = pick_device(device)
        self.bf16 = resolve_amp(amp, self.device)
        self.channels_last = channels_last and channels_last_ok(self.device)
        self.deblurrer = self._prepare(deblurrer)
        self.translator = self._prepare(translator)
        self.pad_multiple = pad_multiple
        self.tile, self.tile_overlap = tile, tile_overlap

    def _prepare(self, net: torch.nn.Module | None) -> torch.nn.Module | None:
        """Frozen, in eval mode, on the device, in the pipeline's memory format."""
        if net is None:
            return None
        net = net.to(self.device).eval().requires_grad_(False)
        return to_channels_last(net, self.channels_last)

    @classmethod
    def from_checkpoints(cls, deblurrer: str | Path | None, translator: str | Path | None = None,
                         device: str | None = "auto", deblurrer_official: str | None = None,
                         tlc: bool = False, **options) -> "DeblurPipeline":
        """Build from our checkpoints (path stems of `.safetensors` + `.json` files), or an
        official deblurrer file named by `deblurrer_official` (see nets/official.py). `options`:
        amp, channels_last, tile, tile_overlap, scale, ensemble (see the class)."""
        deb = load_network(deblurrer, deblurrer_official, tlc=tlc, role="deblurrer") if deblurrer else None
        tra = load_network(translator, role="translator") if translator else None
        return cls(deb, tra, device=device, **options)

    def _tile_side(self, h: int, w: int) -> int:
        """The tile side for an h x w image, or 0 for the whole image at once."""
        if self.tile == "auto":
            return AUTO_TILE if h * w > AUTO_TILE_PIXELS else 0
        tile = self.tile or 0
        return tile if tile and (h > tile or w > tile) else 0

    @torch.inference_mode()
    def run_tensor(self, y: torch.Tensor, progress: bool = False) -> dict[str, torch.Tensor]:
        """NCHW [0,1] in; dict of NCHW float32 [0,1] outputs of the input's size."""
        y = y.to(self.device, torch.float32)
        h, w = y.shape[-2:]
        size = (max(16, round(h * self.scale)), max(16, round(w * self.scale)))
        if self.scale < 1 and size[0] < h and size[1] < w:
            small = F.interpolate(y, size=size, mode="area")
            outs = self._run_full(small, progress)
            return {k: (y + F.interpolate(v - small, size=(h, w), mode="bicubic", align_corners=False)).clamp(0, 1)
                    for k, v in outs.items()}
        return self._run_full(y, progress)

    def _run_full(self, y: torch.Tensor, progress: bool) -> dict[str, torch.Tensor]:
        """`run_tensor` at the given size (whole, or in tiles)."""
        tile = self._tile_side(*y.shape[-2:])
        if not tile:
            return self._forward(y)
        keys = self.output_keys()

        def forward(t: torch.Tensor) -> torch.Tensor:
            outs = self._forward(t)
            return torch.cat([outs[k] for k in keys], dim=1)

        both = run_tiled(forward, y, tile, self.tile_overlap, multiple=self.pad_multiple, progress=progress)
        return {k: both[:, 3 * i:3 * i + 3] for i, k in enumerate(keys)}

    def output_keys(self) -> list[str]:
        """The outputs `run_tensor` returns, in order: "translated" (with a translator), "deblurred"."""
        return (["translated"] if self.translator is not None else []) + (
            ["deblurred"] if self.deblurrer is not None else [])

    def _forward(self, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """Both networks on one whole NCHW batch (padded to `pad_multiple` and cropped back)."""
        h, w = y.shape[-2:]
        x = to_channels_last(pad_to_multiple(y, self.pad_multiple), self.channels_last)
        out: dict[str, torch.Tensor] = {}
        if self.translator is not None:
            with autocast(self.bf16, self.device):
                scales = self.translator(x)
            x = scales[-1] if isinstance(scales, (list, tuple)) else scales
            x = x.float().clamp(0, 1)
            out["translated"] = x[..., :h, :w].contiguous()
        if self.deblurrer is not None:
            out["deblurred"] = self._deblur(x)[..., :h, :w].contiguous()
        return out

    def _deblur(self, x: torch.Tensor) -> torch.Tensor:
        """The deblurrer on a padded NCHW batch, averaged over the `ensemble` views; float32 [0,1]."""
        total = None
        for transpose, dims in ENSEMBLE_VIEWS[self.ensemble]:
            view = x
            if transpose or dims:  # (a new tensor: put it back in the networks' memory format)
                view = to_channels_last((x.transpose(-1, -2) if transpose else x).flip(dims), self.channels_last)
            with autocast(self.bf16, self.device):
                d = self.deblurrer(view).float().clamp(0, 1).flip(dims)
            d = d.transpose(-1, -2) if transpose else d
            total = d if total is None else total + d
        return total / len(ENSEMBLE_VIEWS[self.ensemble])

    def run(self, img: np.ndarray, progress: bool = False) -> dict[str, np.ndarray]:
        """HxWx3 float [0,1] in; dict of HxWx3 float32 [0,1] arrays (see the class)."""
        outs = self.run_tensor(to_tensor(img).unsqueeze(0), progress=progress)
        return {k: to_numpy(v[0].float().cpu()) for k, v in outs.items()}

    def run_folder(self, src: str | Path, out_dir: str | Path, save_translated: bool = False,
                   progress: bool = True) -> list[Path]:
        """Process one image file or every image of a folder; write PNGs named by input stem."""
        src, out_dir = Path(src), Path(out_dir)
        files = [src] if src.is_file() else list_images(src)
        if not files:
            raise ValueError(no_images_message(src))
        guard_output(out_dir, [src, *files], "output folder")
        names = output_names(files)
        written = []
        with RunLock(out_dir, doing="writing into"):  # (two commands writing one folder: refused)
            for f in tqdm(files, desc="deblur", disable=not progress, dynamic_ncols=True):
                try:
                    written.append(self._one(f, out_dir, names[f], save_translated, progress and len(files) == 1))
                except ValueError as exc:  # (which photo, when a folder stops on one)
                    if f.name in str(exc):
                        raise
                    raise ValueError(f"{f}: {exc}") from None
        return written

    def _one(self, f: Path, out_dir: Path, name: str, save_translated: bool, progress: bool) -> Path:
        """Deblur one file into out_dir/name (and T(y) into out_dir/translated/name)."""
        outs = self.run(read_image(f), progress=progress)  # (tiles)
        key = "deblurred" if "deblurred" in outs else "translated"
        path = out_dir / name
        write_image(path, outs[key])
        if save_translated and "translated" in outs and key != "translated":
            write_image(out_dir / "translated" / name, outs["translated"])
        return path
