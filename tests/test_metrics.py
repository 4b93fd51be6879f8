"""Tests for blur2blur.metrics: PSNR, the two SSIM conventions, folder evaluation."""

import math

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage
from skimage.metrics import structural_similarity

from blur2blur.metrics import evaluate_arrays, evaluate_folders, format_table, psnr, ssim

C1 = (0.01 * 255) ** 2
C2 = (0.03 * 255) ** 2


def smooth_image(h=24, w=28, seed=0):
    """A textured but smooth RGB image in [0, 1], float32 HxWx3."""
    rng = np.random.default_rng(seed)
    img = ndimage.gaussian_filter(rng.random((h, w, 3)), sigma=(2, 2, 0))
    img = (img - img.min()) / (img.max() - img.min())
    return img.astype(np.float32)


def noisy(img, std, seed=1):
    rng = np.random.default_rng(seed)
    return np.clip(img + std * rng.standard_normal(img.shape), 0, 1).astype(np.float32)


def u8(img):
    return np.round(np.clip(img, 0, 1) * 255).astype(np.float64)


# ---------------------------------------------------------------- PSNR

def test_psnr_hand_computed():
    gt = np.zeros((8, 8, 3), np.float32)
    pred = gt.copy()
    pred[0, 0, 0] = 10 / 255
    expected = 10 * math.log10(255**2 / (100 / 192))
    assert psnr(pred, gt) == pytest.approx(expected, abs=1e-9)


def test_psnr_identical_is_inf_and_rounding_matters():
    gt = (u8(smooth_image()) / 255).astype(np.float32)  # on uint8 levels
    assert psnr(gt, gt) == math.inf
    # A sub-level offset vanishes after uint8 rounding but not without it.
    pred = (gt + 0.3 / 255).astype(np.float32)
    assert psnr(pred, gt) == math.inf
    assert math.isfinite(psnr(pred, gt, rounding=False))
    # Values above 1 are clipped before rounding.
    assert psnr(np.full((4, 4, 3), 1.3, np.float32), np.ones((4, 4, 3), np.float32)) == math.inf


def test_psnr_accepts_torch_and_uint8():
    gt, pred = smooth_image(), noisy(smooth_image(), 0.05)
    ref = psnr(pred, gt)
    chw = torch.from_numpy(pred).permute(2, 0, 1)
    assert psnr(chw, torch.from_numpy(gt).permute(2, 0, 1)) == pytest.approx(ref, abs=1e-9)
    assert psnr(chw[None], gt) == pytest.approx(ref, abs=1e-9)
    assert psnr(u8(pred).astype(np.uint8), u8(gt).astype(np.uint8)) == pytest.approx(ref, abs=1e-9)


def test_psnr_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(8, 8, 3\).*\(8, 9, 3\)"):
        psnr(np.zeros((8, 8, 3), np.float32), np.zeros((8, 9, 3), np.float32))
    with pytest.raises(ValueError, match="one image"):
        psnr(torch.zeros(2, 3, 8, 8), torch.zeros(2, 3, 8, 8))


# ---------------------------------------------------------------- SSIM: properties

@pytest.mark.parametrize("conv", ["matlab3d", "channelwise"])
def test_ssim_identical_is_one(conv):
    img = smooth_image()
    assert ssim(img, img, convention=conv) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("conv", ["matlab3d", "channelwise"])
def test_ssim_symmetric_and_decreasing_with_noise(conv):
    gt = smooth_image()
    a, b = noisy(gt, 0.03), noisy(gt, 0.1)
    assert ssim(a, gt, conv) == pytest.approx(ssim(gt, a, conv), abs=1e-12)
    assert 1.0 > ssim(a, gt, conv) > ssim(b, gt, conv) > 0.0


def test_ssim_conventions_differ():
    gt = smooth_image()
    pred = noisy(gt, 0.08)
    m3, cw = ssim(pred, gt, "matlab3d"), ssim(pred, gt, "channelwise")
    assert abs(m3 - cw) > 1e-3


def test_ssim_errors():
    img = smooth_image()
    with pytest.raises(ValueError, match="convention"):
        ssim(img, img, convention="gaussian")
    with pytest.raises(ValueError, match="11x11"):
        ssim(img[:8], img[:8], convention="channelwise")
    with pytest.raises(ValueError, match="shape mismatch"):
        ssim(img, img[:, :-1])


# ---------------------------------------------------------------- SSIM: channelwise vs skimage

def test_channelwise_matches_skimage():
    # skimage filters the whole image (reflect padding) and then averages the map after cropping
    # (win_size - 1) // 2 = 5 px per side; win_size = 2 * int(3.5 * 1.5 + 0.5) + 1 = 11. The
    # uncropped part never touches the padding, so it is exactly the 'valid' map of BasicSR, and
    # the mean over channel_axis of per-channel means is our mean. So the two must agree to
    # rounding error on the same uint8-rounded data.
    gt = smooth_image(30, 26)
    pred = noisy(gt, 0.07)
    ref = structural_similarity(
        u8(pred), u8(gt), gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        data_range=255, channel_axis=2,
    )
    assert ssim(pred, gt, "channelwise") == pytest.approx(ref, abs=1e-10)


# ---------------------------------------------------------------- SSIM: matlab3d vs references

def ssim_volume_reference(x, y, blur):
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    m = ((2 * mx * my + C1) * (2 * cxy + C2)) / ((mx**2 + my**2 + C1) * (vx + vy + C2))
    return m.mean()


def test_matlab3d_matches_scipy_gaussian_filter():
    # gaussian_filter builds its own kernel: radius int(truncate * sigma + 0.5) = 5 -> 11 taps per
    # axis; mode='nearest' is MATLAB's 'replicate', also along the 3-long channel axis.
    gt = smooth_image(20, 23)
    pred = noisy(gt, 0.06)
    blur = lambda v: ndimage.gaussian_filter(v, sigma=1.5, truncate=5 / 1.5, mode="nearest")
    ref = ssim_volume_reference(u8(pred), u8(gt), blur)
    assert ssim(pred, gt, "matlab3d") == pytest.approx(ref, abs=1e-6)
    assert ssim(pred, gt, "matlab3d") == pytest.approx(ref, abs=1e-10)


def test_matlab3d_matches_bruteforce_3d_kernel():
    # Non-separable check: an explicit 11x11x11 Gaussian on an edge-padded volume, summed offset
    # by offset (no scipy filtering involved).
    gt = smooth_image(13, 12, seed=3)
    pred = noisy(gt, 0.1, seed=4)
    t = np.arange(-5, 6)
    g1 = np.exp(-(t**2) / (2 * 1.5**2))
    k3 = g1[:, None, None] * g1[None, :, None] * g1[None, None, :]
    k3 /= k3.sum()

    def blur(v):
        h, w, c = v.shape
        p = np.pad(v, 5, mode="edge")
        out = np.zeros_like(v)
        for i in range(11):
            for j in range(11):
                for k in range(11):
                    out += k3[i, j, k] * p[i:i + h, j:j + w, k:k + c]
        return out

    ref = ssim_volume_reference(u8(pred), u8(gt), blur)
    assert ssim(pred, gt, "matlab3d") == pytest.approx(ref, abs=1e-9)


def test_matlab3d_grey_image_equals_2d_replicate_ssim():
    # For equal channels the replicate-padded depth filter is the identity, so the volume SSIM is
    # the 2-D MATLAB SSIM of one channel.
    grey = smooth_image()[:, :, :1]
    grey_noisy = noisy(grey, 0.05)
    blur2d = lambda v: ndimage.gaussian_filter(v, sigma=1.5, truncate=5 / 1.5, mode="nearest")
    ref = ssim_volume_reference(u8(grey_noisy[:, :, 0]), u8(grey[:, :, 0]), blur2d)
    rgb = lambda a: np.repeat(a, 3, axis=2)
    assert ssim(rgb(grey_noisy), rgb(grey), "matlab3d") == pytest.approx(ref, abs=1e-10)
    assert ssim(grey_noisy[:, :, 0], grey[:, :, 0], "matlab3d") == pytest.approx(ref, abs=1e-10)


# ---------------------------------------------------------------- evaluation

def save_png(path, img):
    Image.fromarray(u8(img).astype(np.uint8)).save(path)


def test_evaluate_folders_pairs_by_stem(tmp_path):
    pred_dir, gt_dir = tmp_path / "pred", tmp_path / "gt"
    pred_dir.mkdir()
    gt_dir.mkdir()
    gts = {"a": smooth_image(seed=1), "b": smooth_image(seed=2)}
    preds = {"a": noisy(gts["a"], 0.05), "b": gts["b"]}
    for stem in gts:
        save_png(gt_dir / f"{stem}.png", gts[stem])
        save_png(pred_dir / f"{stem}.png", preds[stem])
    res = evaluate_folders(pred_dir, gt_dir)
    assert res["count"] == 2 and [r["name"] for r in res["per_image"]] == ["a", "b"]
    row_a = res["per_image"][0]
    assert row_a["psnr"] == pytest.approx(psnr(preds["a"], gts["a"]), abs=1e-9)
    assert row_a["ssim_matlab3d"] == pytest.approx(ssim(preds["a"], gts["a"]), abs=1e-9)
    assert res["per_image"][1]["psnr"] == math.inf
    assert res["mean"]["ssim_channelwise"] == pytest.approx(
        (row_a["ssim_channelwise"] + 1.0) / 2, abs=1e-12)
    table = format_table(res)
    for label in ("PSNR (dB, RGB, uint8)", "SSIM (matlab3d)", "SSIM (channelwise)", "mean (2)"):
        assert label in table


def test_evaluate_folders_errors_name_files(tmp_path):
    pred_dir, gt_dir = tmp_path / "pred", tmp_path / "gt"
    pred_dir.mkdir()
    gt_dir.mkdir()
    img = smooth_image()
    save_png(pred_dir / "a.png", img)
    save_png(gt_dir / "a.png", img)
    save_png(pred_dir / "lonely.png", img)
    with pytest.raises(ValueError, match="lonely.png"):
        evaluate_folders(pred_dir, gt_dir)
    (pred_dir / "lonely.png").unlink()
    save_png(pred_dir / "c.png", img)
    save_png(gt_dir / "c.png", img[:-2])
    with pytest.raises(ValueError, match=r"c\.png.*c\.png"):
        evaluate_folders(pred_dir, gt_dir)


def test_evaluate_arrays_and_metric_subset():
    gt = smooth_image()
    pred = noisy(gt, 0.05)
    res = evaluate_arrays([pred, torch.from_numpy(gt).permute(2, 0, 1)], [gt, gt],
                          metrics=("psnr",), names=["x", "y"])
    assert res["metrics"] == ["psnr"] and "ssim_matlab3d" not in res["per_image"][0]
    assert res["per_image"][0]["psnr"] == pytest.approx(psnr(pred, gt))
    assert res["per_image"][1]["psnr"] == math.inf
    with pytest.raises(ValueError, match="x: shape mismatch"):
        evaluate_arrays([pred], [gt[:-1]], names=["x"])
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate_arrays([pred], [gt], metrics=("lpips",))
