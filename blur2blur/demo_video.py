"""The video demo: a shaky clip of the user's camera, deblurred three ways, as videos and a table.

1. Networks: the still demo's (blur2blur/demo.py) when `out` already holds them; otherwise the
   still demo is run first on the bundled photos other than the clip's, so that the clip's scene
   is never seen in training.
2. A handheld clip simulated from the clip photo (video/simulate.py): slow pan and zoom, each frame
   with the demo camera's own shake, noise and processing, blur as long as in the still demo's
   96 px scenes; the camera's ideal frames kept as ground truth.
3. The clip deblurred by the known deblurrer directly, by Blur2Blur and by the upper bound
   (video/deblur.py), scored per frame (PSNR) and for temporal stability (flicker index).
4. `video/compare.mp4` (input | Blur2Blur | ground truth), `video/report/` (table, per-frame PSNR
   plot), and the table printed.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

from blur2blur.demo import bundled_photos, run_demo
from blur2blur.infer.pipeline import DeblurPipeline
from blur2blur.io import list_images, read_image
from blur2blur.outputs.files import atomic_write_text
from blur2blur.video.deblur import deblur_video, score_clip
from blur2blur.video.io import VideoWriter, read_frames
from blur2blur.video.simulate import simulate_clip

CLIP_PHOTO = "coffee.png"  # (one of the bundled photos: a table top with cup, spoon and text-like detail)
NETWORKS = {"direct": ("known", None), "blur2blur": ("known", "translator"), "upper": ("camera", None)}
LABELS = {"input": "camera's shaky clip (no processing)", "direct": "known deblurrer applied directly",
          "blur2blur": "Blur2Blur: translator + known deblurrer",
          "upper": "deblurrer trained on the camera's own pairs (upper bound)"}


# What the video demo writes in OUT/video (and, with --overwrite, removes; nothing else).
VIDEO_OUTPUTS = ("clip", "input.mp4", "direct.mp4", "blur2blur.mp4", "upper.mp4", "compare.mp4", "report")


def _check_video_folder(video: Path, overwrite: bool) -> list[Path]:
    """Before any work: what of a previous video demo `--overwrite` will remove from `video`; a
    folder holding other files (the user's) is refused, and a previous demo without `overwrite`."""
    if not video.exists():
        return []
    if not video.is_dir():
        raise FileExistsError(f"{video} is a file: the video demo writes a folder there; choose another --out")
    entries = sorted(video.iterdir())
    foreign = [p for p in entries if p.name not in VIDEO_OUTPUTS]
    if foreign:
        raise FileExistsError(f"{video} holds files the video demo did not write ("
                              f"{', '.join(p.name for p in foreign[:5])}{', ...' if len(foreign) > 5 else ''}): "
                              "move them away or choose another --out (--overwrite never deletes them)")
    if entries and not overwrite:
        raise FileExistsError(f"{video} holds a previous video demo: pass --overwrite to replace it")
    return entries


def _networks(runs: Path) -> dict[str, str | Path] | None:
    """The still demo's networks in `runs` ({"known", "camera", "translator"}: checkpoint stems, the
    known one possibly "shipped"), as its networks.json records them; None when any is missing."""
    try:
        names = json.loads((runs / "networks.json").read_text())
    except (OSError, ValueError):
        return None
    stems = {k: v if v == "shipped" else runs / v for k, v in names.items()}
    ok = all(v == "shipped" or Path(str(v) + ".json").is_file() for v in stems.values())
    return stems if ok and set(stems) == {"known", "camera", "translator"} else None


def run_video_demo(out_dir: str | Path = "demo_out", clip_photo: str | Path | None = None, frames: int = 48,
                   width: int = 256, height: int = 192, fps: float = 24.0, device: str | None = "auto",
                   progress: bool = True, overwrite: bool = False, seed: int = 0,
                   photos: str | Path | None = None, demo_options: dict | None = None) -> dict:
    """Run the video demo into `out_dir/video` (see the module doc); returns the scores and timings.

    When `out_dir` holds no demo networks, the still demo trains them on `photos` (default: the
    bundled photos) without the clip's photo; `demo_options` are more keyword arguments of
    `run_demo` for that run (e.g. `tile`, `deblurrer_overrides`)."""
    t0 = time.time()
    out = Path(out_dir)
    runs = out / "runs"
    video = out / "video"
    photo = Path(clip_photo) if clip_photo else next(p for p in bundled_photos() if p.name == CLIP_PHOTO)
    timings: dict[str, float] = {}
    previous = _check_video_folder(video, overwrite)  # (before the still demo trains for minutes)
    nets = _networks(runs)
    if nets is not None:
        print(f"[video 1/4] reusing the demo's networks in {runs}")
        note = (f"The networks are the still demo's (`{runs}`); if it ran on the bundled photos, the clip's "
                f"photo ({photo.name}) was among them, cut into other 96 px scenes.")
    else:
        where = photos or "the bundled photos"
        print(f"[video 1/4] no demo networks in {out}: running the still demo on {where} other than "
              f"the clip's ({photo.name})")
        s = time.time()
        run_demo(out, photos, device=device, progress=progress, overwrite=overwrite, exclude=[photo.name],
                 **(demo_options or {}))
        timings["still demo (networks)"] = round(time.time() - s, 1)
        nets = _networks(runs)
        note = f"The networks were trained by the still demo on {where} other than {photo.name}."
    for p in _check_video_folder(video, overwrite) if previous else []:
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    s = time.time()
    print(f"[video 2/4] simulating a handheld clip of {photo.name} ({frames} frames of {width}x{height})")
    simulate_clip(photo, video / "clip", "unknown", frames, width, height, fps, seed=seed, blur_size=96,
                  progress=progress)
    timings["clip"] = round(time.time() - s, 1)
    clip, gt = video / "clip" / "clip.mp4", video / "clip" / "gt"
    scores = {"input": score_clip(clip, gt)}
    print("[video 3/4] deblurring the clip three ways")
    for name, (deb, tra) in NETWORKS.items():
        s = time.time()
        pipe = DeblurPipeline.from_checkpoints(nets[deb], nets[tra] if tra else None, device)
        result = deblur_video(pipe, clip, video / f"{name}.mp4", progress=progress)
        scores[name] = score_clip(video / f"{name}.mp4", gt)
        timings[name] = round(time.time() - s, 1)
        scores[name]["frames_per_s"] = result["fps"]
    print("[video 4/4] writing compare.mp4 and the report")
    _compare(clip, video / "blur2blur.mp4", gt, video / "compare.mp4", fps)
    timings["total"] = round(time.time() - t0, 1)
    table = _table(scores)
    report = video / "report"
    plot = _plot(scores, report / "psnr_per_frame.png")
    check = json.loads((runs / "translator" / "translator_check.json").read_text())["decision"] \
        if (runs / "translator" / "translator_check.json").is_file() else None
    atomic_write_text(report / "results.json", json.dumps({
        "scores": {k: {"psnr": v["psnr"], "flicker": v["flicker"], "psnr_per_frame": v["psnr_per_frame"]}
                   for k, v in scores.items()}, "timings_s": timings, "clip_photo": str(photo),
        "frames": frames, "size": [width, height], "translator_check": check}, indent=1))
    atomic_write_text(report / "README.md", "\n".join([
        "# blur2blur video demo", "", table, "",
        "Flicker index: the mean absolute change between consecutive frames of the output over that of the "
        "ground truth (1 = as steady as the scene; metrics/flicker.py).", "",
        f"`../compare.mp4`: input | Blur2Blur | ground truth. {note}", "",
        f"![PSNR per frame]({plot.name})" if plot else "(per-frame plot: install matplotlib)", "",
        f"Timings (s): {json.dumps(timings)}", ""]))
    print()
    print(table)
    print(f"\nvideos: {video}/compare.mp4 (input | Blur2Blur | ground truth), {video}/direct.mp4, "
          f"blur2blur.mp4, upper.mp4; report: {report}   total time: {timings['total']:.0f} s")
    return {"scores": scores, "timings_s": timings}


def _table(scores: dict) -> str:
    lines = ["| method | PSNR (dB, RGB, uint8; mean over frames) | worst frame | flicker index | frames/s |",
             "|---|---|---|---|---|"]
    for key, label in LABELS.items():
        s = scores[key]
        fps = f"{s['frames_per_s']:.1f}" if "frames_per_s" in s else "-"
        lines.append(f"| {label} | {s['psnr']:.2f} | {min(s['psnr_per_frame']):.2f} | {s['flicker']:.3f} | {fps} |")
    return "\n".join(lines)


def _compare(clip: Path, result: Path, gt: Path, out: Path, fps: float) -> None:
    """input | result | ground truth, side by side, as one video."""
    truth = list_images(gt)
    a, b = list(read_frames(clip)), list(read_frames(result))
    h, w = a[0].image.shape[:2]
    with VideoWriter(out, 3 * w + 8, h, fps, crf=16, time_base=a[0].time_base) as writer:
        gap = np.ones((h, 4, 3), np.float32)
        for x, y, t in zip(a, b, truth):
            writer.write(np.concatenate([x.image, gap, y.image, gap, read_image(t)], axis=1), pts=x.pts)


def _plot(scores: dict, path: Path) -> Path | None:
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for key, label in LABELS.items():
        ax.plot(scores[key]["psnr_per_frame"], label=label.split(":")[0].split(" (")[0])
    ax.set_xlabel("frame")
    ax.set_ylabel("PSNR (dB)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
