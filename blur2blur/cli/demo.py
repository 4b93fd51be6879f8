"""`blur2blur demo`: the end-to-end demo on bundled photos (or, with --video, on a simulated shaky clip)."""

from __future__ import annotations

import argparse

from blur2blur.cli.common import count

NAME = "demo"


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, help="end-to-end demo on bundled photos (about 6 minutes on 2 cores)")
    p.add_argument("--photos", help="folder of sharp colour photos (default: photos bundled with scikit-image)")
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--seed", type=count(0), default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--tile", type=count(16), default=96,
                   help="side (px) of the scenes cut from each photo (default 96)")
    p.add_argument("--known-profile", default="actioncam",
                   help="camera profile (name or YAML) of the known domain (default actioncam, the project's "
                   "known camera, whose deblurrer ships in the package; another profile trains one)")
    p.add_argument("--camera-profile", default="unknown",
                   help="camera profile (name or YAML) of the user's camera (default unknown)")
    p.add_argument("--set-deblurrer", action="append", default=[], metavar="KEY=VALUE",
                   help="override the deblurrers' cpu-small config")
    p.add_argument("--set-translator", action="append", default=[], metavar="KEY=VALUE",
                   help="override the translator's cpu-small config")
    p.add_argument("--overwrite", action="store_true", help="replace a previous demo in --out")
    p.add_argument("--skip-bad", action="store_true", help="leave out photos that cannot be read (each is named)")
    p.add_argument("--video", action="store_true",
                   help="the video demo: a simulated shaky clip deblurred three ways, as videos and a table "
                        "(reuses the networks of a still demo in --out; OUT/video)")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from blur2blur.demo import run_demo

    if args.video:
        from blur2blur.demo_video import run_video_demo

        if args.photos:
            raise ValueError("--video makes its clip and data from the bundled photos; --photos is for the still demo")
        run_video_demo(args.out, device=args.device, progress=not args.no_progress, overwrite=args.overwrite,
                       seed=args.seed)
        return 0
    run_demo(out_dir=args.out, photos=args.photos, seed=args.seed, device=args.device,
             tile=args.tile, known_profile=args.known_profile, camera_profile=args.camera_profile,
             deblurrer_overrides=args.set_deblurrer, translator_overrides=args.set_translator,
             overwrite=args.overwrite, progress=not args.no_progress, skip_bad=args.skip_bad)
    return 0
