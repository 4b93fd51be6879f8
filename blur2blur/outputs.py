"""Where outputs may go: never onto an input, never two outputs to one name, always atomically.

Every command that writes files checks its plan here before any work starts (docs/reliability.md):
- `guard_output(out, inputs)`: the output (a folder or a file) must not be, contain, or resolve to
  (through links or `..`) any input file or folder;
- `output_names(files, suffix)`: one output name per input; inputs that would share a name
  (`x.jpg` and `x.png`, or `X.png` and `x.png` on a case-insensitive disk) are an error naming both;
- `temp_path(path)`: a short hidden temporary name beside `path` (safe for 255-byte file names),
  `atomic_write_text(path, text)`: write then rename, so a killed write never leaves half a file.
Temporary names start with `.b2b-`; readers skip hidden files, so a killed write's leftover is
ignored, and `remove_stale_temps(folder)` deletes those of processes that no longer run.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Iterable

TEMP_PREFIX = ".b2b-"


class OutputConflict(ValueError):
    """An output would overwrite or mix with an input, or two outputs would share a name."""


def _resolved(path: str | os.PathLike) -> Path:
    return Path(path).expanduser().resolve()


def guard_output(out: str | os.PathLike, inputs: Iterable[str | os.PathLike], what: str = "output",
                 folder: bool = True) -> None:
    """Refuse (OutputConflict naming both paths) an output `out` (file or folder) that is, contains
    or resolves to an input file or folder (`inputs`). An output folder inside an input folder is
    allowed: inputs are listed without recursion, so nothing there is read or overwritten.
    With `folder` the output is a folder, so an existing file there is refused too (and, without
    it, an existing folder).
    """
    target = _resolved(out)
    for item in inputs:
        src = _resolved(item)
        if target == src:
            kind = "folder" if src.is_dir() else "file"
            raise OutputConflict(f"the {what} {out} is the input {kind} {item}: choose another path")
        if src.is_dir() and target.parent == src and target.is_file():
            raise OutputConflict(f"the {what} {out} is a file of the input folder {item}: choose another path")
        if src.is_relative_to(target) and target != src:
            raise OutputConflict(f"the {what} {out} contains the input {item}: writing there could "
                                 f"overwrite it; choose a path outside it")
    if target.exists() and folder != target.is_dir():
        raise OutputConflict(f"the {what} {out} is an existing {'file' if folder else 'folder'}: "
                             f"give a {'folder' if folder else 'file'} path")


def output_names(files: Iterable[Path], suffix: str = ".png", template: str = "{stem}{suffix}") -> dict[Path, str]:
    """Map each input file to its output file name (`template` with `stem` and `suffix`).

    Two inputs whose output names coincide, also when they differ only in letter case, are an
    OutputConflict naming both, raised before any work starts.
    """
    names: dict[Path, str] = {}
    seen: dict[str, Path] = {}
    for f in files:
        name = template.format(stem=Path(f).stem, suffix=suffix)
        key = name.casefold()
        if key in seen:
            raise OutputConflict(f"{seen[key]} and {f} would both be written as {name}: rename one of them")
        seen[key] = f
        names[f] = name
    return names


def temp_path(path: str | os.PathLike) -> Path:
    """A hidden temporary name in `path`'s folder, short whatever the length of `path`'s name."""
    path = Path(path)
    return path.with_name(f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}.tmp")


def file_mode() -> int:
    """The permission bits a new file gets under the process's umask (0o644 under umask 022)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to `path` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def pid_alive(pid: int) -> bool:
    """Whether a process of this id runs on this machine (someone else's counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Delete this tool's temporary files in `folder` whose writing process is gone; returns them."""
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for p in folder.glob(f"{TEMP_PREFIX}*.tmp"):
        try:
            pid = int(p.name[len(TEMP_PREFIX):].split("-")[0])
        except ValueError:
            continue
        if not pid_alive(pid):
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed
