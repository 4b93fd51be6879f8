"""Tests of the bkse kernel networks: F (kernel extractor) and G (blur operator) in KernelWizard."""

import math

import pytest
import torch
import torch.nn.functional as F

from blur2blur.losses.pixel import charbonnier
from blur2blur.nets.kernel_space import KernelWizard, fit_kernel_map, pad_to_multiple

TINY = dict(nf=8, front_RBs=1, back_RBs=1, kernel_dim=16)


def tiny(**kw) -> KernelWizard:
    torch.manual_seed(0)
    return KernelWizard(**{**TINY, **kw})


def pair(n: int, h: int, w: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """A random sharp image and a box-blurred copy of it (NCHW, [0,1])."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, h, w, generator=g)
    y = F.avg_pool2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), 5, stride=1)
    return x, y


@pytest.fixture(scope="module")
def official_meta():
    """The official configuration without allocating or initialising weights (meta device)."""
    with torch.device("meta"):
        return KernelWizard()


def test_official_parameter_and_key_counts(official_meta):
    sd = official_meta.state_dict()
    assert sum(p.numel() for p in official_meta.parameters()) == 49_205_187
    assert len(sd) == 159


def test_official_key_names_and_shapes(official_meta):
    sd = official_meta.state_dict()
    expected = {
        "feature_extractor.0.weight": (64, 3, 3, 3),
        "feature_extractor.0.bias": (64,),
        "feature_extractor.4.weight": (64, 64, 3, 3),
        "feature_extractor.15.conv2.bias": (64,),
        "kernel_extractor.model.1.weight": (64, 128, 7, 7),
        "kernel_extractor.model.16.weight": (512, 512, 3, 3),
        "kernel_extractor.model.22.conv_block.5.weight": (512, 512, 3, 3),
        "adapter.model.down.0.weight": (64, 64, 4, 4),
        "adapter.model.up.1.weight": (128, 64, 4, 4),
        "adapter.model.up.1.bias": (64,),
        "adapter.model.submodule.submodule.submodule.submodule.down.1.weight": (512, 512, 4, 4),
        "adapter.model.submodule.submodule.submodule.submodule.up.1.weight": (1024, 512, 4, 4),
        "recon_trunk.19.conv1.weight": (64, 64, 3, 3),
        "recon_trunk.20.weight": (256, 64, 3, 3),
        "recon_trunk.23.weight": (256, 64, 3, 3),
        "recon_trunk.26.weight": (64, 64, 3, 3),
        "recon_trunk.28.weight": (3, 64, 3, 3),
    }
    for key, shape in expected.items():
        assert tuple(sd[key].shape) == shape, key
    # F and the U-Net are bias-free except the U-Net's last transposed conv
    assert "kernel_extractor.model.1.bias" not in sd
    assert "adapter.model.submodule.up.1.bias" not in sd
    assert "adapter.model.down.0.bias" not in sd


def test_vae_keeps_official_key_names_with_wider_extractor():
    with torch.device("meta"):
        plain, vae = KernelWizard(**TINY), KernelWizard(**TINY, use_vae=True)
    sd_p, sd_v = plain.state_dict(), vae.state_dict()
    assert list(sd_p) == list(sd_v)
    assert tuple(sd_v["kernel_extractor.model.22.conv_block.1.weight"].shape) == (32, 32, 3, 3)
    assert tuple(sd_p["kernel_extractor.model.22.conv_block.1.weight"].shape) == (16, 16, 3, 3)
    # G's bottleneck still takes kernel_dim channels
    key = "adapter.model.submodule.submodule.submodule.submodule.up.1.weight"
    assert sd_p[key].shape == sd_v[key].shape and sd_p[key].shape[0] == 8 * 8 + 16


@pytest.mark.parametrize("h,w", [(200, 330), (37, 53), (128, 256)])
def test_any_size_output_and_kernel_map_size(h, w):
    m = tiny().eval()
    x, y = pair(2, h, w)
    with torch.no_grad():
        k = m.extract(x, y)
        out = m(x, y)
    assert k.shape == (2, 16, math.ceil(h / 128), math.ceil(w / 128))
    assert KernelWizard.kernel_map_size(h, w) == tuple(k.shape[-2:])
    assert out.shape == x.shape and torch.isfinite(out).all()
    # the global residual: an untrained G stays near its sharp input, but does change it
    diff = (out - x).abs().mean().item()
    assert 0.0 < diff < 0.5


def test_padding_is_cropped_back_consistently():
    m = tiny(recon_nf=8).eval()
    x, y = pair(1, 70, 150)
    with torch.no_grad():
        k = m.extract(x, y)
        direct = m.adapt(x, k)
        padded = m.adapt(pad_to_multiple(x, 128), k)
    assert pad_to_multiple(x, 128).shape[-2:] == (128, 256)
    assert torch.allclose(direct, padded[..., :70, :150], atol=1e-6)


def test_kernel_changes_the_output_and_bad_kernels_are_rejected():
    m = tiny(recon_nf=8).eval()
    x, _ = pair(1, 64, 64)
    g = torch.Generator().manual_seed(3)
    k1, k2 = torch.randn(1, 16, 1, 1, generator=g), torch.randn(1, 16, 1, 1, generator=g)
    with torch.no_grad():
        # at initialisation the kernel's influence is small (it passes 5 transposed convs), not nil
        assert (m.adapt(x, k1) - m.adapt(x, k2)).abs().max() > 1e-6
        with pytest.raises(ValueError):
            m.adapt(x, torch.zeros(1, 16, 2, 2))  # 64x64 needs a 1x1 map
        with pytest.raises(ValueError):
            m.adapt(x, torch.zeros(1, 15, 1, 1))
        with pytest.raises(ValueError):
            m.extract(x, x[..., :32])


def test_unet_skip_carries_leaky_relu_input_and_output_is_bounded():
    m = tiny()
    level = m.adapter.model.submodule  # first inner level: 8 -> 16 channels, 4 more halvings
    feat = torch.randn(1, 8, 16, 16)
    kernel = torch.randn(1, 16, 1, 1)
    with torch.no_grad():
        out = level(feat, kernel)
        assert torch.equal(out[:, -8:], F.leaky_relu(feat, 0.2))
        top = m.adapter(torch.randn(1, 8, 32, 32) * 10, kernel)
    assert top.shape == (1, 8, 32, 32) and top.abs().max() <= 1.0  # tanh output (saturates to 1.0 in float32)


def test_transfer_same_size_equals_forward_and_other_sizes_work():
    m = tiny(recon_nf=8).eval()
    xs, ys = pair(1, 256, 256, seed=4)
    with torch.no_grad():
        assert torch.allclose(m.transfer(xs, xs, ys), m(xs, ys), atol=1e-6)
        targets = torch.rand(3, 3, 90, 140)  # map 1x2 from a 2x2 source map, one pair for 3 targets
        out = m.transfer(targets, xs, ys)
        out_mean = m.transfer(targets, xs, ys, fit="mean")
        small = m.transfer(torch.rand(1, 3, 40, 40), xs, ys)
    assert out.shape == targets.shape and out_mean.shape == targets.shape
    assert small.shape == (1, 3, 40, 40)
    assert torch.isfinite(out).all() and torch.isfinite(out_mean).all()


def test_fit_kernel_map_modes():
    k = torch.arange(16.0).reshape(1, 1, 4, 4)
    pooled = fit_kernel_map(k, (2, 2))
    assert torch.equal(pooled, F.avg_pool2d(k, 2))
    enlarged = fit_kernel_map(torch.tensor([[[[1.0, 2.0]]]]), (2, 4))
    assert torch.equal(enlarged, torch.tensor([[[[1.0, 1.0, 2.0, 2.0]] * 2]]))
    mean = fit_kernel_map(k, (3, 5), mode="mean")
    assert mean.shape == (1, 1, 3, 5) and torch.all(mean == 7.5)
    with pytest.raises(ValueError):
        fit_kernel_map(k, (2, 2), mode="tile")


def test_optimisation_step_trains_every_part():
    m = tiny(recon_nf=8).train()
    x, y = pair(2, 64, 64, seed=5)
    before = {k: v.detach().clone() for k, v in m.state_dict().items()}
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    losses = []
    for _ in range(6):
        opt.zero_grad()
        loss = charbonnier(m(x, y), y)
        loss.backward()
        if not losses:
            for part in ("feature_extractor", "kernel_extractor", "adapter", "recon_trunk"):
                grads = [p.grad for n, p in m.named_parameters() if n.startswith(part)]
                assert all(g is not None for g in grads), part
                assert sum(g.abs().sum().item() for g in grads) > 0, part
        opt.step()
        losses.append(loss.item())
    after = m.state_dict()
    for part in ("feature_extractor.0.weight", "kernel_extractor.model.1.weight",
                 "adapter.model.up.1.weight", "recon_trunk.0.conv1.weight"):
        assert not torch.equal(before[part], after[part]), part
    assert losses[-1] < losses[0]


def test_vae_sampling_train_vs_eval_and_kl():
    m = tiny(use_vae=True, recon_nf=8)
    x, y = pair(1, 64, 96, seed=6)
    m.train()
    with torch.no_grad():
        k1, mean, log_sigma = m.extract(x, y, return_stats=True)
        k2 = m.extract(x, y)
    assert k1.shape == mean.shape == log_sigma.shape == (1, 16, 1, 1)
    assert not torch.equal(k1, k2)  # reparameterised samples
    m.eval()
    with torch.no_grad():
        e1, e_mean, _ = m.extract(x, y, return_stats=True)
        e2 = m.extract(x, y)
        o1, o2 = m(x, y), m(x, y)
    assert torch.equal(e1, e2) and torch.equal(e1, e_mean) and torch.allclose(e_mean, mean)
    assert torch.equal(o1, o2)
    zero = torch.zeros(2, 4, 1, 1)
    assert KernelWizard.kl_divergence(zero, zero).item() == 0.0
    assert KernelWizard.kl_divergence(zero + 1.0, zero).item() == pytest.approx(2.0)  # 0.5*4 per sample
    assert KernelWizard.kl_divergence(zero, zero + 0.5).item() > 0.0
    plain = tiny(recon_nf=8)
    _, _, none = plain.extract(x, y, return_stats=True)
    assert none is None


def test_strict_state_dict_round_trip():
    a = tiny(recon_nf=8).eval()
    torch.manual_seed(123)
    b = KernelWizard(**TINY, recon_nf=8).eval()
    x, y = pair(1, 48, 48, seed=7)
    with torch.no_grad():
        assert not torch.allclose(a(x, y), b(x, y))
        b.load_state_dict(a.state_dict(), strict=True)
        assert torch.equal(a(x, y), b(x, y))
    with pytest.raises(RuntimeError):
        KernelWizard(**TINY, use_vae=True).load_state_dict(a.state_dict(), strict=True)


def test_fresh_kernel_code_moves_g_output():
    """From scratch the code must matter to G (default PyTorch init made its effect ~1e-9, so F got
    no usable gradient and G collapsed to one average blur)."""
    net = tiny(recon_nf=8).eval()
    x, y = pair(2, 128, 128)
    with torch.no_grad():
        code = net.extract(x, y)
        assert code.std() > 0.1
        moved = (net.adapt(x, code) - net.adapt(x, torch.zeros_like(code))).abs().mean()
    assert moved > 1e-5
