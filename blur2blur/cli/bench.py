"""`blur2blur bench`: the paper's Table 2 and ablations on simulated cameras, with an HTML report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from blur2blur.cli.common import count

NAME = "bench"


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, help="the paper's Table 2 and ablations on simulated cameras, with an HTML report")
    p.add_argument("--photos", help="folder of sharp colour photos (default: photos bundled with scikit-image)")
    p.add_argument("--out", default="bench_out", help="output folder (default bench_out); rerun to resume")
    p.add_argument("--preset", default="cpu-small",
                   help="config preset of every network: cpu-small (default) or cpu-medium (about 4x its compute)")
    from blur2blur.bench import PARTS

    p.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS, help="parts to run (default all)")
    p.add_argument("--tesseract", help="Tesseract executable for the ocr part (default: tesseract on PATH)")
    p.add_argument("--skip-bad", action="store_true", help="leave out photos that cannot be read (each is named)")
    p.add_argument("--tile", type=count(16), default=96, help="side (px) of the scenes cut from each photo")
    p.add_argument("--seed", type=count(0), default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--no-progress", action="store_true")
    for kind in ("deblurrer", "translator", "unpaired"):
        p.add_argument(f"--set-{kind}", action="append", default=[], metavar="KEY=VALUE",
                       help=f"override the {kind} config of every run")


def run(args: argparse.Namespace) -> int:
    from blur2blur.bench.runner import run_bench
    from blur2blur.metrics.ocr import OCRUnavailable

    try:
        run_bench(args.out, args.photos, args.preset, tuple(args.parts), args.tile, args.seed, args.device,
                  not args.no_progress, {"deblurrer": args.set_deblurrer, "translator": args.set_translator,
                                         "unpaired": args.set_unpaired}, tesseract=args.tesseract,
                  skip_bad=args.skip_bad)
    except OCRUnavailable as exc:  # (only when ocr was the only part asked for)
        print(f"blur2blur bench: error: {exc}", file=sys.stderr)
        return 1
    print(f"report: {Path(args.out) / 'report' / 'index.html'}")
    return 0
