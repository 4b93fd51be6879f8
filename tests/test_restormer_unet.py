"""Restormer (official motion-deblurring layout) and the three-scale UNet translator backbone."""

import io

import pytest
import torch
import torch.nn.functional as F

from blur2blur.nets.restormer import LayerNorm, Restormer
from blur2blur.nets.unet import UNet

TINY = dict(dim=8, num_blocks=(1, 1, 1, 1), num_refinement_blocks=1, heads=(1, 1, 1, 1))


def n_params(m):
    return sum(p.numel() for p in m.parameters())


# ---------------------------------------------------------------- Restormer


@pytest.fixture(scope="module")
def official():
    torch.manual_seed(0)
    return Restormer()


def test_official_config_counts(official):
    sd = official.state_dict()
    assert n_params(official) == 26_126_644
    assert len(sd) == 494


@pytest.mark.parametrize("key, shape", [
    ("patch_embed.proj.weight", (48, 3, 3, 3)),
    ("encoder_level1.0.norm1.body.weight", (48,)),
    ("encoder_level1.0.norm1.body.bias", (48,)),
    ("encoder_level1.0.attn.temperature", (1, 1, 1)),
    ("encoder_level1.0.attn.qkv.weight", (144, 48, 1, 1)),
    ("encoder_level1.0.attn.qkv_dwconv.weight", (144, 1, 3, 3)),
    ("encoder_level1.0.attn.project_out.weight", (48, 48, 1, 1)),
    ("encoder_level1.3.ffn.project_in.weight", (254, 48, 1, 1)),
    ("encoder_level1.3.ffn.dwconv.weight", (254, 1, 3, 3)),
    ("encoder_level1.3.ffn.project_out.weight", (48, 127, 1, 1)),
    ("down1_2.body.0.weight", (24, 48, 3, 3)),
    ("down3_4.body.0.weight", (96, 192, 3, 3)),
    ("latent.7.attn.temperature", (8, 1, 1)),
    ("latent.7.ffn.project_in.weight", (2042, 384, 1, 1)),
    ("up4_3.body.0.weight", (768, 384, 3, 3)),
    ("reduce_chan_level3.weight", (192, 384, 1, 1)),
    ("reduce_chan_level2.weight", (96, 192, 1, 1)),
    ("up2_1.body.0.weight", (192, 96, 3, 3)),
    ("decoder_level3.5.attn.temperature", (4, 1, 1)),
    ("decoder_level1.3.norm2.body.weight", (96,)),
    ("refinement.3.ffn.project_out.weight", (96, 255, 1, 1)),
    ("output.weight", (3, 96, 3, 3)),
])
def test_official_key_names_and_shapes(official, key, shape):
    sd = official.state_dict()
    assert tuple(sd[key].shape) == shape


def test_official_has_no_bias_terms_besides_layernorm(official):
    biases = [k for k in official.state_dict() if k.endswith(".bias")]
    assert biases and all(".body.bias" in k and "norm" in k for k in biases)
    assert "skip_conv.weight" not in official.state_dict()


def test_output_size_for_odd_input_and_finite():
    torch.manual_seed(0)
    net = Restormer(**TINY).eval()
    x = torch.rand(2, 3, 37, 53)
    with torch.no_grad():
        y = net(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()


def test_global_residual_and_crop():
    """With the output conv zeroed the network is exactly the identity, at any size."""
    net = Restormer(**TINY).eval()
    with torch.no_grad():
        net.output.weight.zero_()
        for shape in [(1, 3, 37, 53), (1, 3, 5, 3), (1, 3, 16, 24)]:
            x = torch.rand(shape)
            assert torch.equal(net(x), x)


def test_internal_padding_is_reflect_then_crop():
    torch.manual_seed(1)
    net = Restormer(**TINY).eval()
    x = torch.rand(1, 3, 37, 53)
    with torch.no_grad():
        y = net(x)
        ref = net(F.pad(x, (0, 3, 0, 3), mode="reflect"))[:, :, :37, :53]
    torch.testing.assert_close(y, ref, rtol=0, atol=1e-6)


def test_tiny_input_uses_replicate_padding():
    net = Restormer(**TINY).eval()
    x = torch.rand(1, 3, 3, 2)
    with torch.no_grad():
        y = net(x)
        ref = net(F.pad(x, (0, 6, 0, 5), mode="replicate"))[:, :, :3, :2]
    assert y.shape == x.shape
    torch.testing.assert_close(y, ref, rtol=0, atol=1e-6)


def test_strict_state_dict_round_trip():
    torch.manual_seed(2)
    cfg = dict(TINY, heads=(1, 2, 2, 4))
    a = Restormer(**cfg).eval()
    # Perturb every parameter so the copy is not the default init.
    with torch.no_grad():
        for p in a.parameters():
            p.add_(0.01 * torch.randn_like(p))
    buf = io.BytesIO()
    torch.save({"params": a.state_dict()}, buf)
    buf.seek(0)
    sd = torch.load(buf, weights_only=True)["params"]
    torch.manual_seed(3)
    b = Restormer(**cfg).eval()
    result = b.load_state_dict(sd, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    x = torch.rand(1, 3, 24, 20)
    with torch.no_grad():
        assert torch.equal(a(x), b(x))
    # A wrong layout must not load strictly.
    with pytest.raises(RuntimeError):
        Restormer(**TINY, LayerNorm_type="BiasFree").load_state_dict(sd, strict=True)


def test_biasfree_variant_runs_and_has_no_norm_bias():
    net = Restormer(**TINY, LayerNorm_type="BiasFree").eval()
    keys = net.state_dict().keys()
    assert "encoder_level1.0.norm1.body.weight" in keys
    assert not any(k.endswith("norm1.body.bias") for k in keys)
    x = torch.rand(1, 3, 19, 21)
    with torch.no_grad():
        y = net(x)
    assert y.shape == x.shape and torch.isfinite(y).all()


def test_layernorm_matches_definitions():
    torch.manual_seed(4)
    x = torch.randn(2, 6, 5, 7) * 3 + 1
    ln = LayerNorm(6, "WithBias")
    with torch.no_grad():
        ln.body.weight.uniform_(0.5, 1.5)
        ln.body.bias.uniform_(-1, 1)
        ref = F.layer_norm(x.permute(0, 2, 3, 1), (6,), ln.body.weight, ln.body.bias, eps=1e-5)
        torch.testing.assert_close(ln(x), ref.permute(0, 3, 1, 2), rtol=1e-5, atol=1e-5)
        bf = LayerNorm(6, "BiasFree")
        var = x.var(dim=1, keepdim=True, unbiased=False)
        torch.testing.assert_close(bf(x), x / torch.sqrt(var + 1e-5), rtol=1e-5, atol=1e-5)


def test_dual_pixel_variant():
    net = Restormer(inp_channels=6, out_channels=3, dual_pixel_task=True, **TINY).eval()
    assert tuple(net.state_dict()["skip_conv.weight"].shape) == (16, 8, 1, 1)
    with torch.no_grad():
        y = net(torch.rand(1, 6, 17, 9))
    assert y.shape == (1, 3, 17, 9)


def test_bad_configs_raise():
    with pytest.raises(ValueError):
        Restormer(dim=8, heads=(3, 1, 1, 1), num_blocks=(1, 1, 1, 1))
    with pytest.raises(ValueError):
        Restormer(**TINY, LayerNorm_type="Nope")
    with pytest.raises(ValueError):
        Restormer(**TINY)(torch.rand(1, 1, 8, 8))


# ---------------------------------------------------------------- UNet


def test_unet_default_parameter_counts():
    assert n_params(UNet()) == 7_243_881
    assert n_params(UNet(up_mode="transpose")) == 7_766_121


@pytest.mark.parametrize("levels, up_mode", [(4, "bilinear"), (3, "transpose"), (2, "bilinear")])
def test_unet_three_scales_any_size(levels, up_mode):
    torch.manual_seed(0)
    net = UNet(base_channel=4, levels=levels, up_mode=up_mode).eval()
    x = torch.rand(2, 3, 37, 53)
    with torch.no_grad():
        outs = net(x)
    assert [tuple(o.shape) for o in outs] == [(2, 3, 10, 14), (2, 3, 19, 27), (2, 3, 37, 53)]
    assert all(torch.isfinite(o).all() for o in outs)


def test_unet_outputs_are_residuals_of_nearest_downsampled_input():
    net = UNet(base_channel=4, levels=3).eval()
    with torch.no_grad():
        for head in net.heads:
            head.weight.zero_()
            head.bias.zero_()
        for shape in [(1, 3, 37, 53), (1, 3, 6, 5)]:
            x = torch.rand(shape)
            q, h, f = net(x)
            assert torch.equal(q, x[..., ::4, ::4])
            assert torch.equal(h, x[..., ::2, ::2])
            assert torch.equal(f, x)


def test_unet_gradient_reaches_every_parameter():
    torch.manual_seed(0)
    net = UNet(base_channel=4, levels=3)
    x = torch.rand(1, 3, 24, 20, requires_grad=True)
    loss = sum(o.square().mean() for o in net(x))
    loss.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_unet_bad_arguments_raise():
    with pytest.raises(ValueError):
        UNet(levels=1)
    with pytest.raises(ValueError):
        UNet(up_mode="nearest")
    with pytest.raises(ValueError):
        UNet(base_channel=4)(torch.rand(1, 1, 16, 16))
