"""Speed paths agree with the reference path: channels-last (float32) to float rounding, bfloat16
autocast to a stated tolerance; `amp` resolves as documented; the pipeline tiles large images."""

import ctypes
import os
import platform
import subprocess
import sys

import pytest
import torch

from blur2blur.infer.pipeline import DeblurPipeline
from blur2blur.nets import build_network
from blur2blur.nets.vgg import VGGFeatures
from blur2blur.perf import (AMP_CHOICES, autocast, configure_allocator, configure_threads, cpu_flags, native_bf16,
                            resolve_amp, to_channels_last)

# Tiny versions of every network the product runs (translators, deblurrers, D, kernel network).
NETS = {
    "mimo_unet": dict(base_channel=8, num_res=1),
    "unet": dict(base_channel=8, levels=2),
    "nafnet_3scales": dict(width=8, enc_blk_nums=[1, 1], middle_blk_num=1, dec_blk_nums=[1, 1]),
    "nafnet": dict(width=8, enc_blk_nums=[1, 1], middle_blk_num=1, dec_blk_nums=[1, 1]),
    "restormer": dict(dim=8, num_blocks=[1, 1, 1, 1], num_refinement_blocks=1, heads=[1, 1, 2, 2]),
    "patchgan": dict(ndf=8, n_layers=2),
}
# bfloat16 keeps 8 significant bits (relative rounding 2^-9 per value); through a few layers of
# random weights the outputs differ by a few of those steps (measured: 0.05-0.4% of the largest
# output for the image networks, 1.1% for PatchGAN logits). Stated tolerance, relative to the
# output's largest magnitude:
BF16_TOL = 0.03


def _outputs(net, x):
    out = net(x)
    return [o.float() for o in out] if isinstance(out, (list, tuple)) else [out.float()]


@pytest.fixture(params=sorted(NETS))
def net_and_input(request):
    torch.manual_seed(0)
    net = build_network(request.param, **NETS[request.param]).eval()
    x = torch.rand(2, 3, 48, 48, generator=torch.Generator().manual_seed(1))
    return net, x


def test_channels_last_matches_contiguous_in_float32(net_and_input):
    net, x = net_and_input
    with torch.no_grad():
        ref = _outputs(net, x)
        fast = _outputs(to_channels_last(net), to_channels_last(x))
    for r, f in zip(ref, fast):
        assert f.shape == r.shape
        assert (f - r).abs().max() <= 1e-5 * max(1.0, r.abs().max().item())


def test_bfloat16_autocast_matches_float32_within_tolerance(net_and_input):
    net, x = net_and_input
    with torch.no_grad():
        ref = _outputs(net, x)
        with autocast(True, "cpu"):
            low = _outputs(to_channels_last(net), to_channels_last(x))
    for r, f in zip(ref, low):
        assert f.dtype == torch.float32 and f.shape == r.shape
        err = (f - r).abs().max().item()
        assert err <= BF16_TOL * r.abs().max().item(), err
        assert err > 0  # it really ran in bfloat16


def test_vgg_features_in_bfloat16_within_tolerance():
    torch.manual_seed(0)
    vgg = VGGFeatures(arch="vgg16", layers=("relu2_2", "relu3_3"), weights="random", requires_grad=False)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        ref = vgg(x)
        with autocast(True, "cpu"):
            low = vgg(to_channels_last(x))
    for r, f in zip(ref, low):
        assert (f.float() - r).abs().max() <= BF16_TOL * r.abs().max()


def test_amp_choices_resolve_as_documented():
    assert AMP_CHOICES == ("auto", "bf16", "none")
    assert resolve_amp("bf16", "cpu") is True
    assert resolve_amp("none", "cpu") is False
    flags = cpu_flags()
    assert resolve_amp("auto", "cpu") == (flags["avx512_bf16"] or flags["amx_bf16"]) == native_bf16("cpu")
    with pytest.raises(ValueError, match="amp must be one of auto, bf16, none; got 'fp16'"):
        resolve_amp("fp16", "cpu")


def test_trainer_rejects_an_unknown_amp():
    from blur2blur.train.config import TranslatorConfig
    from blur2blur.train.presets import make_config
    from blur2blur.train.translator_trainer import TranslatorTrainer

    with pytest.raises(ValueError, match="amp='float16'"):
        make_config(TranslatorConfig, "cpu-small", ["amp=float16", "perc_weights=random"])
    cfg = make_config(TranslatorConfig, "cpu-small", ["perc_weights=random"])
    cfg.amp = "float16"  # (set after validation: the trainer checks again)
    with pytest.raises(ValueError, match="amp must be one of"):
        TranslatorTrainer(cfg, torch.device("cpu"))


def test_configure_threads_respects_an_explicit_setting(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert configure_threads() == before


GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
MALLINFO2 = GLIBC and hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2")  # (glibc 2.33 and later)
# In a fresh interpreter: a 64 MB tensor (above glibc's largest mmap threshold) is a mapping of its
# own before configure_allocator and comes from the heap after it; once freed, its pages stay
# resident (kept for reuse) until trim_heap hands them back.
ALLOCATOR_PROBE = """
import ctypes
import torch
from blur2blur.perf import configure_allocator, trim_heap
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                               "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
def mapped_with(n):
    x = torch.empty(n, dtype=torch.uint8)
    return libc.mallinfo2().hblkhd >= n
def resident_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20
before = mapped_with(64 << 20)
applied = configure_allocator()
after = mapped_with(64 << 20)
x = torch.ones(64 << 20, dtype=torch.uint8)
base = resident_mb() - 64
del x
kept = resident_mb() - base
trim_heap()
print(before, applied, after, kept > 48, resident_mb() - base < 16)
"""


@pytest.mark.skipif(not MALLINFO2, reason="needs glibc >= 2.33 (mallinfo2) to see where a block came from")
def test_configure_allocator_serves_large_blocks_from_the_heap_and_trim_heap_returns_them():
    out = subprocess.run([sys.executable, "-c", ALLOCATOR_PROBE], capture_output=True, text=True, check=True,
                         env={k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")})
    assert out.stdout.split() == ["True", "True", "False", "True", "True"]


def test_configure_allocator_leaves_an_explicit_glibc_setting_and_other_c_libraries_alone(monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_MAX_", "0")
    assert configure_allocator.__wrapped__() is False
    monkeypatch.delenv("MALLOC_MMAP_MAX_")
    monkeypatch.setattr(platform, "libc_ver", lambda: ("musl", "1.2"))
    assert configure_allocator.__wrapped__() is False


def _pipeline_nets():
    torch.manual_seed(0)
    tra = build_network("mimo_unet", **NETS["mimo_unet"])
    deb = build_network("nafnet", **NETS["nafnet"])
    return deb, tra


def test_pipeline_fast_paths_agree_with_the_reference_path():
    deb, tra = _pipeline_nets()
    y = torch.rand(1, 3, 40, 56, generator=torch.Generator().manual_seed(2))
    ref = DeblurPipeline(deb, tra, device="cpu", amp="none", channels_last=False, tile=0).run_tensor(y)
    f32 = DeblurPipeline(deb, tra, device="cpu", amp="none", channels_last=True, tile=0).run_tensor(y)
    low = DeblurPipeline(deb, tra, device="cpu", amp="bf16", channels_last=True, tile=0).run_tensor(y)
    for key in ("translated", "deblurred"):
        assert ref[key].shape == (1, 3, 40, 56)
        assert (f32[key] - ref[key]).abs().max() <= 1e-5
        assert (low[key] - ref[key]).abs().max() <= BF16_TOL  # outputs are on the [0,1] scale
    assert not any(p.requires_grad for p in deb.parameters())  # frozen: no gradient buffers


def test_pipeline_tiles_large_images_with_feathered_seams():
    deb, tra = _pipeline_nets()
    y = torch.rand(1, 3, 80, 112, generator=torch.Generator().manual_seed(3))
    whole = DeblurPipeline(deb, tra, device="cpu", amp="none", tile=0).run_tensor(y)
    tiled = DeblurPipeline(deb, tra, device="cpu", amp="none", tile=48, tile_overlap=16).run_tensor(y)
    for key in ("translated", "deblurred"):
        assert tiled[key].shape == whole[key].shape
        diff = (tiled[key] - whole[key]).abs()
        # networks with a finite receptive field differ from the whole-image result only near
        # seams, and there only a little, thanks to the feathered overlap
        assert diff.mean() < 0.01 and diff.max() < 0.2
    with pytest.raises(ValueError, match="tile must be"):
        DeblurPipeline(deb, tra, device="cpu", tile=-16)


def test_tiled_pipeline_runs_each_network_once_per_tile():
    deb, tra = _pipeline_nets()
    calls = {"translator": 0, "deblurrer": 0}
    tra.register_forward_hook(lambda *a: calls.__setitem__("translator", calls["translator"] + 1))
    deb.register_forward_hook(lambda *a: calls.__setitem__("deblurrer", calls["deblurrer"] + 1))
    DeblurPipeline(deb, tra, device="cpu", amp="none", tile=48, tile_overlap=16).run_tensor(torch.rand(1, 3, 80, 112))
    assert calls == {"translator": 6, "deblurrer": 6}  # 2 x 3 tiles
