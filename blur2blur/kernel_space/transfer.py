"""Blur transfer with the bkse kernel networks: ``y_hat = G(x_target, F(x_src, y_src))``.

``transfer_blur`` / ``transfer_image`` make one transfer (tensors NCHW or CHW / numpy HxWx3);
``extract_kernel`` (F) and ``apply_kernel`` (G) are its two halves. The known-blur sets made with
them (stored or online) are in ``blur2blur.known_blur.transferred``.

Images are RGB float32 in [0,1]. Any size works: the source pair's kernel map
(ceil(H/128) x ceil(W/128) cells) is fitted to the target's map size (``fit="pool"``: adaptive
average pooling; ``"mean"``: one averaged code everywhere). Outputs are clamped to [0,1].

Cost at full resolution, measured on 2 CPU cores (torch 2.13, batch 1, no gradients; the machine
was shared with other jobs, so take +-50%), per megapixel of image; memory is the peak resident
memory above the process baseline and grows linearly with the pixel count (measured at 0.25, 1
and 2 MP; the official net at 0.25 and 1 MP):

=======================================  ============  ============  ================
net                                      G time / MP   F time / MP   memory / MP
=======================================  ============  ============  ================
cpu-small (nf 16, 2+2 RBs, kdim 64)      0.5-2 s       1-1.4 s       0.25-0.4 GB
official (nf 64, 10+20 RBs, kdim 512)    20-33 s       14-26 s       0.9-1.2 GB
=======================================  ============  ============  ================

Images are padded inside to a multiple of 128 px.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np
import torch
import torch.nn as nn

from blur2blur.io import to_numpy, to_tensor
from blur2blur.nets.kernel_space import KernelWizard, fit_kernel_map


def module_device(net: nn.Module) -> torch.device:
    """The device of `net`'s first parameter (CPU for a net without parameters)."""
    param = next(net.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


@contextlib.contextmanager
def frozen_eval(net: nn.Module) -> Iterator[nn.Module]:
    """Run ``net`` in eval mode without autograd; its previous train/eval mode is restored after."""
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            yield net
    finally:
        net.train(was_training)


def as_batch(t: torch.Tensor, what: str) -> torch.Tensor:
    """CHW -> 1CHW, NCHW as is; any other rank is a ValueError naming `what`."""
    if t.dim() == 3:
        return t.unsqueeze(0)
    if t.dim() != 4:
        raise ValueError(f"{what} must be CHW or NCHW, got shape {tuple(t.shape)}")
    return t


def transfer_blur(wizard: KernelWizard, x_target: torch.Tensor, x_src: torch.Tensor,
                  y_src: torch.Tensor, fit: str = "pool", clamp: bool = True) -> torch.Tensor:
    """The blur of the pair (``x_src`` sharp, ``y_src`` blurry) applied to ``x_target``.

    Tensors NCHW (or CHW) in [0,1]; the target may differ in size from the source pair; source
    batch N (one pair per target) or 1 (one pair for all). Runs in eval mode without gradients
    (the wizard's mode is restored). Returns x_target's shape and device, clamped to [0,1] unless
    ``clamp=False``.
    """
    single = x_target.dim() == 3
    dev = module_device(wizard)
    xt = as_batch(x_target, "x_target").to(dev, torch.float32)
    xs = as_batch(x_src, "x_src").to(dev, torch.float32)
    ys = as_batch(y_src, "y_src").to(dev, torch.float32)
    with frozen_eval(wizard):
        out = wizard.transfer(xt, xs, ys, fit=fit)
    if clamp:
        out = out.clamp(0.0, 1.0)
    out = out.to(x_target.device)
    return out[0] if single else out


def transfer_image(wizard: KernelWizard, target: np.ndarray, src_sharp: np.ndarray,
                   src_blur: np.ndarray, fit: str = "pool") -> np.ndarray:
    """numpy convenience: HxWx3 float [0,1] target and source pair -> HxWx3 float32 [0,1]."""
    out = transfer_blur(wizard, to_tensor(target), to_tensor(src_sharp), to_tensor(src_blur), fit=fit)
    return to_numpy(out)


def extract_kernel(wizard: KernelWizard, x_sharp: torch.Tensor, y_blur: torch.Tensor) -> torch.Tensor:
    """F's kernel map (eval mode, no gradients) of a pair, NCHW or CHW [0,1] -> N x kdim x h x w."""
    dev = module_device(wizard)
    with frozen_eval(wizard):
        return wizard.extract(as_batch(x_sharp, "x_sharp").to(dev, torch.float32),
                              as_batch(y_blur, "y_blur").to(dev, torch.float32))


def apply_kernel(wizard: KernelWizard, x_sharp: torch.Tensor, kernel: torch.Tensor,
                 fit: str = "pool", clamp: bool = True) -> torch.Tensor:
    """G (eval mode, no gradients): ``x_sharp`` (NCHW [0,1]) blurred with a kernel map of any cell
    size, fitted to the image's map size first."""
    dev = module_device(wizard)
    x = as_batch(x_sharp, "x_sharp").to(dev, torch.float32)
    size = KernelWizard.kernel_map_size(*x.shape[-2:])
    with frozen_eval(wizard):
        out = wizard.adapt(x, fit_kernel_map(kernel.to(dev), size, mode=fit))
    return out.clamp(0.0, 1.0) if clamp else out
