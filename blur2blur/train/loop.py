"""The training loop shared by every recipe: progress, logs, NaN guard, checkpoints and resume.

A recipe (deblurrer, translator, kernel space) owns its networks, optimisers, schedulers and
data; the loop owns iteration counting, when to log and save, and how to resume. Iterations are
0-based inside the loop; a checkpoint written after `n` completed iterations is `state_<n>.pt`
and resuming from it continues with iteration `n`.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from pathlib import Path
from typing import Any

import torch

from blur2blur.data.sampling import SeededBatches
from blur2blur.outputs.files import remove_stale_temps
from blur2blur.outputs.run_folder import RunFolderError, RunLock
from blur2blur.progress import tqdm
from blur2blur.train.config import save_config
from blur2blur.train.distributed import DistInfo, barrier, mean_across
from blur2blur.train.logger import RunLogger
from blur2blur.train.run_setup import prepare_run_folder
from blur2blur.train.state import load_latest_state, save_state, set_rng_states, state_files


class Recipe:
    """What a recipe provides to `run_training` (subclass and fill in)."""

    name = "recipe"

    def networks(self) -> dict[str, torch.nn.Module]:
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def schedulers(self) -> dict[str, Any]:
        return {}

    def extra_state(self) -> dict:
        """Recipe state beyond networks/optimisers/schedulers (e.g. the curriculum)."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    def warm_start(self) -> int:
        """Called when a run starts without a checkpoint to resume: load initial weights if the
        config names some, and return the iteration to count on from (0 = a fresh run)."""
        return 0

    def start(self, iteration: int) -> None:
        """Prepare data iterators so that the next batch is the one of `iteration`."""
        raise NotImplementedError

    def seeded_batches(self, dataset, iteration: int, seed: int) -> SeededBatches:
        """This process's share of the global batch `self.cfg.batch`, from `iteration` on."""
        return SeededBatches(dataset, self.cfg.batch, seed, start=iteration, rank=self.info.rank,
                             world_size=self.info.world_size, num_workers=self.cfg.num_workers)

    def step(self, iteration: int) -> dict[str, float]:
        """One optimisation step; returns scalars to log (losses must be finite)."""
        raise NotImplementedError

    def validate(self, iteration: int) -> dict[str, float]:
        """Scalars of a check run after `iteration` completed iterations, every `cfg.val_every`
        iterations (when the config has that field and it is > 0) and after the last one, on the
        main process only, before that iteration's checkpoint and export (optional)."""
        return {}

    def export(self, out_dir: Path, iteration: int) -> Path:
        """Write inference checkpoints (safetensors + JSON); return the main one's path stem."""
        raise NotImplementedError

    def samples(self) -> dict[str, torch.Tensor]:
        """A few NCHW images for TensorBoard (optional)."""
        return {}


def run_training(recipe: Recipe, cfg, out_dir: str | Path, preset: str | None, info: DistInfo,
                 resume: bool = False, progress: bool = True, overwrite: bool = False) -> Path:
    """Run `recipe` for `cfg.iters` iterations; return the exported checkpoint path stem.

    `out_dir` is owned by the run (train/run_setup.py, outputs/run_folder.py): a folder that already holds a run is
    refused unless `resume` (the saved config must match, see RESUMABLE) or `overwrite` (deletes
    that run's files first), and a lock keeps other processes out while this one trains.
    With `resume`, continue from the newest loadable `out_dir/checkpoints/state_*.pt` (networks,
    optimisers, schedulers, recipe state, RNG states and iteration). A non-finite loss stops the
    run with FloatingPointError and writes nothing after it, so the last checkpoint stays good.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise RunFolderError(f"the run folder {out_dir} is an existing file: choose a folder path")
    with RunLock(out_dir) if info.is_main else contextlib.nullcontext():
        if info.is_main:
            prepare_run_folder(out_dir, cfg, resume, overwrite)
        return _run(recipe, cfg, out_dir, preset, info, resume, progress)


def _run(recipe: Recipe, cfg, out_dir: Path, preset: str | None, info: DistInfo, resume: bool,
         progress: bool) -> Path:
    ckpt_dir = out_dir / "checkpoints"
    start, resumed = 0, False
    if resume:
        state = load_latest_state(ckpt_dir, map_location=info.device)
        if state is None:
            warnings.warn(f"--resume: no checkpoint in {ckpt_dir}; starting from scratch", RuntimeWarning)
        else:
            if int(state["iteration"]) > cfg.iters:
                raise RunFolderError(f"cannot resume {out_dir} at iteration {state['iteration']} with iters="
                                     f"{cfg.iters}: the run is already longer; give iters >= {state['iteration']}")
            _load(recipe, state)
            start, resumed = int(state["iteration"]), True
            if info.is_main:
                print(f"resuming {recipe.name} from {state['path']} (iteration {start})")
    if not resumed:
        start = recipe.warm_start()
        if start > cfg.iters:
            raise RunFolderError(f"the initial weights were trained for {start} iterations, more than "
                                 f"iters={cfg.iters}: give iters > {start}")
    if info.is_main:  # (only now, after every check: the config of the run that really trains)
        out_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out_dir / "config.yaml", preset)
        for folder in (out_dir, ckpt_dir):
            remove_stale_temps(folder)
    recipe.start(start)

    log = RunLogger(out_dir) if info.is_main else None
    last_export: Path | None = None
    sums: dict[str, float] = {}
    count = 0
    bar = tqdm(range(start, cfg.iters), initial=start, total=cfg.iters, desc=recipe.name,
               disable=not (progress and info.is_main), dynamic_ncols=True)
    try:
        for it in bar:
            values = recipe.step(it)
            bad = [k for k, v in values.items() if not math.isfinite(v)]
            if bad:
                newest = _newest(ckpt_dir)
                raise FloatingPointError(
                    f"{recipe.name}: {', '.join(bad)} became non-finite at iteration {it + 1}; "
                    f"stopped without saving. Last good checkpoint: {newest or 'none yet'}. "
                    f"Resume from it with --resume, ideally with a lower learning rate.")
            for k, v in values.items():
                sums[k] = sums.get(k, 0.0) + v
            count += 1
            done = it + 1
            if done % cfg.log_every == 0 or done == cfg.iters:
                means = mean_across({k: v / count for k, v in sums.items()}, info)
                if log is not None:
                    log.scalars(done, means)
                    # terms whose weight is 0 log exactly 0: the bar shows the first four that do not
                    shown = [(k, v) for k, v in means.items() if v != 0.0][:4]
                    bar.set_postfix({k.split("/")[-1]: f"{v:.4g}" for k, v in shown}, refresh=False)
                sums, count = {}, 0
            val_every = getattr(cfg, "val_every", 0)
            if info.is_main and ((val_every and done % val_every == 0) or done == cfg.iters):
                checked = recipe.validate(done)
                if checked:
                    log.scalars(done, checked)
            if done % cfg.save_every == 0 or done == cfg.iters:
                if info.is_main:
                    save_state(ckpt_dir, done, _state(recipe))
                    last_export = recipe.export(out_dir, done)
                    for tag, images in recipe.samples().items():
                        log.images(done, tag, images)
                barrier(info)
    finally:
        if log is not None:
            log.close()
    if last_export is None:  # nothing left to train (resumed a finished run)
        last_export = recipe.export(out_dir, cfg.iters) if info.is_main else out_dir
    return last_export


def _state(recipe: Recipe) -> dict:
    return {
        "networks": {k: m.state_dict() for k, m in recipe.networks().items()},
        "optimizers": {k: o.state_dict() for k, o in recipe.optimizers().items()},
        "schedulers": {k: s.state_dict() for k, s in recipe.schedulers().items()},
        "extra": recipe.extra_state(),
    }


def _load(recipe: Recipe, state: dict) -> None:
    for group, objects in (("networks", recipe.networks()), ("optimizers", recipe.optimizers()),
                           ("schedulers", recipe.schedulers())):
        saved = state[group]
        missing = sorted(set(objects) - set(saved))
        if missing:
            raise ValueError(f"checkpoint {state['path']} has no {group} {missing}: it was written "
                             f"by a different recipe or configuration")
        for key, obj in objects.items():
            obj.load_state_dict(saved[key])
    recipe.load_extra_state(state.get("extra", {}))
    set_rng_states(state["rng"])


def _newest(ckpt_dir: Path) -> Path | None:
    files = state_files(ckpt_dir)
    return files[-1] if files else None
