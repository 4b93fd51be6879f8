"""Recipe: train a known-domain deblurrer (NAFNet or Restormer) on paired blurry/sharp images.

Used for the known domain C' (trainC/trainD), for a user without an official checkpoint, and in
the demo for the upper bound trained on the camera's own pairs. Loss: NAFNet's PSNR loss; AdamW;
cosine decay to `lr_min`; gradient-norm clipping.
"""

from __future__ import annotations

from pathlib import Path

import torch

from blur2blur.data.datasets import PairedCrops
from blur2blur.data.layout import pair_by_stem
from blur2blur.data.sampling import mix_seed
from blur2blur.device import seed_everything
from blur2blur.losses.pixel import psnr_loss
from blur2blur.nets import build_network
from blur2blur.nets.weights import save_model
from blur2blur.simulate.noise_model import NoiseCurve
from blur2blur.perf import autocast, channels_last_ok, resolve_amp, to_channels_last
from blur2blur.train.config import DeblurrerConfig
from blur2blur.train.distributed import DistInfo, average_gradients, broadcast_module, setup
from blur2blur.train.loop import Recipe, run_training


def paired_files(blur_dir: str | Path, sharp_dir: str | Path) -> list[tuple[Path, Path]]:
    """Blurry/sharp pairs matched by file stem; unmatched files are an error naming them."""
    pairs, only_blur, only_sharp = pair_by_stem(blur_dir, sharp_dir)
    if only_blur or only_sharp:
        names = [p.name for p in only_blur] + [p.name for p in only_sharp]
        raise ValueError(f"files without a partner in {blur_dir} / {sharp_dir}: {names[:10]}")
    if not pairs:
        raise ValueError(f"no blurry/sharp pairs found in {blur_dir} and {sharp_dir}")
    return pairs


class DeblurrerTrainer:
    """The network, optimiser and schedule; `step(blur, sharp)` is one update on NCHW [0,1] batches
    (the network under bfloat16 autocast per `cfg.amp`, the PSNR loss in float32)."""

    def __init__(self, cfg: DeblurrerConfig, device: torch.device, info: DistInfo | None = None):
        self.cfg, self.device = cfg, device
        self.info = info or DistInfo(device=device)
        self.model = build_network(cfg.net, **cfg.net_kwargs()).to(device)
        self.bf16 = resolve_amp(cfg.amp, device)
        self.channels_last = bool(cfg.channels_last) and channels_last_ok(device)
        to_channels_last(self.model, self.channels_last)
        broadcast_module(self.model, self.info)
        self.optim = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, betas=tuple(cfg.betas),
                                       weight_decay=cfg.weight_decay)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.optim, T_max=cfg.iters,
                                                                eta_min=cfg.lr_min)
        self.noise = NoiseCurve.from_json(cfg.noise_curve) if cfg.noise_curve else None

    def step(self, blur: torch.Tensor, sharp: torch.Tensor, iteration: int = 0) -> dict[str, float]:
        """One update; with `cfg.noise_curve` the blurry batch first gets fresh camera noise
        (seeded by the config's seed and `iteration`, so a resumed run draws the same noise)."""
        if self.noise is not None:
            gen = torch.Generator().manual_seed(mix_seed(self.cfg.seed, 13, iteration, self.info.rank))
            blur = self.noise.add(blur, gen)
        blur = to_channels_last(blur, self.channels_last)
        self.model.train()
        with autocast(self.bf16, self.device):
            out = self.model(blur)
        loss = psnr_loss(out.float(), sharp)
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(self.model, self.info)
        if self.cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.optim.step()
        self.sched.step()
        self._last = (blur[:4].detach(), out[:4].detach().float(), sharp[:4])
        return {"train/psnr": -loss.item(), "train/lr": self.sched.get_last_lr()[0]}


class DeblurrerRecipe(Recipe):
    name = "deblurrer"

    def __init__(self, pairs: list[tuple[Path, Path]], cfg: DeblurrerConfig, info: DistInfo,
                 sharp: list[Path] | None = None):
        """`pairs` of (blurry, sharp) files; or, with `cfg.synthesis`, only `sharp` files whose
        crops are blurred on the fly by that synthesis (simulate/degradations.py)."""
        self.cfg, self.info = cfg, info
        seed_everything(cfg.seed)
        if cfg.synthesis:
            from blur2blur.data.datasets import UnpairedCrops

            self.dataset = UnpairedCrops(sharp, cfg.crop, augment=cfg.augment)
        else:
            self.dataset = PairedCrops(pairs, cfg.crop, augment=cfg.augment)
        self.trainer = DeblurrerTrainer(cfg, info.device, info)
        self.model = self.trainer.model

    def networks(self):
        return {"net": self.model}

    def optimizers(self):
        return {"net": self.trainer.optim}

    def schedulers(self):
        return {"net": self.trainer.sched}

    def start(self, iteration: int) -> None:
        self.batches = self.seeded_batches(self.dataset, iteration, self.cfg.seed)

    def step(self, iteration: int) -> dict[str, float]:
        batch = next(self.batches)
        dev = self.info.device
        if self.cfg.synthesis:
            from blur2blur.simulate.degradations import synthesize

            gen = torch.Generator().manual_seed(mix_seed(self.cfg.seed, 17, iteration, self.info.rank))
            sharp = batch["image"]
            return self.trainer.step(synthesize(self.cfg.synthesis, sharp, gen).to(dev), sharp.to(dev), iteration)
        return self.trainer.step(batch["blur"].to(dev), batch["sharp"].to(dev), iteration)

    def export(self, out_dir: Path, iteration: int) -> Path:
        stem = Path(out_dir) / "deblurrer"
        save_model(self.model, stem, self.cfg.net, self.cfg.net_kwargs(),
                   extra={"iteration": iteration})
        return stem

    def samples(self):
        if not hasattr(self.trainer, "_last"):
            return {}
        blur, out, sharp = self.trainer._last
        return {"samples/blurry": blur, "samples/deblurred": out.clamp(0, 1), "samples/sharp": sharp}


def train_deblurrer(
    blur_dir: str | Path,
    sharp_dir: str | Path,
    out_dir: str | Path,
    cfg: DeblurrerConfig,
    preset: str | None = None,
    device: str | None = "auto",
    progress: bool = True,
    resume: bool = False,
    overwrite: bool = False,
) -> Path:
    """Train on pairs from `blur_dir`/`sharp_dir` (or, with `cfg.synthesis`, on the crops of
    `sharp_dir` blurred by that synthesis; `blur_dir` is then unused and may be None);
    write `out_dir/deblurrer.{safetensors,json}`.

    Returns the checkpoint path stem (give it to `nets.weights.load_model` or `blur2blur deblur`).
    Under torchrun the global batch `cfg.batch` is split over the processes.
    """
    info = setup(device)
    if cfg.synthesis:
        from blur2blur.io import list_images

        sharp = list_images(sharp_dir)
        if not sharp:
            raise ValueError(f"no sharp images in {sharp_dir} to synthesise blurry inputs from")
        recipe = DeblurrerRecipe([], cfg, info, sharp=sharp)
    else:
        recipe = DeblurrerRecipe(paired_files(blur_dir, sharp_dir), cfg, info)
    return run_training(recipe, cfg, out_dir, preset, info, resume=resume, progress=progress,
                        overwrite=overwrite)
