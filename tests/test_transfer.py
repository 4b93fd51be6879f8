"""Blur transfer with the kernel networks (blur2blur.kernel_space): single transfers at any size,
the transferred known-blur set K on disk, and online K for translator training."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from blur2blur.data.datasets import PairedCrops, infinite_loader
from blur2blur.data.layout import pair_by_stem
from blur2blur.io import read_image, write_image
from blur2blur.kernel_space import transfer_blur, transfer_image
from blur2blur.known_blur.transferred import OnlineKnownBlur, build_transferred_known_set
from blur2blur.nets.kernel_space import KernelWizard
from blur2blur.nets.weights import save_model
from tests.conftest import smooth_photo

TINY_NET = dict(nf=8, front_RBs=1, back_RBs=1, kernel_dim=16, recon_nf=8)


def tiny_wizard(seed: int = 0, **kw) -> KernelWizard:
    """A tiny wizard whose output depends visibly on the kernel code.

    At its default initialisation the kernel's effect on G's output is about 1e-7 (the trunks
    shrink signals); Kaiming-normal weights everywhere, with the last conv scaled by 0.1, make it
    about 1e-3 on average, well above float rounding.
    """
    torch.manual_seed(seed)
    net = KernelWizard(**{**TINY_NET, **kw})
    for m in net.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    with torch.no_grad():
        net.recon_trunk[-1].weight.mul_(0.1)
    return net


def box_blur(x: torch.Tensor, size: int = 3) -> torch.Tensor:
    p = size // 2
    return F.avg_pool2d(F.pad(x, (p, p, p, p), mode="replicate"), size, stride=1)


@pytest.fixture
def layout(tmp_path):
    """trainB: 3 sharp 50x70 targets; trainC/trainD: 3 known 64x64 pairs of different blurs."""
    rng = np.random.default_rng(11)
    for i in range(3):
        write_image(tmp_path / "trainB" / f"s{i}.png", smooth_photo(rng, 50, 70))
        x = torch.from_numpy(smooth_photo(rng, 64, 64)).permute(2, 0, 1)[None]
        write_image(tmp_path / "trainD" / f"k{i}.png", x[0])
        write_image(tmp_path / "trainC" / f"k{i}.png", box_blur(x, 2 * i + 3)[0])
    return tmp_path


def test_transfer_any_target_size_and_batching():
    net = tiny_wizard()
    xs = torch.rand(1, 3, 64, 64)
    ys = box_blur(xs)
    targets = torch.rand(2, 3, 50, 70)
    out = transfer_blur(net, targets, xs, ys)  # one source pair for a batch of targets
    assert out.shape == (2, 3, 50, 70)
    assert not out.requires_grad and out.min() >= 0 and out.max() <= 1
    single = transfer_blur(net, targets[1], xs[0], ys[0])  # CHW in, CHW out
    assert single.shape == (3, 50, 70)
    assert torch.allclose(single, out[1], atol=1e-5)
    # A large target with a small source: the 1x1 source map is spread over the 2x3 target map.
    assert transfer_blur(net, torch.rand(1, 3, 200, 300), xs, ys).shape == (1, 3, 200, 300)
    # The result depends on the source pair's blur.
    other = transfer_blur(net, targets, xs, box_blur(xs, 7))
    assert (out - other).abs().mean() > 1e-4


def test_transfer_runs_in_eval_without_grad_and_restores_mode():
    net = tiny_wizard(use_vae=False).train()
    x = torch.rand(1, 3, 40, 40, requires_grad=True)
    out = transfer_blur(net, x, torch.rand(1, 3, 40, 40), torch.rand(1, 3, 40, 40))
    assert not out.requires_grad
    assert net.training  # mode restored
    assert all(p.grad is None for p in net.parameters())


def test_vae_transfer_is_deterministic_in_eval():
    net = tiny_wizard(use_vae=True).train()
    x, xs = torch.rand(1, 3, 40, 40), torch.rand(1, 3, 40, 40)
    ys = box_blur(xs)
    assert torch.equal(transfer_blur(net, x, xs, ys), transfer_blur(net, x, xs, ys))


def test_transfer_image_numpy_wrapper(rng):
    net = tiny_wizard()
    target = smooth_photo(rng, 50, 70)
    src = smooth_photo(rng, 64, 64)
    src_blur = box_blur(torch.from_numpy(src).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    out = transfer_image(net, target, src, src_blur)
    assert out.shape == (50, 70, 3) and out.dtype == np.float32
    ref = transfer_blur(net, torch.from_numpy(target).permute(2, 0, 1), torch.from_numpy(src).permute(2, 0, 1),
                        torch.from_numpy(src_blur).permute(2, 0, 1))
    assert np.allclose(out, ref.permute(1, 2, 0).numpy(), atol=1e-6)


def test_known_set_is_deterministic_and_documented(layout, tmp_path):
    net = tiny_wizard()
    args = (layout / "trainB", layout / "trainC", layout / "trainD")
    a = build_transferred_known_set(net, *args, tmp_path / "K1", variants=2, seed=5, progress=False)
    b = build_transferred_known_set(net, *args, tmp_path / "K2", variants=2, seed=5, progress=False)
    assert [p.name for p in a] == [f"s{i}_t{v}.png" for i in range(3) for v in range(2)]
    assert [p.name for p in a] == [p.name for p in b]
    for pa, pb in zip(a, b):
        assert pa.read_bytes() == pb.read_bytes()
    man_a = json.loads((tmp_path / "K1" / "manifest.json").read_text())
    man_b = json.loads((tmp_path / "K2" / "manifest.json").read_text())
    assert man_a == man_b
    assert sorted(man_a) == sorted(p.name for p in a)
    for name, rec in man_a.items():
        assert rec["seed"] == 5
        assert rec["known_blur"] == rec["known_sharp"] == f"k{rec['pair_index']}.png"
        assert rec["size"] == [50, 70]
        assert read_image(tmp_path / "K1" / name).shape == (50, 70, 3)
    # Each output is the transfer of the pair the manifest names.
    rec = man_a["s1_t1.png"]
    expected = transfer_image(net, read_image(layout / "trainB" / "s1.png"),
                              read_image(layout / "trainD" / rec["known_sharp"]),
                              read_image(layout / "trainC" / rec["known_blur"]))
    assert np.abs(read_image(tmp_path / "K1" / "s1_t1.png") - expected).max() <= 0.5 / 255 + 1e-6
    # Another seed draws other pairs.
    build_transferred_known_set(net, *args, tmp_path / "K3", variants=2, seed=6, progress=False)
    man_c = json.loads((tmp_path / "K3" / "manifest.json").read_text())
    draws = lambda m: [m[k]["pair_index"] for k in sorted(m)]  # noqa: E731
    assert draws(man_c) != draws(man_a)


def test_known_set_from_checkpoint_path_and_max_side(layout, tmp_path):
    net = tiny_wizard()
    save_model(net, tmp_path / "kw", "kernel_wizard", TINY_NET)
    out = build_transferred_known_set(tmp_path / "kw", layout / "trainB", layout / "trainC",
                                      layout / "trainD", tmp_path / "K", seed=0, device="cpu",
                                      progress=False, max_side=35)
    assert len(out) == 3
    assert read_image(out[0]).shape == (25, 35, 3)
    man = json.loads((tmp_path / "K" / "manifest.json").read_text())
    assert man[out[0].name]["size"] == [25, 35]


def test_known_set_rejects_bad_input(layout, tmp_path):
    net = tiny_wizard()
    with pytest.raises(ValueError, match="variants"):
        build_transferred_known_set(net, layout / "trainB", layout / "trainC", layout / "trainD",
                                    tmp_path / "K", variants=0, progress=False)
    (layout / "trainC" / "k0.png").unlink()
    with pytest.raises(ValueError, match="k0"):
        build_transferred_known_set(net, layout / "trainB", layout / "trainC", layout / "trainD",
                                    tmp_path / "K", progress=False)


def test_online_known_blur_is_frozen_and_gradient_free(layout):
    net = tiny_wizard().train()
    pairs, _, _ = pair_by_stem(layout / "trainC", layout / "trainD")
    online = OnlineKnownBlur(net, PairedCrops(pairs, 32), batch_size=2, seed=0)
    assert not net.training and not any(p.requires_grad for p in net.parameters())

    T = torch.nn.Conv2d(3, 3, 3, padding=1)  # a stand-in translator
    b = torch.rand(2, 3, 48, 48)
    sharp = torch.rand(2, 3, 48, 48, requires_grad=True)
    k = online(sharp)
    assert k.shape == (2, 3, 48, 48) and not k.requires_grad and k.grad_fn is None
    assert all(p.grad is None for p in net.parameters())
    loss = (T(b) - k).abs().mean() + (T(k) - b).pow(2).mean()
    loss.backward()
    assert T.weight.grad is not None and T.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in net.parameters())
    assert sharp.grad is None

    # A fresh known batch every call: same sharp crops, different blur.
    fixed = torch.rand(2, 3, 48, 48)
    assert (online(fixed) - online(fixed)).abs().mean() > 1e-4
    # Even if someone switches the wizard back to training mode, calls run it in eval mode.
    net.train()
    online(fixed)
    assert not net.training


def test_online_known_blur_from_loader_and_batch_cycling(layout):
    net = tiny_wizard()
    pairs, _, _ = pair_by_stem(layout / "trainC", layout / "trainD")
    loader = infinite_loader(PairedCrops(pairs, 64, augment=False), 1, seed=0)
    online = OnlineKnownBlur(net, loader)
    out = online(torch.rand(3, 3, 40, 56))  # one known 64x64 pair for three 40x56 crops
    assert out.shape == (3, 3, 40, 56)
    # Tuples (blur, sharp) from a finite iterable work too, restarting when exhausted.
    xs = torch.rand(2, 3, 32, 32)
    online = OnlineKnownBlur(net, [(box_blur(xs), xs)])
    first, second = online(xs), online(xs)
    assert torch.equal(first, second)
    expected = transfer_blur(net, xs, xs, box_blur(xs))
    assert torch.allclose(first, expected, atol=1e-6)


def test_online_known_blur_is_seeded_and_resumable(layout):
    net = tiny_wizard()
    pairs, _, _ = pair_by_stem(layout / "trainC", layout / "trainD")
    sharp = torch.rand(2, 3, 32, 32)

    def make():
        return OnlineKnownBlur(net, PairedCrops(pairs, 32), batch_size=2, seed=3)

    first = make()
    run = [first(sharp) for _ in range(3)]
    resumed = make()
    resumed.start(2)  # e.g. the translator resuming at iteration 2
    assert torch.equal(resumed(sharp), run[2])
    again = make()
    assert torch.equal(again(sharp), run[0])
