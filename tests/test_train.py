"""One or a few training iterations of each recipe at tiny size: they run and change the weights."""

import json
import warnings

import numpy as np
import pytest
import torch

from blur2blur.io import write_image
from blur2blur.nets.weights import load_model
from blur2blur.train.config import DeblurrerConfig, TranslatorConfig
from blur2blur.train.deblurrer import train_deblurrer
from blur2blur.train.presets import make_config
from blur2blur.train.translator import train_translator
from blur2blur.train.translator_trainer import TranslatorTrainer
from tests.conftest import smooth_photo

TINY_DEBLURRER = ["width=8", "enc_blk_nums=[1,1]", "dec_blk_nums=[1,1]", "crop=32", "batch=2",
                  "iters=3", "log_every=1", "save_every=2"]
# (cpu-small's translator is the patch-statistics one; these tests exercise the adversarial recipe)
GAN_RECIPE = ["out_kernel=0", "lambda_gan=1", "lambda_swd=0", "lambda_rec=0.8"]
TINY_TRANSLATOR = ["base_channel=8", "num_res=1", "ndf=8", "n_layers=2", "crop=32", "batch=2",
                   "iters=2", "decay_start=1", "log_every=1", "save_every=2", "perc_weights=random",
                   "d_warmup=0", "val_fraction=0"] + GAN_RECIPE  # (the check: test_translator_check.py)


def _write_set(folder, rng, n, size=40):
    for i in range(n):
        write_image(folder / f"im{i}.png", smooth_photo(rng, size, size + 8))


def test_deblurrer_recipe_trains_and_saves(tmp_path, rng):
    _write_set(tmp_path / "blur", rng, 3)
    _write_set(tmp_path / "sharp", np.random.default_rng(0), 3)
    cfg = make_config(DeblurrerConfig, "cpu-small", TINY_DEBLURRER)
    ckpt = train_deblurrer(tmp_path / "blur", tmp_path / "sharp", tmp_path / "run", cfg,
                           device="cpu", progress=False)
    model = load_model(ckpt)
    assert model(torch.rand(1, 3, 37, 53)).shape == (1, 3, 37, 53)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3]
    assert all(np.isfinite(r["train/psnr"]) for r in log)
    assert (tmp_path / "run" / "config.yaml").is_file()


def test_deblurrer_unmatched_pairs_are_named(tmp_path, rng):
    _write_set(tmp_path / "blur", rng, 2)
    _write_set(tmp_path / "sharp", rng, 1)
    cfg = make_config(DeblurrerConfig, "cpu-small", TINY_DEBLURRER)
    with pytest.raises(ValueError, match="im1"):
        train_deblurrer(tmp_path / "blur", tmp_path / "sharp", tmp_path / "run", cfg,
                        device="cpu", progress=False)


@pytest.mark.parametrize("gan_mode", ["hinge", "vanilla", "lsgan"])
def test_translator_step_updates_both_networks(gan_mode):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = make_config(TranslatorConfig, "cpu-small", TINY_TRANSLATOR + [f"gan_mode={gan_mode}"])
        trainer = TranslatorTrainer(cfg, torch.device("cpu"))
    t0 = [p.detach().clone() for p in trainer.T.parameters()]
    d0 = [p.detach().clone() for p in trainer.D.parameters()]
    losses = trainer.step(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32))
    assert all(np.isfinite(v) for v in losses.values())
    assert losses["loss/gp"] >= 0
    assert any(not torch.equal(a, b) for a, b in zip(t0, trainer.T.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d0, trainer.D.parameters()))
    # The perceptual network is frozen.
    assert not any(p.requires_grad for p in trainer.perc.parameters())


def test_translator_discriminator_warmup_freezes_t_only():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = make_config(TranslatorConfig, "cpu-small", TINY_TRANSLATOR + ["iters=3", "d_warmup=1"])
        trainer = TranslatorTrainer(cfg, torch.device("cpu"))
    t0 = [p.detach().clone() for p in trainer.T.parameters()]
    d0 = [p.detach().clone() for p in trainer.D.parameters()]
    b, k = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    losses = trainer.step(b, k, iteration=0)
    assert all(torch.equal(a, c) for a, c in zip(t0, trainer.T.parameters()))
    assert any(not torch.equal(a, c) for a, c in zip(d0, trainer.D.parameters()))
    assert losses["loss/g_gan"] == 0.0 and losses["loss/d_gan"] > 0
    trainer.step(b, k, iteration=1)
    assert any(not torch.equal(a, c) for a, c in zip(t0, trainer.T.parameters()))
    with pytest.raises(ValueError, match="d_warmup"):
        TranslatorTrainer(make_config(TranslatorConfig, "cpu-small", TINY_TRANSLATOR + ["d_warmup=2"]),
                          torch.device("cpu"))


def test_translator_discriminator_learning_rate_is_its_own():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        same = TranslatorTrainer(make_config(TranslatorConfig, "cpu-small", TINY_TRANSLATOR),
                                 torch.device("cpu"))
        own = TranslatorTrainer(make_config(TranslatorConfig, "cpu-small", TINY_TRANSLATOR + ["lr_d=1e-3"]),
                                torch.device("cpu"))
    assert same.opt_d.param_groups[0]["lr"] == same.opt_t.param_groups[0]["lr"] == same.cfg.lr
    assert own.opt_d.param_groups[0]["lr"] == 1e-3 and own.opt_t.param_groups[0]["lr"] == own.cfg.lr != 1e-3


def test_translator_spectral_norm_discriminator_trains_and_round_trips(tmp_path, rng):
    _write_set(tmp_path / "B", rng, 3)
    _write_set(tmp_path / "K", rng, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = make_config(TranslatorConfig, "cpu-small", TINY_TRANSLATOR + ["d_spectral_norm=true", "lambda_gp=0"])
        train_translator(tmp_path / "B", tmp_path / "K", tmp_path / "run", cfg, device="cpu", progress=False)
    D = load_model(tmp_path / "run" / "discriminator")
    assert any("parametrizations" in key for key in D.state_dict())
    x = torch.rand(1, 3, 32, 32)
    D.eval()
    assert torch.isfinite(D(x)).all()


def test_translator_with_kernel_head_trains_and_round_trips(tmp_path, rng):
    _write_set(tmp_path / "B", rng, 3)
    _write_set(tmp_path / "K", rng, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = make_config(TranslatorConfig, "cpu-small", TINY_TRANSLATOR + ["out_kernel=3"])
        stem = train_translator(tmp_path / "B", tmp_path / "K", tmp_path / "run", cfg, device="cpu",
                                progress=False)
    T = load_model(stem).eval()
    assert T.out_kernel == 3 and T.feat_extract[5].main[0].out_channels == 5  # centre + 4 mirrored pairs
    x = torch.rand(1, 3, 37, 53)
    with torch.no_grad():
        y = T(x)[-1]
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1
    with pytest.raises(ValueError, match="out_kernel needs net=mimo_unet"):
        make_config(TranslatorConfig, "cpu-small", ["net=unet", "out_kernel=3"]).net_kwargs()


def test_translator_lowpass_term_is_logged_and_weighted():
    b, k = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    losses = {}
    for weight in (0.0, 1.0):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cfg = make_config(TranslatorConfig, "cpu-small", TINY_TRANSLATOR + [f"lambda_lowpass={weight}"])
            torch.manual_seed(0)
            trainer = TranslatorTrainer(cfg, torch.device("cpu"))
        losses[weight] = trainer.step(b, k, iteration=0, gp_alpha=torch.full((2,), 0.5))
    assert "loss/lowpass" not in losses[0.0] and losses[1.0]["loss/lowpass"] > 0
    assert losses[1.0]["loss/g_total"] == pytest.approx(
        losses[1.0]["loss/g_gan"] + cfg.lambda_rec * losses[1.0]["loss/rec"] + losses[1.0]["loss/lowpass"], rel=1e-5)


def test_translator_identity_term_is_logged_weighted_and_keeps_t_k_near_k():
    # Smooth crops: at the lower scales T's nearest-downsampled input and K's bilinear resize agree.
    torch.manual_seed(1)
    k = torch.nn.functional.interpolate(torch.rand(2, 3, 4, 4), size=(32, 32), mode="bilinear")
    b = torch.nn.functional.interpolate(torch.rand(2, 3, 4, 4), size=(32, 32), mode="bilinear")
    losses, drift = {}, {}
    for weight in (0.0, 20.0):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cfg = make_config(TranslatorConfig, "cpu-small", TINY_TRANSLATOR + [
                f"lambda_idt={weight}", "lambda_rec=0", "lambda_gp=0", "iters=40", "decay_start=40", "lr=2e-3"])
            torch.manual_seed(0)
            trainer = TranslatorTrainer(cfg, torch.device("cpu"))
        losses[weight] = trainer.step(b, k, iteration=0)
        for i in range(1, 12):
            trainer.step(b, k, iteration=i)
        with torch.no_grad():
            drift[weight] = float((trainer.T(k)[-1] - k).abs().mean())
    assert "loss/idt" not in losses[0.0] and losses[20.0]["loss/idt"] > 0
    assert losses[20.0]["loss/g_total"] == pytest.approx(losses[20.0]["loss/g_gan"] + 20.0 * losses[20.0]["loss/idt"],
                                                         rel=1e-5)
    # The GAN alone moves T(k) away from k; the identity term holds it several times closer.
    assert drift[20.0] < 0.5 * drift[0.0]


def test_translator_ema_averages_t_and_is_exported(tmp_path, rng):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = make_config(TranslatorConfig, "cpu-small", TINY_TRANSLATOR + ["ema_decay=0.9", "iters=10",
                                                                            "decay_start=10"])
        trainer = TranslatorTrainer(cfg, torch.device("cpu"))
    history = []
    for i in range(3):
        trainer.step(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32), iteration=i)
        history.append([p.detach().clone() for p in trainer.T.parameters()])
    expected = history[0]  # the first update copies, then ema = 0.9 ema + 0.1 T
    for params in history[1:]:
        expected = [0.9 * e + 0.1 * p for e, p in zip(expected, params)]
    ema = list(trainer.T_ema.module.parameters())
    assert all(torch.allclose(e, a, atol=1e-6) for e, a in zip(expected, ema))
    assert any(not torch.equal(e, p) for e, p in zip(ema, trainer.T.parameters()))
    with pytest.raises(ValueError, match="ema_decay"):
        TranslatorTrainer(make_config(TranslatorConfig, "cpu-small", TINY_TRANSLATOR + ["ema_decay=1"]),
                          torch.device("cpu"))
    # Through the recipe: the average is the exported translator, the raw weights sit beside it.
    _write_set(tmp_path / "B", rng, 3)
    _write_set(tmp_path / "K", rng, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = make_config(TranslatorConfig, "cpu-small", TINY_TRANSLATOR + ["ema_decay=0.5"])
        train_translator(tmp_path / "B", tmp_path / "K", tmp_path / "run", cfg, device="cpu", progress=False)
    averaged, raw = load_model(tmp_path / "run" / "translator"), load_model(tmp_path / "run" / "translator_raw")
    assert any(not torch.equal(a, r) for a, r in zip(averaged.state_dict().values(), raw.state_dict().values()))


def test_translator_lr_is_constant_then_decays_to_zero():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = make_config(TranslatorConfig, "cpu-small", TINY_TRANSLATOR + ["iters=4", "decay_start=2"])
        trainer = TranslatorTrainer(cfg, torch.device("cpu"))
    lrs = []
    for _ in range(4):
        lrs.append(trainer.opt_t.param_groups[0]["lr"])
        trainer.step(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32))
    lrs.append(trainer.opt_t.param_groups[0]["lr"])
    assert lrs == pytest.approx([cfg.lr, cfg.lr, cfg.lr, cfg.lr / 2, 0.0])


def test_translator_recipe_writes_checkpoints(tmp_path, rng):
    _write_set(tmp_path / "B", rng, 3)
    _write_set(tmp_path / "K", rng, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = make_config(TranslatorConfig, "cpu-small", TINY_TRANSLATOR)
        ckpt = train_translator(tmp_path / "B", tmp_path / "K", tmp_path / "run", cfg,
                                device="cpu", progress=False)
    T = load_model(ckpt)
    outs = T(torch.rand(1, 3, 37, 53))
    assert [tuple(o.shape[-2:]) for o in outs][-1] == (37, 53)
    assert (tmp_path / "run" / "discriminator.safetensors").is_file()


def test_restormer_deblurrer_trains(tmp_path, rng):
    _write_set(tmp_path / "blur", rng, 2)
    _write_set(tmp_path / "sharp", np.random.default_rng(0), 2)
    cfg = make_config(DeblurrerConfig, "cpu-small", [
        "net=restormer", "restormer_dim=8", "restormer_blocks=[1,1,1,1]", "restormer_refinement=1",
        "restormer_heads=[1,1,1,1]", "crop=32", "batch=2", "iters=2", "log_every=1", "save_every=2"])
    ckpt = train_deblurrer(tmp_path / "blur", tmp_path / "sharp", tmp_path / "run", cfg,
                           device="cpu", progress=False)
    model = load_model(ckpt)
    assert type(model).__name__ == "Restormer"
    assert model(torch.rand(1, 3, 37, 53)).shape == (1, 3, 37, 53)


@pytest.mark.parametrize("net", ["unet", "nafnet", "mimo_unet"])
def test_translator_backbones_and_bf16_autocast(net):
    extra = {"unet": ["levels=2"], "nafnet": ["width=8", "enc_blk_nums=[1,1]", "dec_blk_nums=[1,1]"],
             "mimo_unet": ["disc_per_scale=true", "curriculum=true", "curriculum_until=10"]}[net]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = make_config(TranslatorConfig, "cpu-small", TINY_TRANSLATOR + [f"net={net}", "amp=bf16"] + extra)
        trainer = TranslatorTrainer(cfg, torch.device("cpu"))
    losses = trainer.step(torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32), iteration=0)
    assert all(np.isfinite(v) for v in losses.values())
    if net == "mimo_unet":
        assert len(trainer.Ds) == 3
        assert losses["curriculum/fraction"] == 0.5


def test_k_source_auto_prefers_transfer_when_a_kernel_network_is_given(tmp_path):
    from blur2blur.simulate import load_profile
    from blur2blur.known_blur.build import known_profile_of, resolve_k_source

    def np_kernels(folder):
        np.save(folder / "k.npy", np.ones((1, 5, 5), np.float32) / 25)
        return folder / "k.npy"

    cfg = make_config(TranslatorConfig, "cpu-small", TINY_TRANSLATOR)
    assert cfg.k_source == "auto"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # no known pairs: the project's known camera, whose deblurrer ships in the package (issue #27)
        assert resolve_k_source(cfg, tmp_path) == "simulate"
        assert known_profile_of(cfg, tmp_path) == "actioncam"
    (tmp_path / "trainC").mkdir()
    (tmp_path / "trainD").mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # known pairs without a kernel network: their kernels estimated and applied to S (issue #28, item 1)
        assert resolve_k_source(cfg, tmp_path) == "estimated"
        assert resolve_k_source(cfg, tmp_path, known_set=tmp_path / "K") == "estimated"
        simulate = make_config(TranslatorConfig, "cpu-small", TINY_TRANSLATOR + ["k_source=simulate"])
        assert resolve_k_source(simulate, tmp_path) == "simulate"
        assert known_profile_of(simulate, tmp_path) == "known"
        # ... unless make-dataset made the pairs: then S with the very profile that blurred them
        levin = load_profile("levin", kernels=np_kernels(tmp_path))
        (tmp_path / "manifest.json").write_text(json.dumps({"profiles": {"known": levin.to_dict()}}))
        assert resolve_k_source(cfg, tmp_path) == "simulate"
        assert known_profile_of(cfg, tmp_path) == levin
        assert known_profile_of(make_config(TranslatorConfig, "cpu-small", ["known_profile=known"]), tmp_path) == "known"
        with_wizard = make_config(TranslatorConfig, "cpu-small", TINY_TRANSLATOR + ["kernel_wizard=w"])
        assert resolve_k_source(with_wizard, tmp_path) == "transfer"
        online = make_config(TranslatorConfig, "cpu-small", TINY_TRANSLATOR + ["k_source=online"])
        assert resolve_k_source(online, tmp_path) == "online"
    with pytest.raises(ValueError, match="k_source"):
        resolve_k_source(make_config(TranslatorConfig, "cpu-small", TINY_TRANSLATOR + ["k_source=x"]), tmp_path)


def _order_and_targets(overrides):
    """The order of the optimiser steps and the perceptual targets of one translator iteration."""
    cfg = make_config(TranslatorConfig, "official", overrides + ["crop=32", "batch=1", "base_channel=8",
                                                                  "num_res=1", "ndf=8", "n_layers=2",
                                                                  "perc_weights=random"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tr = TranslatorTrainer(cfg, torch.device("cpu"))
    order, targets = [], []
    for name, opt in (("D", tr.opt_d), ("T", tr.opt_t)):
        step = opt.step
        opt.step = lambda *a, _s=step, _n=name, **k: (order.append(_n), _s(*a, **k))[1]
    perc = tr.perc.forward
    tr.perc.forward = lambda x, y: (targets.append(y.detach().clone()), perc(x, y))[1]
    b = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    tr.step(b, torch.rand(1, 3, 32, 32), 0)
    return cfg, order, targets, b


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_official_preset_keeps_the_published_update_order_and_bilinear_targets():
    # The published code updates D first and T against the just-updated D, and makes the
    # perceptual targets at 1/4 and 1/2 scale by bilinear downsampling (DESIGN.md section 1).
    cfg, order, targets, b = _order_and_targets([])
    assert (cfg.update_order, cfg.rec_target_resize, cfg.amp) == ("d_first", "bilinear", "none")
    assert make_config(TranslatorConfig, "paper").update_order == "d_first"
    assert order == ["D", "T"]
    assert [t.shape[-1] for t in targets] == [8, 16, 32]
    for t in targets[:2]:
        want = torch.nn.functional.interpolate(b, size=t.shape[-2:], mode="bilinear", align_corners=False)
        assert torch.equal(t, want)
    assert torch.equal(targets[2], b)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_translator_g_first_order_and_nearest_targets_are_options():
    _, order, targets, b = _order_and_targets(["update_order=g_first", "rec_target_resize=nearest"])
    assert order == ["T", "D"]
    assert torch.equal(targets[1], b[..., ::2, ::2])
    with pytest.raises(ValueError, match="update_order"):
        _order_and_targets(["update_order=random"])


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_d_first_steps_t_against_the_updated_discriminator():
    # With d_first, T's gradient must come from D after its update: T's step then equals a
    # g_first step taken with that updated D. Compare the GAN-only T gradients of both orders.
    grads, d_after = {}, None
    for order in ("d_first", "g_first", "old_d"):
        torch.manual_seed(0)
        cfg = make_config(TranslatorConfig, "official", ["crop=32", "batch=1", "base_channel=8", "num_res=1",
                                                         "ndf=8", "n_layers=2", "perc_weights=random",
                                                         "lambda_rec=0", "lambda_gp=0",
                                                         f"update_order={'d_first' if order == 'd_first' else 'g_first'}"])
        tr = TranslatorTrainer(cfg, torch.device("cpu"))
        tr.opt_t.step = lambda *a, **k: None  # keep T fixed, look at its gradient
        b = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        k = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
        if order == "g_first":  # give D the update d_first made before T's step
            tr.Ds.load_state_dict(d_after)
        tr.step(b, k, 0)
        grads[order] = [p.grad.clone() for p in tr.T.parameters()]
        d_after = {key: v.clone() for key, v in tr.Ds.state_dict().items()}
    for a, c in zip(grads["d_first"], grads["g_first"]):
        assert torch.allclose(a, c, rtol=1e-5, atol=1e-9)
    # and against the old D the gradient is measurably different
    assert not all(torch.allclose(a, c, rtol=1e-3, atol=1e-9) for a, c in zip(grads["d_first"], grads["old_d"]))
