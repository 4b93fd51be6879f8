"""How noisy is the translator's patch-statistics loss? Signal against noise of one step's estimate.

For a demo folder and a trained translator (default: the demo's), this draws `--batches` training
batches like the translator recipe does (batch crops of B, crops of K) and computes, for the
identity (T(b) = b) and for the translator, one step's patch-statistics loss in two ways:
- "per-batch K": the estimate of the `cpu-small` recipe before issue #19 (1,024 patches of T(b)
  against 1,024 patches of this step's K crops, 128 random directions);
- "K bank": 4,096 patches of T(b) against a bank of 32,768 patches of all of K on a fixed pool of
  256 directions, 128 of them drawn per step (`swd_bank`, `swd_samples`).
It prints the mean and standard deviation of each over the batches, the signal (identity minus
translator, the improvement a step should see) and its ratio to the step-to-step noise.

    python benchmarks/swd_estimate_noise.py demo_out --translator demo_out/runs/translator/translator
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("demo_dir", help="output folder of `blur2blur demo`")
    ap.add_argument("--translator", help="translator checkpoint stem (default: DIR/runs/translator/translator)")
    ap.add_argument("--batches", type=int, default=100)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--crop", type=int, default=64)
    args = ap.parse_args()

    from blur2blur.data.datasets import UnpairedCrops
    from blur2blur.data.sampling import SeededBatches
    from blur2blur.io import list_images, read_image
    from blur2blur.losses.patch_swd import PatchBank, patch_swd
    from blur2blur.nets.weights import load_model

    root = Path(args.demo_dir)
    T = load_model(args.translator or root / "runs" / "translator" / "translator").eval()
    k_files = list_images(root / "known_blur_set")
    b = SeededBatches(UnpairedCrops(list_images(root / "data" / "trainA"), args.crop), args.batch, 0)
    k = SeededBatches(UnpairedCrops(k_files, args.crop), args.batch, 1)
    bank = PatchBank([read_image(f) for f in k_files], 7, 32768, 256, seed=0)
    values: dict[str, list[float]] = {f"{e}, {n}": [] for e in ("per-batch K", "K bank") for n in ("identity", "T")}
    with torch.no_grad():
        for i in range(args.batches):
            yb, yk = next(b)["image"], next(k)["image"]
            for name, x in (("identity", yb), ("T", T(yb)[-1].clamp(0, 1))):
                gen = torch.Generator().manual_seed(i)
                values[f"per-batch K, {name}"].append(patch_swd(x, yk, 7, 128, 1024, generator=gen).item())
                gen = torch.Generator().manual_seed(i)
                values[f"K bank, {name}"].append(bank.distance(x, 128, 4096, gen).item())
    print(f"one step's loss over {args.batches} batches of {args.batch} crops of {args.crop} px (x1e5)")
    print("| estimate | identity: mean (std) | translator: mean (std) | signal (identity - translator) | "
          "signal / std of the identity's estimate | signal / std of the per-step difference |")
    print("|---|---|---|---|---|---|")
    for est in ("per-batch K", "K bank"):
        a, t = values[f"{est}, identity"], values[f"{est}, T"]
        diff = [x - y for x, y in zip(a, t)]
        signal = statistics.fmean(diff)
        print(f"| {est} | {statistics.fmean(a) * 1e5:.2f} ({statistics.stdev(a) * 1e5:.2f}) | "
              f"{statistics.fmean(t) * 1e5:.2f} ({statistics.stdev(t) * 1e5:.2f}) | {signal * 1e5:.2f} | "
              f"{signal / statistics.stdev(a):.2f} | {signal / statistics.stdev(diff):.2f} |")


if __name__ == "__main__":
    main()
