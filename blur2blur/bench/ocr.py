"""The bench's text part: pages of text captured by the camera as its test scenes are, deblurred by
every Table 2 method and read by Tesseract (character and word accuracy, metrics/ocr.py)."""

from __future__ import annotations

import dataclasses
import statistics
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from blur2blur.bench import METHODS
from blur2blur.infer.pipeline import DeblurPipeline
from blur2blur.io import read_image, write_image
from blur2blur.metrics.ocr import char_accuracy, read_text, word_accuracy
from blur2blur.simulate import Camera, load_profile
from blur2blur.simulate.make_dataset import recorded_profile
from blur2blur.simulate.text_pages import render_page

if TYPE_CHECKING:
    from blur2blur.bench.runner import Bench

OCR_FONT_SIZES = (16, 22, 30)  # px
OCR_PAGES = 2  # per font size
OCR_PAGE = (384, 256)  # width, height in px


def ocr_part(bench: Bench, runs: dict[str, tuple[Path, Path | None]]) -> None:
    """Text pages through the camera, every table2 method (`runs`: key -> deblurrer, translator),
    Tesseract; accuracies in the ledger."""
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


def ocr_table(bench: Bench) -> tuple[list[str], list[list[str]]]:
    ocr = bench.ledger.get("ocr")
    if not ocr:
        return [], []
    head = ["page", "character accuracy", "word accuracy"] + [f"char. acc. at {s} px" for s in ocr["font_sizes"]]
    rows = [[OCR_LABELS.get(k, k), f"{r['char']:.3f}", f"{r['word']:.3f}"]
            + [f"{r['by_size'][str(s)]:.3f}" for s in ocr["font_sizes"]] for k, r in ocr["rows"].items()]
    return head, rows


def ocr_grid(bench: Bench, report: Path) -> Path | None:
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
