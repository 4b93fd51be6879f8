"""The blur translator's trainer: T (camera blur B -> known blur K, three scales), its
discriminator(s) D, losses and optimisers; `TranslatorTrainer.step(b, k)` is one D and one T update.

T maps a camera's blurry crop b to three scales; a PatchGAN D (one shared by the scales, or one
per scale) tells crops of the known-blur set K (real, resized to each scale) from T(b) (fake); a
perceptual loss keeps each output close in content to b at the same scale; a gradient penalty
regularises D; the patch-statistics critic (sliced Wasserstein distance of high-pass patches) can
stand beside or instead of D. Every choice comes from a `TranslatorConfig` (see its presets).
"""

from __future__ import annotations

import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from blur2blur.data.sampling import mix_seed
from blur2blur.losses.gan import gan_loss_d, gan_loss_g, gradient_penalty
from blur2blur.losses.patch_swd import PatchBank, patch_swd
from blur2blur.losses.perceptual import PerceptualLoss
from blur2blur.losses.pixel import l1, lowpass_l1
from blur2blur.metrics.blur_degree import blur_degree
from blur2blur.nets import build_network
from blur2blur.nets.patchgan import init_weights
from blur2blur.perf import autocast, channels_last_ok, resolve_amp, to_channels_last
from blur2blur.train.config import TranslatorConfig
from blur2blur.train.curriculum import curriculum_fraction, select_fraction
from blur2blur.train.distributed import DistInfo, average_gradients, broadcast_module
from blur2blur.train.image_pool import ImagePool

# Config `net` -> registered network name (each returns [quarter, half, full]).
TRANSLATOR_NETS = {"mimo_unet": "mimo_unet", "unet": "unet", "nafnet": "nafnet_3scales"}


def _set_requires_grad(net: nn.Module, flag: bool) -> None:
    for p in net.parameters():
        p.requires_grad_(flag)


def linear_decay(iters: int, decay_start: int):
    """LR factor for scheduler step s: 1 until `decay_start`, then linear to 0 at `iters`."""
    span = max(1, iters - decay_start)

    def factor(step: int) -> float:
        return 1.0 if step < decay_start else max(0.0, (iters - step) / span)

    return factor


# Output convolutions of each translator net (residual heads): zeroed by `identity_init`.
OUTPUT_HEADS = {"mimo_unet": ("ConvsOut.0", "ConvsOut.1", "feat_extract.5"),
                "unet": ("heads.0", "heads.1", "heads.2"), "nafnet": ("net.ending",)}


def zero_output_heads(T: nn.Module, net: str) -> None:
    """Zero the weights and biases of T's output convolutions: every scale's output then equals
    its input (T starts as the identity) while the gradients of those convolutions are not zero."""
    for name in OUTPUT_HEADS[net]:
        for p in T.get_submodule(name).parameters():
            nn.init.zeros_(p)


def resize_like(x: torch.Tensor, ref: torch.Tensor, mode: str) -> torch.Tensor:
    """Resize NCHW `x` to the spatial size of `ref` (identity when already equal)."""
    if x.shape[-2:] == ref.shape[-2:]:
        return x
    if mode == "nearest":
        return F.interpolate(x, size=ref.shape[-2:], mode="nearest")
    return F.interpolate(x, size=ref.shape[-2:], mode=mode, align_corners=False)


class TranslatorTrainer:
    """T, D, losses and optimisers; `step(b, k)` runs one D and one T update on NCHW batches.

    `gp_alpha` (optional, one value per sample of `b`) fixes the gradient-penalty mixing weights;
    `info` averages gradients across processes under torchrun.
    """

    def __init__(self, cfg: TranslatorConfig, device: torch.device, info: DistInfo | None = None):
        if cfg.net not in TRANSLATOR_NETS:
            raise ValueError(f"translator net must be one of {sorted(TRANSLATOR_NETS)}, got {cfg.net!r}")
        if not 0 <= cfg.d_warmup < cfg.iters:
            raise ValueError(f"d_warmup must be in [0, iters={cfg.iters}), got {cfg.d_warmup}")
        if cfg.curriculum_order not in ("blurriest", "sharpest"):
            raise ValueError(f"curriculum_order must be blurriest or sharpest, got {cfg.curriculum_order!r}")
        if cfg.update_order not in ("d_first", "g_first"):
            raise ValueError(f"update_order must be d_first or g_first, got {cfg.update_order!r}")
        if cfg.rec_target_resize not in ("bilinear", "nearest"):
            raise ValueError(f"rec_target_resize must be bilinear or nearest, got {cfg.rec_target_resize!r}")
        if cfg.d_steps < 1 or cfg.pool_size < 0:
            raise ValueError(f"d_steps must be >= 1 and pool_size >= 0, got {cfg.d_steps} and {cfg.pool_size}")
        if cfg.identity_init and cfg.out_kernel:
            raise ValueError("identity_init needs the residual output heads (out_kernel=0)")
        if cfg.lambda_gan == 0 and cfg.lambda_swd == 0:
            raise ValueError("with lambda_gan=0 the translator needs another critic: set lambda_swd > 0")
        if cfg.lambda_swd < 0 or cfg.swd_patch < 2 or cfg.swd_projections < 1:
            raise ValueError(f"need lambda_swd >= 0, swd_patch >= 2 and swd_projections >= 1, got "
                             f"{cfg.lambda_swd}, {cfg.swd_patch} and {cfg.swd_projections}")
        self.cfg, self.device = cfg, device
        self.bf16 = resolve_amp(cfg.amp, device)
        self.channels_last = bool(cfg.channels_last) and channels_last_ok(device)
        self.info = info or DistInfo(device=device)
        self.T = build_network(TRANSLATOR_NETS[cfg.net], **cfg.net_kwargs()).to(device)
        n_disc = 3 if cfg.disc_per_scale else 1
        self.Ds = nn.ModuleList(build_network("patchgan", **cfg.disc_kwargs()) for _ in range(n_disc)).to(device)
        init_weights(self.T, cfg.init_gain)
        init_weights(self.Ds, cfg.init_gain)
        if cfg.identity_init:
            zero_output_heads(self.T, cfg.net)
        self.pool = ImagePool(cfg.pool_size, seed=mix_seed(cfg.seed, 7))
        self.known_bank: PatchBank | None = None  # (set by the recipe when cfg.swd_bank > 0)
        to_channels_last(self.T, self.channels_last)
        to_channels_last(self.Ds, self.channels_last)
        broadcast_module(self.T, self.info)
        broadcast_module(self.Ds, self.info)
        if not 0.0 <= cfg.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {cfg.ema_decay}")
        self.T_ema = (AveragedModel(self.T, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True)
                      if cfg.ema_decay > 0 else None)
        self.perc = PerceptualLoss(
            arch=cfg.perc_arch,
            layers=tuple(cfg.perc_layers),
            layer_weights=tuple(cfg.perc_layer_weights),
            weights=cfg.perc_weights,
            normalize=cfg.perc_normalize,
            per_element=cfg.perc_per_element,
        ).to(device)
        to_channels_last(self.perc, self.channels_last)
        betas = tuple(cfg.betas)
        self.opt_t = torch.optim.Adam(self.T.parameters(), lr=cfg.lr, betas=betas, eps=cfg.adam_eps)
        lr_d = cfg.lr if cfg.lr_d is None else cfg.lr_d
        self.opt_d = torch.optim.Adam(self.Ds.parameters(), lr=lr_d, betas=betas, eps=cfg.adam_eps)
        decay = linear_decay(cfg.iters, cfg.decay_start)
        self.sched_t = torch.optim.lr_scheduler.LambdaLR(self.opt_t, decay)
        self.sched_d = torch.optim.lr_scheduler.LambdaLR(self.opt_d, decay)

    @property
    def D(self) -> nn.Module:
        """The shared discriminator (or the full-resolution one when there is one per scale)."""
        return self.Ds[-1]

    def _disc(self, scale: int) -> nn.Module:
        return self.Ds[scale] if len(self.Ds) == 3 else self.Ds[0]

    def step(self, b: torch.Tensor, k: torch.Tensor, iteration: int = 0,
             gp_alpha: torch.Tensor | None = None) -> dict[str, float]:
        """One iteration. `b`: camera blurry crops; `k`: known-blur crops (NCHW in [0,1]).

        T runs once; with `update_order` "d_first" (published) D is updated on its detached outputs
        and T then steps against the updated D; with "g_first" T steps against the old D first."""
        cfg = self.cfg
        fraction = 1.0
        if cfg.curriculum:
            fraction = curriculum_fraction(iteration, cfg.curriculum_start, cfg.curriculum_until)
            keep = select_fraction(blur_degree(b), fraction, blurriest=cfg.curriculum_order == "blurriest")
            b = b[keep]
        b, k = to_channels_last(b, self.channels_last), to_channels_last(k, self.channels_last)
        self.T.train()
        warmup = iteration < cfg.d_warmup  # (D only: T's step is skipped while D warms up)
        with autocast(self.bf16, self.device), torch.set_grad_enabled(not warmup):
            outs = [o.float() for o in self.T(b)]
        reals = [resize_like(k, o, "bilinear") for o in outs]
        zero = torch.zeros((), device=b.device)
        g_logs = {"g_total": zero, "g_gan": zero, "rec": zero, "lowpass": zero, "idt": zero, "swd": zero}
        if cfg.update_order == "d_first":
            d_logs = self._d_steps(outs, reals, gp_alpha)
            if not warmup:
                g_logs = self._g_step(b, k, outs, reals, iteration)
        else:
            if not warmup:
                g_logs = self._g_step(b, k, outs, reals, iteration)
            d_logs = self._d_steps(outs, reals, gp_alpha)
        with warnings.catch_warnings():  # (T's schedule counts D's warm-up, D's runs with lambda_gan=0)
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step", category=UserWarning)
            self.sched_t.step()
            self.sched_d.step()
        self._last = (b[:4].detach(), outs[-1][:4].detach(), k[:4].detach())
        logs = {
            "loss/g_total": g_logs["g_total"].item(),
            "loss/g_gan": g_logs["g_gan"].item(),
            "loss/rec": g_logs["rec"].item(),
            "loss/d_gan": d_logs["d_gan"].item(),
            "loss/gp": d_logs["gp"].item(),
            "curriculum/fraction": fraction,
            "train/lr": self.sched_t.get_last_lr()[0],
        }
        if cfg.lambda_lowpass > 0:  # (only then: the progress bar shows every loss key)
            logs["loss/lowpass"] = g_logs["lowpass"].item()
        if cfg.lambda_idt > 0:
            logs["loss/idt"] = g_logs["idt"].item()
        if cfg.lambda_swd > 0:
            logs["loss/swd"] = g_logs["swd"].item()
        return logs

    def _g_step(self, b, k, outs, reals, iteration: int) -> dict[str, torch.Tensor]:
        """T's update: fool D at every scale, stay close in content to the input at that scale."""
        cfg = self.cfg
        zero = torch.zeros((), device=b.device)
        rec = lowpass = idt = swd = g_gan = zero
        g_loss = zero
        if cfg.lambda_gan > 0:
            _set_requires_grad(self.Ds, False)
            with autocast(self.bf16, self.device):
                fake_logits = [self._disc(i)(o).float() for i, o in enumerate(outs)]
            g_gan = gan_loss_g(fake_logits, cfg.gan_mode, reduce=cfg.gan_scale_reduce)
            g_loss = cfg.lambda_gan * g_gan
        if cfg.lambda_rec > 0:  # (the VGG passes are most of a step's cost; skipped at weight 0)
            inputs = [resize_like(b, o, cfg.rec_target_resize) for o in outs]
            with autocast(self.bf16, self.device):  # (the L1 of the features is float32)
                rec_terms = torch.stack([self.perc(o, x) for o, x in zip(outs, inputs)])
            rec = rec_terms.sum() if cfg.rec_scale_reduce == "sum" else rec_terms.mean()
            g_loss = g_loss + cfg.lambda_rec * rec
        if cfg.lambda_lowpass > 0:
            lowpass = lowpass_l1(outs[-1], b, cfg.lowpass_factor)
            g_loss = g_loss + cfg.lambda_lowpass * lowpass
        if cfg.lambda_idt > 0:  # T(k) = k: a known-blur image needs no translation
            with autocast(self.bf16, self.device):
                outs_k = [o.float() for o in self.T(k)]
            idt = torch.stack([l1(o, r) for o, r in zip(outs_k, reals)]).mean()
            g_loss = g_loss + cfg.lambda_idt * idt
        if cfg.lambda_swd > 0:  # T(b)'s local patch statistics against K's (float32)
            gen = torch.Generator().manual_seed(mix_seed(cfg.seed, 11, iteration))
            samples = cfg.swd_samples or None  # (0: every patch of T(b))
            if self.known_bank is not None:  # against the statistics of all of K
                swd = self.known_bank.distance(outs[-1], cfg.swd_projections, samples, gen)
            else:  # against this step's K crops
                swd = patch_swd(outs[-1], k, cfg.swd_patch, cfg.swd_projections, samples=samples, generator=gen,
                                ref_samples=-1 if samples else None)
            g_loss = g_loss + cfg.lambda_swd * swd
        self.opt_t.zero_grad(set_to_none=True)
        g_loss.backward()
        _set_requires_grad(self.Ds, True)
        average_gradients(self.T, self.info)
        self.opt_t.step()
        if self.T_ema is not None:
            self.T_ema.update_parameters(self.T)
        return {"g_total": g_loss, "g_gan": g_gan, "rec": rec, "lowpass": lowpass, "idt": idt, "swd": swd}

    def _d_steps(self, outs, reals, gp_alpha) -> dict[str, torch.Tensor]:
        """`d_steps` D updates on this batch, each on fakes drawn through the image pool (none
        when the GAN term is off: D is then not trained)."""
        if self.cfg.lambda_gan == 0:
            zero = torch.zeros((), device=outs[-1].device)
            return {"d_gan": zero, "gp": zero}
        for _ in range(self.cfg.d_steps):
            fakes = self.pool.query([o.detach() for o in outs])
            logs = self._d_step([to_channels_last(f, self.channels_last) for f in fakes], reals, gp_alpha)
        return logs

    def _d_step(self, fakes, reals, gp_alpha) -> dict[str, torch.Tensor]:
        """D's update: K is real, T(b) (detached) is fake, at every scale; the gradient penalty
        (float32) at full resolution."""
        cfg = self.cfg
        with autocast(self.bf16, self.device):
            real_logits = [self._disc(i)(r).float() for i, r in enumerate(reals)]
            fake_logits = [self._disc(i)(f).float() for i, f in enumerate(fakes)]
        d_gan = gan_loss_d(real_logits, fake_logits, cfg.gan_mode, reduce=cfg.gan_scale_reduce)
        d_loss = d_gan
        gp = torch.zeros((), device=d_gan.device)
        if cfg.lambda_gp > 0:
            n = min(reals[-1].shape[0], fakes[-1].shape[0])
            alpha = None if gp_alpha is None else gp_alpha[:n]
            gp = gradient_penalty(self.D, reals[-1][:n], fakes[-1][:n], target=cfg.gp_target, alpha=alpha)
            d_loss = d_loss + cfg.lambda_gp * gp
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        average_gradients(self.Ds, self.info)
        self.opt_d.step()
        return {"d_gan": d_gan, "gp": gp}
