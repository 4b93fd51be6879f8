"""`blur2blur prepare`: a camera's blurry and sharp captures (videos or images) to a dataset layout.

Sources are video files, folders of videos, or folders of images (a folder of images is one
source, like one video). Every source is split whole, never frame by frame, so no scene of the
test set feeds training:

    blurry sources -> trainA (B)  or, for the test sources, testA
    sharp sources  -> trainB (S)
    known pairs    -> trainC / trainD: from `known` (a paired set: GoPro's SCENE/blur + SCENE/sharp
                      folders, or trainC + trainD; linked, not copied), or, with `known_profile`,
                      simulated: a share of the sharp sources blurred by that profile (trainC)
                      with their frames as the sharp partners (trainD); with neither (the
                      default) none: the project's known camera is the known domain, and its
                      deblurrer ships in the package (docs/known_camera.md)

Frames are sampled every `every` frames or at `fps` per second, at most `max_frames` per
source, shrunk to `long_side`; a frame that hardly differs from the last one kept (mean absolute
difference of 64 px grey thumbnails below `dedup`: a camera at rest) is dropped. Every written
frame gets a blur score (`blur_score`: the variance of the Laplacian of its luma, measured on the
frame shrunk to 512 px, the paper's blur degree; higher is sharper) in `manifest.json`, with its
source, time, frame index, label and split. `check_labels` lists frames whose score contradicts
their label: a blurry-labelled frame at least as sharp as the median sharp frame, or a
sharp-labelled frame at most as sharp as the median blurry frame (grain raises the score, so
read the list, do not trust it blindly); `drop_mislabelled` leaves them out.

Nothing in the inputs is written to. Each frame is written atomically; the state of a run is kept
in ROOT/.prepare, so an interrupted run is finished by the same command (sources already done
are skipped); a non-empty ROOT that is not such a run is refused unless `overwrite`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from blur2blur.data.layout import SPLITS
from blur2blur.io import ImageReadError, list_images, read_image, write_image
from blur2blur.metrics.blur_degree import blur_degree
from blur2blur.outputs.files import atomic_write_text, guard_output
from blur2blur.progress import tqdm
from blur2blur.simulate import Camera, load_profile
from blur2blur.video.io import read_frames, resize_long_side
from blur2blur.video.sources import (PrepareOptions, Source, collect_sources, name_sources, probe_all,
                                     refuse_duplicates, split_sources)

STATE_DIR = ".prepare"
SCORE_SIZE = 512  # px: frames are scored at this longer side, so scores compare across resolutions


def blur_score(img: np.ndarray) -> float:
    """Variance of the Laplacian of the luma (HxWx3 float in [0,1]) at `SCORE_SIZE` px long side:
    higher is sharper."""
    small = resize_long_side(img, SCORE_SIZE)
    return float(blur_degree(torch.from_numpy(np.ascontiguousarray(small)).permute(2, 0, 1)[None])[0])


def _thumb(img: np.ndarray) -> np.ndarray:
    grey = img @ np.array([0.299, 0.587, 0.114], np.float32)
    t = torch.from_numpy(np.ascontiguousarray(grey))[None, None]
    h, w = grey.shape
    s = 64 / max(h, w)
    return F.interpolate(t, size=(max(1, round(h * s)), max(1, round(w * s))), mode="area")[0, 0].numpy()


def _frames(source: Source, opts: PrepareOptions):
    if source.kind == "video":
        for f in read_frames(source.path, every=opts.every, fps=opts.fps, max_frames=opts.max_frames,
                             long_side=opts.long_side):
            yield f.index, f.time, f.image
        return
    files = list_images(source.path)
    kept = 0
    for i, f in enumerate(files):
        if i % opts.every:
            continue
        try:
            img = read_image(f)
        except ImageReadError as exc:
            warnings.warn(f"left out {f}: {exc.reason}", stacklevel=2)
            continue
        yield i, None, resize_long_side(img, opts.long_side) if opts.long_side else img
        kept += 1
        if opts.max_frames is not None and kept >= opts.max_frames:
            return


def _process(source: Source, root: Path, opts: PrepareOptions, progress: bool, camera=None) -> dict:
    """Decode, sample, deduplicate, score and write one source's frames; returns its entries."""
    ext = "." + opts.image_format
    entries = {}
    last = None
    dropped = 0
    bar = tqdm(total=source.frames, desc=f"{source.label} {source.name}", unit="frame",
               disable=not progress, dynamic_ncols=True)
    try:
        for index, t, img in _frames(source, opts):
            bar.update(1)
            thumb = _thumb(img)
            if last is not None and opts.dedup > 0 and thumb.shape == last.shape \
                    and float(np.abs(thumb - last).mean()) < opts.dedup:
                dropped += 1
                continue
            last = thumb
            stem = f"{source.name}_f{index:06d}"
            record = {"source": str(source.path), "frame_index": index,
                      "time_s": None if t is None else round(t, 4), "label": source.label,
                      "blur_score": blur_score(img)}
            if source.split == "known":
                seed = int(hashlib.sha256(f"{opts.seed}/{stem}".encode()).hexdigest()[:8], 16)
                write_image(root / "trainC" / f"{stem}{ext}", camera.blur_only(img, seed))
                write_image(root / "trainD" / f"{stem}{ext}", img)
                entries[f"trainC/{stem}{ext}"] = record | {"split": "trainC", "simulated": opts.known_profile,
                                                            "seed": seed}
                entries[f"trainD/{stem}{ext}"] = record | {"split": "trainD"}
            else:
                write_image(root / source.split / f"{stem}{ext}", img)
                entries[f"{source.split}/{stem}{ext}"] = record | {"split": source.split}
    finally:
        bar.close()
    return {"entries": entries, "dropped_duplicates": dropped}


def _link_known(known: Path, root: Path) -> dict:
    """Link a paired known set into trainC/trainD: `known/trainC` + `known/trainD`, or GoPro's
    `known/SCENE/blur` + `known/SCENE/sharp` (names become SCENE_<stem>)."""
    pairs = []
    if (known / "trainC").is_dir() and (known / "trainD").is_dir():
        sharp = {f.stem: f for f in list_images(known / "trainD")}
        pairs = [(f, sharp.get(f.stem), f.stem) for f in list_images(known / "trainC")]
    else:
        for scene in sorted(p for p in known.iterdir() if p.is_dir()):
            if (scene / "blur").is_dir() and (scene / "sharp").is_dir():
                sharp = {f.stem: f for f in list_images(scene / "sharp")}
                pairs += [(f, sharp.get(f.stem), f"{scene.name}_{f.stem}") for f in list_images(scene / "blur")]
    if not pairs:
        raise ValueError(f"--known {known} is not a paired set: expected trainC + trainD folders, or "
                         "SCENE/blur + SCENE/sharp folders (GoPro's layout)")
    unpaired = [str(b) for b, s, _ in pairs if s is None]
    if unpaired:
        raise ValueError(f"--known {known}: {len(unpaired)} blurry images without a sharp partner of the "
                         f"same name, e.g. {unpaired[:3]}")
    entries = {}
    for blur, sharp, stem in pairs:
        for split, src in (("trainC", blur), ("trainD", sharp)):
            dst = root / split / f"{stem}{src.suffix.lower()}"
            dst.parent.mkdir(parents=True, exist_ok=True)
            if not dst.exists():
                try:
                    dst.symlink_to(src.resolve())
                except OSError:  # (no symbolic links on this file system: copy)
                    shutil.copy2(src, dst)
            entries[f"{split}/{dst.name}"] = {"source": str(src), "split": split, "label": "known"}
    return entries


def prepare_dataset(blurry: Sequence[str | os.PathLike], sharp: Sequence[str | os.PathLike],
                    out: str | os.PathLike, known: str | os.PathLike | None = None,
                    options: PrepareOptions | None = None, progress: bool = True,
                    overwrite: bool = False) -> dict:
    """Build a dataset layout in `out` from the camera's `blurry` and `sharp` captures and the
    known pairs of `known` (see the module doc). Returns a summary: counts per split, the sources
    and their splits, the label check. Writes `out/manifest.json`."""
    opts = options or PrepareOptions()
    _check_request(opts, known)
    root = Path(out)
    b_sources, s_sources = collect_sources(blurry, "blurry"), collect_sources(sharp, "sharp")
    if not b_sources or not s_sources:
        raise ValueError("prepare needs at least one blurry and one sharp source")
    inputs = [s.path for s in b_sources + s_sources] + ([Path(known)] if known else [])
    guard_output(root, inputs, "dataset folder")
    state_file = root / STATE_DIR / "state.json"
    request = {"blurry": [str(Path(p).resolve()) for p in blurry], "sharp": [str(Path(p).resolve()) for p in sharp],
               "known": str(Path(known).resolve()) if known else None, "options": asdict(opts)}
    resuming = _resuming(root, state_file, request, overwrite)
    sources = b_sources + s_sources
    refuse_duplicates(sources)
    name_sources(sources)
    probe_all(sources)
    simulate_known = known is None and bool(opts.known_profile)
    split_sources(b_sources, s_sources, opts, simulate_known=simulate_known)
    for s in sources:
        if s.note:
            print(f"note: {s.path.name}: {s.note}")
    root.mkdir(parents=True, exist_ok=True)
    if not resuming:
        atomic_write_text(state_file, json.dumps({"request": request}, indent=1))
    camera = None
    if simulate_known:
        camera = Camera(load_profile(opts.known_profile))
        print(f"no --known set: the known pairs are simulated with the '{opts.known_profile}' profile from "
              f"{sum(s.split == 'known' for s in s_sources) or 'the'} sharp source(s)")
    start = time.time()
    done = _process_all(sources, root, opts, progress, camera)
    if simulate_known and not any(s.split == "known" for s in s_sources):  # one sharp source: reuse its frames
        _copy_known_from(root, done, s_sources, camera, opts)
    entries = {k: v for r in done.values() for k, v in r["entries"].items()}
    if known:
        entries.update(_link_known(Path(known), root))
    check = _label_check(entries) if (opts.check_labels or opts.drop_mislabelled) else None
    if opts.drop_mislabelled and check:
        _drop_flagged(root, entries, check["flagged"])
    for split in ("trainA", "trainB", "testA") + (("trainC", "trainD") if simulate_known or known else ()):
        (root / split).mkdir(exist_ok=True)
    summary = _summary(entries, sources, done, check, time.time() - start)
    manifest = {"tool": "blur2blur prepare", "request": request, "blur_score": (
        "variance of the Laplacian of the luma at 512 px long side; higher is sharper"),
        "summary": summary, "files": entries}
    atomic_write_text(root / "manifest.json", json.dumps(manifest, indent=1))
    shutil.rmtree(root / STATE_DIR, ignore_errors=True)
    return summary


def _check_request(opts: PrepareOptions, known) -> None:
    """The options and the known set checked before anything is read or written."""
    if opts.image_format not in ("png", "jpg"):
        raise ValueError(f"image format must be png or jpg, got {opts.image_format!r}")
    if opts.every < 1 or (opts.max_frames is not None and opts.max_frames < 1):
        raise ValueError("every and max_frames must be at least 1")
    if not (isinstance(opts.test_fraction, (int, float)) and 0 <= opts.test_fraction < 1):
        raise ValueError(f"--test-fraction must be a number in [0, 1) (0: no test set), got {opts.test_fraction!r}")
    if known is not None and not Path(known).is_dir():
        raise FileNotFoundError(f"--known {known} is not a folder (a paired set: trainC + trainD, or GoPro's "
                                "SCENE/blur + SCENE/sharp)")
    if opts.known_profile and known is None:
        load_profile(opts.known_profile)  # (a mistyped profile: said before any frame)


def _resuming(root: Path, state_file: Path, request: dict, overwrite: bool) -> bool:
    """Whether `root` holds an unfinished run of this very request (to finish); a non-empty `root`
    is otherwise refused, or with `overwrite` cleared of what prepare wrote there."""
    if not (root.exists() and any(root.iterdir())):
        return False
    saved = json.loads(state_file.read_text()) if state_file.is_file() else None
    if saved is not None and saved.get("request") == request:
        return True
    if overwrite:
        remove_prepared(root)
        return False
    if saved is not None:
        raise FileExistsError(f"{root} holds an unfinished prepare run with other inputs or options: run "
                              "that command again to finish it, or pass --overwrite to start over")
    raise FileExistsError(f"{root} is not empty: give an empty folder, or --overwrite to replace it")


def _process_all(sources: list, root: Path, opts: PrepareOptions, progress: bool, camera) -> dict[str, dict]:
    """Every source's frames written, one state record per finished source (a rerun skips those)."""
    done: dict[str, dict] = {}
    for s in sources:
        record = root / STATE_DIR / f"{s.name}.json"
        if record.is_file():
            done[s.name] = json.loads(record.read_text())
            continue
        t0 = time.time()
        result = _process(s, root, opts, progress, camera)
        result["seconds"] = round(time.time() - t0, 2)
        if not result["entries"]:
            raise ValueError(f"{s.path}: no frame was kept (every frame a near-duplicate of the first?)")
        atomic_write_text(record, json.dumps(result))
        done[s.name] = result
    return done


def _drop_flagged(root: Path, entries: dict, flagged: list[str]) -> None:
    """Delete the frames the label check flagged (a known pair goes together) and their entries."""
    for rel in flagged:
        pair = {"trainC": "trainD", "trainD": "trainC"}.get(rel.split("/")[0])
        for path in [rel] + ([f"{pair}/{rel.split('/', 1)[1]}"] if pair else []):
            (root / path).unlink(missing_ok=True)
            entries.pop(path, None)


def _summary(entries: dict, sources: list, done: dict[str, dict], check, seconds: float) -> dict:
    """Counts per split, every source with its split and frames, the label check, the time."""
    counts = {split: sum(1 for k in entries if k.startswith(split + "/"))
              for split in ("trainA", "trainB", "trainC", "trainD", "testA")}
    return {"counts": counts,
            "sources": [{"path": str(s.path), "name": s.name, "label": s.label, "split": s.split,
                         "frames_written": sum(1 for e in done[s.name]["entries"].values()
                                               if e["split"] != "trainD"),
                         "duplicates_dropped": done[s.name]["dropped_duplicates"],
                         "seconds": done[s.name]["seconds"]} for s in sources],
            "label_check": check, "seconds": round(seconds, 1)}


def prepared_files(root: Path) -> list[Path] | None:
    """What `prepare` wrote in `root` (frames, manifest, its state folder), from its manifest or,
    for an unfinished run, its state records; None when `root` holds no prepare output."""
    written: set[str] = set()
    manifest, state = root / "manifest.json", root / STATE_DIR
    try:
        data = json.loads(manifest.read_text()) if manifest.is_file() else None
    except (OSError, ValueError):
        data = None
    if isinstance(data, dict) and data.get("tool") == "blur2blur prepare":
        written |= set(data.get("files", {}))
    elif not state.is_dir():
        return None
    for record in sorted(state.glob("*.json")) if state.is_dir() else []:
        try:
            written |= set(json.loads(record.read_text()).get("entries", {}))
        except (OSError, ValueError, AttributeError):
            continue
    paths = [root / rel for rel in sorted(written)]
    return [p for p in paths if p.exists()] + [p for p in (manifest, state) if p.exists()]


def remove_prepared(root: Path) -> None:
    """`--overwrite`: delete what a previous `prepare` wrote in `root`, and only that (listed on
    stdout). A folder holding no prepare output, or other files in the split folders, is refused."""
    ours = prepared_files(root)
    if ours is None:
        entries = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())
        raise FileExistsError(f"{root} is not empty and holds no dataset made by prepare ({', '.join(entries[:5])}"
                              f"{', ...' if len(entries) > 5 else ''}): --overwrite replaces only a previous prepare "
                              "output; give an empty or new folder")
    mine = {p.resolve() for p in ours}
    foreign = [p for split in SPLITS if (root / split).is_dir() for p in sorted((root / split).iterdir())
               if p.resolve() not in mine]
    if foreign:
        raise FileExistsError(f"{root}: the split folders hold files prepare did not write "
                              f"({', '.join(str(p.relative_to(root)) for p in foreign[:5])}"
                              f"{', ...' if len(foreign) > 5 else ''}): move them away, or give another folder")
    frames = [p for p in ours if p.is_file() and p.parent.name in SPLITS]
    others = [p for p in ours if p not in frames]
    print(f"--overwrite: removing the previous prepare output in {root}: {len(frames)} frames in "
          f"{', '.join(sorted({p.parent.name + '/' for p in frames})) or 'no split folder'}"
          + "".join(f", {p.name}{'/' if p.is_dir() else ''}" for p in others))
    for p in ours:
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    for split in SPLITS:
        if (root / split).is_dir() and not any((root / split).iterdir()):
            (root / split).rmdir()


def _copy_known_from(root: Path, done: dict, s_sources: list[Source], camera, opts: PrepareOptions) -> None:
    """With one sharp source, simulate the known pairs from S's own frames (warned in _split)."""
    ext = "." + opts.image_format
    for s in s_sources:
        for rel, e in list(done[s.name]["entries"].items()):
            stem = Path(rel).stem
            img = read_image(root / rel)
            seed = int(hashlib.sha256(f"{opts.seed}/{stem}".encode()).hexdigest()[:8], 16)
            write_image(root / "trainC" / f"{stem}{ext}", camera.blur_only(img, seed))
            write_image(root / "trainD" / f"{stem}{ext}", img)
            done[s.name]["entries"][f"trainC/{stem}{ext}"] = e | {"split": "trainC", "simulated": opts.known_profile,
                                                                   "seed": seed}
            done[s.name]["entries"][f"trainD/{stem}{ext}"] = e | {"split": "trainD"}


def _label_check(entries: dict) -> dict | None:
    """Frames whose blur score contradicts their label (see the module doc)."""
    blurry = {k: e["blur_score"] for k, e in entries.items() if e.get("label") == "blurry"}
    sharp = {k: e["blur_score"] for k, e in entries.items()
             if e.get("label") == "sharp" and e["split"] != "trainC"}
    if not blurry or not sharp:
        return None
    sharp_median, blurry_median = statistics.median(sharp.values()), statistics.median(blurry.values())
    flagged = {k: "looks sharp: a blurry-labelled frame as sharp as the median sharp frame"
               for k, v in blurry.items() if v >= sharp_median}
    flagged |= {k: "looks shaken: a sharp-labelled frame as blurry as the median blurry frame"
                for k, v in sharp.items() if v <= blurry_median}
    return {"median_blurry": blurry_median, "median_sharp": sharp_median, "flagged": flagged,
            "warning": None if sharp_median > blurry_median else
            "the sharp frames are not sharper than the blurry ones by this score: check the labels"}
