"""`blur2blur export`: the fused translator + deblurrer as one ONNX or TorchScript file."""

from __future__ import annotations

import argparse

from blur2blur.cli.common import count

NAME = "export"


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, help="the fused translator + deblurrer as one ONNX or TorchScript file")
    p.add_argument("out", help="output file (.onnx or .pt)")
    p.add_argument("--deblurrer", help="deblurrer: our checkpoint, 'shipped' (the model inside the package) or an official file (with --official)")
    p.add_argument("--official", help="configuration of an official --deblurrer file")
    p.add_argument("--translator", help="translator checkpoint (omit: the deblurrer alone)")
    p.add_argument("--format", choices=["onnx", "torchscript"], default="onnx")
    p.add_argument("--opset", type=count(13), default=17, help="ONNX opset (default 17)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")


def run(args: argparse.Namespace) -> int:
    from blur2blur.infer.export import export_pipeline

    if not (args.deblurrer or args.translator):
        raise ValueError("give --deblurrer and/or --translator to export")
    out = export_pipeline(args.deblurrer, args.out, args.translator, args.format, args.official, args.opset,
                          overwrite=args.overwrite)
    print(f"wrote {out} ({args.format}; input `image` N x 3 x H x W in [0,1], any H, W >= 16)")
    return 0
