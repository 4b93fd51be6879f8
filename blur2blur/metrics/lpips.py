"""LPIPS (Zhang et al., CVPR 2018): a learned perceptual distance between two images; lower is
closer. Offline by default with the shift-tolerant variant, ST-LPIPS (Ghildyal and Liu, ECCV
2022), whose VGG16 trunk and linear heads ship in the stlpips-pytorch wheel; the standard LPIPS
when the user gives its two weight files by path.

Both compute, for images in [0,1] mapped to [-1,1] and then shifted and scaled per channel (the
LPIPS scaling layer), the VGG16 features at relu1_2, relu2_2, relu3_3, relu4_3 and relu5_3,
unit-normalised over channels at every pixel; the squared difference of the two images' features
is weighted per channel by the linear head of that layer, averaged over pixels and summed over
layers. ST-LPIPS's trunk pools with a blurred max-pool (nets/vgg.py).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from blur2blur.nets.vgg import VGGFeatures, stlpips_weight_path
from blur2blur.nets.weights import read_state_dict

LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
CHANNELS = (64, 128, 256, 512, 512)
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)


def _heads(sd: dict) -> list[torch.Tensor]:
    """The five linear heads (1 x C x 1 x 1) from an LPIPS / ST-LPIPS state dict."""
    heads = []
    for i, c in enumerate(CHANNELS):
        keys = [k for k in sd if k.startswith(f"lin{i}.") and k.endswith("weight")]
        if len(keys) != 1 or tuple(sd[keys[0]].shape) != (1, c, 1, 1):
            raise ValueError(f"no linear head lin{i} of shape (1, {c}, 1, 1) in the LPIPS weights")
        heads.append(sd[keys[0]].float())
    return heads


class LPIPS(nn.Module):
    """`LPIPS()(x, y)` -> per-image distances (N,) for NCHW images in [0,1] of one size.

    `variant` "st" (default: ST-LPIPS VGG from the stlpips-pytorch wheel, or `heads` = its file)
    or "standard" (needs `trunk`, a torchvision vgg16-*.pth file, and `heads`, LPIPS's vgg.pth).
    `name` says which one, for tables and reports.
    """

    def __init__(self, variant: str = "st", trunk: str | Path | None = None, heads: str | Path | None = None):
        super().__init__()
        if variant == "st":
            path = Path(heads) if heads else stlpips_weight_path()
            if path is None:
                raise FileNotFoundError("ST-LPIPS needs the stlpips-pytorch package (pip install --no-deps "
                                        "stlpips-pytorch==0.0.2) or its vgg_shift_tolerant.pth given by path")
            sd = read_state_dict(path)
            self.features = VGGFeatures("vgg16", LAYERS, weights=sd, pool="blur")
            self.name = "ST-LPIPS (VGG16, shift-tolerant, stlpips-pytorch vST0.0 weights)"
        elif variant == "standard":
            if not trunk or not heads:
                raise ValueError("standard LPIPS needs the torchvision VGG16 file (trunk) and LPIPS's vgg.pth (heads)")
            sd = read_state_dict(heads)
            self.features = VGGFeatures("vgg16", LAYERS, weights=str(trunk), pool="max")
            self.name = "LPIPS (VGG16, v0.1)"
        else:
            raise ValueError(f"LPIPS variant must be 'st' or 'standard', got {variant!r}")
        for i, w in enumerate(_heads(sd)):
            self.register_buffer(f"head{i}", w)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.shape != y.shape or x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"LPIPS needs two Nx3xHxW batches of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
        both = (torch.cat([x, y]) * 2 - 1 - self.shift) / self.scale
        # (the trunk's own ImageNet normalisation is off: the scaling layer above is LPIPS's input)
        feats = self.features(both)
        n = x.shape[0]
        total = torch.zeros(n, device=x.device)
        for i, f in enumerate(feats):
            f = f.float()
            f = f / (f.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            diff = (f[:n] - f[n:]).pow(2)
            total = total + (diff * getattr(self, f"head{i}")).sum(1).mean((1, 2))
        return total
