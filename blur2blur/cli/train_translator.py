"""`blur2blur train-translator`: train the blur translator T (the camera's blur B -> the known blur)."""

from __future__ import annotations

import argparse

from blur2blur.cli.common import add_train_args

NAME = "train-translator"


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, help="train the blur translator T (B -> known blur)")
    p.add_argument("--data", required=True, help="dataset root (trainA = B, trainB = S)")
    p.add_argument("--known-set", help="folder of the known-blur set K (default: built from trainB "
                   "according to k_source: auto | simulate | known | estimated | transfer | online)")
    add_train_args(p)


def run(args: argparse.Namespace) -> int:
    from blur2blur.train.config import TranslatorConfig
    from blur2blur.train.presets import make_config
    from blur2blur.train.translator import train_translator_on_layout

    cfg = make_config(TranslatorConfig, args.preset, args.overrides)
    ckpt = train_translator_on_layout(args.data, args.out, cfg, preset=args.preset,
                                      device=args.device, progress=not args.no_progress,
                                      resume=args.resume, overwrite=args.overwrite,
                                      known_set=args.known_set)
    print(f"translator saved to {ckpt}.safetensors")
    return 0
