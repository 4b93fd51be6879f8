"""Retrain only the demo's translator, with config overrides, and score it like the demo does.

For a finished demo folder (``blur2blur demo --out DIR``) this trains T again on the demo's B
(``data/trainA``) against its known-blur set K (``known_blur_set``), into ``DIR/runs/<name>``,
then deblurs the test set with the demo's known deblurrer and prints, against the ground truth,
PSNR in dB (RGB, uint8-rounded) of: the input, the direct deblurrer, T(y), and Blur2Blur; and
the trained discriminator's mean full-resolution logit on the test inputs y, on T(y), on y
smoothed by a Gaussian of std `--sigma` px (a hand-made translator that only smooths the grain)
and on K (a D that separates the sets scores K above y); and how far T moved the inputs, the
mean |T(y) - y| over pixels and channels (0 = T stayed the identity); and the patch-statistics
critic's distance (losses/patch_swd.py) of y, T(y) and the smoothed y to half of K, beside that
of K's other half (the estimate's floor). For a translator with
kernel-prediction heads (`out_kernel`) it also prints where its full-scale kernels sit: the mean
centre weight ("convex") or the mean pair weight in units of its bound and the fraction of pair
weights within 1% of the bound ("residual").
Use it to compare translator settings on identical data and deblurrers (set the thread count
with OMP_NUM_THREADS when running several at once).

    python benchmarks/demo_translator.py demo_out --name nl1 --set n_layers=1
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("demo_dir", help="output folder of `blur2blur demo`")
    ap.add_argument("--name", required=True, help="run name (DIR/runs/<name>)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override of the translator's cpu-small config (repeatable)")
    ap.add_argument("--known-profile", default=None,
                    help="known profile the demo used (read from the demo's K manifest when omitted)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    ap.add_argument("--sigma", type=float, default=0.8, help="std (px) of the smoothed-input logit")
    ap.add_argument("--eval-only", action="store_true", help="score the existing run, do not train")
    args = ap.parse_args()

    from blur2blur.infer.pipeline import DeblurPipeline
    import kornia

    from blur2blur.io import list_images, read_image, to_numpy, to_tensor
    from blur2blur.losses.patch_swd import patch_swd
    from blur2blur.metrics.psnr import psnr
    from blur2blur.nets.weights import load_model
    from blur2blur.train.config import TranslatorConfig
    from blur2blur.train.presets import make_config
    from blur2blur.train.translator import train_translator_on_layout

    root = Path(args.demo_dir)
    deblurrer = root / "runs" / "deblurrer_known" / "deblurrer"
    known_set = root / "known_blur_set"
    tests = list_images(root / "data" / "testA")
    if not tests or not deblurrer.with_suffix(".safetensors").is_file() or not known_set.is_dir():
        raise SystemExit(f"error: {root} is not a finished demo folder")
    cfg = make_config(TranslatorConfig, "cpu-small", args.set)
    if args.known_profile:
        cfg.known_profile = args.known_profile
    t0 = time.time()
    if args.eval_only:
        translator = root / "runs" / args.name / "translator"
    else:
        translator = train_translator_on_layout(root / "data", root / "runs" / args.name, cfg, "cpu-small",
                                                args.device, not args.quiet, known_set=known_set)
    train_s = time.time() - t0

    direct = DeblurPipeline.from_checkpoints(deblurrer, None, args.device)
    b2b = DeblurPipeline.from_checkpoints(deblurrer, translator, args.device)
    disc = load_model(root / "runs" / args.name / "discriminator", b2b.device).eval()

    def logit(img) -> float:
        with torch.no_grad():
            return disc(to_tensor(img)[None].to(b2b.device)).mean().item()

    rows: dict[str, list[float]] = {"input": [], "direct": [], "T(y)": [], "Blur2Blur": []}
    smooth_name = f"D(Gaussian {args.sigma:g} px of y)"
    logits: dict[str, list[float]] = {"D(y)": [], "D(T(y))": [], smooth_name: [], "D(K)": []}
    size = 2 * int(3 * args.sigma + 0.5) + 1
    moved: list[float] = []
    heads: list[torch.Tensor] = []  # the full-scale head's raw output, for kernel-prediction translators
    if getattr(b2b.translator, "out_kernel", 0):
        b2b.translator.feat_extract[5].register_forward_hook(lambda m, i, o: heads.append(o.detach().cpu()))
    k_images = [read_image(f) for f in list_images(known_set)[:4 * len(tests)]]
    for k in k_images:
        logits["D(K)"].append(logit(k))
    swd_sets: dict[str, list] = {"y": [], "T(y)": [], smooth_name[2:-1]: []}
    for f in tests:
        gt, y = read_image(root / "data" / "testA_gt" / f.name), read_image(f)
        outs = b2b.run(y)
        logits["D(y)"].append(logit(y))
        logits["D(T(y))"].append(logit(outs["translated"]))
        moved.append(float(abs(outs["translated"] - y).mean()))
        smoothed = to_numpy(kornia.filters.gaussian_blur2d(
            to_tensor(y)[None], (size, size), (args.sigma, args.sigma), border_type="reflect"))
        logits[smooth_name].append(logit(smoothed))
        for key, img in zip(swd_sets, (y, outs["translated"], smoothed)):
            swd_sets[key].append(img)
        rows["input"].append(psnr(y, gt))
        rows["direct"].append(psnr(direct.run(y)["deblurred"], gt))
        rows["T(y)"].append(psnr(outs["translated"], gt))
        rows["Blur2Blur"].append(psnr(outs["deblurred"], gt))
    means = {k: round(statistics.fmean(v), 2) for k, v in rows.items()}
    d_means = {k: round(statistics.fmean(v), 3) for k, v in logits.items()}
    print(f"\ntranslator overrides: {' '.join(args.set) or '(none)'}; training {train_s:.0f} s")
    print(f"| image ({len(tests)} test scenes of {root}) | PSNR (dB, RGB, uint8) |")
    print("|---|---|")
    for name, value in means.items():
        print(f"| {name} | {value:.2f} |")
    print("discriminator mean logit: " + ", ".join(f"{k} {v:+.3f}" for k, v in d_means.items()))
    print(f"mean |T(y) - y|: {statistics.fmean(moved):.2e}")
    # The patch-statistics critic's view (losses/patch_swd.py): distance of each set of test images
    # to K, against that of a second half of K (the noise floor).
    def batch(images):
        h = min(im.shape[0] for im in images)
        w = min(im.shape[1] for im in images)
        return torch.stack([to_tensor(im[:h, :w]) for im in images])

    half = len(k_images) // 2
    k_a, k_b = batch(k_images[:half]), batch(k_images[half:])
    gen = torch.Generator().manual_seed(0)
    swd = {key: patch_swd(batch(v), k_a, samples=4096, generator=gen).item() for key, v in swd_sets.items()}
    swd["K (other half)"] = patch_swd(k_b, k_a, samples=4096, generator=gen).item()
    print("patch SWD to K (x1e5): " + ", ".join(f"{k} {v * 1e5:.2f}" for k, v in swd.items()))
    if heads:
        T = b2b.translator
        weights = torch.cat([T.kernel_weights(h).transpose(0, 1).flatten(1) for h in heads], dim=1)  # taps x pixels
        if T.kernel_mode == "residual":
            r = weights * (T.out_kernel ** 2 - 1)  # in units of the bound
            print(f"kernel head (residual): mean pair weight {r.mean():+.3f} of its bound, "
                  f"{(r.abs() > 0.99).float().mean():.1%} within 1% of the bound")
        else:
            print(f"kernel head (convex): mean centre weight {weights[T.out_kernel ** 2 // 2].mean():.4f}")
    if not args.eval_only:
        (root / "runs" / args.name / "demo_translator.json").write_text(
            json.dumps({"overrides": args.set, "psnr": means, "d_logits": d_means,
                        "mean_abs_t_minus_y": statistics.fmean(moved), "train_s": round(train_s)},
                       indent=1))


if __name__ == "__main__":
    main()
