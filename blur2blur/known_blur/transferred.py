"""The known-blur set K by bkse blur transfer: the camera's sharp images S carrying the kernels of
the known domain's pairs (trainC blurry / trainD sharp), read by the kernel extractor F and applied
by the blur operator G (blur2blur.kernel_space.transfer).

- ``build_transferred_known_set``: K written to disk once, each sharp image with the kernels of
  randomly drawn known pairs, reproducible for a seed, with a manifest. G runs once per output
  image, F once per known pair drawn (kernel maps are cached). End to end with cpu-small (4 photos
  of 0.75 MP, 3 known pairs, PNG writing): 2.9 s/MP, 0.5 GB peak RSS (2 CPU cores). For very
  large images use ``max_side``.
- ``OnlineKnownBlur``: a fresh K batch per translator step (the official code's choice), with F and
  G frozen and without gradients.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import Dataset, IterableDataset

from blur2blur.data.layout import paired_files
from blur2blur.data.sampling import SeededBatches
from blur2blur.device import pick_device
from blur2blur.io import list_images, read_image, to_tensor, write_image
from blur2blur.kernel_space.load import load_kernel_wizard
from blur2blur.kernel_space.transfer import apply_kernel, as_batch, extract_kernel, module_device
from blur2blur.nets.kernel_space import KernelWizard, fit_kernel_map
from blur2blur.outputs.files import atomic_write_text
from blur2blur.progress import tqdm


def _downscale(x: torch.Tensor, max_side: int | None) -> torch.Tensor:
    """Antialiased bilinear resize of NCHW ``x`` so that its longer side is at most ``max_side``."""
    h, w = x.shape[-2:]
    if not max_side or max(h, w) <= max_side:
        return x
    scale = max_side / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)


def _centre_crop(x: torch.Tensor, max_side: int | None) -> torch.Tensor:
    """Centre crop of NCHW ``x`` to at most ``max_side`` along each axis (keeps the blur's scale)."""
    h, w = x.shape[-2:]
    if not max_side or max(h, w) <= max_side:
        return x
    ch, cw = min(h, max_side), min(w, max_side)
    top, left = (h - ch) // 2, (w - cw) // 2
    return x[..., top:top + ch, left:left + cw]


def _resolve_wizard(wizard: KernelWizard | str | os.PathLike, device: str | None) -> KernelWizard:
    if isinstance(wizard, nn.Module):
        if device not in (None, "auto"):
            wizard = wizard.to(pick_device(device))
        return wizard
    return load_kernel_wizard(wizard, device=pick_device(device))


def build_transferred_known_set(
    wizard: KernelWizard | str | os.PathLike,
    sharp_dir: str | Path,
    known_blur_dir: str | Path,
    known_sharp_dir: str | Path,
    out_dir: str | Path,
    variants: int = 1,
    seed: int = 0,
    device: str | None = "auto",
    progress: bool = True,
    max_side: int | None = None,
) -> list[Path]:
    """Known-blur set K by blur transfer: every image of ``sharp_dir`` (trainB) gets, per variant,
    the kernel of a known pair (``known_blur_dir`` trainC / ``known_sharp_dir`` trainD, matched by
    stem) drawn with ``numpy.random.default_rng(seed)``.

    ``wizard``: a KernelWizard or a checkpoint path/stem (see ``load_kernel_wizard``). Writes
    ``out_dir/<stem>_t<v>.png`` and ``out_dir/manifest.json`` mapping each output name to its
    target, the known pair's file names (``known_blur``, ``known_sharp``), ``pair_index``,
    ``variant``, ``seed`` and output ``size`` [H, W]. Deterministic for a seed. Images are processed
    at full resolution unless ``max_side`` is set: targets are then downscaled (antialiased) to a
    longer side of at most ``max_side`` (the output is that small) and known pairs centre-cropped
    to at most ``max_side`` per axis (cropping keeps the blur's size in pixels). Returns the paths.
    ``device``: with a module, "auto"/None keeps its device.
    """
    if variants < 1:
        raise ValueError(f"variants must be >= 1, got {variants}")
    if max_side is not None and max_side < 1:
        raise ValueError(f"max_side must be a positive number of pixels or None, got {max_side}")
    targets = list_images(sharp_dir)
    if not targets:
        raise ValueError(f"no sharp images in {sharp_dir} to build the known-blur set from")
    pairs = paired_files(known_blur_dir, known_sharp_dir)
    net = _resolve_wizard(wizard, device)
    dev = module_device(net)

    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(pairs), size=(len(targets), variants))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    kernels: dict[int, torch.Tensor] = {}

    def kernel_of(j: int) -> torch.Tensor:
        if j not in kernels:
            blur_path, sharp_path = pairs[j]
            y = _centre_crop(to_tensor(read_image(blur_path))[None], max_side)
            x = _centre_crop(to_tensor(read_image(sharp_path))[None], max_side)
            if x.shape != y.shape:
                raise ValueError(f"known pair sizes differ: {blur_path} {tuple(y.shape[-2:])} vs "
                                 f"{sharp_path} {tuple(x.shape[-2:])}")
            kernels[j] = extract_kernel(net, x, y).cpu()
        return kernels[j]

    manifest: dict[str, dict[str, Any]] = {}
    written: list[Path] = []
    bar = tqdm(total=len(targets) * variants, desc="known-blur set K (transfer)", disable=not progress,
               dynamic_ncols=True)
    for i, target in enumerate(targets):
        x = _downscale(to_tensor(read_image(target))[None], max_side).to(dev)
        for v in range(variants):
            j = int(draws[i, v])
            y_hat = apply_kernel(net, x, kernel_of(j))
            out = out_dir / f"{target.stem}_t{v}.png"
            write_image(out, y_hat[0])
            blur_path, sharp_path = pairs[j]
            manifest[out.name] = {
                "source": str(target),
                "known_blur": blur_path.name,
                "known_sharp": sharp_path.name,
                "pair_index": j,
                "variant": v,
                "seed": int(seed),
                "size": [int(y_hat.shape[-2]), int(y_hat.shape[-1])],
            }
            written.append(out)
            bar.update(1)
    bar.close()
    atomic_write_text(out_dir / "manifest.json", json.dumps(manifest, indent=1))
    return written


class OnlineKnownBlur:
    """Known-blur batches made on the fly for translator training (the official code's K):
    ``k = online(sharp_batch)`` returns ``G(sharp_batch, F(known_sharp, known_blur))`` for a fresh
    batch of known crops drawn on every call.

    ``known``: a Dataset of {"blur", "sharp"} items (e.g. ``PairedCrops(trainC/trainD pairs, crop)``),
    drawn as seeded, resumable batches (``data.sampling.SeededBatches``: the known batch of call
    ``i`` after ``start(s)`` depends only on (seed, s + i); ``batch_size`` is the global batch,
    split over ``world_size`` processes like the translator's), or any iterable of batches (dicts
    with "blur"/"sharp", or (blur, sharp) tuples; a finite loader is restarted when exhausted).
    Known crops may differ in size from the sharp batch (kernel maps are fitted with ``fit``); a
    known batch smaller than the sharp batch is cycled over it.

    The wizard is frozen on construction (``requires_grad_(False)``, eval mode, kept in eval on each
    call) and is not an attribute of any trainable module; results carry no gradient, are on the
    sharp batch's device and clamped to [0,1].
    """

    def __init__(self, wizard: KernelWizard, known: Dataset | Iterable, batch_size: int = 1,
                 seed: int = 0, fit: str = "pool", num_workers: int = 0, rank: int = 0,
                 world_size: int = 1):
        self.wizard = wizard.requires_grad_(False).eval()
        self.fit = fit
        self._dataset = known if isinstance(known, Dataset) and not isinstance(known, IterableDataset) else None
        self._seeded = dict(global_batch=batch_size, seed=seed, rank=rank, world_size=world_size,
                            num_workers=num_workers)
        self._source: Iterable = known
        self.start(0)

    def start(self, iteration: int) -> None:
        """Position the known-pair stream at translator iteration ``iteration`` (for resuming).
        Iterables given by the caller are simply restarted."""
        if self._dataset is not None:
            self._source = SeededBatches(self._dataset, start=iteration, **self._seeded)
        self._iter = iter(self._source)

    def _next_known(self) -> tuple[torch.Tensor, torch.Tensor]:
        try:
            batch = next(self._iter)
        except StopIteration:
            self._iter = iter(self._source)
            try:
                batch = next(self._iter)
            except StopIteration:
                raise ValueError("the known-pair loader yields no batches") from None
        if isinstance(batch, dict):
            return batch["blur"], batch["sharp"]
        blur, sharp = batch[0], batch[1]
        return blur, sharp

    def __call__(self, sharp_batch: torch.Tensor) -> torch.Tensor:
        """NCHW [0,1] sharp crops -> the same crops with known blur (N x 3 x H x W, no grad)."""
        x = as_batch(sharp_batch, "sharp_batch").detach()
        dev = x.device
        if module_device(self.wizard) != dev:
            self.wizard.to(dev)
        blur, sharp = self._next_known()
        blur, sharp = as_batch(blur, "known blur").to(dev), as_batch(sharp, "known sharp").to(dev)
        self.wizard.eval()
        with torch.no_grad():
            kernel = self.wizard.extract(sharp, blur)
            n = x.shape[0]
            if kernel.shape[0] != n:
                kernel = kernel[torch.arange(n, device=dev) % kernel.shape[0]]
            size = KernelWizard.kernel_map_size(*x.shape[-2:])
            out = self.wizard.adapt(x, fit_kernel_map(kernel, size, mode=self.fit)).clamp_(0.0, 1.0)
        return out
