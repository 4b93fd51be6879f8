"""CycleGAN's ResNet generator (Zhu et al., ICCV 2017; Johnson et al. 2016), for the unpaired
baselines (CycleGAN and DualGAN trained from the camera's blurry set B to its sharp set S).

c7s1-ngf, two stride-2 downsamplings, `n_blocks` residual blocks (reflection padding,
InstanceNorm), two transposed-conv upsamplings, c7s1-3 with tanh: ResNet-9 with the defaults.
Key names follow the CycleGAN code's ``model.N`` layout. Input and output NCHW in [0,1] (mapped
to [-1,1] inside, as CycleGAN trains); any size (padded to a multiple of 4, cropped back).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .padding import pad_to_multiple


class ResnetBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    def __init__(self, ngf: int = 64, n_blocks: int = 9):
        super().__init__()
        if ngf < 1 or n_blocks < 0:
            raise ValueError(f"need ngf >= 1 and n_blocks >= 0, got {ngf} and {n_blocks}")
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7), nn.InstanceNorm2d(ngf), nn.ReLU(True)]
        for i in range(2):
            c = ngf * 2 ** i
            layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), nn.InstanceNorm2d(2 * c), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4) for _ in range(n_blocks)]
        for i in range(2):
            c = ngf * 2 ** (2 - i)
            layers += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1),
                       nn.InstanceNorm2d(c // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"ResnetGenerator expects an Nx3xHxW tensor, got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        y = self.model(pad_to_multiple(x, 4) * 2 - 1)
        return ((y + 1) / 2)[..., :h, :w]
