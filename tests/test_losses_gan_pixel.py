"""Tests for blur2blur.losses.gan and blur2blur.losses.pixel."""

import math

import pytest
import torch
import torch.nn as nn

from blur2blur.losses import charbonnier, gan_loss_d, gan_loss_g, gradient_penalty, l1, lowpass_l1, psnr_loss


def t(*values):
    return torch.tensor(values, dtype=torch.float64)


def softplus(x):
    return math.log1p(math.exp(x))


# ---------------------------------------------------------------- GAN losses: values

def test_hinge_values():
    assert gan_loss_d(t(2.0), t(-2.0), "hinge").item() == 0.0
    # real 0.5 -> relu(0.5) = 0.5; fake 0.0 -> relu(1) = 1; official scaling 0.5 * (sum).
    assert gan_loss_d(t(0.5, 3.0), t(0.0, -3.0), "hinge").item() == pytest.approx(0.5 * (0.25 + 0.5))
    assert gan_loss_g(t(1.0, 3.0), "hinge").item() == pytest.approx(-2.0)


def test_vanilla_values():
    # BCE-with-logits: -log sigmoid(r) = softplus(-r); -log(1 - sigmoid(f)) = softplus(f).
    r, f = 1.5, -0.5
    assert gan_loss_d(t(r), t(f), "vanilla").item() == pytest.approx(0.5 * (softplus(-r) + softplus(f)))
    assert gan_loss_g(t(f), "vanilla").item() == pytest.approx(softplus(-f))
    assert gan_loss_d(t(0.0), t(0.0), "vanilla").item() == pytest.approx(math.log(2))


def test_lsgan_and_wgan_values():
    assert gan_loss_d(t(1.0, 0.0), t(0.0, 2.0), "lsgan").item() == pytest.approx(0.5 * (0.5 + 2.0))
    assert gan_loss_g(t(1.0, 3.0), "lsgan").item() == pytest.approx(2.0)
    assert gan_loss_d(t(1.0, 3.0), t(0.5, -0.5), "wgan").item() == pytest.approx(0.0 - 2.0)
    assert gan_loss_g(t(0.5, 1.5), "wgan").item() == pytest.approx(-1.0)


def test_multiscale_lists_mean_and_sum():
    reals = [t(0.0), t(2.0), t(-1.0)]
    fakes = [t(0.0), t(-2.0), t(1.0)]
    per_scale = [gan_loss_d(r, f, "hinge").item() for r, f in zip(reals, fakes)]
    assert per_scale == [1.0, 0.0, 2.0]
    assert gan_loss_d(reals, fakes, "hinge").item() == pytest.approx(1.0)
    assert gan_loss_d(reals, fakes, "hinge", reduce="sum").item() == pytest.approx(3.0)
    assert gan_loss_g(fakes, "wgan", reduce="sum").item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="3 real scales but 2 fake"):
        gan_loss_d(reals, fakes[:2], "hinge")


def test_bad_mode_and_reduce():
    with pytest.raises(ValueError, match="unknown GAN mode"):
        gan_loss_g(t(1.0), "wasserstein")
    with pytest.raises(ValueError, match="unknown reduce"):
        gan_loss_g(t(1.0), "hinge", reduce="max")


@pytest.mark.parametrize("mode", ["vanilla", "hinge", "lsgan", "wgan"])
def test_g_step_raises_d_score_and_d_step_separates(mode):
    fake = t(-0.3, 0.2).requires_grad_(True)
    gan_loss_g(fake, mode).backward()
    assert (fake.grad < 0).all()  # descending the G loss increases D(fake)
    real = t(0.1, -0.2).requires_grad_(True)  # below every mode's real target
    fake = t(0.3, 0.6).requires_grad_(True)  # above every mode's fake target
    gan_loss_d(real, fake, mode).backward()
    assert (real.grad < 0).all() and (fake.grad > 0).all()  # D pushes real up, fake down


# ---------------------------------------------------------------- gradient penalty

class Linear(nn.Module):
    """D(x) = sum(w * x) per sample: its input gradient is w everywhere."""

    def __init__(self, shape):
        super().__init__()
        self.w = nn.Parameter(torch.randn(shape, generator=torch.Generator().manual_seed(0)))

    def forward(self, x):
        return (x * self.w).flatten(1).sum(dim=1)


@pytest.mark.parametrize("batch", [1, 4])
def test_gp_linear_d_is_exact(batch):
    D = Linear((3, 5, 6))
    real, fake = torch.rand(batch, 3, 5, 6), torch.rand(batch, 3, 5, 6)
    gp = gradient_penalty(D, real, fake)
    expected = (D.w.detach().norm() - 1.0) ** 2
    assert gp.shape == () and gp.item() == pytest.approx(expected.item(), rel=1e-5)
    assert gradient_penalty(D, real, fake, target=0.0).item() == pytest.approx(
        D.w.detach().norm().item() ** 2, rel=1e-5)


def test_gp_is_per_sample_and_differentiable():
    torch.manual_seed(0)
    D = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3))
    real, fake = torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8, requires_grad=True)
    gp = gradient_penalty(D, real, fake, generator=torch.Generator().manual_seed(1))
    gp.backward()
    assert torch.isfinite(gp) and gp.item() > 0
    # Conv weights shape the input gradient (biases do not: the last one adds a constant, the
    # first only moves LeakyReLU kinks), so the penalty must train them.
    weights = [D[0].weight, D[2].weight]
    assert all(w.grad is not None and w.grad.abs().sum() > 0 for w in weights)
    assert fake.grad is None  # interpolates use fake.detach()

    # Per-sample alpha: with the same generator the penalty equals the mean of the batch-1 ones.
    alphas = torch.rand(4, generator=torch.Generator().manual_seed(1))
    singles = []
    for i in range(4):
        x = (alphas[i] * real[i:i + 1] + (1 - alphas[i]) * fake[i:i + 1].detach()).requires_grad_(True)
        (g,) = torch.autograd.grad(D(x).sum(), x)
        singles.append((g.norm() - 1) ** 2)
    gp2 = gradient_penalty(D, real, fake, generator=torch.Generator().manual_seed(1))
    assert gp2.item() == pytest.approx(torch.stack(singles).mean().item(), rel=1e-5)


def test_gp_list_output_and_shape_error():
    D = Linear((2, 3, 3))
    two_scales = lambda x: [D(x), 2 * D(x)]  # gradient 3w
    real, fake = torch.rand(2, 2, 3, 3), torch.rand(2, 2, 3, 3)
    expected = (3 * D.w.detach().norm() - 1.0) ** 2
    assert gradient_penalty(two_scales, real, fake).item() == pytest.approx(expected.item(), rel=1e-5)
    with pytest.raises(ValueError, match=r"\(2, 2, 3, 3\).*\(1, 2, 3, 3\)"):
        gradient_penalty(D, real, fake[:1])


def test_gp_works_under_no_grad():
    D = Linear((1, 2, 2))
    with torch.no_grad():
        gp = gradient_penalty(D, torch.rand(3, 1, 2, 2), torch.rand(3, 1, 2, 2))
    assert gp.item() == pytest.approx(((D.w.detach().norm() - 1) ** 2).item(), rel=1e-5)


# ---------------------------------------------------------------- pixel losses

def test_l1_and_charbonnier_values():
    x = t(0.0, 0.5, 1.0)
    y = t(0.0, 0.0, 0.25)
    assert l1(x, y).item() == pytest.approx((0.0 + 0.5 + 0.75) / 3)
    eps = 1e-3
    expected = (eps + math.sqrt(0.25 + eps**2) + math.sqrt(0.5625 + eps**2)) / 3
    assert charbonnier(x, y).item() == pytest.approx(expected, rel=1e-12)
    assert charbonnier(x, x, eps=0.1).item() == pytest.approx(0.1)
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        l1(x, y[:2])


def test_psnr_loss_values():
    x = torch.zeros(2, 3, 4, 4, dtype=torch.float64)
    y = x.clone()
    y[0] += 0.1  # mse 0.01 -> -20 dB
    y[1] += 0.01  # mse 1e-4 -> -40 dB
    expected = 5 * (math.log10(0.01 + 1e-8) + math.log10(1e-4 + 1e-8))  # 1e-8 guard included
    assert psnr_loss(x, y).item() == pytest.approx(expected, abs=1e-9)
    assert expected == pytest.approx(-30.0, abs=1e-3)
    assert psnr_loss(x[0], y[0]).item() == pytest.approx(-20.0, abs=1e-5)
    # Not the PSNR of the pooled MSE: that would be 10*log10(0.00505) = -22.97 dB.
    assert abs(psnr_loss(x, y).item() - 10 * math.log10(0.00505)) > 5
    assert psnr_loss(x, x).item() == pytest.approx(-80.0)


def test_psnr_loss_gradient_reduces_error():
    x = torch.full((1, 3, 4, 4), 0.3, requires_grad=True)
    y = torch.full((1, 3, 4, 4), 0.5)
    psnr_loss(x, y).backward()
    assert (x.grad < 0).all()


def test_lowpass_l1_sees_colour_not_fine_detail():
    x = torch.rand(2, 3, 37, 53)
    # A +-1 checkerboard in 2x2 blocks averages out in 4x4 pools except at the ragged border.
    yy, xx = torch.meshgrid(torch.arange(36), torch.arange(52), indexing="ij")
    checker = (((yy // 2) + (xx // 2)) % 2 * 2 - 1).float() * 0.1
    fine = x.clone()
    fine[..., :36, :52] += checker
    assert lowpass_l1(fine, x, 4) < 1e-6
    assert l1(fine, x) > 0.09
    cast = x * torch.tensor([1.1, 1.0, 0.9]).view(1, 3, 1, 1)
    assert lowpass_l1(cast, x, 4).item() == pytest.approx((cast - x).abs().mean().item(), rel=0.05)
    with pytest.raises(ValueError, match="factor"):
        lowpass_l1(x, x, 0)
    with pytest.raises(ValueError, match="shape"):
        lowpass_l1(x, x[..., :36, :], 4)
