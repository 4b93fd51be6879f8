"""Training and loading of the bkse kernel networks F+G (blur2blur.train.kernels) at tiny size."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from blur2blur.io import write_image
from blur2blur.kernel_space.load import infer_net_kwargs, load_kernel_wizard
from blur2blur.nets.kernel_space import KernelWizard
from blur2blur.nets.weights import WeightsMismatchError, load_model, save_model
from blur2blur.train.config import KernelConfig
from blur2blur.train.kernels import KernelTrainer, train_kernels
from blur2blur.train.presets import make_config
from tests.conftest import smooth_photo

TINY_NET = dict(nf=8, front_RBs=1, back_RBs=1, kernel_dim=16, recon_nf=8)
TINY = [f"{k}={v}" for k, v in TINY_NET.items()] + [
    "crop=32", "batch=2", "iters=2", "log_every=1", "save_every=1", "lr=1e-3", "restart_every=10"]


def box_blur(x: torch.Tensor, size: int = 3) -> torch.Tensor:
    """size x size box blur of NCHW x with replicate borders."""
    p = size // 2
    return F.avg_pool2d(F.pad(x, (p, p, p, p), mode="replicate"), size, stride=1)


def fixed_pair(h: int = 48, w: int = 48):
    x = torch.from_numpy(smooth_photo(np.random.default_rng(3), h, w)).permute(2, 0, 1)[None].contiguous()
    return x, box_blur(x)


def write_pairs(root, n: int = 3, h: int = 40, w: int = 48):
    rng = np.random.default_rng(7)
    for i in range(n):
        x = torch.from_numpy(smooth_photo(rng, h, w)).permute(2, 0, 1)[None]
        write_image(root / "sharp" / f"p{i}.png", x[0])
        write_image(root / "blur" / f"p{i}.png", box_blur(x)[0])
    return root / "blur", root / "sharp"


def test_recipe_step_changes_weights_and_checkpoint_loads(tmp_path):
    blur, sharp = write_pairs(tmp_path)
    cfg = make_config(KernelConfig, "cpu-small", TINY)
    torch.manual_seed(cfg.seed)
    init = KernelWizard(**cfg.net_kwargs()).state_dict()  # the recipe seeds the same way
    ckpt = train_kernels(blur, sharp, tmp_path / "run", cfg, preset="cpu-small", device="cpu",
                         progress=False)
    assert ckpt == tmp_path / "run" / "kernel_wizard"
    net = load_kernel_wizard(ckpt)
    assert isinstance(net, KernelWizard) and not net.training
    trained = net.state_dict()
    assert set(trained) == set(init)
    changed = [k for k in init if not torch.equal(init[k], trained[k])]
    assert len(changed) > len(init) // 2
    # Also loadable with the generic loader, and by the explicit file names.
    assert isinstance(load_model(ckpt), KernelWizard)
    assert isinstance(load_kernel_wizard(str(ckpt) + ".safetensors"), KernelWizard)
    meta = json.loads((tmp_path / "run" / "kernel_wizard.json").read_text())
    assert meta["network"] == "kernel_wizard" and meta["kwargs"]["kernel_dim"] == 16
    assert meta["extra"]["iteration"] == 2
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2]
    assert all(np.isfinite(r["loss/total"]) and np.isfinite(r["train/psnr"]) for r in log)
    assert "loss/kl" not in log[0] and log[0]["train/lr"] > 0
    assert (tmp_path / "run" / "config.yaml").is_file()
    with torch.no_grad():
        assert net(torch.rand(1, 3, 37, 53), torch.rand(1, 3, 37, 53)).shape == (1, 3, 37, 53)


def test_resume_continues_exactly(tmp_path):
    blur, sharp = write_pairs(tmp_path, n=2)  # fewer pairs than the batch: epochs repeat them
    cfg3 = make_config(KernelConfig, "cpu-small", TINY + ["batch=3", "iters=3"])
    cfg2 = make_config(KernelConfig, "cpu-small", TINY + ["batch=3", "iters=2"])
    whole = train_kernels(blur, sharp, tmp_path / "whole", cfg3, device="cpu", progress=False)
    train_kernels(blur, sharp, tmp_path / "parts", cfg2, device="cpu", progress=False)
    assert (tmp_path / "parts" / "checkpoints" / "state_00000002.pt").is_file()
    parts = train_kernels(blur, sharp, tmp_path / "parts", cfg3, device="cpu", progress=False,
                          resume=True)
    a, b = load_kernel_wizard(whole).state_dict(), load_kernel_wizard(parts).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_loss_decreases_on_a_fixed_pair():
    cfg = make_config(KernelConfig, "cpu-small", TINY + ["restart_every=100"])
    torch.manual_seed(0)
    trainer = KernelTrainer(cfg, "cpu")
    x, y = fixed_pair()
    losses = [trainer.step(x, y)["loss/total"] for _ in range(20)]
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3]), losses


def test_psnr_reports_reconstruction_quality():
    cfg = make_config(KernelConfig, "cpu-small", TINY)
    torch.manual_seed(0)
    trainer = KernelTrainer(cfg, "cpu")
    x, y = fixed_pair()
    out = trainer.step(x, y)
    with torch.no_grad():
        trainer.net.train()
        k = trainer.net.extract(x, y)
        mse = (trainer.net.adapt(x, k).clamp(0, 1) - y).pow(2).mean()
    # The reported PSNR is that of the step's reconstruction (before the update), close to now.
    assert out["train/psnr"] == pytest.approx(float(10 * torch.log10(1 / mse)), abs=1.5)
    assert 5 < out["train/psnr"] < 60


def test_lr_follows_warm_restarts():
    cfg = make_config(KernelConfig, "cpu-small", TINY + ["restart_every=4", "lr_min=0"])
    trainer = KernelTrainer(cfg, "cpu")
    x, y = fixed_pair(32, 32)
    lrs = []
    for _ in range(5):
        lrs.append(trainer.opt.param_groups[0]["lr"])
        trainer.step(x, y)
    assert lrs[0] == pytest.approx(cfg.lr)
    assert lrs[2] == pytest.approx(cfg.lr / 2)
    assert lrs[1] > lrs[2] > lrs[3]
    assert lrs[4] == pytest.approx(cfg.lr)  # restarted


def test_vae_variant_adds_a_finite_kl_term():
    cfg = make_config(KernelConfig, "cpu-small", TINY + ["use_vae=true", "kl_weight=0.01"])
    torch.manual_seed(0)
    trainer = KernelTrainer(cfg, "cpu")
    x, y = fixed_pair(32, 32)
    out = trainer.step(x, y)
    assert out["loss/kl"] > 0
    assert out["loss/total"] == pytest.approx(out["loss/charbonnier"] + 0.01 * out["loss/kl"], rel=1e-5)


def test_non_finite_loss_leaves_weights_alone():
    cfg = make_config(KernelConfig, "cpu-small", TINY)
    trainer = KernelTrainer(cfg, "cpu")
    before = {k: v.clone() for k, v in trainer.net.state_dict().items()}
    x, y = fixed_pair(32, 32)
    x[0, 0, 5, 5] = float("nan")
    out = trainer.step(x, y)
    assert not np.isfinite(out["loss/total"])
    after = trainer.net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert trainer.opt.state == {}  # no optimiser step either


def test_recipe_stops_on_a_non_finite_loss(tmp_path, monkeypatch):
    import blur2blur.train.kernels as kernels

    blur, sharp = write_pairs(tmp_path)
    cfg = make_config(KernelConfig, "cpu-small", TINY + ["iters=3", "save_every=1"])
    calls = []

    def flaky(x, y, eps):
        calls.append(1)
        value = torch.sqrt((x - y) ** 2 + eps * eps).mean()
        return value * float("nan") if len(calls) == 2 else value

    monkeypatch.setattr(kernels, "charbonnier", flaky)
    with pytest.raises(FloatingPointError, match="loss/total.*iteration 2"):
        train_kernels(blur, sharp, tmp_path / "run", cfg, device="cpu", progress=False)
    meta = json.loads((tmp_path / "run" / "kernel_wizard.json").read_text())
    assert meta["extra"]["iteration"] == 1  # the good checkpoint is kept


def test_plain_state_dict_loads_with_and_without_kwargs(tmp_path):
    torch.manual_seed(1)
    net = KernelWizard(**TINY_NET)
    path = tmp_path / "GOPRO_tiny.pth"
    torch.save(net.state_dict(), path)  # plain dict, as the official bkse files
    x, y = fixed_pair(32, 32)
    with torch.no_grad():
        expected = net.eval()(x, y)
    for kwargs in (TINY_NET, None):  # explicit config, then inferred from the keys
        loaded = load_kernel_wizard(path, net_kwargs=kwargs)
        assert not loaded.training
        with torch.no_grad():
            assert torch.equal(loaded(x, y), expected)
    # A wrong explicit config is refused by the strict load, naming keys.
    with pytest.raises(WeightsMismatchError, match="recon_trunk|adapter|feature"):
        load_kernel_wizard(path, net_kwargs={**TINY_NET, "kernel_dim": 32})


def test_plain_safetensors_without_json_is_a_state_dict(tmp_path):
    from safetensors.torch import save_file

    net = KernelWizard(**TINY_NET, use_vae=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "kw.safetensors"))
    loaded = load_kernel_wizard(tmp_path / "kw")
    assert loaded.use_vae and loaded.kernel_dim == 16


def test_infer_kwargs_of_the_official_configuration():
    with torch.device("meta"):
        sd = KernelWizard().state_dict()
    assert infer_net_kwargs(sd) == {"nf": 64, "front_RBs": 10, "back_RBs": 20, "kernel_dim": 512,
                                    "input_nc": 3, "use_vae": False, "recon_nf": 64}
    with pytest.raises(ValueError, match="not a bkse"):
        infer_net_kwargs({"conv.weight": torch.zeros(1)})


def test_loader_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="no kernel-network weights"):
        load_kernel_wizard(tmp_path / "missing")
    from blur2blur.nets import build_network

    kwargs = {"input_nc": 3, "ndf": 8, "n_layers": 2}
    save_model(build_network("patchgan", **kwargs), tmp_path / "disc", "patchgan", kwargs)
    with pytest.raises(ValueError, match="not kernel networks"):
        load_kernel_wizard(tmp_path / "disc")
    save_model(KernelWizard(**TINY_NET), tmp_path / "kw", "kernel_wizard", TINY_NET)
    assert isinstance(load_kernel_wizard(tmp_path / "kw.json"), KernelWizard)
