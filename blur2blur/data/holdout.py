"""Seeded hold-out splits of a file list, by group, for checks that must not see training data.

The translator's label-free check (train/translator_check.py) holds out part of the camera's
blurry set B and of the known-blur set K. Files of one group stay on one side: the variants
`<stem>_k0.png`, `<stem>_k1.png`, ... of K made from one sharp image are one group, so K_val never
shares a scene with the K that T trains on.
"""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path
from typing import Callable, Sequence


_VARIANT = re.compile(r"_k\d+$")


def source_group(path: Path) -> str:
    """The group of a file: its stem without a known-blur variant suffix `_k<n>`."""
    return _VARIANT.sub("", Path(path).stem)


def holdout_split(files: Sequence[Path], fraction: float, seed: int = 0, max_files: int | None = None,
                  group: Callable[[Path], str] = source_group) -> tuple[list[Path], list[Path]]:
    """Split `files` into (train, held_out): a seeded `fraction` of the groups (at least one, and
    at least one left for training), whole groups only, at most `max_files` held-out files.
    Order within each side follows `files`. Fewer than two groups, or `fraction` 0: nothing is
    held out."""
    if not 0 <= fraction < 1:
        raise ValueError(f"the held-out fraction must be in [0, 1), got {fraction}")
    groups: dict[str, list[Path]] = {}
    for f in files:
        groups.setdefault(group(Path(f)), []).append(Path(f))
    if fraction == 0 or len(groups) < 2:
        return list(map(Path, files)), []
    names = sorted(groups, key=lambda g: hashlib.sha256(f"{seed}/{g}".encode()).digest())
    n_groups = min(len(groups) - 1, max(1, math.ceil(fraction * len(groups))))
    chosen: set[str] = set()
    count = 0
    for name in names[:n_groups]:
        if max_files is not None and chosen and count + len(groups[name]) > max_files:
            break
        chosen.add(name)
        count += len(groups[name])
    held = [Path(f) for f in files if group(Path(f)) in chosen]
    return [Path(f) for f in files if group(Path(f)) not in chosen], held


def evenly_spaced(files: Sequence[Path] | None, n: int) -> list[Path]:
    """At most `n` of `files`, evenly spaced through the list (all of them when there are fewer)."""
    files = list(files or [])
    if len(files) <= n:
        return files
    return [files[i * len(files) // n] for i in range(n)]
