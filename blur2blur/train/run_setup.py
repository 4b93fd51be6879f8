"""Before a training run writes: no silent replacement of a run, and checked resumes.

- A folder that already holds a run (its `config.yaml`, checkpoints or log) is refused unless the
  caller resumes it or asks to overwrite it; overwriting lists and deletes only the run's own
  files (checkpoints, log, TensorBoard events, config, exported models).
- Resuming checks the saved config against the requested one first and names every field that
  differs; only the fields in `RESUMABLE` may change (a longer run, other logging, speed settings).
See docs/reliability.md.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import yaml

from blur2blur.outputs.run_folder import RunFolderError, holds_run, run_files, state_files
from blur2blur.train.config import load_config

# Fields a resumed run may change: the length and schedule end, logging, and speed settings.
# (ema_decay: an average kept beside the training, which it does not change; a resumed run without
# one starts it from the current weights)
RESUMABLE = frozenset({"iters", "save_every", "log_every", "val_every", "val_dir", "val_crop", "num_workers", "amp",
                       "channels_last", "ema_decay"})


def config_differences(saved, requested) -> dict[str, tuple]:
    """{field: (saved, requested)} for every field of two configs of one kind that differs."""
    a, b = dataclasses.asdict(saved), dataclasses.asdict(requested)
    return {k: (a.get(k), b[k]) for k in b if a.get(k) != b[k]}


def prepare_run_folder(out_dir: Path, cfg, resume: bool, overwrite: bool, check_only: bool = False) -> None:
    """Check (and with `overwrite` clear) `out_dir` for a run of `cfg` before anything is written;
    `check_only`: only the checks (a recipe's own files may then be written before the run)."""
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
