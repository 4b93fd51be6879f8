"""Recipe: train the bkse kernel networks F (extractor) and G (blur operator) jointly on known pairs.

Objective (Tran et al., CVPR 2021): Charbonnier(G(x, F(x, y)), y) for sharp/blurry crops x, y of
the known domain C' (trainD / trainC), plus ``kl_weight`` * KL(F's code || N(0, 1)) for the VAE
variant. Adam with cosine annealing and warm restarts. Also loads kernel networks for use: our
checkpoints (``.safetensors`` + ``.json``) and the official bkse plain state dicts (``.pth``).
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any, Mapping

import torch
from tqdm.auto import tqdm

from blur2blur.data.datasets import PairedCrops, infinite_loader
from blur2blur.device import pick_device, seed_everything
from blur2blur.losses.pixel import charbonnier
from blur2blur.nets.kernel_space import KernelWizard
from blur2blur.nets.weights import load_model, load_weights, read_state_dict, save_model
from blur2blur.train.config import KernelConfig, save_config
from blur2blur.train.deblurrer import paired_files
from blur2blur.train.logger import RunLogger

#: file suffixes read as plain (external) state dicts, e.g. the official ``GOPRO_woVAE.pth``
PLAIN_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")
CHECKPOINT_NAME = "kernel_wizard"


def batch_psnr(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Mean over the batch of per-image PSNR (dB, peak 1) of ``pred`` clamped to [0,1] vs ``target``."""
    with torch.no_grad():
        mse = (pred.detach().clamp(0, 1) - target.detach()).pow(2).flatten(1).mean(dim=1)
        return float((10 * torch.log10(1.0 / mse.clamp_min(1e-10))).mean())


class KernelTrainer:
    """Holds the KernelWizard, Adam and the warm-restart cosine schedule; ``step(sharp, blur)`` runs
    one iteration on NCHW [0,1] batches of the same shape and returns its losses as floats.

    A non-finite loss raises FloatingPointError before any weight is changed.
    """

    def __init__(self, cfg: KernelConfig, device: torch.device | str = "cpu"):
        self.cfg = cfg
        self.net = KernelWizard(**cfg.net_kwargs()).to(device)
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
        if not math.isfinite(loss.item()):
            raise FloatingPointError(
                f"kernel-network loss became {loss.item()} (charbonnier {rec.item()}, kl {kl.item()})")
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.sched.step()
        return {"loss/total": loss.item(), "loss/charbonnier": rec.item(), "loss/kl": kl.item(),
                "train/psnr": batch_psnr(recon, blur)}


def train_kernels(
    blur_dir: str | Path,
    sharp_dir: str | Path,
    out_dir: str | Path,
    cfg: KernelConfig,
    preset: str | None = None,
    device: str | None = "auto",
    progress: bool = True,
) -> Path:
    """Train F and G on blurry/sharp pairs matched by file stem (e.g. trainC / trainD).

    Writes ``out_dir/config.yaml``, ``out_dir/log.jsonl`` and ``out_dir/kernel_wizard.{safetensors,
    json}`` (every ``save_every`` iterations and at the end). Returns the checkpoint path stem
    (give it to ``load_kernel_wizard`` or ``nets.weights.load_model``).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out_dir / "config.yaml", preset)
    dev = pick_device(device)
    seed_everything(cfg.seed)

    dataset = PairedCrops(paired_files(blur_dir, sharp_dir), cfg.crop, augment=cfg.augment)
    if len(dataset) < cfg.batch:
        raise ValueError(f"{len(dataset)} pairs in {blur_dir} / {sharp_dir}, fewer than one batch of "
                         f"{cfg.batch}; add pairs or lower the batch (batch=N)")
    batches = infinite_loader(dataset, cfg.batch, seed=cfg.seed, num_workers=cfg.num_workers)
    trainer = KernelTrainer(cfg, dev)
    log = RunLogger(out_dir)
    ckpt = out_dir / CHECKPOINT_NAME
    extra_meta = {"preset": preset}

    sums: dict[str, float] = {}
    bar = tqdm(range(1, cfg.iters + 1), desc="kernel F+G", disable=not progress, dynamic_ncols=True)
    for it in bar:
        batch = next(batches)
        blur, sharp = batch["blur"].to(dev), batch["sharp"].to(dev)
        try:
            losses = trainer.step(sharp, blur)
        except FloatingPointError as exc:
            log.close()
            raise FloatingPointError(
                f"{exc} at iteration {it}; the last good weights are in {ckpt}.safetensors (if a save "
                f"happened). Lower the learning rate (lr={cfg.lr}) or check the data for broken images."
            ) from exc
        for name, value in losses.items():
            sums[name] = sums.get(name, 0.0) + value
        if it % cfg.log_every == 0 or it == cfg.iters:
            n = cfg.log_every if it % cfg.log_every == 0 else it % cfg.log_every
            means = {name: value / n for name, value in sums.items()}
            if not cfg.use_vae:
                means.pop("loss/kl", None)
            means["train/lr"] = trainer.sched.get_last_lr()[0]
            log.scalars(it, means)
            bar.set_postfix(loss=f"{means['loss/total']:.4f}", psnr=f"{means['train/psnr']:.2f}")
            sums = {}
        if it % cfg.save_every == 0 or it == cfg.iters:
            save_model(trainer.net, ckpt, CHECKPOINT_NAME, cfg.net_kwargs(),
                       extra={**extra_meta, "iteration": it})
    log.close()
    return ckpt


# ----------------------------------------------------------------------------- loading


def infer_net_kwargs(sd: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """KernelWizard constructor arguments read off a state dict's key names and shapes.

    Recovers nf, front_RBs, back_RBs, kernel_dim, recon_nf, input_nc and use_vae (F's trunk twice
    ``kernel_dim`` wide), so official files (``GOPRO_woVAE.pth``, ``*_wVAE.pth``) and our own
    smaller nets load without being told their configuration. Raises ValueError when the keys are
    not those of a KernelWizard.
    """
    try:
        nf, input_nc = sd["feature_extractor.0.weight"].shape[:2]
        front = sum(1 for k in sd if re.fullmatch(r"feature_extractor\.\d+\.conv1\.weight", k))
        back = sum(1 for k in sd if re.fullmatch(r"recon_trunk\.\d+\.conv1\.weight", k))
        inner = "adapter.model" + ".submodule" * 4 + ".up.1.weight"
        kernel_dim = sd[inner].shape[0] - 8 * nf
        recon_nf = sd[f"recon_trunk.{back + 3}.weight"].shape[0] // 4
        blocks = [k for k in sd if re.fullmatch(r"kernel_extractor\.model\.\d+\.conv_block\.1\.weight", k)]
        width = sd[blocks[0]].shape[0]
    except (KeyError, IndexError, AttributeError) as exc:
        raise ValueError(f"not a bkse KernelWizard state dict (missing {exc})") from exc
    if width not in (kernel_dim, 2 * kernel_dim):
        raise ValueError(f"kernel extractor width {width} fits neither kernel_dim {kernel_dim} nor twice it")
    return {"nf": int(nf), "front_RBs": int(front), "back_RBs": int(back), "kernel_dim": int(kernel_dim),
            "input_nc": int(input_nc), "use_vae": bool(width == 2 * kernel_dim), "recon_nf": int(recon_nf)}


def load_kernel_wizard(path_or_stem: str | os.PathLike, device: str | torch.device | None = None,
                       net_kwargs: Mapping[str, Any] | None = None) -> KernelWizard:
    """Load kernel networks F+G for use (eval mode, gradients still enabled; freeze as needed).

    ``path_or_stem``: our checkpoint (``run/kernel_wizard``, with or without ``.safetensors`` /
    ``.json``; recognised by its JSON file) or a plain state dict such as the official bkse
    ``GOPRO_woVAE.pth`` (``.pth .pt .ckpt .bin``, or a ``.safetensors`` without JSON beside it).
    For plain files the configuration comes from ``net_kwargs`` if given, else it is inferred from
    the keys (the official file gives the official config); loading is strict either way.
    ``net_kwargs`` is ignored for our checkpoints (their JSON holds the kwargs). ``device`` None
    keeps the CPU; "auto" picks CUDA/MPS when present.
    """
    path = Path(path_or_stem)
    suffix = path.suffix.lower()
    base = path.with_suffix("") if suffix in (".safetensors", ".json") else path
    json_path = Path(str(base) + ".json")
    if suffix not in PLAIN_SUFFIXES and json_path.is_file():
        net = load_model(base)
        if not isinstance(net, KernelWizard):
            raise ValueError(f"{base} is a {type(net).__name__} checkpoint, not kernel networks (F+G)")
    else:
        plain = path if (suffix in PLAIN_SUFFIXES or suffix == ".safetensors") else Path(str(base) + ".safetensors")
        if not plain.is_file():
            raise FileNotFoundError(
                f"no kernel-network weights at {path_or_stem}: expected {base}.safetensors + {json_path.name} "
                f"(a blur2blur checkpoint) or a plain state dict file ({', '.join(PLAIN_SUFFIXES)})")
        sd = read_state_dict(plain)
        kwargs = dict(net_kwargs) if net_kwargs is not None else infer_net_kwargs(sd)
        net = KernelWizard(**kwargs)
        load_weights(net, sd, strict=True)
    if device is not None:
        net = net.to(pick_device(device))
    return net.eval()
