"""Typed training configs: one dataclass per recipe (deblurrer, translator, kernel space, unpaired
GAN baselines), whose defaults are the published recipes; saved as YAML beside every run.

Named presets (`cpu-small`, `official`, `paper`, ...) and `make_config` (a preset plus `key=value`
overrides) are in train/presets.py; the checks of every field in train/config_checks.py.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from blur2blur.outputs.files import atomic_write_text


@dataclass
class DeblurrerConfig:
    """Training of a known-domain deblurrer (NAFNet) on paired blurry/sharp crops.

    Defaults follow NAFNet's GoPro recipe: PSNR loss, AdamW (betas 0.9, 0.9), cosine decay to
    `lr_min`, gradient-norm clipping, 256 px crops. `net` is "nafnet" (fields width..dec_blk_nums)
    or "restormer" (fields restormer_*; the defaults are the official motion-deblurring model).
    amp: "auto" (bfloat16 autocast where the device runs it natively, else float32), "bf16" or
    "none" (float32); the loss stays float32 (blur2blur/perf.py). channels_last: convolutions in
    channels-last memory format (faster; same results up to float rounding).
    noise_curve: path of a camera noise curve (`noise_curve.json`, written by the known-blur set
    with `k_noise=match`); when given, every blurry training crop gets fresh noise of that level,
    so that the known deblurrer expects the camera's grain ("" = none, in every preset).
    synthesis: "" (train on blurry/sharp pairs) or a generic blur synthesis applied on the fly to
    sharp crops, for the paper's baselines: "linear" (random linear motion kernels), "bsrgan"
    (BSRGAN-style shuffled degradations with motion), "rsblur" (RSBlur-style camera synthesis);
    see simulate/degradations.py.
    camera: a camera profile (shipped name or YAML path) whose blur, noise and response are
    simulated on the fly on sharp crops (simulate/online.py): no crop is seen twice. The shipped
    deblurrer is trained this way for the project's known camera, `actioncam` (preset `shipped`).
    camera_grain: [lo, hi] range of a factor on the camera's noise std, drawn per crop (log-uniform);
    camera_jpeg: share of the blurry crops JPEG-compressed at a quality in [60, 95]: robustness of a
    deblurrer meant for real photos.
    val_dir / val_every / val_crop: every `val_every` iterations, PSNR of input and output on the
    central `val_crop` px crops of the photos in `val_dir` blurred by `camera` with fixed seeds
    (logged as val/psnr_in, val/psnr_out, val/gain): the learning curve of a long run.
    init: a deblurrer checkpoint (path stem, or "shipped") whose weights start the run (fine-tuning:
    the iterations and the schedule start at 0).
    continue_from: a checkpoint whose weights start the run, which then counts its iterations and
    learning-rate schedule on from the checkpoint's `iteration`: a long run continued from
    committed weights, where its optimiser state is gone (the shipped model's training).
    ema_decay: > 0 keeps an exponential moving average of the weights (per iteration), which is
    what is validated and exported: a snapshot of a long run stopped at a high learning rate is
    much steadier averaged (0 = the raw weights, as NAFNet).
    """

    net: str = "nafnet"
    width: int = 32
    enc_blk_nums: list[int] = field(default_factory=lambda: [1, 1, 1, 28])
    middle_blk_num: int = 1
    dec_blk_nums: list[int] = field(default_factory=lambda: [1, 1, 1, 1])
    restormer_dim: int = 48
    restormer_blocks: list[int] = field(default_factory=lambda: [4, 6, 6, 8])
    restormer_refinement: int = 4
    restormer_heads: list[int] = field(default_factory=lambda: [1, 2, 4, 8])
    restormer_ffn: float = 2.66
    amp: str = "auto"
    channels_last: bool = True
    crop: int = 256
    batch: int = 32
    iters: int = 200_000
    lr: float = 1e-3
    lr_min: float = 1e-7
    betas: list[float] = field(default_factory=lambda: [0.9, 0.9])
    weight_decay: float = 0.0
    grad_clip: float = 0.01
    augment: bool = True
    noise_curve: str = ""
    synthesis: str = ""
    camera: str = ""
    camera_grain: list[float] = field(default_factory=lambda: [1.0, 1.0])
    camera_jpeg: float = 0.0
    val_dir: str = ""
    val_every: int = 0
    val_crop: int = 192
    init: str = ""
    continue_from: str = ""
    ema_decay: float = 0.0
    seed: int = 0
    num_workers: int = 0
    log_every: int = 100
    save_every: int = 5000

    def net_kwargs(self) -> dict[str, Any]:
        """Constructor arguments of the network this config trains."""
        if self.net == "restormer":
            return {"dim": self.restormer_dim, "num_blocks": list(self.restormer_blocks),
                    "num_refinement_blocks": self.restormer_refinement,
                    "heads": list(self.restormer_heads), "ffn_expansion_factor": self.restormer_ffn}
        if self.net != "nafnet":
            raise ValueError(f"deblurrer net must be 'nafnet' or 'restormer', got {self.net!r}")
        return {
            "width": self.width,
            "enc_blk_nums": list(self.enc_blk_nums),
            "middle_blk_num": self.middle_blk_num,
            "dec_blk_nums": list(self.dec_blk_nums),
        }


@dataclass
class TranslatorConfig:
    """Adversarial training of the blur translator T: camera blur B -> known blur K.

    Defaults follow the official code (DESIGN.md section 1): hinge GAN loss with a gradient
    penalty of weight 1e-4 on the full-resolution scale, one PatchGAN shared by the three MIMO
    scales (GAN losses averaged over scales), VGG16 perceptual loss against the input at each scale
    (summed over scales) times `lambda_rec`, Adam 2e-4 with betas (0.5, 0.999), learning rate
    constant then linearly decayed to zero from `decay_start`, horizontal flips only.

    net: "mimo_unet" (num_res 8; 20 = MIMO-UNet+), "unet" (levels), or "nafnet" (width, blocks;
    its quarter/half outputs are the full output resized). gan_mode: vanilla | hinge | lsgan |
    wgan. k_source: where the known-blur set K comes from: "simulate" (the simulator's
    `known_profile` applied to S; "" = the profile that made the layout's known pairs, recorded by
    make-dataset; without known pairs the project's known camera "actioncam"), "known" (the known
    domain's own blurry images, trainC), "estimated" (the blur kernels and noise estimated from
    each known pair, kernel_space/estimate.py, applied to S), "transfer" (bkse blur transfer from
    trainC/trainD with the kernel network `kernel_wizard`, built once), "online" (a fresh transfer
    every step), or "auto" (default): with known pairs, "transfer" when `kernel_wizard` is given,
    else "simulate" when make-dataset recorded their profile, else "estimated"; without, "simulate"
    with the project's known camera (blur2blur/known_blur/build.py resolve_k_source).
    Curriculum (paper): per batch, only the `curriculum_order` ("blurriest" or "sharpest")
    fraction of the camera crops, ranked by variance of the Laplacian, is optimised; the fraction
    grows linearly from `curriculum_start` to 1 at iteration `curriculum_until`.
    d_warmup: the first `d_warmup` iterations (of `iters`) train only D, on K against the
    untrained T's output (about B itself), so that T meets a discriminator that already separates
    the blurs; not in the published recipes, 0 in every preset (see docs/research/demo.md).
    lr_d: the discriminator's learning rate (None = `lr`, as in both published recipes).
    lambda_lowpass: weight of an L1 loss between T(b) and b both average-pooled by
    `lowpass_factor` (full-resolution output): it pins colour and tone, which blur conversion
    should not change, and leaves the fine scales (blur, noise) to the GAN. Not in the published
    recipes (0 there); see docs/research/demo.md for why small data needs it.
    lambda_idt: weight of an identity term, L1 between T(k) and k for known-blur crops k at every
    scale (mean over scales; below full size the target is k resized bilinearly, as D's real
    inputs are): an image that already carries the known blur should pass through
    unchanged, so T may only change what tells B from K (CycleGAN's identity-mapping loss, Zhu
    et al. 2017; not in the published Blur2Blur recipes, 0 in every preset). Costs one more T pass.
    ema_decay: when > 0, an exponential moving average of T's weights (decay per iteration) is
    kept and exported as the translator (the raw weights as `translator_raw`); averaging damps
    the oscillation of adversarial training (Yazici et al., ICLR 2019). 0 in every preset.
    out_kernel, kernel_mode: with net "mimo_unet", 0 (the published residual heads) or an odd size
    k: every scale's output is then the input filtered by a predicted per-pixel, point-symmetric
    k x k kernel shared by R, G and B ("convex": softmax weights, "residual": bounded second
    differences that may also sharpen), so T cannot shift the image or add structure
    (nets/mimo_unet.py; not in the published recipes, 0 in every preset).
    d_spectral_norm: spectral normalisation of every conv of D (not in the published recipes,
    False in every preset); usually with `lambda_gp=0`.
    update_order: "d_first" (the published code: T forward, D step on the detached outputs, then
    T's step against the just-updated D) or "g_first" (T's step against the old D, then D's).
    rec_target_resize: how the perceptual loss's 1/4 and 1/2 scale targets are made from the
    input: "bilinear" (the published code) or "nearest" (MIMO-UNet's own input pyramid).
    amp: "auto" (bfloat16 autocast for T, D and VGG where the device runs it natively, else
    float32), "bf16" or "none"; the losses and the gradient penalty stay float32
    (blur2blur/perf.py). channels_last: convolutions in channels-last memory format.

    Options from issue #12 (all off in every preset; docs/training.md, docs/research/demo.md):
    identity_init: T's output convolutions start at zero, so T begins exactly as the identity
    (residual heads only). pool_size: D sees T's outputs through a history of that many earlier
    translations (CycleGAN's image pool; 0 = none). d_steps: D updates per T update (on the same
    batch, fakes drawn from the pool each time). lambda_swd: weight of a patch-statistics term for
    T, the sliced Wasserstein distance between contrast-normalised `swd_patch` px high-pass
    patches of T(b) and of k at full scale, `swd_projections` random directions
    (losses/patch_swd.py). lambda_gan: weight of the adversarial term (1 in every preset); 0 turns
    the GAN off (D is then not trained) so that the patch-statistics term is T's only critic.
    k_noise: "none" or "match": K is made from S smoothed by a Gaussian of `k_denoise_sigma` px,
    blurred, plus fresh noise of the camera's level estimated from S (known_blur/images.py), so
    that B and K differ only in blur (with k_source "known": trainC plus that noise).

    The patch-statistics term's estimate (issue #19): `swd_samples` random patches of T(b) per
    step (0 = all), against this step's K crops (`swd_bank` 0) or against a bank of `swd_bank`
    patches of all of K projected once on a fixed pool of directions (losses/patch_swd.py
    PatchBank), of which `swd_projections` are drawn per step. k_batch: K crops per step
    (0 = `batch`). kernel_logit_scale: the convex kernel head's logit scale (nets/mimo_unet.py).

    The label-free check (issue #19; train/translator_check.py): `val_fraction` of B and of K
    (whole scenes, at most 64 files each) is held out; every `val_every` iterations (0 = only at
    the end) and at the end the translator is scored by the patch-statistics distance of
    T(B_val) to K_val. The exported translator is the best-scoring evaluation (`val_keep`
    "best") or the last one ("last"); if its score is not at least `val_margin` (a fraction)
    below the identity's, the run exports the identity translator instead and warns
    (`identity_fallback`; false: export it anyway, with the warning). val_fraction 0: train on
    all of B and K, no check. The check compares images averaged over `val_scale` x `val_scale`
    blocks (1: as they are). `val_criterion` "deblurred" scores the distance of D(T(B_val)) to the
    camera's sharp images S (trainB), D the known deblurrer `val_deblurrer` (a checkpoint stem, or
    "shipped"): a criterion on the camera's own scenes that textures of other scenes cannot fool
    (issue #28); "known_blur" the distance of T(B_val) to K_val; "auto" (default) "deblurred" when
    the run has the camera's sharp images (every run on a layout), else "known_blur". With
    "known_blur" and the camera's sharp images at hand, `val_guard` > 0 adds a veto on the camera's
    own scenes: a translator the K criterion approves is rejected when D(T(B_val)) is more than
    `val_guard` times as far from S as D(B_val) (full scale). Measured, with why the default is
    what it is: benchmarks/decision_table.py, docs/research/decisions.md.
    """

    net: str = "mimo_unet"
    base_channel: int = 32
    num_res: int = 8
    levels: int = 4
    width: int = 32
    enc_blk_nums: list[int] = field(default_factory=lambda: [1, 1, 1, 28])
    dec_blk_nums: list[int] = field(default_factory=lambda: [1, 1, 1, 1])
    out_kernel: int = 0
    kernel_mode: str = "convex"
    ndf: int = 64
    n_layers: int = 3
    disc_per_scale: bool = False
    d_spectral_norm: bool = False
    init_gain: float = 0.02
    gan_mode: str = "hinge"
    lambda_gp: float = 1e-4
    gp_target: float = 1.0
    d_warmup: int = 0
    gan_scale_reduce: str = "mean"
    lambda_rec: float = 0.8
    rec_scale_reduce: str = "sum"
    perc_arch: str = "vgg16"
    perc_layers: list[str] = field(
        default_factory=lambda: ["relu2_2", "relu3_3", "relu4_1", "relu4_3", "conv5_1"]
    )
    perc_layer_weights: list[float] = field(
        default_factory=lambda: [1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0]
    )
    perc_weights: str = "auto"
    perc_normalize: bool = False
    perc_per_element: bool = True
    curriculum: bool = False
    curriculum_start: float = 0.5
    curriculum_until: int = 200_000
    curriculum_order: str = "blurriest"
    crop: int = 256
    batch: int = 1
    iters: int = 300_000
    decay_start: int = 100_000
    lr: float = 2e-4
    lr_d: float | None = None
    lambda_lowpass: float = 0.0
    lambda_idt: float = 0.0
    ema_decay: float = 0.0
    lowpass_factor: int = 4
    betas: list[float] = field(default_factory=lambda: [0.5, 0.999])
    adam_eps: float = 1e-8
    update_order: str = "d_first"
    rec_target_resize: str = "bilinear"
    identity_init: bool = False
    lambda_gan: float = 1.0
    pool_size: int = 0
    d_steps: int = 1
    lambda_swd: float = 0.0
    swd_patch: int = 7
    swd_projections: int = 128
    swd_samples: int = 1024
    swd_bank: int = 0
    k_batch: int = 0
    kernel_logit_scale: float = 4.0
    amp: str = "auto"
    channels_last: bool = True
    k_source: str = "auto"
    k_noise: str = "none"
    k_denoise_sigma: float = 1.0
    known_profile: str = ""
    kernel_wizard: str = ""
    k_variants: int = 4
    hflip: float = 0.5
    vflip: float = 0.0
    rot90: float = 0.0
    jitter: float = 0.0
    seed: int = 0
    num_workers: int = 0
    log_every: int = 100
    save_every: int = 5000
    val_fraction: float = 0.1
    val_every: int = 100
    val_margin: float = 0.02
    val_keep: str = "best"
    identity_fallback: bool = True
    val_criterion: str = "auto"
    val_scale: int = 1
    val_guard: float = 2.0
    val_deblurrer: str = "shipped"

    def net_kwargs(self) -> dict[str, Any]:
        if self.out_kernel and self.net != "mimo_unet":
            raise ValueError(f"out_kernel needs net=mimo_unet, got net={self.net!r}")
        if self.net == "mimo_unet":
            kw = {"base_channel": self.base_channel, "num_res": self.num_res}
            return kw | ({"out_kernel": self.out_kernel, "kernel_mode": self.kernel_mode,
                          "logit_scale": self.kernel_logit_scale} if self.out_kernel else {})
        if self.net == "unet":
            return {"base_channel": self.base_channel, "levels": self.levels}
        if self.net == "nafnet":
            return {"width": self.width, "enc_blk_nums": list(self.enc_blk_nums),
                    "middle_blk_num": 1, "dec_blk_nums": list(self.dec_blk_nums)}
        raise ValueError(f"translator net must be mimo_unet, unet or nafnet, got {self.net!r}")

    def disc_kwargs(self) -> dict[str, Any]:
        return {"input_nc": 3, "ndf": self.ndf, "n_layers": self.n_layers, "spectral_norm": self.d_spectral_norm}


@dataclass
class KernelConfig:
    """Joint training of the bkse kernel extractor F and blur operator G on paired crops.

    Loss: Charbonnier of G(x, F(x, y)) against y (plus a KL term for the VAE variant).
    Defaults follow Tran et al. (CVPR 2021): Adam 1e-4, betas (0.9, 0.99), cosine annealing with
    warm restarts every `restart_every` iterations down to `lr_min`, 256 px crops, 600K iterations.
    """

    nf: int = 64
    front_RBs: int = 10
    back_RBs: int = 20
    kernel_dim: int = 512
    recon_nf: int = 64
    use_vae: bool = False
    kl_weight: float = 1e-4
    charbonnier_eps: float = 1e-3
    crop: int = 256
    batch: int = 16
    iters: int = 600_000
    lr: float = 1e-4
    lr_min: float = 1e-7
    betas: list[float] = field(default_factory=lambda: [0.9, 0.99])
    restart_every: int = 150_000
    augment: bool = True
    seed: int = 0
    num_workers: int = 0
    log_every: int = 100
    save_every: int = 5000

    def net_kwargs(self) -> dict[str, Any]:
        return {"nf": self.nf, "front_RBs": self.front_RBs, "back_RBs": self.back_RBs,
                "kernel_dim": self.kernel_dim, "recon_nf": self.recon_nf, "use_vae": self.use_vae}


@dataclass
class UnpairedGANConfig:
    """The unpaired baselines of the paper's Table 2, trained from the camera's blurry set B to its
    sharp set S: `method` "cyclegan" (Zhu et al. 2017: ResNet generators, PatchGANs, LSGAN loss,
    cycle weight 10, identity weight 0.5 x cycle weight, image pool of 50, Adam 2e-4 (0.5, 0.999),
    linear decay from `decay_start`) or "dualgan" (Yi et al. 2017: WGAN critics whose weights are
    clipped to +-`clip`, L1 recovery losses weighted `lambda_cycle`, RMSProp `lr`, `n_critic`
    critic steps per generator step; the generators are the same ResNet generators here).
    """

    method: str = "cyclegan"
    ngf: int = 64
    n_blocks: int = 9
    ndf: int = 64
    n_layers: int = 3
    lambda_cycle: float = 10.0
    lambda_idt: float = 0.5
    pool_size: int = 50
    clip: float = 0.01
    n_critic: int = 2
    crop: int = 256
    batch: int = 1
    iters: int = 200_000
    decay_start: int = 100_000
    lr: float = 2e-4
    betas: list[float] = field(default_factory=lambda: [0.5, 0.999])
    amp: str = "auto"
    channels_last: bool = True
    hflip: float = 0.5
    seed: int = 0
    num_workers: int = 0
    log_every: int = 100
    save_every: int = 5000

    def net_kwargs(self) -> dict[str, Any]:
        return {"ngf": self.ngf, "n_blocks": self.n_blocks}

    def disc_kwargs(self) -> dict[str, Any]:
        return {"input_nc": 3, "ndf": self.ndf, "n_layers": self.n_layers}


CONFIG_CLASSES = (DeblurrerConfig, TranslatorConfig, KernelConfig, UnpairedGANConfig)


def save_config(cfg, path: str | Path, preset: str | None = None) -> None:
    """Write the resolved config (and the preset it came from) as YAML."""
    data = {"kind": type(cfg).__name__, "preset": preset, "config": dataclasses.asdict(cfg)}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))


def load_config(path: str | Path):
    """Read a config written by `save_config`."""
    data = yaml.safe_load(Path(path).read_text())
    cls = {c.__name__: c for c in CONFIG_CLASSES}[data["kind"]]
    return cls(**data["config"])
