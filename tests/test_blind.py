"""Tests of blind deblurring in the bkse kernel space (Algorithm 1) and its Deep Image Priors."""

import numpy as np
import pytest
import torch

from blur2blur.kernel_space.blind import (BlindResult, blind_deblur, hyper_laplacian, kernel_map_image,
                                          kernel_norm, load_kernel_map, save_kernel_map)
from blur2blur.nets.dip import DIPImage, DIPKernel
from blur2blur.nets.kernel_space import KernelWizard

TINY_WIZARD = dict(nf=8, front_RBs=1, back_RBs=1, kernel_dim=16, recon_nf=8)
TINY_DIPS = dict(dip_x=dict(channels=16, skip_channels=4, levels=3), dip_k=dict(in_channels=8, nf=8, n_blocks=1))


def tiny_wizard() -> KernelWizard:
    torch.manual_seed(0)
    return KernelWizard(**TINY_WIZARD)


def blurry(h: int, w: int, seed: int = 3) -> torch.Tensor:
    """A smooth random image, box-blurred: 1x3xHxW in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.interpolate(torch.rand(1, 3, h // 4 + 1, w // 4 + 1, generator=g), size=(h, w),
                                        mode="bilinear", align_corners=False)
    return torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


def run(wizard, y, **kw) -> BlindResult:
    args = dict(iters=30, warmup_x=10, warmup_k=10, lr_x=1e-3, lr_k=1e-3, progress=False, **TINY_DIPS)
    args.update(kw)
    return blind_deblur(y, wizard, **args)


@pytest.fixture(scope="module")
def long_run():
    """30 iterations on 32x48 with the data term alone (no prior, no kernel term), recording every
    evaluated iterate through the callback."""
    wizard = tiny_wizard()
    y = blurry(32, 48)
    seen = []
    result = run(wizard, y, kernel_weight=0.0, prior_weight=0.0,
                 callback=lambda i, x, k, terms: seen.append((i, x.clone(), k.clone(), terms)))
    return wizard, y, result, seen


def test_loop_lowers_total_loss(long_run):
    _, _, result, seen = long_run
    total = result.losses["total"]
    assert len(total) == 30 == len(seen) == len(result.losses["data"])
    assert total[-1] < total[0] - 1e-3
    assert result.losses["warmup_x"][-1] < result.losses["warmup_x"][0]
    assert result.losses["warmup_k"][-1] < result.losses["warmup_k"][0]


def test_wizard_frozen_but_x_and_k_move_through_it(long_run):
    wizard, _, _, seen = long_run
    # the run restores requires_grad; no parameter of G ever received a gradient
    assert all(p.requires_grad for p in wizard.parameters())
    assert all(p.grad is None for p in wizard.parameters())
    assert wizard.training
    # with both regularisers off, x and k can only change through gradients that pass through G
    x0, k0 = seen[0][1], seen[0][2]
    x1, k1 = seen[-1][1], seen[-1][2]
    assert (x1 - x0).abs().max() > 1e-3
    assert (k1 - k0).abs().max() > 1e-4


def test_keep_best_returns_lowest_data_iterate(long_run):
    _, y, result, seen = long_run
    data = result.losses["data"]
    best = int(np.argmin(data))
    assert result.best_iter == best
    assert torch.equal(result.x, seen[best][1].clamp(0, 1))
    assert torch.equal(result.kernel, seen[best][2])
    assert result.x.shape == y.shape and 0 <= result.x.min() and result.x.max() <= 1
    img = result.image()
    assert img.shape == (32, 48, 3) and img.dtype == np.float32


def test_keep_best_versus_last_when_the_data_term_rises():
    # a strong smoothness prior and a large step pull x away from the data: the data term rises
    wizard, y = tiny_wizard(), blurry(32, 48)
    args = dict(iters=6, warmup_x=10, warmup_k=5, prior_weight=5.0, lr_x=1e-2)
    seen_best, seen_last = [], []
    best = run(wizard, y, keep_best=True, callback=lambda i, x, k, t: seen_best.append((x.clone(), k.clone())), **args)
    last = run(wizard, y, keep_best=False, callback=lambda i, x, k, t: seen_last.append((x.clone(), k.clone())), **args)
    data = best.losses["data"]
    assert best.losses == last.losses
    assert best.best_iter == int(np.argmin(data)) < len(data) - 1
    assert data[-1] > min(data) + 1e-3
    assert torch.equal(best.x, seen_best[best.best_iter][0].clamp(0, 1))
    assert torch.equal(best.kernel, seen_best[best.best_iter][1])
    assert last.best_iter == len(data) - 1
    assert torch.equal(last.x, seen_last[-1][0].clamp(0, 1))
    assert not torch.equal(best.x, last.x)


def test_deterministic_for_a_seed_and_keep_last():
    wizard, y = tiny_wizard(), blurry(32, 48)
    a = run(wizard, y, iters=4, warmup_x=3, warmup_k=3, seed=7, keep_best=False)
    b = run(wizard, y, iters=4, warmup_x=3, warmup_k=3, seed=7, keep_best=False)
    c = run(wizard, y, iters=4, warmup_x=3, warmup_k=3, seed=8, keep_best=False)
    assert a.losses == b.losses
    assert torch.equal(a.x, b.x) and torch.equal(a.kernel, b.kernel)
    assert a.losses["total"] != c.losses["total"]
    assert a.best_iter == 3  # keep_best=False: the last iterate


def test_odd_size_joint_mode_and_kernel_map_size():
    wizard, y = tiny_wizard(), blurry(33, 47)
    result = run(wizard, y, iters=2, warmup_x=2, warmup_k=2, joint=True)
    assert result.x.shape == (1, 3, 33, 47)
    assert result.kernel.shape == (1, 16, *wizard.kernel_map_size(33, 47))
    assert len(result.losses["data"]) == 2


def test_init_kernel_is_fitted_to_the_map_size():
    wizard, y = tiny_wizard(), blurry(32, 48)
    init = torch.randn(1, 16, 3, 3)
    result = run(wizard, y, iters=0, warmup_x=1, warmup_k=40, lr_k=1e-2, init_kernel=init)
    assert result.best_iter == -1 and result.losses["total"] == []
    assert result.kernel.shape == (1, 16, 1, 1)
    # warm-up pulls DIP_k towards the (pooled) initial kernel map
    assert result.losses["warmup_k"][-1] < 0.5 * result.losses["warmup_k"][0]


def test_hyper_laplacian_prefers_smooth_images():
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 48), indexing="ij")
    smooth = (0.5 + 0.3 * torch.sin(3 * xx + 2 * yy)).expand(1, 3, 32, 48)
    noisy = (smooth + 0.1 * torch.randn(smooth.shape, generator=g)).clamp(0, 1)
    assert hyper_laplacian(smooth) < 0.5 * hyper_laplacian(noisy)
    assert abs(hyper_laplacian(torch.full((1, 3, 8, 8), 0.3)).item()) < 1e-7
    # a sparse edge costs less than the same total variation spread as a ramp (alpha < 1)
    edge = torch.zeros(1, 1, 1, 11)
    edge[..., 6:] = 1.0
    ramp = torch.linspace(0, 1, 11).view(1, 1, 1, 11)
    assert hyper_laplacian(edge, reduction="sum") < hyper_laplacian(ramp, reduction="sum")
    # finite gradient at zero differences
    flat = torch.full((1, 1, 4, 4), 0.5, requires_grad=True)
    hyper_laplacian(flat).backward()
    assert torch.isfinite(flat.grad).all()


def test_kernel_norm_is_size_independent():
    cell = torch.randn(1, 16, 1, 1)
    assert torch.allclose(kernel_norm(cell.expand(1, 16, 2, 2)), cell.norm() * 2)
    assert torch.allclose(kernel_norm(cell.expand(1, 16, 4, 6)), kernel_norm(cell.expand(1, 16, 2, 2)))


def test_dips_shapes_and_ranges():
    torch.manual_seed(0)
    net = DIPImage(in_channels=8, channels=(8, 8, 12), skip_channels=(4, 0, 4), levels=3)
    z = net.make_noise(33, 47)
    assert z.shape == (1, 8, 40, 48)
    out = net(z)
    assert out.shape == (1, 3, 40, 48) and 0 < out.min() and out.max() < 1
    assert net.noise_size(5, 5) == (16, 16)
    with pytest.raises(ValueError):
        net(torch.rand(1, 8, 20, 24))
    knet = DIPKernel(kernel_dim=16, in_channels=8, nf=4, n_blocks=2)
    zk = knet.make_noise(2, 3)
    assert zk.shape == (1, 8, 64, 96)
    assert knet(zk).shape == (1, 16, 2, 3)
    assert knet(knet.make_noise(1, 1)).shape == (1, 16, 1, 1)


def test_save_and_load_kernel_map(tmp_path):
    kernel = torch.randn(1, 16, 2, 3)
    png, raw = save_kernel_map(tmp_path / "k" / "map.png", kernel)
    assert png.is_file() and raw.is_file()
    assert torch.equal(load_kernel_map(raw), kernel)
    img = kernel_map_image(kernel, px=5, gap=2)
    # 16 -> 4x4 values per cell, 5 px each, 2x3 cells with 2 px gaps
    assert img.shape == (2 * (20 + 2) + 2, 3 * (20 + 2) + 2, 3)
    assert 0 <= img.min() and img.max() <= 1


def test_deblur_file_from_a_checkpoint(tmp_path):
    from blur2blur.io import read_image, write_image
    from blur2blur.kernel_space.blind import deblur_file
    from blur2blur.nets.weights import save_model

    src = tmp_path / "blurry.png"
    write_image(src, blurry(33, 47)[0])
    wizard = tiny_wizard()
    save_model(wizard, tmp_path / "wizard", "kernel_wizard", TINY_WIZARD)
    written = deblur_file(src, tmp_path / "out" / "sharp.png", str(tmp_path / "wizard"), iters=2, seed=1,
                          save_kernel=True, device="cpu", progress=False, warmup_x=2, warmup_k=2, **TINY_DIPS)
    assert [p.name for p in written] == ["sharp.png", "sharp_kernel.png", "sharp_kernel.safetensors"]
    assert read_image(written[0]).shape == (33, 47, 3)
    assert load_kernel_map(written[2]).shape == (1, 16, 1, 1)
