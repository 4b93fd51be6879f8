"""What several commands share: argparse value types, the training flags, the paired-folder flags."""

from __future__ import annotations

import argparse
import math
from pathlib import Path


def add_train_args(p: argparse.ArgumentParser) -> None:
    """The flags of every training command (run folder, preset, overrides, device, resume)."""
    p.add_argument("--out", required=True, help="run folder (config, logs, checkpoints)")
    p.add_argument("--preset", default="cpu-small",
                   help="cpu-small (default), cpu-medium (not train-kernels), official or paper")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set iters=2000 --set lr=1e-4 (repeatable)")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:1, ...")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--resume", action="store_true",
                   help="continue from the newest good checkpoint in --out/checkpoints")
    p.add_argument("--overwrite", action="store_true",
                   help="delete the run already in --out (checkpoints, log, config, models) and start anew")


def count(minimum: int):
    """argparse type: a whole number >= `minimum` (the error names the value and the bound)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value
    return parse


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def tile_arg(text: str):
    """argparse type of --tile: "auto", or 0 or a positive multiple of 16 (pixels)."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto or a whole number of pixels, got {text!r}") from None
    if value < 0 or value % 16:
        raise argparse.ArgumentTypeError(f"tile must be 0 or a positive multiple of 16, got {value}")
    return value


def layout_pair(args: argparse.Namespace) -> tuple[Path, Path]:
    """(blurry, sharp) folders from --data ROOT (trainC, trainD) or from --blur and --sharp."""
    if args.data:
        return Path(args.data) / "trainC", Path(args.data) / "trainD"
    if args.blur and args.sharp:
        sharp = args.sharp[0] if isinstance(args.sharp, list) else args.sharp
        return Path(args.blur), Path(sharp)
    raise ValueError("give --data ROOT or both --blur and --sharp")
