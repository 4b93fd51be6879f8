"""The known-blur set K written from images: a camera profile's blur on S, the known domain's own
blurry images, or kernels estimated from the known pairs on S (the sources "simulate", "known"
and "estimated" of blur2blur.known_blur.build).

`build_known_blur_set` makes K with the camera simulator's known profile (`Camera.blur_only`):
each sharp image gets `variants` independent blur draws.

With `match_noise` the camera's grain, which the blur would otherwise smear along the shake, is
replaced by fresh grain: the camera's noise level function is estimated from S
(`simulate.noise_model`), each image is smoothed by a Gaussian of `denoise_sigma` px before the
blur, and fresh noise of the estimated level is added after it. Then B and K share fresh,
camera-like grain and differ only in blur (issue #12, item 3).

`build_known_set_from_domain` makes K from the known domain itself instead: the known paired
set's blurry images (trainC), with the camera's grain added the same way when matched. That K is
exactly what the known deblurrer is trained on (with the same grain: `with_known_grain`), whatever
camera or simulator made the known set; the patch-statistics critic compares contrast-normalised
luma detail, so the other scenes and colours of trainC matter little to it (issue #19, item 4).

`build_known_set_from_pairs` carries the known domain's blur onto the camera's own scenes without
a kernel network: each known pair's kernels and noise are estimated in closed form
(kernel_space/estimate.py) and applied to S (issue #28, item 1).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import kornia
import numpy as np
import torch

from blur2blur.data.layout import pair_by_stem
from blur2blur.io import list_images, read_image, to_numpy, to_tensor, write_image
from blur2blur.kernel_space.estimate import apply_kernel, estimate_pair_kernels
from blur2blur.outputs.files import atomic_write_text, guard_output, output_names
from blur2blur.progress import tqdm
from blur2blur.simulate import Camera, load_profile
from blur2blur.simulate.noise_model import estimate_noise_curve


def build_known_blur_set(
    sharp_dir: str | Path,
    out_dir: str | Path,
    profile: str = "known",
    variants: int = 4,
    seed: int = 0,
    progress: bool = True,
    match_noise: bool = False,
    denoise_sigma: float = 1.0,
) -> list[Path]:
    """Blur every image of `sharp_dir` `variants` times with `profile`'s blur into `out_dir`.

    Files are named `<stem>_k<v>.png`; `out_dir/manifest.json` records the source file, profile
    and seed of each. Deterministic for a seed. Returns the written paths. With `match_noise`
    the estimated noise curve is written to `out_dir/noise_curve.json` (see the module doc).
    """
    files = list_images(sharp_dir)
    if not files:
        raise ValueError(f"no sharp images in {sharp_dir} to build the known-blur set from")
    if variants < 1:
        raise ValueError(f"variants must be >= 1, got {variants}")
    if match_noise and denoise_sigma < 0:
        raise ValueError(f"denoise_sigma must be >= 0 px, got {denoise_sigma}")
    out_dir = Path(out_dir)
    guard_output(out_dir, [sharp_dir], "known-blur set folder")
    output_names(files, template="{stem}")  # (inputs that would share output names: an error now)
    camera = Camera(load_profile(profile))
    out_dir.mkdir(parents=True, exist_ok=True)
    curve = None
    if match_noise:
        curve = _noise_curve(files, sharp_dir)
        curve.to_json(out_dir / "noise_curve.json")

    def make(img: np.ndarray, job_seed: int) -> np.ndarray:
        if curve is None:
            return camera.blur_only(img, seed=job_seed)
        return _add_grain(curve, camera.blur_only(_smooth(img, denoise_sigma), seed=job_seed), job_seed)

    return _write_variants(files, out_dir, variants, seed, make, camera.profile.name, match_noise,
                           "known-blur set K", progress)


def build_known_set_from_domain(
    known_blur_dir: str | Path,
    out_dir: str | Path,
    sharp_dir: str | Path | None = None,
    variants: int = 1,
    seed: int = 0,
    progress: bool = True,
) -> list[Path]:
    """K = the known domain's own blurry images (`known_blur_dir`, e.g. trainC), written to
    `out_dir` as `<stem>_k<v>.png`, `variants` per image. With `sharp_dir` (the camera's sharp
    images S) each copy gets fresh noise of the camera's level estimated from S, and the curve is
    written to `out_dir/noise_curve.json` (so the known deblurrer learns the same grain); without
    it the images are copied as they are (one variant). Deterministic for a seed; manifest.json
    as `build_known_blur_set`."""
    files = list_images(known_blur_dir)
    if not files:
        raise ValueError(f"no known-domain blurry images in {known_blur_dir} to take the known-blur set from")
    if variants < 1:
        raise ValueError(f"variants must be >= 1, got {variants}")
    out_dir = Path(out_dir)
    sources = [known_blur_dir] + ([sharp_dir] if sharp_dir is not None else [])
    guard_output(out_dir, sources, "known-blur set folder")
    output_names(files, template="{stem}")
    out_dir.mkdir(parents=True, exist_ok=True)
    curve = None
    if sharp_dir is not None:
        sharp = list_images(sharp_dir)
        if not sharp:
            raise ValueError(f"no sharp images in {sharp_dir} to estimate the camera's noise from")
        curve = _noise_curve(sharp, sharp_dir)
        curve.to_json(out_dir / "noise_curve.json")
    else:
        variants = 1

    def make(img: np.ndarray, job_seed: int) -> np.ndarray:
        return img if curve is None else _add_grain(curve, img, job_seed)

    return _write_variants(files, out_dir, variants, seed, make, "known domain", curve is not None,
                           "known-blur set K (known domain)", progress)


def build_known_set_from_pairs(
    known_blur_dir: str | Path,
    known_sharp_dir: str | Path,
    sharp_dir: str | Path,
    out_dir: str | Path,
    variants: int = 4,
    seed: int = 0,
    tile: int = 256,
    support: int = 41,
    progress: bool = True,
) -> list[Path]:
    """K = the camera's sharp images S (`sharp_dir`) blurred by the known domain's own kernels:
    one kernel and noise level per tile of every known pair (trainC/trainD, matched by stem),
    estimated in closed form (kernel_space/estimate.py); each image of S gets `variants` of them
    (seeded draws), applied in linear light, then fresh grain of the known images' own noise
    level (estimated from trainC, `noise_curve.json`). The kernels are saved in
    `out_dir/kernels.npz` (with their residual and fit), the rest as `build_known_blur_set`."""
    files = list_images(sharp_dir)
    if not files:
        raise ValueError(f"no sharp images in {sharp_dir} to build the known-blur set from")
    if variants < 1:
        raise ValueError(f"variants must be >= 1, got {variants}")
    pairs, only_blur, only_sharp = pair_by_stem(known_blur_dir, known_sharp_dir)
    if not pairs:
        raise ValueError(f"no known pairs in {known_blur_dir} / {known_sharp_dir} to estimate the known blur from")
    out_dir = Path(out_dir)
    guard_output(out_dir, [sharp_dir, known_blur_dir, known_sharp_dir], "known-blur set folder")
    output_names(files, template="{stem}")
    kernels = []
    for blur_f, sharp_f in tqdm(pairs, desc="estimate the known kernels", disable=not progress, dynamic_ncols=True):
        b, s = read_image(blur_f), read_image(sharp_f)
        if b.shape != s.shape:
            raise ValueError(f"the known pair {blur_f.name} / {sharp_f.name} differs in size: "
                             f"{b.shape[1]}x{b.shape[0]} and {s.shape[1]}x{s.shape[0]}")
        kernels += estimate_pair_kernels(s, b, tile=tile, support=min(support, 2 * (min(b.shape[:2]) // 4) - 1))
    curve = _noise_curve([b for b, _ in pairs], known_blur_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    curve.to_json(out_dir / "noise_curve.json")
    np.savez_compressed(out_dir / "kernels.npz", kernels=np.stack([_padded(k.kernel, support) for k in kernels]),
                        residual=np.array([k.noise for k in kernels]), fit_psnr=np.array([k.fit_psnr for k in kernels]))

    def make(img: np.ndarray, job_seed: int) -> np.ndarray:
        k = kernels[int(np.random.default_rng(job_seed).integers(len(kernels)))]
        return _add_grain(curve, apply_kernel(img, k.kernel), job_seed)

    return _write_variants(files, out_dir, variants, seed, make, "estimated from known pairs", False,
                           "known-blur set K (estimated kernels)", progress)


def _padded(k: np.ndarray, size: int) -> np.ndarray:
    """`k` zero-padded (centred) to size x size (for stacking kernels of several supports)."""
    p = (size - k.shape[0]) // 2
    return np.pad(k, p) if p > 0 else k


def _add_grain(curve, img: np.ndarray, seed: int) -> np.ndarray:
    """`img` (HxWx3 in [0,1]) with fresh noise of the estimated camera level `curve`."""
    return to_numpy(curve.add(to_tensor(img)[None], torch.Generator().manual_seed(seed))[0])


def _write_variants(files, out_dir: Path, variants: int, seed: int, make, profile: str, match_noise: bool,
                    desc: str, progress: bool) -> list[Path]:
    """Write `make(image, job_seed)` of every file `variants` times as `<stem>_k<v>.png`, then
    manifest.json (source, profile, seed of each); the seeds depend only on `seed` and positions."""
    manifest, written = {}, []
    jobs = [(i, f, v) for i, f in enumerate(files) for v in range(variants)]
    for i, src, v in tqdm(jobs, desc=desc, disable=not progress, dynamic_ncols=True):
        job_seed = seed * 1_000_003 + i * 101 + v
        out = out_dir / f"{src.stem}_k{v}.png"
        write_image(out, make(read_image(src), job_seed))
        manifest[out.name] = {"source": str(src), "profile": profile, "seed": job_seed, "match_noise": match_noise}
        written.append(out)
    atomic_write_text(out_dir / "manifest.json", json.dumps(manifest, indent=1))
    return written


def with_known_grain(deblurrer_cfg, known_set: str | Path):
    """The known deblurrer's config, trained with K's grain when K was made with `match_noise`
    (its `noise_curve.json` exists), else unchanged."""
    curve = Path(known_set) / "noise_curve.json"
    return dataclasses.replace(deblurrer_cfg, noise_curve=str(curve)) if curve.is_file() else deblurrer_cfg


def _noise_curve(files: list[Path], folder):
    """The camera's noise curve from its sharp images; a clear error naming `folder` and the fix
    when they are too small or too few to estimate it."""
    try:
        return estimate_noise_curve(read_image(f) for f in files)
    except ValueError as exc:
        raise ValueError(f"cannot estimate the camera's noise from the sharp images in {folder} ({exc}): give "
                         "more or larger sharp images (the demo and bench: a larger --tile or more photos), "
                         "or use k_noise=none") from None


def _smooth(img: np.ndarray, sigma: float) -> np.ndarray:
    """HxWx3 image smoothed by a Gaussian of std `sigma` px (reflected border); 0 = unchanged."""
    if sigma <= 0:
        return img
    size = 2 * int(3 * sigma + 0.5) + 1
    out = kornia.filters.gaussian_blur2d(to_tensor(img)[None], (size, size), (sigma, sigma),
                                         border_type="reflect")
    return to_numpy(out[0])
