"""The dataset layout and its check (`blur2blur check-data`).

    root/trainA     the camera's blurry images B
    root/trainB     the camera's sharp images S (other scenes; no pairing with trainA)
    root/trainC     known-domain blurry images   } pairs, matched by file stem
    root/trainD     known-domain sharp images    } (the extension may differ)
    root/testA      the camera's blurry test images
    root/testA_gt   optional ground truth for testA, matched by stem

Pairs are always matched by file stem ("0001.png" <-> "0001.jpg"), never by sort order.
`check_layout` lists every problem it finds, each with a level: "error" (training would fail or
be wrong), "warning" (something is ignored or changed) or "info" (a conversion on reading).
"""

from __future__ import annotations

import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from blur2blur.io import IMAGE_EXTENSIONS, ImageReadError, image_info, list_images, read_image

SPLITS = ("trainA", "trainB", "trainC", "trainD", "testA", "testA_gt")
ROLES = {
    "trainA": "camera's blurry images (B)",
    "trainB": "camera's sharp images (S)",
    "trainC": "known-domain blurry, paired with trainD by name",
    "trainD": "known-domain sharp, paired with trainC by name",
    "testA": "camera's blurry test images",
    "testA_gt": "ground truth for testA, by name (optional)",
}
PAIRED_SPLITS = (("trainC", "trainD"), ("testA", "testA_gt"))
LEVELS = ("error", "warning", "info")

# group titles for LayoutReport.format(), by problem code
_TITLES = {
    "no_root": "dataset folder missing",
    "missing": "missing folder",
    "empty": "folder without images",
    "unreadable": "unreadable or truncated files",
    "broken_link": "broken symbolic links",
    "duplicate": "several files with the same name stem",
    "unpaired": "files without a partner (matched by name stem)",
    "no_pairs": "no pairs",
    "size_mismatch": "pairs whose images differ in size",
    "small": "images smaller than the crop (will be reflect-padded)",
    "ignored": "non-image files and subfolders (ignored)",
    "unknown_folder": "folders that are not part of the layout (ignored)",
    "converted": "images converted on reading",
}
_KNOWN_FORMATS = {"PNG", "JPEG", "TIFF", "BMP", "WEBP"}
_EXT_FORMAT = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF",
               ".bmp": "BMP", ".webp": "WEBP"}


@dataclass
class Problem:
    """One finding: `level` "error" | "warning" | "info"; `split` folder name (or None for the
    root); `path` the file or folder concerned; `message` a self-contained sentence; `code` a
    short machine-readable kind (see _TITLES)."""

    level: str
    split: str | None
    path: Path | None
    message: str
    code: str = ""


@dataclass
class LayoutReport:
    """Result of check_layout: problems, image counts per split, pair counts."""

    root: Path
    crop_size: int | None
    need: tuple[str, ...]
    problems: list[Problem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    present: dict[str, bool] = field(default_factory=dict)
    pairs: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings and infos allowed)."""
        return not self.errors

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "warning"]

    def add(self, level, split, path, message, code) -> None:
        self.problems.append(Problem(level, split, path, message, code))

    def format(self, max_items: int = 10) -> str:
        """Human-readable multi-line report: counts per split, then problems grouped by level,
        folder and kind (at most `max_items` lines per group)."""
        crop = f"crop {self.crop_size}" if self.crop_size else "no crop"
        lines = [f"Dataset check: {self.root} ({crop})"]
        for split in SPLITS:
            if self.present.get(split):
                n = self.counts.get(split, 0)
                count = f"{n:6d} image{'s' if n != 1 else ''}"
            else:
                count = "missing (needed)" if split in self.need else "   not present"
            lines.append(f"  {split:9s} {count:16s}  {ROLES[split]}")
        if self.pairs:
            lines.append("  pairs: " + ", ".join(f"{k} {v}" for k, v in self.pairs.items()))
        for level, heading in zip(LEVELS, ("Errors", "Warnings", "Notes")):
            items = [p for p in self.problems if p.level == level]
            if not items:
                continue
            lines.append(f"{heading} ({len(items)}):")
            groups: dict[tuple, list[Problem]] = defaultdict(list)
            for p in items:
                groups[(p.split or "", p.code)].append(p)
            for (split, code), group in groups.items():
                where = f"[{split}] " if split else ""
                if len(group) == 1:
                    lines.append(f"  {where}{group[0].message}")
                    continue
                lines.append(f"  {where}{_TITLES.get(code, code)}: {len(group)}")
                for p in group[:max_items]:
                    lines.append(f"      {p.message}")
                if len(group) > max_items:
                    lines.append(f"      ... and {len(group) - max_items} more")
        n_err, n_warn = len(self.errors), len(self.warnings)
        if n_err:
            lines.append(f"Result: {n_err} error(s), {n_warn} warning(s) - fix the errors before training.")
        else:
            lines.append(f"Result: OK ({n_warn} warning(s)).")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


def stem_index(files) -> tuple[dict[str, Path], list[list[Path]]]:
    """Map file stem -> path; also return the groups of files that share a stem."""
    by_stem: dict[str, list[Path]] = defaultdict(list)
    for f in files:
        by_stem[Path(f).stem].append(Path(f))
    index = {s: fs[0] for s, fs in by_stem.items() if len(fs) == 1}
    duplicates = [sorted(fs) for s, fs in sorted(by_stem.items()) if len(fs) > 1]
    return index, duplicates


def pair_by_stem(dir_a, dir_b) -> tuple[list[tuple[Path, Path]], list[Path], list[Path]]:
    """Pair the images of two folders by file stem (never by order).

    Returns (pairs sorted by stem, files only in dir_a, files only in dir_b).
    Raises ValueError if a folder holds several files with the same stem (ambiguous pairing)
    and FileNotFoundError if a folder is missing.
    """
    index_a, dup_a = stem_index(list_images(dir_a))
    index_b, dup_b = stem_index(list_images(dir_b))
    if dup_a or dup_b:
        names = "; ".join(", ".join(str(p) for p in group) for group in dup_a + dup_b)
        raise ValueError(f"cannot pair {dir_a} with {dir_b}: files share a name stem: {names}")
    pairs = [(index_a[s], index_b[s]) for s in sorted(index_a.keys() & index_b.keys())]
    only_a = sorted(index_a[s] for s in index_a.keys() - index_b.keys())
    only_b = sorted(index_b[s] for s in index_b.keys() - index_a.keys())
    return pairs, only_a, only_b


def paired_files(blur_dir: str | Path, sharp_dir: str | Path) -> list[tuple[Path, Path]]:
    """Blurry/sharp pairs matched by file stem; unmatched files are an error naming them."""
    pairs, only_blur, only_sharp = pair_by_stem(blur_dir, sharp_dir)
    if only_blur or only_sharp:
        names = [p.name for p in only_blur] + [p.name for p in only_sharp]
        raise ValueError(f"files without a partner in {blur_dir} / {sharp_dir}: {names[:10]}")
    if not pairs:
        raise ValueError(f"no blurry/sharp pairs found in {blur_dir} and {sharp_dir}")
    return pairs


def _inspect(path: Path, deep: bool):
    """(ImageInfo or None, error reason or None) for one file."""
    try:
        info = image_info(path)
        if deep:
            read_image(path, keep_dtype=True)
        return info, None
    except ImageReadError as exc:
        return None, exc.reason


def _listable(folder: Path) -> list[Path]:
    """The images list_images would return, broken symbolic links left out (reported apart)."""
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".")
                  and p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def check_layout(root, crop_size: int | None = 256, need=None,
                 deep: bool = True, workers: int | None = None) -> LayoutReport:
    """Check a dataset folder and report every problem found (see the module docstring).

    `need`: splits that must exist and hold images (errors otherwise). Default: trainA and
    trainB, plus trainD when trainC exists and the other way round (known pairs are optional:
    without them the project's known camera is the known domain, docs/known_camera.md).
    `deep=True` decodes every image fully so truncated files are found; `deep=False` reads
    headers only (fast). `workers`: threads used to read files (default: up to 4).
    """
    root = Path(root)
    if need is None:
        need = ("trainA", "trainB")
        if (root / "trainC").is_dir() or (root / "trainD").is_dir():
            need += ("trainC", "trainD")
    need = tuple(need)
    if crop_size is not None and crop_size < 1:
        raise ValueError(f"crop size must be at least 1 px, got {crop_size}")
    unknown = [s for s in need if s not in SPLITS]
    if unknown:
        raise ValueError(f"unknown split(s) {unknown} in need; the splits are {SPLITS}")
    report = LayoutReport(root=root, crop_size=crop_size, need=need)
    if not root.is_dir():
        why = (f"{root} is a file, not a dataset folder: give the folder holding trainA, trainB, ..."
               if root.exists() else f"dataset folder {root} does not exist")
        report.add("error", None, root, why, "no_root")
        return report

    _report_unknown_folders(report, root)
    images = _scan_splits(report, root, need)
    all_files = [f for split in SPLITS for f in images.get(split, [])]
    infos = _inspect_all(all_files, deep, workers)
    _report_files(report, images, infos, crop_size)
    for split_a, split_b in PAIRED_SPLITS:
        if split_a in images and split_b in images:
            _check_pairs(report, split_a, split_b, images, infos)
    return report


def _report_unknown_folders(report: LayoutReport, root: Path) -> None:
    """Folders beside the splits are ignored (said as info, with a hint for a case mismatch)."""
    for entry in sorted(root.iterdir()):
        if entry.is_dir() and entry.name not in SPLITS and not entry.name.startswith("."):
            hint = ""
            if entry.name.lower() in {s.lower() for s in SPLITS}:
                hint = f" (names are case-sensitive: did you mean {_case_match(entry.name)}?)"
            report.add("info", None, entry,
                       f"folder {entry.name}/ is not part of the layout and is ignored{hint}",
                       "unknown_folder")


def _scan_splits(report: LayoutReport, root: Path, need: tuple[str, ...]) -> dict[str, list[Path]]:
    """The image files of every present split; missing or empty needed splits, broken links,
    ignored files and duplicate stems reported."""
    lower_names = {p.name.lower(): p.name for p in root.iterdir() if p.is_dir()}
    images: dict[str, list[Path]] = {}
    for split in SPLITS:
        folder = root / split
        report.present[split] = folder.is_dir()
        report.counts[split] = 0
        if not folder.is_dir():
            if split in need:
                hint = ""
                if split.lower() in lower_names:
                    hint = f" (found {lower_names[split.lower()]}/: names are case-sensitive)"
                report.add("error", split, folder,
                           f"missing folder {split}/ ({ROLES[split]}){hint}", "missing")
            continue
        for link in sorted(folder.iterdir()):  # (list_images refuses these; here they are reported)
            if link.is_symlink() and not link.exists():
                report.add("error", split, link, f"{split}/{link.name} is a broken symbolic link "
                           f"(its target {os.readlink(link)} does not exist)", "broken_link")
        files = [p for p in _listable(folder)]
        images[split] = files
        report.counts[split] = len(files)
        _report_ignored(report, split, folder)
        if not files:
            level = "error" if split in need else "warning"
            report.add(level, split, folder,
                       f"{split}/ holds no images (extensions {' '.join(IMAGE_EXTENSIONS)})",
                       "empty")
        _, dups = stem_index(files)
        for group in dups:
            names = ", ".join(p.name for p in group)
            report.add("error", split, group[0],
                       f"{split}/: files share the name stem '{group[0].stem}': {names} "
                       f"(keep one; pairing by name is ambiguous)", "duplicate")
    return images


def _inspect_all(files: list[Path], deep: bool, workers: int | None) -> dict:
    """{file: (info or None, reason)} read with up to `workers` threads (default up to 4)."""
    n_workers = workers or min(4, os.cpu_count() or 1)
    if n_workers > 1 and len(files) > 1:
        with ThreadPoolExecutor(n_workers) as pool:
            results = list(pool.map(lambda f: _inspect(f, deep), files))
    else:
        results = [_inspect(f, deep) for f in files]
    return dict(zip(files, results))


def _report_files(report: LayoutReport, images: dict[str, list[Path]], infos: dict, crop_size: int | None) -> None:
    """Unreadable files (errors), images smaller than the crop (warnings), conversions (info)."""
    for split in SPLITS:
        for f in images.get(split, []):
            info, reason = infos[f]
            rel = f"{split}/{f.name}"
            if info is None:
                report.add("error", split, f, f"{rel}: cannot be read ({reason})", "unreadable")
                continue
            if crop_size and min(info.width, info.height) < crop_size:
                report.add("warning", split, f,
                           f"{rel}: {info.width}x{info.height} is smaller than the "
                           f"{crop_size}x{crop_size} crop; it will be reflect-padded", "small")
            notes = _conversion_notes(f, info)
            if notes:
                report.add("info", split, f, f"{rel}: {'; '.join(notes)}", "converted")


def _case_match(name: str) -> str:
    for s in SPLITS:
        if s.lower() == name.lower():
            return s + "/"
    return "?"


def _report_ignored(report: LayoutReport, split: str, folder: Path) -> None:
    for entry in sorted(folder.iterdir()):
        rel = f"{split}/{entry.name}"
        if entry.is_dir():
            report.add("warning", split, entry,
                       f"{rel}/ is a subfolder and is ignored (images must sit directly in {split}/)",
                       "ignored")
        elif entry.name.startswith("."):
            report.add("warning", split, entry, f"{rel}: hidden file ignored", "ignored")
        elif entry.suffix.lower() not in IMAGE_EXTENSIONS:
            report.add("warning", split, entry,
                       f"{rel}: not an image extension ({entry.suffix or 'none'}), ignored", "ignored")


def _conversion_notes(path: Path, info) -> list[str]:
    notes = []
    if info.colour == "grey":
        notes.append("grey, replicated to RGB")
    elif info.colour == "grey+alpha":
        notes.append("grey with alpha, alpha dropped and grey replicated to RGB")
    elif info.colour == "RGBA":
        notes.append("RGBA, alpha dropped")
    elif info.colour == "palette":
        notes.append("palette image, converted to RGB")
    elif info.colour == "CMYK":
        notes.append("CMYK, converted to RGB")
    elif info.colour != "RGB":
        notes.append(f"unusual colour layout ({info.colour}), converted to RGB")
    if info.bits == 16:
        notes.append("16-bit, read at full precision and scaled to [0, 1]")
    elif info.bits not in (8,):
        notes.append(f"{info.bits}-bit samples, scaled to [0, 1]")
    expected = _EXT_FORMAT.get(path.suffix.lower())
    if info.format not in _KNOWN_FORMATS:
        notes.append(f"unusual format {info.format}")
    elif expected and info.format != expected:
        notes.append(f"is a {info.format} file with a {path.suffix} extension")
    if info.orientation != 1:
        notes.append(f"EXIF orientation {info.orientation} will be applied "
                     f"(upright size {info.width}x{info.height})")
    return notes


def _check_pairs(report, split_a, split_b, images, infos) -> None:
    index_a, _ = stem_index(images[split_a])
    index_b, _ = stem_index(images[split_b])
    stems_a = {f.stem for f in images[split_a]}  # duplicated stems included: they have a
    stems_b = {f.stem for f in images[split_b]}  # partner, reported as duplicates instead
    common = sorted(index_a.keys() & index_b.keys())
    report.pairs[f"{split_a}/{split_b}"] = len(common)
    is_test = split_a == "testA"
    for stem in sorted(index_a.keys() - stems_b):
        f = index_a[stem]
        why = "it will not be scored" if is_test else "it will not be used"
        report.add("warning", split_a, f,
                   f"{split_a}/{f.name}: no file with stem '{stem}' in {split_b}/; {why}", "unpaired")
    for stem in sorted(index_b.keys() - stems_a):
        f = index_b[stem]
        report.add("warning", split_b, f,
                   f"{split_b}/{f.name}: no file with stem '{stem}' in {split_a}/; it will not be used",
                   "unpaired")
    if not (stems_a & stems_b) and stems_a and stems_b:
        level = "error" if (split_a in report.need or split_b in report.need) else "warning"
        ex_a, ex_b = min(stems_a), min(stems_b)
        report.add(level, split_a, None,
                   f"no file of {split_a}/ has a partner in {split_b}/ (pairs are matched by file "
                   f"name stem, e.g. '{ex_a}' vs '{ex_b}')", "no_pairs")
    for stem in common:
        fa, fb = index_a[stem], index_b[stem]
        ia, ib = infos[fa][0], infos[fb][0]
        if ia is None or ib is None:
            continue
        if (ia.width, ia.height) != (ib.width, ib.height):
            report.add("error", split_a, fa,
                       f"{split_a}/{fa.name} is {ia.width}x{ia.height} but {split_b}/{fb.name} is "
                       f"{ib.width}x{ib.height}; the images of a pair must have the same size",
                       "size_mismatch")
