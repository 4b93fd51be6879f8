"""The bench's report: report/README.md and a self-contained report/index.html with the tables of
every part, plots (with matplotlib, when installed) and image grids; only files that exist are
referenced."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from blur2blur.bench import ALPHAS, BACKBONES, GRID_IMAGES, METHODS, RATIOS, SEEDS, backbone_run
from blur2blur.bench.ocr import OCR_LABELS, ocr_grid, ocr_table
from blur2blur.io import list_images, read_image, write_image
from blur2blur.outputs.files import atomic_write_text

if TYPE_CHECKING:
    from blur2blur.bench.runner import Bench


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
         *_rows(bench, [(backbone_run(n), n) for n in BACKBONES]), "backbone"),
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
    head, rows = ocr_table(bench)
    if rows:
        grid = ocr_grid(bench, report)
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
