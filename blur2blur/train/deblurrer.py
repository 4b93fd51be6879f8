"""Recipe: train a known-domain deblurrer (NAFNet or Restormer) on paired blurry/sharp images.

Used for the known domain C' (trainC/trainD), for a user without an official checkpoint, and in
the demo for the upper bound trained on the camera's own pairs. Loss: NAFNet's PSNR loss; AdamW;
cosine decay to `lr_min`; gradient-norm clipping.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from blur2blur.data.datasets import PairedCrops, UnpairedCrops, random_crop_pad
from blur2blur.data.layout import paired_files
from blur2blur.data.sampling import mix_seed
from blur2blur.device import seed_everything
from blur2blur.io import list_images, read_image
from blur2blur.losses.pixel import psnr_loss
from blur2blur.metrics.psnr import psnr
from blur2blur.nets import build_network
from blur2blur.nets.pretrained import shipped_stem
from blur2blur.nets.weights import load_weights, read_model_meta, save_model
from blur2blur.perf import autocast, channels_last_ok, resolve_amp, to_channels_last
from blur2blur.simulate.degradations import synthesize
from blur2blur.simulate.noise_model import NoiseCurve
from blur2blur.simulate.online import OnlineCamera
from blur2blur.train.config import DeblurrerConfig
from blur2blur.train.distributed import DistInfo, average_gradients, broadcast_module, setup
from blur2blur.train.loop import Recipe, run_training


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
        if not 0.0 <= cfg.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {cfg.ema_decay}")
        # (the average starts as a copy of the weights at its first update, i.e. after warm starts)
        self.ema = (AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True)
                    if cfg.ema_decay > 0 else None)

    def place_schedule(self, iteration: int) -> None:
        """Put the cosine schedule at `iteration` of the current `cfg.iters`: the learning rate of
        the closed form, so a run resumed or continued with another `iters` follows the new curve
        (a restored CosineAnnealingLR would otherwise keep the saved length and rise again after it)."""
        t = min(max(int(iteration), 0), self.cfg.iters)
        lr = self.cfg.lr_min + (self.cfg.lr - self.cfg.lr_min) * 0.5 * (1.0 + math.cos(math.pi * t / self.cfg.iters))
        self.sched.T_max, self.sched.eta_min, self.sched.base_lrs = self.cfg.iters, self.cfg.lr_min, [self.cfg.lr]
        self.sched.last_epoch = t
        for group in self.optim.param_groups:
            group["lr"], group["initial_lr"] = lr, self.cfg.lr
        self.sched._last_lr = [lr for _ in self.optim.param_groups]

    @property
    def exported(self) -> torch.nn.Module:
        """The weights that are validated and exported: the average when `ema_decay` > 0."""
        return self.ema.module if self.ema is not None else self.model

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
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        self._last = (blur[:4].detach(), out[:4].detach().float(), sharp[:4])
        return {"train/psnr": -loss.item(), "train/lr": self.sched.get_last_lr()[0]}


class DeblurrerRecipe(Recipe):
    name = "deblurrer"

    def __init__(self, pairs: list[tuple[Path, Path]], cfg: DeblurrerConfig, info: DistInfo,
                 sharp: list[Path] | None = None):
        """`pairs` of (blurry, sharp) files; or, with `cfg.camera` or `cfg.synthesis`, only `sharp`
        files whose crops are blurred on the fly by that camera (simulate/online.py; the crops are
        read with the camera's blur margin around them) or synthesis (simulate/degradations.py)."""
        self.cfg, self.info = cfg, info
        seed_everything(cfg.seed)
        self.online = None
        if cfg.camera:
            self.online = OnlineCamera(cfg.camera, grain=tuple(cfg.camera_grain), jpeg=(cfg.camera_jpeg, 60))
            self.dataset = UnpairedCrops(sharp, cfg.crop + 2 * self.online.margin, augment=cfg.augment)
        elif cfg.synthesis:
            self.dataset = UnpairedCrops(sharp, cfg.crop, augment=cfg.augment)
        else:
            self.dataset = PairedCrops(pairs, cfg.crop, augment=cfg.augment)
        self.trainer = DeblurrerTrainer(cfg, info.device, info)
        self.model = self.trainer.model
        self._val: tuple[torch.Tensor, torch.Tensor] | None = None

    def networks(self):
        return {"net": self.model}

    def optimizers(self):
        return {"net": self.trainer.optim}

    def schedulers(self):
        return {"net": self.trainer.sched}

    def extra_state(self) -> dict:
        return {"ema": self.trainer.ema.state_dict()} if self.trainer.ema is not None else {}

    def load_extra_state(self, state: dict) -> None:
        if self.trainer.ema is not None and "ema" in state:
            self.trainer.ema.load_state_dict(state["ema"])

    def warm_start(self) -> int:
        """Weights from `cfg.init` (the run starts at iteration 0) or `cfg.continue_from` (the
        iteration count and learning-rate schedule go on from the `iteration` in its metadata)."""
        if self.cfg.init and self.cfg.continue_from:
            raise ValueError("give init (fine-tune from weights) or continue_from (continue a run), not both")
        source = self.cfg.init or self.cfg.continue_from
        if not source:
            return 0
        if source == "shipped":
            source = str(shipped_stem())
        meta = read_model_meta(source)
        if meta.get("network") != self.cfg.net or meta.get("kwargs") != self.cfg.net_kwargs():
            raise ValueError(f"{source}: its network {meta.get('network')} {meta.get('kwargs')} is not "
                             f"the one this config trains ({self.cfg.net} {self.cfg.net_kwargs()})")
        load_weights(self.model, Path(str(source) + ".safetensors"), strict=True)
        done = int(meta.get("extra", {}).get("iteration", 0)) if self.cfg.continue_from else 0
        self.trainer.place_schedule(done)
        if self.info.is_main:
            print(f"starting from {source}" + (f" (iteration {done})" if done else ""))
        return done

    def start(self, iteration: int) -> None:
        self.trainer.place_schedule(iteration)
        self.batches = self.seeded_batches(self.dataset, iteration, self.cfg.seed)

    def step(self, iteration: int) -> dict[str, float]:
        batch = next(self.batches)
        dev = self.info.device
        if self.online is not None:
            gen = torch.Generator().manual_seed(mix_seed(self.cfg.seed, 19, iteration, self.info.rank))
            blur, sharp = self.online.batch(batch["image"], gen)
            return self.trainer.step(blur.to(dev), sharp.to(dev), iteration)
        if self.cfg.synthesis:
            gen = torch.Generator().manual_seed(mix_seed(self.cfg.seed, 17, iteration, self.info.rank))
            sharp = batch["image"]
            return self.trainer.step(synthesize(self.cfg.synthesis, sharp, gen).to(dev), sharp.to(dev), iteration)
        return self.trainer.step(batch["blur"].to(dev), batch["sharp"].to(dev), iteration)

    def validate(self, iteration: int) -> dict[str, float]:
        """PSNR (dB) of the blurry input and of the output on `cfg.val_dir` under `cfg.camera`."""
        if not (self.cfg.val_dir and self.online is not None):
            return {}
        if self._val is None:  # (the camera itself: no extra grain or JPEG)
            self._val = validation_pairs(OnlineCamera(self.cfg.camera), self.cfg.val_dir, self.cfg.val_crop)
        blur, sharp = self._val
        model = self.trainer.exported
        model.eval()
        outs = []
        with torch.no_grad():
            for i in range(len(blur)):
                x = to_channels_last(blur[i:i + 1].to(self.info.device), self.trainer.channels_last)
                with autocast(self.trainer.bf16, self.info.device):
                    outs.append(model(x).float().clamp(0, 1).cpu())
        out = torch.cat(outs)
        p_in = sum(psnr(b, s) for b, s in zip(blur, sharp)) / len(sharp)
        p_out = sum(psnr(o, s) for o, s in zip(out, sharp)) / len(sharp)
        return {"val/psnr_in": p_in, "val/psnr_out": p_out, "val/gain": p_out - p_in}

    def export(self, out_dir: Path, iteration: int) -> Path:
        stem = Path(out_dir) / "deblurrer"
        extra = {"iteration": iteration}
        if self.cfg.camera:
            extra["camera"] = self.online.camera.profile.name
        if self.cfg.ema_decay > 0:
            extra["ema_decay"] = self.cfg.ema_decay
        save_model(self.trainer.exported, stem, self.cfg.net, self.cfg.net_kwargs(), extra=extra)
        return stem

    def samples(self):
        if not hasattr(self.trainer, "_last"):
            return {}
        blur, out, sharp = self.trainer._last
        return {"samples/blurry": blur, "samples/deblurred": out.clamp(0, 1), "samples/sharp": sharp}


def validation_pairs(online, folder: str | Path, crop: int, seed: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """(blurry, sharp) NCHW batches: the central `crop` px of each photo of `folder` (reflect-padded
    when smaller) blurred by the OnlineCamera `online`, photo i with seed `seed + i`."""
    files = list_images(folder)
    if not files:
        raise ValueError(f"val_dir {folder}: no images")
    size, blur, sharp = crop + 2 * online.margin, [], []
    for i, f in enumerate(files):
        img = read_image(f)
        h, w = img.shape[:2]
        window = random_crop_pad(img, size, max(0, (h - size) // 2), max(0, (w - size) // 2))
        b, s = online.pair(window, seed + i)
        blur.append(torch.from_numpy(b).permute(2, 0, 1))
        sharp.append(torch.from_numpy(s).permute(2, 0, 1))
    return torch.stack(blur), torch.stack(sharp)


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
    """Train on pairs from `blur_dir`/`sharp_dir` (or, with `cfg.camera` or `cfg.synthesis`, on the
    crops of `sharp_dir`, one folder or a list of folders, blurred on the fly by that camera or
    synthesis; `blur_dir` is then unused and may be None);
    write `out_dir/deblurrer.{safetensors,json}`.

    Returns the checkpoint path stem (give it to `nets.weights.load_model` or `blur2blur deblur`).
    Under torchrun the global batch `cfg.batch` is split over the processes.
    """
    info = setup(device)
    if cfg.camera or cfg.synthesis:
        folders = list(sharp_dir) if isinstance(sharp_dir, (list, tuple)) else [sharp_dir]
        sharp = [f for folder in folders for f in list_images(folder)]
        if not sharp:
            raise ValueError(f"no sharp images in {', '.join(map(str, folders))} to synthesise blurry inputs from")
        recipe = DeblurrerRecipe([], cfg, info, sharp=sharp)
    else:
        recipe = DeblurrerRecipe(paired_files(blur_dir, sharp_dir), cfg, info)
    return run_training(recipe, cfg, out_dir, preset, info, resume=resume, progress=progress,
                        overwrite=overwrite)
