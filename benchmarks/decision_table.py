"""Does the translator's check decide right? The decision table of issue #28, item 4.

For each world (a simulated camera and the project's known camera `actioncam`, whose deblurrer is
the shipped model) and each source of the known-blur set K, this trains the `cpu-small` translator
for each seed with the command line's defaults otherwise, and prints, on the world's test scenes
with ground truth (PSNR dB, RGB, uint8):

- direct: the shipped deblurrer applied to the camera's images;
- B2B: Blur2Blur as the default check (`val_criterion=auto`: through the deblurrer) exports it
  (the identity when it rejects T: then B2B = direct);
- |T(y)-y|: the mean absolute change T makes (0 = identity);
- trained: deblurrer(T(y)) with the T the run's check kept (runs are trained with the K criterion,
  `val_criterion=known_blur`, so that K_val is held out; "T kept at": K at full scale, or K/2
  with `--set val_scale=2`), whatever it decided, and its gain;
- the decision of each criterion on that T, scored here as the check scores (float32) on the run's
  held-out camera images: "known_blur" (T(B_val) against K_val, the default before issue #28),
  "deblurred" (the default: D(T(B_val)) against the camera's sharp images) and "K/2+guard" (the
  K criterion at half scale, vetoed when "deblurred" scores above `val_guard` times the
  identity's: docs/research/decisions.md): "T" (export it) or "id", with the score over the
  identity's (below 1 - `val_margin` exports T);
- other candidate criteria's scores over the identity's (`candidate_ratios`).
  A decision is right when it exports T where T gains more than 0.05 dB and the identity where T
  loses more than 0.05 dB (either is right in between: the two then differ by less than that).

Worlds: `demo` (the demo's photos and unknown camera), `kodak` (Kodak24, same cameras), `levin`
(the unknown camera with Levin's recorded kernels), `isp` (a phone-like ISP camera: Bayer mosaic,
JPEG 75-88, filmic tone, warm cast, random-acceleration shake; its layout has no manifest, as a
user's own would). K sources: `estimated` (the known pairs' kernels estimated in closed form, on S),
`known` (trainC, with the camera's grain), `simulate` (actioncam on S: the exact transfer).

Every world is made once under OUT/worlds, every run once under OUT/runs (delete to redo); the
ledger OUT/table.json keeps the scores, so an interrupted table resumes. The translator runs do not
depend on the deblurrer (they are trained with the K criterion), so when the shipped deblurrer
changes, the runs are scored again with it and not retrained (each ledger row names the weights'
sha256); `--rescore` scores them again anyway (after a change of the criteria).

    python benchmarks/decision_table.py --out /tmp/decisions                       # everything
    python benchmarks/decision_table.py --out /tmp/d --worlds isp --sources estimated known --seeds 0
    python benchmarks/decision_table.py --constructed    # issue #28's constructed texture case only
    python benchmarks/decision_table.py --out /tmp/decisions --changes --seeds 0 1 2 3 4 5 6 7 8   # what T changes
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from blur2blur.data.holdout import evenly_spaced, holdout_split
from blur2blur.demo import bundled_photos
from blur2blur.infer.pipeline import DeblurPipeline
from blur2blur.io import list_images, read_image
from blur2blur.losses.pixel import l1, lowpass_l1
from blur2blur.known_blur.build import build_known_set
from blur2blur.metrics.psnr import psnr
from blur2blur.nets.official import load_network
from blur2blur.nets.pretrained import manifest
from blur2blur.nets.weights import load_model
from blur2blur.outputs.files import atomic_write_text
from blur2blur.simulate import make_dataset
from blur2blur.simulate.profile import load_profile
from blur2blur.train.config import TranslatorConfig
from blur2blur.train.presets import make_config
from blur2blur.train.translator import VAL_MAX_FILES, train_translator_on_layout
from blur2blur.metrics.patch_distance import PatchDistance
from blur2blur.train.translator_check import WINDOW, TranslatorCheck, network_outputs, seeded_windows

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
WORLDS = {  # name: (photos, the unknown camera's profile, tile px)
    "demo": (None, "unknown", 96),
    "kodak": (SHARED / "sharp_kodak24", "unknown", 128),
    "levin": (SHARED / "sharp_kodak24", "levin", 128),
    "isp": (SHARED / "sharp_kodak24", "phone_isp", 128),
}
SOURCES = ("estimated", "known", "simulate")
MARGIN = 1 - TranslatorConfig.val_margin  # (a criterion exports T when its score is below this times the identity's)
TOLERANCE = 0.05  # dB: below this, exporting T or the identity makes no difference that counts


def run_config(source: str, seed: int, overrides: list[str]) -> TranslatorConfig:
    """The config a table run trains with: `cpu-small` with the command line's defaults, but the K
    criterion (so that K_val is held out), `overrides`, the K source and the seed."""
    cfg = make_config(TranslatorConfig, "cpu-small", ["val_criterion=known_blur"] + overrides
                      + [f"k_source={source}", f"seed={seed}"])
    return dataclasses.replace(cfg, known_profile="actioncam" if source == "simulate" else "")


def world(out: Path, name: str, tile: int | None) -> Path:
    """The world's layout (made once): known pairs by actioncam, the camera by its profile."""
    root = out / "worlds" / name
    if (root / "testA_gt").is_dir() and (root / ".done").is_file():
        return root
    photos, unknown, default_tile = WORLDS[name]
    sources = bundled_photos() if photos is None else list_images(photos)
    if unknown == "levin":  # (the profile needs the file of Levin's recorded kernels)
        unknown = load_profile("levin", kernels=SHARED / "kernels" / "Levin09.mat")
    make_dataset(sources, root, "actioncam", unknown, tile=tile or default_tile, seed=0, write_train_gt=True,
                 progress=False, overwrite=True)
    if name == "isp":  # (a plain layout, as a user's own: no record of the profile of its known pairs)
        (root / "manifest.json").unlink()
    (root / ".done").write_text("")
    return root


def trained_translator(run: Path) -> Path:
    """The trained weights of a run: exported, or kept as `translator_rejected` when the check chose
    the identity."""
    rejected = run / "translator_rejected"
    return rejected if rejected.with_suffix(".json").is_file() else run / "translator"


def held_out(root: Path, known: Path, cfg: TranslatorConfig) -> tuple[list[Path], list[Path]]:
    """The run's held-out camera images B_val and known-blur images K_val (its check's split)."""
    return (holdout_split(list_images(root / "trainA"), cfg.val_fraction, cfg.seed, VAL_MAX_FILES)[1],
            holdout_split(list_images(known), cfg.val_fraction, cfg.seed, VAL_MAX_FILES)[1])


def decisions(root: Path, b_val: list[Path], k_val: list[Path], cfg: TranslatorConfig,
              translator: torch.nn.Module, deblurrer) -> dict[str, tuple[str, float]]:
    """Each criterion's decision on `translator` ("T" or "id") and its score over the identity's, on
    the run's held-out B (and K for "known_blur"), scored as the check scores (float32):
    "known_blur" (full scale), "deblurred" (full scale, also the guard's score) and "K/2+guard"
    (the K criterion at half scale, vetoed by "deblurred" above `cfg.val_guard`)."""
    checks = {"K/2+guard": TranslatorCheck(b_val, k_val, (), cfg.swd_patch, seed=cfg.seed, scale=2),
              "known_blur": TranslatorCheck(b_val, k_val, (), cfg.swd_patch, seed=cfg.seed),
              "deblurred": TranslatorCheck.through_deblurrer(b_val, list_images(root / "trainB"), deblurrer,
                                                             VAL_MAX_FILES, cfg.swd_patch, seed=cfg.seed)}
    out = {}
    for name, check in checks.items():
        ratio = check.score(translator, torch.device("cpu")) / check.identity
        out[name] = ("T" if ratio < 1 - cfg.val_margin else "id"), ratio
    guard_ratio, (k2, k2_ratio) = out["deblurred"][1], out["K/2+guard"]
    out["K/2+guard"] = ("T" if k2 == "T" and guard_ratio <= cfg.val_guard else "id"), k2_ratio
    return out


def candidate_ratios(root: Path, b_val: list[Path], k_val: list[Path], cfg: TranslatorConfig,
                     translator: torch.nn.Module, deblurrer) -> dict[str, float]:
    """Other label-free criteria one could decide with (score of T over the identity's; lower favours
    T), on the run's held-out B: "S/2" the deblurred criterion at half scale (where grain is
    averaged away), "D(K)" and "D(K)/2" the deblurred images against the deblurrer's output on the
    held-out K (what a perfect translator would give it). (`score` adds "K/2", the K criterion at
    half scale: the "K/2+guard" criterion's score, computed once by `decisions`.)"""
    cpu = torch.device("cpu")
    sharp = evenly_spaced(list_images(root / "trainB"), 2 * VAL_MAX_FILES)[0::2]
    b = seeded_windows(b_val, WINDOW, cfg.seed)
    tb = network_outputs(translator, b, cpu)
    k = seeded_windows(k_val, WINDOW, cfg.seed + 1)
    d_b, d_tb, d_k = (network_outputs(deblurrer, x, cpu) for x in (b, tb, k))
    s = seeded_windows(sharp, WINDOW, cfg.seed + 1)
    half = lambda xs: [F.avg_pool2d(x, 2) for x in xs]  # noqa: E731
    out = {}
    for name, ref, ident, trans in (("S/2", s, d_b, d_tb), ("D(K)", d_k, d_b, d_tb), ("D(K)/2", d_k, d_b, d_tb)):
        f = half if name.endswith("/2") else (lambda xs: xs)
        dist = PatchDistance(f(ref), cfg.swd_patch, seed=cfg.seed)
        out[name] = dist.score(f(trans)) / dist.score(f(ident))
    return out


def direct_psnr(root: Path) -> list[float]:
    """PSNR of the shipped deblurrer alone on each of the world's test images."""
    direct = DeblurPipeline.from_checkpoints("shipped", None, "cpu")
    return [psnr(direct.run(read_image(f))["deblurred"], read_image(root / "testA_gt" / f.name))
            for f in list_images(root / "testA")]


def score(root: Path, run: Path, known: Path, cfg: TranslatorConfig, deblurrer, direct: list[float]) -> dict:
    """The row of one run: mean PSNR of direct (given: `direct_psnr`) and through the trained T,
    |T(y)-y|, each criterion's decision and score ratio, and what each would export (B2B)."""
    trained = DeblurPipeline.from_checkpoints("shipped", trained_translator(run), "cpu")
    rows: dict[str, list[float]] = {"trained": [], "moved": []}
    for f in list_images(root / "testA"):
        y, gt = read_image(f), read_image(root / "testA_gt" / f.name)
        outs = trained.run(y)
        rows["trained"].append(psnr(outs["deblurred"], gt))
        rows["moved"].append(float(np.abs(outs["translated"] - y).mean()))
    out = {k: statistics.fmean(v) for k, v in rows.items()} | {"direct": statistics.fmean(direct)}
    run_check = json.loads((run / "translator_check.json").read_text())
    out["run_scale"] = run_check.get("scale", 1)  # (the scale its own check kept T at; older files: 1)
    if run_check.get("reference", "K") == "K" and out["run_scale"] == 1:  # (its own K check, in its precision)
        out["ratio_known_blur_run"] = run_check["decision"]["score"] / run_check["decision"]["identity"]
    translator = load_model(trained_translator(run))
    b_val, k_val = held_out(root, known, cfg)
    for criterion, (decision, ratio) in decisions(root, b_val, k_val, cfg, translator, deblurrer).items():
        out[criterion], out[f"ratio_{criterion}"] = decision, ratio
    out["candidates"] = candidate_ratios(root, b_val, k_val, cfg, translator, deblurrer) | {"K/2": out["ratio_K/2+guard"]}
    for criterion, b2b in (("deblurred", "b2b"), ("known_blur", "b2b_known_blur"),
                           ("K/2+guard", "b2b_k2_guard")):  # (what each exports)
        out[b2b] = out["trained"] if out[criterion] == "T" else out["direct"]
    return out


def constructed_case(worlds: int = 3) -> None:
    """The constructed case of tests/test_translator_check.py (the camera's textured scenes with a
    1 px blur, K of other, smooth scenes): each criterion's score over the identity's for
    translators that smooth by Gaussians of 0.5, 1, 2 and 3 px, in `worlds` random worlds."""
    import tempfile

    import torch.nn as nn
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # (the case is the tests' own)
    from tests.test_translator_check import Gaussian, _textured_camera

    cpu, sigmas = torch.device("cpu"), (0.5, 1.0, 2.0, 3.0)
    print("| world | K at full scale | K/2 | through the deblurrer, full scale |\n|---|---|---|---|")
    for seed in range(worlds):
        with tempfile.TemporaryDirectory() as tmp:
            b, s, k = _textured_camera(Path(tmp), np.random.default_rng(seed))
            checks = (TranslatorCheck(b, k, patch=7, window=64), TranslatorCheck(b, k, patch=7, window=64, scale=2),
                      TranslatorCheck(b, s[0::2], s[1::2], patch=7, window=64, through=nn.Identity()))
            cells = [" / ".join(f"{c.score(Gaussian(g), cpu) / c.identity:.3f}" for g in sigmas) for c in checks]
        print(f"| {seed} | " + " | ".join(cells) + " |")


def change_stats(b: list[torch.Tensor], tb: list[torch.Tensor]) -> dict[str, float]:
    """What a translator changes on windows b (RGB [0,1], 1x3xHxW each) into tb = T(b): "moved"
    mean |T(b) - b|; "low" mean |LP(T(b)) - LP(b)| with LP the means of 8x8 blocks (tone and
    shading, far below any blur's scale); "low share" low / moved; "colour" the largest change of a
    channel's window mean; "detail 1/2/4" the energy of T(b) over b's in the band between block
    sizes f and 2f (below 1: T smooths there)."""
    def band(x: torch.Tensor, f: int) -> torch.Tensor:
        coarse = lambda z, s: z if s == 1 else F.interpolate(F.avg_pool2d(z, s), scale_factor=s)  # noqa: E731
        return coarse(x, f) - coarse(x, 2 * f)

    moved = statistics.fmean(l1(y, x).item() for x, y in zip(b, tb))
    low = statistics.fmean(lowpass_l1(y, x, 8).item() for x, y in zip(b, tb))
    out = {"moved": moved, "low": low, "low share": low / max(moved, 1e-12),
           "colour": statistics.fmean((y.mean((-2, -1)) - x.mean((-2, -1))).abs().amax().item() for x, y in zip(b, tb))}
    for f in (1, 2, 4):
        out[f"detail {f}"] = sum(band(y, f).pow(2).sum().item() for y in tb) / sum(band(x, f).pow(2).sum().item()
                                                                               for x in b)
    return out


def change_table(out_dir: Path, ledger: dict, keys: list[str], overrides: list[str]) -> None:
    """Issue #28's lever "a guard on how much T changes low frequencies", measured on trained runs:
    each run's `change_stats` on its held-out camera windows (the check's own), and for each
    statistic the best any threshold on it could do as a guard on the permissive K criterion
    (export when "known_blur" approves and the statistic is on T's side of the threshold) and
    alone; the threshold is chosen on these same runs, so the count is an upper bound."""
    rows = {}
    for key in keys:
        w, s, d = key.split("/")
        cfg = run_config(s, int(d), overrides)
        b_val, _ = held_out(out_dir / "worlds" / w, out_dir / "known" / w / s / d, cfg)
        b = seeded_windows(b_val, WINDOW, cfg.seed)
        with torch.no_grad():
            tb = network_outputs(load_model(trained_translator(out_dir / "runs" / w / s / d)), b, torch.device("cpu"))
        rows[key] = change_stats(b, tb)
    gain = {k: ledger[k]["trained"] - ledger[k]["direct"] for k in keys}
    names = list(rows[keys[0]])
    print("| run | gain of T | known_blur | " + " | ".join(names) + " |\n|---|---|---|" + "---|" * len(names))
    for k in sorted(keys, key=gain.get):
        print(f"| {k} | {gain[k]:+.3f} | {ledger[k]['known_blur']} | "
              + " | ".join(f"{rows[k][n]:.4g}" for n in names) + " |")
    right = lambda exports: right_decisions([(gain[k], exports[k]) for k in keys])  # noqa: E731
    print(f"\nknown_blur alone: right decisions {right({k: ledger[k]['known_blur'] == 'T' for k in keys})}/{len(keys)}")
    for n in names:
        values = sorted({rows[k][n] for k in keys})
        cuts = [values[0] - 1] + [(a + b) / 2 for a, b in zip(values, values[1:])] + [values[-1] + 1]
        best = {}
        for with_k in (True, False):
            for sign in (1, -1):  # (T's side: below the threshold, or above it)
                for c in cuts:
                    ok = {k: sign * rows[k][n] < sign * c and (not with_k or ledger[k]["known_blur"] == "T") for k in keys}
                    best[with_k] = max(best.get(with_k, (-1, 0, 0)), (right(ok), -sign, c))
        print(f"{n}: best threshold as a guard on known_blur {best[True][0]}/{len(keys)} "
              f"(T {'below' if best[True][1] < 0 else 'above'} {best[True][2]:.4g}), alone {best[False][0]}/{len(keys)} "
              f"(T {'below' if best[False][1] < 0 else 'above'} {best[False][2]:.4g})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--constructed", action="store_true", help="only the constructed texture case (seconds)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--worlds", nargs="+", default=list(WORLDS), choices=list(WORLDS))
    ap.add_argument("--sources", nargs="+", default=list(SOURCES), choices=list(SOURCES))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--tile", type=int, default=None, help="scene tile px (default: per world)")
    ap.add_argument("--rescore", action="store_true", help="score every row again (no retraining)")
    ap.add_argument("--changes", action="store_true",
                    help="what each trained T changes (low frequencies, colour, detail) and how well a guard on it "
                         "could decide (runs already in the ledger; a minute)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="translator config overrides on top of cpu-small (e.g. for a quick smoke run)")
    args = ap.parse_args(argv)
    if args.constructed:
        constructed_case()
        return 0
    if args.out is None:
        ap.error("--out is required (except with --constructed)")
    ledger_path = args.out / "table.json"
    ledger = json.loads(ledger_path.read_text()) if ledger_path.is_file() else {}
    if args.changes:
        change_table(args.out, ledger, [k for k in (f"{w}/{s}/{d}" for w in args.worlds for s in args.sources
                                                    for d in args.seeds) if k in ledger], args.overrides)
        return 0
    deblurrer = load_network("shipped", role="deblurrer")
    weights = manifest()  # (the shipped files' sha256: which deblurrer scored a row)
    for name in args.worlds:
        root = world(args.out, name, args.tile)
        direct: list[float] | None = None  # (scored once per world, when a row needs it)
        for source in args.sources:
            for seed in args.seeds:
                key = f"{name}/{source}/{seed}"
                cfg = run_config(source, seed, args.overrides)
                if args.rescore or ledger.get(key, {}).get("weights") != weights:
                    run = args.out / "runs" / name / source / str(seed)
                    known = args.out / "known" / name / source / str(seed)
                    if not all((run / f).is_file() for f in ("translator_check.json", "translator.json")):
                        # (not trained yet, or interrupted: train it)
                        build_known_set(cfg, root, known, source, "cpu", progress=False)
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            train_translator_on_layout(root, run, cfg, "cpu-small", "cpu", progress=False,
                                                       overwrite=True, known_set=known)
                    direct = direct_psnr(root) if direct is None else direct
                    ledger[key] = {**score(root, run, known, cfg, deblurrer, direct), "weights": weights}
                    atomic_write_text(ledger_path, json.dumps(ledger, indent=1))
                r = ledger[key]
                print(f"{key}: direct {r['direct']:.2f} B2B {r['b2b']:.2f} trained {r['trained']:.2f} "
                      f"({r['trained'] - r['direct']:+.2f}) |T(y)-y| {r['moved']:.4f} deblurred {r['deblurred']} "
                      f"known_blur {r['known_blur']} K/2+guard {r['K/2+guard']} (score over the identity's: "
                      f"{r['ratio_deblurred']:.3f}, {r['ratio_known_blur']:.3f}, {r['ratio_K/2+guard']:.3f})",
                      flush=True)
    print_table(ledger, [f"{w}/{s}/{d}" for w in args.worlds for s in args.sources for d in args.seeds])
    return 0


def print_table(ledger: dict, keys: list[str]) -> None:
    """The table (markdown), then per criterion: right decisions, the worst exported translator and
    Blur2Blur's worst margin over direct; and the mean gain of T per world and K source."""
    print("\n| world | K source | seed | T kept at | direct | B2B (default) | trained T | gain of T | \\|T(y)-y\\| "
          "| deblurred (default; score/identity) | known_blur | K/2+guard |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key in keys:
        r = ledger[key]
        w, s, d = key.split("/")
        print(f"| {w} | {s} | {d} | {'K/2' if r.get('run_scale', 1) == 2 else 'K'} | {r['direct']:.2f} | "
              f"{r['b2b']:.2f} | {r['trained']:.2f} | {r['trained'] - r['direct']:+.2f} | {r['moved']:.4f} | "
              f"{r['deblurred']} ({r['ratio_deblurred']:.3f}) | {r['known_blur']} ({r['ratio_known_blur']:.3f}) | "
              f"{r['K/2+guard']} ({r['ratio_K/2+guard']:.3f}) |")
    print()
    for c, b2b in (("deblurred", "b2b"), ("known_blur", "b2b_known_blur"), ("K/2+guard", "b2b_k2_guard")):
        gains = [(ledger[k]["trained"] - ledger[k]["direct"], ledger[k][c] == "T") for k in keys]
        right = right_decisions(gains)
        worst = min(ledger[k][b2b] - ledger[k]["direct"] for k in keys)
        print(f"{c}: right decisions {right}/{len(keys)} (T where it gains > {TOLERANCE} dB, the identity where it "
              f"loses more); {exported_summary(gains)}; worst B2B - direct {worst:+.2f} dB")
    runs_own = [k for k in keys if "ratio_known_blur_run" in ledger[k]]
    if runs_own:  # (the runs' checks scored in the run's precision: bfloat16 before the float32 fix)
        flips = [k for k in runs_own
                 if (ledger[k]["ratio_known_blur_run"] < MARGIN) != (ledger[k]["known_blur"] == "T")]
        print(f"known_blur in the runs' own checks (their precision) against float32: {len(flips)} of "
              f"{len(runs_own)} decisions differ" + (f" ({', '.join(flips)})" if flips else ""))
    names = [n for n in ledger[keys[0]].get("candidates", {}) if all("candidates" in ledger[k] for k in keys)]
    if names:  # (other criteria, each deciding T below the check's own margin, as `val_margin` does)
        print("\n| run | gain of T | " + " | ".join(names) + " |\n|---|---|" + "---|" * len(names))
        for k in keys:
            c = ledger[k]["candidates"]
            print(f"| {k} | {ledger[k]['trained'] - ledger[k]['direct']:+.2f} | "
                  + " | ".join(f"{c[n]:.3f}" for n in names) + " |")
        for n in names:
            gains = [(ledger[k]["trained"] - ledger[k]["direct"], ledger[k]["candidates"][n] < MARGIN) for k in keys]
            right = right_decisions(gains)
            print(f"{n}: right decisions {right}/{len(keys)}, {exported_summary(gains)}")
    groups: dict[str, list[float]] = {}
    for k in keys:
        groups.setdefault(k.rsplit("/", 1)[0], []).append(ledger[k]["trained"] - ledger[k]["direct"])
    print("mean gain of T: " + ", ".join(f"{g} {statistics.fmean(v):+.3f}" for g, v in groups.items()))


def right_decisions(gains: list[tuple[float, bool]]) -> int:
    """How many (gain of T, exported) pairs decided right: T where it gains more than TOLERANCE,
    the identity where it loses more (either in between)."""
    return sum(abs(g) <= TOLERANCE or e == (g > 0) for g, e in gains)


def exported_summary(gains: list[tuple[float, bool]]) -> str:
    """"exported N (gains of T from .. to ..)" of (gain of T, exported) pairs."""
    exported = sorted(g for g, e in gains if e)
    return f"exported {len(exported)}" + (f" (gains {exported[0]:+.2f} to {exported[-1]:+.2f} dB)" if exported else "")


if __name__ == "__main__":
    sys.exit(main())
