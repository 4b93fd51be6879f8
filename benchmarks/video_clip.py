"""Deblur a simulated handheld clip three ways and score it: PSNR per frame and the flicker index.

For a finished demo folder (`blur2blur demo --out DIR`), this simulates a clip of `--photo` with
the demo's camera (`unknown` profile; blur lengths as for the demo's 96 px scenes, `--blur-size`)
and deblurs it with the demo's known deblurrer directly, with Blur2Blur (the demo's translator,
or `--translator`) and with the upper bound (the deblurrer trained on the camera's own pairs),
each through `blur2blur.video.deblur.deblur_video` (decode, networks, H.264 encode). It prints,
against the clip's ground truth: mean PSNR (dB, RGB, uint8) over frames, the flicker index
(metrics/flicker.py: frame-to-frame change of the output over that of the ground truth; 1 = as
steady as the scene) and the processing frames per second.

    python benchmarks/video_clip.py demo_out --photo ../shared/data/sharp_kodak24/kodim05.png
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("demo_dir", help="output folder of `blur2blur demo`")
    ap.add_argument("--photo", required=True, help="the sharp photo the clip is made of")
    ap.add_argument("--translator", help="translator stem (default DIR/runs/translator/translator)")
    ap.add_argument("--out", help="where the clip and results go (default DIR/video_clip)")
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--size", default="256x192")
    ap.add_argument("--blur-size", type=int, default=96)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()

    from blur2blur.infer.pipeline import DeblurPipeline
    from blur2blur.video.deblur import deblur_video, score_clip
    from blur2blur.video.simulate import simulate_clip

    root = Path(args.demo_dir)
    out = Path(args.out) if args.out else root / "video_clip"
    width, height = (int(v) for v in args.size.split("x"))
    clip = out / "clip"
    if not (clip / "clip.json").is_file():
        simulate_clip(args.photo, clip, "unknown", args.frames, width, height, seed=args.seed,
                      blur_size=args.blur_size, progress=False, overwrite=True)
    runs = root / "runs"
    translator = args.translator or runs / "translator" / "translator"
    pipes = {"direct": DeblurPipeline.from_checkpoints(runs / "deblurrer_known" / "deblurrer", None, args.device),
             "Blur2Blur": DeblurPipeline.from_checkpoints(runs / "deblurrer_known" / "deblurrer", translator,
                                                          args.device),
             "upper bound": DeblurPipeline.from_checkpoints(runs / "deblurrer_camera" / "deblurrer", None,
                                                            args.device)}
    rows = {"input": score_clip(clip / "clip.mp4", clip / "gt") | {"fps": None}}
    for name, pipe in pipes.items():
        result = deblur_video(pipe, clip / "clip.mp4", out / f"{name.replace(' ', '_')}.mp4", progress=False,
                              overwrite=True)
        rows[name] = score_clip(result["path"], clip / "gt") | {"fps": result["fps"]}
    print(f"\nclip: {args.frames} frames of {width}x{height} from {args.photo} (blur as for {args.blur_size} px "
          f"scenes), demo networks of {root}")
    print("| method | PSNR (dB, mean over frames) | worst frame PSNR | flicker index | frames/s |")
    print("|---|---|---|---|---|")
    for name, r in rows.items():
        fps = f"{r['fps']:.2f}" if r["fps"] else "-"
        print(f"| {name} | {r['psnr']:.2f} | {min(r['psnr_per_frame']):.2f} | {r['flicker']:.3f} | {fps} |")
    print(f"(median frame PSNR: " + ", ".join(f"{k} {statistics.median(v['psnr_per_frame']):.2f}"
                                               for k, v in rows.items()) + ")")


if __name__ == "__main__":
    main()
