"""`blur2blur kernels train|transfer|deblur`: the blur kernel space (bkse): train F/G, transfer blur, blind deblur."""

from __future__ import annotations

import argparse
from pathlib import Path

from blur2blur.cli.common import add_train_args, count, layout_pair

NAME = "kernels"


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, help="blur kernel space (bkse): train F/G, transfer blur, blind deblur")
    ksub = p.add_subparsers(dest="kernels_command", required=True, metavar="KERNELS_COMMAND")
    _add_train_parser(ksub)
    _add_transfer_parser(ksub)
    _add_deblur_parser(ksub)


def _add_train_parser(ksub) -> None:
    q = ksub.add_parser("train", help="train the kernel extractor F and blur operator G on pairs")
    q.add_argument("--data", help="dataset root: uses trainC (blurry) / trainD (sharp)")
    q.add_argument("--blur", help="folder of blurry images (instead of --data)")
    q.add_argument("--sharp", help="folder of sharp images matched by file stem")
    add_train_args(q)


def _add_transfer_parser(ksub) -> None:
    q = ksub.add_parser("transfer", help="build the known-blur set K by blur transfer (G(x_hat, F(x, y)))")
    q.add_argument("--wizard", required=True, help="kernel network: our checkpoint stem or an official .pth")
    q.add_argument("--data", help="dataset root: targets trainB, known pairs trainC/trainD")
    q.add_argument("--sharp", help="folder of sharp target images (instead of --data)")
    q.add_argument("--known-blur", help="folder of known-domain blurry images")
    q.add_argument("--known-sharp", help="folder of known-domain sharp images (matched by stem)")
    q.add_argument("--out", required=True, help="output folder (images + manifest.json)")
    q.add_argument("--variants", type=count(1), default=1, help="kernels drawn per target image")
    q.add_argument("--seed", type=count(0), default=0)
    q.add_argument("--max-side", type=count(16), default=None, help="downscale targets to this long side")
    q.add_argument("--device", default="auto")
    q.add_argument("--no-progress", action="store_true")


def _add_deblur_parser(ksub) -> None:
    q = ksub.add_parser("deblur", help="blind deblurring with deep image priors in the kernel space (bkse Alg. 1)")
    q.add_argument("input", help="blurry image")
    q.add_argument("out", help="output image path (PNG)")
    q.add_argument("--wizard", required=True, help="kernel network: our checkpoint stem or an official .pth")
    q.add_argument("--iters", type=count(1), default=5000,
                   help="joint iterations (default 5000: hours on a CPU, about 19-37 s per "
                        "megapixel-iteration; see docs/kernel_space.md)")
    q.add_argument("--seed", type=count(0), default=0)
    q.add_argument("--save-kernel", action="store_true", help="also write the kernel map beside OUT")
    q.add_argument("--no-progress", action="store_true")
    q.add_argument("--device", default="auto")


def run(args: argparse.Namespace) -> int:
    sub = args.kernels_command
    if sub == "train":
        return _train(args)
    if sub == "transfer":
        return _transfer(args)
    if sub == "deblur":
        return _deblur(args)
    raise AssertionError(f"unhandled kernels command {sub}")


def _train(args: argparse.Namespace) -> int:
    from blur2blur.train.config import KernelConfig
    from blur2blur.train.presets import make_config
    from blur2blur.train.kernels import train_kernels

    blur, sharp = layout_pair(args)
    cfg = make_config(KernelConfig, args.preset, args.overrides)
    ckpt = train_kernels(blur, sharp, args.out, cfg, args.preset, args.device,
                         not args.no_progress, args.resume, args.overwrite)
    print(f"kernel network saved to {ckpt}.safetensors")
    return 0


def _transfer(args: argparse.Namespace) -> int:
    from blur2blur.known_blur.transferred import build_transferred_known_set

    if args.data:
        root = Path(args.data)
        sharp, kblur, ksharp = root / "trainB", root / "trainC", root / "trainD"
    elif args.sharp and args.known_blur and args.known_sharp:
        sharp, kblur, ksharp = Path(args.sharp), Path(args.known_blur), Path(args.known_sharp)
    else:
        raise ValueError("give --data ROOT or all of --sharp, --known-blur, --known-sharp")
    from blur2blur.outputs.files import guard_output

    guard_output(args.out, [sharp, kblur, ksharp], "output folder")
    written = build_transferred_known_set(args.wizard, sharp, kblur, ksharp, args.out,
                                          variants=args.variants, seed=args.seed,
                                          device=args.device, progress=not args.no_progress,
                                          max_side=args.max_side)
    print(f"wrote {len(written)} transferred images and manifest.json to {args.out}")
    return 0


def _deblur(args: argparse.Namespace) -> int:
    from blur2blur.kernel_space.blind import deblur_file
    from blur2blur.outputs.files import guard_output

    guard_output(args.out, [args.input], "output image", folder=False)

    written = deblur_file(args.input, args.out, args.wizard, iters=args.iters, seed=args.seed,
                          save_kernel=args.save_kernel, device=args.device,
                          progress=not args.no_progress)
    print("wrote " + ", ".join(str(p) for p in written))
    return 0
