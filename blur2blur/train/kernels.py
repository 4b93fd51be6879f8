"""Recipe: train the bkse kernel networks F (extractor) and G (blur operator) jointly on known pairs.

Objective (Tran et al., CVPR 2021): Charbonnier(G(x, F(x, y)), y) for sharp/blurry crops x, y of
the known domain C' (trainD / trainC), plus ``kl_weight`` * KL(F's code || N(0, 1)) for the VAE
variant. Adam with cosine annealing and warm restarts. Loading trained (or official) kernel
networks for use is `blur2blur.kernel_space.load`.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from blur2blur.data.datasets import PairedCrops
from blur2blur.data.layout import paired_files
from blur2blur.device import seed_everything
from blur2blur.losses.pixel import charbonnier
from blur2blur.nets.kernel_space import KernelWizard
from blur2blur.nets.weights import save_model
from blur2blur.train.config import KernelConfig
from blur2blur.train.distributed import DistInfo, average_gradients, broadcast_module, setup
from blur2blur.train.loop import Recipe, run_training

CHECKPOINT_NAME = "kernel_wizard"


def batch_psnr(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Mean over the batch of per-image PSNR (dB, peak 1) of ``pred`` clamped to [0,1] vs ``target``."""
    with torch.no_grad():
        mse = (pred.detach().clamp(0, 1) - target.detach()).pow(2).flatten(1).mean(dim=1)
        return float((10 * torch.log10(1.0 / mse.clamp_min(1e-10))).mean())


class KernelTrainer:
    """Holds the KernelWizard, Adam and the warm-restart cosine schedule; ``step(sharp, blur)`` runs
    one iteration on NCHW [0,1] batches of the same shape and returns its losses as floats.

    A non-finite loss changes nothing (no update, no scheduler step) and is returned as is, so
    that the caller can stop (``run_training`` raises FloatingPointError). ``info`` averages the
    gradients across processes under torchrun.
    """

    def __init__(self, cfg: KernelConfig, device: torch.device | str = "cpu",
                 info: DistInfo | None = None):
        self.cfg, self.info = cfg, info or DistInfo(device=torch.device(device))
        self.net = KernelWizard(**cfg.net_kwargs()).to(device)
        broadcast_module(self.net, self.info)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, betas=tuple(cfg.betas))
        self.sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
            self.opt, T_0=max(1, int(cfg.restart_every)), eta_min=cfg.lr_min)

    def step(self, sharp: torch.Tensor, blur: torch.Tensor) -> dict[str, float]:
        cfg = self.cfg
        self.net.train()
        kernel, mean, log_sigma = self.net.extract(sharp, blur, return_stats=True)
        recon = self.net.adapt(sharp, kernel)
        rec = charbonnier(recon, blur, cfg.charbonnier_eps)
        kl = torch.zeros((), device=rec.device)
        if cfg.use_vae and cfg.kl_weight > 0:
            kl = KernelWizard.kl_divergence(mean, log_sigma)
        loss = rec + cfg.kl_weight * kl
        values = {"loss/total": loss.item(), "loss/charbonnier": rec.item(),
                  "train/psnr": batch_psnr(recon, blur)}
        if cfg.use_vae:
            values["loss/kl"] = kl.item()
        if not math.isfinite(values["loss/total"]):
            return values
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(self.net, self.info)
        self.opt.step()
        self.sched.step()
        self._last = (sharp[:4].detach(), blur[:4].detach(), recon[:4].detach())
        values["train/lr"] = self.sched.get_last_lr()[0]
        return values


class KernelRecipe(Recipe):
    """F+G training for ``run_training``: seeded resumable batches of paired crops, one
    KernelTrainer step per iteration, export to ``out_dir/kernel_wizard.{safetensors,json}``."""

    name = "kernels"

    def __init__(self, pairs: list[tuple[Path, Path]], cfg: KernelConfig, info: DistInfo,
                 preset: str | None = None):
        self.cfg, self.info, self.preset = cfg, info, preset
        seed_everything(cfg.seed)
        self.dataset = PairedCrops(pairs, cfg.crop, augment=cfg.augment)
        self.trainer = KernelTrainer(cfg, info.device, info)

    def networks(self):
        return {"kernel_wizard": self.trainer.net}

    def optimizers(self):
        return {"kernel_wizard": self.trainer.opt}

    def schedulers(self):
        return {"kernel_wizard": self.trainer.sched}

    def start(self, iteration: int) -> None:
        self.batches = self.seeded_batches(self.dataset, iteration, self.cfg.seed)

    def step(self, iteration: int) -> dict[str, float]:
        batch = next(self.batches)
        dev = self.info.device
        return self.trainer.step(batch["sharp"].to(dev), batch["blur"].to(dev))

    def export(self, out_dir: Path, iteration: int) -> Path:
        stem = Path(out_dir) / CHECKPOINT_NAME
        save_model(self.trainer.net, stem, CHECKPOINT_NAME, self.cfg.net_kwargs(),
                   extra={"iteration": iteration, "preset": self.preset})
        return stem

    def samples(self):
        if not hasattr(self.trainer, "_last"):
            return {}
        sharp, blur, recon = self.trainer._last
        return {"samples/sharp": sharp, "samples/blurry": blur, "samples/reconstructed": recon.clamp(0, 1)}


def train_kernels(
    blur_dir: str | Path,
    sharp_dir: str | Path,
    out_dir: str | Path,
    cfg: KernelConfig,
    preset: str | None = None,
    device: str | None = "auto",
    progress: bool = True,
    resume: bool = False,
    overwrite: bool = False,
) -> Path:
    """Train F and G on blurry/sharp pairs matched by file stem (e.g. trainC / trainD).

    Uses the shared loop (``train.loop.run_training``): ``out_dir/config.yaml``, ``log.jsonl``,
    resumable ``checkpoints/state_*.pt`` and ``kernel_wizard.{safetensors,json}`` every
    ``save_every`` iterations and at the end; a non-finite loss stops with FloatingPointError.
    Returns the checkpoint path stem (give it to ``load_kernel_wizard`` or ``load_model``).
    """
    info = setup(device)
    recipe = KernelRecipe(paired_files(blur_dir, sharp_dir), cfg, info, preset)
    return run_training(recipe, cfg, out_dir, preset, info, resume=resume, progress=progress,
                        overwrite=overwrite)
