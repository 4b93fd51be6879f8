"""Does the translator's check decide right? The decision table of issue #28, item 4.

For each world (a simulated camera and the project's known camera `actioncam`, whose deblurrer is
the shipped model) and each source of the known-blur set K, this trains the `cpu-small` translator
for each seed with the command line's defaults otherwise, and prints, on the world's test scenes
with ground truth (PSNR dB, RGB, uint8):

- direct: the shipped deblurrer applied to the camera's images;
- B2B: Blur2Blur as the default check (`val_criterion=auto`: through the deblurrer) exports it
  (the identity when it rejects T: then B2B = direct);
- trained: deblurrer(T(y)) with the trained T, whatever the check decided, and its gain over direct;
- |T(y)-y|: the mean absolute change T makes (0 = identity);
- the decision of each criterion on that trained T (`val_criterion`: "known_blur", the run's own:
  runs are trained with it, so that K_val is held out, and "deblurred", scored here on the same
  held-out camera images): "T" (export it) or "id".
  A decision is right when it exports T where T gains more than 0.05 dB and the identity where T
  loses more than 0.05 dB (either is right in between: the two then differ by less than that).

Worlds: `demo` (the demo's photos and unknown camera), `kodak` (Kodak24, same cameras), `levin`
(the unknown camera with Levin's recorded kernels), `isp` (a phone-like ISP camera: Bayer mosaic,
JPEG 75-88, filmic tone, warm cast, random-acceleration shake; its layout has no manifest, as a
user's own would). K sources: `estimated` (the known pairs' kernels estimated in closed form, on S),
`known` (trainC, with the camera's grain), `simulate` (actioncam on S: the exact transfer).

Every world is made once under OUT/worlds, every run once under OUT/runs (delete to redo); the
ledger OUT/table.json keeps the scores, so an interrupted table resumes.

    python benchmarks/decision_table.py --out /tmp/decisions                       # everything
    python benchmarks/decision_table.py --out /tmp/d --worlds isp --sources estimated known --seeds 0
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

from blur2blur.data.holdout import holdout_split
from blur2blur.demo import bundled_photos
from blur2blur.infer.pipeline import DeblurPipeline
from blur2blur.io import list_images, read_image
from blur2blur.known_blur.build import build_known_set
from blur2blur.metrics.psnr import psnr
from blur2blur.nets.official import load_network
from blur2blur.nets.weights import load_model
from blur2blur.outputs.files import atomic_write_text
from blur2blur.simulate import make_dataset
from blur2blur.train.config import TranslatorConfig
from blur2blur.train.presets import make_config
from blur2blur.train.translator import VAL_MAX_FILES, train_translator_on_layout
from blur2blur.train.translator_check import TranslatorCheck

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
WORLDS = {  # name: (photos, the unknown camera's profile, tile px)
    "demo": (None, "unknown", 96),
    "kodak": (SHARED / "sharp_kodak24", "unknown", 128),
    "levin": (SHARED / "sharp_kodak24", "levin", 128),
    "isp": (SHARED / "sharp_kodak24", "phone_isp", 128),
}
SOURCES = ("estimated", "known", "simulate")
TOLERANCE = 0.05  # dB: below this, exporting T or the identity makes no difference that counts


def world(out: Path, name: str, tile: int | None) -> Path:
    """The world's layout (made once): known pairs by actioncam, the camera by its profile."""
    root = out / "worlds" / name
    if (root / "testA_gt").is_dir() and (root / ".done").is_file():
        return root
    photos, unknown, default_tile = WORLDS[name]
    sources = bundled_photos() if photos is None else list_images(photos)
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


def deblurred_decision(root: Path, cfg: TranslatorConfig, translator: torch.nn.Module, deblurrer) -> tuple[str, float]:
    """The "deblurred" criterion's decision on `translator` and its score over the identity's, on the
    run's own held-out B."""
    _, b_val = holdout_split(list_images(root / "trainA"), cfg.val_fraction, cfg.seed, VAL_MAX_FILES)
    check = TranslatorCheck.through_deblurrer(b_val, list_images(root / "trainB"), deblurrer, VAL_MAX_FILES,
                                              cfg.swd_patch, seed=cfg.seed)
    score = check.score(translator, torch.device("cpu"))
    return ("T" if score < check.identity * (1 - cfg.val_margin) else "id"), score / check.identity


def score(root: Path, run: Path, cfg: TranslatorConfig, deblurrer) -> dict:
    direct = DeblurPipeline.from_checkpoints("shipped", None, "cpu")
    exported = DeblurPipeline.from_checkpoints("shipped", run / "translator", "cpu")
    trained = DeblurPipeline.from_checkpoints("shipped", trained_translator(run), "cpu")
    rows: dict[str, list[float]] = {"direct": [], "b2b": [], "trained": [], "moved": []}
    for f in list_images(root / "testA"):
        y, gt = read_image(f), read_image(root / "testA_gt" / f.name)
        outs = trained.run(y)
        rows["direct"].append(psnr(direct.run(y)["deblurred"], gt))
        rows["b2b"].append(psnr(exported.run(y)["deblurred"], gt))
        rows["trained"].append(psnr(outs["deblurred"], gt))
        rows["moved"].append(float(np.abs(outs["translated"] - y).mean()))
    out = {k: statistics.fmean(v) for k, v in rows.items()}
    check = json.loads((run / "translator_check.json").read_text())["decision"]
    out["known_blur"] = "T" if check["exported"] == "trained" else "id"
    out["ratio_known_blur"] = check["score"] / check["identity"]
    out["deblurred"], out["ratio_deblurred"] = deblurred_decision(root, cfg, load_model(trained_translator(run)),
                                                                  deblurrer)
    out["b2b_known_blur"] = out["b2b"]  # (what the run itself exported, by the K criterion)
    out["b2b"] = out["trained"] if out["deblurred"] == "T" else out["direct"]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--worlds", nargs="+", default=list(WORLDS), choices=list(WORLDS))
    ap.add_argument("--sources", nargs="+", default=list(SOURCES), choices=list(SOURCES))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--tile", type=int, default=None, help="scene tile px (default: per world)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="translator config overrides on top of cpu-small (e.g. for a quick smoke run)")
    args = ap.parse_args(argv)
    ledger_path = args.out / "table.json"
    ledger = json.loads(ledger_path.read_text()) if ledger_path.is_file() else {}
    deblurrer = load_network("shipped", role="deblurrer")
    for name in args.worlds:
        root = world(args.out, name, args.tile)
        for source in args.sources:
            for seed in args.seeds:
                key = f"{name}/{source}/{seed}"
                cfg = make_config(TranslatorConfig, "cpu-small", ["val_criterion=known_blur"] + args.overrides
                                  + [f"k_source={source}", f"seed={seed}"])
                cfg = dataclasses.replace(cfg, known_profile="actioncam" if source == "simulate" else "")
                if key not in ledger:
                    run = args.out / "runs" / name / source / str(seed)
                    known = args.out / "known" / name / source / str(seed)
                    build_known_set(cfg, root, known, source, "cpu", progress=False)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        train_translator_on_layout(root, run, cfg, "cpu-small", "cpu", progress=False,
                                                   overwrite=True, known_set=known)
                    ledger[key] = score(root, run, cfg, deblurrer)
                    atomic_write_text(ledger_path, json.dumps(ledger, indent=1))
                r = ledger[key]
                print(f"{key}: direct {r['direct']:.2f} B2B {r['b2b']:.2f} (K criterion {r['b2b_known_blur']:.2f}) trained {r['trained']:.2f} "
                      f"({r['trained'] - r['direct']:+.2f}) |T(y)-y| {r['moved']:.4f} "
                      f"known_blur {r['known_blur']} deblurred {r['deblurred']} (score over the identity's: "
                      f"{r.get('ratio_known_blur', float('nan')):.3f}, {r.get('ratio_deblurred', float('nan')):.3f})",
                      flush=True)
    print_table(ledger, [f"{w}/{s}/{d}" for w in args.worlds for s in args.sources for d in args.seeds])
    return 0


def print_table(ledger: dict, keys: list[str]) -> None:
    print("\n| world | K source | seed | direct | B2B (default) | B2B (K criterion) | trained T | gain of T "
          "| |T(y)-y| | known_blur | deblurred |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    right = {"known_blur": 0, "deblurred": 0}
    for key in keys:
        r = ledger[key]
        gain = r["trained"] - r["direct"]
        for c in right:
            right[c] += abs(gain) <= TOLERANCE or (r[c] == "T") == (gain > 0)
        w, s, d = key.split("/")
        print(f"| {w} | {s} | {d} | {r['direct']:.2f} | {r['b2b']:.2f} | {r['b2b_known_blur']:.2f} | "
              f"{r['trained']:.2f} | {gain:+.2f} | {r['moved']:.4f} | {r['known_blur']} | {r['deblurred']} |")
    worst = min(ledger[k]["b2b"] - ledger[k]["direct"] for k in keys)
    print(f"\nright decisions (T where it gains > {TOLERANCE} dB, the identity where it loses more): known_blur {right['known_blur']}/{len(keys)}, "
          f"deblurred {right['deblurred']}/{len(keys)}; worst B2B - direct as the default exports it: {worst:+.2f} dB")


if __name__ == "__main__":
    sys.exit(main())
