"""A training run owns its folder: no silent replacement, checked resumes, one process at a time.

- A folder that already holds a run (its `config.yaml`, checkpoints or log) is refused unless the
  caller resumes it or asks to overwrite it; overwriting lists and deletes only the run's own
  files (checkpoints, log, TensorBoard events, config, exported models).
- Resuming checks the saved config against the requested one first and names every field that
  differs; only the fields in `RESUMABLE` may change (a longer run, other logging, speed settings).
- `RunLock` keeps a second process from training into the same folder at once; the lock of a
  process that no longer runs is taken over with a warning.
See docs/reliability.md.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import sys
import warnings
from pathlib import Path

import yaml

from blur2blur.outputs import process_command, pid_alive
from blur2blur.train.state import state_files

# Fields a resumed run may change: the length and schedule end, logging, and speed settings.
# (ema_decay: an average kept beside the training, which it does not change; a resumed run without
# one starts it from the current weights)
RESUMABLE = frozenset({"iters", "save_every", "log_every", "val_every", "val_dir", "val_crop", "num_workers", "amp",
                       "channels_last", "ema_decay"})
LOCK_NAME = ".lock"


class RunFolderError(ValueError):
    """The run folder cannot be used as asked (exit code 2 on the command line)."""


def run_files(out_dir: Path) -> list[Path]:
    """The files and folders of a run in `out_dir` that `overwrite` would delete."""
    found = [out_dir / n for n in ("config.yaml", "log.jsonl", "checkpoints", "tb") if (out_dir / n).exists()]
    for meta in sorted(out_dir.glob("*.json")):  # exported models: <stem>.json + <stem>.safetensors
        try:
            fmt = json.loads(meta.read_text()).get("format")
        except (OSError, ValueError, AttributeError):
            continue
        weights = meta.with_suffix(".safetensors")
        if fmt == "blur2blur-checkpoint":
            found += [meta] + ([weights] if weights.exists() else [])
    return found


def holds_run(out_dir: Path) -> bool:
    return (out_dir / "config.yaml").is_file() or bool(state_files(out_dir / "checkpoints")) \
        or (out_dir / "log.jsonl").is_file()


def config_differences(saved, requested) -> dict[str, tuple]:
    """{field: (saved, requested)} for every field of two configs of one kind that differs."""
    a, b = dataclasses.asdict(saved), dataclasses.asdict(requested)
    return {k: (a.get(k), b[k]) for k in b if a.get(k) != b[k]}


def prepare_run_folder(out_dir: Path, cfg, resume: bool, overwrite: bool, check_only: bool = False) -> None:
    """Check (and with `overwrite` clear) `out_dir` for a run of `cfg` before anything is written;
    `check_only`: only the checks (a recipe's own files may then be written before the run)."""
    from blur2blur.train.config import load_config

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise RunFolderError(f"the run folder {out_dir} is an existing file: choose a folder path")
    if resume and overwrite:
        raise RunFolderError("--resume and --overwrite contradict each other: choose one")
    if not holds_run(out_dir):
        return
    if overwrite and check_only:
        return
    if overwrite:
        doomed = run_files(out_dir)
        print(f"--overwrite: deleting the previous run in {out_dir}: " + ", ".join(p.name for p in doomed))
        for p in doomed:
            shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
        return
    saved_path = out_dir / "config.yaml"
    if not resume:
        newest = state_files(out_dir / "checkpoints")
        where = f"checkpoint at iteration {int(newest[-1].stem.split('_')[1])}" if newest else "no checkpoint yet"
        raise RunFolderError(f"{out_dir} already holds a training run ({where}): pass --resume to continue "
                             "it, --overwrite to delete it, or choose another --out")
    if not saved_path.is_file():
        return
    try:
        saved = load_config(saved_path)
    except (OSError, ValueError, TypeError, KeyError, yaml.YAMLError) as err:
        raise RunFolderError(f"cannot read the saved config {saved_path} to check the resume: {err}") from None
    if type(saved) is not type(cfg):
        raise RunFolderError(f"{out_dir} holds a {type(saved).__name__} run, not a {type(cfg).__name__} run: "
                             "choose another --out")
    fixed = {k: v for k, v in config_differences(saved, cfg).items() if k not in RESUMABLE}
    if fixed:
        listed = "; ".join(f"{k}: saved {a!r}, requested {b!r}" for k, (a, b) in fixed.items())
        raise RunFolderError(f"cannot resume {out_dir} with a different configuration ({listed}); "
                             f"only {', '.join(sorted(RESUMABLE))} may change on resume")


class RunLock:
    """Context manager: an exclusive lock file (pid, host, command) in `out_dir` for the duration
    of a run (`name` ".lock"), or of any command writing there (`doing` says what it does, for
    the message). A lock of a process that no longer runs is taken over with a warning; one whose
    pid now belongs to a process that is not blur2blur (its command line, where it can be read)
    is refused with the lock's path, to delete."""

    def __init__(self, out_dir: Path, name: str = LOCK_NAME, doing: str = "training into"):
        self.path = Path(out_dir) / name
        self.doing = doing
        self.held = False

    def __enter__(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv)[:300]}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner and owner.get("host") == me["host"] and pid_alive(int(owner.get("pid", -1))):
                    command = process_command(int(owner["pid"]))
                    if command is not None and "blur2blur" not in command and "pytest" not in command:
                        raise RunFolderError(
                            f"the lock {self.path} names pid {owner['pid']}, which now runs `{command[:80]}`, not "
                            f"blur2blur: if no blur2blur command is using {self.path.parent}, delete {self.path}"
                        ) from None
                    raise RunFolderError(f"another process (pid {owner['pid']}) is {self.doing} "
                                         f"{self.path.parent}; wait for it to finish or stop it") from None
                if owner and owner.get("host") != me["host"]:
                    raise RunFolderError(f"{self.path} says host {owner.get('host')} is {self.doing} this folder; "
                                         f"if that run is dead, delete {self.path}") from None
                warnings.warn(f"removing the stale lock {self.path} of a process that no longer runs")
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            self.held = True
            return self
        raise RunFolderError(f"could not take the lock {self.path}")

    def _owner(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None

    def __exit__(self, *exc) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False
