"""Evaluate restored images: against ground truth (PSNR, both SSIM conventions, LPIPS) and without
it (NIQE); per-image values, means, a printable table, CSV.

Conventions (DESIGN.md section 3): PSNR on RGB after rounding to 8 bits; SSIM "matlab3d" (one 3-D
Gaussian window over RGB) and "channelwise" (per channel, averaged); LPIPS as named by the module
used (ST-LPIPS by default, metrics/lpips.py); NIQE on MATLAB's Y channel with 96 px blocks and the
pristine model given (metrics/niqe.py). Lower is better for LPIPS and NIQE.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import math
import os
from pathlib import Path

import torch

from blur2blur.io import list_images, read_image, to_tensor
from blur2blur.metrics.niqe import load_pristine_model, niqe
from blur2blur.outputs.files import atomic_write_text
from blur2blur.progress import tqdm
from .psnr import psnr
from .ssim import ssim

METRIC_LABELS = {
    "psnr": "PSNR (dB, RGB, uint8)",
    "ssim_matlab3d": "SSIM (matlab3d)",
    "ssim_channelwise": "SSIM (channelwise)",
}
DEFAULT_METRICS = ("psnr", "ssim_matlab3d", "ssim_channelwise")
NO_REFERENCE = ("niqe",)
# Table titles of the metrics whose full label (the weights or model used) is long.
SHORT_TITLES = {"lpips": "LPIPS", "niqe": "NIQE"}


def _metric_fn(name: str):
    if name == "psnr":
        return psnr
    if name == "ssim_matlab3d":
        return lambda p, g: ssim(p, g, convention="matlab3d")
    if name == "ssim_channelwise":
        return lambda p, g: ssim(p, g, convention="channelwise")
    raise ValueError(f"unknown metric {name!r}; expected one of {tuple(METRIC_LABELS)}")


def _row(name: str, pred, gt, fns: dict) -> dict:
    """One result row; a shape mismatch error is prefixed with the image's name."""
    row = {"name": name}
    try:
        row.update({m: fn(pred, gt) for m, fn in fns.items()})
    except ValueError as e:
        raise ValueError(f"{name}: {e}") from e
    return row


def _summarise(rows: list[dict], metrics: tuple[str, ...], labels: dict | None = None) -> dict:
    means = {m: (math.fsum(r[m] for r in rows) / len(rows) if rows else math.nan) for m in metrics}
    labels = {**METRIC_LABELS, **(labels or {})}
    return {
        "metrics": list(metrics),
        "labels": {m: labels[m] for m in metrics},
        "per_image": rows,
        "mean": means,
        "count": len(rows),
    }


def evaluate_arrays(preds, gts, metrics=DEFAULT_METRICS, names=None) -> dict:
    """Evaluate in-memory images (each numpy HxWx3 float [0, 1] or torch CHW/1CHW).

    Returns ``{"metrics", "labels", "per_image": [{"name", <metric>: float, ...}], "mean", "count"}``.
    A PSNR of identical images is ``inf`` and makes the mean ``inf``.
    """
    metrics = tuple(metrics)
    fns = {m: _metric_fn(m) for m in metrics}
    preds, gts = list(preds), list(gts)
    if len(preds) != len(gts):
        raise ValueError(f"got {len(preds)} predictions but {len(gts)} ground-truth images")
    names = [str(i) for i in range(len(preds))] if names is None else [str(n) for n in names]
    if len(names) != len(preds):
        raise ValueError(f"got {len(names)} names for {len(preds)} images")
    rows = [_row(name, p, g, fns) for name, p, g in zip(names, preds, gts)]
    return _summarise(rows, metrics)


def _by_stem(files: list[Path], folder: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for f in files:
        if f.stem in out:
            raise ValueError(f"two images with the same stem in {folder}: {out[f.stem].name} and {f.name}")
        out[f.stem] = f
    return out


def default_niqe_model() -> Path | None:
    """A NIQE pristine model found without downloading: $BLUR2BLUR_NIQE_MODEL, else the
    `niqe_pris_params.npz` inside an installed BasicSR package (located, never imported)."""
    env = os.environ.get("BLUR2BLUR_NIQE_MODEL")
    if env:
        return Path(env)
    try:
        spec = importlib.util.find_spec("basicsr")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        p = Path(folder) / "metrics" / "niqe_pris_params.npz"
        if p.is_file():
            return p
    return None


def evaluate_folders(pred_dir, gt_dir=None, metrics=None, lpips=None, niqe_model=None,
                     progress: bool = False) -> dict:
    """Evaluate every image of ``pred_dir``, against the file with the same stem in ``gt_dir``.

    ``metrics``: names among psnr, ssim_matlab3d, ssim_channelwise, lpips (needs ``lpips``, an
    ``LPIPS`` module), niqe (needs ``niqe_model``, a pristine-model .npz path). Default: the
    three full-reference metrics, plus lpips / niqe when their module / model is given; with
    ``gt_dir`` None only no-reference metrics (niqe). Raises ``ValueError`` naming the files if a
    partner is missing on either side, if a folder holds two images with the same stem, if a
    folder has no images, or if two partners differ in size. The result is that of
    :func:`evaluate_arrays`, each row also holding ``pred`` (and ``gt``) paths (str).
    """
    if metrics is None:
        metrics = (DEFAULT_METRICS + (("lpips",) if lpips is not None else ()) if gt_dir is not None else ()) \
            + (("niqe",) if niqe_model is not None else ())
    metrics = tuple(metrics)
    if not metrics:
        raise ValueError("without ground truth only no-reference metrics apply: give a NIQE pristine "
                         "model (--niqe-model FILE.npz, see docs/metrics.md)")
    full_ref = [m for m in metrics if m not in NO_REFERENCE]
    if full_ref and gt_dir is None:
        raise ValueError(f"{', '.join(full_ref)} need ground truth: give a ground-truth folder")
    if "lpips" in metrics and lpips is None:
        raise ValueError("the lpips metric needs an LPIPS module (metrics.lpips.LPIPS)")
    labels = {}
    if "lpips" in metrics:
        labels["lpips"] = lpips.name
    niqe_fn = None
    if "niqe" in metrics:
        if niqe_model is None:
            raise ValueError("the niqe metric needs a pristine model (.npz with mu_pris_param, cov_pris_param)")
        model = load_pristine_model(niqe_model)
        niqe_fn = lambda p: niqe(p, model)  # noqa: E731
        labels["niqe"] = f"NIQE (Y, 96 px blocks, {Path(niqe_model).name})"

    pred_dir = Path(pred_dir)
    dirs = [pred_dir] + ([Path(gt_dir)] if gt_dir is not None else [])
    for d in dirs:
        if not d.is_dir():
            raise FileNotFoundError(f"not a folder: {d}")
    preds = _by_stem(list_images(pred_dir), pred_dir)
    if not preds:
        raise ValueError(f"no images in {pred_dir}")
    gts = _by_stem(list_images(gt_dir), Path(gt_dir)) if gt_dir is not None else {}
    if gt_dir is not None:
        gt_dir = Path(gt_dir)
        only_pred = sorted(set(preds) - set(gts))
        only_gt = sorted(set(gts) - set(preds))
        if only_pred or only_gt:
            parts = []
            if only_pred:
                parts.append(f"no ground truth in {gt_dir} for: " + ", ".join(preds[s].name for s in only_pred))
            if only_gt:
                parts.append(f"no prediction in {pred_dir} for: " + ", ".join(gts[s].name for s in only_gt))
            raise ValueError("unpaired images; " + "; ".join(parts))

    fns = {m: _metric_fn(m) for m in full_ref if m != "lpips"}
    rows = []
    for stem in tqdm(sorted(preds), desc="evaluate", disable=not progress, dynamic_ncols=True):
        p_path = preds[stem]
        p = read_image(p_path)
        row = {"name": stem}
        if gt_dir is not None:
            g_path = gts[stem]
            g = read_image(g_path)
            if p.shape != g.shape:
                raise ValueError(f"size mismatch: {p_path} is {p.shape[1]}x{p.shape[0]} but {g_path} is "
                                 f"{g.shape[1]}x{g.shape[0]} (WxH)")
            row = _row(stem, p, g, fns)
            if "lpips" in metrics:
                row["lpips"] = _lpips_value(lpips, p, g)
        if niqe_fn is not None:
            try:
                row["niqe"] = niqe_fn(p)
            except ValueError as e:
                raise ValueError(f"{p_path}: {e}") from e
        row["pred"] = str(p_path)
        if gt_dir is not None:
            row["gt"] = str(gts[stem])
        rows.append({k: row[k] for k in ["name", *metrics, "pred", *(["gt"] if gt_dir is not None else [])]})
    return _summarise(rows, metrics, labels)


def _lpips_value(module, pred, gt) -> float:
    device = next(module.buffers()).device
    with torch.inference_mode():
        return float(module(to_tensor(pred)[None].to(device), to_tensor(gt)[None].to(device))[0])


def printable(name) -> str:
    """A file name as text that any UTF-8 output takes: bytes that are not UTF-8 (kept by Python
    as surrogates) written as backslash escapes (`caf\\xe9.png`)."""
    return str(name).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def write_csv(results: dict, path) -> None:
    """One row per image and a last row "mean"; columns: name, then each metric (its label)."""
    metrics = results["metrics"]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["image"] + [results["labels"][m] for m in metrics])
    for r in results["per_image"]:
        writer.writerow([printable(r["name"])] + [repr(float(r[m])) for m in metrics])
    writer.writerow(["mean"] + [repr(float(results["mean"][m])) for m in metrics])
    atomic_write_text(path, buf.getvalue())


def format_table(results: dict) -> str:
    """Plain-text table: one row per image, then the mean; column titles name each convention."""
    metrics = results["metrics"]
    labels = [SHORT_TITLES.get(m) or results.get("labels", METRIC_LABELS).get(m, m) for m in metrics]
    mean_name = f"mean ({results['count']})"
    names = [printable(r["name"]) for r in results["per_image"]] + [mean_name]
    name_w = max(len("image"), *(len(n) for n in names))
    widths = [max(len(lab), 10) for lab in labels]

    def fmt(m, v):
        if isinstance(v, float) and math.isinf(v):
            return "inf"
        return f"{v:.2f}" if m == "psnr" else f"{v:.3f}" if m == "niqe" else f"{v:.4f}"

    lines = ["  ".join(["image".ljust(name_w)] + [lab.rjust(w) for lab, w in zip(labels, widths)])]
    lines.append("-" * len(lines[0]))
    for r in results["per_image"]:
        cells = [fmt(m, r[m]).rjust(w) for m, w in zip(metrics, widths)]
        lines.append("  ".join([printable(r["name"]).ljust(name_w)] + cells))
    lines.append("-" * len(lines[0]))
    cells = [fmt(m, results["mean"][m]).rjust(w) for m, w in zip(metrics, widths)]
    lines.append("  ".join([mean_name.ljust(name_w)] + cells))
    return "\n".join(lines)
