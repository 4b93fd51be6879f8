"""Training checkpoints: everything needed to resume exactly, written atomically.

A state file holds the networks, optimisers, schedulers, recipe extras (e.g. the curriculum), the
RNG states and the iteration. It is written to a temporary file in the same folder, flushed to
disk and renamed into place, so a crash or SIGKILL during a save leaves the previous checkpoint
intact; loading uses `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import os
import random
import warnings
from pathlib import Path

import numpy as np
import torch

from blur2blur.outputs.files import as_disk_error, raise_for_output, temp_path
from blur2blur.outputs.run_folder import state_files

def rng_states() -> dict:
    """Python, NumPy, torch CPU (and CUDA) RNG states in a weights_only-loadable form."""
    np_state = np.random.get_state()
    out = {
        "python": random.getstate(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def set_rng_states(states: dict) -> None:
    """Restore what `rng_states` returned."""
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def atomic_torch_save(obj, path: Path) -> None:
    """torch.save to `path` via a temporary file and os.replace (never a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)  # (short name; opened with the umask's permissions)
    try:
        with open(tmp, "xb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise_for_output(exc, path)
        disk = as_disk_error(exc, path)
        if disk is not None:
            raise disk from None
        raise


def save_state(ckpt_dir: str | Path, iteration: int, state: dict, keep: int = 2) -> Path:
    """Write `state_<iteration>.pt` in `ckpt_dir`; keep the newest `keep` state files."""
    ckpt_dir = Path(ckpt_dir)
    path = ckpt_dir / f"state_{iteration:08d}.pt"
    atomic_torch_save({"iteration": iteration, "rng": rng_states(), **state}, path)
    for old in state_files(ckpt_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_latest_state(ckpt_dir: str | Path, map_location="cpu") -> dict | None:
    """The newest state file that loads; unreadable ones are skipped with a warning."""
    for path in reversed(state_files(ckpt_dir)):
        try:
            state = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as err:  # a truncated or corrupt file: fall back to the previous one
            warnings.warn(f"skipping unreadable checkpoint {path}: {err}", RuntimeWarning)
            continue
        state["path"] = str(path)
        return state
    return None
