"""Command line: parse arguments, then call the library. Every command is a library function too."""

from __future__ import annotations

import argparse
import errno
import json
import math
import os
import sys
from pathlib import Path


def _add_train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="run folder (config, logs, checkpoints)")
    p.add_argument("--preset", default="cpu-small",
                   help="cpu-small (default), cpu-medium (not train-kernels), official or paper")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set iters=2000 --set lr=1e-4 (repeatable)")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:1, ...")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--resume", action="store_true",
                   help="continue from the newest good checkpoint in --out/checkpoints")
    p.add_argument("--overwrite", action="store_true",
                   help="delete the run already in --out (checkpoints, log, config, models) and start anew")


def _count(minimum: int):
    """argparse type: a whole number >= `minimum` (the error names the value and the bound)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value
    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _tile_arg(text: str):
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto or a whole number of pixels, got {text!r}") from None
    if value < 0 or value % 16:
        raise argparse.ArgumentTypeError(f"tile must be 0 or a positive multiple of 16, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="blur2blur",
        description="Camera-specific deblurring from unpaired data (Blur2Blur, CVPR 2024).",
    )
    parser.add_argument("--debug", action="store_true",
                        help="show full tracebacks (also with the environment variable BLUR2BLUR_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("check-data", help="validate a dataset layout and report every problem")
    p.add_argument("root", help="folder with trainA, trainB, trainC, trainD, testA[, testA_gt]")
    p.add_argument("--crop", type=_count(1), default=256, help="training crop size to check against")
    p.add_argument("--quick", action="store_true", help="read headers only (no full decode)")

    p = sub.add_parser("simulate", help="render what a camera profile would capture")
    p.add_argument("input", nargs="?", help="a sharp image or a folder of them")
    p.add_argument("out", nargs="?", help="output folder")
    p.add_argument("--profile", default="unknown", help="shipped profile name or a YAML path")
    p.add_argument("--seed", type=_count(0), default=0)
    p.add_argument("--no-motion", action="store_true", help="the camera's sharp capture")
    p.add_argument("--no-noise", action="store_true", help="no sensor noise")
    p.add_argument("--list-profiles", action="store_true", help="list shipped profiles and exit")

    p = sub.add_parser("make-dataset", help="build a full dataset layout from sharp photos")
    p.add_argument("photos", help="folder of sharp photos")
    p.add_argument("out", help="dataset root to create")
    p.add_argument("--known", default="known", help="known-domain camera profile")
    p.add_argument("--unknown", default="unknown", help="the target camera's profile")
    p.add_argument("--ratio", default="0.6:0.4", help="B:S split of the camera's training scenes")
    p.add_argument("--tile", type=_count(8), default=None, help="cut photos into NxN tiles first")
    p.add_argument("--seed", type=_count(0), default=0)
    p.add_argument("--overwrite", action="store_true",
                   help="delete the images already in OUT's split folders instead of refusing")
    p.add_argument("--skip-bad", action="store_true",
                   help="leave out photos that cannot be read (each is named) instead of failing")

    p = sub.add_parser("prepare", help="captures (videos or image folders) of your camera to a dataset layout")
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
    g.add_argument("--every", type=_count(1), default=1, help="keep every N-th frame (default 1)")
    g.add_argument("--fps", type=_positive_float, help="keep this many frames per second of video")
    p.add_argument("--max-frames", type=_count(1), help="at most this many frames per video")
    p.add_argument("--long-side", type=_count(16), help="shrink frames to this longer side (px)")
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
    p.add_argument("--seed", type=_count(0), default=0)
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    p.add_argument("--no-progress", action="store_true")

    p = sub.add_parser("simulate-video", help="a simulated handheld clip of a photo, with ground truth")
    p.add_argument("photo", help="a sharp photo")
    p.add_argument("out", help="output folder (clip.mp4, sharp.mp4, gt/, clip.json)")
    p.add_argument("--profile", default="unknown", help="camera profile (shipped name or YAML path)")
    p.add_argument("--frames", type=_count(2), default=48)
    p.add_argument("--size", default="256x192", help="frame size WxH (even numbers)")
    p.add_argument("--fps", type=_positive_float, default=24.0)
    p.add_argument("--blur-size", type=_count(16),
                   help="take the profile's blur lengths as for an image of this longer side (px)")
    p.add_argument("--audio", action="store_true", help="add a quiet audio track")
    p.add_argument("--seed", type=_count(0), default=0)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--no-progress", action="store_true")

    p = sub.add_parser("known-set", help="build the known-blur set K (from the camera's sharp images, or "
                       "from the known domain's blurry images with --from-known)")
    p.add_argument("sharp", help="the camera's sharp images (trainB)")
    p.add_argument("out", help="output folder for K")
    p.add_argument("--profile", default="known", help="known-domain camera profile (simulated K)")
    p.add_argument("--from-known", metavar="DIR",
                   help="take K from the known domain's own blurry images (e.g. ROOT/trainC) instead of "
                        "simulating the known blur on SHARP")
    p.add_argument("--match-noise", action="store_true",
                   help="give K fresh grain of the camera's level, estimated from SHARP")
    p.add_argument("--variants", type=_count(1), default=4, help="blur (or grain) draws per image")
    p.add_argument("--seed", type=_count(0), default=0)

    p = sub.add_parser("train-deblurrer", help="train a NAFNet deblurrer on paired images, or on sharp "
                       "photos blurred on the fly by a camera (--preset shipped: the shipped model's recipe)")
    p.add_argument("--data", help="dataset root: uses trainC (blurry) / trainD (sharp); with "
                   "--set synthesis=linear|bsrgan|rsblur or camera=PROFILE, trainB (sharp) blurred on the fly")
    p.add_argument("--blur", help="folder of blurry images (instead of --data)")
    p.add_argument("--sharp", nargs="+", help="folder of sharp images matched by file stem; with a camera or "
                   "synthesis, one or more folders of sharp photos")
    _add_train_args(p)

    p = sub.add_parser("train-translator", help="train the blur translator T (B -> known blur)")
    p.add_argument("--data", required=True, help="dataset root (trainA = B, trainB = S)")
    p.add_argument("--known-set", help="folder of the known-blur set K (default: built from trainB "
                   "according to k_source: auto | simulate | known | estimated | transfer | online)")
    _add_train_args(p)

    p = sub.add_parser("train-unpaired", help="baseline: CycleGAN or DualGAN from the camera's B to its S")
    p.add_argument("--data", required=True, help="dataset root (trainA = B, trainB = S)")
    _add_train_args(p)
    p.epilog = "method: --set method=cyclegan (default) or --set method=dualgan"

    p = sub.add_parser("kernels", help="blur kernel space (bkse): train F/G, transfer blur, blind deblur")
    ksub = p.add_subparsers(dest="kernels_command", required=True, metavar="KERNELS_COMMAND")
    q = ksub.add_parser("train", help="train the kernel extractor F and blur operator G on pairs")
    q.add_argument("--data", help="dataset root: uses trainC (blurry) / trainD (sharp)")
    q.add_argument("--blur", help="folder of blurry images (instead of --data)")
    q.add_argument("--sharp", help="folder of sharp images matched by file stem")
    _add_train_args(q)
    q = ksub.add_parser("transfer", help="build the known-blur set K by blur transfer (G(x_hat, F(x, y)))")
    q.add_argument("--wizard", required=True, help="kernel network: our checkpoint stem or an official .pth")
    q.add_argument("--data", help="dataset root: targets trainB, known pairs trainC/trainD")
    q.add_argument("--sharp", help="folder of sharp target images (instead of --data)")
    q.add_argument("--known-blur", help="folder of known-domain blurry images")
    q.add_argument("--known-sharp", help="folder of known-domain sharp images (matched by stem)")
    q.add_argument("--out", required=True, help="output folder (images + manifest.json)")
    q.add_argument("--variants", type=_count(1), default=1, help="kernels drawn per target image")
    q.add_argument("--seed", type=_count(0), default=0)
    q.add_argument("--max-side", type=_count(16), default=None, help="downscale targets to this long side")
    q.add_argument("--device", default="auto")
    q.add_argument("--no-progress", action="store_true")
    q = ksub.add_parser("deblur", help="blind deblurring with deep image priors in the kernel space (bkse Alg. 1)")
    q.add_argument("input", help="blurry image")
    q.add_argument("out", help="output image path (PNG)")
    q.add_argument("--wizard", required=True, help="kernel network: our checkpoint stem or an official .pth")
    q.add_argument("--iters", type=_count(1), default=5000,
                   help="joint iterations (default 5000: hours on a CPU, about 19-37 s per "
                        "megapixel-iteration; see docs/kernel_space.md)")
    q.add_argument("--seed", type=_count(0), default=0)
    q.add_argument("--save-kernel", action="store_true", help="also write the kernel map beside OUT")
    q.add_argument("--no-progress", action="store_true")
    q.add_argument("--device", default="auto")

    p = sub.add_parser("deblur", help="deblur an image, a folder of images or a video: deblurrer(translator(y))")
    p.add_argument("input", help="image file, folder of images, or video file")
    p.add_argument("out", help="output folder (images); for a video, the output video file (or a folder "
                   "to write INPUT's name into)")
    p.add_argument("--deblurrer",
                   help="deblurrer: our checkpoint (path without extension) or an official file (default: "
                   "'shipped', the model inside the package, for the known camera actioncam)")
    p.add_argument("--onnx", metavar="FILE", help="run an exported model (blur2blur export) with onnxruntime "
                   "instead of --deblurrer/--translator")
    p.add_argument("--official", help="configuration of an official --deblurrer file: "
                   "nafnet-gopro-width32 | nafnet-gopro-width64 | restormer-motion")
    p.add_argument("--tlc", action="store_true",
                   help="NAFNet test-time local converter (as in NAFNet's published GoPro scores)")
    p.add_argument("--translator", help="translator checkpoint; omit to apply the deblurrer directly")
    p.add_argument("--save-translated", action="store_true", help="also write T(y) to OUT/translated")
    p.add_argument("--device", default="auto")
    p.add_argument("--amp", default="auto", choices=["auto", "bf16", "none"],
                   help="bfloat16 autocast: auto (where the device runs it natively), bf16, none (float32)")
    p.add_argument("--tile", default="auto", type=_tile_arg,
                   help="auto (1024 px tiles above 1.5 MP), 0 (whole images) or a tile side in px "
                        "(multiple of 16)")
    p.add_argument("--tile-overlap", type=_count(0), default=64, help="feathered overlap of tiles in px")
    p.add_argument("--scale", type=_positive_float, default=1.0,
                   help="work at this fraction of the size (e.g. 0.5) for blur longer than the deblurrer's "
                   "range (the shipped model: 36 px); the change is enlarged back onto the input")
    p.add_argument("--crf", type=_count(0), default=18,
                   help="video: H.264 quality, 0 (lossless) .. 51 (default 18, visually lossless)")
    p.add_argument("--compare", action="store_true", help="video: write input | result side by side")
    p.add_argument("--frames", metavar="DIR", help="video: also write the result frames as PNGs to DIR")
    p.add_argument("--batch", type=_count(1), default=4, help="video: frames per network call")
    p.add_argument("--overwrite", action="store_true", help="video: replace an existing output video")
    p.add_argument("--no-progress", action="store_true")

    p = sub.add_parser("export", help="the fused translator + deblurrer as one ONNX or TorchScript file")
    p.add_argument("out", help="output file (.onnx or .pt)")
    p.add_argument("--deblurrer", help="deblurrer: our checkpoint, 'shipped' (the model inside the package) or an official file (with --official)")
    p.add_argument("--official", help="configuration of an official --deblurrer file")
    p.add_argument("--translator", help="translator checkpoint (omit: the deblurrer alone)")
    p.add_argument("--format", choices=["onnx", "torchscript"], default="onnx")
    p.add_argument("--opset", type=_count(13), default=17, help="ONNX opset (default 17)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")

    p = sub.add_parser("serve", help="a local web page to try the model on your photos and videos")
    p.add_argument("--deblurrer", help="deblurrer: our checkpoint or an official file (with --official); default: 'shipped', the model inside the package")
    p.add_argument("--official", help="configuration of an official --deblurrer file")
    p.add_argument("--tlc", action="store_true", help="NAFNet test-time local converter")
    p.add_argument("--translator", help="translator checkpoint")
    p.add_argument("--onnx", metavar="FILE", help="serve an exported model instead")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=_count(1), default=7860)
    p.add_argument("--max-mb", type=_positive_float, default=20.0, help="largest upload in MB (default 20)")
    p.add_argument("--max-pixels", type=_count(256), default=24_000_000,
                   help="largest image or video frame in pixels (default 24000000)")
    p.add_argument("--device", default="auto")
    p.add_argument("--amp", default="auto", choices=["auto", "bf16", "none"])
    p.add_argument("--tile", default="auto", type=_tile_arg)

    p = sub.add_parser("evaluate", help="PSNR, SSIM (both conventions), LPIPS vs ground truth; NIQE without it")
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

    p = sub.add_parser("bench", help="the paper's Table 2 and ablations on simulated cameras, with an HTML report")
    p.add_argument("--photos", help="folder of sharp colour photos (default: photos bundled with scikit-image)")
    p.add_argument("--out", default="bench_out", help="output folder (default bench_out); rerun to resume")
    p.add_argument("--preset", default="cpu-small",
                   help="config preset of every network: cpu-small (default) or cpu-medium (about 4x its compute)")
    from blur2blur.bench import PARTS

    p.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS, help="parts to run (default all)")
    p.add_argument("--tesseract", help="Tesseract executable for the ocr part (default: tesseract on PATH)")
    p.add_argument("--skip-bad", action="store_true", help="leave out photos that cannot be read (each is named)")
    p.add_argument("--tile", type=_count(16), default=96, help="side (px) of the scenes cut from each photo")
    p.add_argument("--seed", type=_count(0), default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--no-progress", action="store_true")
    for kind in ("deblurrer", "translator", "unpaired"):
        p.add_argument(f"--set-{kind}", action="append", default=[], metavar="KEY=VALUE",
                       help=f"override the {kind} config of every run")

    p = sub.add_parser("demo", help="end-to-end demo on bundled photos (about 6 minutes on 2 cores)")
    p.add_argument("--photos", help="folder of sharp colour photos (default: photos bundled with scikit-image)")
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--seed", type=_count(0), default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--tile", type=_count(16), default=96,
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
    return parser


TRAINING_COMMANDS = ("train-deblurrer", "train-translator", "train-unpaired", "kernels")


def _option_strings(parser: argparse.ArgumentParser) -> set[str]:
    """Every option string of `parser` and of its sub-commands."""
    found: set[str] = set()
    for action in parser._actions:
        found.update(action.option_strings)
        for sub in (getattr(action, "choices", None) or {}).values() if isinstance(action, argparse._SubParsersAction) else ():
            found |= _option_strings(sub)
    return found


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so that it cleans up as on Ctrl-C (partial files
    removed, locks released) and exits 143 with a message."""


def _terminate_as_interrupt():
    """Turn SIGTERM into `Terminated` in the main thread; returns the previous handler (or None)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise Terminated()

    return signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    """Run one command. Exit codes: 0 done; 1 the work failed (environment: disk, memory,
    permissions, device; a run that diverged; check-data found problems); 2 the request was wrong
    (bad option or config value, missing or bad input, an output that would overwrite an input);
    130 interrupted by Ctrl-C. Errors are one line without a traceback unless --debug or the
    environment variable BLUR2BLUR_DEBUG=1 asks for it (docs/reliability.md)."""
    from blur2blur.io import ImageReadError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        if exc.code == 2:  # (a file name that starts with '-' reads as an option)
            dashed = [a for a in (sys.argv[1:] if argv is None else argv)
                      if a.startswith("-") and len(a) > 1 and os.path.exists(a)]
            if dashed:
                print(f"blur2blur: note: {dashed[0]!r} is a file whose name starts with '-', which reads as an "
                      f"option: write it as ./{dashed[0]}, or put -- before the file names", file=sys.stderr)
            tokens = sys.argv[1:] if argv is None else list(argv)
            known = _option_strings(parser)
            for before, token in zip(tokens, tokens[1:]):
                if (token.startswith("-") and len(token) > 1 and token.split("=")[0] not in known
                        and not os.path.exists(token) and before in known and not _is_number(token)):
                    print(f"blur2blur: note: {token!r} reads as an option: to give it as the value of {before}, "
                          f"write {before}={token}", file=sys.stderr)
                    break
        raise
    from blur2blur.perf import configure_threads

    configure_threads()
    debug = args.debug or os.environ.get("BLUR2BLUR_DEBUG", "") not in ("", "0")
    prefix = f"blur2blur {args.command}: error:"
    previous = _terminate_as_interrupt()
    try:
        return _dispatch(args)
    except KeyboardInterrupt as exc:
        hint = (" Checkpoints are kept: run the same command with --resume to continue."
                if args.command in TRAINING_COMMANDS or args.command == "demo" else "")
        how = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        print(f"\nblur2blur {args.command}: {how}.{hint}", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    except (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError, FileExistsError,
            ImageReadError) as err:
        if debug:
            raise
        print(f"{prefix} {err}", file=sys.stderr)
        return 2
    except (FloatingPointError, ImportError) as err:  # (a diverged run; an optional package missing)
        if debug:
            raise
        print(f"{prefix} {err}", file=sys.stderr)
        return 1
    except PermissionError as err:
        if debug:
            raise
        print(f"{prefix} permission denied: {err.filename or err}: check its permissions (and its folder's) or "
              "choose another path", file=sys.stderr)
        return 1
    except OSError as err:
        if debug:
            raise
        what = {errno.ENOSPC: "the disk is full", errno.EROFS: "the file system is read-only",
                errno.EDQUOT: "the disk quota is exceeded"}.get(err.errno, err.strerror or str(err))
        where = f" writing {err.filename}" if err.filename else ""
        fix = ("choose an output path on a writable file system" if err.errno == errno.EROFS else
               "free space or choose another output path" if err.errno in (errno.ENOSPC, errno.EDQUOT) else
               "check the path and try again")
        print(f"{prefix} {what}{where}: {fix}", file=sys.stderr)
        return 1
    except (MemoryError, RuntimeError) as err:
        if debug:
            raise
        text = str(err)
        if isinstance(err, MemoryError) or "out of memory" in text.lower() or "can't allocate" in text.lower() \
                or "not enough memory" in text.lower():
            print(f"{prefix} out of memory: use a smaller --set crop / --set batch, or for deblur a smaller "
                  "--tile; on a GPU try --device cpu", file=sys.stderr)
            return 1
        print(f"{prefix} {text.splitlines()[0] if text else type(err).__name__} "
              "(run with --debug for the full traceback)", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            import signal

            signal.signal(signal.SIGTERM, previous)


def _dispatch(args: argparse.Namespace) -> int:
    cmd = args.command
    if getattr(args, "device", None) not in (None, "auto"):  # (a bad device fails before any work)
        from blur2blur.device import pick_device

        pick_device(args.device)
    if cmd == "check-data":
        from blur2blur.data.layout import check_layout

        report = check_layout(args.root, crop_size=args.crop, deep=not args.quick)
        print(report.format())
        return 0 if report.ok else 1

    if cmd == "simulate":
        from blur2blur.simulate import simulate_path, list_profiles

        if args.list_profiles:
            print("\n".join(list_profiles()))
            return 0
        if not (args.input and args.out):
            raise ValueError("simulate needs INPUT and OUT (or --list-profiles alone)")
        written = simulate_path(args.input, args.out, args.profile, seed=args.seed,
                                motion=not args.no_motion, noise=not args.no_noise)
        print(f"wrote {len(written)} image(s) to {args.out}")
        return 0

    if cmd == "make-dataset":
        from blur2blur.simulate import make_dataset

        try:
            b, s = (float(v) for v in args.ratio.split(":"))
        except ValueError:
            raise ValueError(f"--ratio must be two numbers B:S such as 0.6:0.4, got {args.ratio!r}") from None
        counts = make_dataset(args.photos, args.out, args.known, args.unknown, ratio=(b, s),
                              tile=args.tile, seed=args.seed, overwrite=args.overwrite,
                              skip_bad=args.skip_bad)
        print(json.dumps(counts, indent=1))
        return 0

    if cmd == "serve":
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

    if cmd == "export":
        from blur2blur.infer.export import export_pipeline

        if not (args.deblurrer or args.translator):
            raise ValueError("give --deblurrer and/or --translator to export")
        out = export_pipeline(args.deblurrer, args.out, args.translator, args.format, args.official, args.opset,
                              overwrite=args.overwrite)
        print(f"wrote {out} ({args.format}; input `image` N x 3 x H x W in [0,1], any H, W >= 16)")
        return 0

    if cmd == "prepare":
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

    if cmd == "simulate-video":
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

    if cmd == "known-set":
        from blur2blur.data.known_blur import build_known_blur_set, build_known_set_from_domain

        if args.from_known:
            written = build_known_set_from_domain(args.from_known, args.out,
                                                  args.sharp if args.match_noise else None, args.variants,
                                                  args.seed)
        else:
            written = build_known_blur_set(args.sharp, args.out, args.profile, args.variants, args.seed,
                                           match_noise=args.match_noise)
        print(f"wrote {len(written)} known-blur images to {args.out}")
        return 0

    if cmd == "train-deblurrer":
        from blur2blur.train.config import DeblurrerConfig, make_config
        from blur2blur.train.deblurrer import train_deblurrer

        cfg = make_config(DeblurrerConfig, args.preset, args.overrides)
        if cfg.camera or cfg.synthesis:  # (sharp photos blurred on the fly: a camera or a generic synthesis)
            if not (args.sharp or args.data):
                raise ValueError(f"{'camera' if cfg.camera else 'synthesis'} needs --sharp DIR [DIR ...] or "
                                 "--data ROOT (whose trainB is used)")
            blur, sharp = None, [Path(d) for d in args.sharp] if args.sharp else Path(args.data) / "trainB"
        else:
            if args.sharp and len(args.sharp) > 1:
                raise ValueError("paired training takes one --sharp folder (several only with a camera or synthesis)")
            blur, sharp = _layout_pair(args)
        ckpt = train_deblurrer(blur, sharp, args.out, cfg, preset=args.preset, device=args.device,
                               progress=not args.no_progress, resume=args.resume, overwrite=args.overwrite)
        print(f"deblurrer saved to {ckpt}.safetensors")
        return 0

    if cmd == "train-translator":
        from blur2blur.train.config import TranslatorConfig, make_config
        from blur2blur.train.translator import train_translator_on_layout

        cfg = make_config(TranslatorConfig, args.preset, args.overrides)
        ckpt = train_translator_on_layout(args.data, args.out, cfg, preset=args.preset,
                                          device=args.device, progress=not args.no_progress,
                                          resume=args.resume, overwrite=args.overwrite,
                                          known_set=args.known_set)
        print(f"translator saved to {ckpt}.safetensors")
        return 0

    if cmd == "train-unpaired":
        from blur2blur.train.config import UnpairedGANConfig, make_config
        from blur2blur.train.unpaired_gan import train_unpaired_gan

        cfg = make_config(UnpairedGANConfig, args.preset, args.overrides)
        ckpt = train_unpaired_gan(Path(args.data) / "trainA", Path(args.data) / "trainB", args.out, cfg,
                                  preset=args.preset, device=args.device, progress=not args.no_progress,
                                  resume=args.resume, overwrite=args.overwrite)
        print(f"{cfg.method} generator (B -> S) saved to {ckpt}.safetensors")
        return 0

    if cmd == "kernels":
        return _kernels(args)

    if cmd == "deblur":
        from blur2blur.infer.pipeline import DeblurPipeline
        from blur2blur.video.io import is_video, video_output

        src = Path(args.input)
        if src.is_symlink() and not src.exists():
            raise FileNotFoundError(f"the input {src} is a broken symbolic link (to {os.readlink(src)})")
        video_in = src.is_file() and is_video(src)
        video_out = video_output(args.out, src) if video_in else None  # (checked before models load)
        if video_in and args.save_translated:
            raise ValueError("--save-translated writes T(y) for images; for a video, --compare writes input | "
                             "result side by side")
        if src.is_dir():
            from blur2blur.io import list_images
            from blur2blur.video.io import list_videos

            videos = list_videos(src)
            if videos and not list_images(src):
                raise ValueError(f"{src} holds {len(videos)} video(s) and no image: give each video as the input "
                                 f"(blur2blur deblur {videos[0]} OUT)")
            if videos:
                print(f"note: {src} also holds {len(videos)} video(s) ({', '.join(v.name for v in videos[:3])}"
                      f"{', ...' if len(videos) > 3 else ''}), left out: deblur each video as its own input")
        if args.onnx:
            if args.deblurrer or args.translator or args.official or args.tlc:
                raise ValueError("--onnx runs an exported model: give it without --deblurrer/--translator/--official/"
                                 "--tlc (they are fixed at export)")
            from blur2blur.infer.export import OnnxPipeline

            if args.scale != 1:
                raise ValueError("--scale works with the PyTorch models, not with --onnx")
            pipe = OnnxPipeline(args.onnx, tile=args.tile, tile_overlap=args.tile_overlap)
        else:
            pipe = DeblurPipeline.from_checkpoints(args.deblurrer or "shipped", args.translator, device=args.device,
                                                   deblurrer_official=args.official, tlc=args.tlc,
                                                   amp=args.amp, tile=args.tile,
                                                   tile_overlap=args.tile_overlap, scale=args.scale)
        if video_in:
            from blur2blur.video.deblur import deblur_video

            result = deblur_video(pipe, args.input, video_out, crf=args.crf, compare=args.compare,
                                  frames_dir=args.frames, batch=args.batch, progress=not args.no_progress,
                                  overwrite=args.overwrite)
            print(f"wrote {result['path']}: {result['frames']} frames in {result['seconds']:.1f} s "
                  f"({result['fps']:.2f} frames/s)")
            return 0
        written = pipe.run_folder(args.input, args.out, save_translated=args.save_translated,
                                  progress=not args.no_progress)
        print(f"wrote {len(written)} image(s) to {args.out}")
        return 0

    if cmd == "evaluate":
        from blur2blur.metrics.evaluate import default_niqe_model, evaluate_folders, format_table, write_csv
        from blur2blur.outputs import atomic_write_text, guard_output

        from blur2blur.outputs import check_replaceable

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

    if cmd == "bench":
        from blur2blur.bench import run_bench

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

    if cmd == "demo":
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

    raise AssertionError(f"unhandled command {cmd}")


def _finite(obj):
    """`obj` with every non-finite float replaced by None (strict JSON has no Infinity or NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _layout_pair(args: argparse.Namespace) -> tuple[Path, Path]:
    if args.data:
        return Path(args.data) / "trainC", Path(args.data) / "trainD"
    if args.blur and args.sharp:
        sharp = args.sharp[0] if isinstance(args.sharp, list) else args.sharp
        return Path(args.blur), Path(sharp)
    raise ValueError("give --data ROOT or both --blur and --sharp")


def _kernels(args: argparse.Namespace) -> int:
    sub = args.kernels_command
    if sub == "train":
        from blur2blur.train.config import KernelConfig, make_config
        from blur2blur.train.kernels import train_kernels

        blur, sharp = _layout_pair(args)
        cfg = make_config(KernelConfig, args.preset, args.overrides)
        ckpt = train_kernels(blur, sharp, args.out, cfg, args.preset, args.device,
                             not args.no_progress, args.resume, args.overwrite)
        print(f"kernel network saved to {ckpt}.safetensors")
        return 0
    if sub == "transfer":
        from blur2blur.kernel_space import build_transferred_known_set

        if args.data:
            root = Path(args.data)
            sharp, kblur, ksharp = root / "trainB", root / "trainC", root / "trainD"
        elif args.sharp and args.known_blur and args.known_sharp:
            sharp, kblur, ksharp = Path(args.sharp), Path(args.known_blur), Path(args.known_sharp)
        else:
            raise ValueError("give --data ROOT or all of --sharp, --known-blur, --known-sharp")
        from blur2blur.outputs import guard_output

        guard_output(args.out, [sharp, kblur, ksharp], "output folder")
        written = build_transferred_known_set(args.wizard, sharp, kblur, ksharp, args.out,
                                              variants=args.variants, seed=args.seed,
                                              device=args.device, progress=not args.no_progress,
                                              max_side=args.max_side)
        print(f"wrote {len(written)} transferred images and manifest.json to {args.out}")
        return 0
    if sub == "deblur":
        from blur2blur.kernel_space.blind import deblur_file
        from blur2blur.outputs import guard_output

        guard_output(args.out, [args.input], "output image", folder=False)

        written = deblur_file(args.input, args.out, args.wizard, iters=args.iters, seed=args.seed,
                              save_kernel=args.save_kernel, device=args.device,
                              progress=not args.no_progress)
        print("wrote " + ", ".join(str(p) for p in written))
        return 0
    raise AssertionError(f"unhandled kernels command {sub}")
