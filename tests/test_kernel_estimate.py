"""Blur kernels estimated from blurry/sharp pairs in closed form, and K built from them (issue #28)."""

from pathlib import Path

import numpy as np
import pytest

from blur2blur.io import list_images, read_image, write_image
from blur2blur.kernel_space.estimate import apply_kernel, estimate_kernel, estimate_pair_kernels, residual_noise
from blur2blur.simulate import Camera
from tests.conftest import smooth_photo

LEVIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "levin2009_selfdeblur"


def _textured(rng, h, w):
    img = smooth_photo(rng, h, w)
    return np.clip(img + 0.25 * (rng.random((h, w, 1)) > 0.5) * rng.random((h, w, 3)), 0, 1).astype(np.float32)


def test_a_known_kernel_is_recovered_and_reblurs_the_pair(rng):
    sharp = _textured(rng, 128, 128)
    true = Camera("actioncam").kernel_for(3, (128, 128), size=25)
    blurry = apply_kernel(sharp, true)
    est = estimate_kernel(sharp, blurry, support=25)
    assert est.shape == (25, 25) and abs(est.sum() - 1) < 1e-5 and est.min() >= 0
    # (L1 over a kernel: 0 = exact, 2 = disjoint; measured 0.39-0.56 for three draws: a thin path comes
    # back a little spread, and re-blurs the pair at 34-38 dB in linear light)
    assert np.abs(est - true).sum() < 0.7
    residual, fit = residual_noise(sharp, blurry, est)
    assert fit > 32 and residual < 0.03
    # with noise, the residual grows by about its level
    noisy = apply_kernel(sharp, true, noise=0.02, rng=np.random.default_rng(1))
    residual2, _ = residual_noise(sharp, noisy, estimate_kernel(sharp, noisy, support=25))
    assert residual2 > residual + 0.005
    tiles = estimate_pair_kernels(sharp, blurry, tile=64, support=25)
    assert len(tiles) == 4 and all(t.kernel.shape == (25, 25) for t in tiles)
    with pytest.raises(ValueError, match="too small"):
        estimate_kernel(sharp[:40, :40], blurry[:40, :40], support=25)


@pytest.mark.skipif(not LEVIN.is_dir(), reason="the Levin pairs of ../shared/data are not here")
def test_levin_pairs_are_refit_closely():
    fits = []
    for i in (1, 3):
        x = read_image(LEVIN / "gt" / f"im{i}.png")
        for j in (2, 5, 8):
            y = read_image(LEVIN / "blurry" / f"im{i}_kernel{j}_img.png")
            k = estimate_kernel(x, y, support=41, gamma=1.0)  # (Levin blurred in display values)
            fits.append(residual_noise(x, y, k, gamma=1.0)[1])
    assert min(fits) > 38, fits  # (measured on all 32 pairs: 44.1 dB mean, 40.1 dB lowest)


def test_known_set_from_pairs_carries_the_known_blur_onto_the_cameras_scenes(tmp_path, rng):
    from blur2blur.known_blur.images import build_known_set_from_pairs

    true = Camera("actioncam").kernel_for(5, (96, 96), size=15)
    for i in range(2):
        s = _textured(rng, 96, 96)
        write_image(tmp_path / "trainD" / f"p{i}.png", s)
        write_image(tmp_path / "trainC" / f"p{i}.png", apply_kernel(s, true, 0.002, np.random.default_rng(i)))
        write_image(tmp_path / "trainB" / f"s{i}.png", _textured(rng, 64, 80))
    out = build_known_set_from_pairs(tmp_path / "trainC", tmp_path / "trainD", tmp_path / "trainB",
                                     tmp_path / "K", variants=2, support=15, progress=False)
    assert sorted(p.name for p in out) == ["s0_k0.png", "s0_k1.png", "s1_k0.png", "s1_k1.png"]
    saved = np.load(tmp_path / "K" / "kernels.npz")
    assert saved["kernels"].shape[0] == 2 and np.all(np.abs(saved["kernels"] - true[None]).sum((1, 2)) < 0.7)
    assert (tmp_path / "K" / "noise_curve.json").is_file()
    k0 = read_image(tmp_path / "K" / "s0_k0.png")
    ref = apply_kernel(read_image(tmp_path / "trainB" / "s0.png"), true)
    assert k0.shape == ref.shape and np.abs(k0 - ref).mean() < 0.03  # (the known blur, on the camera's scene)
    assert len(list_images(tmp_path / "K")) == 4
