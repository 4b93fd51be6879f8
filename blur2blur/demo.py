"""The end-to-end demo: a simulated camera, the shipped known-domain deblurrer, one table.

1. Build a dataset layout from sharp colour photos with the `unknown` camera (the user's camera:
   longer, curved blur, filmic response, noise, a warm cast, JPEG) and the known camera (by
   default the project's own, `actioncam`, whose deblurrer ships in the package).
2. Build the known-blur set K as the translator config's `k_source` says (by default the
   camera's sharp images blurred by the known camera, with the camera's grain: the exact transfer).
3. The known deblurrer: the shipped model when the known camera is `actioncam` (nothing trained),
   else one trained on the known pairs; train the blur translator T on B against K (T checks itself
   on held-out images and exports the identity if it does not help: train/translator_check.py);
   the upper bound: the known deblurrer fine-tuned on the camera's own pairs for as many
   iterations as the translator had.
4. Deblur the camera's test set three ways and print PSNR / SSIM against the ground truth, and
   what the translator's check decided.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import shutil
import time
from pathlib import Path

import numpy as np

from blur2blur.infer.pipeline import DeblurPipeline
from blur2blur.io import list_images, read_image, write_image
from blur2blur.known_blur.build import build_known_set, resolve_k_source
from blur2blur.known_blur.images import with_known_grain
from blur2blur.metrics.evaluate import evaluate_folders
from blur2blur.nets.pretrained import KNOWN_CAMERA, shipped_stem
from blur2blur.nets.weights import read_model_meta
from blur2blur.outputs.files import atomic_write_text, guard_output
from blur2blur.progress import tqdm
from blur2blur.simulate import make_dataset
from blur2blur.train.config import DeblurrerConfig, TranslatorConfig
from blur2blur.train.config_checks import validate_config
from blur2blur.train.deblurrer import train_deblurrer
from blur2blur.train.presets import make_config
from blur2blur.train.translator import train_translator_on_layout
from blur2blur.train.translator_check import check_terms, veto_phrase

# Natural colour photos that ship inside the scikit-image wheel (no download needed).
BUNDLED_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg",
                  "motorcycle_left.png", "ihc.png", "motorcycle_right.png")


def bundled_photos() -> list[Path]:
    """Paths of the colour photos bundled with scikit-image, found without importing it."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("scikit-image is not installed; give --photos DIR with sharp photos")
    data = Path(list(spec.submodule_search_locations)[0]) / "data"
    found = [data / name for name in BUNDLED_PHOTOS if (data / name).is_file()]
    if len(found) < 3:
        raise FileNotFoundError(f"scikit-image's bundled photos are missing from {data}; "
                                "give --photos DIR with sharp photos")
    return found


K_SOURCES = {"simulate": "the simulator's known profile applied to the camera's sharp images",
             "known": "the known domain's own blurry images",
             "estimated": "the known pairs' estimated kernels applied to the camera's sharp images",
             "transfer": "blur transfer of the known pairs onto the camera's sharp images"}

METHODS = {
    "input": "camera's blurry input (no processing)",
    "direct": "known deblurrer applied directly",
    "blur2blur": "Blur2Blur: translator + known deblurrer",
    "upper": "deblurrer trained on the camera's own pairs (upper bound)",
}


def run_demo(out_dir: str | Path = "demo_out", photos: str | Path | None = None, seed: int = 0,
             device: str | None = "auto", tile: int = 96,
             known_profile: str | Path = KNOWN_CAMERA, camera_profile: str | Path = "unknown",
             deblurrer_overrides: list[str] | dict | None = None,
             translator_overrides: list[str] | dict | None = None,
             progress: bool = True, overwrite: bool = False, skip_bad: bool = False,
             exclude: tuple[str, ...] | list[str] = ()) -> dict:
    """Run the whole demo into `out_dir`; return {method: mean metrics} and write `report/`.

    `known_profile` / `camera_profile` name the two simulated cameras (shipped profile name or
    YAML path); a simulated K (`k_source=simulate`) is made with the known one, whatever the
    translator config says. With the project's known camera (`actioncam`, the default) the known
    deblurrer is the shipped model; with another, one is trained on its pairs (`deblurrer_overrides`).
    `overwrite`: replace a previous demo in `out_dir` (its data, K, runs and results) instead of
    refusing. `skip_bad`: leave out unreadable photos (each named) instead of failing. `exclude`:
    file names of photos to leave out (the video demo keeps its clip's scene out of training).
    """
    t0 = time.time()
    out = Path(out_dir)
    sources = _sources(photos, exclude)
    guard_output(out, ([photos] if photos else []) + sources, "demo output folder")
    data, runs = out / "data", out / "runs"
    timings: dict[str, float] = {}
    # (configs first: a mistyped override is an error before any data is made)
    dcfg = make_config(DeblurrerConfig, "cpu-small", deblurrer_overrides)
    tcfg = make_config(TranslatorConfig, "cpu-small", translator_overrides)
    tcfg.known_profile = str(known_profile)
    shipped = str(known_profile) == KNOWN_CAMERA
    if shipped:
        shipped_stem()  # (a missing or damaged shipped model: said before any work)
    with _timed(timings, "dataset"):
        print(f"[1/5] simulating two cameras on {len(sources)} photos (tiles of {tile} px)")
        make_dataset(sources, data, known_profile, camera_profile, tile=tile, seed=seed, write_train_gt=True,
                     progress=progress, overwrite=overwrite, skip_bad=skip_bad)
    with _timed(timings, "known_set"):
        known_set = _known_set(tcfg, data, out / "known_blur_set", device, progress, overwrite)
    with _timed(timings, "known_deblurrer"):
        if shipped:
            print("[3/5] the known-domain deblurrer: the shipped model for the known camera (nothing to train)")
            deb_known = "shipped"
        else:
            print("[3/5] training the known-domain deblurrer (trainC -> trainD)")
            deb_known = train_deblurrer(data / "trainC", data / "trainD", runs / "deblurrer_known",
                                        with_known_grain(dcfg, known_set),  # (K's grain, when matched, is learnt too)
                                        "cpu-small", device, progress, overwrite=overwrite)
    tcfg.val_deblurrer = str(deb_known)  # (the known deblurrer, for val_criterion=deblurred)
    print("[4/5] training the blur translator T (B -> K), and the upper bound: the known deblurrer "
          "fine-tuned on the camera's own pairs for as many iterations")
    with _timed(timings, "translator"):
        translator = train_translator_on_layout(data, runs / "translator", tcfg, "cpu-small", device,
                                                progress, overwrite=overwrite, known_set=known_set)
    with _timed(timings, "upper_bound"):
        deb_camera = train_deblurrer(data / "trainA", data / "trainA_gt", runs / "deblurrer_camera",
                                     upper_config(dcfg, tcfg, deb_known), "cpu-small", device, progress,
                                     overwrite=overwrite)
    # (which known deblurrer this demo used: the video demo reuses the same networks)
    atomic_write_text(runs / "networks.json", json.dumps(
        {"known": "shipped" if shipped else str(Path(deb_known).relative_to(runs)),
         "camera": str(Path(deb_camera).relative_to(runs)), "translator": str(Path(translator).relative_to(runs))},
        indent=1))
    with _timed(timings, "evaluate"):
        print("[5/5] deblurring the camera's test set and evaluating")
        pipes = {"direct": DeblurPipeline.from_checkpoints(deb_known, None, device),
                 "blur2blur": DeblurPipeline.from_checkpoints(deb_known, translator, device),
                 "upper": DeblurPipeline.from_checkpoints(deb_camera, None, device)}
        tests = _deblur_test_set(pipes, data / "testA", out / "results", progress)
        metrics = {name: evaluate_folders(out / "results" / name, data / "testA_gt") for name in METHODS}
    timings["total"] = round(time.time() - t0, 1)
    return _report(out, data, runs, tests, metrics, timings)


def _sources(photos: str | Path | None, exclude) -> list[Path]:
    """The demo's photos (`photos` or the bundled ones) without the names in `exclude`."""
    sources = [f for f in (list_images(photos) if photos else bundled_photos()) if f.name not in set(exclude)]
    if not sources:
        raise ValueError(f"no photos found in {photos or 'the bundled photos'}"
                         + (f" other than {', '.join(exclude)}" if exclude else ""))
    return sources


@contextlib.contextmanager
def _timed(timings: dict[str, float], name: str):
    """Record the seconds the block takes as timings[name] (0.1 s)."""
    start = time.time()
    yield
    timings[name] = round(time.time() - start, 1)


def _known_set(tcfg: TranslatorConfig, data: Path, known_set: Path, device, progress: bool, overwrite: bool) -> Path:
    """Stage 2: the known-blur set K of the demo's layout (the source `resolve_k_source` picks)."""
    source = resolve_k_source(tcfg, data)
    grain = ", with the camera's grain" if tcfg.k_noise == "match" and source != "transfer" else ""
    print(f"[2/5] building the known-blur set K ({K_SOURCES.get(source, source)}{grain})")
    if overwrite and known_set.is_dir():  # (a derived folder of the demo's own)
        shutil.rmtree(known_set)
    return build_known_set(tcfg, data, known_set, source, device, progress)


def _deblur_test_set(pipes: dict[str, DeblurPipeline], test_dir: Path, results_dir: Path, progress: bool) -> list[Path]:
    """Write every test input and each pipeline's output (and T(y)) under `results_dir`; the tests."""
    tests = list_images(test_dir)
    for f in tqdm(tests, desc="deblur test set", disable=not progress, dynamic_ncols=True):
        y = read_image(f)
        write_image(results_dir / "input" / f"{f.stem}.png", y)
        for name, pipe in pipes.items():
            outs = pipe.run(y)
            write_image(results_dir / name / f"{f.stem}.png", outs["deblurred"])
            if "translated" in outs:
                write_image(results_dir / "translated" / f"{f.stem}.png", outs["translated"])
    return tests


def _report(out: Path, data: Path, runs: Path, tests: list[Path], metrics: dict, timings: dict) -> dict:
    """Write report/ (side-by-side rows, results.json, README.md), print the table; the summary."""
    report = out / "report"
    _side_by_side(out / "results", data / "testA_gt", report, [f.stem for f in tests])
    table = _table(metrics)
    summary = {name: metrics[name]["mean"] for name in METHODS}
    check = _check_sentence(runs / "translator" / "translator_check.json")
    atomic_write_text(report / "results.json", json.dumps(
        {"mean": summary, "timings_s": timings, "n_test": len(tests), "translator_check": check}, indent=1))
    atomic_write_text(report / "README.md",
        "# blur2blur demo report\n\n" + table + "\n\nEach row of `side_by_side/` is: "
        "input | direct | translated T(y) | Blur2Blur | upper bound | ground truth.\n\n"
        f"Translator check (no ground truth used): {check}\n\nTimings (s): {json.dumps(timings)}\n")
    print()
    print(table)
    print(f"\ntranslator check (no ground truth used): {check}")
    print(f"report: {report}   total time: {timings['total']:.0f} s")
    return {"mean": summary, "timings_s": timings, "translator_check": check}


def upper_config(dcfg: DeblurrerConfig, tcfg: TranslatorConfig, known: str | Path) -> DeblurrerConfig:
    """The upper bound's config: the known deblurrer's network fine-tuned (from `known`, a checkpoint
    stem or "shipped") with the translator's budget (its iterations, crop and batch), or `dcfg` as it is
    when the known deblurrer was trained here (then it trains from scratch, as before)."""
    if str(known) != "shipped":
        return dcfg
    kwargs = read_model_meta(shipped_stem(verify=False))["kwargs"]
    cfg = dataclasses.replace(dcfg, **kwargs, init="shipped", iters=tcfg.iters, crop=tcfg.crop, batch=tcfg.batch,
                              lr=1e-4, lr_min=1e-6, save_every=tcfg.iters, log_every=tcfg.log_every)
    return validate_config(cfg)


def _check_sentence(path: Path) -> str:
    """What the translator run's held-out check decided, in one sentence."""
    if not path.is_file():
        return "none (val_fraction=0)"
    summary = json.loads(path.read_text())
    d = summary["decision"]
    what, target, _ = check_terms(summary)
    closer = 1 - d["score"] / d["identity"]
    guard = d.get("guard") or {}
    if guard.get("vetoed"):
        fate = ("the exported translator is the identity, so Blur2Blur equals the direct deblurrer"
                if d["exported"] == "identity" else "exported anyway (identity_fallback=false)")
        return f"T brings {what} {closer:.0%} closer to {target}, but {veto_phrase(guard)}: {fate}"
    if d["exported"] == "identity":
        return (f"T did not bring {what} closer to {target} ({closer:+.0%}); the "
                "exported translator is the identity, so Blur2Blur equals the direct deblurrer")
    if not d["beats_identity"]:
        return f"T does not beat the identity ({closer:+.0%}) and was exported anyway (identity_fallback=false)"
    return (f"T brings {what} {closer:.0%} closer to {target} by patch statistics "
            f"(the weights of iteration {d['iteration']} were exported)")


def _table(metrics: dict) -> str:
    """Markdown table of the mean metrics of every method, columns named with their conventions."""
    first = next(iter(metrics.values()))
    keys = list(first["mean"])
    labels = [first["labels"].get(k, k) for k in keys]
    lines = ["| method | " + " | ".join(labels) + " |", "|---|" + "---|" * len(keys)]
    for name, label in METHODS.items():
        vals = metrics[name]["mean"]
        lines.append(f"| {label} | " + " | ".join(f"{vals[k]:.4f}" if "ssim" in k else f"{vals[k]:.2f}"
                                                 for k in keys) + " |")
    return "\n".join(lines)


def _side_by_side(results: Path, gt_dir: Path, report: Path, stems: list[str]) -> None:
    """One PNG per test image: input | direct | translated | Blur2Blur | upper | ground truth."""
    cols = ["input", "direct", "translated", "blur2blur", "upper"]
    for stem in stems:
        tiles = [read_image(results / c / f"{stem}.png") for c in cols]
        gt = [p for p in list_images(gt_dir) if p.stem == stem]
        tiles.append(read_image(gt[0]))
        zoom = max(1, 256 // tiles[0].shape[0])  # small tiles are enlarged (nearest) to be seen
        tiles = [t.repeat(zoom, axis=0).repeat(zoom, axis=1) for t in tiles]
        gap = np.ones((tiles[0].shape[0], 4, 3), np.float32)
        row = np.concatenate([x for t in tiles for x in (t, gap)][:-1], axis=1)
        write_image(report / "side_by_side" / f"{stem}.png", row)
