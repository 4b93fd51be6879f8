"""The model out of the tool (issue #22): the Python API (and the README's example), ONNX and
TorchScript export with parity against PyTorch, and `deblur --onnx`."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch

import blur2blur
from blur2blur.cli import main
from blur2blur.infer.pipeline import DeblurPipeline
from blur2blur.io import read_image, write_image
from blur2blur.nets import build_network
from blur2blur.nets.weights import save_model
from tests.conftest import smooth_photo

NAF = {"width": 8, "enc_blk_nums": [1, 1], "middle_blk_num": 1, "dec_blk_nums": [1, 1]}
MIMO = {"base_channel": 8, "num_res": 1, "out_kernel": 5}


def _checkpoints(folder: Path) -> tuple[Path, Path]:
    torch.manual_seed(0)
    deb, tra = build_network("nafnet", **NAF), build_network("mimo_unet", **MIMO)
    with torch.no_grad():  # (non-trivial weights: a zero-initialised head would hide errors)
        for p in list(deb.parameters()) + list(tra.parameters()):
            p.add_(0.05 * torch.randn_like(p))
    save_model(deb, folder / "deb", "nafnet", NAF)
    save_model(tra, folder / "tra", "mimo_unet", MIMO)
    return folder / "deb", folder / "tra"


def test_api_takes_and_returns_each_kind_of_image(tmp_path):
    deb, tra = _checkpoints(tmp_path)
    model = blur2blur.load_pipeline(deb, translator=tra, device="cpu", amp="none")
    pipe = DeblurPipeline.from_checkpoints(deb, tra, "cpu", amp="none")
    img = smooth_photo(np.random.default_rng(0), 40, 56)
    want = pipe.run(img)["deblurred"]
    out = model(img)
    assert out.dtype == np.float32 and out.shape == img.shape and np.allclose(out, want, atol=1e-6)
    u8 = model((img * 255).round().astype(np.uint8))
    assert u8.dtype == np.uint8 and u8.shape == img.shape
    from PIL import Image

    pil = model(Image.fromarray((img * 255).round().astype(np.uint8)))
    assert isinstance(pil, Image.Image) and pil.size == (56, 40) and pil.mode == "RGB"
    t = torch.from_numpy(img).permute(2, 0, 1)
    assert model(t).shape == t.shape and model(t[None]).shape == (1, 3, 40, 56)
    write_image(tmp_path / "x.png", img)
    assert model(tmp_path / "x.png").shape == img.shape
    assert model(img, translate=True).shape == img.shape
    grey = model((img[..., 0] * 255).astype(np.uint8))
    assert grey.shape == (40, 56) and grey.dtype == np.uint8
    with pytest.raises(TypeError, match="numpy array"):
        model([1, 2, 3])


def test_the_readme_example_runs(tmp_path, monkeypatch):
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    code = re.search(r"<!-- api-example -->\s*```python\n(.*?)```", readme, re.S).group(1)
    runs = tmp_path / "demo_out" / "runs"
    deb, tra = _checkpoints(tmp_path)
    for src, dst in ((tra, runs / "translator" / "translator"),):
        dst.parent.mkdir(parents=True, exist_ok=True)
        for suffix in (".safetensors", ".json"):
            dst.with_suffix(suffix).write_bytes(src.with_suffix(suffix).read_bytes())
    write_image(tmp_path / "demo_out" / "data" / "testA" / "a.png", smooth_photo(np.random.default_rng(1), 48, 64))
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    assert read_image(tmp_path / "sharp.png").shape == (48, 64, 3)


onnxruntime = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install 'blur2blur[export]')")


def test_onnx_export_matches_pytorch_and_deblur_onnx_matches_deblur(tmp_path, capsys):
    from blur2blur.infer.export import OnnxPipeline, export_pipeline

    deb, tra = _checkpoints(tmp_path)
    path = export_pipeline(deb, tmp_path / "m.onnx", tra)
    x = torch.rand(1, 3, 200, 300, generator=torch.Generator().manual_seed(3))
    want = DeblurPipeline.from_checkpoints(deb, tra, "cpu", amp="none", tile=0).run_tensor(x)
    got = OnnxPipeline(path, tile=0).run_tensor(x)
    for key in ("translated", "deblurred"):
        assert (got[key] - want[key]).abs().max().item() < 1e-4, key
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["outputs"] == "translated, deblurred" and "multiple of 16" in meta["padding"]
    # the command line: `deblur --onnx` writes what `deblur` writes (tiles too)
    imgs = tmp_path / "in"
    for i in range(2):
        write_image(imgs / f"{i}.png", smooth_photo(np.random.default_rng(i), 72, 100))
    assert main(["deblur", str(imgs), str(tmp_path / "a"), "--deblurrer", str(deb), "--translator", str(tra),
                 "--amp", "none", "--device", "cpu", "--tile", "64", "--tile-overlap", "16", "--no-progress"]) == 0
    assert main(["deblur", str(imgs), str(tmp_path / "b"), "--onnx", str(path), "--tile", "64",
                 "--tile-overlap", "16", "--no-progress"]) == 0
    for i in range(2):
        a, b = read_image(tmp_path / "a" / f"{i}.png"), read_image(tmp_path / "b" / f"{i}.png")
        assert np.abs(a - b).max() <= 1 / 255 + 1e-6
    assert main(["export", str(tmp_path / "c.onnx")]) == 2
    assert main(["deblur", str(imgs), str(tmp_path / "d"), "--onnx", str(path), "--deblurrer", str(deb)]) == 2
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    assert main(["deblur", str(imgs), str(tmp_path / "e"), "--onnx", str(tmp_path / "bad.onnx")]) == 2
    assert "bad.onnx" in capsys.readouterr().err


def test_torchscript_export_matches_pytorch_at_other_sizes(tmp_path):
    from blur2blur.infer.export import export_pipeline

    deb, tra = _checkpoints(tmp_path)
    path = export_pipeline(deb, tmp_path / "m.pt", tra, fmt="torchscript")
    model = torch.jit.load(str(path))
    x = torch.rand(1, 3, 200, 300, generator=torch.Generator().manual_seed(4))
    want = DeblurPipeline.from_checkpoints(deb, tra, "cpu", amp="none", tile=0).run_tensor(x)
    translated, deblurred = model(x)
    assert (deblurred - want["deblurred"]).abs().max().item() < 1e-4
    assert (translated - want["translated"]).abs().max().item() < 1e-4
