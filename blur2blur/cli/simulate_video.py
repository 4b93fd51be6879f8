"""`blur2blur simulate-video`: a simulated handheld clip of a photo, with ground truth."""

from __future__ import annotations

import argparse

from blur2blur.cli.common import count, positive_float

NAME = "simulate-video"


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, help="a simulated handheld clip of a photo, with ground truth")
    p.add_argument("photo", help="a sharp photo")
    p.add_argument("out", help="output folder (clip.mp4, sharp.mp4, gt/, clip.json)")
    p.add_argument("--profile", default="unknown", help="camera profile (shipped name or YAML path)")
    p.add_argument("--frames", type=count(2), default=48)
    p.add_argument("--size", default="256x192", help="frame size WxH (even numbers)")
    p.add_argument("--fps", type=positive_float, default=24.0)
    p.add_argument("--blur-size", type=count(16),
                   help="take the profile's blur lengths as for an image of this longer side (px)")
    p.add_argument("--audio", action="store_true", help="add a quiet audio track")
    p.add_argument("--seed", type=count(0), default=0)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from blur2blur.video.simulate import simulate_clip

    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size must be WxH such as 256x192, got {args.size!r}") from None
    meta = simulate_clip(args.photo, args.out, args.profile, args.frames, width, height, args.fps, args.seed,
                         blur_size=args.blur_size, audio=args.audio, progress=not args.no_progress,
                         overwrite=args.overwrite)
    print(f"wrote {args.out}/clip.mp4 ({meta['n_frames']} frames of {width}x{height}) and its ground truth")
    return 0
