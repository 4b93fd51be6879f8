"""Recipe: train the blur translator T (camera blur B -> known blur K) on a dataset layout.

The recipe composes the trainer (train/translator_trainer.py: networks, losses, one step), the
camera's blurry crops B, the known-blur set K (blur2blur.known_blur: stored or online) and the
held-out check that decides what is exported (train/translator_check.py).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
import torch.nn as nn

from blur2blur.data.augment import Augment
from blur2blur.data.datasets import UnpairedCrops
from blur2blur.data.holdout import evenly_spaced, holdout_split
from blur2blur.data.sampling import SeededBatches, mix_seed
from blur2blur.device import seed_everything
from blur2blur.io import images_in, list_images
from blur2blur.kernel_space.load import load_kernel_wizard
from blur2blur.known_blur.build import build_known_set, online_known_blur, resolve_k_source
from blur2blur.losses.patch_swd import PatchBank
from blur2blur.losses.perceptual import PerceptualLoss
from blur2blur.nets.identity import IdentityTranslator
from blur2blur.nets.official import load_network
from blur2blur.nets.weights import save_model
from blur2blur.outputs.files import atomic_write_text
from blur2blur.train.config import TranslatorConfig
from blur2blur.train.distributed import DistInfo, barrier, setup
from blur2blur.train.loop import Recipe, run_training
from blur2blur.train.run_setup import prepare_run_folder
from blur2blur.train.translator_check import TranslatorCheck, decide_export, report_decision
from blur2blur.train.translator_trainer import TRANSLATOR_NETS, TranslatorTrainer


# The translator check holds out at most this many files of B and of K; the patch bank reads at
# most this many images of K.
VAL_MAX_FILES = 64
BANK_IMAGES = 512


class TranslatorRecipe(Recipe):
    name = "translator"

    def __init__(self, blurry: list[Path], known: list[Path] | None, cfg: TranslatorConfig,
                 info: DistInfo, online_k=None, sharp: list[Path] | None = None,
                 check_known: list[Path] | None = None, check_sharp: list[Path] | None = None):
        """`known`: files of K (k_source simulate/transfer); or `online_k` (a callable mapping a
        sharp batch to a known-blur batch) with the camera's `sharp` files (k_source online).
        With `cfg.val_fraction` > 0, part of B and of K (whole groups: train/translator_check.py)
        is held out for the label-free check; `check_known`: the known-blur images the check
        compares with when K is made online (e.g. the known domain's own blurry images);
        `check_sharp`: the camera's sharp images, the reference of `cfg.val_criterion` "deblurred"
        and of the K criterion's guard (`cfg.val_guard`)."""
        self.cfg, self.info = cfg, info
        seed_everything(cfg.seed)
        aug = Augment(hflip=cfg.hflip, vflip=cfg.vflip, rot90=cfg.rot90, jitter=cfg.jitter)
        self.check = self.guard = None
        if cfg.val_fraction > 0:
            blurry, known, self.check, self.guard = self._hold_out(
                blurry, known, known if online_k is None else check_known, check_sharp)
        self.data_b = UnpairedCrops(blurry, cfg.crop, augment=aug)
        self.online_k = online_k
        self.data_k = UnpairedCrops(sharp if online_k is not None else known, cfg.crop, augment=aug)
        self.trainer = TranslatorTrainer(cfg, info.device, info)
        if cfg.lambda_swd > 0 and cfg.swd_bank > 0:
            if online_k is not None:
                warnings.warn("swd_bank needs a stored known-blur set K: with K made online the "
                              "patch-statistics term compares with each step's K crops", stacklevel=3)
            else:
                self.trainer.known_bank = PatchBank(evenly_spaced(known, BANK_IMAGES),
                                                    cfg.swd_patch, cfg.swd_bank, seed=cfg.seed).to(info.device)

    def _hold_out(self, blurry: list[Path], known: list[Path] | None, reference: list[Path] | None,
                  sharp: list[Path] | None):
        """(B to train on, K to train on, the check, its guard): a seeded share of B and of the
        check's `reference` known-blur files (K itself, unless K is made online) held out; no
        check, with a warning, when either is too small to split. With `val_criterion`
        "deblurred" (or "auto" with `sharp` given) the reference is a sample of the camera's
        `sharp` images (not held out: T never sees them); with the K criterion, `sharp` and
        `val_guard` > 0, those images are the guard's reference (the deblurred criterion at full
        scale, `decide_export`)."""
        cfg = self.cfg
        b_train, b_val = holdout_split(blurry, cfg.val_fraction, cfg.seed, VAL_MAX_FILES)
        if cfg.val_criterion == "deblurred" and not sharp:
            raise ValueError("val_criterion=deblurred needs the camera's sharp images S (trainB)")
        if cfg.val_criterion == "deblurred" or (cfg.val_criterion == "auto" and sharp):
            if not self._enough_to_deblur_check(b_val, sharp):
                return blurry, known, None, None
            return b_train, known, self._deblurred_check(b_val, sharp, cfg.val_scale), None
        k_train, k_val = holdout_split(reference or [], cfg.val_fraction, cfg.seed, VAL_MAX_FILES)
        if not b_val or not k_val:
            warnings.warn("val_fraction: too few camera or known-blur images to hold any out (two scenes "
                          "of each are needed); the translator is trained on all of them and not checked",
                          stacklevel=3)
            return blurry, known, None, None
        check = guard = None  # (only the main process checks and exports)
        if self.info.is_main:
            check = TranslatorCheck(b_val, k_val, evenly_spaced(k_train, len(k_val)), cfg.swd_patch, seed=cfg.seed,
                                    scale=cfg.val_scale)
        if sharp and cfg.val_guard > 0 and self._enough_to_deblur_check(b_val, sharp):
            guard = self._deblurred_check(b_val, sharp, 1)
        return b_train, (k_train if reference is known else known), check, guard

    @staticmethod
    def _enough_to_deblur_check(b_val: list[Path], sharp: list[Path]) -> bool:
        """Whether B_val and S are large enough for a check through the deblurrer; warns if not."""
        if b_val and len(sharp) >= 2:
            return True
        warnings.warn("val_fraction: too few camera images to hold any out or to compare with (two "
                      "scenes of B and two sharp images are needed); the translator is not checked "
                      "through the deblurrer", stacklevel=4)
        return False

    def _deblurred_check(self, b_val: list[Path], sharp: list[Path], scale: int) -> TranslatorCheck | None:
        """A check through the deblurrer (`TranslatorCheck.through_deblurrer`) on B_val and S at
        `scale` (B_val and S large enough: `_enough_to_deblur_check`); None on other processes
        than the main one (only the main process checks and exports)."""
        if not self.info.is_main:
            return None
        deblurrer = load_network(self.cfg.val_deblurrer, device=self.info.device, role="deblurrer")
        return TranslatorCheck.through_deblurrer(b_val, sharp, deblurrer, VAL_MAX_FILES, self.cfg.swd_patch,
                                                 seed=self.cfg.seed, scale=scale, device=self.info.device)

    def validate(self, iteration: int) -> dict[str, float]:
        """Score the translator that would be exported by the held-out check (none: {})."""
        if self.check is None:
            return {}
        return self.check.update(self._exported_net(), iteration, self.info.device)

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
            report_decision(self.check.summary(), extra["check"], out_dir)
        return out_dir / "translator"

    def _choose(self, out_dir: Path, extra: dict) -> tuple[nn.Module, str, dict]:
        """(network, registered name, kwargs) to export, by the check (`decide_export`): the
        identity translator when the trained weights do not beat it (those are then kept as
        `translator_rejected`). Records the decision in `extra` and translator_check.json."""
        cfg = self.cfg
        name, kwargs = TRANSLATOR_NETS[cfg.net], cfg.net_kwargs()
        net, decision = decide_export(self.check, cfg, self._exported_net(), self.guard, self.info.device)
        if decision is None:
            return net, name, kwargs
        extra["check"], extra["iteration"] = decision, decision["iteration"]
        atomic_write_text(out_dir / "translator_check.json",
                          json.dumps(self.check.summary() | {"decision": decision}, indent=1))
        rejected = out_dir / "translator_rejected"
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
    (the held-out check then compares with the known-blur images of `check_known_dir`). The
    camera's sharp images `sharp_dir` are also the reference of `cfg.val_criterion` "deblurred" and
    of the K criterion's guard.
    Writes `out_dir/translator.*` and `out_dir/discriminator.*`; returns the translator stem."""
    info = setup(device)
    blurry = images_in(blurry_dir, "the camera's blurry set B")
    sharp = images_in(sharp_dir, "the camera's sharp set S") if sharp_dir is not None else None
    if online_k is not None:
        if sharp is None:
            raise ValueError("online known blur needs the camera's sharp images (sharp_dir)")
        check_known = list_images(check_known_dir) if check_known_dir is not None else None
        recipe = TranslatorRecipe(blurry, None, cfg, info, online_k=online_k, sharp=sharp, check_known=check_known,
                                  check_sharp=sharp)
    else:
        recipe = TranslatorRecipe(blurry, images_in(known_dir, "the known-blur set K"), cfg, info, check_sharp=sharp)
    return run_training(recipe, cfg, out_dir, preset, info, resume=resume, progress=progress,
                        overwrite=overwrite)


def _preflight(cfg: TranslatorConfig, out_dir: Path, resume: bool, overwrite: bool, source: str) -> None:
    """Everything that can refuse a run, checked before K is written into its folder: the run
    folder (resume, overwrite, another run there), the perceptual network's weights and the kernel
    network's file, the check's deblurrer (a refused command changes nothing: docs/reliability.md)."""
    prepare_run_folder(out_dir, cfg, resume, overwrite, check_only=True)
    if cfg.lambda_rec > 0:
        PerceptualLoss(arch=cfg.perc_arch, layers=tuple(cfg.perc_layers), layer_weights=tuple(cfg.perc_layer_weights),
                       weights=cfg.perc_weights, normalize=cfg.perc_normalize, per_element=cfg.perc_per_element)
    if source == "transfer":
        load_kernel_wizard(cfg.kernel_wizard)
    if cfg.val_fraction > 0 and (cfg.val_criterion != "known_blur" or cfg.val_guard > 0):
        load_network(cfg.val_deblurrer, role="deblurrer")


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
    - "auto": see `blur2blur.known_blur.build.resolve_k_source`.
    `known_set` (a folder of K images) overrides the first two.
    """
    root, out_dir = Path(root), Path(out_dir)
    source = resolve_k_source(cfg, root, known_set)
    if source in ("transfer", "online") and not cfg.kernel_wizard and known_set is None:
        raise ValueError(f"k_source={source} needs a trained kernel network: train one with "
                         "`blur2blur kernels train` and pass --set kernel_wizard=RUN/kernel_wizard "
                         "(or use --set k_source=known or simulate)")
    if source == "online" and known_set is None:
        info = setup(device)
        online = online_known_blur(cfg, root, load_kernel_wizard(cfg.kernel_wizard, device=info.device), cfg.crop,
                                   cfg.batch, Augment(hflip=cfg.hflip, vflip=cfg.vflip, rot90=cfg.rot90),
                                   rank=info.rank, world_size=info.world_size)
        return train_translator(root / "trainA", None, out_dir, cfg, preset, device, progress,
                                resume, overwrite, online_k=online, sharp_dir=root / "trainB",
                                check_known_dir=root / "trainC")
    if known_set is None:
        known_set = out_dir / "known_blur_set"
        info = setup(device)
        if info.is_main:
            _preflight(cfg, out_dir, resume, overwrite, source)
            build_known_set(cfg, root, known_set, source, device, progress)
        barrier(info)
    # (the camera's sharp images for the check through the deblurrer, "auto"'s when there are any,
    # or the K criterion's guard)
    has_sharp = cfg.val_criterion == "deblurred" or (
        (cfg.val_criterion == "auto" or cfg.val_guard > 0) and (root / "trainB").is_dir()
        and bool(list_images(root / "trainB")))
    sharp_dir = root / "trainB" if has_sharp else None
    return train_translator(root / "trainA", known_set, out_dir, cfg, preset, device, progress, resume,
                            overwrite, sharp_dir=sharp_dir)
