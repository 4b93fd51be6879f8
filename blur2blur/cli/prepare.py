"""`blur2blur prepare`: captures (videos or image folders) of your camera to a dataset layout."""

from __future__ import annotations

import argparse

from blur2blur.cli.common import count, positive_float

NAME = "prepare"


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, help="captures (videos or image folders) of your camera to a dataset layout")
    p.add_argument("--blurry", action="append", required=True, metavar="PATH",
                   help="a blurry video, a folder of videos or a folder of images (repeatable)")
    p.add_argument("--sharp", action="append", required=True, metavar="PATH",
                   help="a sharp video, a folder of videos or a folder of images (repeatable)")
    p.add_argument("--out", required=True, help="dataset root to create (trainA, trainB, trainC, trainD, testA)")
    p.add_argument("--known", help="a paired known set: trainC + trainD, or GoPro's SCENE/blur + SCENE/sharp "
                   "(linked, not copied); without it (and --known-profile) no known pairs: the project's known "
                   "camera is the known domain and its deblurrer ships in the package")
    p.add_argument("--known-profile", default="", help="simulate known pairs from a share of the sharp frames "
                   "with this profile (without --known)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--every", type=count(1), default=1, help="keep every N-th frame (default 1)")
    g.add_argument("--fps", type=positive_float, help="keep this many frames per second of video")
    p.add_argument("--max-frames", type=count(1), help="at most this many frames per video")
    p.add_argument("--long-side", type=count(16), help="shrink frames to this longer side (px)")
    p.add_argument("--dedup", type=float, default=0.01,
                   help="drop a frame whose 64 px grey thumbnail differs from the last kept one by less "
                        "than this mean absolute difference (a camera at rest; 0 = keep all; default 0.01)")
    p.add_argument("--test-videos", nargs="+", default=[], metavar="NAME",
                   help="blurry videos (file names or stems) whose frames form the test set")
    p.add_argument("--test-fraction", type=float, default=0.2,
                   help="share of the blurry videos held out whole as the test set (default 0.2)")
    p.add_argument("--check-labels", action="store_true",
                   help="list frames whose blur score contradicts their label")
    p.add_argument("--drop-mislabelled", action="store_true", help="leave those frames out")
    p.add_argument("--format", choices=["png", "jpg"], default="png", help="image format of the frames")
    p.add_argument("--seed", type=count(0), default=0)
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from blur2blur.video.prepare import PrepareOptions, prepare_dataset

    opts = PrepareOptions(every=args.every, fps=args.fps, max_frames=args.max_frames, long_side=args.long_side,
                          dedup=args.dedup, test_videos=args.test_videos, test_fraction=args.test_fraction,
                          known_profile=args.known_profile, check_labels=args.check_labels,
                          drop_mislabelled=args.drop_mislabelled, image_format=args.format, seed=args.seed)
    summary = prepare_dataset(args.blurry, args.sharp, args.out, args.known, opts,
                              progress=not args.no_progress, overwrite=args.overwrite)
    for src in summary["sources"]:
        print(f"{src['label']:6s} {src['name']}: {src['frames_written']} frames -> {src['split']}"
              f" ({src['duplicates_dropped']} near-duplicates dropped)")
    print("counts: " + ", ".join(f"{k} {v}" for k, v in summary["counts"].items()))
    check = summary["label_check"]
    if check:
        for rel, why in sorted(check["flagged"].items()):
            print(f"label check: {rel}: {why}")
        print(f"label check: {len(check['flagged'])} frame(s) flagged"
              + (" and left out" if args.drop_mislabelled else "") + (f"; {check['warning']}" if check["warning"] else ""))
    print(f"dataset written to {args.out} (manifest.json); next: blur2blur check-data {args.out}")
    return 0
