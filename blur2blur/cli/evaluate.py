"""`blur2blur evaluate`: PSNR, SSIM, LPIPS of a folder against ground truth, or NIQE without it."""

from __future__ import annotations

import argparse
import json
import math

NAME = "evaluate"


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, help="PSNR, SSIM (both conventions), LPIPS vs ground truth; NIQE without it")
    p.add_argument("pred", help="folder of images to evaluate")
    p.add_argument("gt", nargs="?", help="folder of ground truth, matched by file stem (omit for NIQE only)")
    p.add_argument("--no-lpips", action="store_true", help="skip LPIPS (on by default with ground truth)")
    p.add_argument("--lpips-trunk", help="torchvision vgg16-*.pth: with --lpips-heads, the standard LPIPS "
                   "instead of the offline ST-LPIPS")
    p.add_argument("--lpips-heads", help="LPIPS's vgg.pth (linear heads) for the standard LPIPS")
    p.add_argument("--niqe-model", help="NIQE pristine model (.npz with mu_pris_param, cov_pris_param); "
                   "default $BLUR2BLUR_NIQE_MODEL or an installed BasicSR's file; none: no NIQE")
    p.add_argument("--json", help="also write the results to this JSON file (strict JSON)")
    p.add_argument("--csv", help="also write one row per image (and the mean) to this CSV file")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --json/--csv file that blur2blur did not write")
    p.add_argument("--device", default="auto")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from blur2blur.metrics.evaluate import default_niqe_model, evaluate_folders, format_table, write_csv
    from blur2blur.outputs.files import atomic_write_text, check_replaceable, guard_output

    inputs = [args.pred] + ([args.gt] if args.gt else [])
    for out, what, kind in ((args.json, "JSON file", "json"), (args.csv, "CSV file", "csv")):
        if out:
            guard_output(out, inputs, what, folder=False)
            check_replaceable(out, kind, args.overwrite)
    lpips = None
    if args.gt and not args.no_lpips:
        from blur2blur.device import pick_device
        from blur2blur.metrics.lpips import LPIPS

        variant = "standard" if (args.lpips_trunk or args.lpips_heads) else "st"
        lpips = LPIPS(variant, trunk=args.lpips_trunk, heads=args.lpips_heads).to(pick_device(args.device))
    niqe_model = args.niqe_model or default_niqe_model()
    results = evaluate_folders(args.pred, args.gt, lpips=lpips, niqe_model=niqe_model,
                               progress=not args.no_progress)
    print(format_table(results))
    print("conventions: " + "; ".join(results["labels"][m] for m in results["metrics"]))
    if args.json:  # strict JSON: non-finite values (PSNR of identical images) are null
        atomic_write_text(args.json, json.dumps(_finite(results), indent=1, allow_nan=False))
    if args.csv:
        write_csv(results, args.csv)
    return 0


def _finite(obj):
    """`obj` with every non-finite float replaced by None (strict JSON has no Infinity or NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj
