"""GPU check of the real-scale recipes: speed, memory and whether the discriminator separates the sets.

On CUDA, this trains the `official` and `paper` translator recipes for `--steps` steps each on
the bundled demo data (the camera's B against K made by the simulator's known profile, in scenes
of `--tile` px), under bfloat16 autocast (`amp=bf16`; `paper` at its batch of 16), and prints per
recipe: steps per second, peak GPU memory, and every `--every` steps the discriminator's mean
logit on K and on T(B) (a D that learns scores K above T(B)); then the frames per second of
translator (MIMO-UNet) + NAFNet-32 inference at 1280x720 (`amp=auto`). Random initial weights;
`paper` uses K from the simulator (its own recipe makes K online with a trained kernel network)
and, without VGG19 ImageNet weights on disk, random VGG19 features (same cost).

    python benchmarks/gpu_check.py                      # on a CUDA machine (about 5 minutes on an H100)
    python benchmarks/gpu_check.py --device cpu --steps 2 --crop 64 --batch 2 --size 128x96 --tile 96   # smoke test

Without CUDA (and without --device cpu) it exits with a message saying so.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_check(preset: str, data: Path, known: Path, device: torch.device, steps: int, every: int,
                crop: int | None, batch: int | None) -> dict:
    from blur2blur.data.augment import Augment
    from blur2blur.data.datasets import UnpairedCrops
    from blur2blur.data.sampling import SeededBatches
    from blur2blur.io import list_images
    from blur2blur.train.config import TranslatorConfig
    from blur2blur.train.presets import make_config
    from blur2blur.train.translator_trainer import TranslatorTrainer

    over = ["amp=bf16", f"iters={max(steps, 2)}", f"decay_start={max(steps, 2)}", "k_source=simulate"]
    over += [f"crop={crop}"] if crop else []
    over += [f"batch={batch}"] if batch else []
    if preset == "paper":
        over += ["perc_weights=random"]
    cfg = make_config(TranslatorConfig, preset, over)
    aug = Augment(hflip=cfg.hflip, vflip=cfg.vflip, rot90=cfg.rot90, jitter=cfg.jitter)
    b = SeededBatches(UnpairedCrops(list_images(data / "trainA"), cfg.crop, augment=aug), cfg.batch, 0)
    k = SeededBatches(UnpairedCrops(list_images(known), cfg.crop, augment=aug), cfg.batch, 1)
    trainer = TranslatorTrainer(cfg, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    logits = []
    times = []
    for it in range(steps):
        yb, yk = next(b)["image"].to(device), next(k)["image"].to(device)
        _sync(device)
        t0 = time.perf_counter()
        trainer.step(yb, yk, it)
        _sync(device)
        times.append(time.perf_counter() - t0)
        if (it + 1) % every == 0 or it + 1 == steps:
            with torch.no_grad():
                t = trainer.T(yb)[-1].float()
                logits.append((it + 1, trainer.D(yk).float().mean().item(), trainer.D(t).float().mean().item()))
    warm = times[1:] if len(times) > 1 else times
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return {"preset": preset, "batch": cfg.batch, "crop": cfg.crop, "steps_per_s": 1 / statistics.median(warm),
            "peak_gib": peak, "logits": logits}


def inference_check(device: torch.device, w: int, h: int, frames: int = 10) -> float:
    from blur2blur.infer.pipeline import DeblurPipeline
    from blur2blur.nets import build_network

    torch.manual_seed(0)
    tra = build_network("mimo_unet", base_channel=32, num_res=8)
    deb = build_network("nafnet", width=32, enc_blk_nums=[1, 1, 1, 28], middle_blk_num=1, dec_blk_nums=[1, 1, 1, 1])
    pipe = DeblurPipeline(deb, tra, device=device, amp="auto", tile=0)
    y = torch.rand(1, 3, h, w, device=device)
    pipe.run_tensor(y)  # (warm-up)
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(frames):
        pipe.run_tensor(y)
    _sync(device)
    return frames / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--steps", type=int, default=600, help="training steps per recipe (default 600)")
    ap.add_argument("--every", type=int, default=200, help="print D's logits every this many steps")
    ap.add_argument("--crop", type=int, help="override the presets' crop (default: theirs, 256)")
    ap.add_argument("--batch", type=int, help="override the presets' batch (default: theirs, 1 and 16)")
    ap.add_argument("--tile", type=int, default=256, help="scene size cut from the bundled photos")
    ap.add_argument("--size", default="1280x720", help="inference frame size WxH")
    ap.add_argument("--presets", nargs="+", default=["official", "paper"])
    args = ap.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu_check: no CUDA device here (torch.cuda.is_available() is False); run it on a GPU machine, "
                 "or pass --device cpu for a (slow) smoke test")

    from blur2blur.known_blur.images import build_known_blur_set
    from blur2blur.demo import bundled_photos
    from blur2blur.simulate import make_dataset

    folder = Path(tempfile.mkdtemp(prefix="b2b-gpu-check-"))
    make_dataset(bundled_photos(), folder / "data", tile=args.tile, seed=0, progress=False)
    build_known_blur_set(folder / "data" / "trainB", folder / "K", "known", variants=2, progress=False)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {name} | torch {torch.__version__} | {args.steps} steps per recipe, amp=bf16")
    rows = [train_check(p, folder / "data", folder / "K", device, args.steps, args.every, args.crop, args.batch)
            for p in args.presets]
    print("\n| recipe | batch x crop | steps/s | peak GPU memory (GiB) | D(K) / D(T(B)) by step |")
    print("|---|---|---|---|---|")
    for r in rows:
        logit = "; ".join(f"{s}: {a:+.3f} / {b:+.3f}" for s, a, b in r["logits"])
        peak = f"{r['peak_gib']:.1f}" if r["peak_gib"] is not None else "-"
        print(f"| {r['preset']} | {r['batch']} x {r['crop']} | {r['steps_per_s']:.2f} | {peak} | {logit} |")
    w, h = (int(v) for v in args.size.split("x"))
    fps = inference_check(device, w, h, frames=10 if device.type == "cuda" else 1)
    print(f"\ninference, translator (MIMO-UNet) + NAFNet-32 at {w}x{h}, amp=auto: {fps:.2f} frames/s")


if __name__ == "__main__":
    main()
