"""A folder a command owns while it writes there, and the files of a training run in it.

- `RunLock` keeps a second process from training (or writing) into the same folder at once; the
  lock of a process that no longer runs is taken over with a warning.
- `run_files` / `holds_run` / `state_files`: what a training run keeps in its folder (config, log,
  TensorBoard events, checkpoints `checkpoints/state_########.pt`, exported models).
See docs/reliability.md; the checks before a training run writes are train/run_setup.py.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import warnings
from pathlib import Path

from blur2blur.outputs.files import pid_alive, process_command

LOCK_NAME = ".lock"
STATE_PATTERN = re.compile(r"^state_(\d{8})\.pt$")


class RunFolderError(ValueError):
    """The run folder cannot be used as asked (exit code 2 on the command line)."""


def state_files(ckpt_dir: str | Path) -> list[Path]:
    """State files of a run, oldest first."""
    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        return []
    return sorted(p for p in ckpt_dir.iterdir() if STATE_PATTERN.match(p.name))


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
