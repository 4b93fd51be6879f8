"""Recipe: train a known-domain deblurrer (NAFNet) on paired blurry/sharp images.

Used for the known domain C' (trainC/trainD) and, in the demo, for the upper bound trained on the
camera's own pairs. Loss: NAFNet's PSNR loss; AdamW; cosine decay; gradient-norm clipping.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from tqdm.auto import tqdm

from blur2blur.data.datasets import PairedCrops, infinite_loader
from blur2blur.data.layout import pair_by_stem
from blur2blur.device import pick_device, seed_everything
from blur2blur.losses.pixel import psnr_loss
from blur2blur.nets import build_network
from blur2blur.nets.weights import save_model
from blur2blur.train.config import DeblurrerConfig, save_config
from blur2blur.train.logger import RunLogger


def paired_files(blur_dir: str | Path, sharp_dir: str | Path) -> list[tuple[Path, Path]]:
    """Blurry/sharp pairs matched by file stem; unmatched files are an error naming them."""
    pairs, only_blur, only_sharp = pair_by_stem(blur_dir, sharp_dir)
    if only_blur or only_sharp:
        names = [p.name for p in only_blur] + [p.name for p in only_sharp]
        raise ValueError(f"files without a partner in {blur_dir} / {sharp_dir}: {names[:10]}")
    if not pairs:
        raise ValueError(f"no blurry/sharp pairs found in {blur_dir} and {sharp_dir}")
    return pairs


def train_deblurrer(
    blur_dir: str | Path,
    sharp_dir: str | Path,
    out_dir: str | Path,
    cfg: DeblurrerConfig,
    preset: str | None = None,
    device: str | None = "auto",
    progress: bool = True,
) -> Path:
    """Train on pairs from `blur_dir`/`sharp_dir`; write `out_dir/deblurrer.{safetensors,json}`.

    Returns the checkpoint path stem (give it to `nets.weights.load_model`).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out_dir / "config.yaml", preset)
    dev = pick_device(device)
    seed_everything(cfg.seed)

    dataset = PairedCrops(paired_files(blur_dir, sharp_dir), cfg.crop, augment=cfg.augment)
    batches = infinite_loader(dataset, cfg.batch, seed=cfg.seed, num_workers=cfg.num_workers)
    model = build_network(cfg.net, **cfg.net_kwargs()).to(dev)
    optim = torch.optim.AdamW(
        model.parameters(), lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay
    )
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(optim, T_max=cfg.iters, eta_min=cfg.lr_min)
    log = RunLogger(out_dir)
    ckpt = out_dir / "deblurrer"

    model.train()
    bar = tqdm(range(1, cfg.iters + 1), desc="deblurrer", disable=not progress, dynamic_ncols=True)
    running = 0.0
    for it in bar:
        batch = next(batches)
        blur, sharp = batch["blur"].to(dev), batch["sharp"].to(dev)
        loss = psnr_loss(model(blur), sharp)
        if not math.isfinite(loss.item()):
            log.close()
            raise FloatingPointError(
                f"deblurrer loss became {loss.item()} at iteration {it}; the last good weights are "
                f"in {ckpt}.safetensors (if a save happened). Lower the learning rate (lr={cfg.lr})."
            )
        optim.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optim.step()
        sched.step()
        running += -loss.item()
        if it % cfg.log_every == 0 or it == cfg.iters:
            n = cfg.log_every if it % cfg.log_every == 0 else it % cfg.log_every
            log.scalars(it, {"train/psnr": running / n, "train/lr": sched.get_last_lr()[0]})
            bar.set_postfix(psnr=f"{running / n:.2f}")
            running = 0.0
        if it % cfg.save_every == 0 or it == cfg.iters:
            save_model(model, ckpt, cfg.net, cfg.net_kwargs(), extra={"iteration": it})
    log.close()
    return ckpt
