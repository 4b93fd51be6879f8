"""`blur2blur check-data`: validate a dataset layout and report every problem."""

from __future__ import annotations

import argparse

from blur2blur.cli.common import count

NAME = "check-data"


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, help="validate a dataset layout and report every problem")
    p.add_argument("root", help="folder with trainA, trainB, trainC, trainD, testA[, testA_gt]")
    p.add_argument("--crop", type=count(1), default=256, help="training crop size to check against")
    p.add_argument("--quick", action="store_true", help="read headers only (no full decode)")


def run(args: argparse.Namespace) -> int:
    from blur2blur.data.layout import check_layout

    report = check_layout(args.root, crop_size=args.crop, deep=not args.quick)
    print(report.format())
    return 0 if report.ok else 1
