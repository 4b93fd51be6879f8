"""Recipe: train the blur translator T (camera blur B -> known blur K) adversarially.

T maps a camera's blurry crop b to three scales; a PatchGAN D (one shared by the scales, or one
per scale) tells crops of the known-blur set K (real, resized to each scale) from T(b) (fake); a
perceptual loss keeps each output close in content to b at the same scale; a gradient penalty
regularises D. Every choice comes from a `TranslatorConfig` (see its presets).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from blur2blur.data.augment import Augment
from blur2blur.data.datasets import UnpairedCrops
from blur2blur.data.holdout import holdout_split
from blur2blur.data.sampling import SeededBatches, mix_seed
from blur2blur.device import seed_everything
from blur2blur.io import list_images, no_images_message
from blur2blur.losses.gan import gan_loss_d, gan_loss_g, gradient_penalty
from blur2blur.losses.patch_swd import PatchBank, patch_swd
from blur2blur.losses.perceptual import PerceptualLoss
from blur2blur.losses.pixel import l1, lowpass_l1
from blur2blur.nets import build_network
from blur2blur.nets.identity import IdentityTranslator
from blur2blur.nets.patchgan import init_weights
from blur2blur.nets.weights import save_model
from blur2blur.outputs import atomic_write_text
from blur2blur.perf import autocast, channels_last_ok, resolve_amp, to_channels_last
from blur2blur.train.config import TranslatorConfig
from blur2blur.train.curriculum import blur_degree, curriculum_fraction, select_fraction
from blur2blur.train.distributed import DistInfo, average_gradients, broadcast_module, setup
from blur2blur.train.image_pool import ImagePool
from blur2blur.train.loop import Recipe, run_training
from blur2blur.train.translator_check import TranslatorCheck

# Config `net` -> registered network name (each returns [quarter, half, full]).
TRANSLATOR_NETS = {"mimo_unet": "mimo_unet", "unet": "unet", "nafnet": "nafnet_3scales"}


def images_in(folder: str | Path, what: str) -> list[Path]:
    files = list_images(folder)
    if not files:
        raise ValueError(no_images_message(folder, f"images for {what}"))
    return files


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


# The translator check holds out at most this many files of B and of K; the patch bank reads at
# most this many images of K.
VAL_MAX_FILES = 64
BANK_IMAGES = 512


def _spread(files: list[Path] | None, n: int) -> list[Path]:
    """At most `n` of `files`, evenly spaced through the list."""
    files = list(files or [])
    if len(files) <= n:
        return files
    return [files[i * len(files) // n] for i in range(n)]


def _report(summary: dict, decision: dict, out_dir: Path) -> None:
    """Say at the end of training what the held-out check found, plainly."""
    level = summary["k_level"]
    floor = f"; two samples of K differ by {level:.3g}" if level is not None else ""
    if decision["beats_identity"]:
        gain = 1 - decision["score"] / decision["identity"]
        print(f"translator check: T brings the held-out camera images {gain:.0%} closer to the held-out "
              f"known blur than they are ({decision['score']:.3g} against {decision['identity']:.3g}{floor}); "
              f"exported the weights of iteration {decision['iteration']} ({out_dir / 'translator_check.json'})")
        return
    advice = ("train longer or with another seed, give a known-blur set closer to the known deblurrer's "
              "training inputs (k_source=known takes the known domain's own blurry images), and check that "
              "the camera's blurry images and K differ in blur at all")
    if decision["exported"] == "identity":
        warnings.warn(f"translator check: the translator did not learn: at best it leaves the held-out camera "
                      f"images as far from the known blur as they are ({decision['score']:.3g} against "
                      f"{decision['identity']:.3g}{floor}), so the exported translator is the identity (Blur2Blur "
                      f"is then the known deblurrer applied directly; the trained weights are "
                      f"{out_dir / 'translator_rejected'}.*). To do better: {advice}", stacklevel=2)
    else:
        warnings.warn(f"translator check: the translator does not beat the identity ({decision['score']:.3g} "
                      f"against {decision['identity']:.3g}{floor}) and was exported anyway "
                      f"(identity_fallback=false); it may make images worse. To do better: {advice}",
                      stacklevel=2)


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


class TranslatorRecipe(Recipe):
    name = "translator"

    def __init__(self, blurry: list[Path], known: list[Path] | None, cfg: TranslatorConfig,
                 info: DistInfo, online_k=None, sharp: list[Path] | None = None,
                 check_known: list[Path] | None = None):
        """`known`: files of K (k_source simulate/transfer); or `online_k` (a callable mapping a
        sharp batch to a known-blur batch) with the camera's `sharp` files (k_source online).
        With `cfg.val_fraction` > 0, part of B and of K (whole groups: train/translator_check.py)
        is held out for the label-free check; `check_known`: the known-blur images the check
        compares with when K is made online (e.g. the known domain's own blurry images)."""
        self.cfg, self.info = cfg, info
        seed_everything(cfg.seed)
        aug = Augment(hflip=cfg.hflip, vflip=cfg.vflip, rot90=cfg.rot90, jitter=cfg.jitter)
        self.check = None
        if cfg.val_fraction > 0:
            blurry, known, self.check = self._hold_out(blurry, known, known if online_k is None else check_known)
        self.data_b = UnpairedCrops(blurry, cfg.crop, augment=aug)
        self.online_k = online_k
        self.data_k = UnpairedCrops(sharp if online_k is not None else known, cfg.crop, augment=aug)
        self.trainer = TranslatorTrainer(cfg, info.device, info)
        if cfg.lambda_swd > 0 and cfg.swd_bank > 0:
            if online_k is not None:
                warnings.warn("swd_bank needs a stored known-blur set K: with K made online the "
                              "patch-statistics term compares with each step's K crops", stacklevel=3)
            else:
                self.trainer.known_bank = PatchBank(_spread(known, BANK_IMAGES),
                                                    cfg.swd_patch, cfg.swd_bank, seed=cfg.seed).to(info.device)

    def _hold_out(self, blurry: list[Path], known: list[Path] | None, reference: list[Path] | None):
        """(B to train on, K to train on, the check): a seeded share of B and of the check's
        `reference` known-blur files (K itself, unless K is made online) held out; no check, with
        a warning, when either is too small to split."""
        cfg = self.cfg
        b_train, b_val = holdout_split(blurry, cfg.val_fraction, cfg.seed, VAL_MAX_FILES)
        k_train, k_val = holdout_split(reference or [], cfg.val_fraction, cfg.seed, VAL_MAX_FILES)
        if not b_val or not k_val:
            warnings.warn("val_fraction: too few camera or known-blur images to hold any out (two scenes "
                          "of each are needed); the translator is trained on all of them and not checked",
                          stacklevel=3)
            return blurry, known, None
        check = None  # (only the main process checks and exports)
        if self.info.is_main:
            check = TranslatorCheck(b_val, k_val, _spread(k_train, len(k_val)), cfg.swd_patch, seed=cfg.seed)
        return b_train, (k_train if reference is known else known), check

    def validate(self, iteration: int) -> dict[str, float]:
        """Score the translator that would be exported by the held-out check (none: {})."""
        if self.check is None:
            return {}
        return self.check.update(self._exported_net(), iteration, self.info.device, self.trainer.bf16)

    def _exported_net(self) -> nn.Module:
        return self.trainer.T_ema.module if self.trainer.T_ema is not None else self.trainer.T

    def extra_state(self) -> dict:
        state = {"image_pool": self.trainer.pool.state_dict()} if self.cfg.pool_size else {}
        if self.check is not None:
            state["check"] = self.check.state_dict()
        return state

    def load_extra_state(self, state: dict) -> None:
        if self.cfg.pool_size:
            if "image_pool" not in state:
                raise ValueError("the checkpoint has no image pool: it was written with pool_size=0")
            self.trainer.pool.load_state_dict(state["image_pool"])
        if self.check is not None and "check" in state:
            self.check.load_state_dict(state["check"])

    def networks(self):
        nets = {"T": self.trainer.T, "D": self.trainer.Ds}
        if self.trainer.T_ema is not None:
            nets["T_ema"] = self.trainer.T_ema
        return nets

    def optimizers(self):
        return {"T": self.trainer.opt_t, "D": self.trainer.opt_d}

    def schedulers(self):
        return {"T": self.trainer.sched_t, "D": self.trainer.sched_d}

    def start(self, iteration: int) -> None:
        # Separate streams for B and K: no geometric transform is shared between the two sets.
        self.batches_b = self.seeded_batches(self.data_b, iteration, self.cfg.seed)
        self.batches_k = SeededBatches(self.data_k, self.cfg.k_batch or self.cfg.batch, self.cfg.seed + 1,
                                       start=iteration, rank=self.info.rank, world_size=self.info.world_size,
                                       num_workers=self.cfg.num_workers)
        if hasattr(self.online_k, "start"):
            self.online_k.start(iteration)

    def step(self, iteration: int) -> dict[str, float]:
        dev = self.info.device
        b = next(self.batches_b)["image"].to(dev)
        k = next(self.batches_k)["image"].to(dev)
        if self.online_k is not None:
            k = self.online_k(k)
        # Mixing weights of the penalty drawn for the global batch, this process's slice taken.
        gen = torch.Generator().manual_seed(mix_seed(self.cfg.seed, 3, iteration))
        local = self.cfg.batch // self.info.world_size
        alpha = torch.rand(self.cfg.batch, generator=gen)[self.info.rank * local:(self.info.rank + 1) * local]
        return self.trainer.step(b, k, iteration, gp_alpha=alpha)

    def export(self, out_dir: Path, iteration: int) -> Path:
        """Write `translator` (the weights the check prefers, or the identity translator when
        they do not beat the identity: see `_choose`), `discriminator`, with EMA also
        `translator_raw` (the last raw weights), and `translator_check.json`."""
        cfg, out_dir = self.cfg, Path(out_dir)
        extra = {"iteration": iteration, "ema_decay": cfg.ema_decay}
        if self.trainer.T_ema is not None:  # the average is the translator; the last raw weights are kept too
            save_model(self.trainer.T, out_dir / "translator_raw", TRANSLATOR_NETS[cfg.net], cfg.net_kwargs(),
                       extra={"iteration": iteration})
        net, name, kwargs = self._choose(out_dir, extra)
        save_model(net, out_dir / "translator", name, kwargs, extra=extra)
        save_model(self.trainer.D, out_dir / "discriminator", "patchgan", cfg.disc_kwargs(),
                   extra={"iteration": iteration})
        if self.check is not None and self.check.history and iteration == cfg.iters:
            _report(self.check.summary(), extra["check"], out_dir)
        return out_dir / "translator"

    def _choose(self, out_dir: Path, extra: dict) -> tuple[nn.Module, str, dict]:
        """(network, registered name, kwargs) to export: without a check, the current translator;
        with one, its best-scoring (`val_keep` best) or last evaluated weights if they beat the
        identity, else (`identity_fallback`) the identity translator, the trained weights then
        kept as `translator_rejected`. Records the decision in `extra` and translator_check.json."""
        cfg, check = self.cfg, self.check
        net, name, kwargs = self._exported_net(), TRANSLATOR_NETS[cfg.net], cfg.net_kwargs()
        rejected = out_dir / "translator_rejected"
        if check is None or not check.history:
            return net, name, kwargs
        if cfg.val_keep == "best":
            chosen_iter, score = check.best["iteration"], check.best["score"]
            net = check.best_network(net)
        else:
            chosen_iter, score = check.history[-1]
        beats = score < check.identity * (1 - cfg.val_margin)
        decision = {"iteration": chosen_iter, "score": score, "identity": check.identity, "beats_identity": beats,
                    "exported": "trained" if beats or not cfg.identity_fallback else "identity"}
        extra["check"] = decision
        extra["iteration"] = chosen_iter
        atomic_write_text(out_dir / "translator_check.json",
                          json.dumps(check.summary() | {"decision": decision}, indent=1))
        if decision["exported"] == "identity":
            save_model(net, rejected, name, kwargs, extra=dict(extra))
            return IdentityTranslator(), "identity_translator", {}
        for suffix in (".safetensors", ".json"):  # (an earlier export's rejection no longer holds)
            rejected.with_suffix(suffix).unlink(missing_ok=True)
        return net, name, kwargs

    def samples(self):
        if not hasattr(self.trainer, "_last"):
            return {}
        b, t, k = self.trainer._last
        return {"samples/input_b": b, "samples/translated": t.clamp(0, 1), "samples/known_k": k}


def train_translator(
    blurry_dir: str | Path,
    known_dir: str | Path | None,
    out_dir: str | Path,
    cfg: TranslatorConfig,
    preset: str | None = None,
    device: str | None = "auto",
    progress: bool = True,
    resume: bool = False,
    overwrite: bool = False,
    online_k=None,
    sharp_dir: str | Path | None = None,
    check_known_dir: str | Path | None = None,
) -> Path:
    """Train T on the camera's blurry images (`blurry_dir`, the set B) against the known-blur set
    K (`known_dir`), or against `online_k(sharp crops from sharp_dir)` when `online_k` is given
    (the held-out check then compares with the known-blur images of `check_known_dir`).
    Writes `out_dir/translator.*` and `out_dir/discriminator.*`; returns the translator stem."""
    info = setup(device)
    blurry = images_in(blurry_dir, "the camera's blurry set B")
    if online_k is not None:
        if sharp_dir is None:
            raise ValueError("online known blur needs the camera's sharp images (sharp_dir)")
        check_known = list_images(check_known_dir) if check_known_dir is not None else None
        recipe = TranslatorRecipe(blurry, None, cfg, info, online_k=online_k,
                                  sharp=images_in(sharp_dir, "the camera's sharp set S"), check_known=check_known)
    else:
        recipe = TranslatorRecipe(blurry, images_in(known_dir, "the known-blur set K"), cfg, info)
    return run_training(recipe, cfg, out_dir, preset, info, resume=resume, progress=progress,
                        overwrite=overwrite)


def known_profile_of(cfg: TranslatorConfig, root: str | Path):
    """The profile a simulated K uses: `cfg.known_profile`, or when that is empty the profile that
    made the layout's known pairs (recorded by `make-dataset`); else, for a layout without known
    pairs (what `prepare` makes from a camera's videos), the project's known camera `actioncam`,
    whose deblurrer ships in the package; else (known pairs from elsewhere) the shipped `known`."""
    from blur2blur.pretrained import KNOWN_CAMERA
    from blur2blur.simulate.make_dataset import recorded_profile

    root = Path(root)
    paired = (root / "trainC").is_dir() and (root / "trainD").is_dir()
    return cfg.known_profile or recorded_profile(root, "known") or ("known" if paired else KNOWN_CAMERA)


def resolve_k_source(cfg: TranslatorConfig, root: Path, known_set: str | Path | None = None) -> str:
    """The K source actually used: `cfg.k_source`, or for "auto" on a layout with known pairs
    (trainC/trainD): "transfer" when a kernel network is given; "simulate" when the layout was
    made by `make-dataset`, whose manifest records the profile that blurred the known pairs (K is
    then S with that very blur: an exact blur transfer); else "estimated" (the known pairs' own
    kernels and noise, estimated in closed form, on S: the known blur on the camera's scenes; K of
    other scenes, "known", let a translator that moves textures towards those scenes pass its
    check, issue #28). Without known pairs: "simulate" with the project's
    known camera `actioncam` (K = S blurred by it: the exact transfer; deblur with the shipped
    model), or `cfg.known_profile` when set. `known_set` (a folder of K) overrides all.
    Measured: docs/research/demo.md, eighth round (issue #19, item 4)."""
    from blur2blur.simulate.make_dataset import recorded_profile

    source = cfg.k_source
    if source not in ("auto", "simulate", "known", "estimated", "transfer", "online"):
        raise ValueError(f"k_source must be auto, simulate, known, estimated, transfer or online, got {source!r}")
    if source != "auto":
        return source
    paired = (root / "trainC").is_dir() and (root / "trainD").is_dir()
    if cfg.kernel_wizard and paired:
        return "transfer"
    if paired:
        return "simulate" if recorded_profile(root, "known") is not None else "estimated"
    return "simulate"


def build_known_set(cfg: TranslatorConfig, root: str | Path, out_dir: str | Path, source: str | None = None,
                    device: str | None = "auto", progress: bool = True) -> Path:
    """Build the known-blur set K of a layout `root` in `out_dir` (once: a folder with a
    manifest.json is reused) from source `source` (default `resolve_k_source`): "simulate" (the
    simulator's `known_profile_of` on trainB), "known" (the known domain's blurry images trainC) or
    "transfer" (bkse blur transfer of trainC/trainD onto trainB); `k_variants` per image, with
    the camera's grain (estimated from trainB) when `k_noise` is "match" (simulate, known).
    Returns `out_dir`."""
    from blur2blur.data.known_blur import build_known_blur_set, build_known_set_from_domain

    root, out_dir = Path(root), Path(out_dir)
    source = source or resolve_k_source(cfg, root)
    if (out_dir / "manifest.json").is_file():
        return out_dir
    match = cfg.k_noise == "match"
    if source == "simulate":
        build_known_blur_set(root / "trainB", out_dir, known_profile_of(cfg, root), cfg.k_variants, cfg.seed,
                             progress=progress, match_noise=match, denoise_sigma=cfg.k_denoise_sigma)
    elif source == "known":
        build_known_set_from_domain(root / "trainC", out_dir, root / "trainB" if match else None,
                                    cfg.k_variants, cfg.seed, progress=progress)
    elif source == "estimated":
        from blur2blur.data.known_blur import build_known_set_from_pairs

        build_known_set_from_pairs(root / "trainC", root / "trainD", root / "trainB", out_dir, cfg.k_variants,
                                   cfg.seed, progress=progress)
    elif source == "transfer":
        from blur2blur.kernel_space import build_transferred_known_set

        if match:
            warnings.warn("k_noise=match is not implemented for k_source=transfer; K keeps the grain of "
                          "its sources", stacklevel=2)
        build_transferred_known_set(cfg.kernel_wizard, root / "trainB", root / "trainC", root / "trainD",
                                    out_dir, variants=cfg.k_variants, seed=cfg.seed, device=device,
                                    progress=progress)
    else:
        raise ValueError(f"a stored known-blur set cannot be built from k_source={source!r}")
    return out_dir


def _preflight(cfg: TranslatorConfig, out_dir: Path, resume: bool, overwrite: bool, source: str) -> None:
    """Everything that can refuse a run, checked before K is written into its folder: the run
    folder (resume, overwrite, another run there), the perceptual network's weights and the kernel
    network's file (a refused command changes nothing: docs/reliability.md)."""
    from blur2blur.train.run_folder import prepare_run_folder

    prepare_run_folder(out_dir, cfg, resume, overwrite, check_only=True)
    if cfg.lambda_rec > 0:
        PerceptualLoss(arch=cfg.perc_arch, layers=tuple(cfg.perc_layers), layer_weights=tuple(cfg.perc_layer_weights),
                       weights=cfg.perc_weights, normalize=cfg.perc_normalize, per_element=cfg.perc_per_element)
    if source == "transfer":
        from blur2blur.train.kernels import load_kernel_wizard

        load_kernel_wizard(cfg.kernel_wizard)


def train_translator_on_layout(
    root: str | Path,
    out_dir: str | Path,
    cfg: TranslatorConfig,
    preset: str | None = None,
    device: str | None = "auto",
    progress: bool = True,
    resume: bool = False,
    overwrite: bool = False,
    known_set: str | Path | None = None,
) -> Path:
    """Train T on a dataset layout: B = root/trainA, and K according to `cfg.k_source`.

    - "simulate": K = the simulator's `known_profile_of` blur applied to root/trainB (built once in
      out_dir/known_blur_set, `k_variants` draws per image);
    - "known": K = the known domain's own blurry images root/trainC (with the camera's grain
      when `k_noise` is "match"), built once the same way;
    - "transfer": K = bkse blur transfer of known pairs (trainC/trainD) onto trainB with the
      kernel network `cfg.kernel_wizard`, built once with a manifest;
    - "online": a fresh transfer of a random known pair onto each sharp crop, every step;
    - "auto": see `resolve_k_source`.
    `known_set` (a folder of K images) overrides the first two.
    """
    from blur2blur.data.datasets import PairedCrops
    from blur2blur.train.deblurrer import paired_files

    root, out_dir = Path(root), Path(out_dir)
    source = resolve_k_source(cfg, root, known_set)
    if source in ("transfer", "online") and not cfg.kernel_wizard and known_set is None:
        raise ValueError(f"k_source={source} needs a trained kernel network: train one with "
                         "`blur2blur kernels train` and pass --set kernel_wizard=RUN/kernel_wizard "
                         "(or use --set k_source=known or simulate)")
    if source == "online" and known_set is None:
        from blur2blur.kernel_space import OnlineKnownBlur
        from blur2blur.train.kernels import load_kernel_wizard

        if cfg.k_noise == "match":
            warnings.warn("k_noise=match is not implemented for k_source=online; K keeps the grain of "
                          "its sources", stacklevel=2)
        info = setup(device)
        wizard = load_kernel_wizard(cfg.kernel_wizard, device=info.device)
        known_pairs = PairedCrops(paired_files(root / "trainC", root / "trainD"), cfg.crop,
                                  augment=Augment(hflip=cfg.hflip, vflip=cfg.vflip, rot90=cfg.rot90))
        online = OnlineKnownBlur(wizard, known_pairs, batch_size=cfg.batch,
                                 seed=cfg.seed + 2, rank=info.rank, world_size=info.world_size)
        return train_translator(root / "trainA", None, out_dir, cfg, preset, device, progress,
                                resume, overwrite, online_k=online, sharp_dir=root / "trainB",
                                check_known_dir=root / "trainC")
    if known_set is None:
        known_set = out_dir / "known_blur_set"
        info = setup(device)
        if info.is_main:
            _preflight(cfg, out_dir, resume, overwrite, source)
            build_known_set(cfg, root, known_set, source, device, progress)
        from blur2blur.train.distributed import barrier

        barrier(info)
    return train_translator(root / "trainA", known_set, out_dir, cfg, preset, device, progress, resume,
                            overwrite)
