"""Does G learn to use the kernel code? The easiest possible kernel space: two blurs.

Crops of sharp photos are blurred with one of two 15 px line kernels, horizontal or vertical
(chosen per crop at random, reflect padding), and F/G (``KernelWizard``, cpu-small widths by
default) are trained jointly with the Charbonnier loss of G(x, F(x, y)) against y, as in
``blur2blur kernels train``. Every ``--eval-every`` iterations, on fresh crops, the table gives the
MSE against y of: G with its own code ("self"), G with an all-zero code ("blank"), G with the code
of another crop of the batch ("swapped": half of them carry the other kernel), and the sharp input
itself ("identity"); the std of the code; and the code's effect, mean |G(x, k) - G(x, 0)| in 8-bit
grey levels. A working kernel space has self << swapped; self == blank means G ignores the code.
With ``--oracle`` F is bypassed: G gets the ideal code, +1 (horizontal) or -1 (vertical) in every
channel, which tells whether G can learn to use a code at all.

    python benchmarks/kernel_code_probe.py                  # cpu-small widths, lr 1e-3, 400 it
    python benchmarks/kernel_code_probe.py --lr 1e-4 --iters 1000
    python benchmarks/kernel_code_probe.py --oracle
    python benchmarks/kernel_code_probe.py --init-only [--default-init]   # before any training
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import torch
import torch.nn.functional as F

DEFAULT_PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "sharp_sunhays80"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", default=str(DEFAULT_PHOTOS), help="folder of sharp photos")
    ap.add_argument("--count", type=int, default=20, help="photos used (default: %(default)s)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--iters", type=int, default=400)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--nf", type=int, default=16)
    ap.add_argument("--kernel-dim", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--oracle", action="store_true", help="G gets the ideal code; F is not used")
    ap.add_argument("--init-only", action="store_true", help="only the row of the untrained networks")
    ap.add_argument("--default-init", action="store_true",
                    help="PyTorch's default init (the official code's) for the layers the library "
                         "initialises with init_signal_preserving")
    args = ap.parse_args()

    from blur2blur.io import list_images, read_image
    from blur2blur.losses.pixel import charbonnier
    from blur2blur.nets.kernel_space import KernelWizard

    files = list_images(args.photos)[:args.count]
    if not files:
        raise SystemExit(f"error: no photos in {args.photos} (give --photos DIR)")
    photos = [torch.from_numpy(read_image(f)).permute(2, 0, 1) for f in files]
    line = torch.zeros(1, 1, 15, 15)
    line[0, 0, 7, :] = 1 / 15
    kernels = [line, line.transpose(2, 3).contiguous()]
    rng = random.Random(args.seed)
    c = args.crop
    usable = [p for p in photos if min(p.shape[1:]) > c]
    if not usable:
        raise SystemExit(f"error: no photo in {args.photos} is larger than the crop ({c} px)")

    def batch(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        xs, ys, which = [], [], []
        for _ in range(n):
            img = rng.choice(usable)
            top, left = rng.randrange(img.shape[1] - c), rng.randrange(img.shape[2] - c)
            x = img[:, top:top + c, left:left + c]
            i = rng.randrange(2)
            y = F.conv2d(F.pad(x[:, None], (7, 7, 7, 7), mode="reflect"), kernels[i])[:, 0]
            xs.append(x)
            ys.append(y)
            which.append(i)
        return torch.stack(xs), torch.stack(ys), torch.tensor(which)

    def code_of(x: torch.Tensor, y: torch.Tensor, which: torch.Tensor) -> torch.Tensor:
        if not args.oracle:
            return net.extract(x, y)
        sign = 1.0 - 2.0 * which.float()
        return sign.view(-1, 1, 1, 1).expand(-1, args.kernel_dim, *net.kernel_map_size(c, c)).contiguous()

    torch.manual_seed(args.seed)
    net = KernelWizard(nf=args.nf, front_RBs=2, back_RBs=2, kernel_dim=args.kernel_dim, recon_nf=args.nf)
    if args.default_init:
        for part in (*list(net.feature_extractor)[:6], net.kernel_extractor, net.adapter):
            for m in part.modules():
                if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                    m.reset_parameters()
    opt = torch.optim.Adam(net.parameters(), lr=args.lr, betas=(0.9, 0.99))
    print(f"| iteration | self MSE | blank MSE | swapped MSE | identity MSE | code std | code effect (grey levels) |")
    print("|---|---|---|---|---|---|---|")

    def report(it: int) -> None:
        x, y, which = batch(8)
        with torch.no_grad():
            code = code_of(x, y, which)
            own, blank = net.adapt(x, code), net.adapt(x, torch.zeros_like(code))
            swapped = net.adapt(x, code.flip(0))

        def mse(a: torch.Tensor) -> str:
            return f"{((a - y) ** 2).mean().item():.5f}"

        effect = (own - blank).abs().mean().item() * 255
        fmt = ".2e" if it == 0 else ".3f"  # untrained codes and effects can be tiny
        print(f"| {it} | {mse(own)} | {mse(blank)} | {mse(swapped)} | {mse(x)} | "
              f"{code.std().item():{fmt}} | {effect:{'.2e' if it == 0 else '.2f'}} |", flush=True)

    if args.init_only:
        report(0)
        return
    for it in range(1, args.iters + 1):
        x, y, which = batch(args.batch)
        loss = charbonnier(net.adapt(x, code_of(x, y, which)), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if it % args.eval_every == 0:
            report(it)


if __name__ == "__main__":
    main()
