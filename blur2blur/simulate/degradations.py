"""Generic blur syntheses for the paper's baseline deblurrers (issue #14; Blur2Blur Table 2):
each turns a batch of sharp crops into blurry training inputs without knowing the user's camera.

- "linear": one random linear motion kernel per image (length 3..`max_len` px, any angle,
  kornia's motion kernel), the generic motion-blur augmentation.
- "bsrgan": BSRGAN's shuffled degradation pipeline (Zhang et al., ICCV 2021) adapted to motion
  blur: linear motion, a Gaussian blur, a down-and-up resize and Gaussian noise in random order,
  then JPEG.
- "rsblur": RSBlur-style realistic synthesis (Rim et al., ECCV 2022) with this project's camera
  simulator: the sharp image linearised, averaged along a random shake trajectory in linear light,
  clipped (saturation), given shot and read noise, passed through a tone curve and JPEG; every
  image gets its own random exposure, noise level and response.
All take and return NCHW float tensors in [0,1] (CPU), seeded by a torch.Generator.
"""

from __future__ import annotations

import math

import kornia
import torch
import torch.nn.functional as F

from blur2blur.io import to_numpy, to_tensor
from blur2blur.simulate import Camera, load_profile
from blur2blur.simulate.kernels import center_kernel_subpixel

SYNTHESES = ("linear", "bsrgan", "rsblur")


def _u(gen: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=gen))


def linear_motion(x: torch.Tensor, gen: torch.Generator, max_len: int = 21) -> torch.Tensor:
    """Each image blurred by its own random linear motion kernel (odd length 3..max_len px).

    The kernel is kornia's motion kernel re-centred on its centre of mass
    (`center_kernel_subpixel`): with `direction` != 0 kornia weights the line unevenly, and its
    kernel would shift the blurry image by up to a few pixels against the sharp target."""
    out = []
    for img in x:
        length = 2 * int(torch.randint(1, max_len // 2 + 1, (), generator=gen)) + 1
        angle, direction = _u(gen, 0, 360), _u(gen, -1, 1)
        k = kornia.filters.get_motion_kernel2d(length, angle, direction)[0].double().numpy()
        k = torch.from_numpy(center_kernel_subpixel(k)).to(img.dtype)
        out.append(kornia.filters.filter2d(img[None], k[None], border_type="reflect"))
    return torch.cat(out).clamp(0, 1)


def bsrgan_motion(x: torch.Tensor, gen: torch.Generator, max_len: int = 21) -> torch.Tensor:
    """BSRGAN-style: motion, Gaussian blur, resize and noise in a random order, then JPEG."""
    out = []
    for img in x:
        y = img[None]
        h, w = y.shape[-2:]
        for op in torch.randperm(4, generator=gen).tolist():
            if op == 0:
                y = linear_motion(y, gen, max_len)
            elif op == 1:
                sx, sy = _u(gen, 0.1, 2.0), _u(gen, 0.1, 2.0)
                y = kornia.filters.gaussian_blur2d(y, (9, 9), (sx, sy), border_type="reflect")
            elif op == 2:
                f = _u(gen, 0.5, 1.0)
                small = F.interpolate(y, size=(max(8, round(h * f)), max(8, round(w * f))), mode="bicubic",
                                      align_corners=False, antialias=True)
                y = F.interpolate(small, size=(h, w), mode="bicubic", align_corners=False)
            else:
                sigma = _u(gen, 1, 25) / 255
                y = y + sigma * torch.randn(y.shape, generator=gen)
            y = y.clamp(0, 1)
        quality = torch.tensor([_u(gen, 30, 95)])
        y = kornia.enhance.jpeg_codec_differentiable(y, quality)
        out.append(y.clamp(0, 1))
    return torch.cat(out)


def rsblur_like(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """RSBlur-style synthesis with a random camera per image (see the module doc)."""
    out = []
    for img in x:
        p = dict(name="rsblur_random", exposure=_u(gen, 1 / 60, 1 / 15), curviness=_u(gen, 0, 0.8),
                 rotation_speed=_u(gen, 0, 1.5),
                 noise={"photon_scale": math.exp(_u(gen, math.log(100), math.log(4000))),
                        "read_sigma": _u(gen, 0.001, 0.01)},
                 colour_cast=[1.0, 1.0, 1.0], jpeg_quality=int(_u(gen, 75, 96)),
                 gain=_u(gen, 1.0, 1.5))
        if float(torch.rand((), generator=gen)) < 0.5:
            p["response"] = {"type": "gamma", "gamma": 2.2}
        seed = int(torch.randint(0, 2**31 - 1, (), generator=gen))
        cam = Camera(load_profile("unknown", **p))
        out.append(to_tensor(cam.capture(to_numpy(img), seed)))
    return torch.stack(out)


def synthesize(name: str, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Apply the synthesis `name` (one of SYNTHESES) to NCHW sharp crops in [0,1]."""
    if name == "linear":
        return linear_motion(x, gen)
    if name == "bsrgan":
        return bsrgan_motion(x, gen)
    if name == "rsblur":
        return rsblur_like(x, gen)
    raise ValueError(f"unknown blur synthesis {name!r}; choose one of {', '.join(SYNTHESES)}")
