"""Named presets of the training configs, and `make_config`: a preset plus overrides.

A preset is a dict of field values applied on top of a config's defaults (the published recipe);
any field can then be overridden with `key=value` strings (values parsed as YAML, so `lr=1e-4`,
`enc_blk_nums=[1,1,1,2]`, `tlc=true` all work). `cpu-small` / `cpu-medium` fit a laptop CPU,
`official` reproduces the published code's training step, `paper` the paper's text, `shipped` the
project's pretrained deblurrer (docs/model_card.md).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from blur2blur.train.config import DeblurrerConfig, KernelConfig, TranslatorConfig, UnpairedGANConfig
from blur2blur.train.config_checks import parse_overrides, validate_config

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
        # light encoder (5.9M parameters; 0.9 s a 1280x720 frame with bfloat16 on 2 cores, 1.9 s without
        # perf.configure_allocator: docs/performance.md) trained
        # on the fly for the known camera `actioncam` (blur 0-36 px) on 128 px crops: 0.5 s an
        # iteration on 2 CPU cores with bfloat16 (the shipped file's iterations 43,000-50,000 used
        # --set crop=192 --set batch=4, its last 10,000 --set crop=256 --set batch=2). Train with
        # `blur2blur train-deblurrer --preset shipped --sharp DIR...`; continue from the shipped
        # file with --set continue_from=shipped.
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


