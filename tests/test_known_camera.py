"""The project's known camera (`actioncam`), training pairs simulated on the fly, the deblurrer
recipe that uses them (validation, warm start), centred synthetic kernels and reduced-scale deblur."""

import json
import math

import numpy as np
import pytest
import torch
import yaml

from blur2blur.io import write_image
from blur2blur.simulate import Camera, load_profile
from blur2blur.simulate.online import OnlineCamera
from blur2blur.simulate.profile import ProfileError
from blur2blur.train.config import DeblurrerConfig
from blur2blur.train.deblurrer import train_deblurrer
from blur2blur.train.presets import make_config
from tests.conftest import smooth_photo
from tests.test_train import TINY_DEBLURRER

SMALL = {"name": "small", "type": "trajectory", "exposure": 0.01, "shake_speed": 400.0, "length_spread": 0.5,
         "curviness": 0.4, "rotation_speed": 0.0, "reference_size": None}  # 2..6 px


def centroid(k: np.ndarray) -> tuple[float, float]:
    idx = np.arange(k.shape[0]) - k.shape[0] // 2
    return float((k.sum(1) * idx).sum() / k.sum()), float((k.sum(0) * idx).sum() / k.sum())


def test_actioncam_profile_is_absolute_pixels_without_rotation_up_to_36_px():
    p = load_profile("actioncam")
    assert p.reference_size is None and p.rotation_speed == 0 and p.jpeg_quality is None
    lo, hi = (p.shake_speed * p.exposure * (1 + s * p.length_spread) for s in (-1, 1))
    assert lo < 0.1 and 35.5 < hi < 36.5
    cam = Camera(p)
    # the same draw gives the same blur on a small and a large image (not rescaled with the image)
    assert np.array_equal(cam.kernel_for(3, (64, 64)), cam.kernel_for(3, (720, 1280)))
    lengths = [cam.trajectory(s, 100, 100).length for s in range(200)]
    assert min(lengths) < 3 and max(lengths) > 30 and max(lengths) <= hi + 1e-6


def test_online_pair_equals_the_camera_capture_inside_the_margin(rng):
    online = OnlineCamera(load_profile("actioncam", **{**SMALL, "noise": {"photon_scale": 4000.0, "read_sigma": 0.0}}))
    m = online.margin
    img = smooth_photo(rng, 40 + 2 * m, 48 + 2 * m)
    for seed in (0, 5):
        blurry, sharp = online.pair(img, seed, noise=False)
        ref = online.camera.capture(img, seed, noise=False)[m:-m, m:-m]
        assert blurry.shape == sharp.shape == (40, 48, 3)
        np.testing.assert_allclose(blurry, ref, atol=1e-4)  # (same blur, same response)
        np.testing.assert_allclose(sharp, img[m:-m, m:-m], atol=1e-5)
        assert np.abs(blurry - sharp).mean() > 1e-3
    # with noise: the blurry crop differs, the sharp target stays clean; same seed, same pair
    a, s1 = online.pair(img, 5)
    b, s2 = online.pair(img, 5)
    assert np.array_equal(a, b) and np.array_equal(s1, s2) and np.abs(a - ref).mean() > 1e-4


def test_online_batch_is_seeded_and_grain_and_jpeg_apply(rng):
    online = OnlineCamera(load_profile("actioncam", **SMALL), grain=(2.0, 4.0), jpeg=(1.0, 60))
    crops = torch.from_numpy(np.stack([smooth_photo(rng, 48, 48) for _ in range(3)])).permute(0, 3, 1, 2)
    b1, s1 = online.batch(crops, torch.Generator().manual_seed(1))
    b2, _ = online.batch(crops, torch.Generator().manual_seed(1))
    b3, _ = online.batch(crops, torch.Generator().manual_seed(2))
    m = online.margin
    assert b1.shape == s1.shape == (3, 3, 48 - 2 * m, 48 - 2 * m)
    assert torch.equal(b1, b2) and not torch.equal(b1, b3)
    # JPEG output is a multiple of 1/255
    assert torch.allclose(b1 * 255, (b1 * 255).round(), atol=1e-4)
    with pytest.raises(ValueError, match="grain"):
        OnlineCamera("actioncam", grain=(0.0, 1.0))


def test_online_refuses_profiles_it_cannot_simulate_by_one_kernel():
    with pytest.raises(ProfileError, match="rotation_speed 0"):
        OnlineCamera(load_profile("unknown", reference_size=None))
    with pytest.raises(ProfileError, match="reference_size: null"):
        OnlineCamera("unknown")


def test_linear_motion_kernels_are_centred(rng):
    import kornia

    from blur2blur.simulate.degradations import linear_motion
    from blur2blur.simulate.kernels import center_kernel_subpixel

    raw = kornia.filters.get_motion_kernel2d(21, 30.0, 1.0)[0].double().numpy()
    assert max(abs(c) for c in centroid(raw)) > 1.5  # (kornia's kernel is off-centre: issue #27)
    k = center_kernel_subpixel(raw)
    assert k.shape[0] % 2 == 1 and abs(k.sum() - 1) < 1e-6 and max(abs(c) for c in centroid(k)) < 1e-5
    # a blurred image keeps its centre of brightness: a bright dot stays where it was
    x = torch.zeros(1, 3, 65, 65)
    x[..., 32, 32] = 1.0
    for seed in range(4):
        y = linear_motion(x, torch.Generator().manual_seed(seed))
        assert max(abs(c) for c in centroid(y[0, 0].double().numpy())) < 1e-3


def _profile_file(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(SMALL))
    return path


def test_deblurrer_trains_on_the_fly_with_validation_and_warm_start(tmp_path, rng):
    for folder, n in (("a", 2), ("b", 2), ("val", 2)):
        for i in range(n):
            write_image(tmp_path / folder / f"{folder}{i}.png", smooth_photo(rng, 56, 64))
    over = TINY_DEBLURRER + [f"camera={_profile_file(tmp_path)}", "camera_grain=[1, 2]", "camera_jpeg=0.5",
                             f"val_dir={tmp_path / 'val'}", "val_every=2", "val_crop=24"]
    cfg = make_config(DeblurrerConfig, "cpu-small", over)
    stem = train_deblurrer(None, [tmp_path / "a", tmp_path / "b"], tmp_path / "run", cfg, device="cpu",
                           progress=False)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    vals = [r for r in log if "val/psnr_in" in r]
    assert [r["step"] for r in vals] == [2, 3]
    assert vals[0]["val/psnr_in"] == vals[1]["val/psnr_in"]  # (fixed validation pairs)
    assert abs(vals[0]["val/gain"] - (vals[0]["val/psnr_out"] - vals[0]["val/psnr_in"])) < 1e-9
    meta = json.loads(stem.with_suffix(".json").read_text())
    assert meta["extra"] == {"iteration": 3, "camera": "small"}
    # warm start: a new run from those weights counts on from iteration 3, with the schedule there
    cfg2 = make_config(DeblurrerConfig, "cpu-small", over + ["iters=5", f"continue_from={stem}"])
    stem2 = train_deblurrer(None, tmp_path / "a", tmp_path / "run2", cfg2, device="cpu", progress=False)
    log2 = [json.loads(line) for line in (tmp_path / "run2" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log2 if "train/psnr" in r] == [4, 5]
    assert [r["train/lr"] for r in log2 if "train/lr" in r] == pytest.approx([_cosine(cfg2, 4), _cosine(cfg2, 5)])
    assert json.loads(stem2.with_suffix(".json").read_text())["extra"]["iteration"] == 5
    # init: the same weights, a fresh count (fine-tuning)
    cfg3 = make_config(DeblurrerConfig, "cpu-small", over + ["iters=2", f"init={stem}"])
    stem3 = train_deblurrer(None, tmp_path / "a", tmp_path / "run3", cfg3, device="cpu", progress=False)
    assert json.loads(stem3.with_suffix(".json").read_text())["extra"]["iteration"] == 2
    wrong = make_config(DeblurrerConfig, "cpu-small", over + ["width=16", "iters=5", f"init={stem}"])
    with pytest.raises(ValueError, match="not the one this config trains"):
        train_deblurrer(None, tmp_path / "a", tmp_path / "run4", wrong, device="cpu", progress=False)


def _cosine(cfg, t):
    """The deblurrer's learning rate after `t` of `cfg.iters` iterations (closed form)."""
    return cfg.lr_min + (cfg.lr - cfg.lr_min) * 0.5 * (1 + math.cos(math.pi * min(t, cfg.iters) / cfg.iters))


def test_a_resumed_run_with_other_iters_follows_the_new_schedule(tmp_path, rng):
    write_image(tmp_path / "a" / "a.png", smooth_photo(rng, 56, 64))
    over = TINY_DEBLURRER + [f"camera={_profile_file(tmp_path)}", "iters=4", "save_every=2"]
    cfg = make_config(DeblurrerConfig, "cpu-small", over)
    train_deblurrer(None, tmp_path / "a", tmp_path / "run", cfg, device="cpu", progress=False)
    for iters, steps in ((8, [5, 6, 7, 8]), (10, [9, 10])):  # (a longer run, then longer again)
        longer = make_config(DeblurrerConfig, "cpu-small", over + [f"iters={iters}"])
        train_deblurrer(None, tmp_path / "a", tmp_path / "run", longer, device="cpu", progress=False, resume=True)
        log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
        got = {r["step"]: r["train/lr"] for r in log if "train/lr" in r}
        assert [got[s] for s in steps] == pytest.approx([_cosine(longer, s) for s in steps])
    assert got[10] == pytest.approx(cfg.lr_min)  # (ends at the minimum, does not rise again)


def test_deblurrer_exports_the_average_of_its_weights_with_ema(tmp_path, rng):
    from blur2blur.nets.weights import load_model
    from blur2blur.train.state import load_latest_state

    write_image(tmp_path / "a" / "a.png", smooth_photo(rng, 56, 64))
    over = TINY_DEBLURRER + [f"camera={_profile_file(tmp_path)}", "ema_decay=0.5", "iters=4", "save_every=4"]
    cfg = make_config(DeblurrerConfig, "cpu-small", over)
    stem = train_deblurrer(None, tmp_path / "a", tmp_path / "run", cfg, device="cpu", progress=False)
    state = load_latest_state(tmp_path / "run" / "checkpoints")
    raw, ema = state["networks"]["net"], state["extra"]["ema"]
    exported = load_model(stem).state_dict()
    key = "intro.weight"
    assert torch.equal(exported[key], ema["module." + key]) and not torch.equal(exported[key], raw[key])
    assert json.loads(stem.with_suffix(".json").read_text())["extra"]["ema_decay"] == 0.5
    # a run resumed with the average turned on (it was off) goes on: ema_decay may change on resume
    cfg0 = make_config(DeblurrerConfig, "cpu-small", over[:-3] + ["iters=2", "save_every=2"])
    train_deblurrer(None, tmp_path / "a", tmp_path / "run0", cfg0, device="cpu", progress=False)
    train_deblurrer(None, tmp_path / "a", tmp_path / "run0", cfg, device="cpu", progress=False, resume=True)


def test_train_deblurrer_cli_takes_several_sharp_folders(tmp_path, rng):
    from blur2blur.cli import main

    for folder in ("a", "b"):
        write_image(tmp_path / folder / "x.png", smooth_photo(rng, 56, 64))
    args = ["train-deblurrer", "--sharp", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "run"),
            "--preset", "cpu-small", "--no-progress", "--device", "cpu"]
    sets = [x for kv in TINY_DEBLURRER + [f"camera={_profile_file(tmp_path)}", "iters=1"] for x in ("--set", kv)]
    assert main(args + sets) == 0
    assert (tmp_path / "run" / "deblurrer.safetensors").is_file()
    assert main(["train-deblurrer", "--blur", str(tmp_path / "a"), "--sharp", str(tmp_path / "a"), str(tmp_path / "b"),
                 "--out", str(tmp_path / "run2"), "--preset", "cpu-small", "--no-progress"]) == 2


def test_pipeline_scale_shrinks_blur_and_keeps_size(rng):
    from blur2blur.infer.pipeline import DeblurPipeline

    class Box(torch.nn.Module):  # (a "deblurrer" that blurs: its effect at half scale is visible)
        def forward(self, x):
            return torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False)

    img = smooth_photo(rng, 64, 80)
    full = DeblurPipeline(Box(), device="cpu", amp="none").run(img)["deblurred"]
    half = DeblurPipeline(Box(), device="cpu", amp="none", scale=0.5).run(img)["deblurred"]
    assert half.shape == full.shape == img.shape
    assert not np.allclose(half, full, atol=1e-3)
    ident = DeblurPipeline(torch.nn.Identity(), device="cpu", amp="none", scale=0.5).run(img)["deblurred"]
    np.testing.assert_allclose(ident, img, atol=1e-5)  # (no change at the small scale: the input back)
    with pytest.raises(ValueError, match="scale"):
        DeblurPipeline(Box(), device="cpu", scale=2.0)
