"""The bench's runner: its folder and ledger (`Bench`), `run_bench`, and the parts that train and
score (Table 2, the converter validation, the ratio, backbone, size and seed ablations; the text
part is bench/ocr.py, the report bench/report.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from blur2blur.bench import ALPHAS, BACKBONES, METHODS, PARTS, RATIOS, SEEDS, backbone_run
from blur2blur.bench.ocr import ocr_part
from blur2blur.bench.report import write_report
from blur2blur.demo import bundled_photos
from blur2blur.device import pick_device
from blur2blur.infer.pipeline import DeblurPipeline
from blur2blur.io import list_images, read_image, write_image
from blur2blur.known_blur.build import build_known_set, known_profile_of
from blur2blur.known_blur.images import with_known_grain
from blur2blur.metrics.converter import acc1, acc2, classifier_accuracy, train_blur_classifier
from blur2blur.metrics.evaluate import evaluate_folders
from blur2blur.metrics.lpips import LPIPS
from blur2blur.metrics.ocr import OCRUnavailable, find_tesseract
from blur2blur.nets.weights import load_model
from blur2blur.outputs.files import atomic_write_text, guard_output
from blur2blur.progress import tqdm
from blur2blur.simulate import make_dataset
from blur2blur.train.config import DeblurrerConfig, TranslatorConfig, UnpairedGANConfig
from blur2blur.train.deblurrer import train_deblurrer
from blur2blur.train.presets import make_config
from blur2blur.train.translator import train_translator
from blur2blur.train.unpaired_gan import train_unpaired_gan


class Bench:
    """State of one bench folder: the data, the ledger of timings and scores, the runs."""

    def __init__(self, out: Path, preset: str, device: str, progress: bool, overrides: dict | None):
        self.out, self.preset, self.device, self.progress = Path(out), preset, device, progress
        self.overrides = overrides or {}
        self.data = self.out / "data"
        self.ledger_path = self.out / "bench.json"
        self.ledger = json.loads(self.ledger_path.read_text()) if self.ledger_path.is_file() else {}
        self.ledger.setdefault("times_s", {})
        self.ledger.setdefault("scores", {})

    def save(self) -> None:
        atomic_write_text(self.ledger_path, json.dumps(self.ledger, indent=1, allow_nan=False))

    def config(self, kind: str, extra: list[str] = ()):
        cls = {"deblurrer": DeblurrerConfig, "translator": TranslatorConfig, "unpaired": UnpairedGANConfig}[kind]
        return make_config(cls, self.preset, list(self.overrides.get(kind, [])) + list(extra))

    def trained(self, name: str, stem: str, train) -> Path:
        """Run `train(run_dir, resume)` once: reuse a finished run, resume an unfinished one."""
        run = self.out / "runs" / name
        done = run / f"{stem}.safetensors"
        if done.is_file() and name in self.ledger["times_s"]:
            return run / stem
        start = time.time()
        result = train(run, (run / "config.yaml").is_file())
        self.ledger["times_s"][name] = round(time.time() - start, 1)
        self.save()
        return result

    def score(self, key: str, deblurrer: Path, translator: Path | None = None) -> dict:
        """Deblur the test set (into results/<key>) and evaluate it; cached in the ledger."""
        if key in self.ledger["scores"]:
            return self.ledger["scores"][key]
        pipe = DeblurPipeline.from_checkpoints(deblurrer, translator, self.device)
        folder = self.out / "results" / key
        for f in tqdm(list_images(self.data / "testA"), desc=f"deblur ({key})", disable=not self.progress,
                      dynamic_ncols=True, leave=False):
            outs = pipe.run(read_image(f))
            write_image(folder / f"{f.stem}.png", outs["deblurred"])
            if "translated" in outs:
                write_image(self.out / "results" / f"{key}_translated" / f"{f.stem}.png", outs["translated"])
        return self._evaluate(key, folder)

    def score_inputs(self) -> dict:
        """The blurry test inputs themselves against the ground truth (Table 2's first row)."""
        return self.ledger["scores"].get("input") or self._evaluate("input", self.data / "testA")

    def _evaluate(self, key: str, folder: Path) -> dict:
        res = evaluate_folders(folder, self.data / "testA_gt", lpips=self.lpips())
        self.ledger["scores"][key] = {"mean": res["mean"], "labels": res["labels"]}
        self.save()
        return self.ledger["scores"][key]

    def lpips(self):
        if not hasattr(self, "_lpips"):
            try:
                self._lpips = LPIPS().to(pick_device(self.device))
            except FileNotFoundError:
                self._lpips = None
        return self._lpips


def run_bench(out: str | Path = "bench_out", photos: str | Path | None = None, preset: str = "cpu-small",
              parts=PARTS, tile: int = 96, seed: int = 0, device: str = "auto", progress: bool = True,
              overrides: dict | None = None, tesseract: str | None = None, skip_bad: bool = False) -> dict:
    """Run the chosen `parts` of the bench into `out` (see the module doc); returns the ledger.

    `overrides`: {"deblurrer" | "translator" | "unpaired": ["key=value", ...]} on top of `preset`.
    `tesseract`: the Tesseract executable for the ocr part (default: `tesseract` on PATH).
    `skip_bad`: leave out unreadable photos (each named) instead of failing.
    """
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        raise ValueError(f"unknown bench part(s) {unknown}; choose from {', '.join(PARTS)}")
    parts = list(parts)
    if "ocr" in parts:
        try:
            find_tesseract(tesseract)
        except OCRUnavailable as exc:
            if parts == ["ocr"]:
                raise
            print(f"bench: skipping the ocr part: {exc}")
            parts.remove("ocr")
    sources = list_images(photos) if photos else bundled_photos()
    if not sources:
        raise ValueError(f"no photos found in {photos}")
    guard_output(out, ([photos] if photos else []) + sources, "bench folder")
    bench = Bench(Path(out), preset, device, progress, overrides)
    bench.config("deblurrer"), bench.config("translator"), bench.config("unpaired")  # (typos fail now)
    if not (bench.data / "manifest.json").is_file():
        make_dataset(sources, bench.data, tile=tile, seed=seed, write_train_gt=True, progress=progress,
                     skip_bad=skip_bad,
                     overwrite=True)
    known_set = _known_set(bench, seed)
    direct = _direct(bench)
    bench.tesseract, bench.tile = tesseract, tile
    for part in parts:
        {"table2": _table2, "ratio": _ratio, "backbone": _backbone, "size": _size,
         "seeds": _seeds, "ocr": _ocr}[part](bench, known_set, direct)
    write_report(bench)
    return bench.ledger


def _known_set(bench: Bench, seed: int) -> Path:
    tcfg = bench.config("translator", [f"seed={seed}"])
    return build_known_set(tcfg, bench.data, bench.out / "known_blur_set", device=bench.device,
                           progress=bench.progress)


def _direct(bench: Bench) -> Path:
    cfg = with_known_grain(bench.config("deblurrer"), bench.out / "known_blur_set")
    return bench.trained("direct", "deblurrer", lambda run, resume: train_deblurrer(
        bench.data / "trainC", bench.data / "trainD", run, cfg, bench.preset, bench.device, bench.progress, resume))


def _translator(bench: Bench, name: str, known_set: Path, extra: list[str] = (), blurry: list[Path] | None = None,
                known: list[Path] | None = None) -> Path:
    cfg = bench.config("translator", extra)
    b_dir, k_dir = bench.data / "trainA", known_set
    if blurry is not None:  # a subset: listed in folders of links
        b_dir, k_dir = _subset(bench, name, "B", blurry), _subset(bench, name, "K", known)
    return bench.trained(name, "translator", lambda run, resume: train_translator(
        b_dir, k_dir, run, cfg, bench.preset, bench.device, bench.progress, resume))


def _subset(bench: Bench, name: str, kind: str, files: list[Path]) -> Path:
    folder = bench.out / "subsets" / name / kind
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        link = folder / f.name
        if not link.exists():
            link.symlink_to(f.resolve())
    return folder


def _table2(bench: Bench, known_set: Path, direct: Path) -> dict[str, tuple[Path, Path | None]]:
    d = bench.data
    bench.score_inputs()
    runs = {"direct": direct}
    # The upper bound first: with the direct deblurrer it says early whether the preset leaves
    # room to rank methods (the two must differ clearly).
    cfg = bench.config("deblurrer")
    runs["upper"] = bench.trained("upper", "deblurrer", lambda run, resume: train_deblurrer(
        d / "trainA", d / "trainA_gt", run, cfg, bench.preset, bench.device, bench.progress, resume))
    for key in ("direct", "upper"):
        bench.score(key, runs[key])
    for synth in ("linear", "bsrgan", "rsblur"):
        cfg = bench.config("deblurrer", [f"synthesis={synth}"])
        runs[synth] = bench.trained(synth, "deblurrer", lambda run, resume, cfg=cfg: train_deblurrer(
            None, d / "trainB", run, cfg, bench.preset, bench.device, bench.progress, resume))
    for method in ("cyclegan", "dualgan"):
        cfg = bench.config("unpaired", [f"method={method}"])
        runs[method] = bench.trained(method, "deblurrer", lambda run, resume, cfg=cfg: train_unpaired_gan(
            d / "trainA", d / "trainB", run, cfg, bench.preset, bench.device, bench.progress, resume))
    translator = _translator(bench, "blur2blur", known_set)
    for key in METHODS:
        if key == "blur2blur":
            bench.score(key, direct, translator)
        else:
            bench.score(key, runs[key])
    _converter(bench, translator)
    return {key: (direct, translator) if key == "blur2blur" else (runs[key], None) for key in METHODS}


def _converter(bench: Bench, translator: Path) -> None:
    if "converter" in bench.ledger:
        return
    tcfg = bench.config("translator")
    profile = known_profile_of(tcfg, bench.data)
    start = time.time()
    clf = train_blur_classifier(list_images(bench.data / "trainB"), profile, progress=bench.progress)
    inputs = [read_image(f) for f in list_images(bench.data / "testA")]
    converted = [read_image(f) for f in list_images(bench.out / "results" / "blur2blur_translated")]
    with torch.no_grad():
        result = {"acc2_input": acc2(clf, inputs), "acc2_converted": acc2(clf, converted),
                  "classifier_s": round(time.time() - start, 1), "acc1_input": None, "acc1_converted": None,
                  "classifier_heldout": classifier_accuracy(clf, list_images(bench.data / "testA_gt"), profile)}
        if tcfg.lambda_gan > 0:  # (with lambda_gan=0 the translator has no trained discriminator)
            disc = load_model(Path(translator).parent / "discriminator").eval()
            result.update(acc1_input=acc1(disc, inputs), acc1_converted=acc1(disc, converted))
    bench.ledger["converter"] = result
    bench.save()


def _known_of(known_set: Path, sharp: list[Path]) -> list[Path]:
    """The members of K made from the given sharp images (K's files are `<stem>_k<v>.png`)."""
    stems = {f.stem for f in sharp}
    return [f for f in list_images(known_set) if f.stem.rsplit("_k", 1)[0] in stems]


def _ratio(bench: Bench, known_set: Path, direct: Path) -> None:
    b_files, s_files = list_images(bench.data / "trainA"), list_images(bench.data / "trainB")
    total = min(min(len(b_files) / (b / 10), len(s_files) / (s / 10)) for b, s in RATIOS)
    for b, s in RATIOS:
        nb, ns = max(1, int(total * b / 10)), max(1, int(total * s / 10))
        k_files = _known_of(known_set, s_files[:ns])
        name = f"ratio_{b}_{s}"
        t = _translator(bench, name, known_set, blurry=b_files[:nb], known=k_files)
        bench.score(name, direct, t)


def _backbone(bench: Bench, known_set: Path, direct: Path) -> None:
    for net, extra in BACKBONES.items():
        name = backbone_run(net)
        bench.score(name, direct, _translator(bench, name, known_set, extra))


def _size(bench: Bench, known_set: Path, direct: Path) -> None:
    b_files, s_files = list_images(bench.data / "trainA"), list_images(bench.data / "trainB")
    for alpha in ALPHAS:
        nb, ns = max(1, round(alpha * len(b_files))), max(1, round(alpha * len(s_files)))
        k_files = _known_of(known_set, s_files[:ns])
        name = f"size_{alpha:g}"
        t = _translator(bench, name, known_set, blurry=b_files[:nb], known=k_files)
        bench.score(name, direct, t)


def _seeds(bench: Bench, known_set: Path, direct: Path) -> None:
    for seed in SEEDS:
        name = f"seed_{seed}"
        bench.score(name, direct, _translator(bench, name, known_set, [f"seed={seed}"]))


def _ocr(bench: Bench, known_set: Path, direct: Path) -> None:
    ocr_part(bench, _table2(bench, known_set, direct))
