"""Does bfloat16 training cost quality? float32 vs bfloat16 runs of the same seeds, same data.

For a finished demo folder (`blur2blur demo --out DIR`) this trains the demo's camera deblurrer
(cpu-small NAFNet on the camera's own pairs, data/trainA -> data/trainA_gt) with `amp=none` and
`amp=bf16` for each seed, into DIR/runs/amp_<amp>_s<seed>, and prints per run: wall time, the
training PSNR (dB, mean of the last `--tail` logged values) and the test PSNR (dB, RGB,
uint8-rounded, on data/testA against data/testA_gt, every model evaluated the same way in
float32). It then compares the logged training-PSNR curves: the mean absolute difference between
float32 and bfloat16 runs of one seed, against that between two seeds of one precision (the
run-to-run spread). bfloat16 costs nothing when the first is not larger than the second.

    python benchmarks/amp_quality.py demo_out --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from pathlib import Path


def curve(run: Path) -> list[float]:
    return [r["train/psnr"] for r in map(json.loads, (run / "log.jsonl").read_text().splitlines())]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("demo_dir", help="output folder of `blur2blur demo`")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override of the deblurrer's cpu-small config (repeatable)")
    ap.add_argument("--tail", type=int, default=4, help="logged points averaged for the final training PSNR")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()

    from blur2blur.infer.pipeline import DeblurPipeline
    from blur2blur.io import list_images, read_image
    from blur2blur.metrics.psnr import psnr
    from blur2blur.perf import configure_threads
    from blur2blur.train.config import DeblurrerConfig
    from blur2blur.train.presets import make_config
    from blur2blur.train.deblurrer import train_deblurrer

    configure_threads()
    data = Path(args.demo_dir) / "data"
    tests = list_images(data / "testA")
    if not tests:
        raise SystemExit(f"error: {args.demo_dir} is not a finished demo folder")
    curves: dict[tuple[str, int], list[float]] = {}
    print("| amp | seed | train s | train PSNR (last logs) | test PSNR |")
    print("|---|---|---|---|---|")
    for seed, amp in itertools.product(args.seeds, ("none", "bf16")):
        cfg = make_config(DeblurrerConfig, "cpu-small", args.set + [f"amp={amp}", f"seed={seed}"])
        run = Path(args.demo_dir) / "runs" / f"amp_{amp}_s{seed}"
        t0 = time.time()
        ckpt = train_deblurrer(data / "trainA", data / "trainA_gt", run, cfg, "cpu-small", args.device,
                               progress=False)
        train_s = time.time() - t0
        pipe = DeblurPipeline.from_checkpoints(ckpt, None, args.device, amp="none", tile=0)
        test = statistics.fmean(psnr(pipe.run(read_image(f))["deblurred"], read_image(data / "testA_gt" / f.name))
                                for f in tests)
        curves[(amp, seed)] = curve(run)
        final = statistics.fmean(curves[(amp, seed)][-args.tail:])
        print(f"| {amp} | {seed} | {train_s:.0f} | {final:.2f} | {test:.2f} |", flush=True)

    def gap(a: list[float], b: list[float]) -> float:
        return statistics.fmean(abs(x - y) for x, y in zip(a, b))

    across_amp = [gap(curves[("none", s)], curves[("bf16", s)]) for s in args.seeds]
    across_seed = [gap(curves[(amp, s)], curves[(amp, t)]) for amp in ("none", "bf16")
                   for s, t in itertools.combinations(args.seeds, 2)]
    print(f"\nmean |PSNR curve difference| (dB, {len(curves[('none', args.seeds[0])])} logged points): "
          f"float32 vs bfloat16, same seed: {statistics.fmean(across_amp):.3f} "
          f"(per seed {', '.join(f'{g:.3f}' for g in across_amp)}); "
          + (f"two seeds, same precision: {statistics.fmean(across_seed):.3f}" if across_seed else
             "give two or more seeds for the run-to-run spread"))


if __name__ == "__main__":
    main()
