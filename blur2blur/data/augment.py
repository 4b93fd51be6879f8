"""Training augmentation settings and the colour jitter.

Geometric choices (flips, 90-degree rotation) and the colour jitter are drawn from torch's RNG,
once per item, and applied identically to every image of the item (both images of a pair).
Unpaired sets use separate datasets, so no transform is shared between them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# RGB -> YIQ (NTSC) and back: hue is a rotation of the (I, Q) chroma plane.
_RGB2YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ2RGB = torch.linalg.inv(_RGB2YIQ)


@dataclass
class Augment:
    """Probabilities of each geometric transform and of the colour jitter, and jitter ranges.

    brightness/contrast/saturation: factors drawn uniformly in [1 - r, 1 + r]; hue: a rotation of
    the chroma plane by an angle in [-hue, hue] turns (1.0 = 360 degrees).
    """

    hflip: float = 0.5
    vflip: float = 0.5
    rot90: float = 0.5
    jitter: float = 0.0
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    hue: float = 0.02

    @classmethod
    def from_flag(cls, augment: "bool | Augment") -> "Augment":
        if isinstance(augment, Augment):
            return augment
        return cls() if augment else cls(hflip=0.0, vflip=0.0, rot90=0.0, jitter=0.0)

    def draw_geometry(self) -> tuple[bool, bool, bool]:
        u = torch.rand(3).tolist()
        return u[0] < self.hflip, u[1] < self.vflip, u[2] < self.rot90

    def jitter_all(self, images: list[torch.Tensor]) -> list[torch.Tensor]:
        """Apply one random colour jitter (with probability `jitter`) to every CHW image."""
        if self.jitter <= 0 or torch.rand(()).item() >= self.jitter:
            return images
        u = (torch.rand(4) * 2 - 1).tolist()
        b, c, s = 1 + u[0] * self.brightness, 1 + u[1] * self.contrast, 1 + u[2] * self.saturation
        angle = u[3] * self.hue * 2 * torch.pi
        return [color_jitter(x, b, c, s, angle) for x in images]


def color_jitter(x: torch.Tensor, brightness: float, contrast: float, saturation: float,
                 hue_angle: float) -> torch.Tensor:
    """Deterministic jitter of a CHW RGB image in [0,1]; factors of 1 and angle 0 are identity."""
    x = x * brightness
    grey = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2])
    x = (x - grey.mean()) * contrast + grey.mean()
    grey = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2])
    x = (x - grey) * saturation + grey
    if hue_angle:
        cos, sin = torch.cos(torch.tensor(hue_angle)), torch.sin(torch.tensor(hue_angle))
        rot = torch.tensor([[1.0, 0.0, 0.0], [0.0, cos, -sin], [0.0, sin, cos]])
        m = _YIQ2RGB @ rot @ _RGB2YIQ
        x = torch.einsum("ij,jhw->ihw", m.to(x.dtype), x)
    return x.clamp(0.0, 1.0)
