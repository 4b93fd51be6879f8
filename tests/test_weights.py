"""Checkpoint handling: safe reading, wrappers, strict reports, our safetensors+JSON format."""

import json
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from blur2blur import __version__
from blur2blur.nets import MIMOUNet, NAFNet, PatchGAN
from blur2blur.nets.weights import (CheckpointFormatError, UnsafeCheckpointError, WeightsMismatchError,
                                    load_model, load_weights, read_model_meta, read_state_dict, save_model)

TINY_NAF = dict(width=8, middle_blk_num=1, enc_blk_nums=[1, 1], dec_blk_nums=[1, 1])


def write_marker(path):
    """What a malicious checkpoint would run: here it only creates a marker file."""
    Path(path).write_text("pwned")
    return {}


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (write_marker, (self.marker,))


def tiny_sd():
    torch.manual_seed(0)
    return PatchGAN(ndf=4, n_layers=1).state_dict()


def test_round_trip_save_load(tmp_path):
    torch.manual_seed(1)
    net = NAFNet(**TINY_NAF)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith(("beta", "gamma")):
                p.normal_()
    w_path, j_path = save_model(net, tmp_path / "ck" / "naf", "nafnet", TINY_NAF, extra={"iteration": 7})
    assert w_path == tmp_path / "ck" / "naf.safetensors" and w_path.is_file() and j_path.is_file()
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["naf.json", "naf.safetensors"]  # no temp files
    meta = json.loads(j_path.read_text())
    assert meta["network"] == "nafnet" and meta["kwargs"] == TINY_NAF
    assert meta["blur2blur_version"] == __version__ and meta["extra"] == {"iteration": 7}
    assert read_model_meta(tmp_path / "ck" / "naf.json")["network"] == "nafnet"

    loaded = load_model(tmp_path / "ck" / "naf", device="cpu")
    assert isinstance(loaded, NAFNet) and not loaded.training
    x = torch.rand(1, 3, 20, 24)
    with torch.no_grad():
        assert torch.equal(net.eval()(x), loaded(x))


def test_save_model_overwrites_atomically(tmp_path):
    net = PatchGAN(ndf=4, n_layers=1)
    save_model(net, tmp_path / "d.safetensors", "patchgan", {"ndf": 4, "n_layers": 1})
    with torch.no_grad():
        net.model[0].bias.fill_(3.0)
    save_model(net, tmp_path / "d", "patchgan", {"ndf": 4, "n_layers": 1})
    assert float(load_model(tmp_path / "d").model[0].bias.detach()[0]) == 3.0
    with pytest.raises(ValueError, match="JSON"):
        save_model(net, tmp_path / "e", "patchgan", {"ndf": object()})
    assert not (tmp_path / "e.json").exists()


@pytest.mark.parametrize("wrap", [
    lambda sd: sd,
    lambda sd: {"params": sd},
    lambda sd: {"params_ema": sd},
    lambda sd: {"model": sd, "epoch": 3},
    lambda sd: {"state_dict": {"module." + k: v for k, v in sd.items()}, "optimizer": {}},
    lambda sd: {"module." + k: v for k, v in sd.items()},
])
def test_read_state_dict_unwraps(tmp_path, wrap):
    sd = tiny_sd()
    torch.save(wrap(sd), tmp_path / "w.pth")
    got = read_state_dict(tmp_path / "w.pth")
    assert list(got) == list(sd)
    assert all(torch.equal(got[k], sd[k]) for k in sd)


def test_params_preferred_over_params_ema_unless_key(tmp_path):
    sd = tiny_sd()
    ema = {k: v + 1 for k, v in sd.items()}
    torch.save({"params": sd, "params_ema": ema}, tmp_path / "w.pth")
    assert torch.equal(read_state_dict(tmp_path / "w.pth")["model.0.bias"], sd["model.0.bias"])
    assert torch.equal(read_state_dict(tmp_path / "w.pth", key="params_ema")["model.0.bias"], ema["model.0.bias"])
    with pytest.raises(CheckpointFormatError, match="no entry 'ema'"):
        read_state_dict(tmp_path / "w.pth", key="ema")


def test_read_safetensors(tmp_path):
    sd = tiny_sd()
    save_file(sd, str(tmp_path / "w.safetensors"))
    got = read_state_dict(tmp_path / "w.safetensors")
    assert all(torch.equal(got[k], sd[k]) for k in sd)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("writer", ["torch", "torch_legacy", "pickle"])
def test_malicious_pickle_is_refused(tmp_path, writer):
    marker = tmp_path / "marker.txt"
    path = tmp_path / "evil.pth"
    payload = {"params": {"w": torch.zeros(2), "x": Evil(str(marker))}}
    if writer == "torch":
        torch.save(payload, path)
    elif writer == "torch_legacy":
        torch.save(payload, path, _use_new_zipfile_serialization=False)
    else:
        with open(path, "wb") as f:
            pickle.dump(payload, f)
    assert not marker.exists()
    with pytest.raises(UnsafeCheckpointError, match="contains code objects.*write_marker.*will not be loaded"):
        read_state_dict(path)
    with pytest.raises(UnsafeCheckpointError):
        load_weights(PatchGAN(ndf=4, n_layers=1), path)
    assert not marker.exists()


def test_unreadable_and_missing_files(tmp_path):
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointFormatError, match="junk.pth"):
        read_state_dict(tmp_path / "junk.pth")
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        read_state_dict(tmp_path / "nope.pth")
    torch.save({"optimizer": {"lr": torch.tensor(1.0)}, "epoch": 1}, tmp_path / "opt.pth")
    with pytest.raises(CheckpointFormatError, match="top-level keys"):
        read_state_dict(tmp_path / "opt.pth")


def test_mismatch_reports_key_names():
    model = PatchGAN(ndf=4, n_layers=1)
    sd = dict(model.state_dict())
    del sd["model.2.weight"]
    sd["extra.weight"] = torch.zeros(1)
    sd["model.0.bias"] = torch.zeros(5)
    with pytest.raises(WeightsMismatchError) as err:
        load_weights(model, sd)
    msg = str(err.value)
    assert "model.2.weight" in msg and "extra.weight" in msg and "model.0.bias" in msg and "(5,)" in msg
    before = model.model[0].bias.detach().clone()
    report = load_weights(model, sd, strict=False)
    assert report.missing == ["model.2.weight"] and report.unexpected == ["extra.weight"]
    assert len(report.mismatched) == 1 and report.mismatched[0].startswith("model.0.bias")
    assert torch.equal(model.model[0].bias, before)  # mismatched entry skipped, not loaded
    assert torch.equal(model.model[5].weight, sd["model.5.weight"])  # the rest loaded


def test_official_style_checkpoints_load_strictly(tmp_path):
    torch.manual_seed(0)
    src = MIMOUNet(base_channel=8, num_res=1)
    torch.save({"model": src.state_dict()}, tmp_path / "mimo.pkl")  # MIMO-UNet layout
    dst = MIMOUNet(base_channel=8, num_res=1)
    assert load_weights(dst, tmp_path / "mimo.pkl").ok
    assert all(torch.equal(a, b) for a, b in zip(src.state_dict().values(), dst.state_dict().values()))

    naf = NAFNet(**TINY_NAF)
    torch.save({"params": naf.state_dict()}, tmp_path / "naf.pth")  # NAFNet/BasicSR layout
    assert load_weights(NAFNet(**TINY_NAF), tmp_path / "naf.pth").ok
    with pytest.raises(WeightsMismatchError, match="missing"):
        load_weights(NAFNet(width=8, middle_blk_num=1, enc_blk_nums=[1, 2], dec_blk_nums=[1, 1]),
                     tmp_path / "naf.pth")
