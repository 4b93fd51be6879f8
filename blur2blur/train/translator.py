"""Recipe: train the blur translator T (camera blur B -> known blur K) adversarially.

T (MIMO-UNet) maps a camera's blurry crop b to three scales; a PatchGAN D, shared by the scales,
tells crops of the known-blur set K (real, resized to each scale) from T(b) (fake); a perceptual
loss keeps each output close in content to b at the same scale; a gradient penalty regularises D.
All weights and choices come from a `TranslatorConfig` (see its presets).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from blur2blur.data.datasets import UnpairedCrops, infinite_loader
from blur2blur.device import pick_device, seed_everything
from blur2blur.io import list_images
from blur2blur.losses.gan import gan_loss_d, gan_loss_g, gradient_penalty
from blur2blur.losses.perceptual import PerceptualLoss
from blur2blur.nets import build_network
from blur2blur.nets.patchgan import init_weights
from blur2blur.nets.weights import save_model
from blur2blur.train.config import TranslatorConfig, save_config
from blur2blur.train.logger import RunLogger


def _images(folder: str | Path, what: str) -> list[Path]:
    files = list_images(folder)
    if not files:
        raise ValueError(f"no images found for {what} in {folder}")
    return files


def _set_requires_grad(net: torch.nn.Module, flag: bool) -> None:
    for p in net.parameters():
        p.requires_grad_(flag)


def _linear_decay(cfg: TranslatorConfig):
    """LR factor: 1 until `decay_start`, then linear to 0 at `iters` (steps counted from 0)."""
    span = max(1, cfg.iters - cfg.decay_start)

    def factor(step: int) -> float:
        return 1.0 if step < cfg.decay_start else max(0.0, (cfg.iters - step) / span)

    return factor


def _like(x: torch.Tensor, ref: torch.Tensor, mode: str) -> torch.Tensor:
    """Resize `x` to the spatial size of `ref` (identity when already equal)."""
    if x.shape[-2:] == ref.shape[-2:]:
        return x
    if mode == "nearest":
        return F.interpolate(x, size=ref.shape[-2:], mode="nearest")
    return F.interpolate(x, size=ref.shape[-2:], mode=mode, align_corners=False)


class TranslatorTrainer:
    """Holds T, D, the losses and optimisers; `step(b, k)` runs one iteration on NCHW batches."""

    def __init__(self, cfg: TranslatorConfig, device: torch.device):
        self.cfg = cfg
        self.device = device
        self.T = build_network(cfg.net, **cfg.net_kwargs()).to(device)
        self.D = build_network("patchgan", **cfg.disc_kwargs()).to(device)
        init_weights(self.T, cfg.init_gain)
        init_weights(self.D, cfg.init_gain)
        self.perc = PerceptualLoss(
            arch=cfg.perc_arch,
            layers=tuple(cfg.perc_layers),
            layer_weights=tuple(cfg.perc_layer_weights),
            weights=cfg.perc_weights,
            normalize=cfg.perc_normalize,
        ).to(device)
        betas = tuple(cfg.betas)
        self.opt_t = torch.optim.Adam(self.T.parameters(), lr=cfg.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr, betas=betas)
        decay = _linear_decay(cfg)
        self.sched_t = torch.optim.lr_scheduler.LambdaLR(self.opt_t, decay)
        self.sched_d = torch.optim.lr_scheduler.LambdaLR(self.opt_d, decay)

    def step(self, b: torch.Tensor, k: torch.Tensor) -> dict[str, float]:
        """One G step then one D step. `b`: camera blurry crops; `k`: known-blur crops (NCHW)."""
        cfg = self.cfg
        outs = self.T(b)
        reals = [_like(k, o, "bilinear") for o in outs]
        inputs = [_like(b, o, "nearest") for o in outs]

        # Translator: fool D at every scale, stay close in content to the input at that scale.
        _set_requires_grad(self.D, False)
        g_gan = gan_loss_g([self.D(o) for o in outs], cfg.gan_mode, reduce=cfg.gan_scale_reduce)
        rec_terms = torch.stack([self.perc(o, x) for o, x in zip(outs, inputs)])
        rec = rec_terms.sum() if cfg.rec_scale_reduce == "sum" else rec_terms.mean()
        g_loss = g_gan + cfg.lambda_rec * rec
        self.opt_t.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_t.step()

        # Discriminator: K is real, T(b) is fake, at every scale; penalty at full resolution.
        _set_requires_grad(self.D, True)
        fakes = [o.detach() for o in outs]
        d_gan = gan_loss_d(
            [self.D(r) for r in reals],
            [self.D(f) for f in fakes],
            cfg.gan_mode,
            reduce=cfg.gan_scale_reduce,
        )
        d_loss = d_gan
        gp = torch.zeros((), device=b.device)
        if cfg.lambda_gp > 0:
            gp = gradient_penalty(self.D, reals[-1], fakes[-1], target=cfg.gp_target)
            d_loss = d_loss + cfg.lambda_gp * gp
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        self.sched_t.step()
        self.sched_d.step()
        return {
            "loss/g_total": g_loss.item(),
            "loss/g_gan": g_gan.item(),
            "loss/rec": rec.item(),
            "loss/d_gan": d_gan.item(),
            "loss/gp": gp.item(),
        }


def train_translator(
    blurry_dir: str | Path,
    known_dir: str | Path,
    out_dir: str | Path,
    cfg: TranslatorConfig,
    preset: str | None = None,
    device: str | None = "auto",
    progress: bool = True,
) -> Path:
    """Train T on camera blurry images (`blurry_dir`, the set B) against the known-blur set K
    (`known_dir`). Writes `out_dir/translator.*` and `out_dir/discriminator.*`; returns the
    translator checkpoint path stem."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out_dir / "config.yaml", preset)
    dev = pick_device(device)
    seed_everything(cfg.seed)

    # Separate datasets and loaders: no geometric transform is shared between B and K.
    data_b = UnpairedCrops(_images(blurry_dir, "the camera's blurry set B"), cfg.crop, augment=cfg.augment)
    data_k = UnpairedCrops(_images(known_dir, "the known-blur set K"), cfg.crop, augment=cfg.augment)
    batches_b = infinite_loader(data_b, cfg.batch, seed=cfg.seed, num_workers=cfg.num_workers)
    batches_k = infinite_loader(data_k, cfg.batch, seed=cfg.seed + 1, num_workers=cfg.num_workers)

    trainer = TranslatorTrainer(cfg, dev)
    log = RunLogger(out_dir)
    ckpt = out_dir / "translator"
    sums: dict[str, float] = {}
    bar = tqdm(range(1, cfg.iters + 1), desc="translator", disable=not progress, dynamic_ncols=True)
    for it in bar:
        b = next(batches_b)["image"].to(dev)
        k = next(batches_k)["image"].to(dev)
        losses = trainer.step(b, k)
        bad = [name for name, v in losses.items() if not math.isfinite(v)]
        if bad:
            log.close()
            raise FloatingPointError(
                f"translator loss {bad} became non-finite at iteration {it}; last good weights are "
                f"in {ckpt}.safetensors if a save happened. Try a lower lr (lr={cfg.lr})."
            )
        for name, v in losses.items():
            sums[name] = sums.get(name, 0.0) + v
        if it % cfg.log_every == 0 or it == cfg.iters:
            n = cfg.log_every if it % cfg.log_every == 0 else it % cfg.log_every
            means = {name: v / n for name, v in sums.items()}
            means["train/lr"] = trainer.sched_t.get_last_lr()[0]
            log.scalars(it, means)
            bar.set_postfix(g=f"{means['loss/g_gan']:.3f}", d=f"{means['loss/d_gan']:.3f}",
                            rec=f"{means['loss/rec']:.3f}")
            sums = {}
        if it % cfg.save_every == 0 or it == cfg.iters:
            save_model(trainer.T, ckpt, cfg.net, cfg.net_kwargs(), extra={"iteration": it})
            save_model(trainer.D, out_dir / "discriminator", "patchgan", cfg.disc_kwargs(),
                       extra={"iteration": it})
            with torch.no_grad():
                log.images(it, "samples/input_b", b[:4])
                log.images(it, "samples/translated", trainer.T(b[:4])[-1])
                log.images(it, "samples/known_k", k[:4])
    log.close()
    return ckpt
