"""PatchGAN discriminator (pix2pix "NLayerDiscriminator") and the pix2pix weight init.

Key names are ``model.N.weight`` / ``model.N.bias`` as in the pix2pix/CycleGAN code. With the
defaults (ndf 64, 3 layers) each output logit sees a 70x70 input patch; 2,764,737 parameters.
With ``spectral_norm=True`` every conv weight is spectrally normalised (Miyato et al., ICLR 2018;
not in the published Blur2Blur recipes): its keys become
``model.N.parametrizations.weight.original`` plus the power-iteration vectors.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class PatchGAN(nn.Module):
    """Conv(4x4, s2)-LeakyReLU, then ``n_layers`` Conv-InstanceNorm-LeakyReLU, then a 1-channel conv.

    Input NCHW (images in [0,1]); output an N x 1 x h x w map of real/fake logits (no sigmoid).
    InstanceNorm has no affine parameters, so every conv carries a bias. ``spectral_norm`` bounds
    each conv's largest singular value by 1 and drops the InstanceNorms (which would undo the
    bound): a Lipschitz D without a gradient penalty (on the demo's data it left a one-layer
    PatchGAN near chance; docs/research/demo.md, fourth round).
    """

    def __init__(self, input_nc: int = 3, ndf: int = 64, n_layers: int = 3, spectral_norm: bool = False):
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        k, p = 4, 1
        layers: list[nn.Module] = [nn.Conv2d(input_nc, ndf, k, stride=2, padding=p), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1
            # (InstanceNorm would undo the spectral bound, so it gives way to an Identity, which
            # keeps the module indices and hence the key names)
            norm = nn.Identity() if spectral_norm else nn.InstanceNorm2d(ndf * mult, affine=False,
                                                                         track_running_stats=False)
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, k, stride=stride, padding=p, bias=True),
                norm,
                nn.LeakyReLU(0.2, True),
            ]
        layers.append(nn.Conv2d(ndf * mult, 1, k, stride=1, padding=p))
        if spectral_norm:
            layers = [nn.utils.parametrizations.spectral_norm(m) if isinstance(m, nn.Conv2d) else m
                      for m in layers]
        self.model = nn.Sequential(*layers)
        self.min_size = self._smallest_input(n_layers)

    @staticmethod
    def _smallest_input(n_layers: int) -> int:
        """Smallest side for which the last InstanceNorm sees at least 2x2 values."""
        size = 2
        while True:
            n = size
            for stride in [2] * n_layers + [1]:  # first conv, then n_layers convs (last stride 1)
                n = (n + 2 - 4) // stride + 1
            if n >= 2:
                return size
            size += 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logit map of ``x``. Inputs smaller than ``min_size`` (e.g. the 1/4 scale of a small
        crop) are replicate-padded up to it rather than crashing in InstanceNorm."""
        h, w = x.shape[-2:]
        if h < self.min_size or w < self.min_size:
            ph, pw = max(0, self.min_size - h), max(0, self.min_size - w)
            x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), mode="replicate")
        return self.model(x)


@torch.no_grad()
def init_weights(net: nn.Module, gain: float = 0.02) -> nn.Module:
    """pix2pix 'normal' init in place: conv/linear weights N(0, gain), biases 0; norm weights N(1, gain).

    Returns ``net``. Leaves LayerNorm2d-style custom modules and scalar parameters (e.g. NAFNet's
    beta/gamma) untouched: only Conv*/ConvTranspose*/Linear and BatchNorm/affine InstanceNorm layers.
    """
    for m in net.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
                          nn.ConvTranspose3d, nn.Linear)):
            # (a spectrally normalised weight is computed from its stored original: init that)
            parametrized = nn.utils.parametrize.is_parametrized(m, "weight")
            nn.init.normal_(m.parametrizations.weight.original if parametrized else m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.InstanceNorm2d)):
            if getattr(m, "weight", None) is not None:
                nn.init.normal_(m.weight, 1.0, gain)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
    return net
