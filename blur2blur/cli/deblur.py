"""`blur2blur deblur`: deblur an image, a folder of images or a video with deblurrer(translator(y))."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from blur2blur.cli.common import count, positive_float, tile_arg

NAME = "deblur"


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, help="deblur an image, a folder of images or a video: deblurrer(translator(y))")
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
    p.add_argument("--tile", default="auto", type=tile_arg,
                   help="auto (1024 px tiles above 1.5 MP), 0 (whole images) or a tile side in px "
                        "(multiple of 16)")
    p.add_argument("--tile-overlap", type=count(0), default=64, help="feathered overlap of tiles in px")
    p.add_argument("--scale", type=positive_float, default=1.0,
                   help="work at this fraction of the size (e.g. 0.5) for blur longer than the deblurrer's "
                   "range (the shipped model: 36 px); the change is enlarged back onto the input")
    p.add_argument("--ensemble", type=int, choices=[1, 2, 4, 8], default=1,
                   help="average the deblurrer over 1 (off), 2, 4 or 8 flipped/transposed views of each image: "
                   "a higher PSNR for that many times the deblurrer's time (self-ensemble)")
    p.add_argument("--crf", type=count(0), default=18,
                   help="video: H.264 quality, 0 (lossless) .. 51 (default 18, visually lossless)")
    p.add_argument("--compare", action="store_true", help="video: write input | result side by side")
    p.add_argument("--frames", metavar="DIR", help="video: also write the result frames as PNGs to DIR")
    p.add_argument("--batch", type=count(1), default=4, help="video: frames per network call")
    p.add_argument("--overwrite", action="store_true", help="video: replace an existing output video")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
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
        _check_folder(src)
    pipe = _pipeline(args)
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


def _check_folder(src: Path) -> None:
    """Refuse a folder of videos alone; note the videos left out of a folder of images."""
    from blur2blur.io import list_images
    from blur2blur.video.io import list_videos

    videos = list_videos(src)
    if videos and not list_images(src):
        raise ValueError(f"{src} holds {len(videos)} video(s) and no image: give each video as the input "
                         f"(blur2blur deblur {videos[0]} OUT)")
    if videos:
        print(f"note: {src} also holds {len(videos)} video(s) ({', '.join(v.name for v in videos[:3])}"
              f"{', ...' if len(videos) > 3 else ''}), left out: deblur each video as its own input")


def _pipeline(args: argparse.Namespace):
    """The exported model of --onnx, or the PyTorch models (--deblurrer, default the shipped one)."""
    if args.onnx:
        if args.deblurrer or args.translator or args.official or args.tlc:
            raise ValueError("--onnx runs an exported model: give it without --deblurrer/--translator/--official/"
                             "--tlc (they are fixed at export)")
        from blur2blur.infer.export import OnnxPipeline

        if args.scale != 1 or args.ensemble != 1:
            raise ValueError("--scale and --ensemble work with the PyTorch models, not with --onnx")
        return OnnxPipeline(args.onnx, tile=args.tile, tile_overlap=args.tile_overlap)
    from blur2blur.infer.pipeline import DeblurPipeline

    return DeblurPipeline.from_checkpoints(args.deblurrer or "shipped", args.translator, device=args.device,
                                           deblurrer_official=args.official, tlc=args.tlc,
                                           amp=args.amp, tile=args.tile,
                                           tile_overlap=args.tile_overlap, scale=args.scale,
                                           ensemble=args.ensemble)
