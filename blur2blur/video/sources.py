"""`prepare`'s sources: captures (a video file, or a folder of images) with their label, unique
name and split, and the options that sample and split them. Sources are checked before anything
is written: each opened once, none given twice, splits assigned whole and seeded."""

from __future__ import annotations

import hashlib
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from blur2blur.io import IMAGE_EXTENSIONS, list_images
from blur2blur.video.io import VIDEO_EXTENSIONS, VideoError, is_video, list_videos, probe


@dataclass
class Source:
    """One capture: a video file or a folder of images, with its label and unique name."""

    path: Path
    kind: str  # "video" | "images"
    label: str  # "blurry" | "sharp"
    name: str = ""
    split: str = ""  # trainA | testA | trainB | known
    frames: int | None = None
    note: str = ""


@dataclass
class PrepareOptions:
    """Sampling and splitting (see the module doc)."""

    every: int = 1
    fps: float | None = None
    max_frames: int | None = None
    long_side: int | None = None
    dedup: float = 0.01
    test_videos: list[str] = field(default_factory=list)
    test_fraction: float = 0.2
    known_fraction: float = 0.3
    known_profile: str = ""
    check_labels: bool = False
    drop_mislabelled: bool = False
    image_format: str = "png"
    seed: int = 0


def collect_sources(paths: Sequence[str | os.PathLike], label: str) -> list[Source]:
    """Sources of one label from files and folders (see the module doc); errors name the path."""
    out: list[Source] = []
    for p in map(Path, paths):
        if p.is_symlink() and not p.exists():
            raise FileNotFoundError(f"{label} source {p} is a broken symbolic link (to {os.readlink(p)})")
        if not p.exists():
            raise FileNotFoundError(f"{label} source {p} does not exist")
        if p.is_file():
            if not is_video(p):
                raise ValueError(f"{label} source {p} is not a video file (video extensions: "
                                 f"{' '.join(VIDEO_EXTENSIONS)}); give a folder for images")
            out.append(Source(p, "video", label))
            continue
        broken = sorted(f.name for f in p.iterdir() if f.is_symlink() and not f.exists())
        if broken:
            raise FileNotFoundError(f"{label} source folder {p} holds broken symbolic links ({', '.join(broken[:5])}): "
                                    "remove them or restore their targets")
        videos = list_videos(p)
        has_images = any(f.suffix.lower() in IMAGE_EXTENSIONS for f in p.iterdir() if not f.name.startswith("."))
        if not videos and not has_images:
            raise ValueError(f"{label} source folder {p} holds no videos and no images")
        out += [Source(v, "video", label) for v in videos]
        if has_images:
            out.append(Source(p, "images", label))
    return out


def refuse_duplicates(sources: list[Source]) -> None:
    """One source given twice (the same path, or files of identical content, e.g. a clip both as a
    file and in a folder, or as blurry and as sharp) would put the same frames in two splits (test
    leakage): an error naming both."""
    seen: dict[str, Source] = {}
    for s in sources:
        files = [s.path] if s.kind == "video" else list_images(s.path)
        h = hashlib.sha256()
        for f in files:
            with open(f, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
        key = h.hexdigest()
        if key in seen:
            first = seen[key]
            same = "is" if first.path.resolve() == s.path.resolve() else "has the same content as"
            raise ValueError(f"{s.label} source {s.path} {same} {first.label} source {first.path}: each capture "
                             "may be given once (its frames would land in two splits)")
        seen[key] = s


def name_sources(sources: list[Source]) -> None:
    """A unique name per source (its file stem or folder name; repeats get _2, _3, ...)."""
    seen: dict[str, int] = {}
    for s in sources:
        base = s.path.stem if s.kind == "video" else s.path.name
        key = base.lower()
        seen[key] = seen.get(key, 0) + 1
        s.name = base if seen[key] == 1 else f"{base}_{seen[key]}"


def probe_all(sources: list[Source]) -> None:
    """Open every source before anything is written; one error naming every bad one."""
    bad = []
    for s in sources:
        if s.kind == "images":
            s.frames = len(list_images(s.path))
            continue
        try:
            info = probe(s.path)
            s.frames, s.note = info.frames, info.note
        except VideoError as exc:
            bad.append(f"  {exc.path}: {exc.reason}")
    if bad:
        raise ValueError("\n".join(["unusable videos (nothing was written):"] + bad))


def split_sources(blurry: list[Source], sharp: list[Source], opts: PrepareOptions, simulate_known: bool) -> None:
    """Assign whole sources to splits (seeded)."""
    names = {s.name for s in blurry}
    missing = [n for n in opts.test_videos if n not in names and Path(n).stem not in names]
    if missing:
        raise ValueError(f"--test-videos {missing} are not among the blurry sources {sorted(names)}")

    def order(sources):  # seeded order, independent of input order
        return sorted(sources, key=lambda s: hashlib.sha256(f"{opts.seed}/{s.name}".encode()).digest())

    wanted = {Path(n).stem for n in opts.test_videos} | set(opts.test_videos)
    if wanted:
        for s in blurry:
            s.split = "testA" if s.name in wanted else "trainA"
    else:
        n_test = min(len(blurry) - 1, math.ceil(opts.test_fraction * len(blurry))) if opts.test_fraction > 0 else 0
        for i, s in enumerate(order(blurry)):
            s.split = "testA" if i < n_test else "trainA"
    if not any(s.split == "trainA" for s in blurry):
        raise ValueError("every blurry source is a test source: leave at least one for training")
    if not any(s.split == "testA" for s in blurry) and (wanted or opts.test_fraction > 0):
        warnings.warn("one blurry source only: no test set (testA will be empty); give more blurry "
                      "videos to evaluate on scenes the translator never saw", stacklevel=3)
    for s in sharp:
        s.split = "trainB"
    if simulate_known:
        if len(sharp) >= 2:
            n_known = min(len(sharp) - 1, max(1, math.ceil(opts.known_fraction * len(sharp))))
            for s in order(sharp)[:n_known]:
                s.split = "known"
        else:
            warnings.warn("one sharp source only: the simulated known pairs are made from the same frames as "
                          "S (trainB); give more sharp videos to keep them apart", stacklevel=3)
