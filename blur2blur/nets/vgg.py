"""VGG16/VGG19 convolutional trunks with torchvision's key names, as frozen feature extractors.

Keys are ``features.N.weight`` / ``features.N.bias`` with N the index in torchvision's
``vgg16().features`` / ``vgg19().features``, so a torchvision weight file (e.g. the torch hub cache's
``vgg16-397923af.pth``; classifier keys ignored) loads as is. No weight is ever downloaded.

Weights ("auto" order): the torch hub cache (``<torch.hub.get_dir()>/checkpoints/<arch>-*.pth``),
then, for VGG16 only, the trained shift-tolerant trunk shipped in the stlpips-pytorch wheel
(``stlpips_pytorch/weights/vST0.0/vgg_shift_tolerant.pth``). What that file holds (checked):
- 13 conv layers with VGG16's shapes under ``net.slice1..5.<i>`` (indices shifted by one per pool
  because every pool is two modules there), the blur filters ``net.sliceK.<i>.filt`` (C x 1 x 3 x 3,
  all equal to [1,2,1] x [1,2,1] / 16), LPIPS heads ``lin0..lin4`` (ignored) and
  ``scaling_layer.shift/scale`` = (-.030, -.088, -.188) / (.458, .448, .450);
- each pool is MaxPool2d(2, stride 1) then that blur with reflect padding of 2 px on every side
  (the package's ``pad_more=True``) and stride 2, so a side of n pixels becomes n // 2 + 1
  (``pool="blur"`` here);
- inputs: LPIPS maps [0,1] to [-1,1] and then applies the scaling layer, which is exactly the
  ImageNet mean/std normalisation of [0,1] images. So both weight sources were trained on
  ImageNet-normalised inputs; ``normalize=True`` applies it. (Blur2Blur's official perceptual loss
  feeds raw [0,1] images to ImageNet VGG16; the ``official`` preset keeps ``normalize=False``.)
"""

from __future__ import annotations

import glob
import importlib.util
import os
import re
import warnings
from pathlib import Path
from typing import Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from blur2blur.nets.weights import load_weights, read_state_dict

# Convolutions per block.
VGG_BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
STLPIPS_FILE = ("weights", "vST0.0", "vgg_shift_tolerant.pth")


def vgg_layout(arch: str) -> tuple[list[tuple[str, int, int]], dict[str, int]]:
    """torchvision ``features`` layout of ``arch``.

    Returns (modules, names): modules is a list of (kind, in_ch, out_ch) with kind "conv", "relu"
    or "pool" at the torchvision index; names maps "convB_I" (pre-ReLU), "reluB_I" and "poolB" to
    the index of the module whose output is that feature.
    """
    if arch not in VGG_BLOCKS:
        raise ValueError(f"unknown VGG arch {arch!r}; choose one of {sorted(VGG_BLOCKS)}")
    modules: list[tuple[str, int, int]] = []
    names: dict[str, int] = {}
    c_in = 3
    for b, n_conv in enumerate(VGG_BLOCKS[arch], start=1):
        c_out = min(64 * 2 ** (b - 1), 512)
        for i in range(1, n_conv + 1):
            names[f"conv{b}_{i}"] = len(modules)
            modules.append(("conv", c_in, c_out))
            names[f"relu{b}_{i}"] = len(modules)
            modules.append(("relu", c_out, c_out))
            c_in = c_out
        names[f"pool{b}"] = len(modules)
        modules.append(("pool", c_out, c_out))
    return modules, names


class BlurMaxPool(nn.Module):
    """Anti-aliased max-pool of the stlpips trunk: MaxPool2d(2, stride 1), reflect pad 2,
    [1,2,1]x[1,2,1]/16 depthwise blur with stride 2. n pixels -> n // 2 + 1.
    (Maps too small to reflect-pad fall back to replicate padding.) No state-dict entries."""

    def __init__(self):
        super().__init__()
        a = torch.tensor([1.0, 2.0, 1.0])
        self.register_buffer("filt", (a[:, None] * a[None, :] / 16.0)[None, None], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(x, kernel_size=2, stride=1)
        mode = "reflect" if min(x.shape[-2:]) > 2 else "replicate"
        x = F.pad(x, (2, 2, 2, 2), mode=mode)
        c = x.shape[1]
        return F.conv2d(x, self.filt.to(x.dtype).expand(c, 1, 3, 3), stride=2, groups=c)


def stlpips_weight_path() -> Path | None:
    """Path of the stlpips-pytorch VGG trunk file if that package is installed (never imports it)."""
    try:
        spec = importlib.util.find_spec("stlpips_pytorch")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        p = Path(folder).joinpath(*STLPIPS_FILE)
        if p.is_file():
            return p
    return None


def hub_cache_weight_path(arch: str) -> Path | None:
    """A torchvision ``<arch>-<hash>.pth`` file in the torch hub cache, if any (no download)."""
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    hits = sorted(glob.glob(str(folder / f"{arch}-*.pth")))
    return Path(hits[0]) if hits else None


def is_stlpips_state_dict(sd: Mapping[str, torch.Tensor]) -> bool:
    return any(k.startswith("net.slice") for k in sd)


def stlpips_to_torchvision(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map the stlpips shift-tolerant VGG16 trunk onto torchvision ``features.N`` keys.

    Checks that there are 13 convs with VGG16's shapes and that every blur filter is the
    [1,2,1]x[1,2,1]/16 kernel that ``BlurMaxPool`` implements.
    """
    convs = []
    pat = re.compile(r"^net\.slice(\d)\.(\d+)\.(weight|bias|filt)$")
    expected_filt = torch.tensor([1.0, 2.0, 1.0])
    expected_filt = expected_filt[:, None] * expected_filt[None, :] / 16.0
    for k, v in sd.items():
        m = pat.match(k)
        if not m:
            continue
        idx, kind = int(m.group(2)), m.group(3)
        if kind == "filt":
            if not torch.allclose(v.float(), expected_filt.expand_as(v), atol=1e-6):
                raise ValueError(f"stlpips weights: unexpected blur filter in {k}")
        elif kind == "weight":
            convs.append(idx)
    convs.sort()
    modules, _ = vgg_layout("vgg16")
    tv_convs = [i for i, (kind, _, _) in enumerate(modules) if kind == "conv"]
    if len(convs) != len(tv_convs):
        raise ValueError(f"stlpips weights: expected {len(tv_convs)} conv layers, found {len(convs)}")
    by_index = {}
    for k, v in sd.items():
        m = pat.match(k)
        if m and m.group(3) in ("weight", "bias"):
            by_index[(int(m.group(2)), m.group(3))] = v
    out = {}
    for src, dst in zip(convs, tv_convs):
        out[f"features.{dst}.weight"] = by_index[(src, "weight")]
        out[f"features.{dst}.bias"] = by_index[(src, "bias")]
    return out


class VGGFeatures(nn.Module):
    """Features of named VGG layers. Input NCHW in [0,1]; returns a list in the order of ``layers``.

    layers: names like "relu2_2" (after ReLU) or "conv5_1" (before ReLU), also "pool3".
    weights: "auto" (hub cache, then stlpips for VGG16), "hub", "stlpips", "random" (warns), a
      path to a torchvision-format (or stlpips) state dict file, or such a state dict.
    pool: "max" (torchvision), "blur" (stlpips anti-aliased) or "auto" = what the weights were
      trained with ("blur" for stlpips, else "max").
    normalize: apply ImageNet mean/std to the [0,1] input first (both weight sources expect it).
    The network is truncated after the deepest requested layer; ReLUs are not in-place.
    """

    def __init__(self, arch: str = "vgg16", layers: Sequence[str] = ("relu2_2",), weights="auto",
                 pool: str = "auto", requires_grad: bool = False, normalize: bool = False):
        super().__init__()
        modules, names = vgg_layout(arch)
        if isinstance(layers, str):
            layers = (layers,)
        layers = tuple(layers)
        if not layers:
            raise ValueError("VGGFeatures needs at least one layer name")
        unknown = [n for n in layers if n not in names]
        if unknown:
            raise ValueError(f"unknown {arch} layer(s) {unknown}; valid names: {', '.join(names)}")
        if pool not in ("auto", "max", "blur"):
            raise ValueError(f"pool must be 'auto', 'max' or 'blur', got {pool!r}")
        self.arch = arch
        self.layers = layers
        self.indices = [names[n] for n in layers]
        self.normalize = bool(normalize)

        sd, kind, source = self._resolve_weights(arch, weights)
        native_pool = "blur" if kind == "stlpips" else "max"
        if pool == "auto":
            pool = native_pool
        elif kind != "random" and pool != native_pool:
            warnings.warn(f"VGGFeatures: pool={pool!r} but the {kind} weights were trained with "
                          f"{native_pool!r} pooling", stacklevel=2)
        self.pool = pool
        self.weights_kind = kind
        self.weights_source = source

        depth = max(self.indices)
        seq = []
        for kind_m, c_in, c_out in modules[: depth + 1]:
            if kind_m == "conv":
                seq.append(nn.Conv2d(c_in, c_out, 3, padding=1))
            elif kind_m == "relu":
                seq.append(nn.ReLU(inplace=False))
            else:
                seq.append(nn.MaxPool2d(2, 2) if pool == "max" else BlurMaxPool())
        self.features = nn.Sequential(*seq)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

        if sd is None:
            for m in self.features:
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    nn.init.zeros_(m.bias)
        else:
            self._load(sd, source)
        if not requires_grad:
            for p in self.parameters():
                p.requires_grad_(False)
            self.eval()

    @staticmethod
    def _resolve_weights(arch, weights):
        """Returns (torchvision-format state dict or None, kind, human-readable source)."""
        if isinstance(weights, Mapping):
            sd = dict(weights)
            if is_stlpips_state_dict(sd):
                return stlpips_to_torchvision(sd), "stlpips", "stlpips state dict (given)"
            return sd, "torchvision", "torchvision-format state dict (given)"
        if weights is None or weights == "random":
            warnings.warn(f"VGGFeatures: using RANDOM {arch} weights (weights='random'); "
                          f"perceptual features are not meaningful", stacklevel=3)
            return None, "random", "random init"
        if not isinstance(weights, (str, os.PathLike)):
            raise TypeError("weights must be 'auto', 'hub', 'stlpips', 'random', a path or a state dict, "
                            f"got {type(weights).__name__}")
        if weights in ("auto", "hub", "stlpips"):
            hub = hub_cache_weight_path(arch) if weights in ("auto", "hub") else None
            if hub is not None:
                return read_state_dict(hub), "torchvision", f"torchvision {arch} from the hub cache ({hub})"
            st = stlpips_weight_path() if (weights in ("auto", "stlpips") and arch == "vgg16") else None
            if st is not None:
                return (stlpips_to_torchvision(read_state_dict(st)), "stlpips",
                        f"stlpips-pytorch shift-tolerant VGG16 trunk ({st})")
            raise FileNotFoundError(
                f"no {arch} weights found for weights={weights!r}: looked for "
                f"{Path(torch.hub.get_dir()) / 'checkpoints' / (arch + '-*.pth')}"
                + (" and the stlpips-pytorch package (pip install --no-deps stlpips-pytorch==0.0.2)"
                   if arch == "vgg16" else " (the stlpips-pytorch trunk is VGG16 only; use arch='vgg16')")
                + ". Options: put torchvision's file there, pass weights=<path to a torchvision-format "
                  "state dict>, or weights='random' (meaningless features, for tests only)."
            )
        path = Path(weights)
        sd = read_state_dict(path)
        if is_stlpips_state_dict(sd):
            if arch != "vgg16":
                raise ValueError(f"{path} is the stlpips VGG16 trunk; it cannot be used with arch={arch!r}")
            return stlpips_to_torchvision(sd), "stlpips", f"stlpips shift-tolerant VGG16 trunk ({path})"
        return sd, "torchvision", f"torchvision-format {arch} ({path})"

    def _load(self, sd: Mapping[str, torch.Tensor], source: str) -> None:
        own = self.state_dict()
        wanted = {k: v for k, v in sd.items() if k in own}
        missing = [k for k in own if k not in sd]
        if missing:
            other = [k for k in sd if k.startswith("features.")][:6]
            raise ValueError(
                f"{source}: not a torchvision {self.arch} state dict: missing {missing[:8]}"
                f"{' ...' if len(missing) > 8 else ''} (its feature keys start {other})"
            )
        load_weights(self, wanted, strict=True)

    def describe_weights(self) -> str:
        """One line for logs: arch, weight source, pooling, normalisation."""
        return (f"{self.arch} [{self.weights_kind}] {self.weights_source}; pool={self.pool}; "
                f"imagenet_normalize={self.normalize}; layers={','.join(self.layers)}")

    def train(self, mode: bool = True):
        # A frozen extractor stays in eval mode (no effect on plain VGG, but keeps intent explicit).
        frozen = not any(p.requires_grad for p in self.parameters())
        return super().train(False if frozen else mode)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"VGGFeatures expects an Nx3xHxW tensor, got shape {tuple(x.shape)}")
        if self.normalize:
            x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        wanted = set(self.indices)
        found: dict[int, torch.Tensor] = {}
        for i, module in enumerate(self.features):
            x = module(x)
            if i in wanted:
                found[i] = x
        return [found[i] for i in self.indices]
