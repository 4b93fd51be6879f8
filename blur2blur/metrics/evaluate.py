"""Evaluate restored images against ground truth: per-image values, means, a printable table."""

from __future__ import annotations

import math
from pathlib import Path

from .psnr import psnr
from .ssim import ssim

METRIC_LABELS = {
    "psnr": "PSNR (dB, RGB, uint8)",
    "ssim_matlab3d": "SSIM (matlab3d)",
    "ssim_channelwise": "SSIM (channelwise)",
}
DEFAULT_METRICS = ("psnr", "ssim_matlab3d", "ssim_channelwise")


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


def _summarise(rows: list[dict], metrics: tuple[str, ...]) -> dict:
    means = {m: (math.fsum(r[m] for r in rows) / len(rows) if rows else math.nan) for m in metrics}
    return {
        "metrics": list(metrics),
        "labels": {m: METRIC_LABELS[m] for m in metrics},
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


def evaluate_folders(pred_dir, gt_dir, metrics=DEFAULT_METRICS) -> dict:
    """Evaluate every image of ``pred_dir`` against the file with the same stem in ``gt_dir``.

    Raises ``ValueError`` naming the files if a partner is missing on either side, if a folder
    holds two images with the same stem, if a folder has no images, or if two partners differ in
    size. The result is that of :func:`evaluate_arrays`, each row also holding ``pred`` and
    ``gt`` paths (str).
    """
    from blur2blur.io import list_images, read_image  # imported here to keep the package light

    pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
    for d in (pred_dir, gt_dir):
        if not d.is_dir():
            raise FileNotFoundError(f"not a folder: {d}")
    preds = _by_stem(list_images(pred_dir), pred_dir)
    gts = _by_stem(list_images(gt_dir), gt_dir)
    if not preds:
        raise ValueError(f"no images in {pred_dir}")
    only_pred = sorted(set(preds) - set(gts))
    only_gt = sorted(set(gts) - set(preds))
    if only_pred or only_gt:
        parts = []
        if only_pred:
            parts.append(f"no ground truth in {gt_dir} for: " + ", ".join(preds[s].name for s in only_pred))
        if only_gt:
            parts.append(f"no prediction in {pred_dir} for: " + ", ".join(gts[s].name for s in only_gt))
        raise ValueError("unpaired images; " + "; ".join(parts))

    metrics = tuple(metrics)
    fns = {m: _metric_fn(m) for m in metrics}
    rows = []
    for stem in sorted(preds):
        p_path, g_path = preds[stem], gts[stem]
        p, g = read_image(p_path), read_image(g_path)
        if p.shape != g.shape:
            raise ValueError(
                f"size mismatch: {p_path} is {p.shape[1]}x{p.shape[0]} but {g_path} is {g.shape[1]}x{g.shape[0]} (WxH)"
            )
        row = _row(stem, p, g, fns)
        row.update(pred=str(p_path), gt=str(g_path))
        rows.append(row)
    return _summarise(rows, metrics)


def format_table(results: dict) -> str:
    """Plain-text table: one row per image, then the mean; column titles name each convention."""
    metrics = results["metrics"]
    labels = [results.get("labels", METRIC_LABELS).get(m, m) for m in metrics]
    mean_name = f"mean ({results['count']})"
    names = [r["name"] for r in results["per_image"]] + [mean_name]
    name_w = max(len("image"), *(len(n) for n in names))
    widths = [max(len(lab), 10) for lab in labels]

    def fmt(m, v):
        if isinstance(v, float) and math.isinf(v):
            return "inf"
        return f"{v:.2f}" if m == "psnr" else f"{v:.4f}"

    lines = ["  ".join(["image".ljust(name_w)] + [lab.rjust(w) for lab, w in zip(labels, widths)])]
    lines.append("-" * len(lines[0]))
    for r in results["per_image"]:
        cells = [fmt(m, r[m]).rjust(w) for m, w in zip(metrics, widths)]
        lines.append("  ".join([r["name"].ljust(name_w)] + cells))
    lines.append("-" * len(lines[0]))
    cells = [fmt(m, results["mean"][m]).rjust(w) for m, w in zip(metrics, widths)]
    lines.append("  ".join([mean_name.ljust(name_w)] + cells))
    return "\n".join(lines)
