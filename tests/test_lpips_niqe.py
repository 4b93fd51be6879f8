"""LPIPS (ST-LPIPS by default) and NIQE: hand-checked properties, MATLAB's calibration value, and
`evaluate` with and without ground truth."""

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from blur2blur.io import read_image, to_tensor, write_image
from blur2blur.metrics.evaluate import evaluate_folders, write_csv
from blur2blur.metrics.niqe import _aggd, load_pristine_model, matlab_half, matlab_luma, niqe, niqe_features
from tests.conftest import smooth_photo

CALIBRATION = Path(__file__).resolve().parents[2] / "shared" / "data" / "calibration"


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A pristine model fitted here on smooth synthetic photos (the real one is not in the repo)."""
    rng = np.random.default_rng(0)
    feats = np.concatenate([niqe_features(matlab_luma(smooth_photo(rng, 192, 192))) for _ in range(6)])
    path = tmp_path_factory.mktemp("niqe") / "model.npz"
    np.savez(path, mu_pris_param=feats.mean(0), cov_pris_param=np.cov(feats, rowvar=False))
    return path


@pytest.mark.skipif(not (CALIBRATION / "baboon.png").is_file(), reason="../shared/data/calibration not present")
def test_niqe_reproduces_matlab_on_baboon():
    model = load_pristine_model(CALIBRATION / "niqe_pris_params.npz")
    value = niqe(read_image(CALIBRATION / "baboon.png"), model)
    assert value == pytest.approx(5.7296, abs=1e-3)  # MATLAB R2021a: 5.72957338


def test_matlab_luma_and_half_resize():
    assert matlab_luma(np.ones((2, 2, 3))).max() == 235 and matlab_luma(np.zeros((2, 2, 3))).min() == 16
    flat = np.full((20, 30), 7.0)
    assert np.allclose(matlab_half(flat), 7.0) and matlab_half(flat).shape == (10, 15)
    ramp = np.tile(np.arange(40, dtype=np.float64), (8, 1))  # a ramp is kept by the cubic kernel
    half = matlab_half(ramp)
    assert np.allclose(half[:, 3:-3], 2 * np.arange(20)[3:-3] + 0.5)


def test_aggd_fit_of_gaussian_samples():
    samples = np.random.default_rng(0).normal(0, 0.7, 200_000)
    shape, left, right = _aggd(samples)
    assert shape == pytest.approx(2.0, abs=0.05)
    assert left == pytest.approx(0.7 * math.sqrt(2), rel=0.02) and right == pytest.approx(0.7 * math.sqrt(2), rel=0.02)


def test_niqe_rises_with_noise_and_refuses_small_images(model_file):
    model = load_pristine_model(model_file)
    rng = np.random.default_rng(5)
    clean = smooth_photo(rng, 192, 192)
    noisy = np.clip(clean + rng.normal(0, 0.08, clean.shape), 0, 1)
    assert niqe(noisy, model) > niqe(clean, model) + 1
    with pytest.raises(ValueError, match="96"):
        niqe(clean[:64], model)


def test_pristine_model_file_is_checked(tmp_path):
    np.savez(tmp_path / "bad.npz", mu=np.zeros(36))
    with pytest.raises(ValueError, match="mu_pris_param"):
        load_pristine_model(tmp_path / "bad.npz")
    with pytest.raises(FileNotFoundError):
        load_pristine_model(tmp_path / "none.npz")


@pytest.fixture(scope="module")
def lpips_module():
    from blur2blur.metrics.lpips import LPIPS

    try:
        return LPIPS()
    except FileNotFoundError:
        pytest.skip("stlpips-pytorch is not installed")


def test_lpips_zero_symmetric_and_ranks_blur_above_shift(lpips_module):
    import kornia

    x = to_tensor(smooth_photo(np.random.default_rng(1), 64, 64))[None]
    x = torch.cat([x, to_tensor(smooth_photo(np.random.default_rng(2), 64, 64))[None]])
    blurred = kornia.filters.gaussian_blur2d(x, (9, 9), (2.0, 2.0))
    shifted = torch.roll(x, 1, dims=-1)
    assert torch.allclose(lpips_module(x, x), torch.zeros(2), atol=1e-6)
    d = lpips_module(x, blurred)
    assert d.shape == (2,) and torch.allclose(d, lpips_module(blurred, x), atol=1e-5)
    assert bool((d > 3 * lpips_module(x, shifted)).all())  # shift-tolerant: a 1 px shift is nearly free
    assert "ST-LPIPS" in lpips_module.name
    with pytest.raises(ValueError):
        lpips_module(x, x[:, :, :32])


def test_standard_lpips_needs_its_files():
    from blur2blur.metrics.lpips import LPIPS

    with pytest.raises(ValueError, match="vgg.pth"):
        LPIPS("standard")
    with pytest.raises(ValueError, match="variant"):
        LPIPS("alex")


def _folders(tmp_path):
    rng = np.random.default_rng(3)
    for i in range(2):
        gt = smooth_photo(rng, 100, 100)
        write_image(tmp_path / "gt" / f"im{i}.png", gt)
        write_image(tmp_path / "pred" / f"im{i}.png", np.clip(gt + rng.normal(0, 0.03, gt.shape), 0, 1))
    return tmp_path / "pred", tmp_path / "gt"


def test_evaluate_with_lpips_niqe_csv_and_json(tmp_path, lpips_module, model_file):
    pred, gt = _folders(tmp_path)
    res = evaluate_folders(pred, gt, lpips=lpips_module, niqe_model=model_file)
    assert res["metrics"] == ["psnr", "ssim_matlab3d", "ssim_channelwise", "lpips", "niqe"]
    assert "ST-LPIPS" in res["labels"]["lpips"] and "model.npz" in res["labels"]["niqe"]
    row = res["per_image"][0]
    assert 0 < row["lpips"] < 1 and row["niqe"] > 0 and row["ssim_matlab3d"] > row["ssim_channelwise"] - 1
    write_csv(res, tmp_path / "r.csv")
    lines = list(csv.reader((tmp_path / "r.csv").open()))
    assert lines[0][0] == "image" and lines[-1][0] == "mean" and len(lines) == 4
    assert float(lines[-1][1]) == pytest.approx(res["mean"]["psnr"])


def test_evaluate_without_ground_truth(tmp_path, model_file):
    pred, _ = _folders(tmp_path)
    res = evaluate_folders(pred, None, niqe_model=model_file)
    assert res["metrics"] == ["niqe"] and "gt" not in res["per_image"][0]
    with pytest.raises(ValueError, match="NIQE"):
        evaluate_folders(pred, None)
    with pytest.raises(ValueError, match="ground truth"):
        evaluate_folders(pred, None, metrics=("psnr",))


def test_evaluate_cli_no_reference_mode(tmp_path, model_file, capsys):
    from blur2blur import cli

    pred, _ = _folders(tmp_path)
    code = cli.main(["evaluate", str(pred), "--niqe-model", str(model_file), "--json", str(tmp_path / "r.json"),
                     "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and "NIQE" in out and "conventions:" in out
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["metrics"] == ["niqe"] and len(data["per_image"]) == 2
