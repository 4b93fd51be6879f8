"""`blur2blur simulate`: render what a camera profile would capture."""

from __future__ import annotations

import argparse

from blur2blur.cli.common import count

NAME = "simulate"


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, help="render what a camera profile would capture")
    p.add_argument("input", nargs="?", help="a sharp image or a folder of them")
    p.add_argument("out", nargs="?", help="output folder")
    p.add_argument("--profile", default="unknown", help="shipped profile name or a YAML path")
    p.add_argument("--seed", type=count(0), default=0)
    p.add_argument("--no-motion", action="store_true", help="the camera's sharp capture")
    p.add_argument("--no-noise", action="store_true", help="no sensor noise")
    p.add_argument("--list-profiles", action="store_true", help="list shipped profiles and exit")


def run(args: argparse.Namespace) -> int:
    from blur2blur.simulate import simulate_path, list_profiles

    if args.list_profiles:
        print("\n".join(list_profiles()))
        return 0
    if not (args.input and args.out):
        raise ValueError("simulate needs INPUT and OUT (or --list-profiles alone)")
    written = simulate_path(args.input, args.out, args.profile, seed=args.seed,
                            motion=not args.no_motion, noise=not args.no_noise)
    print(f"wrote {len(written)} image(s) to {args.out}")
    return 0
