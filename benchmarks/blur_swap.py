"""Blur swapping: the protocol of Table 2 of Tran et al. (CVPR 2021, "bkse"), in small.

Is blur transferred by the kernel networks as good as real blur for training a deblurrer?

1. Original pairs (x, k*x): crops of sharp photos (``sharp_urban100_x2hr``) blurred with each of
   Levin et al.'s 8 kernels by true convolution in 'valid' mode (see ``kernel_encoding.py``; the
   kernels are oriented to match the recorded benchmark images).
2. Blur-swapped pairs (x, G(x, F(x', k*x'))): the SAME sharp crops, each carrying the blur
   transferred from the pair of ANOTHER photo x' with the same kernel. Both sets thus have the same
   sharp images and the same kernels; only the way the blur was made differs.
3. F/G: trained first (``train_kernels``, preset cpu-small, on separate crops of the same photos)
   or given with ``--wizard``.
4. One small deblurrer each (``train_deblurrer``, preset cpu-small, equal iterations and seed).
5. Test on REAL pairs: the 32 recorded blurry/sharp images of Levin et al. 2009
   (``levin2009_selfdeblur``; grey, 255x255, replicated to 3 channels). Their blurry images are
   shifted by up to 5 px against the sharp ones, so besides the plain full-image numbers the
   table gives the numbers at the best integer shift within +-5 px (PSNR maximised; both images
   cropped by 5 px on every side, Levin's comp_upto_shift idea). A second table tests on held-out
   synthetic pairs (``sharp_sunhays80`` crops, the same kernels) for reference.

PSNR: RGB, uint8-rounded (``blur2blur.metrics.psnr``); SSIM: the ``matlab3d`` convention
(``blur2blur.metrics.ssim``).

    python benchmarks/blur_swap.py                                  # defaults (~10-15 min)
    python benchmarks/blur_swap.py --wizard RUN/kernel_wizard       # reuse trained F/G
    python benchmarks/blur_swap.py --iters 200 --deblur-iters 100 --train-images 10   # smoke
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kernel_encoding import (TEST_SET, TRAIN_SET, add_wizard_args, blurred_crop, data_path,  # noqa: E402
                             get_wizard, kernel_config, levin_kernels, make_pairs, markdown_table,
                             photo_list, side_by_side)

SHIFT = 5


def levin_real_pairs(root) -> list[tuple[str, Path, Path]]:
    """(name, blurry, sharp) for the 32 recorded pairs im{1..4}_kernel{1..8}."""
    base = data_path(root, "levin2009_selfdeblur")
    pairs = []
    for i in range(1, 5):
        for j in range(1, 9):
            blur, sharp = base / "blurry" / f"im{i}_kernel{j}_img.png", base / "gt" / f"im{i}.png"
            if not blur.is_file() or not sharp.is_file():
                sys.exit(f"error: missing {blur if not blur.is_file() else sharp}")
            pairs.append((f"im{i}_kernel{j}", blur, sharp))
    return pairs


def metrics_plain(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    from blur2blur.metrics import psnr, ssim

    return psnr(pred, gt), ssim(pred, gt, convention="matlab3d")


def metrics_aligned(pred: np.ndarray, gt: np.ndarray, r: int = SHIFT) -> tuple[float, float, tuple[int, int]]:
    """PSNR and SSIM (matlab3d) at the integer shift within +-r px that maximises PSNR; both images
    cropped by r px on every side (the ground truth fixed, the prediction shifted)."""
    from blur2blur.metrics import psnr, ssim

    h, w = gt.shape[:2]
    ref = gt[r:h - r, r:w - r]
    best = (-np.inf, (0, 0))
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            value = psnr(pred[r + dy:h - r + dy, r + dx:w - r + dx], ref)
            if value > best[0]:
                best = (value, (dy, dx))
    dy, dx = best[1]
    return best[0], ssim(pred[r + dy:h - r + dy, r + dx:w - r + dx], ref, convention="matlab3d"), best[1]


def make_swapped(wizard, blur_dir: Path, sharp_dir: Path, out_dir: Path) -> Path:
    """``out_dir/<stem>_k<j>.png`` = G(x, F(x', y')) for every pair (x, y) of ``blur_dir`` /
    ``sharp_dir``, (x', y') the pair of the next photo (cyclically) with the same kernel."""
    from blur2blur.io import read_image, write_image
    from blur2blur.kernel_space.transfer import transfer_image

    out_dir.mkdir(parents=True, exist_ok=True)
    stems = sorted(p.stem for p in sharp_dir.glob("*.png"))
    by_kernel: dict[str, list[str]] = {}
    for s in stems:
        by_kernel.setdefault(s.rsplit("_k", 1)[1], []).append(s)
    for group in by_kernel.values():
        for i, stem in enumerate(group):
            src = group[(i + 1) % len(group)]
            x = read_image(sharp_dir / f"{stem}.png")
            y_hat = transfer_image(wizard, x, read_image(sharp_dir / f"{src}.png"), read_image(blur_dir / f"{src}.png"))
            write_image(out_dir / f"{stem}.png", y_hat)
    return out_dir


def synthetic_test(root, kernels, count: int, crop: int, seed: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Held-out synthetic pairs: one crop per photo of TEST_SET, kernel i mod 8, 'valid' blur."""
    from blur2blur.io import read_image

    rng = np.random.default_rng(seed + 2)
    out = []
    for i, path in enumerate(photo_list(root, TEST_SET, count)):
        photo = read_image(path)
        k = kernels[i % len(kernels)]
        h, w = photo.shape[0] - crop - k.shape[0] + 1, photo.shape[1] - crop - k.shape[1] + 1
        if h <= 0 or w <= 0:
            continue
        sharp, blurry = blurred_crop(photo, k, crop, int(rng.integers(0, h)), int(rng.integers(0, w)))
        out.append((f"{path.stem}_k{i % len(kernels) + 1}", blurry, sharp))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_wizard_args(ap, iters_default=3000)
    ap.add_argument("--out", default="/tmp/b2b_blur_swap", help="output folder (default: %(default)s)")
    ap.add_argument("--deblur-preset", default="cpu-small", choices=["cpu-small", "official", "paper"])
    ap.add_argument("--deblur-iters", type=int, default=1500,
                    help="iterations of EACH deblurrer (default: %(default)s)")
    ap.add_argument("--deblur-crop", type=int, default=None, help="deblurrer crop (default: the preset's)")
    ap.add_argument("--pair-size", type=int, default=None,
                    help="side of the deblurrer's training pairs (default: the F/G crop, so that the "
                         "transfer runs at the size F/G were trained on)")
    ap.add_argument("--test-images", type=int, default=8,
                    help=f"held-out synthetic test crops from {TEST_SET} (default: %(default)s)")
    args = ap.parse_args()

    import torch

    from blur2blur.infer.pipeline import DeblurPipeline
    from blur2blur.io import read_image, write_image
    from blur2blur.nets.weights import load_model
    from blur2blur.train.config import DeblurrerConfig
    from blur2blur.train.presets import make_config
    from blur2blur.train.deblurrer import train_deblurrer

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    kernels = levin_kernels(args.data_root)
    real = levin_real_pairs(args.data_root)
    wizard, desc, _ = get_wizard(args, kernels)

    # deblurrer training sets: original pairs, then the same sharp crops with swapped blur
    size = args.pair_size or kernel_config(args).crop
    photos = photo_list(args.data_root, TRAIN_SET, args.train_images)
    blur_dir, sharp_dir = make_pairs(photos, kernels, out / "deblur_pairs", size, seed=args.seed + 7)
    t0 = time.perf_counter()
    with torch.no_grad():
        swap_dir = make_swapped(wizard, blur_dir, sharp_dir, out / "deblur_pairs" / "swapped")
    t_swap = time.perf_counter() - t0
    n_pairs = len(list(sharp_dir.glob("*.png")))
    print(f"{n_pairs} original pairs, blur-swapped copies made in {t_swap:.0f} s", file=sys.stderr)

    overrides = [f"iters={args.deblur_iters}", f"seed={args.seed}"]
    if args.deblur_crop:
        overrides.append(f"crop={args.deblur_crop}")
    dcfg = make_config(DeblurrerConfig, args.deblur_preset, overrides)
    models, train_s = {}, {}
    for name, bdir in (("original", blur_dir), ("blur-swapped", swap_dir)):
        t0 = time.perf_counter()
        stem = train_deblurrer(bdir, sharp_dir, out / f"deblurrer_{name}", dcfg, args.deblur_preset,
                               args.device, progress=True)
        train_s[name] = time.perf_counter() - t0
        models[name] = DeblurPipeline(load_model(stem), device=args.device)

    def run_set(pairs, aligned: bool, folder: str):
        """rows name -> list of metric tuples for blurry input and each deblurrer."""
        results: dict[str, list] = {"blurry input": []}
        results.update({f"deblurrer trained on {n} pairs": [] for n in models})
        for name, blurry, sharp in pairs:
            blurry = read_image(blurry) if isinstance(blurry, Path) else blurry
            sharp = read_image(sharp) if isinstance(sharp, Path) else sharp
            outs = {"blurry input": blurry}
            for n, pipe in models.items():
                outs[f"deblurrer trained on {n} pairs"] = pipe.run(blurry)["deblurred"]
            for label, img in outs.items():
                m = metrics_plain(img, sharp)
                if aligned:
                    m = m + metrics_aligned(img, sharp)[:2]
                results[label].append(m)
            if name in ("im1_kernel4", "im3_kernel2") or (not aligned and name == pairs[0][0]):
                write_image(out / folder / f"{name}.png", side_by_side([blurry, *list(outs.values())[1:], sharp]))
        return results

    t0 = time.perf_counter()
    with torch.no_grad():
        real_res = run_set(real, True, "real_examples")
        synth_res = run_set(synthetic_test(args.data_root, kernels, args.test_images, 256, args.seed),
                            False, "synthetic_examples")
    eval_s = time.perf_counter() - t0

    print(f"\nBlur swapping (bkse Table 2 protocol, small): deblurrers ({args.deblur_preset}, "
          f"{dcfg.iters} iterations each, crop {dcfg.crop}, batch {dcfg.batch}) trained on {n_pairs} "
          f"pairs ({size} px) from {len(photos)} {TRAIN_SET} photos x 8 Levin kernels; F/G {desc}.\n")
    print(f"Test: the 32 REAL recorded pairs of Levin et al. 2009 (255x255 grey as RGB). PSNR dB (RGB, "
          f"uint8); SSIM matlab3d; 'aligned' = best integer shift within +-{SHIFT} px, {SHIFT} px border "
          f"cropped.\n")
    rows = []
    for label, ms in real_res.items():
        rows.append([label] + [f"{statistics.fmean(m[i] for m in ms):.{2 if i % 2 == 0 else 4}f}" for i in range(4)])
    print(markdown_table(["input", "PSNR", "SSIM", "PSNR aligned", "SSIM aligned"], rows))
    n_syn = len(next(iter(synth_res.values())))
    print(f"\nReference: {n_syn} held-out SYNTHETIC pairs ({TEST_SET} 256x256 crops, Levin kernel i mod 8, "
          f"'valid' convolution; aligned by construction).\n")
    rows = [[label, f"{statistics.fmean(m[0] for m in ms):.2f}", f"{statistics.fmean(m[1] for m in ms):.4f}"]
            for label, ms in synth_res.items()]
    print(markdown_table(["input", "PSNR", "SSIM"], rows))
    total = time.perf_counter() - t_start
    print(f"\nwall time: {total:.0f} s (blur swap {t_swap:.0f} s, deblurrers "
          + ", ".join(f"{n} {s:.0f} s" for n, s in train_s.items())
          + f", evaluation {eval_s:.0f} s), {torch.get_num_threads()} threads; example rows "
          f"(blurry | original-trained | swap-trained | sharp) in {out}")


if __name__ == "__main__":
    main()
