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

import errno
import os
import secrets
import shutil
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
    except OSError as exc:
        raise_for_output(exc, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def raise_for_output(exc: OSError, path: str | os.PathLike):
    """Re-raise an OSError met while writing `path` through a temporary file, naming `path`
    (not the hidden temporary name the user never asked for)."""
    if exc.filename is None or str(exc.filename) == str(path):
        raise exc
    raise type(exc)(exc.errno, exc.strerror, str(path)) from None


def as_disk_error(exc: BaseException, path: str | os.PathLike) -> OSError | None:
    """The OSError a failed write of `path` stands for, when a library hid it in its own exception
    (torch.save's "unexpected pos" / "PytorchStreamWriter failed", safetensors' "code: 28"); else
    None. A full disk (little space left where `path` goes) is ENOSPC, anything else EIO."""
    text = str(exc)
    if not any(k in text for k in ("unexpected pos", "PytorchStreamWriter", "No space left", "code: 28",
                                   "file write failed")):
        return None
    try:
        free = shutil.disk_usage(Path(path).parent).free
    except OSError:
        free = 0
    if free < 64 * 1024 * 1024 or "No space left" in text or "code: 28" in text:
        return OSError(errno.ENOSPC, "No space left on device", str(path))
    return OSError(errno.EIO, f"writing failed ({text.splitlines()[0][:120]})", str(path))


def check_replaceable(path: str | os.PathLike, kind: str, overwrite: bool = False) -> None:
    """Refuse (OutputConflict) to replace an existing `path` that blur2blur did not write as a
    `kind` ("csv" or "json" results) file, or that is a symbolic link, unless `overwrite`."""
    path = Path(path)
    if overwrite or not (path.exists() or path.is_symlink()):
        return
    if path.is_symlink():
        raise OutputConflict(f"{path} is a symbolic link (to {os.readlink(path)}): writing the {kind.upper()} there "
                             f"would replace that file; give another path, or --overwrite")
    try:
        head = path.read_bytes()[:4096].decode("utf-8")
    except (OSError, UnicodeDecodeError):
        head = ""
    ours = head.startswith("image,") if kind == "csv" else ('"metrics"' in head and head.lstrip().startswith("{"))
    if not ours:
        raise OutputConflict(f"{path} exists and is not a {kind.upper()} file written by blur2blur evaluate: give "
                             f"another path, or --overwrite to replace it")


def process_command(pid: int) -> str | None:
    """The command line of a running process (Linux /proc), or None where it cannot be read."""
    try:
        return Path(f"/proc/{int(pid)}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except (OSError, ValueError):
        return None


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
    for p in [*folder.glob(f"{TEMP_PREFIX}*.tmp"), *folder.glob(f"{TEMP_PREFIX}*-*.*")]:  # (videos keep their suffix)
        if not p.is_file():
            continue
        try:
            pid = int(p.name[len(TEMP_PREFIX):].split("-")[0])
        except ValueError:
            continue
        if not pid_alive(pid):
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed
