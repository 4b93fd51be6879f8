"""Cost of blind deblurring (bkse Algorithm 1, ``blur2blur kernels deblur``) per iteration.

Times the alternating iterations of ``blind_deblur`` (after its warm-ups, which are timed
separately) on a random image of each ``--sizes`` side, with a tiny or the official-size kernel
network (random weights: the cost does not depend on them), and prints seconds per iteration,
seconds per megapixel-iteration and the projection for 5000 iterations.

    python benchmarks/blind_speed.py                           # tiny wizard, 128 and 256 px
    python benchmarks/blind_speed.py --official --sizes 256    # the official 49.2 M F/G
"""

from __future__ import annotations

import argparse
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256], help="square image sides (px)")
    ap.add_argument("--iters", type=int, default=4, help="timed iterations per size (default: %(default)s)")
    ap.add_argument("--warmup", type=int, default=2, help="DIP warm-up steps (default: %(default)s)")
    ap.add_argument("--official", action="store_true", help="official-size F/G instead of a tiny one")
    ap.add_argument("--joint", action="store_true", help="one joint step instead of alternating")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()

    from blur2blur.device import pick_device
    from blur2blur.kernel_space.blind import blind_deblur
    from blur2blur.nets.kernel_space import KernelWizard

    device = pick_device(args.device)
    torch.manual_seed(0)
    kw = {} if args.official else dict(nf=8, front_RBs=1, back_RBs=1, kernel_dim=16, recon_nf=8)
    wizard = KernelWizard(**kw).to(device).eval()
    name = "official (49.2 M)" if args.official else "tiny (nf 8)"
    print(f"| wizard | size | mode | threads | warm-ups + 1st iteration (s) | s/iteration | s per MP-iteration | 5000 iterations |")
    print("|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        y = torch.rand(3, size, size, generator=torch.Generator().manual_seed(size))
        stamps: list[float] = []
        t0 = time.perf_counter()
        blind_deblur(y, wizard, iters=args.iters, warmup_x=args.warmup, warmup_k=args.warmup,
                     progress=False, joint=args.joint, callback=lambda *_: stamps.append(time.perf_counter()))
        warm = stamps[0] - t0 if stamps else float("nan")
        # The first callback closes the first iteration; time the others.
        per_iter = (stamps[-1] - stamps[0]) / max(1, len(stamps) - 1)
        mp = size * size / 1e6
        print(f"| {name} | {size}x{size} | {'joint' if args.joint else 'alternating'} | "
              f"{torch.get_num_threads()} | {warm:.1f} | {per_iter:.2f} | {per_iter / mp:.1f} | "
              f"{per_iter * 5000 / 3600:.1f} h |", flush=True)


if __name__ == "__main__":
    main()
