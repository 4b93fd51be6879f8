"""`blur2blur make-dataset`: build a full dataset layout from sharp photos by simulated cameras."""

from __future__ import annotations

import argparse
import json

from blur2blur.cli.common import count

NAME = "make-dataset"


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, help="build a full dataset layout from sharp photos")
    p.add_argument("photos", help="folder of sharp photos")
    p.add_argument("out", help="dataset root to create")
    p.add_argument("--known", default="known", help="known-domain camera profile")
    p.add_argument("--unknown", default="unknown", help="the target camera's profile")
    p.add_argument("--ratio", default="0.6:0.4", help="B:S split of the camera's training scenes")
    p.add_argument("--tile", type=count(8), default=None, help="cut photos into NxN tiles first")
    p.add_argument("--seed", type=count(0), default=0)
    p.add_argument("--overwrite", action="store_true",
                   help="delete the images already in OUT's split folders instead of refusing")
    p.add_argument("--skip-bad", action="store_true",
                   help="leave out photos that cannot be read (each is named) instead of failing")


def run(args: argparse.Namespace) -> int:
    from blur2blur.simulate import make_dataset

    try:
        b, s = (float(v) for v in args.ratio.split(":"))
    except ValueError:
        raise ValueError(f"--ratio must be two numbers B:S such as 0.6:0.4, got {args.ratio!r}") from None
    counts = make_dataset(args.photos, args.out, args.known, args.unknown, ratio=(b, s),
                          tile=args.tile, seed=args.seed, overwrite=args.overwrite,
                          skip_bad=args.skip_bad)
    print(json.dumps(counts, indent=1))
    return 0
