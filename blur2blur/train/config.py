"""Typed training configs with named presets (`cpu-small`, `official`, `paper`).

A config is a dataclass; a preset is a dict of field values applied on top of the defaults; any
field can then be overridden with `key=value` strings (values parsed as YAML, so `lr=1e-4`,
`enc_blk_nums=[1,1,1,2]`, `tlc=true` all work). The resolved config is saved as YAML beside every
run so that it can be reproduced.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from blur2blur.outputs import atomic_write_text


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
    with the project's known camera (train/translator.py resolve_k_source).
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
    blurred, plus fresh noise of the camera's level estimated from S (data/known_blur.py), so
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
    all of B and K, no check.
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


PRESETS: dict[type, dict[str, dict[str, Any]]] = {
    UnpairedGANConfig: {
        # CycleGAN's published defaults (200 epochs of about 1K images at batch 1).
        "official": {"amp": "none"},
        "paper": {},
        "cpu-small": {"ngf": 16, "n_blocks": 3, "ndf": 32, "n_layers": 2, "crop": 64, "batch": 4,
                      "iters": 800, "decay_start": 400, "log_every": 50, "save_every": 400},
        # Three times cpu-small's steps, same networks (`blur2blur bench --preset cpu-medium`).
        "cpu-medium": {"ngf": 16, "n_blocks": 3, "ndf": 32, "n_layers": 2, "crop": 64, "batch": 4,
                       "iters": 2400, "decay_start": 1200, "log_every": 100, "save_every": 800},
    },
    KernelConfig: {
        "official": {},
        "paper": {},
        "cpu-small": {
            "nf": 16,
            "front_RBs": 2,
            "back_RBs": 2,
            "kernel_dim": 64,
            "recon_nf": 16,
            "crop": 128,
            "batch": 4,
            "iters": 1000,
            "lr": 3e-4,
            "restart_every": 1000,
            "log_every": 50,
            "save_every": 500,
        },
    },
    DeblurrerConfig: {
        # NAFNet-GoPro width 32 as published (trained in float32).
        "official": {"amp": "none"},
        "paper": {},
        # Seconds-per-hundred-iterations on a 2-core laptop: a small NAFNet on 64 px crops.
        "cpu-small": {
            "width": 16,
            "enc_blk_nums": [1, 1, 2],
            "middle_blk_num": 1,
            "dec_blk_nums": [1, 1, 1],
            "crop": 64,
            "batch": 8,
            "iters": 1000,
            "lr": 2e-3,
            "grad_clip": 0.5,
            "log_every": 50,
            "save_every": 500,
        },
        # The shipped deblurrer (blur2blur/weights/, docs/model_card.md): NAFNet width 32 with a
        # light encoder (5.9M parameters; 1.6 s a 1280x720 frame with bfloat16 on 2 cores) trained
        # on the fly for the known camera `actioncam` (blur 0-36 px) on 128 px crops: 0.5 s an
        # iteration on 2 CPU cores with bfloat16. Train with `blur2blur train-deblurrer --preset
        # shipped --sharp DIR...`; continue from the shipped file with --set continue_from=shipped.
        "shipped": {
            "width": 32,
            "enc_blk_nums": [1, 1, 1, 4],
            "middle_blk_num": 1,
            "dec_blk_nums": [1, 1, 1, 1],
            "camera": "actioncam",
            "camera_grain": [0.5, 4.0],
            "camera_jpeg": 0.3,
            "ema_decay": 0.999,
            "crop": 128,
            "batch": 8,
            "iters": 60_000,
            "lr": 1e-3,
            "lr_min": 1e-6,
            "grad_clip": 0.5,
            "log_every": 100,
            "save_every": 1000,
            "val_every": 1000,
        },
        # Between cpu-small and official, for `blur2blur bench --preset cpu-medium` (about four
        # times cpu-small's compute per deblurrer): a fourth NAFNet level (receptive field for
        # blurs of ~10-20 px) and 2.5x the steps, on cpu-small's 64 px crops (96 px crops
        # overfitted the 96 px scenes of the bundled photos: docs/research/bench.md).
        "cpu-medium": {
            "width": 16,
            "enc_blk_nums": [1, 1, 1, 2],
            "middle_blk_num": 2,
            "dec_blk_nums": [1, 1, 1, 1],
            "crop": 64,
            "batch": 8,
            "iters": 2500,
            "lr": 2e-3,
            "grad_clip": 0.5,
            "log_every": 100,
            "save_every": 500,
        },
    },
    TranslatorConfig: {
        # The published code's training step (float32, D step first, bilinear targets).
        "official": {"amp": "none"},
        # Paper main text: vanilla (log) GAN loss, gradient-penalty weight 0.005, batch 16,
        # 1M iterations with linear decay over the second half, VGG19 perceptual loss averaged
        # over scales, rotation/flip/colour-jitter augmentation, blur-degree curriculum up to 200K.
        "paper": {
            "gan_mode": "vanilla",
            "lambda_gp": 0.005,
            "batch": 16,
            "iters": 1_000_000,
            "decay_start": 500_000,
            "perc_arch": "vgg19",
            "perc_layers": ["relu1_2", "relu2_2", "relu3_4", "relu4_4", "relu5_1"],
            "perc_layer_weights": [0.2, 0.2, 0.2, 0.2, 0.2],
            "perc_normalize": True,
            "rec_scale_reduce": "mean",
            "curriculum": True,
            "hflip": 0.5,
            "vflip": 0.5,
            "rot90": 0.5,
            "jitter": 0.5,
            "k_source": "online",
        },
        "cpu-small": {
            "base_channel": 16,
            "num_res": 2,
            "ndf": 32,
            "n_layers": 2,
            "crop": 64,
            "batch": 4,
            "iters": 800,
            "decay_start": 400,
            "vflip": 0.5,
            "rot90": 0.5,
            "log_every": 50,
            "save_every": 400,
            # K with the camera's own fresh grain (and, in the demo and bench, a known deblurrer
            # trained with it): +1.5 dB for both the direct deblurrer and Blur2Blur on Kodak24;
            # T a 5 x 5 convex kernel-prediction head trained by the patch-statistics critic alone
            # (no GAN, no perceptual term): Blur2Blur +0.7 dB over the direct deblurrer where
            # every adversarial setting lost (docs/research/demo.md, seventh round)
            "k_noise": "match",
            "out_kernel": 5,
            "kernel_mode": "convex",
            "lambda_gan": 0.0,
            "lambda_swd": 1000.0,
            "lambda_rec": 0.0,
            # A loss that decreases in every run (issue #19): T(b)'s patches against a bank of all
            # of K's (the per-batch estimate's noise buried the signal), Adam's first moment
            # averaged over ~10 steps, an average of T's weights exported (docs/research/demo.md, eighth round)
            "swd_bank": 32768,
            "swd_samples": 4096,
            "betas": [0.9, 0.999],
            "ema_decay": 0.99,
        },
    },
}
# cpu-medium's translator: cpu-small's recipe on 96 px crops for 1200 steps.
PRESETS[TranslatorConfig]["cpu-medium"] = {**PRESETS[TranslatorConfig]["cpu-small"], "crop": 96, "iters": 1200,
                                           "decay_start": 600, "log_every": 100, "save_every": 400}


def make_config(cls: type, preset: str = "official", overrides: list[str] | dict | None = None):
    """Build a config of dataclass `cls` from a named preset plus overrides.

    `overrides` is a dict or a list of `key=value` strings. Unknown presets or fields raise a
    ValueError naming the valid ones.
    """
    presets = PRESETS[cls]
    if preset not in presets:
        raise ValueError(f"unknown preset {preset!r} for {cls.__name__}; choose from {sorted(presets)}")
    values = dict(presets[preset])
    values.update(parse_overrides(overrides))
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; valid fields: {sorted(names)}")
    return validate_config(cls(**values))


# Allowed values of the enumerated fields (any config class that has the field).
CHOICES: dict[str, tuple[str, ...]] = {
    "amp": ("auto", "bf16", "none"),
    "gan_mode": ("vanilla", "hinge", "lsgan", "wgan"),
    "gan_scale_reduce": ("mean", "sum"),
    "rec_scale_reduce": ("mean", "sum"),
    "perc_arch": ("vgg16", "vgg19"),
    "curriculum_order": ("blurriest", "sharpest"),
    "update_order": ("d_first", "g_first"),
    "rec_target_resize": ("bilinear", "nearest"),
    "k_source": ("auto", "simulate", "known", "estimated", "transfer", "online"),
    "k_noise": ("none", "match"),
    "kernel_mode": ("convex", "residual"),
    "val_keep": ("best", "last"),
    "synthesis": ("", "linear", "bsrgan", "rsblur"),
    "method": ("cyclegan", "dualgan"),
}
NET_CHOICES = {"DeblurrerConfig": ("nafnet", "restormer"), "TranslatorConfig": ("mimo_unet", "unet", "nafnet")}
# Lower bounds of numeric fields (inclusive unless listed in _OPEN): counts >= 1, others >= 0.
_AT_LEAST_ONE = {"iters", "save_every", "log_every", "batch", "crop", "width", "base_channel", "ndf", "n_layers",
                 "ngf", "n_critic",
                 "levels", "k_variants", "nf", "kernel_dim", "recon_nf", "restart_every", "swd_patch",
                 "swd_projections", "d_steps", "restormer_dim", "val_crop"}
_OPEN = {"lr", "init_gain", "adam_eps", "charbonnier_eps"}  # > 0
_UNIT = {"hflip", "vflip", "rot90", "jitter", "curriculum_start"}  # in [0, 1]
_BELOW_ONE = {"val_fraction", "val_margin"}  # in [0, 1)


class ConfigError(ValueError):
    """A config field has a value of the wrong type or outside its range; names field and value."""


def _coerce(cls_name: str, name: str, kind: str, value):
    """`value` checked (and, for whole floats and numbers given to text fields, converted) against
    the annotation `kind` of the field."""
    def bad(expected: str):
        return ConfigError(f"invalid {cls_name} field {name}={value!r}: expected {expected}")

    def as_int(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not v.is_integer()):
            raise bad("a whole number")
        return int(v)

    def as_float(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise bad("a number")
        return float(v)

    if kind == "int":
        return as_int(value)
    if kind == "float":
        return as_float(value)
    if kind == "float | None":
        return None if value is None else as_float(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if kind == "str":
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            choices = CHOICES.get(name)
            raise bad(f"one of {', '.join(c or repr(c) for c in choices)}" if choices else "a text value"
                      + (" (YAML reads yes/no/on/off as true/false)" if isinstance(value, bool) else ""))
        return str(value)
    if kind.startswith("list["):
        if not isinstance(value, (list, tuple)):
            raise bad(f"a list such as [1, 2] ({kind})")
        item = kind[5:-1]
        conv = {"int": as_int, "float": as_float, "str": lambda v: str(v)}[item]
        return [conv(v) for v in value]
    return value


def validate_config(cfg):
    """Check every field of `cfg` for type, range, allowed values and consistency; return `cfg`
    with whole floats made ints (`iters=1e5`). Raises ConfigError naming the field and value."""
    name = type(cfg).__name__
    hints = {f.name: str(f.type) for f in fields(cfg)}
    for field_name, kind in hints.items():
        setattr(cfg, field_name, _coerce(name, field_name, kind, getattr(cfg, field_name)))

    def check(ok: bool, field_name: str, expected: str):
        if not ok:
            raise ConfigError(f"invalid {name} field {field_name}={getattr(cfg, field_name)!r}: {expected}")

    for field_name in hints:
        v = getattr(cfg, field_name)
        if field_name in CHOICES:
            check(v in CHOICES[field_name], field_name, f"choose one of {', '.join(CHOICES[field_name])}")
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            if field_name in _AT_LEAST_ONE:
                check(v >= 1, field_name, "must be at least 1")
            elif field_name in _OPEN:
                check(v > 0, field_name, "must be greater than 0")
            elif field_name in _UNIT:
                check(0 <= v <= 1, field_name, "must be in [0, 1]")
            elif field_name == "ema_decay" or field_name in _BELOW_ONE:
                check(0 <= v < 1, field_name, "must be in [0, 1)")
            else:
                check(v >= 0, field_name, "must not be negative")
        elif isinstance(v, list) and field_name.endswith(("blk_nums", "blocks", "heads")):
            check(len(v) > 0 and all(x >= (1 if field_name.endswith("heads") else 0) for x in v),
                  field_name, "must be a non-empty list of non-negative whole numbers")
    if hasattr(cfg, "net"):
        check(cfg.net in NET_CHOICES.get(name, (cfg.net,)), "net", f"choose one of {', '.join(NET_CHOICES.get(name, ()))}")
    if hasattr(cfg, "betas"):
        check(len(cfg.betas) == 2 and all(0 <= b < 1 for b in cfg.betas), "betas", "must be two numbers in [0, 1)")
    if hasattr(cfg, "enc_blk_nums"):
        check(len(cfg.enc_blk_nums) == len(cfg.dec_blk_nums), "dec_blk_nums",
              f"must have as many levels as enc_blk_nums ({len(cfg.enc_blk_nums)})")
    if hasattr(cfg, "restormer_blocks"):
        check(len(cfg.restormer_blocks) == 4 and len(cfg.restormer_heads) == 4, "restormer_blocks",
              "Restormer needs 4 levels of blocks and of heads")
        check(all((cfg.restormer_dim * 2 ** i) % h == 0 for i, h in enumerate(cfg.restormer_heads)),
              "restormer_heads", f"level i has restormer_dim * 2^i channels ({cfg.restormer_dim} at level 0), "
              "which must be divisible by its number of heads")
    if hasattr(cfg, "perc_layers"):
        check(len(cfg.perc_layers) == len(cfg.perc_layer_weights), "perc_layer_weights",
              f"needs one weight per layer of perc_layers ({len(cfg.perc_layers)})")
    return cfg


def parse_overrides(overrides: list[str] | dict | None) -> dict[str, Any]:
    """`["lr=1e-4", "tlc=true"]` -> `{"lr": 0.0001, "tlc": True}` (values parsed as YAML)."""
    if not overrides:
        return {}
    if isinstance(overrides, dict):
        return dict(overrides)
    out: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not of the form key=value")
        key, value = item.split("=", 1)
        out[key.strip()] = _parse_value(value)
    return out


def _parse_value(text: str) -> Any:
    """YAML scalar/list parsing, plus `1e-4`-style floats that YAML 1.1 reads as strings."""
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def save_config(cfg, path: str | Path, preset: str | None = None) -> None:
    """Write the resolved config (and the preset it came from) as YAML."""
    data = {"kind": type(cfg).__name__, "preset": preset, "config": dataclasses.asdict(cfg)}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))


def load_config(path: str | Path):
    """Read a config written by `save_config`."""
    data = yaml.safe_load(Path(path).read_text())
    cls = {c.__name__: c for c in PRESETS}[data["kind"]]
    return cls(**data["config"])
