"""Build a full Blur2Blur dataset layout from sharp photos and two camera profiles.

Scenes (photos, or NxN tiles of them with ``tile=N``) are split into disjoint groups:

  B     -> trainA/    unknown camera, blurry capture (motion + noise)
  S     -> trainB/    unknown camera, sharp capture (no motion, with noise)
  known -> trainC/ + trainD/   known camera: blurry capture / ideal sharp frame (same stem)
  test  -> testA/ + testA_gt/  unknown camera: blurry capture / ideal sharp frame (same stem)

"Ideal sharp frame" = the camera's capture with no motion, no noise and no JPEG (its response
and colour cast are kept). ``write_train_gt=True`` adds trainA_gt/ (the ideal frame of every B
scene) for an upper-bound deblurrer. The source training scenes are split B:S by ``ratio``.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from blur2blur.io import ImageReadError, image_info, list_images, read_image, write_image
from blur2blur.outputs.files import atomic_write_text, guard_output
from blur2blur.progress import tqdm
from .camera import Camera
from .profile import CameraProfile

GROUP_DIRS = {"B": ("trainA",), "S": ("trainB",), "known": ("trainC", "trainD"),
              "test": ("testA", "testA_gt")}
ALL_SPLITS = ("trainA", "trainB", "trainC", "trainD", "testA", "testA_gt", "trainA_gt")


def _scene_seed(seed: int, index: int) -> int:
    """A 31-bit seed for scene ``index`` of a run with ``seed``."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0] & 0x7FFFFFFF)


def group_sizes(n: int, fractions: dict[str, float]) -> dict[str, int]:
    """Split n scenes by fractions (largest remainder), every group getting at least one."""
    names = list(fractions)
    if n < len(names):
        raise ValueError(f"need at least {len(names)} scenes (one per group {names}), got {n}; "
                         "add photos or cut them into tiles (tile=N)")
    total = sum(fractions.values())
    raw = {g: n * f / total for g, f in fractions.items()}
    sizes = {g: int(np.floor(v)) for g, v in raw.items()}
    for g in sorted(names, key=lambda g: raw[g] - sizes[g], reverse=True)[: n - sum(sizes.values())]:
        sizes[g] += 1
    for g in names:
        while sizes[g] == 0:
            donor = max(names, key=lambda h: sizes[h])
            sizes[donor] -= 1
            sizes[g] += 1
    return sizes


def assign_groups(order: Sequence[int], sizes: dict[str, int]) -> dict[int, str]:
    """Give each scene in ``order`` a group so every stretch of the order is split proportionally.

    At each step the group furthest below its share (size * step / total) is chosen, so the
    tiles of one photo (adjacent in ``order``) are spread over all groups.
    """
    total = sum(sizes.values())
    count = {g: 0 for g in sizes}
    out: dict[int, str] = {}
    for i, scene in enumerate(order):
        open_groups = [g for g in sizes if count[g] < sizes[g]]
        g = max(open_groups, key=lambda g: sizes[g] * (i + 1) / total - count[g])
        count[g] += 1
        out[scene] = g
    return out


def _photo_list(photos) -> list[Path]:
    if isinstance(photos, (str, os.PathLike)):
        files = list_images(photos)
    else:
        files = [Path(p) for p in photos]
    if not files:
        raise ValueError(f"no photos found in {photos!r}")
    return files


def _unique_stems(files: list[Path]) -> list[str]:
    seen: dict[str, int] = {}
    stems = []
    for f in files:
        k = seen.get(f.stem, 0)
        seen[f.stem] = k + 1
        stems.append(f.stem if k == 0 else f"{f.stem}_{k + 1}")
    return stems


def _scenes(files: list[Path], tile: int | None, skip_bad: bool = False) -> list[dict]:
    """One dict per scene: photo index, source, stem and box (y, x, h, w) or None. An unreadable
    photo is an error (ImageReadError), or with `skip_bad` a warning."""
    stems = _unique_stems(files)
    scenes = []
    for pi, (f, stem) in enumerate(zip(files, stems)):
        try:
            info = image_info(f)
        except ImageReadError as exc:
            if not skip_bad:
                raise ImageReadError(f, f"{exc.reason} (pass --skip-bad to leave such photos out)") from None
            warnings.warn(f"skipping unreadable photo: {exc}")
            continue
        if tile is None:
            scenes.append({"photo": pi, "source": str(f), "stem": stem, "box": None})
            continue
        rows, cols = info.height // tile, info.width // tile
        if rows == 0 or cols == 0:
            warnings.warn(f"skipping {f}: {info.width}x{info.height} is smaller than tile {tile}")
        for r in range(rows):
            for c in range(cols):
                scenes.append({"photo": pi, "source": str(f), "stem": f"{stem}_r{r}c{c}",
                               "box": [r * tile, c * tile, tile, tile]})
    return scenes


def _prepare_out(out_root: Path, splits: Sequence[str], overwrite: bool) -> None:
    for split in splits:
        d = out_root / split
        existing = list_images(d) if d.is_dir() else []
        if existing and not overwrite:
            raise FileExistsError(f"{d} already holds {len(existing)} image(s); choose an empty output "
                                  "folder, or pass --overwrite (overwrite=True in Python), which deletes "
                                  "the images in the split folders")
        for f in existing:
            f.unlink()
        d.mkdir(parents=True, exist_ok=True)


def make_dataset(photos, out_root, known: str | os.PathLike | CameraProfile = "known",
                 unknown: str | os.PathLike | CameraProfile = "unknown",
                 ratio: tuple[float, float] = (0.6, 0.4), known_fraction: float = 0.3,
                 test_fraction: float = 0.1, tile: int | None = None, seed: int = 0,
                 progress: bool = True, write_train_gt: bool = False,
                 overwrite: bool = False, skip_bad: bool = False) -> dict:
    """Render the dataset layout into ``out_root``; returns counts per split (+ scenes, photos).

    Args:
        photos: folder of sharp photos, or a list of paths.
        known, unknown: camera profiles (shipped name, YAML path or CameraProfile).
        ratio: B:S proportion of the unknown camera's training scenes (paper: 0.6:0.4).
        known_fraction, test_fraction: fractions of all scenes for the known pairs and the test set.
        tile: cut each photo into non-overlapping tile x tile scenes (the remainder is dropped).
        seed: everything is deterministic for a seed.
        write_train_gt: also write trainA_gt/ (ideal sharp frames of the B scenes).
        overwrite: delete images already in the split folders instead of failing.
        skip_bad: skip photos that cannot be read (with a warning naming each) instead of failing.
    Writes PNGs and ``manifest.json`` (source, tile box, profile, seed, flags of every file).
    """
    if len(ratio) != 2 or min(ratio) <= 0:
        raise ValueError(f"ratio must be two positive numbers (B, S), got {ratio!r}")
    if not (0 < known_fraction < 1 and 0 < test_fraction < 1 and known_fraction + test_fraction < 1):
        raise ValueError("known_fraction and test_fraction must be in (0, 1) with a sum below 1, "
                         f"got {known_fraction}, {test_fraction}")
    if tile is not None and int(tile) < 8:
        raise ValueError(f"tile must be at least 8 px, got {tile}")
    out_root = Path(out_root)
    files = _photo_list(photos)
    guard_output(out_root, ([photos] if isinstance(photos, (str, os.PathLike)) else []) + files, "dataset folder")
    cams = {"known": Camera(known), "unknown": Camera(unknown)}
    scenes = _scenes(files, None if tile is None else int(tile), skip_bad)
    rest = 1.0 - known_fraction - test_fraction
    fractions = {"B": rest * ratio[0] / sum(ratio), "S": rest * ratio[1] / sum(ratio),
                 "known": known_fraction, "test": test_fraction}
    sizes = group_sizes(len(scenes), fractions)

    # Order: photos shuffled, each photo's tiles shuffled and kept together.
    rng = np.random.default_rng(seed)
    by_photo: dict[int, list[int]] = {}
    for i, s in enumerate(scenes):
        by_photo.setdefault(s["photo"], []).append(i)
    order = []
    for pi in rng.permutation(sorted(by_photo)):
        order += [int(i) for i in rng.permutation(by_photo[int(pi)])]
    groups = assign_groups(order, sizes)

    splits = [d for g in GROUP_DIRS.values() for d in g] + (["trainA_gt"] if write_train_gt else [])
    existed = out_root.exists()
    _prepare_out(out_root, splits, overwrite)
    written: list[Path] = []
    try:
        return _render(files, scenes, by_photo, groups, cams, out_root, splits, seed, ratio, known_fraction,
                       test_fraction, tile, write_train_gt, progress, skip_bad, written)
    except BaseException:  # (a failed or interrupted run leaves nothing of its own behind)
        for f in written:
            f.unlink(missing_ok=True)
        for split in splits:
            folder = out_root / split
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        if not existed and out_root.is_dir() and not any(out_root.iterdir()):
            out_root.rmdir()
        raise


def _render(files, scenes, by_photo, groups, cams, out_root: Path, splits, seed, ratio, known_fraction,
            test_fraction, tile, write_train_gt, progress, skip_bad, written: list[Path]) -> dict:
    """Write every scene's captures (appending each file to `written`) and the manifest."""
    # (split, camera, motion, noise, jpeg) written for each group.
    ideal = (False, False, False)
    plans = {"B": [("trainA", "unknown", True, True, True)]
             + ([("trainA_gt", "unknown") + ideal] if write_train_gt else []),
             "S": [("trainB", "unknown", False, True, True)],
             "known": [("trainC", "known", True, True, True), ("trainD", "known") + ideal],
             "test": [("testA", "unknown", True, True, True), ("testA_gt", "unknown") + ideal]}
    entries: dict[str, dict] = {}
    counts = {s: 0 for s in splits}
    bar = tqdm(total=len(scenes), desc="make_dataset", disable=not progress, dynamic_ncols=True)
    skipped: list[int] = []  # (photos whose header read but whose pixels did not)
    for pi in sorted(by_photo):
        try:
            photo = read_image(files[pi])
        except ImageReadError as exc:
            if not skip_bad:
                raise ImageReadError(files[pi], f"{exc.reason} (pass --skip-bad to leave such photos out)") from None
            warnings.warn(f"skipping unreadable photo ({len(by_photo[pi])} scene(s)): {exc}")
            bar.update(len(by_photo[pi]))
            skipped.append(pi)
            continue
        for i in by_photo[pi]:
            scene, group = scenes[i], groups[i]
            img = photo
            if scene["box"] is not None:
                y, x, h, w = scene["box"]
                img = photo[y:y + h, x:x + w]
            s_seed = _scene_seed(seed, i)
            for split, cam_name, motion, noise, jpeg in plans[group]:
                cam = cams[cam_name]
                out = cam.capture(img, s_seed, motion=motion, noise=noise, jpeg=jpeg)
                rel = f"{split}/{scene['stem']}.png"
                written.append(write_image(out_root / rel, out))
                counts[split] += 1
                entries[rel] = {"group": group, "source": scene["source"], "tile": scene["box"],
                                "profile": cam.profile.name, "seed": s_seed, "motion": motion,
                                "noise": noise, "jpeg": jpeg}
            bar.update(1)
    bar.close()
    empty = [s for s in splits if counts[s] == 0]
    if empty:
        used = {sc["photo"] for sc in scenes} - set(skipped)
        n_scenes = sum(1 for sc in scenes if sc["photo"] in used)
        unreadable = len(files) - len({sc["photo"] for sc in scenes}) + len(skipped)
        left_out = f" ({unreadable} unreadable or too small, left out)" if unreadable else ""
        raise ValueError(f"the split folder(s) {empty} of {out_root} are empty: {len(used)} usable photo(s){left_out} "
                         f"gave {n_scenes} scene(s); add photos or use a smaller --tile")
    counts["scenes"] = len(scenes)
    counts["photos"] = len({s["photo"] for s in scenes})
    manifest = {"seed": seed, "ratio": list(ratio), "known_fraction": known_fraction,
                "test_fraction": test_fraction, "tile": tile, "counts": counts,
                "profiles": {k: c.profile.to_dict() for k, c in cams.items()}, "files": entries}
    atomic_write_text(out_root / "manifest.json", json.dumps(manifest, indent=1))
    return counts


def recorded_profile(root: str | os.PathLike, role: str = "known") -> CameraProfile | None:
    """The camera profile that made the `role` ("known" or "unknown") images of a layout written
    by `make_dataset` (read from its manifest.json), or None for any other layout."""
    path = Path(root) / "manifest.json"
    try:
        data = json.loads(path.read_text())["profiles"][role]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        return CameraProfile(**data)
    except (TypeError, ValueError):
        return None
