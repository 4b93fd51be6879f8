"""`blur2blur train-deblurrer`: train a NAFNet deblurrer on paired images or on sharp photos blurred on the fly."""

from __future__ import annotations

import argparse
from pathlib import Path

from blur2blur.cli.common import add_train_args, layout_pair

NAME = "train-deblurrer"


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, help="train a NAFNet deblurrer on paired images, or on sharp "
                       "photos blurred on the fly by a camera (--preset shipped: the shipped model's recipe)")
    p.add_argument("--data", help="dataset root: uses trainC (blurry) / trainD (sharp); with "
                   "--set synthesis=linear|bsrgan|rsblur or camera=PROFILE, trainB (sharp) blurred on the fly")
    p.add_argument("--blur", help="folder of blurry images (instead of --data)")
    p.add_argument("--sharp", nargs="+", help="folder of sharp images matched by file stem; with a camera or "
                   "synthesis, one or more folders of sharp photos")
    add_train_args(p)


def run(args: argparse.Namespace) -> int:
    from blur2blur.train.config import DeblurrerConfig
    from blur2blur.train.presets import make_config
    from blur2blur.train.deblurrer import train_deblurrer

    cfg = make_config(DeblurrerConfig, args.preset, args.overrides)
    if cfg.camera or cfg.synthesis:  # (sharp photos blurred on the fly: a camera or a generic synthesis)
        if not (args.sharp or args.data):
            raise ValueError(f"{'camera' if cfg.camera else 'synthesis'} needs --sharp DIR [DIR ...] or "
                             "--data ROOT (whose trainB is used)")
        blur, sharp = None, [Path(d) for d in args.sharp] if args.sharp else Path(args.data) / "trainB"
    else:
        if args.sharp and len(args.sharp) > 1:
            raise ValueError("paired training takes one --sharp folder (several only with a camera or synthesis)")
        blur, sharp = layout_pair(args)
    ckpt = train_deblurrer(blur, sharp, args.out, cfg, preset=args.preset, device=args.device,
                           progress=not args.no_progress, resume=args.resume, overwrite=args.overwrite)
    print(f"deblurrer saved to {ckpt}.safetensors")
    return 0
