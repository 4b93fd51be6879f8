"""Kernel encoding: the protocol of Table 1 of Tran et al. (CVPR 2021, "bkse"), in small.

1. Training pairs: crops of sharp photos (default: Urban100, ``sharp_urban100_x2hr``), each blurred
   with each of Levin et al.'s 8 real camera-shake kernels (``kernels/Levin09.mat``) by a plain
   2-D convolution per channel in 'valid' mode: the blurry crop is computed from a sharp region
   larger by the kernel size, so there is no border effect; no noise; saved as 8-bit PNG.
2. F and G are trained on them with the library (``train_kernels``; preset ``cpu-small`` by
   default), unless ``--wizard`` gives a trained kernel network.
3. Test on HELD-OUT photos of another collection (default: ``sharp_sunhays80``): for each kernel k
   and each test pair (x, x_hat) of two different photos, PSNR (RGB, uint8, full crop) of
   ``G(x_hat, F(x, k*x))`` against ``k*x_hat``.

Kernel orientation: Levin09.mat as read by ``load_kernels`` is rotated by 180 degrees before the
convolution, which makes the synthetic blur match the recorded images of Levin's benchmark
(``levin2009_selfdeblur``); see ``levin_kernels``. The other benchmarks use the same helpers.

Besides the transfer, the table gives two references per kernel: "no transfer" (PSNR of the sharp
x_hat itself against k*x_hat, what an encoder that learned nothing would score) and
"self" ``G(x_hat, F(x_hat, k*x_hat))`` (the kernel taken from the target's own pair: the
reconstruction the networks were trained for). The paper reports 49.5-53.7 dB for the transfer with
the full-size networks after 600K iterations on 256 px crops.

    python benchmarks/kernel_encoding.py                         # cpu-small, defaults (~10 min)
    python benchmarks/kernel_encoding.py --iters 300 --train-images 20 --test-images 4   # smoke
    python benchmarks/kernel_encoding.py --wizard RUN/kernel_wizard   # evaluate a trained F/G
    python benchmarks/kernel_encoding.py --time-official 16           # s/iteration, official net

This file also holds the helpers of ``blur_swap.py`` and ``transfer_real.py`` (data paths, the
oriented Levin kernels, 'valid' blurring, pair generation, training or loading F/G).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

DEFAULT_DATA_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data"
TRAIN_SET = "sharp_urban100_x2hr"
TEST_SET = "sharp_sunhays80"


# ----------------------------------------------------------------------------- data helpers


def data_path(root: str | Path, *parts: str) -> Path:
    """``root/parts...``; exits with a message naming the path (and ``--data-root``) if missing."""
    path = Path(root).joinpath(*parts)
    if not path.exists():
        sys.exit(f"error: data not found: {path}\n"
                 f"Give the folder of the shared data sets with --data-root (default "
                 f"{DEFAULT_DATA_ROOT}); it must hold {'/'.join(parts)}.")
    return path


def photo_list(root: str | Path, collection: str, count: int | None, skip: int = 0) -> list[Path]:
    """The first ``count`` images (sorted by name, after ``skip``) of a photo collection."""
    from blur2blur.io import list_images

    files = list_images(data_path(root, collection))
    if not files:
        sys.exit(f"error: no images in {Path(root) / collection}")
    files = files[skip:]
    return files if count is None else files[:count]


def levin_kernels(root: str | Path) -> list[np.ndarray]:
    """Levin et al.'s 8 kernels (sizes 19, 17, 15, 27, 13, 21, 23, 23), float32 summing to 1,
    rotated by 180 degrees from the stored Levin09.mat arrays so that ``convolve_valid`` /
    ``convolve_reflect`` (true convolution) reproduce the blur of the recorded benchmark images
    (checked: 36-47 dB after a shift of at most 5 px, against 25-39 dB for the unrotated kernels)."""
    from blur2blur.simulate.kernels import load_kernels

    return [np.ascontiguousarray(k[::-1, ::-1]) for k in load_kernels(data_path(root, "kernels", "Levin09.mat"))]


def convolve_valid(img: np.ndarray, k: np.ndarray) -> np.ndarray:
    """True 2-D convolution of each channel of HxWxC ``img`` with ``k`` (kh x kw), 'valid' mode:
    output (H-kh+1) x (W-kw+1) x C, every output pixel computed from real image pixels only."""
    from scipy.signal import fftconvolve

    out = fftconvolve(img.astype(np.float64), k.astype(np.float64)[:, :, None], mode="valid", axes=(0, 1))
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def convolve_reflect(img: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Same-size true convolution with mirror ('symmetric') padding by half the kernel; for whole
    images where no larger region exists (odd kernels; centre = middle pixel)."""
    kh, kw = k.shape
    pad = ((kh // 2, kh - 1 - kh // 2), (kw // 2, kw - 1 - kw // 2), (0, 0))
    return convolve_valid(np.pad(img, pad, mode="symmetric"), k)


def blurred_crop(photo: np.ndarray, k: np.ndarray, size: int, top: int, left: int) -> tuple[np.ndarray, np.ndarray]:
    """(sharp, blurry) ``size`` x ``size`` crops at (top, left) of ``photo``; the blurry crop is the
    'valid' convolution of the region larger by the kernel, so sharp and blurry are aligned
    (kernel centre = its middle pixel). Needs ``top + size + kh - 1 <= H`` (and likewise W)."""
    kh, kw = k.shape
    region = photo[top:top + size + kh - 1, left:left + size + kw - 1]
    if region.shape[0] != size + kh - 1 or region.shape[1] != size + kw - 1:
        raise ValueError(f"photo {photo.shape[:2]} too small for a {size} px crop at ({top}, {left}) "
                         f"with a {kh}x{kw} kernel")
    sharp = region[kh // 2:kh // 2 + size, kw // 2:kw // 2 + size]
    return np.ascontiguousarray(sharp), convolve_valid(region, k)


def grey_to_rgb(img: np.ndarray) -> np.ndarray:
    """HxW or HxWxC grey -> HxWx3 (``read_image`` already replicates grey files)."""
    img = np.asarray(img, np.float32)
    if img.ndim == 2:
        img = img[:, :, None]
    return np.repeat(img[:, :, :1], 3, axis=2) if img.shape[2] != 3 else img


def make_pairs(photos: list[Path], kernels: list[np.ndarray], out_dir: Path, size: int,
               seed: int = 0) -> tuple[Path, Path]:
    """Every photo blurred with every kernel at one random position: ``out_dir/blur`` and
    ``out_dir/sharp``, files ``<photo stem>_k<j>.png`` (8-bit). Reused if already made with the
    same arguments (``out_dir/pairs.json``). Photos too small for a crop are skipped."""
    from blur2blur.io import read_image, write_image

    spec = {"photos": [str(p) for p in photos], "kernels": [list(k.shape) for k in kernels],
            "size": size, "seed": seed, "mode": "valid, true convolution, kernels rot180 of Levin09.mat"}
    blur_dir, sharp_dir = out_dir / "blur", out_dir / "sharp"
    marker = out_dir / "pairs.json"
    if marker.is_file() and json.loads(marker.read_text()) == spec:
        return blur_dir, sharp_dir
    rng = np.random.default_rng(seed)
    blur_dir.mkdir(parents=True, exist_ok=True)
    sharp_dir.mkdir(parents=True, exist_ok=True)
    made = 0
    for path in photos:
        photo = read_image(path)
        for j, k in enumerate(kernels):
            h, w = photo.shape[0] - size - k.shape[0] + 1, photo.shape[1] - size - k.shape[1] + 1
            if h <= 0 or w <= 0:
                continue
            top, left = int(rng.integers(0, h)), int(rng.integers(0, w))
            sharp, blurry = blurred_crop(photo, k, size, top, left)
            write_image(sharp_dir / f"{path.stem}_k{j}.png", sharp)
            write_image(blur_dir / f"{path.stem}_k{j}.png", blurry)
            made += 1
    if made == 0:
        sys.exit(f"error: no photo is large enough for {size} px training pairs")
    marker.write_text(json.dumps(spec, indent=1))
    return blur_dir, sharp_dir


# ----------------------------------------------------------------------------- F/G


def add_wizard_args(ap: argparse.ArgumentParser, iters_default: int | None) -> None:
    """Options shared by the benchmarks that train (or load) the kernel networks F/G."""
    ap.add_argument("--data-root", default=str(DEFAULT_DATA_ROOT),
                    help="folder of the shared data sets (default: %(default)s)")
    ap.add_argument("--wizard", help="trained kernel networks (checkpoint stem or official .pth); "
                    "skips training F/G")
    ap.add_argument("--preset", default="cpu-small", choices=["cpu-small", "official", "paper"],
                    help="KernelConfig preset for training F/G (default: %(default)s)")
    ap.add_argument("--iters", type=int, default=iters_default,
                    help="F/G training iterations (default: %(default)s; the paper: 600000)")
    ap.add_argument("--crop", type=int, default=None,
                    help="F/G training crop (default: the preset's; cpu-small 128, paper 256)")
    ap.add_argument("--batch", type=int, default=None, help="F/G batch (default: the preset's)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="any other KernelConfig field, e.g. --set lr=1e-4 (repeatable)")
    ap.add_argument("--train-images", type=int, default=100,
                    help=f"photos of {TRAIN_SET} blurred with the 8 kernels for training F/G "
                         "(default: %(default)s)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)


def kernel_config(args):
    from blur2blur.train.config import KernelConfig
    from blur2blur.train.presets import make_config

    overrides = list(args.overrides)
    for name in ("iters", "crop", "batch"):
        value = getattr(args, name, None)
        if value is not None:
            overrides.append(f"{name}={value}")
    overrides.append(f"seed={args.seed}")
    return make_config(KernelConfig, args.preset, overrides)


def train_pairs(args, kernels: list[np.ndarray], crop: int) -> tuple[Path, Path]:
    """The F/G training pairs in ``args.out/pairs``: photos of TRAIN_SET, 'valid' blurred, files a
    quarter larger than the training crop (so that random crops move)."""
    photos = photo_list(args.data_root, TRAIN_SET, args.train_images)
    size = int(math.ceil(crop * 1.25))
    return make_pairs(photos, kernels, Path(args.out) / "pairs", size, seed=args.seed)


def get_wizard(args, kernels: list[np.ndarray]):
    """(KernelWizard in eval mode, description, seconds spent training or None)."""
    from blur2blur.kernel_space.load import load_kernel_wizard
    from blur2blur.train.kernels import train_kernels

    if args.wizard:
        return load_kernel_wizard(args.wizard, device=args.device), f"loaded {args.wizard}", None
    cfg = kernel_config(args)
    t0 = time.perf_counter()
    blur_dir, sharp_dir = train_pairs(args, kernels, cfg.crop)
    t_pairs = time.perf_counter() - t0
    run = Path(args.out) / "kernels_run"
    print(f"training F/G ({args.preset}, {cfg.iters} iterations, crop {cfg.crop}, batch {cfg.batch}) "
          f"on {len(list(blur_dir.iterdir()))} pairs -> {run}", file=sys.stderr)
    t0 = time.perf_counter()
    stem = train_kernels(blur_dir, sharp_dir, run, cfg, args.preset, args.device, progress=True)
    seconds = time.perf_counter() - t0
    desc = (f"trained here: preset {args.preset}, {cfg.iters} it, crop {cfg.crop}, batch {cfg.batch}, "
            f"{sum(p.numel() for p in load_kernel_wizard(stem).parameters()):,} parameters")
    print(f"pairs made in {t_pairs:.0f} s, F/G trained in {seconds:.0f} s", file=sys.stderr)
    return load_kernel_wizard(stem, device=args.device), desc, seconds


def transfer(wizard, x_target: np.ndarray, x_src: np.ndarray, y_src: np.ndarray) -> np.ndarray:
    """``G(x_target, F(x_src, y_src))`` on HxWx3 arrays (clamped to [0, 1])."""
    from blur2blur.kernel_space.transfer import transfer_image

    return transfer_image(wizard, x_target, x_src, y_src)


def side_by_side(panels: list[np.ndarray], gap: int = 4) -> np.ndarray:
    """HxWx3 panels left to right on a white background, top-aligned."""
    h = max(p.shape[0] for p in panels)
    w = sum(p.shape[1] for p in panels) + gap * (len(panels) - 1)
    canvas = np.ones((h, w, 3), np.float32)
    x = 0
    for p in panels:
        canvas[:p.shape[0], x:x + p.shape[1]] = grey_to_rgb(p)
        x += p.shape[1] + gap
    return canvas


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- this benchmark


def evaluate(wizard, kernels: list[np.ndarray], photos: list[Path], crop: int, out: Path,
             seed: int) -> list[list]:
    """Per-kernel mean PSNRs over the held-out pairs (x_i, x_{i+1}); writes one example per kernel."""
    import torch

    from blur2blur.io import read_image, to_tensor, write_image
    from blur2blur.kernel_space.transfer import apply_kernel
    from blur2blur.metrics import psnr

    rng = np.random.default_rng(seed + 1)
    zero = torch.zeros(1, wizard.kernel_dim, 1, 1)
    kmax = max(k.shape[0] for k in kernels)
    images = []
    for path in photos:
        photo = read_image(path)
        h, w = photo.shape[0] - crop - kmax + 1, photo.shape[1] - crop - kmax + 1
        if h <= 0 or w <= 0:
            continue
        images.append((photo, int(rng.integers(0, h)), int(rng.integers(0, w))))
    if len(images) < 2:
        sys.exit(f"error: need at least 2 held-out photos larger than {crop + kmax} px")
    rows = []
    for j, k in enumerate(kernels):
        # the same crop positions for every kernel; the kernel's margin is taken inside kmax
        m = (kmax - k.shape[0]) // 2
        pairs = [blurred_crop(photo, k, crop, top + m, left + m) for photo, top, left in images]
        none, blank_, self_, trans, effect = [], [], [], [], []
        for i in range(len(pairs)):
            x, y = pairs[i]
            x_hat, y_hat = pairs[(i + 1) % len(pairs)]
            pred = transfer(wizard, x_hat, x, y)
            none.append(psnr(x_hat, y_hat))
            self_.append(psnr(transfer(wizard, x_hat, x_hat, y_hat), y_hat))
            trans.append(psnr(pred, y_hat))
            blank = apply_kernel(wizard, to_tensor(x_hat), zero)[0].numpy().transpose(1, 2, 0)
            effect.append(float(np.abs(pred - blank).mean()) * 255)
            blank_.append(psnr(blank, y_hat))
            if i == 0:
                write_image(out / "examples" / f"kernel{j + 1}.png", side_by_side([x, y, x_hat, pred, y_hat]))
        rows.append([j + 1, f"{k.shape[0]}x{k.shape[1]}", statistics.fmean(none), statistics.fmean(self_),
                     statistics.fmean(trans), min(trans), max(trans), statistics.fmean(effect),
                     statistics.fmean(blank_)])
    return rows


def time_official(batch: int, crop: int, iters: int) -> float:
    """Median seconds of a training iteration of the official-size F+G (49.2 M parameters)."""
    import torch

    from blur2blur.train.config import KernelConfig
    from blur2blur.train.presets import make_config
    from blur2blur.train.kernels import KernelTrainer

    cfg = make_config(KernelConfig, "official", [f"batch={batch}", f"crop={crop}"])
    trainer = KernelTrainer(cfg, "cpu")
    x, y = torch.rand(batch, 3, crop, crop), torch.rand(batch, 3, crop, crop)
    times = []
    for i in range(iters + 1):
        t0 = time.perf_counter()
        trainer.step(x, y)
        if i:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_wizard_args(ap, iters_default=3000)
    ap.add_argument("--out", default="/tmp/b2b_kernel_encoding", help="output folder (default: %(default)s)")
    ap.add_argument("--test-images", type=int, default=8,
                    help=f"held-out photos of {TEST_SET}, paired cyclically (default: %(default)s)")
    ap.add_argument("--test-crop", type=int, default=None,
                    help="test crop size (default: the F/G training crop, as in the paper: 256 for 256)")
    ap.add_argument("--time-official", type=int, metavar="BATCH", default=None,
                    help="only time training iterations of the official-size F+G at this batch "
                         "(256 px crops) and print the 600K-iteration estimate")
    args = ap.parse_args()

    import torch

    if args.time_official:
        sec = time_official(args.time_official, 256, iters=3)
        print(f"| net | batch | crop | threads | s/iteration | 600K iterations |")
        print("|---|---|---|---|---|---|")
        print(f"| official F+G (49.2 M) | {args.time_official} | 256 | {torch.get_num_threads()} | "
              f"{sec:.1f} | {sec * 600_000 / 86400:.0f} days |")
        return

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    kernels = levin_kernels(args.data_root)
    t_start = time.perf_counter()
    wizard, desc, train_s = get_wizard(args, kernels)
    crop = args.test_crop or (kernel_config(args).crop if not args.wizard else 256)
    photos = photo_list(args.data_root, TEST_SET, args.test_images)
    t0 = time.perf_counter()
    with torch.no_grad():
        rows = evaluate(wizard, kernels, photos, crop, out, args.seed)
    eval_s = time.perf_counter() - t0

    print(f"\nKernel encoding (bkse Table 1 protocol): PSNR (dB, RGB, uint8) against k*x_hat, "
          f"mean over {len(photos)} held-out pairs of {TEST_SET} at {crop}x{crop}; F/G {desc}.\n")
    table = [[r[0], r[1], f"{r[2]:.2f}", f"{r[8]:.2f}", f"{r[3]:.2f}", f"{r[4]:.2f}", f"{r[5]:.2f}-{r[6]:.2f}",
              f"{r[7]:.2f}"] for r in rows]

    def mean(i):
        return f"{statistics.fmean(r[i] for r in rows):.2f}"

    table.append(["mean", "", mean(2), mean(8), mean(3), f"**{mean(4)}**", "", mean(7)])
    print(markdown_table(["Levin kernel", "size", "no transfer: x_hat", "blank code: G(x_hat,0)",
                          "self: G(x_hat,F(x_hat,k*x_hat))", "transfer: G(x_hat,F(x,k*x))", "transfer min-max",
                          "code effect"], table))
    print("\nblank code: G with an all-zero kernel map (no source at all); code effect: mean "
          "|G(x_hat, F(x,k*x)) - G(x_hat, 0)| in 8-bit grey levels. A transfer no better than the blank code, "
          "with a code effect near 0, means G ignores the kernel code (a collapsed encoder: every source "
          "gives the same average blur).")
    total = time.perf_counter() - t_start
    print(f"\nwall time: {total:.0f} s (F/G training {train_s or 0:.0f} s, evaluation {eval_s:.0f} s), "
          f"{torch.get_num_threads()} threads; examples (x | k*x | x_hat | transfer | k*x_hat) in "
          f"{out / 'examples'}")


if __name__ == "__main__":
    main()
