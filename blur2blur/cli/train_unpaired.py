"""`blur2blur train-unpaired`: the baselines, CycleGAN or DualGAN from the camera's blurry B to its sharp S."""

from __future__ import annotations

import argparse
from pathlib import Path

from blur2blur.cli.common import add_train_args

NAME = "train-unpaired"


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, help="baseline: CycleGAN or DualGAN from the camera's B to its S")
    p.add_argument("--data", required=True, help="dataset root (trainA = B, trainB = S)")
    add_train_args(p)
    p.epilog = "method: --set method=cyclegan (default) or --set method=dualgan"


def run(args: argparse.Namespace) -> int:
    from blur2blur.train.config import UnpairedGANConfig
    from blur2blur.train.presets import make_config
    from blur2blur.train.unpaired_gan import train_unpaired_gan

    cfg = make_config(UnpairedGANConfig, args.preset, args.overrides)
    ckpt = train_unpaired_gan(Path(args.data) / "trainA", Path(args.data) / "trainB", args.out, cfg,
                              preset=args.preset, device=args.device, progress=not args.no_progress,
                              resume=args.resume, overwrite=args.overwrite)
    print(f"{cfg.method} generator (B -> S) saved to {ckpt}.safetensors")
    return 0
