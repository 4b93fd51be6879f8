"""Is the demo's gain dependable? Retrain the demo's translator for several seeds and thread counts.

For a demo folder (made first with `blur2blur demo --out DIR [--photos P]` when DIR holds none)
this trains the translator of the `cpu-small` preset (plus `--set` overrides) once per seed and
thread count, each in its own process with that many threads (OMP_NUM_THREADS), on the same
camera data, known-blur set K and known deblurrer, one run at a time. Each run is then scored
like the demo: PSNR (dB, RGB, uint8) against the ground truth of the demo's test scenes of the
known deblurrer applied directly, of T(y), and of Blur2Blur (deblurrer(T(y))); the mean |T(y) - y|
(0 = identity); the run's held-out check (train/translator_check.py): the identity's score, the
first check's and the exported one's, and whether it exported the trained weights or the
identity; and the first and last logged patch-statistics loss (means over `log_every` steps). The table ends with the minimum and median gain of
Blur2Blur over the direct deblurrer. Finished runs are reused (delete DIR/runs/robust_* to redo).

    python benchmarks/translator_robustness.py --out /tmp/robust_bundled
    python benchmarks/translator_robustness.py --out /tmp/robust_kodak --photos ../shared/data/sharp_kodak24
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def score_run(demo: Path, run: Path) -> dict:
    """Score the translator of `run` on the demo's test scenes (see the module doc)."""
    import numpy as np

    from blur2blur.infer.pipeline import DeblurPipeline
    from blur2blur.io import list_images, read_image
    from blur2blur.metrics.psnr import psnr

    deblurrer = demo / "runs" / "deblurrer_known" / "deblurrer"
    direct = DeblurPipeline.from_checkpoints(deblurrer, None, "cpu")
    b2b = DeblurPipeline.from_checkpoints(deblurrer, run / "translator", "cpu")
    rows: dict[str, list[float]] = {"direct": [], "T(y)": [], "Blur2Blur": []}
    moved = []
    for f in list_images(demo / "data" / "testA"):
        y, gt = read_image(f), read_image(demo / "data" / "testA_gt" / f.name)
        outs = b2b.run(y)
        rows["direct"].append(psnr(direct.run(y)["deblurred"], gt))
        rows["T(y)"].append(psnr(outs["translated"], gt))
        rows["Blur2Blur"].append(psnr(outs["deblurred"], gt))
        moved.append(float(np.abs(outs["translated"] - y).mean()))
    out = {k: statistics.fmean(v) for k, v in rows.items()}
    out["mean_abs_t_minus_y"] = statistics.fmean(moved)
    losses = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    swd = [r["loss/swd"] for r in losses if "loss/swd" in r]
    out["loss_first_last"] = [swd[0], swd[-1]] if swd else None
    check = run / "translator_check.json"
    out["check"] = None
    if check.is_file():
        report = json.loads(check.read_text())
        out["check"] = report["decision"] | {"first": report["history"][0]["score"]}
    return out


def worker(args) -> None:
    """One run in this process (its thread count set by the parent): train, score, write JSON."""
    import torch

    from blur2blur.train.config import TranslatorConfig
    from blur2blur.train.presets import make_config
    from blur2blur.train.translator import train_translator_on_layout

    torch.set_num_threads(args.threads)
    demo, run = Path(args.out), Path(args.run)
    cfg = make_config(TranslatorConfig, "cpu-small", args.set + [f"seed={args.seed}"])
    t0 = time.time()
    train_translator_on_layout(demo / "data", run, cfg, "cpu-small", "cpu", progress=False, overwrite=True,
                               known_set=Path(args.known_set) if args.known_set else demo / "known_blur_set")
    result = score_run(demo, run) | {"seed": args.seed, "threads": args.threads, "train_s": time.time() - t0}
    (run / "robustness.json").write_text(json.dumps(result, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="demo folder (made by `blur2blur demo` when it holds none)")
    ap.add_argument("--photos", help="sharp photos for a new demo folder (default: the bundled photos)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override of the translator's cpu-small config (repeatable)")
    ap.add_argument("--name", default="robust", help="run folders are DIR/runs/<name>_t<threads>_s<seed>")
    ap.add_argument("--known-set", help="another known-blur set K to train on (default: the demo's)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--run", help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        args.threads = args.threads[0]
        return worker(args)

    demo = Path(args.out)
    if not (demo / "runs" / "deblurrer_known" / "deblurrer.safetensors").is_file():
        from blur2blur.demo import run_demo

        print(f"no finished demo in {demo}: running `blur2blur demo` there first")
        run_demo(demo, args.photos, progress=False)
    results = []
    for threads in args.threads:
        for seed in args.seeds:
            run = demo / "runs" / f"{args.name}_t{threads}_s{seed}"
            if not (run / "robustness.json").is_file():
                env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
                cmd = [sys.executable, __file__, "--worker", "--out", str(demo), "--run", str(run),
                       "--seed", str(seed), "--threads", str(threads)] + [f"--set={s}" for s in args.set]
                cmd += ["--known-set", args.known_set] if args.known_set else []
                t0 = time.time()
                subprocess.run(cmd, env=env, check=True)
                print(f"  run {run.name}: {time.time() - t0:.0f} s", flush=True)
            results.append(json.loads((run / "robustness.json").read_text()))

    print(f"\ntranslator overrides: {' '.join(args.set) or '(none)'}; demo folder {demo}; "
          f"K {args.known_set or demo / 'known_blur_set'}")
    print("| threads | seed | direct | T(y) | Blur2Blur | Blur2Blur - direct | mean abs T(y)-y | check (x1e5): "
          "identity, first check -> exported (iteration) | exported | loss/swd first -> last (x1e5) | training (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    gains = []
    for r in results:
        gain = r["Blur2Blur"] - r["direct"]
        gains.append(gain)
        c = r["check"]
        check = (f"{c['identity'] * 1e5:.2f}, {c['first'] * 1e5:.2f} -> {c['score'] * 1e5:.2f} ({c['iteration']}) | "
                 f"{c['exported']}") if c else "- | -"
        loss = (f"{r['loss_first_last'][0] * 1e5:.2f} -> {r['loss_first_last'][1] * 1e5:.2f}"
                if r["loss_first_last"] else "-")
        print(f"| {r['threads']} | {r['seed']} | {r['direct']:.2f} | {r['T(y)']:.2f} | {r['Blur2Blur']:.2f} | "
              f"{gain:+.2f} | {r['mean_abs_t_minus_y']:.4f} | {check} | {loss} | {r['train_s']:.0f} |")
    print(f"\nBlur2Blur - direct over {len(gains)} runs: minimum {min(gains):+.3f} dB, "
          f"median {statistics.median(gains):+.3f} dB")


if __name__ == "__main__":
    main()
