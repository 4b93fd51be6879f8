"""`blur2blur serve`: a local web page to try the model on your photos and videos."""

from __future__ import annotations

import argparse

from blur2blur.cli.common import count, positive_float, tile_arg

NAME = "serve"


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, help="a local web page to try the model on your photos and videos")
    p.add_argument("--deblurrer", help="deblurrer: our checkpoint or an official file (with --official); default: 'shipped', the model inside the package")
    p.add_argument("--official", help="configuration of an official --deblurrer file")
    p.add_argument("--tlc", action="store_true", help="NAFNet test-time local converter")
    p.add_argument("--translator", help="translator checkpoint")
    p.add_argument("--onnx", metavar="FILE", help="serve an exported model instead")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=count(1), default=7860)
    p.add_argument("--max-mb", type=positive_float, default=20.0, help="largest upload in MB (default 20)")
    p.add_argument("--max-pixels", type=count(256), default=24_000_000,
                   help="largest image or video frame in pixels (default 24000000)")
    p.add_argument("--device", default="auto")
    p.add_argument("--amp", default="auto", choices=["auto", "bf16", "none"])
    p.add_argument("--tile", default="auto", type=tile_arg)


def run(args: argparse.Namespace) -> int:
    from blur2blur.serve import check_limits, serve

    check_limits(args.max_mb, args.max_pixels)  # (before the model loads)
    if not 1 <= args.port <= 65535:
        raise ValueError(f"--port must be 1..65535, got {args.port}")

    if args.onnx:
        from blur2blur.infer.export import OnnxPipeline

        pipe = OnnxPipeline(args.onnx, tile=args.tile)
    else:
        from blur2blur.infer.pipeline import DeblurPipeline

        pipe = DeblurPipeline.from_checkpoints(args.deblurrer or "shipped", args.translator, args.device,
                                               deblurrer_official=args.official, tlc=args.tlc, amp=args.amp,
                                               tile=args.tile)
    serve(pipe, args.host, args.port, args.max_mb, args.max_pixels)
    return 0
