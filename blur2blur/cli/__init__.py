"""Command line: parse arguments, then call the library. Every command is a library function too.

Each command is a module of this package with `NAME`, `add_parser(sub)` (its flags) and `run(args)`
(its call of the library, whose heavy imports stay inside `run` so that `--help` is fast); the
shared error handling is in `errors`, the shared argparse types and flags in `common`.
"""

from __future__ import annotations

import argparse

from blur2blur.cli import (bench, check_data, deblur, demo, evaluate, export, kernels, known_set, make_dataset,
                           prepare, serve, simulate, simulate_video, train_deblurrer, train_translator,
                           train_unpaired)
from blur2blur.cli.errors import parse_args, run_guarded

# In the order of `blur2blur --help`.
COMMANDS = (check_data, simulate, make_dataset, prepare, simulate_video, known_set, train_deblurrer,
            train_translator, train_unpaired, kernels, deblur, export, serve, evaluate, bench, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="blur2blur",
        description="Camera-specific deblurring from unpaired data (Blur2Blur, CVPR 2024).",
    )
    parser.add_argument("--debug", action="store_true",
                        help="show full tracebacks (also with the environment variable BLUR2BLUR_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command. Exit codes: 0 done; 1 the work failed (environment: disk, memory,
    permissions, device; a run that diverged; check-data found problems); 2 the request was wrong
    (bad option or config value, missing or bad input, an output that would overwrite an input);
    130 interrupted by Ctrl-C, 143 by SIGTERM. Errors are one line without a traceback unless --debug
    or the environment variable BLUR2BLUR_DEBUG=1 asks for it (docs/reliability.md; blur2blur.cli.errors)."""
    args = parse_args(build_parser(), argv)
    from blur2blur.perf import configure_allocator, configure_threads

    configure_threads()
    configure_allocator()
    return run_guarded(args, _run)


def _run(args: argparse.Namespace) -> int:
    """The command's `run`, after a check of --device (a bad device fails before any work)."""
    if getattr(args, "device", None) not in (None, "auto"):
        from blur2blur.device import pick_device

        pick_device(args.device)
    for command in COMMANDS:
        if command.NAME == args.command:
            return command.run(args)
    raise AssertionError(f"unhandled command {args.command}")
