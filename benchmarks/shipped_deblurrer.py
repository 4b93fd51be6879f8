"""Quality of a deblurrer for the project's known camera (`actioncam`), by blur extent; NIQE on real
blurry photos; a crop figure of real photos, input | output.

1. Kodak24 (`--kodak`, when present) and the photos bundled for the demo, never trained on: the
   central `--crop` px of each photo, blurred by the known camera with its noise (a valid
   convolution of a larger window, so no border effect). For every extent bin (end-to-end size of
   the blur path, px) each photo gets one draw whose extent falls in the bin (seeds tried in a fixed
   order), so every bin holds every photo. PSNR (uint8, full crop) and SSIM (matlab3d) of the input
   and of the output, per bin and averaged over the bins.
2. NIQE (Y channel, LIVE pristine model: `--niqe-model` or the default found by `evaluate`) of the
   input and output on the real blurry photos of `--real` (no ground truth), at `--scale` 1 and at
   the reduced scale `--real-scale`.
3. `--figure PNG`: three real photos, a crop of each, rows input | output (at `--real-scale`).

    python benchmarks/shipped_deblurrer.py                       # the shipped model
    python benchmarks/shipped_deblurrer.py --deblurrer runs/d/deblurrer --bins 0 12 24 36
    python benchmarks/shipped_deblurrer.py --figure docs/images/shipped_real.png
    python benchmarks/shipped_deblurrer.py --parts bins --ensemble 4   # the self-ensemble
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from blur2blur.data.datasets import random_crop_pad  # noqa: E402
from blur2blur.infer.pipeline import DeblurPipeline  # noqa: E402
from blur2blur.io import list_images, read_image, write_image  # noqa: E402
from blur2blur.metrics.psnr import psnr  # noqa: E402
from blur2blur.metrics.ssim import ssim  # noqa: E402
from blur2blur.nets.pretrained import KNOWN_CAMERA  # noqa: E402
from blur2blur.simulate.online import OnlineCamera  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
# Real photos for NIQE and the figure (PROVENANCE.txt in that folder): GoPro-like frames first.
FIGURE = [("nafnet_demo/blurry.jpg", (300, 180)), ("srn_deblur/07.png", (420, 200)),
          ("deblurganv2/000027.png", (500, 250))]


def seed_in_bin(online: OnlineCamera, lo: float, hi: float, start: int) -> int:
    """The first seed from `start` on whose blur extent (px) is in [lo, hi)."""
    for seed in range(start, start + 100_000):
        if lo <= online.camera.trajectory(seed, 1, 1).extent < hi:
            return seed
    raise RuntimeError(f"no draw of {online.camera.profile.name} has an extent in [{lo}, {hi}) px")


def binned_quality(pipe: DeblurPipeline, photos: list[Path], bins: list[float], crop: int,
                   profile: str) -> list[dict]:
    """One row per bin: mean PSNR/SSIM of input and output over `photos` (see the module doc)."""
    online = OnlineCamera(profile)
    size = crop + 2 * online.margin
    images = []
    for f in photos:
        img = read_image(f)
        h, w = img.shape[:2]
        images.append(random_crop_pad(img, size, max(0, (h - size) // 2), max(0, (w - size) // 2)))
    rows = []
    for b, (lo, hi) in enumerate(zip(bins[:-1], bins[1:])):
        vals = {"p_in": [], "p_out": [], "s_in": [], "s_out": []}
        for i, img in enumerate(images):
            seed = seed_in_bin(online, lo, hi, 100_000 * (b + 1) + 1000 * i)
            blurry, sharp = online.pair(img, seed)
            out = pipe.run(blurry)["deblurred"]
            vals["p_in"].append(psnr(blurry, sharp))
            vals["p_out"].append(psnr(out, sharp))
            vals["s_in"].append(ssim(blurry, sharp))
            vals["s_out"].append(ssim(out, sharp))
        rows.append({"bin": f"{lo:g}-{hi:g}", "n": len(images), **{k: float(np.mean(v)) for k, v in vals.items()}})
    return rows


def real_photos(folder: Path) -> list[Path]:
    """The real blurry photos of `folder` (its estimated-kernel images left out)."""
    subfolders = [folder, *sorted(d for d in folder.rglob("*") if d.is_dir())]
    return [p for d in subfolders if "kernel" not in d.name.lower() for p in list_images(d)]


def niqe_rows(pipes: dict[str, DeblurPipeline], photos: list[Path], model) -> list[dict]:
    from blur2blur.metrics.niqe import niqe

    rows = []
    for f in photos:
        y = read_image(f)
        row = {"photo": str(f.relative_to(f.parents[1])), "input": niqe(y, model)}
        for name, pipe in pipes.items():
            row[name] = niqe(pipe.run(y)["deblurred"], model)
        rows.append(row)
    return rows


def figure(pipe: DeblurPipeline, folder: Path, out: Path, size: int = 320) -> None:
    """Rows input | output of a `size` px crop of three real photos, 4 px white gaps."""
    rows = []
    for name, (x, y0) in FIGURE:
        img = read_image(folder / name)
        res = pipe.run(img)["deblurred"]
        a, b = img[y0:y0 + size, x:x + size], res[y0:y0 + size, x:x + size]
        gap = np.ones((a.shape[0], 4, 3), np.float32)
        rows.append(np.concatenate([a, gap, b], axis=1))
        rows.append(np.ones((4, rows[-1].shape[1], 3), np.float32))
    write_image(out, np.concatenate(rows[:-1], axis=0))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--deblurrer", default="shipped", help="checkpoint stem or 'shipped' (default)")
    ap.add_argument("--profile", default=KNOWN_CAMERA, help="camera whose blur is evaluated")
    ap.add_argument("--kodak", default=str(DATA / "sharp_kodak24"))
    ap.add_argument("--bins", type=float, nargs="+", default=[0, 9, 18, 27, 36.5],
                    help="edges of the blur-extent bins in px")
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--limit", type=int, default=0, help="at most this many photos per set (0 = all)")
    ap.add_argument("--real", default=str(DATA / "real_blurry_noref"))
    ap.add_argument("--real-scale", type=float, default=0.5, help="reduced scale for the real photos")
    ap.add_argument("--niqe-model", help="NIQE pristine model .npz (default: as `blur2blur evaluate`)")
    ap.add_argument("--figure", help="write the real-photo crop figure here (PNG)")
    ap.add_argument("--parts", nargs="+", default=["bins", "niqe"], choices=["bins", "niqe"])
    ap.add_argument("--amp", default="auto", choices=["auto", "bf16", "none"])
    ap.add_argument("--ensemble", type=int, default=1, choices=[1, 2, 4, 8],
                    help="views of the deblurrer averaged (DeblurPipeline's self-ensemble)")
    args = ap.parse_args(argv)

    from blur2blur.perf import cpu_name

    torch.manual_seed(0)
    pipe = DeblurPipeline.from_checkpoints(args.deblurrer, None, "auto", amp=args.amp, ensemble=args.ensemble)
    print(f"deblurrer {args.deblurrer}; camera {args.profile}; {cpu_name()}, {torch.get_num_threads()} threads, "
          f"amp={args.amp}, ensemble={args.ensemble}")
    t0 = time.time()
    if "bins" in args.parts:
        from blur2blur.demo import bundled_photos

        sets = {"bundled photos": bundled_photos()}
        if Path(args.kodak).is_dir():
            sets = {"Kodak24": list_images(args.kodak), **sets}
        print("\n| set | blur extent (px) | photos | PSNR in | PSNR out | gain dB | SSIM in | SSIM out |")
        print("|---|---|---|---|---|---|---|---|")
        for name, photos in sets.items():
            photos = photos[:args.limit] if args.limit else photos
            rows = binned_quality(pipe, photos, args.bins, args.crop, args.profile)
            for r in rows:
                print(f"| {name} | {r['bin']} | {r['n']} | {r['p_in']:.2f} | {r['p_out']:.2f} | "
                      f"{r['p_out'] - r['p_in']:+.2f} | {r['s_in']:.4f} | {r['s_out']:.4f} |")
            mean = {k: float(np.mean([r[k] for r in rows])) for k in ("p_in", "p_out", "s_in", "s_out")}
            print(f"| {name} | **mean of bins** | | {mean['p_in']:.2f} | {mean['p_out']:.2f} | "
                  f"**{mean['p_out'] - mean['p_in']:+.2f}** | {mean['s_in']:.4f} | {mean['s_out']:.4f} |")
    if "niqe" in args.parts and Path(args.real).is_dir():
        from blur2blur.metrics.evaluate import default_niqe_model
        from blur2blur.metrics.niqe import load_pristine_model

        shared = DATA / "calibration" / "niqe_pris_params.npz"  # (the LIVE pristine model, DESIGN.md section 3)
        model_path = args.niqe_model or default_niqe_model() or (shared if shared.is_file() else None)
        if model_path is None:
            print("\nNIQE: no pristine model found (give --niqe-model)")
        else:
            model = load_pristine_model(model_path)
            pipes = {"output": pipe,
                     f"output at {args.real_scale:g}x": DeblurPipeline.from_checkpoints(
                         args.deblurrer, None, "auto", amp=args.amp, scale=args.real_scale,
                         ensemble=args.ensemble)}
            rows = niqe_rows(pipes, real_photos(Path(args.real)), model)
            print("\n| real photo | NIQE input | " + " | ".join(f"NIQE {k}" for k in pipes) + " |")
            print("|---|---|" + "---|" * len(pipes))
            for r in rows:
                print(f"| {r['photo']} | {r['input']:.3f} | " + " | ".join(f"{r[k]:.3f}" for k in pipes) + " |")
            print("| **mean** | " + " | ".join(f"{np.mean([r[k] for r in rows]):.3f}"
                                             for k in ["input", *pipes]) + " |")
    if args.figure:
        fig_pipe = DeblurPipeline.from_checkpoints(args.deblurrer, None, "auto", amp=args.amp, scale=args.real_scale,
                                                   ensemble=args.ensemble)
        figure(fig_pipe, Path(args.real), Path(args.figure))
        print(f"\nfigure: {args.figure} (rows: input | output at {args.real_scale:g}x)")
    print(f"\n({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
