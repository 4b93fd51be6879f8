"""Closed-form kernel estimation (blur2blur/kernel_space/estimate.py) on Levin et al.'s 32 real
blurry/sharp pairs (../shared/data/levin2009_selfdeblur; blurred in display values, so gamma 1):
the PSNR at which the estimated kernel re-blurs each pair (linear residual, border excluded) and
the L1 distance to the recorded kernel (Levin09.mat, compared after centring, best of the two
orientations the files use and of one-pixel shifts; 0 = equal, 2 = disjoint).

    python benchmarks/kernel_estimate_levin.py [--lam 0.03] [--floor 0.05]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from blur2blur.io import read_image  # noqa: E402
from blur2blur.kernel_space.estimate import estimate_kernel, residual_noise  # noqa: E402
from blur2blur.simulate.kernels import center_kernel, load_kernels  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


def kernel_l1(a: np.ndarray, b: np.ndarray) -> float:
    a, b = center_kernel(a), center_kernel(b)
    n = max(a.shape[0], b.shape[0])
    pa, pb = np.pad(a, (n - a.shape[0]) // 2), np.pad(b, (n - b.shape[0]) // 2)
    return float(min(np.abs(np.roll(pa, (dy, dx), (0, 1)) - pb).sum() for dy in (-1, 0, 1) for dx in (-1, 0, 1)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lam", type=float, default=0.03)
    ap.add_argument("--floor", type=float, default=0.05)
    ap.add_argument("--support", type=int, default=41)
    args = ap.parse_args()
    levin = DATA / "levin2009_selfdeblur"
    if not levin.is_dir():
        print(f"{levin} is not here")
        return 1
    true = load_kernels(DATA / "kernels" / "Levin09.mat")
    t0 = time.time()
    print("| image | kernel | fit PSNR dB | L1 to the recorded kernel |\n|---|---|---|---|")
    fits, l1s = [], []
    for i in range(1, 5):
        x = read_image(levin / "gt" / f"im{i}.png")
        for j in range(1, 9):
            y = read_image(levin / "blurry" / f"im{i}_kernel{j}_img.png")
            k = estimate_kernel(x, y, args.support, args.lam, args.floor, gamma=1.0)
            fit = residual_noise(x, y, k, gamma=1.0)[1]
            l1 = min(kernel_l1(k, true[j - 1]), kernel_l1(k, true[j - 1][::-1, ::-1]))
            fits.append(fit)
            l1s.append(l1)
            print(f"| im{i} | {j} | {fit:.1f} | {l1:.3f} |")
    print(f"| **mean** | | {np.mean(fits):.1f} (lowest {np.min(fits):.1f}) | {np.mean(l1s):.3f} (largest {np.max(l1s):.3f}) |")
    print(f"\n({time.time() - t0:.1f} s for 32 pairs of 255x255)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
