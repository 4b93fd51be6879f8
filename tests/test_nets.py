"""Networks: official sizes and key names, shapes at any size, residuals, TLC, PatchGAN field."""

import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from blur2blur.nets import NETWORKS, MIMOUNet, NAFNet, PatchGAN, build_network
from blur2blur.nets.nafnet import ChannelPool, LayerNorm2d, local_mean
from blur2blur.nets.patchgan import init_weights
from blur2blur.nets.mimo_unet import AFF


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def on_meta(cls, **kw):
    with torch.device("meta"):
        return cls(**kw)


def tiny_nafnet(**kw):
    torch.manual_seed(0)
    net = NAFNet(width=8, middle_blk_num=1, enc_blk_nums=(1, 1), dec_blk_nums=(1, 1), **kw)
    with torch.no_grad():  # beta/gamma start at zero, which would hide the attention branch
        for name, p in net.named_parameters():
            if name.endswith(("beta", "gamma")):
                p.normal_(0, 0.5)
    return net.eval()


# ---------------------------------------------------------------- official configurations
@pytest.mark.parametrize("width,params_m", [(32, 17.11), (64, 67.89)])
def test_nafnet_official_sizes(width, params_m):
    net = on_meta(NAFNet, width=width)
    assert round(n_params(net) / 1e6, 2) == params_m
    assert len(net.state_dict()) == 664


def test_nafnet_key_names():
    keys = set(on_meta(NAFNet).state_dict())
    for k in ["intro.weight", "ending.bias", "encoders.3.27.conv1.weight", "encoders.0.0.conv2.weight",
              "encoders.0.0.conv3.bias", "encoders.0.0.conv4.weight", "encoders.0.0.conv5.weight",
              "encoders.0.0.sca.1.weight", "encoders.0.0.norm1.weight", "encoders.0.0.norm2.bias",
              "encoders.1.0.beta", "encoders.1.0.gamma", "downs.3.weight", "middle_blks.0.conv1.weight",
              "ups.0.0.weight", "decoders.3.0.conv5.bias"]:
        assert k in keys, k
    assert "ups.0.0.bias" not in keys


@pytest.mark.parametrize("num_res,params", [(8, 6_807_171), (20, 16_107_651)])
def test_mimo_official_sizes(num_res, params):
    assert n_params(on_meta(MIMOUNet, num_res=num_res)) == params


def test_mimo_key_names():
    sd = on_meta(MIMOUNet).state_dict()
    for k in ["feat_extract.0.main.0.weight", "Encoder.0.layers.7.main.1.main.0.weight",
              "Decoder.2.layers.0.main.0.main.0.bias", "SCM1.main.3.main.0.weight", "SCM2.conv.main.0.weight",
              "FAM1.merge.main.0.weight", "FAM2.merge.main.0.bias", "AFFs.1.conv.1.main.0.weight",
              "Convs.0.main.0.weight", "ConvsOut.1.main.0.bias"]:
        assert k in sd, k
    assert tuple(sd["feat_extract.3.main.0.weight"].shape) == (128, 64, 4, 4)  # transposed conv
    assert tuple(sd["SCM1.main.3.main.0.weight"].shape) == (125, 64, 1, 1)


def test_patchgan_official_size_and_keys():
    d = PatchGAN()
    assert n_params(d) == 2_764_737
    assert list(d.state_dict()) == [f"model.{i}.{p}" for i in (0, 2, 5, 8, 11) for p in ("weight", "bias")]


# ---------------------------------------------------------------- NAFNet behaviour
def test_layernorm2d_matches_layer_norm():
    ln = LayerNorm2d(6)
    with torch.no_grad():
        ln.weight.normal_()
        ln.bias.normal_()
    x = torch.randn(2, 6, 5, 7)
    ref = F.layer_norm(x.permute(0, 2, 3, 1), (6,), ln.weight, ln.bias, eps=1e-6).permute(0, 3, 1, 2)
    assert torch.allclose(ln(x), ref, atol=1e-5)
    # the fused channels-last path is the same normalisation, and keeps the memory format
    fast = ln(x.contiguous(memory_format=torch.channels_last))
    assert fast.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(fast, ref, atol=1e-5)


@pytest.mark.parametrize("size", [(32, 32), (37, 29)])
def test_nafnet_any_size_and_global_residual(size):
    net = tiny_nafnet()
    x = torch.rand(1, 3, *size)
    with torch.no_grad():
        y = net(x)
        assert y.shape == x.shape
        assert not torch.allclose(y, x)
        net.ending.weight.zero_()
        net.ending.bias.zero_()
        assert torch.allclose(net(x), x)  # output = ending(features) + input


def test_nafnet_padding_is_invisible():
    # 2 levels -> multiple of 4: a 30x27 input is zero-padded to 32x28 inside and cropped back.
    net = tiny_nafnet()
    x = torch.rand(1, 3, 30, 27)
    with torch.no_grad():
        a = net(x)
        b = net(F.pad(x, (0, 1, 0, 2)))[:, :, :30, :27]
    assert torch.allclose(a, b, atol=1e-5)


def test_local_mean_matches_avg_pool():
    x = torch.randn(2, 3, 12, 10)
    out = local_mean(x, 4, 3)
    valid = F.avg_pool2d(x, (4, 3), stride=1)  # 9 x 8
    assert out.shape == x.shape
    # window offsets: top pad (12-9)//2 = 1, left pad (10-8)//2 = 1
    assert torch.allclose(out[:, :, 1:10, 1:9], valid, atol=1e-5)
    assert torch.allclose(out[:, :, 0, 1:9], valid[:, :, 0])  # edges replicate
    assert torch.allclose(out[:, :, -1, 1:9], valid[:, :, -1])


def test_channel_pool_window_scales_with_level():
    pool = ChannelPool()
    x = torch.randn(1, 4, 32, 32)
    assert pool(x).shape == (1, 4, 1, 1)
    pool.window = (16, 64, 64)  # 16 px window on a 64 px input -> 8 px on a 32 px feature map
    assert torch.allclose(pool(x), local_mean(x, 8, 8))
    pool.window = (128, 64, 64)  # window larger than the image -> global pool
    assert torch.allclose(pool(x), x.mean(dim=(2, 3), keepdim=True))


def test_nafnet_tlc():
    net = tiny_nafnet()
    x = torch.rand(1, 3, 48, 40)
    with torch.no_grad():
        plain = net(x)
        net.tlc, net.tlc_base_size = True, 64  # window larger than the input: same as global pool
        same = net(x)
        net.tlc_base_size = 16  # local windows: different output
        local = net(x)
        again = NAFNet(width=8, middle_blk_num=1, enc_blk_nums=(1, 1), dec_blk_nums=(1, 1),
                       tlc=False).load_state_dict(net.state_dict())
    assert again.missing_keys == [] and again.unexpected_keys == []  # TLC adds no parameters
    assert torch.allclose(plain, same, atol=1e-6)
    assert (plain - local).abs().max() > 1e-3
    assert local.shape == x.shape


# ---------------------------------------------------------------- MIMO-UNet behaviour
@pytest.mark.parametrize("size", [(32, 32), (30, 45)])
def test_mimo_scales_and_residuals(size):
    torch.manual_seed(0)
    net = MIMOUNet(base_channel=8, num_res=1).eval()
    h, w = size
    x = torch.rand(2, 3, h, w)
    with torch.no_grad():
        outs = net(x)
        assert [tuple(o.shape[-2:]) for o in outs] == [(-(-h // 4), -(-w // 4)), (-(-h // 2), -(-w // 2)), (h, w)]
        for m in (net.feat_extract[5], net.ConvsOut[0], net.ConvsOut[1]):
            m.main[0].weight.zero_()
            m.main[0].bias.zero_()
        q, hlf, full = net(x)
    assert torch.equal(full, x)
    assert torch.equal(hlf, x[:, :, ::2, ::2])  # nearest-downsampled input
    assert torch.equal(q, x[:, :, ::4, ::4])


@pytest.mark.parametrize("mode,size", [("convex", (32, 32)), ("convex", (37, 53)), ("residual", (37, 53))])
def test_mimo_kernel_head_is_a_local_symmetric_filter(mode, size):
    torch.manual_seed(0)
    net = MIMOUNet(base_channel=8, num_res=1, out_kernel=5, kernel_mode=mode)
    official = MIMOUNet(base_channel=8, num_res=1).state_dict()
    assert list(net.state_dict()) == list(official)  # official names; only the heads change shape
    changed = {k for k, v in net.state_dict().items() if v.shape != official[k].shape}
    assert changed == {f"{m}.main.0.{p}" for m in ("feat_extract.5", "ConvsOut.0", "ConvsOut.1")
                       for p in ("weight", "bias")}
    h, w = size
    x = torch.rand(2, 3, h, w)
    with torch.no_grad():
        init_weights(net)
        near = net(x)[-1]
        for p in net.parameters():  # any weights: the output stays a bounded mix of 5x5 neighbours
            p.normal_(0, 0.5)
        outs = net(x)
        grey = net(x[:, :1].expand(-1, 3, -1, -1))[-1]
        flat = net(torch.full((1, 3, h, w), 0.3))
        ramp = (torch.arange(w) * 0.01 + torch.arange(h)[:, None] * 0.005).expand(1, 3, h, w)
        ramp_out = net(ramp)[-1]
    assert [tuple(o.shape[-2:]) for o in outs] == [(-(-h // 4), -(-w // 4)), (-(-h // 2), -(-w // 2)), (h, w)]
    assert (near - x).abs().mean() < 0.1 * (outs[-1] - x).abs().mean()  # the fresh net is near the identity
    lo = -F.max_pool2d(F.pad(-x, (2, 2, 2, 2), mode="replicate"), 5, stride=1)
    hi = F.max_pool2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), 5, stride=1)
    if mode == "convex":  # inside the neighbourhood's range
        assert (outs[-1] >= lo - 1e-6).all() and (outs[-1] <= hi + 1e-6).all()
    else:  # pair weights within +-1/(k*k - 1): at most one neighbourhood range away from the input
        assert ((outs[-1] - x).abs() <= hi - lo + 1e-5).all()
        assert ((outs[-1] < lo - 1e-3) | (outs[-1] > hi + 1e-3)).any()  # it can sharpen, unlike convex
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(grey[:, 1], grey[:, 2])  # no colour cast
    assert all(torch.allclose(o, torch.full_like(o, 0.3)) for o in flat)
    # point-symmetric kernels have their centroid on the pixel: a linear ramp passes unchanged away
    # from the border, so T can smooth but never shift the image
    assert torch.allclose(ramp_out[..., 2:-2, 2:-2], ramp[..., 2:-2, 2:-2], atol=1e-5)
    assert (ramp_out - ramp).abs().max() > 1e-3  # (the border is replicate-padded, so it does move)
    with pytest.raises(ValueError, match="out_kernel"):
        MIMOUNet(base_channel=8, num_res=1, out_kernel=4)
    with pytest.raises(ValueError, match="kernel_mode"):
        MIMOUNet(base_channel=8, num_res=1, out_kernel=5, kernel_mode="free")

def test_mimo_feature_fusion_equals_the_official_concatenation():
    """AFF maps each level before upsampling (or after downsampling) it: the same numbers as the
    official 1x1 and 3x3 convs on the concatenation of the levels nearest-resized to one size."""
    torch.manual_seed(0)
    aff = AFF(8 * 7, 16).double()
    levels = [torch.rand(2, 8, 24, 40).double(), torch.rand(2, 16, 12, 20).double(), torch.rand(2, 32, 6, 10).double()]
    for size in ((24, 40), (12, 20)):
        resized = [F.interpolate(x, size=size, mode="nearest") for x in levels]
        assert torch.allclose(aff(levels, size), aff.conv(torch.cat(resized, dim=1)), rtol=0, atol=1e-12)


@pytest.mark.parametrize("mode", ["convex", "residual"])
def test_mimo_kernel_head_applies_its_per_pixel_kernels(mode):
    """The head (a sum over shifted views) equals the per-pixel kernels of `kernel_weights` applied
    tap by tap to the unfolded replicate-padded input."""
    torch.manual_seed(0)
    net = MIMOUNet(base_channel=8, num_res=1, out_kernel=5, kernel_mode=mode)
    x, y = torch.rand(2, 3, 11, 14), torch.randn(2, 13 if mode == "convex" else 12, 11, 14)
    taps = F.unfold(F.pad(x, (2, 2, 2, 2), mode="replicate"), 5).view(2, 3, 25, 11, 14)
    w = net.kernel_weights(y)
    if mode == "convex":
        assert w.shape == (2, 25, 11, 14) and torch.allclose(w.sum(1), torch.ones(2, 11, 14))
        want = (taps * w[:, None]).sum(2)
    else:  # pair i: taps i and 24 - i around the centre tap 12
        want = x + (w[:, None] * (taps[:, :, :12] + taps[:, :, 13:].flip(2) - 2 * x[:, :, None])).sum(2)
    assert torch.allclose(net._head(y, x), want, atol=1e-6)



def test_mimo_rejects_bad_input():
    with pytest.raises(ValueError, match="Nx3xHxW"):
        MIMOUNet(base_channel=8, num_res=1)(torch.rand(1, 1, 16, 16))


# ---------------------------------------------------------------- PatchGAN
def test_patchgan_output_and_receptive_field():
    torch.manual_seed(0)
    d = PatchGAN(ndf=8)
    assert d(torch.rand(2, 3, 64, 64)).shape == (2, 1, 6, 6)
    # Conv receptive field (norms removed: instance statistics would spread the gradient everywhere).
    probe = copy.deepcopy(d)
    for i, m in enumerate(probe.model):
        if isinstance(m, nn.InstanceNorm2d):
            probe.model[i] = nn.Identity()
    x = torch.rand(1, 3, 128, 128, requires_grad=True)
    out = probe(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = x.grad.abs().sum(dim=(0, 1, 3)).nonzero()
    cols = x.grad.abs().sum(dim=(0, 1, 2)).nonzero()
    assert int(rows.max() - rows.min() + 1) == 70
    assert int(cols.max() - cols.min() + 1) == 70


def test_patchgan_spectral_norm_bounds_every_conv_and_keeps_indices():
    torch.manual_seed(0)
    d = init_weights(PatchGAN(ndf=8, n_layers=2, spectral_norm=True), gain=0.5)
    keys = d.state_dict()
    assert "model.0.parametrizations.weight.original" in keys and "model.0.weight" not in keys
    assert not any(isinstance(m, nn.InstanceNorm2d) for m in d.modules())
    plain_layers = list(PatchGAN(ndf=8, n_layers=2).model)
    assert len(d.model) == len(plain_layers)  # same indices, hence the same key names otherwise
    assert all(isinstance(a, nn.Identity) == isinstance(b, nn.InstanceNorm2d) for a, b in zip(d.model, plain_layers))
    # init_weights reached the stored originals (std 0.5, far from the default init).
    assert abs(float(d.model[0].parametrizations.weight.original.detach().std()) - 0.5) < 0.1
    x = torch.rand(2, 3, 64, 64)
    for _ in range(20):  # power iterations run in train mode
        d(x)
    convs = [m for m in d.model if isinstance(m, nn.Conv2d)]
    assert len(convs) == 4
    for conv in convs:
        sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), 2)
        assert float(sigma) == pytest.approx(1.0, abs=0.02)
    # The plain PatchGAN's weights are not normalised.
    plain = init_weights(PatchGAN(ndf=8, n_layers=2), gain=0.5)
    assert float(torch.linalg.matrix_norm(plain.model[0].weight.detach().flatten(1), 2)) > 2


def test_init_weights():
    torch.manual_seed(0)
    d = init_weights(PatchGAN())
    w = d.model[8].weight.detach()
    assert abs(float(w.std()) - 0.02) < 0.002 and abs(float(w.mean())) < 0.002
    assert all(float(d.model[i].bias.detach().abs().max()) == 0.0 for i in (0, 2, 5, 8, 11))
    m = init_weights(MIMOUNet(base_channel=8, num_res=1))
    assert abs(float(m.Encoder[2].layers[0].main[0].main[0].weight.detach().std()) - 0.02) < 0.003


# ---------------------------------------------------------------- registry
def test_build_network():
    assert set(NETWORKS) >= {"nafnet", "mimo_unet", "patchgan"}
    assert isinstance(build_network("patchgan", ndf=8), PatchGAN)
    with pytest.raises(ValueError, match="available: .*mimo_unet"):
        build_network("resnet9000")
    with pytest.raises(ValueError, match="nafnet"):
        build_network("nafnet", no_such_arg=1)
