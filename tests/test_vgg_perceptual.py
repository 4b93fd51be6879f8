"""VGG feature trunks (torchvision layout, weight sources, pooling) and the perceptual loss."""

import warnings

import pytest
import torch
import torch.nn.functional as F

from blur2blur.losses.perceptual import PERCEPTUAL_PRESETS, PerceptualLoss
from blur2blur.nets import vgg as vgg_mod
from blur2blur.nets.vgg import BlurMaxPool, VGGFeatures, stlpips_to_torchvision, stlpips_weight_path, vgg_layout
from blur2blur.nets.weights import read_state_dict

STLPIPS = stlpips_weight_path()
needs_stlpips = pytest.mark.skipif(STLPIPS is None, reason="stlpips-pytorch not installed")


def random_vgg(**kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(kw.pop("seed", 0))
        return VGGFeatures(weights="random", **kw)


def test_layout_matches_torchvision_indices():
    mods, names = vgg_layout("vgg16")
    assert [i for i, m in enumerate(mods) if m[0] == "conv"] == [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    assert [i for i, m in enumerate(mods) if m[0] == "pool"] == [4, 9, 16, 23, 30]
    # The official Blur2Blur cut points 7, 14, 17, 21, 24 are these layers:
    assert [names[n] for n in ("conv2_2", "conv3_3", "conv4_1", "conv4_3", "conv5_1")] == [7, 14, 17, 21, 24]
    mods19, names19 = vgg_layout("vgg19")
    convs19 = [i for i, m in enumerate(mods19) if m[0] == "conv"]
    assert convs19 == [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
    assert names19["relu5_4"] == 35 and names19["pool5"] == 36
    with pytest.raises(ValueError, match="unknown VGG arch"):
        vgg_layout("vgg11")


def test_random_weights_warn_and_bad_layer_names():
    with pytest.warns(UserWarning, match="RANDOM"):
        VGGFeatures(layers=("relu1_2",), weights="random")
    with pytest.raises(ValueError, match="unknown vgg16 layer.*relu3_4"):
        random_vgg(layers=("relu3_4",))


def test_pre_and_post_relu_and_truncation():
    net = random_vgg(layers=("conv2_2", "relu2_2", "relu1_1"))
    assert len(net.features) == 9  # stops after relu2_2 (index 8)
    assert not any(getattr(m, "inplace", False) for m in net.features)
    assert not any(p.requires_grad for p in net.parameters()) and not net.training
    conv, relu, r11 = net(torch.rand(2, 3, 32, 32))
    assert conv.shape == relu.shape == (2, 128, 16, 16) and r11.shape == (2, 64, 32, 32)
    assert conv.min() < 0  # pre-ReLU kept intact (no in-place ReLU)
    assert torch.equal(relu, conv.clamp_min(0))


def test_torchvision_format_round_trip(tmp_path):
    src = random_vgg(layers=("relu3_3", "relu5_3"), seed=1)
    sd = dict(src.state_dict())
    assert all(k.startswith("features.") for k in sd) and "features.28.weight" in sd
    sd["classifier.0.weight"] = torch.zeros(4, 4)  # torchvision files carry the classifier too
    torch.save(sd, tmp_path / "vgg16-test.pth")
    dst = VGGFeatures(layers=("relu3_3", "relu1_2"), weights=str(tmp_path / "vgg16-test.pth"))
    assert dst.weights_kind == "torchvision" and dst.pool == "max"
    for k, v in dst.state_dict().items():
        assert torch.equal(v, sd[k]), k
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(dst(x)[0], src(x)[0])
    assert "vgg16-test.pth" in dst.describe_weights()

    del sd["features.5.weight"]
    torch.save(sd, tmp_path / "broken.pth")
    with pytest.raises(ValueError, match="features.5.weight"):
        VGGFeatures(layers=("relu3_3",), weights=str(tmp_path / "broken.pth"))


def test_auto_prefers_hub_cache_and_errors_clearly(tmp_path, monkeypatch):
    monkeypatch.setattr(vgg_mod.torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(FileNotFoundError, match="weights='random'"):
        VGGFeatures(arch="vgg19", layers=("relu1_2",), weights="auto")
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    sd = random_vgg(arch="vgg19", layers=("relu2_2",), seed=3).state_dict()
    torch.save(sd, tmp_path / "hub" / "checkpoints" / "vgg19-abcdef.pth")
    net = VGGFeatures(arch="vgg19", layers=("relu2_2",), weights="auto")
    assert net.weights_kind == "torchvision" and "vgg19-abcdef.pth" in net.describe_weights()
    assert torch.equal(net.features[7].weight, sd["features.7.weight"])


def test_blur_pool():
    pool = BlurMaxPool()
    x = torch.rand(2, 4, 9, 12)
    y = pool(x)
    assert y.shape == (2, 4, 9 // 2 + 1, 12 // 2 + 1)
    m = F.pad(F.max_pool2d(x, 2, stride=1), (2, 2, 2, 2), mode="reflect")
    k = torch.tensor([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16
    assert torch.allclose(y[0, 1, 2, 3], (m[0, 1, 4:7, 6:9] * k).sum(), atol=1e-6)
    assert torch.allclose(pool(torch.full((1, 2, 8, 8), 0.3)), torch.full((1, 2, 5, 5), 0.3))
    assert list(pool.state_dict()) == []  # keeps torchvision's key set


@needs_stlpips
def test_stlpips_trunk_loads_every_conv_and_is_trained():
    raw = read_state_dict(STLPIPS)
    mapped = stlpips_to_torchvision(raw)
    assert len(mapped) == 26  # 13 convs, weight + bias
    layers = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
    net = VGGFeatures(layers=layers, weights="auto", normalize=True)
    assert net.weights_kind == "stlpips" and net.pool == "blur"
    assert isinstance(net.features[4], BlurMaxPool)
    assert set(net.state_dict()) == set(mapped)
    for k, v in net.state_dict().items():
        assert torch.equal(v, mapped[k]), k
    # conv order: the stlpips index of the i-th conv is the torchvision index + pools before it
    assert torch.equal(net.features[17].weight, raw["net.slice4.20.weight"])
    assert torch.equal(net.features[28].bias, raw["net.slice5.32.bias"])
    # scaling layer = ImageNet normalisation in LPIPS's [-1,1] convention
    mean = (1 + raw["scaling_layer.shift"].flatten()) / 2
    assert torch.allclose(mean, torch.tensor(vgg_mod.IMAGENET_MEAN), atol=1e-6)
    assert torch.allclose(raw["scaling_layer.scale"].flatten() / 2, torch.tensor(vgg_mod.IMAGENET_STD), atol=1e-6)

    # Trained features are sparse after ReLU; random ones fire about half the time.
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 48), torch.linspace(0, 1, 48), indexing="ij")
    img = torch.stack([xx, yy, ((xx * 6).floor() + (yy * 6).floor()) % 2])[None]
    rnd = random_vgg(layers=layers, normalize=True)
    with torch.no_grad():
        trained_active = [float((f > 0).float().mean()) for f in net(img)]
        random_active = [float((f > 0).float().mean()) for f in rnd(img)]
    assert trained_active[2] < 0.25 and trained_active[3] < 0.25
    assert random_active[2] > 0.35 and random_active[3] > 0.35


# ---------------------------------------------------------------- perceptual loss
def tiny_loss(**kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(0)
        return PerceptualLoss(layers=("relu1_2", "conv2_1"), layer_weights=(0.5, 1.0), weights="random", **kw)


def test_perceptual_zero_for_identical_and_gradients_only_to_x():
    loss = tiny_loss()
    y = torch.rand(2, 3, 32, 32, requires_grad=True)
    x = y.detach().clone().requires_grad_(True)
    assert float(loss(x, y).detach()) == 0.0
    x2 = (y.detach() + 0.1 * torch.randn_like(y)).requires_grad_(True)
    value = loss(x2, y)
    assert value.ndim == 0 and float(value.detach()) > 0
    value.backward()
    assert x2.grad is not None and float(x2.grad.abs().sum()) > 0
    assert y.grad is None
    assert all(p.grad is None and not p.requires_grad for p in loss.parameters())
    loss.train()
    assert not loss.vgg.training


def test_perceptual_weights_and_reductions():
    loss_mean, loss_sum = tiny_loss(), tiny_loss(per_element=False)
    x, y = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    fx, fy = loss_mean.vgg(x), loss_mean.vgg(y)
    expect_mean = 0.5 * (fx[0] - fy[0]).abs().mean() + (fx[1] - fy[1]).abs().mean()
    expect_sum = 0.5 * (fx[0] - fy[0]).abs().sum() + (fx[1] - fy[1]).abs().sum()
    assert torch.allclose(loss_mean(x, y), expect_mean, rtol=1e-5)
    assert torch.allclose(loss_sum(x, y), expect_sum, rtol=1e-5)
    with pytest.raises(ValueError, match="layer_weights"):
        PerceptualLoss(layers=("relu1_2",), layer_weights=(1.0, 2.0), weights="random")
    with pytest.raises(ValueError, match="shapes differ"):
        loss_mean(x, y[:, :, :16])


def test_defaults_are_the_official_preset():
    import inspect

    sig = inspect.signature(PerceptualLoss)
    off = PERCEPTUAL_PRESETS["official"]
    assert sig.parameters["layers"].default == off["layers"] == ("relu2_2", "relu3_3", "relu4_1", "relu4_3", "conv5_1")
    assert sig.parameters["layer_weights"].default == off["layer_weights"]
    assert sig.parameters["arch"].default == "vgg16" and sig.parameters["normalize"].default is False
    assert PERCEPTUAL_PRESETS["paper"]["arch"] == "vgg19"


@needs_stlpips
def test_official_preset_runs_on_stlpips_at_small_size():
    loss = PerceptualLoss.from_preset("official")
    assert loss.vgg.weights_kind == "stlpips"
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    y = torch.rand(1, 3, 32, 32)
    value = loss(x, y)
    value.backward()
    assert float(value.detach()) > 0 and x.grad.abs().sum() > 0
