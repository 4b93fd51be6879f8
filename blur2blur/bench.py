"""`blur2blur bench`: the shape of the paper's Table 2 and ablations, on photos of your choice.

From a folder of sharp photos (default: the photos bundled with scikit-image) the camera
simulator builds the two domains (the known camera's pairs, the user's camera's unpaired B and S,
a test set with ground truth); then every method is trained at one preset and scored on the
camera's test set:

- table2: the known deblurrer applied directly; deblurrers trained on S with generic blur
  syntheses (linear motion, BSRGAN-style, RSBlur-style); CycleGAN and DualGAN (B -> S);
  Blur2Blur (translator + the known deblurrer); the upper bound trained on the camera's own pairs.
  PSNR, both SSIMs, LPIPS and the training time of each; the converter validation (Acc1, Acc2)
  of the translator on the inputs and on the converted images.
- ratio: Blur2Blur with B:S proportions 5:5 to 9:1 (subsets of equal total size of the table2
  B and S sets);
- backbone: Blur2Blur with MIMO-UNet, U-Net and NAFNet translators;
- size: Blur2Blur with a fraction alpha (0.25 to 1.0) of B and S;
- seeds: Blur2Blur (table2's translator) trained again with other seeds: the spread against
  which the ablations' differences are to be read.
- ocr: text pages (simulate/text_pages.py) captured by the camera as its test scenes are, deblurred
  by every table2 method and read by Tesseract: character and word accuracy (metrics/ocr.py)
  of the sharp page, the blurry input and each method. Skipped with the install hint when
  Tesseract is missing (an error when it is the only part asked for).
Each part can run alone; everything lands in `out/` and an interrupted bench resumes where it
stopped (finished runs are reused, unfinished ones resumed from their checkpoints). The report is
`out/report/README.md` and a self-contained `out/report/index.html` (tables, image grids, plots).
"""

from __future__ import annotations

import html
import json
import math
import time
from pathlib import Path

import numpy as np
from blur2blur.progress import tqdm

from blur2blur.io import list_images, read_image, write_image
from blur2blur.outputs import atomic_write_text, guard_output

PARTS = ("table2", "ratio", "backbone", "size", "seeds", "ocr")
METHODS = {
    "direct": "known deblurrer applied directly",
    "linear": "deblurrer trained on S with random linear motion",
    "bsrgan": "deblurrer trained on S with BSRGAN-style degradations",
    "rsblur": "deblurrer trained on S with RSBlur-style synthesis",
    "cyclegan": "CycleGAN (B -> S)",
    "dualgan": "DualGAN (B -> S)",
    "blur2blur": "Blur2Blur: translator + known deblurrer",
    "upper": "deblurrer trained on the camera's own pairs (upper bound)",
}
RATIOS = ((5, 5), (6, 4), (7, 3), (8, 2), (9, 1))
# U-Net and NAFNet output images (the kernel head is MIMO-UNet's): they get the low-pass colour
# anchor, since a patch-statistics critic alone leaves colour free (docs/research/bench.md: without it a
# U-Net T turned whites pink).
_IMAGE_HEAD = ["out_kernel=0", "lambda_lowpass=1"]
BACKBONES = {"mimo_unet": [], "unet": ["net=unet", "levels=3"] + _IMAGE_HEAD,
             "nafnet": ["net=nafnet", "width=16", "enc_blk_nums=[1,1,2]", "dec_blk_nums=[1,1,1]"] + _IMAGE_HEAD}
ALPHAS = (0.25, 0.5, 0.75, 1.0)
SEEDS = (1, 2, 3)  # (table2's Blur2Blur run is seed 0)
GRID_IMAGES = 4


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
        from blur2blur.train.config import DeblurrerConfig, TranslatorConfig, UnpairedGANConfig, make_config

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
        from blur2blur.infer.pipeline import DeblurPipeline

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
        from blur2blur.metrics.evaluate import evaluate_folders

        res = evaluate_folders(folder, self.data / "testA_gt", lpips=self.lpips())
        self.ledger["scores"][key] = {"mean": res["mean"], "labels": res["labels"]}
        self.save()
        return self.ledger["scores"][key]

    def lpips(self):
        if not hasattr(self, "_lpips"):
            from blur2blur.device import pick_device
            from blur2blur.metrics.lpips import LPIPS

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
    from blur2blur.demo import bundled_photos
    from blur2blur.simulate import make_dataset

    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        raise ValueError(f"unknown bench part(s) {unknown}; choose from {', '.join(PARTS)}")
    parts = list(parts)
    if "ocr" in parts:
        from blur2blur.metrics.ocr import OCRUnavailable, find_tesseract

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
    from blur2blur.train.translator import build_known_set

    tcfg = bench.config("translator", [f"seed={seed}"])
    return build_known_set(tcfg, bench.data, bench.out / "known_blur_set", device=bench.device,
                           progress=bench.progress)


def _direct(bench: Bench) -> Path:
    from blur2blur.data.known_blur import with_known_grain
    from blur2blur.train.deblurrer import train_deblurrer

    cfg = with_known_grain(bench.config("deblurrer"), bench.out / "known_blur_set")
    return bench.trained("direct", "deblurrer", lambda run, resume: train_deblurrer(
        bench.data / "trainC", bench.data / "trainD", run, cfg, bench.preset, bench.device, bench.progress, resume))


def _translator(bench: Bench, name: str, known_set: Path, extra: list[str] = (), blurry: list[Path] | None = None,
                known: list[Path] | None = None) -> Path:
    from blur2blur.train.translator import train_translator

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
    from blur2blur.train.deblurrer import train_deblurrer
    from blur2blur.train.unpaired_gan import train_unpaired_gan

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
    import torch

    from blur2blur.metrics.converter import acc1, acc2, classifier_accuracy, train_blur_classifier
    from blur2blur.train.translator import known_profile_of
    from blur2blur.nets.weights import load_model

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
        name = _backbone_run(net)
        bench.score(name, direct, _translator(bench, name, known_set, extra))


def _backbone_run(net: str) -> str:
    """Run name of a translator backbone (MIMO-UNet is Table 2's Blur2Blur run)."""
    return "blur2blur" if net == "mimo_unet" else f"backbone_{net}"


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


OCR_FONT_SIZES = (16, 22, 30)  # px
OCR_PAGES = 2  # per font size
OCR_PAGE = (384, 256)  # width, height in px


def _ocr(bench: Bench, known_set: Path, direct: Path) -> None:
    """Text pages through the camera, every table2 method, Tesseract; accuracies in the ledger."""
    import dataclasses
    import statistics

    from blur2blur.infer.pipeline import DeblurPipeline
    from blur2blur.metrics.ocr import char_accuracy, read_text, word_accuracy
    from blur2blur.simulate import Camera, load_profile
    from blur2blur.simulate.make_dataset import recorded_profile
    from blur2blur.simulate.text_pages import render_page

    runs = _table2(bench, known_set, direct)
    if "ocr" in bench.ledger:
        return
    folder = bench.out / "ocr"
    profile = recorded_profile(bench.data, "unknown") or load_profile("unknown")
    # the blur of the bench's test scenes (tiles of `tile` px) on a page of any size
    ref = profile.reference_size or max(OCR_PAGE)
    camera = Camera(dataclasses.replace(profile, reference_size=int(round(ref * max(OCR_PAGE) / bench.tile))))
    pages = []
    for size in OCR_FONT_SIZES:
        for i in range(OCR_PAGES):
            page, text = render_page(1000 + i, *OCR_PAGE, font_size=size)
            name = f"page_{size}px_{i}"
            seed = 7919 * size + i
            write_image(folder / "input" / f"{name}.png", camera.capture(page, seed))
            write_image(folder / "sharp page" / f"{name}.png", camera.capture(page, seed, motion=False, noise=False,
                                                                             jpeg=False))
            pages.append((name, size, text))
    for key, (deblurrer, translator) in runs.items():
        pipe = DeblurPipeline.from_checkpoints(deblurrer, translator, bench.device)
        for name, _, _ in pages:
            write_image(folder / key / f"{name}.png", pipe.run(read_image(folder / "input" / f"{name}.png"))["deblurred"])
    rows = {}
    for key in ["sharp page", "input"] + list(runs):
        per = [(size, char_accuracy(t, text), word_accuracy(t, text)) for name, size, text in pages
               for t in [read_text(read_image(folder / key / f"{name}.png"), bench.tesseract)]]
        rows[key] = {"char": statistics.fmean(c for _, c, _ in per), "word": statistics.fmean(w for _, _, w in per),
                     "by_size": {str(s): statistics.fmean(c for z, c, _ in per if z == s) for s in OCR_FONT_SIZES}}
    bench.ledger["ocr"] = {"pages": len(pages), "font_sizes": list(OCR_FONT_SIZES), "rows": rows}
    bench.save()


OCR_LABELS = {"sharp page": "sharp page (the camera without shake or noise)", "input": "blurry input", **METHODS}


def _ocr_table(bench: Bench) -> tuple[list[str], list[list[str]]]:
    ocr = bench.ledger.get("ocr")
    if not ocr:
        return [], []
    head = ["page", "character accuracy", "word accuracy"] + [f"char. acc. at {s} px" for s in ocr["font_sizes"]]
    rows = [[OCR_LABELS.get(k, k), f"{r['char']:.3f}", f"{r['word']:.3f}"]
            + [f"{r['by_size'][str(s)]:.3f}" for s in ocr["font_sizes"]] for k, r in ocr["rows"].items()]
    return head, rows


def _ocr_grid(bench: Bench, report: Path) -> Path | None:
    """One text crop (the middle font size, first page): each row a method, the sharp page last."""
    ocr = bench.ledger.get("ocr")
    if not ocr:
        return None
    size = ocr["font_sizes"][len(ocr["font_sizes"]) // 2]
    keys = ["input"] + [k for k in ocr["rows"] if k not in ("input", "sharp page")] + ["sharp page"]
    crops = [read_image(bench.out / "ocr" / k / f"page_{size}px_0.png")[:96, :256] for k in keys]
    gap = np.ones((4, crops[0].shape[1], 3), np.float32)
    grid = np.concatenate([x for c in crops for x in (c, gap)][:-1], axis=0)
    bench.ledger["ocr_grid_rows"] = keys
    return write_image(report / "ocr_grid.png", grid)


# ----------------------------------------------------------------------------- report

def _fmt(key: str, v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{v:.2f}" if key == "psnr" else f"{v:.4f}"


def _rows(bench: Bench, keys: list[tuple[str, str]]) -> tuple[list[str], list[list[str]]]:
    """Header and rows (label, metrics..., time) for the scored runs among `keys` (key, label)."""
    metrics = ["psnr", "ssim_matlab3d", "ssim_channelwise", "lpips"]
    any_score = next((bench.ledger["scores"][k] for k, _ in keys if k in bench.ledger["scores"]), None)
    if any_score is None:
        return [], []
    metrics = [m for m in metrics if m in any_score["mean"]]
    head = ["method"] + [any_score["labels"].get(m, m) for m in metrics] + ["training time (s)"]
    rows = []
    for key, label in keys:
        score = bench.ledger["scores"].get(key)
        if score:
            t = bench.ledger["times_s"].get(key)
            rows.append([label] + [_fmt(m, score["mean"].get(m)) for m in metrics] + ["-" if t is None else f"{t:.0f}"])
    return head, rows


def _markdown(head, rows) -> str:
    if not rows:
        return "(not run)"
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows])


def _html_table(head, rows) -> str:
    if not rows:
        return "<p>(not run)</p>"
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{cells}</tr>{body}</table>"


def _sections(bench: Bench) -> list[tuple[str, list[str], list[list[str]], str]]:
    """(title, header, rows, plot file stem) of every part."""
    return [
        ("Table 2: methods on the camera's test set",
         *_rows(bench, [("input", "blurry input (no deblurring)")] + list(METHODS.items())), "table2"),
        ("B:S ratio ablation (Blur2Blur)", *_rows(bench, [(f"ratio_{b}_{s}", f"B:S = {b}:{s}") for b, s in RATIOS]),
         "ratio"),
        ("Translator backbone ablation (Blur2Blur)",
         *_rows(bench, [(_backbone_run(n), n) for n in BACKBONES]), "backbone"),
        ("Data size ablation (Blur2Blur)", *_rows(bench, [(f"size_{a:g}", f"alpha = {a:g}") for a in ALPHAS]), "size"),
        ("Blur2Blur across training seeds (the spread to read the ablations against)",
         *_rows(bench, [("blur2blur", "seed 0 (Table 2)")] + [(f"seed_{s}", f"seed {s}") for s in SEEDS]),
         "seeds"),
    ]


def _plot(path: Path, title: str, labels: list[str], values: list[float], line: bool) -> bool:
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    if line:
        ax.plot(range(len(values)), values, marker="o")
        ax.set_xticks(range(len(values)), labels)
    else:
        ax.barh(range(len(values)), values)
        ax.set_yticks(range(len(values)), labels, fontsize=7)
        ax.set_xlim(min(values) - 1, max(values) + 0.5)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("PSNR (dB)" if not line else "")
    if line:
        ax.set_ylabel("PSNR (dB)")
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")  # (long method names stay inside the image)
    plt.close(fig)
    return True


def _grids(bench: Bench, report: Path) -> list[Path]:
    """For the first test images: input | each scored table2 method | ground truth, one PNG each."""
    tests = list_images(bench.data / "testA")[:GRID_IMAGES]
    cols = ["input"] + [k for k in METHODS if k in bench.ledger["scores"]] + ["ground truth"]
    paths = []
    for f in tests:
        tiles = [read_image(f)] + [read_image(bench.out / "results" / k / f"{f.stem}.png")
                                   for k in cols[1:-1]] + [read_image(bench.data / "testA_gt" / f.name)]
        zoom = max(1, 192 // tiles[0].shape[0])
        tiles = [t.repeat(zoom, 0).repeat(zoom, 1) for t in tiles]
        gap = np.ones((tiles[0].shape[0], 4, 3), np.float32)
        row = np.concatenate([x for t in tiles for x in (t, gap)][:-1], axis=1)
        paths.append(write_image(report / "grids" / f"{f.stem}.png", row))
    bench.ledger["grid_columns"] = cols
    return paths


def write_report(bench: Bench) -> Path:
    """Write report/README.md and report/index.html (only files that exist are referenced)."""
    report = bench.out / "report"
    report.mkdir(parents=True, exist_ok=True)
    md, body = ["# blur2blur bench", "", f"Preset `{bench.preset}`; data `{bench.data}`.", ""], []
    for title, head, rows, stem in _sections(bench):
        md += [f"## {title}", "", _markdown(head, rows), ""]
        body.append(f"<h2>{html.escape(title)}</h2>{_html_table(head, rows)}")
        if rows and len(rows) > 1:
            values = [float(r[1]) for r in rows if r[1] != "-"]
            if len(values) == len(rows) and _plot(report / f"{stem}.png", title, [r[0] for r in rows], values,
                                                  line=stem in ("ratio", "size")):
                md += [f"![{title}]({stem}.png)", ""]
                body.append(f'<img src="{stem}.png" alt="{html.escape(title)}">')
    conv = bench.ledger.get("converter")
    if conv:
        head = ["images", "Acc1 (translator's D)", "Acc2 (known-blur classifier)"]
        def cell(v):
            return "- (no trained D)" if v is None else f"{v:.2f}"
        rows = [["camera's inputs y", cell(conv["acc1_input"]), cell(conv["acc2_input"])],
                ["converted T(y)", cell(conv["acc1_converted"]), cell(conv["acc2_converted"])]]
        check = conv.get("classifier_heldout")
        note = ("" if check is None else
                f"Acc2's classifier tells known from other blur on held-out test scenes with balanced accuracy "
                f"{check:.2f} (0.5 = chance: then Acc2 says nothing).")
        md += ["## Converter validation (fraction judged to carry the known blur)", "", _markdown(head, rows), "",
               note, ""]
        body.append(f"<h2>Converter validation</h2>{_html_table(head, rows)}<p>{html.escape(note)}</p>")
    head, rows = _ocr_table(bench)
    if rows:
        grid = _ocr_grid(bench, report)
        order = ", ".join(OCR_LABELS.get(k, k) for k in bench.ledger["ocr_grid_rows"])
        title = f"Reading text: Tesseract on {bench.ledger['ocr']['pages']} camera-captured pages"
        md += [f"## {title}", "", _markdown(head, rows), "", f"![text crop]({grid.name}) (rows: {order})", ""]
        body.append(f"<h2>{html.escape(title)}</h2>{_html_table(head, rows)}<p>Rows of the crop: {html.escape(order)}</p>"
                    f'<img src="{grid.name}" alt="text crop">')
    if bench.ledger["scores"] and any(k in bench.ledger["scores"] for k in METHODS):
        grids = _grids(bench, report)
        cols = " | ".join(bench.ledger["grid_columns"])
        md += ["## Test images", "", f"Columns: {cols}.", ""] + [f"![{p.stem}](grids/{p.name})" for p in grids]
        body.append(f"<h2>Test images</h2><p>Columns: {html.escape(cols)}.</p>"
                    + "".join(f'<p><img src="grids/{p.name}" alt="{p.stem}"></p>' for p in grids))
    times = bench.ledger["times_s"]
    md += ["", "Training times (s): " + json.dumps(times)]
    atomic_write_text(report / "README.md", "\n".join(md) + "\n")
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>blur2blur bench</title><style>"
            "body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse}"
            "td,th{border:1px solid #999;padding:3px 8px;text-align:right}td:first-child{text-align:left}"
            "img{max-width:100%}</style></head><body><h1>blur2blur bench</h1>"
            f"<p>Preset <code>{html.escape(bench.preset)}</code>.</p>" + "".join(body)
            + f"<p>Training times (s): {html.escape(json.dumps(times))}</p></body></html>")
    atomic_write_text(report / "index.html", page)
    bench.save()
    return report
