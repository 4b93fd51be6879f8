"""`blur2blur known-set`: build the known-blur set K (simulated on the sharp images, or from the known domain)."""

from __future__ import annotations

import argparse

from blur2blur.cli.common import count

NAME = "known-set"


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, help="build the known-blur set K (from the camera's sharp images, or "
                       "from the known domain's blurry images with --from-known)")
    p.add_argument("sharp", help="the camera's sharp images (trainB)")
    p.add_argument("out", help="output folder for K")
    p.add_argument("--profile", default="known", help="known-domain camera profile (simulated K)")
    p.add_argument("--from-known", metavar="DIR",
                   help="take K from the known domain's own blurry images (e.g. ROOT/trainC) instead of "
                        "simulating the known blur on SHARP")
    p.add_argument("--match-noise", action="store_true",
                   help="give K fresh grain of the camera's level, estimated from SHARP")
    p.add_argument("--variants", type=count(1), default=4, help="blur (or grain) draws per image")
    p.add_argument("--seed", type=count(0), default=0)


def run(args: argparse.Namespace) -> int:
    from blur2blur.known_blur.images import build_known_blur_set, build_known_set_from_domain

    if args.from_known:
        written = build_known_set_from_domain(args.from_known, args.out,
                                              args.sharp if args.match_noise else None, args.variants,
                                              args.seed)
    else:
        written = build_known_blur_set(args.sharp, args.out, args.profile, args.variants, args.seed,
                                       match_noise=args.match_noise)
    print(f"wrote {len(written)} known-blur images to {args.out}")
    return 0
