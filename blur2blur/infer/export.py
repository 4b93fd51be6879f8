"""Take the model out of the tool: the fused translator + deblurrer as ONNX or TorchScript.

The exported graph takes one image batch `image` (N x 3 x H x W, float32 in [0,1], any H and W of
at least 16 px) and returns `translated` (when there is a translator) and `deblurred`, both of the
input's size, as `blur2blur deblur` computes them on a whole image: the input is padded to a
multiple of 16 inside the graph (reflect, bottom and right), run through T (its full-scale
output, clamped to [0,1]) and the deblurrer (clamped), and cropped back. Tiling of large images
is the caller's (`OnnxPipeline` below tiles as `DeblurPipeline` does). ONNX files carry
`blur2blur` metadata (version, outputs, the padding rule); `onnx` and `onnxruntime` are an
optional extra (`pip install blur2blur[export]`).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from blur2blur import __version__
from blur2blur.infer.pipeline import AUTO_OVERLAP, DeblurPipeline
from blur2blur.nets.official import load_network
from blur2blur.outputs.files import OutputConflict, temp_path

MULTIPLE = 16
MIN_SIDE = 16


class FusedPipeline(nn.Module):
    """deblurrer(T(pad(x))) cropped back, with T optional; forward returns a tuple of outputs
    (translated, deblurred) or (deblurred,) (or (translated,) for a translator alone)."""

    def __init__(self, deblurrer: nn.Module | None, translator: nn.Module | None = None, multiple: int = MULTIPLE):
        super().__init__()
        if deblurrer is None and translator is None:
            raise ValueError("nothing to export: give a deblurrer, a translator or both")
        self.deblurrer, self.translator, self.multiple = deblurrer, translator, multiple

    def output_names(self) -> list[str]:
        return (["translated"] if self.translator is not None else []) + (
            ["deblurred"] if self.deblurrer is not None else [])

    def forward(self, x: torch.Tensor):
        h, w = x.shape[-2], x.shape[-1]
        ph = (self.multiple - h % self.multiple) % self.multiple
        pw = (self.multiple - w % self.multiple) % self.multiple
        x = F.pad(x, (0, pw, 0, ph), mode="reflect")
        outs = []
        if self.translator is not None:
            scales = self.translator(x)
            x = (scales[-1] if isinstance(scales, (list, tuple)) else scales).clamp(0, 1)
            outs.append(x[..., :h, :w])
        if self.deblurrer is not None:
            outs.append(self.deblurrer(x).clamp(0, 1)[..., :h, :w])
        return tuple(outs)


def export_pipeline(deblurrer: str | os.PathLike | None, out: str | os.PathLike, translator: str | os.PathLike | None = None,
                    fmt: str = "onnx", official: str | None = None, opset: int = 17, overwrite: bool = False) -> Path:
    """Export the fused pipeline of our checkpoints (or an official deblurrer file named by
    `official`) to `out` as "onnx" or "torchscript" (the file is written whole or not at all).
    Returns `out`. NAFNet's test-time local converter is not exported (its pooling window depends
    on the input size). Refused before any work: `out` that is one of the input files, a folder,
    a name whose extension is the other format's, or an existing file without `overwrite`."""
    if fmt not in ("onnx", "torchscript"):
        raise ValueError(f"export format must be onnx or torchscript, got {fmt!r}")
    out = Path(out)
    inputs = []
    for stem in (deblurrer, translator):
        if stem and str(stem) != "shipped":
            base = Path(stem).with_suffix("") if Path(stem).suffix in (".json", ".safetensors") else Path(stem)
            inputs += [Path(stem), Path(f"{base}.safetensors"), Path(f"{base}.json")]
    if out.exists() and any(p.exists() and os.path.samefile(p, out) for p in inputs):
        raise OutputConflict(f"the output {out} is one of the input files: give another output name")
    if out.is_dir():
        raise OutputConflict(f"the output {out} is a folder: give a file name ending in "
                             f"{'.onnx' if fmt == 'onnx' else '.pt'}")
    other = {"onnx": (".pt", ".pth", ".ts"), "torchscript": (".onnx",)}[fmt]
    if out.suffix.lower() in other:
        raise ValueError(f"the output {out.name} names {'a TorchScript' if fmt == 'onnx' else 'an ONNX'} file but "
                         f"--format is {fmt}: rename it or give --format "
                         f"{'torchscript' if fmt == 'onnx' else 'onnx'}")
    if (out.exists() or out.is_symlink()) and not overwrite:
        raise OutputConflict(f"{out} exists: give another output name, or --overwrite to replace it")
    deb = load_network(deblurrer, official, role="deblurrer") if deblurrer else None
    tra = load_network(translator, role="translator") if translator else None
    model = FusedPipeline(deb, tra).eval().requires_grad_(False)
    out.parent.mkdir(parents=True, exist_ok=True)
    example = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    meta = {"blur2blur_version": _version(), "input": "image: N x 3 x H x W float32 RGB in [0,1], H, W >= 16",
            "outputs": ", ".join(model.output_names()), "padding": f"reflect to a multiple of {MULTIPLE}, inside",
            "deblurrer": str(deblurrer), "translator": str(translator) if translator else ""}
    tmp = temp_path(out)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (the tracer's notes on shape arithmetic: it is recorded)
            if fmt == "onnx":
                _export_onnx(model, example, tmp, opset, meta)
            else:
                traced = torch.jit.trace(model, (example,), check_trace=False)
                torch.jit.save(traced, str(tmp), _extra_files={"blur2blur.json": json.dumps(meta)})
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _export_onnx(model: nn.Module, example: torch.Tensor, path: Path, opset: int, meta: dict) -> None:
    try:
        import onnx
    except ImportError:
        raise ImportError("ONNX export needs the onnx package: pip install 'blur2blur[export]' "
                          "(onnx and onnxruntime)") from None
    names = model.output_names()
    dynamic = {"image": {0: "batch", 2: "height", 3: "width"}} | {n: {0: "batch", 2: "height", 3: "width"} for n in names}
    torch.onnx.export(model, (example,), str(path), input_names=["image"], output_names=names,
                      dynamic_axes=dynamic, opset_version=opset, dynamo=False)
    proto = onnx.load(str(path))
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))


def _version() -> str:
    return __version__


class OnnxPipeline(DeblurPipeline):
    """`DeblurPipeline`'s interface (run, run_tensor, run_folder, tiling) over an exported ONNX
    file run by onnxruntime (CPU, or CUDA when onnxruntime-gpu and a GPU are there)."""

    def __init__(self, path: str | os.PathLike, tile: int | str | None = "auto", tile_overlap: int = AUTO_OVERLAP,
                 providers: list[str] | None = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise ImportError("running an ONNX file needs onnxruntime: pip install 'blur2blur[export]'") from None
        self.path = Path(path)
        if self.path.is_dir():
            raise IsADirectoryError(f"--onnx {self.path} is a folder: give the .onnx file written by `blur2blur export`")
        if not self.path.is_file():
            raise FileNotFoundError(f"ONNX file {self.path} does not exist")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.path), options,
                                                providers=providers or ort.get_available_providers())
        except Exception as exc:  # (onnxruntime raises its own exception types)
            raise ValueError(f"{self.path} is not a usable ONNX model: {exc}") from None
        self.names = [o.name for o in self.session.get_outputs()]
        if not set(self.names) <= {"translated", "deblurred"} or not self.names:
            raise ValueError(f"{self.path} is not a blur2blur export (outputs {self.names})")
        self._check_input()
        self.device = torch.device("cpu")
        self.pad_multiple = MULTIPLE
        self.tile, self.tile_overlap = tile, tile_overlap
        self.scale = 1.0
        self.translator = self.deblurrer = None
        self._check_output()

    def _check_input(self) -> None:
        """One float input `image` of shape N x 3 x H x W with free H and W, or a ValueError naming the model."""
        inputs = self.session.get_inputs()
        what = ", ".join(f"{i.name} {i.type} {i.shape}" for i in inputs)
        ok = (len(inputs) == 1 and inputs[0].name == "image" and inputs[0].type == "tensor(float)"
              and len(inputs[0].shape) == 4 and inputs[0].shape[1] == 3
              and not all(isinstance(d, int) for d in inputs[0].shape[2:]))
        if not ok:
            raise ValueError(f"{self.path}: a blur2blur export takes one input `image`, float32 N x 3 x H x W of any "
                             f"H and W; this model takes {what}. Export it with `blur2blur export`")

    def _check_output(self) -> None:
        """A 48x32 test image must come back 48x32 with 3 finite channels per output."""
        outs = self._forward(torch.full((1, 3, 32, 48), 0.5))
        for name, o in outs.items():
            if tuple(o.shape) != (1, 3, 32, 48) or not torch.isfinite(o).all():
                raise ValueError(f"{self.path}: its output `{name}` for a 1 x 3 x 32 x 48 image is "
                                 f"{tuple(o.shape)}{'' if torch.isfinite(o).all() else ' and not finite'}; a blur2blur "
                                 "export returns images of the input's size")

    def output_keys(self) -> list[str]:
        return list(self.names)

    def _forward(self, y: torch.Tensor) -> dict[str, torch.Tensor]:
        h, w = y.shape[-2:]
        if min(h, w) < MIN_SIDE:
            raise ValueError(f"the exported model needs images of at least {MIN_SIDE} px a side, got {w}x{h}")
        outs = self.session.run(self.names, {"image": np.ascontiguousarray(y.float().cpu().numpy())})
        return {n: torch.from_numpy(o) for n, o in zip(self.names, outs)}
