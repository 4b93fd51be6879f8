"""Throughput of one translator training iteration per preset and crop size.

Prints a table: preset, crop, batch, seconds per iteration (median of timed iterations after
warm-up), iterations/s and the process's peak resident memory. Each configuration runs in its own
subprocess so that peak memory is its own. Random perceptual weights are used (speed does not
depend on the weights, and the paper preset's VGG19 weights are not on PyPI); the `online` rows
add the bkse blur transfer (a frozen official-size kernel network) to every step.

    python benchmarks/train_speed.py                      # cpu-small and official, 64/128/256 px
    python benchmarks/train_speed.py --presets official --crops 256 --iters 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time


def run_one(preset: str, crop: int, iters: int, warmup: int, online: bool, batch: int | None) -> dict:
    import resource
    import warnings

    import torch

    from blur2blur.device import pick_device
    from blur2blur.train.config import TranslatorConfig, make_config
    from blur2blur.train.translator import TranslatorTrainer

    overrides = [f"crop={crop}", "perc_weights=random", "curriculum=false"]
    if batch:
        overrides.append(f"batch={batch}")
    cfg = make_config(TranslatorConfig, preset, overrides)
    device = pick_device("auto")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = TranslatorTrainer(cfg, device)
    wizard = None
    if online:
        from blur2blur.nets.kernel_space import KernelWizard

        wizard = KernelWizard().to(device).eval().requires_grad_(False)

    times = []
    for i in range(warmup + iters):
        b = torch.rand(cfg.batch, 3, crop, crop, device=device)
        k = torch.rand(cfg.batch, 3, crop, crop, device=device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        if wizard is not None:
            with torch.no_grad():
                k = wizard.transfer(k, k, k).clamp(0, 1)
        trainer.step(b, k, i)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if device.type == "cuda":
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    med = statistics.median(times)
    return {"preset": preset + ("+online" if online else ""), "crop": crop, "batch": cfg.batch,
            "device": device.type, "s_per_iter": med, "iter_per_s": 1 / med, "peak_mb": peak_mb,
            "threads": torch.get_num_threads()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", nargs="+", default=["cpu-small", "official"])
    ap.add_argument("--crops", nargs="+", type=int, default=[64, 128, 256])
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--batch", type=int, default=None, help="override every preset's batch")
    ap.add_argument("--online", action="store_true", help="also time the online blur transfer")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        preset, crop, online = args.child.split(":")
        print(json.dumps(run_one(preset, int(crop), args.iters, args.warmup, online == "1", args.batch)))
        return
    rows = []
    jobs = [(p, c, False) for p in args.presets for c in args.crops]
    if args.online:
        jobs += [(p, c, True) for p in args.presets for c in args.crops]
    for preset, crop, online in jobs:
        cmd = [sys.executable, __file__, "--child", f"{preset}:{crop}:{int(online)}",
               "--iters", str(args.iters), "--warmup", str(args.warmup)]
        if args.batch:
            cmd += ["--batch", str(args.batch)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{preset} {crop}: failed: {out.stderr.strip().splitlines()[-1]}", file=sys.stderr)
            continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print("| preset | crop | batch | device | threads | s/iter | iter/s | peak memory (MB) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['preset']} | {r['crop']} | {r['batch']} | {r['device']} | {r['threads']} | "
              f"{r['s_per_iter']:.3f} | {r['iter_per_s']:.2f} | {r['peak_mb']:.0f} |")


if __name__ == "__main__":
    main()
