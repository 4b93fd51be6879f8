"""Issue #12's translator options: identity start, image pool, several D steps, the patch-statistics
term, and a known-blur set whose grain matches the camera's (with the deblurrer's noise)."""

import dataclasses
import json
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from blur2blur.io import list_images, read_image, write_image
from blur2blur.known_blur.images import build_known_blur_set
from blur2blur.losses.patch_swd import highpass_patches, patch_swd, sliced_wasserstein
from blur2blur.simulate.noise_model import NoiseCurve, estimate_noise_curve
from blur2blur.train.config import DeblurrerConfig, TranslatorConfig
from blur2blur.train.deblurrer import DeblurrerTrainer
from blur2blur.train.image_pool import ImagePool
from blur2blur.train.presets import make_config
from blur2blur.train.translator import train_translator
from blur2blur.train.translator_trainer import TranslatorTrainer
from tests.conftest import smooth_photo
from tests.test_train import TINY_DEBLURRER, TINY_TRANSLATOR

NEW_OPTIONS = {"identity_init": False, "pool_size": 0, "d_steps": 1, "lambda_swd": 0.0, "k_noise": "none"}


def _trainer(extra, seed=0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = make_config(TranslatorConfig, "cpu-small", TINY_TRANSLATOR + ["amp=none", f"seed={seed}"] + extra)
        torch.manual_seed(seed)
        return TranslatorTrainer(cfg, torch.device("cpu"))


def test_new_options_are_off_in_the_published_presets():
    for preset in ("official", "paper"):
        cfg = make_config(TranslatorConfig, preset)
        assert {k: getattr(cfg, k) for k in NEW_OPTIONS} == NEW_OPTIONS, preset
    for preset in ("official", "paper", "cpu-small"):
        assert make_config(DeblurrerConfig, preset).noise_curve == ""
    # cpu-small: K with the camera's grain, T a convex kernel head trained by the patch-statistics
    # critic alone (measured: docs/research/demo.md, seventh round)
    small = make_config(TranslatorConfig, "cpu-small")
    assert {k: getattr(small, k) for k in NEW_OPTIONS} == NEW_OPTIONS | {"k_noise": "match", "lambda_swd": 1000.0}
    # ... against a bank of K's patches, with Adam (0.9, 0.999) and an average of T's weights (issue #19)
    assert (small.swd_bank, small.swd_samples, small.betas, small.ema_decay) == (32768, 4096, [0.9, 0.999], 0.99)
    for preset in ("official", "paper"):
        cfg = make_config(TranslatorConfig, preset)
        assert (cfg.swd_bank, cfg.swd_samples, cfg.ema_decay, cfg.k_batch) == (0, 1024, 0.0, 0)
    assert (small.lambda_gan, small.lambda_rec, small.out_kernel, small.kernel_mode) == (0.0, 0.0, 5, "convex")
    for preset in ("official", "paper"):
        cfg = make_config(TranslatorConfig, preset)
        assert (cfg.lambda_gan, cfg.out_kernel) == (1.0, 0)


@pytest.mark.parametrize("net", [[], ["net=unet", "levels=2"],
                                 ["net=nafnet", "width=8", "enc_blk_nums=[1,1]", "dec_blk_nums=[1,1]"]])
def test_identity_init_starts_t_at_the_identity_and_t_still_learns(net):
    trainer = _trainer(["identity_init=true"] + net)
    b = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        outs = trainer.T(b)
    assert torch.equal(outs[-1], b)
    assert all(o.shape[-1] == s for o, s in zip(outs, (8, 16, 32)))
    if not net:  # MIMO-UNet's quarter and half outputs are its nearest-downsampled inputs
        assert torch.equal(outs[1], b[..., ::2, ::2]) and torch.equal(outs[0], b[..., ::4, ::4])
    trainer.step(b, torch.rand(2, 3, 32, 32))
    with torch.no_grad():
        assert not torch.equal(trainer.T(b)[-1], b)
    plain = _trainer(net)
    with torch.no_grad():
        assert not torch.equal(plain.T(b)[-1], b)


def test_identity_init_needs_residual_heads():
    with pytest.raises(ValueError, match="identity_init"):
        _trainer(["identity_init=true", "out_kernel=3"])


def test_image_pool_fills_then_swaps_and_round_trips():
    pool = ImagePool(3, seed=1)
    batches = [[torch.full((2, 3, 4, 4), float(i)), torch.full((2, 3, 8, 8), float(i))] for i in range(6)]
    first = pool.query(batches[0])
    assert [tuple(t.shape) for t in first] == [(2, 3, 4, 4), (2, 3, 8, 8)]
    assert torch.equal(first[0], batches[0][0])  # filling: passed through
    state = pool.state_dict()
    later = [pool.query(b) for b in batches[1:]]
    values = {float(t[0, 0, 0]) for out in later for t in out[0]}
    assert {0.0, 1.0} & values, "no earlier image was ever returned"
    assert all(torch.equal(o[0][i].flatten()[0].expand(3, 4, 4), o[0][i]) for o in later for i in range(2))
    # every returned sample keeps its scales together
    assert all(torch.equal(o[0][i, 0, 0, 0], o[1][i, 0, 0, 0]) for o in later for i in range(2))
    again = ImagePool(3, seed=99)
    again.load_state_dict(state)
    assert all(torch.equal(a[s], b[s]) for a, b in zip(later, [again.query(b) for b in batches[1:]]) for s in range(2))
    assert ImagePool(0).query(batches[0]) is batches[0]
    with pytest.raises(ValueError):
        ImagePool(-1)
    with pytest.raises(ValueError, match="size"):
        ImagePool(2).load_state_dict(state)


def test_d_steps_update_d_that_many_times():
    trainer = _trainer(["d_steps=3", "pool_size=4"])
    trainer.step(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32))
    steps = {int(s["step"]) for s in trainer.opt_d.state.values()}
    assert steps == {3}
    assert {int(s["step"]) for s in trainer.opt_t.state.values()} == {1}
    with pytest.raises(ValueError, match="d_steps"):
        _trainer(["d_steps=0"])


def test_options_are_seeded_deterministic():
    extra = ["identity_init=true", "pool_size=2", "d_steps=2", "lambda_swd=10"]
    runs = []
    for _ in range(2):
        trainer = _trainer(extra)
        gen = torch.Generator().manual_seed(5)
        for i in range(3):
            trainer.step(torch.rand(2, 3, 32, 32, generator=gen), torch.rand(2, 3, 32, 32, generator=gen), i)
        runs.append([p.detach().clone() for p in trainer.T.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*runs))


def _sets(tmp_path, n=4):
    rng = np.random.default_rng(0)
    for d in ("B", "K"):
        for i in range(n):
            write_image(tmp_path / d / f"{d}{i}.png", smooth_photo(rng, 40, 48))
    return tmp_path / "B", tmp_path / "K"


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_resume_with_image_pool_equals_uninterrupted(tmp_path):
    b, k = _sets(tmp_path)
    cfg = make_config(TranslatorConfig, "cpu-small", TINY_TRANSLATOR + [
        "amp=none", "iters=4", "decay_start=2", "save_every=2", "pool_size=3", "d_steps=2", "lambda_swd=10",
        "identity_init=true"])
    torch.set_num_threads(1)
    try:
        full = train_translator(b, k, tmp_path / "run", cfg, device="cpu", progress=False)
        expected = {n: v.clone() for n, v in torch.load(tmp_path / "run" / "checkpoints" / "state_00000004.pt",
                                                          weights_only=False)["networks"]["T"].items()}
        (tmp_path / "run" / "checkpoints" / "state_00000004.pt").unlink()
        state2 = torch.load(tmp_path / "run" / "checkpoints" / "state_00000002.pt", weights_only=False)
        assert len(state2["extra"]["image_pool"]["items"]) == 3
        train_translator(b, k, tmp_path / "run", cfg, device="cpu", progress=False, resume=True)
    finally:
        torch.set_num_threads(2)
    got = torch.load(tmp_path / "run" / "checkpoints" / "state_00000004.pt", weights_only=False)["networks"]["T"]
    assert full.name == "translator"
    assert all(torch.equal(got[n], expected[n]) for n in expected)


def test_patch_swd_ranks_blur_and_ignores_contrast():
    gen = torch.Generator().manual_seed(0)
    sharp_a, sharp_b = torch.rand(2, 3, 48, 48, generator=gen), torch.rand(2, 3, 48, 48, generator=gen)
    kernel = torch.ones(3, 1, 1, 5) / 5  # horizontal 5 px box blur

    def blur(x):
        return F.conv2d(F.pad(x, (2, 2, 0, 0), mode="reflect"), kernel, groups=3)

    def dist(x, y):
        return patch_swd(x, y, projections=64, samples=2048, generator=torch.Generator().manual_seed(1)).item()

    assert dist(blur(sharp_a), blur(sharp_b)) < 0.2 * dist(blur(sharp_a), sharp_b)
    # contrast-normalised patches: scaling the contrast changes the distance little
    assert dist(blur(sharp_a), 0.3 * blur(sharp_b) + 0.3) < 0.2 * dist(blur(sharp_a), sharp_b)
    p = highpass_patches(sharp_a, 7, 100, torch.Generator().manual_seed(0))
    assert p.shape == (100, 49)
    assert torch.allclose(p.mean(1), torch.zeros(100), atol=1e-5) and bool((p.norm(dim=1) <= 1).all())
    x = sharp_a.clone().requires_grad_(True)
    patch_swd(x, blur(sharp_b), generator=torch.Generator().manual_seed(0)).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(ValueError):
        sliced_wasserstein(torch.rand(4, 3), torch.rand(5, 2))
    with pytest.raises(ValueError, match="patch"):
        highpass_patches(torch.rand(1, 3, 8, 8), 7)


def test_swd_term_is_logged_and_weighted():
    logs = _trainer(["lambda_swd=100"]).step(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32))
    assert logs["loss/swd"] > 0
    assert logs["loss/g_total"] == pytest.approx(logs["loss/g_gan"] + 0.8 * logs["loss/rec"] + 100 * logs["loss/swd"],
                                                 rel=1e-4)


def _noisy_flats(curve_fn, seed=0):
    rng = np.random.default_rng(seed)
    imgs = []
    for v in np.linspace(0.05, 0.95, 12):
        base = np.full((48, 48, 3), v)
        imgs.append(np.clip(base + rng.normal(0, curve_fn(v), base.shape), 0, 1).astype(np.float32))
    return imgs


def test_noise_curve_estimate_recovers_a_signal_dependent_level(tmp_path):
    def truth(v):
        return 0.01 + 0.03 * v
    curve = estimate_noise_curve(_noisy_flats(truth))
    for c in range(3):
        for level, std in zip(curve.levels, curve.std[c]):
            assert std == pytest.approx(truth(level), rel=0.15), (c, level)
    curve.to_json(tmp_path / "curve.json")
    again = NoiseCurve.from_json(tmp_path / "curve.json")
    assert again == curve
    x = torch.full((1, 3, 64, 64), 0.5)
    noisy = again.add(x, torch.Generator().manual_seed(0))
    assert float((noisy - x).std()) == pytest.approx(truth(0.5), rel=0.1)
    assert torch.equal(noisy, again.add(x, torch.Generator().manual_seed(0)))
    with pytest.raises(ValueError):
        estimate_noise_curve([np.zeros((8, 8, 3))])
    (tmp_path / "bad.json").write_text(json.dumps({"levels": [0.1, 0.9], "std": [[0.1, 0.1]]}))
    with pytest.raises(ValueError, match="3 channels"):
        NoiseCurve.from_json(tmp_path / "bad.json")


def test_known_set_with_matched_noise_has_fresh_grain_of_the_cameras_level(tmp_path):
    rng = np.random.default_rng(0)
    sharp = tmp_path / "S"
    for i in range(3):  # smooth photos with the "camera's" grain of std 0.03
        write_image(sharp / f"s{i}.png", np.clip(smooth_photo(rng, 64, 64) + rng.normal(0, 0.03, (64, 64, 3)), 0, 1))
    plain = build_known_blur_set(sharp, tmp_path / "K0", variants=1, progress=False)
    matched = build_known_blur_set(sharp, tmp_path / "K1", variants=1, progress=False, match_noise=True)
    curve = NoiseCurve.from_json(tmp_path / "K1" / "noise_curve.json")
    assert np.mean(curve.std) == pytest.approx(0.03, rel=0.3)
    assert not (tmp_path / "K0" / "noise_curve.json").exists()

    def residual(files):  # the grain: image minus its 3x3 mean
        x = torch.stack([torch.from_numpy(read_image(f)).permute(2, 0, 1) for f in files])
        return x - F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)

    def corr(a, b):
        return float(torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1])

    # K without matching carries S's own grain (blurred); the matched K has fresh grain of the
    # camera's level, unrelated to S's
    grain_s = residual(list_images(sharp))
    assert corr(residual(plain), grain_s) > 0.3
    assert abs(corr(residual(matched), grain_s)) < 0.5 * corr(residual(plain), grain_s)
    assert float(residual(matched).std()) * 3 / 8 ** 0.5 == pytest.approx(0.03, rel=0.35)
    again = build_known_blur_set(sharp, tmp_path / "K2", variants=1, progress=False, match_noise=True)
    assert all(np.array_equal(read_image(a), read_image(b)) for a, b in zip(matched, again))
    assert json.loads((tmp_path / "K1" / "manifest.json").read_text())["s0_k0.png"]["match_noise"] is True
    assert len(list_images(tmp_path / "K1")) == 3


def test_known_set_from_the_known_domain_is_its_blurry_images_with_the_cameras_grain(tmp_path, capsys):
    from blur2blur.cli import main
    from blur2blur.known_blur.images import build_known_set_from_domain

    rng = np.random.default_rng(0)
    sharp, known = tmp_path / "S", tmp_path / "C"
    for i in range(3):
        write_image(sharp / f"s{i}.png", np.clip(smooth_photo(rng, 64, 64) + rng.normal(0, 0.03, (64, 64, 3)), 0, 1))
        write_image(known / f"c{i}.png", smooth_photo(rng, 48, 56))
    # without the camera's sharp images: trainC as it is, one copy each
    copies = build_known_set_from_domain(known, tmp_path / "K0", progress=False)
    assert [f.name for f in copies] == ["c0_k0.png", "c1_k0.png", "c2_k0.png"]
    assert all(np.array_equal(read_image(a), read_image(b)) for a, b in zip(copies, list_images(known)))
    # with them: `variants` copies of each, each with fresh grain of the camera's level
    noisy = build_known_set_from_domain(known, tmp_path / "K1", sharp, variants=2, seed=3, progress=False)
    assert len(noisy) == 6 and (tmp_path / "K1" / "noise_curve.json").is_file()
    diff = read_image(noisy[0]) - read_image(known / "c0.png")
    assert 0.015 < float(diff.std()) < 0.05 and not np.array_equal(read_image(noisy[0]), read_image(noisy[1]))
    manifest = json.loads((tmp_path / "K1" / "manifest.json").read_text())
    assert manifest["c0_k1.png"]["source"] == str(known / "c0.png") and manifest["c0_k1.png"]["match_noise"]
    again = build_known_set_from_domain(known, tmp_path / "K2", sharp, variants=2, seed=3, progress=False)
    assert all(np.array_equal(read_image(a), read_image(b)) for a, b in zip(noisy, again))
    # the command line does the same
    assert main(["known-set", str(sharp), str(tmp_path / "K3"), "--from-known", str(known), "--match-noise",
                 "--variants", "2", "--seed", "3"]) == 0
    assert all(np.array_equal(read_image(a), read_image(b)) for a, b in zip(noisy, list_images(tmp_path / "K3")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="known-domain blurry images"):
        build_known_set_from_domain(tmp_path / "empty", tmp_path / "K4", progress=False)


def test_deblurrer_noise_augmentation_is_seeded_and_changes_the_step(tmp_path):
    NoiseCurve(levels=[0.25, 0.75], std=[[0.05, 0.05]] * 3).to_json(tmp_path / "c.json")
    base = make_config(DeblurrerConfig, "cpu-small", TINY_DEBLURRER + ["amp=none"])
    results = []
    for curve in (str(tmp_path / "c.json"), str(tmp_path / "c.json"), ""):
        torch.manual_seed(0)
        trainer = DeblurrerTrainer(dataclasses.replace(base, noise_curve=curve), torch.device("cpu"))
        gen = torch.Generator().manual_seed(3)
        trainer.step(torch.rand(2, 3, 32, 32, generator=gen), torch.rand(2, 3, 32, 32, generator=gen), iteration=7)
        results.append(trainer._last[0].clone())
    assert torch.equal(results[0], results[1])
    assert float((results[0] - results[2]).std()) == pytest.approx(0.05, rel=0.2)


def test_gan_off_leaves_d_untrained_and_needs_another_critic():
    trainer = _trainer(["lambda_gan=0", "lambda_swd=100", "lambda_rec=0"])
    d0 = [p.detach().clone() for p in trainer.D.parameters()]
    t0 = [p.detach().clone() for p in trainer.T.parameters()]
    logs = trainer.step(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32))
    assert logs["loss/g_gan"] == 0 and logs["loss/d_gan"] == 0 and logs["loss/swd"] > 0
    assert all(torch.equal(a, b) for a, b in zip(d0, trainer.D.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(t0, trainer.T.parameters()))
    with pytest.raises(ValueError, match="lambda_swd"):
        _trainer(["lambda_gan=0"])
