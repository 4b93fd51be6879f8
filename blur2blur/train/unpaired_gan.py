"""Recipe: the unpaired baselines CycleGAN and DualGAN, trained from the camera's blurry set B to its
sharp set S (Blur2Blur Table 2). G maps B -> S (the deblurrer that is exported), F maps S -> B;
D_S and D_B judge each domain. Every choice comes from an `UnpairedGANConfig`.

CycleGAN: LSGAN losses, cycle L1 both ways times `lambda_cycle`, identity L1 (G(s) = s,
F(b) = b) times `lambda_idt * lambda_cycle`, the discriminators fed through image pools, Adam.
DualGAN: WGAN losses with the critics' weights clipped to +-`clip` after each step, L1 recovery
both ways times `lambda_cycle`, `n_critic` critic steps per generator step (on the same batch),
RMSProp.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from blur2blur.data.augment import Augment
from blur2blur.data.datasets import UnpairedCrops
from blur2blur.data.sampling import mix_seed
from blur2blur.device import seed_everything
from blur2blur.io import images_in
from blur2blur.losses.gan import gan_loss_d, gan_loss_g
from blur2blur.losses.pixel import l1
from blur2blur.nets import build_network
from blur2blur.nets.patchgan import init_weights
from blur2blur.nets.weights import save_model
from blur2blur.perf import autocast, channels_last_ok, resolve_amp, to_channels_last
from blur2blur.train.config import UnpairedGANConfig
from blur2blur.train.distributed import DistInfo, average_gradients, broadcast_module, setup
from blur2blur.train.image_pool import ImagePool
from blur2blur.train.loop import Recipe, run_training
from blur2blur.train.translator_trainer import linear_decay


class UnpairedGANTrainer:
    """G (B -> S), F (S -> B), D_S, D_B, their optimisers; `step(b, s)` is one iteration."""

    def __init__(self, cfg: UnpairedGANConfig, device: torch.device, info: DistInfo | None = None):
        if cfg.method not in ("cyclegan", "dualgan"):
            raise ValueError(f"method must be cyclegan or dualgan, got {cfg.method!r}")
        self.cfg, self.device = cfg, device
        self.info = info or DistInfo(device=device)
        self.bf16 = resolve_amp(cfg.amp, device)
        self.channels_last = bool(cfg.channels_last) and channels_last_ok(device)
        self.G = build_network("resnet_generator", **cfg.net_kwargs()).to(device)
        self.F = build_network("resnet_generator", **cfg.net_kwargs()).to(device)
        self.D_S = build_network("patchgan", **cfg.disc_kwargs()).to(device)
        self.D_B = build_network("patchgan", **cfg.disc_kwargs()).to(device)
        self.gens, self.discs = nn.ModuleList([self.G, self.F]), nn.ModuleList([self.D_S, self.D_B])
        for net in (self.gens, self.discs):
            init_weights(net, 0.02)
            to_channels_last(net, self.channels_last)
            broadcast_module(net, self.info)
        if cfg.method == "cyclegan":
            self.opt_g = torch.optim.Adam(self.gens.parameters(), lr=cfg.lr, betas=tuple(cfg.betas))
            self.opt_d = torch.optim.Adam(self.discs.parameters(), lr=cfg.lr, betas=tuple(cfg.betas))
        else:
            self.opt_g = torch.optim.RMSprop(self.gens.parameters(), lr=cfg.lr)
            self.opt_d = torch.optim.RMSprop(self.discs.parameters(), lr=cfg.lr)
        decay = linear_decay(cfg.iters, cfg.decay_start)
        self.sched_g = torch.optim.lr_scheduler.LambdaLR(self.opt_g, decay)
        self.sched_d = torch.optim.lr_scheduler.LambdaLR(self.opt_d, decay)
        pool = cfg.pool_size if cfg.method == "cyclegan" else 0
        self.pool_s, self.pool_b = ImagePool(pool, mix_seed(cfg.seed, 21)), ImagePool(pool, mix_seed(cfg.seed, 22))
        self.mode = "lsgan" if cfg.method == "cyclegan" else "wgan"

    def _run(self, net, x):
        with autocast(self.bf16, self.device):
            return net(to_channels_last(x, self.channels_last)).float()

    def step(self, b: torch.Tensor, s: torch.Tensor) -> dict[str, float]:
        cfg = self.cfg
        self.gens.train()
        fake_s, fake_b = self._run(self.G, b), self._run(self.F, s)
        # generators: fool both discriminators, come back through the other generator
        self.discs.requires_grad_(False)
        g_gan = gan_loss_g(self._run(self.D_S, fake_s), self.mode) + gan_loss_g(self._run(self.D_B, fake_b), self.mode)
        cycle = l1(self._run(self.F, fake_s), b) + l1(self._run(self.G, fake_b), s)
        loss = g_gan + cfg.lambda_cycle * cycle
        idt = torch.zeros((), device=b.device)
        if cfg.method == "cyclegan" and cfg.lambda_idt > 0:
            idt = l1(self._run(self.G, s), s) + l1(self._run(self.F, b), b)
            loss = loss + cfg.lambda_idt * cfg.lambda_cycle * idt
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(self.gens, self.info)
        self.opt_g.step()
        self.discs.requires_grad_(True)
        # discriminators (critics): real vs (pooled) fakes of each domain
        fs, fb = self.pool_s.query([fake_s.detach()])[0], self.pool_b.query([fake_b.detach()])[0]
        for _ in range(cfg.n_critic if cfg.method == "dualgan" else 1):
            d_loss = (gan_loss_d(self._run(self.D_S, s), self._run(self.D_S, fs), self.mode)
                      + gan_loss_d(self._run(self.D_B, b), self._run(self.D_B, fb), self.mode))
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            average_gradients(self.discs, self.info)
            self.opt_d.step()
            if cfg.method == "dualgan":
                with torch.no_grad():
                    for p in self.discs.parameters():
                        p.clamp_(-cfg.clip, cfg.clip)
        self.sched_g.step()
        self.sched_d.step()
        self._last = (b[:4].detach(), fake_s[:4].detach(), s[:4].detach())
        return {"loss/g_gan": g_gan.item(), "loss/cycle": cycle.item(), "loss/idt": idt.item(),
                "loss/d": d_loss.item(), "train/lr": self.sched_g.get_last_lr()[0]}


class UnpairedGANRecipe(Recipe):
    def __init__(self, blurry: list[Path], sharp: list[Path], cfg: UnpairedGANConfig, info: DistInfo):
        self.name = cfg.method
        self.cfg, self.info = cfg, info
        seed_everything(cfg.seed)
        aug = Augment(hflip=cfg.hflip)
        self.data_b = UnpairedCrops(blurry, cfg.crop, augment=aug)
        self.data_s = UnpairedCrops(sharp, cfg.crop, augment=aug)
        self.trainer = UnpairedGANTrainer(cfg, info.device, info)

    def networks(self):
        return {"gens": self.trainer.gens, "discs": self.trainer.discs}

    def optimizers(self):
        return {"G": self.trainer.opt_g, "D": self.trainer.opt_d}

    def schedulers(self):
        return {"G": self.trainer.sched_g, "D": self.trainer.sched_d}

    def extra_state(self) -> dict:
        return {"pool_s": self.trainer.pool_s.state_dict(), "pool_b": self.trainer.pool_b.state_dict()}

    def load_extra_state(self, state: dict) -> None:
        if "pool_s" in state:
            self.trainer.pool_s.load_state_dict(state["pool_s"])
            self.trainer.pool_b.load_state_dict(state["pool_b"])

    def start(self, iteration: int) -> None:
        self.batches_b = self.seeded_batches(self.data_b, iteration, self.cfg.seed)
        self.batches_s = self.seeded_batches(self.data_s, iteration, self.cfg.seed + 1)

    def step(self, iteration: int) -> dict[str, float]:
        dev = self.info.device
        return self.trainer.step(next(self.batches_b)["image"].to(dev), next(self.batches_s)["image"].to(dev))

    def export(self, out_dir: Path, iteration: int) -> Path:
        stem = Path(out_dir) / "deblurrer"  # G: B -> S, used like any deblurrer
        save_model(self.trainer.G, stem, "resnet_generator", self.cfg.net_kwargs(),
                   extra={"iteration": iteration, "method": self.cfg.method})
        return stem

    def samples(self):
        if not hasattr(self.trainer, "_last"):
            return {}
        b, fs, s = self.trainer._last
        return {"samples/blurry_b": b, "samples/g_of_b": fs.clamp(0, 1), "samples/sharp_s": s}


def train_unpaired_gan(blurry_dir: str | Path, sharp_dir: str | Path, out_dir: str | Path,
                       cfg: UnpairedGANConfig, preset: str | None = None, device: str | None = "auto",
                       progress: bool = True, resume: bool = False, overwrite: bool = False) -> Path:
    """Train CycleGAN or DualGAN (`cfg.method`) from `blurry_dir` (B) to `sharp_dir` (S); writes
    `out_dir/deblurrer.*` (the B -> S generator) and returns its stem."""
    info = setup(device)
    recipe = UnpairedGANRecipe(images_in(blurry_dir, "the camera's blurry set B"),
                               images_in(sharp_dir, "the camera's sharp set S"), cfg, info)
    return run_training(recipe, cfg, out_dir, preset, info, resume=resume, progress=progress, overwrite=overwrite)
