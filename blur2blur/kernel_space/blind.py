"""Blind deblurring in the bkse blur-kernel space (Algorithm 1 of Tran et al., CVPR 2021).

The sharp image and the blur are both unknown. Two Deep Image Priors draw them from fixed noise,
``x = DIP_x(z_x)`` (``nets.dip.DIPImage``) and ``k = DIP_k(z_k)`` (``nets.dip.DIPKernel``), and the
frozen blur operator G of a trained ``KernelWizard`` re-blurs x with k. We minimise

    rho(y, G(x, k)) + lambda * ||k||_2 + gamma * HL(x)

- ``rho``: Charbonnier (``losses.pixel.charbonnier``, eps 1e-3), a mean over pixels;
- ``||k||_2``: L2 norm of the whole kernel map, scaled by sqrt(4 / cells) so that it equals the
  paper's plain norm on a 256x256 image (2x2 cells) and does not grow with the image size;
- ``HL(x)``: hyper-Laplacian prior, ``hyper_laplacian`` below (alpha 0.66, horizontal plus vertical
  differences, mean over pixels);
- weights: ``kernel_weight`` lambda = 6e-4 and ``prior_weight`` gamma = 2e-2, the paper's two
  numbers; the official code puts 6e-4 on ``torch.norm(k)``, which fixes which is which.

G is frozen (``requires_grad`` False, eval mode) but differentiable with respect to its inputs.
Each iteration alternates one Adam step on DIP_k with x fixed (data + kernel term; x is the
image of the previous x step, which saves a DIP_x forward pass), then one on DIP_x with the updated
k fixed (data + prior), as in the paper's alternating scheme;
``joint=True`` instead takes one shared forward pass and steps both (one pass through G instead
of two, ~25% faster with the official wizard; what the official loop does). As in the official code: the DIP inputs are perturbed each step by Gaussian noise
(std ``reg_noise_std`` = 1e-3), learning rates 5e-4 (its generic-deblur setting), 300 warm-up steps,
5000 joint steps, and both learning rates are multiplied by 0.7 every ``iters // 5`` steps.

Warm-up: DIP_x is fitted to y (MSE) for ``warmup_x`` steps, so x starts from the blurry image, and
DIP_k to an initial kernel map for ``warmup_k`` steps. The official code loads a stored kernel
file; here ``init_kernel=None`` uses ``F(y, y)``, the wizard's own code for "no blur" (so
``G(x, k)`` starts close to ``x = y``, a consistent start); any other map is resampled to this
image's cell count with ``fit_kernel_map``.

Any image size: x's noise is padded to a multiple of 2**levels (32; at least 64 per side) and
the output cropped back; the kernel map has
``wizard.kernel_map_size(H, W)`` cells (ceil(side/128)). Images are RGB float32 in [0, 1].

Cost (``benchmarks/blind_speed.py`` measures it; tables in docs/kernel_space.md), first measured
by hand on this project's 2-core CPU, torch 2.13, 2 threads, default
DIPs, a 256x256 image, with the script kept outside the package (it times ``callback`` calls);
per-iteration wall times when the machine was otherwise idle, several runs of 6-9 iterations:
(a) tiny wizard (nf 8, 1+1 residual blocks, kernel_dim 16, recon_nf 8): 1.2 s per iteration
    (alternating or joint alike), about 19 s per megapixel-iteration; 5000 iterations ~ 1.7 h.
    DIP_x dominates (~40 GFLOP per forward pass at 256x256; forward+backward ~1.0 s).
(b) official wizard (``KernelWizard()``, 49.2 M parameters; DIP_k then has 35 M): 2.3-2.6 s per
    alternating iteration, about 37 s per megapixel-iteration; 5000 iterations ~ 3.3 h at
    256x256 (``joint=True``: 1.8-2.0 s, ~29 s/MP-iteration, ~2.6 h). At 512x512: ~10 s per
    iteration (~14 h for 5000). Peak memory 1.8 GB at 256x256, 3.8 GB at 512x512.
Add the warm-ups (300 DIP_x steps ~ 5 min at 256x256). Time grows about linearly with the pixel
count; when other jobs share the two cores the same iterations took 4-9x longer. A GPU is the
realistic way to run 5000 iterations on photo-sized images.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from blur2blur.device import pick_device
from blur2blur.io import read_image, write_image
from blur2blur.kernel_space.load import load_kernel_wizard
from blur2blur.losses.pixel import charbonnier
from blur2blur.nets.dip import DIPImage, DIPKernel
from blur2blur.nets.kernel_space import KernelWizard, fit_kernel_map
from blur2blur.progress import tqdm

#: bkse-sized DIP_x (skip network, 8 noise channels) and DIP_k (64-channel noise, 6 blocks)
DEFAULT_DIP_X = dict(in_channels=8, channels=128, skip_channels=16, levels=5, upsample_mode="bilinear")
DEFAULT_DIP_K = dict(in_channels=64, nf=64, n_down=5, n_blocks=6)


def hyper_laplacian(x: torch.Tensor, alpha: float = 0.66, eps: float = 1e-3,
                    reduction: str = "mean") -> torch.Tensor:
    """Hyper-Laplacian image prior: sum over horizontal and vertical neighbour differences d of
    ``(d^2 + eps^2)^(alpha/2) - eps^alpha`` (a smoothed ``|d|^alpha``).

    ``x`` NCHW (or CHW) in [0, 1]. ``eps`` (intensity units) keeps the gradient finite at d = 0
    (|d|^alpha with alpha < 1 has an infinite slope there; the slope is now at most about
    eps^(alpha-1), ~10 for 1e-3); subtracting eps^alpha makes a constant image score exactly 0.
    ``reduction``: "mean" (default) averages each direction over its differences and adds the two,
    so the weight does not depend on the image size (the data term is a mean too); "sum" sums all.
    """
    dx = x[..., :, 1:] - x[..., :, :-1]
    dy = x[..., 1:, :] - x[..., :-1, :]
    floor = eps ** alpha
    terms = [(d * d + eps * eps).pow(alpha / 2) - floor for d in (dx, dy)]
    if reduction == "mean":
        return sum(t.mean() for t in terms)
    if reduction == "sum":
        return sum(t.sum() for t in terms)
    raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")


def kernel_norm(kernel: torch.Tensor) -> torch.Tensor:
    """L2 norm of a kernel map (1 x D x h x w) scaled by sqrt(4 / (h*w)): the plain norm for a
    2x2-cell map (a 256x256 image), size-independent otherwise."""
    cells = kernel.shape[-2] * kernel.shape[-1]
    return kernel.norm() * math.sqrt(4.0 / cells)


@dataclass
class BlindResult:
    """Output of ``blind_deblur``.

    ``x``: 1x3xHxW float32 CPU tensor in [0, 1]; ``kernel``: 1 x kernel_dim x h x w CPU tensor (the
    kernel map paired with x); ``losses``: per-iteration lists "total", "data", "kernel" (the
    unweighted ``kernel_norm``), "prior" (unweighted ``hyper_laplacian``) plus the warm-up MSEs
    "warmup_x", "warmup_k"; ``best_iter``: index (0-based) into the per-iteration lists of the
    returned iterate (-1 when no iteration ran: the warm-up result).
    """

    x: torch.Tensor
    kernel: torch.Tensor
    losses: dict[str, list[float]] = field(default_factory=dict)
    best_iter: int = -1

    def image(self) -> np.ndarray:
        """The deblurred image as a numpy HxWx3 float32 array in [0, 1]."""
        return np.ascontiguousarray(self.x[0].detach().cpu().float().numpy().transpose(1, 2, 0))


def _as_batch(y) -> torch.Tensor:
    """numpy HxWx3 or torch 3xHxW / 1x3xHxW -> float32 1x3xHxW tensor."""
    if isinstance(y, np.ndarray):
        if y.ndim != 3 or y.shape[2] != 3:
            raise ValueError(f"expected an HxWx3 image, got shape {y.shape}")
        y = torch.from_numpy(np.ascontiguousarray(y.transpose(2, 0, 1)))
    if y.dim() == 3:
        y = y.unsqueeze(0)
    if y.dim() != 4 or y.shape[0] != 1:
        raise ValueError(f"expected one image (3xHxW or 1x3xHxW), got shape {tuple(y.shape)}")
    return y.float()


def blind_deblur(y, wizard: KernelWizard, iters: int = 5000, warmup_x: int = 300, warmup_k: int = 300,
                 lr_x: float = 5e-4, lr_k: float = 5e-4, kernel_weight: float = 6e-4,
                 prior_weight: float = 2e-2, hyper_alpha: float = 0.66, init_kernel: torch.Tensor | None = None,
                 seed: int = 0, progress: bool = True, keep_best: bool = True,
                 callback: Callable[[int, torch.Tensor, torch.Tensor, dict[str, float]], None] | None = None,
                 *, joint: bool = False, reg_noise_std: float = 1e-3, lr_decay: float = 0.7,
                 dip_x: dict | None = None, dip_k: dict | None = None, channels_last: bool = True) -> BlindResult:
    """Blind deblurring of ``y`` (numpy HxWx3 or tensor 3xHxW / 1x3xHxW, RGB in [0, 1], any size)
    with the frozen blur operator G of ``wizard`` (run on the wizard's device); see the module doc.

    ``iters`` alternating iterations after ``warmup_x`` / ``warmup_k`` warm-up steps; ``lr_x``,
    ``lr_k`` Adam learning rates (multiplied by ``lr_decay`` every ``iters // 5`` iterations);
    ``kernel_weight`` lambda, ``prior_weight`` gamma, ``hyper_alpha`` the prior's exponent;
    ``init_kernel`` a kernel map to warm DIP_k up on (default ``F(y, y)``); ``seed`` fixes the DIP
    weights and noise (same seed, same device -> same losses); ``keep_best`` returns the iterate with
    the lowest data term rho(y, G(x, k)), else the last one; ``callback(i, x, k, terms)`` is called
    after every iteration with the evaluated iterate (detached) and its loss terms; ``joint`` one
    shared step instead of alternating; ``reg_noise_std`` the DIP input perturbation; ``dip_x`` /
    ``dip_k`` override ``DEFAULT_DIP_X`` / ``DEFAULT_DIP_K`` (keyword arguments of the DIPs);
    ``channels_last`` runs DIP_x in channels-last memory format (faster convolutions on the CPU).
    """
    device = next(wizard.parameters()).device
    y = _as_batch(y).to(device)
    priors = _Priors(wizard, y, seed, reg_noise_std, lr_x, lr_k, dip_x, dip_k, channels_last)
    losses: dict[str, list[float]] = {key: [] for key in ("total", "data", "kernel", "prior", "warmup_x", "warmup_k")}
    weights = (kernel_weight, prior_weight, hyper_alpha)
    with _frozen(wizard):
        target_k = _target_kernel(wizard, y, init_kernel, priors.map_size)
        bar = tqdm(total=warmup_x + warmup_k + iters, disable=not progress, desc="blind deblur",
                   dynamic_ncols=True)
        stage = _stage_printer(progress)
        stage(f"warming up the image prior ({warmup_x} steps), then the kernel prior ({warmup_k}), then "
              f"{iters} iterations")
        _warm_up(priors, y, target_k, warmup_x, warmup_k, losses, bar)
        stage("warm-ups done; alternating kernel and image updates")
        step_every = max(iters // 5, 1)
        best_data, best_iter = math.inf, -1
        best_x = best_k = None
        x_last = None  # the image of the previous x step (the current estimate, detached)
        for it in range(iters):
            if joint:
                x, k, data, k_term, prior = _joint_step(priors, wizard, y, weights)
            else:
                x, k, data, k_term, prior = _alternating_step(priors, wizard, y, weights, x_last)
                x_last = x.detach()
            if (it + 1) % step_every == 0 and it + 1 < iters:
                stage(f"iteration {it + 1} of {iters}, data term {data.item():.4f}")
                priors.decay(lr_decay)
            terms = {"data": data.item(), "kernel": k_term.item(), "prior": prior.item()}
            terms["total"] = terms["data"] + kernel_weight * terms["kernel"] + prior_weight * terms["prior"]
            for key, value in terms.items():
                losses[key].append(value)
            x_now, k_now = x.detach(), k.detach()
            if not keep_best or terms["data"] < best_data:
                best_data, best_iter = terms["data"], it
                best_x, best_k = x_now.clone(), k_now.clone()
            if callback is not None:
                callback(it, x_now, k_now, terms)
            bar.set_postfix_str(f"loss {terms['total']:.4f} data {terms['data']:.4f}", refresh=False)
            bar.update()
        bar.close()
        stage(f"done: {iters} iterations, the best at {best_iter + 1}")
        if best_x is None:  # no iteration: the warm-up result
            with torch.no_grad():
                best_x, best_k = priors.x(), priors.k()
    return BlindResult(x=best_x.clamp(0, 1).float().cpu().contiguous(), kernel=best_k.float().cpu(), losses=losses,
                       best_iter=best_iter)


class _Priors:
    """DIP_x and DIP_k with their fixed noise inputs and Adam optimisers; `x()` / `k()` draw the
    image / kernel map, the inputs perturbed by `reg_noise_std` (all randomness from `seed`)."""

    def __init__(self, wizard: KernelWizard, y: torch.Tensor, seed: int, reg_noise_std: float, lr_x: float,
                 lr_k: float, dip_x: dict | None, dip_k: dict | None, channels_last: bool):
        device = y.device
        self.h, self.w = y.shape[-2:]
        self.map_size = wizard.kernel_map_size(self.h, self.w)
        self.reg_noise_std = reg_noise_std
        # DIP weights and noise come from the seed only (built on the CPU, then moved).
        self.gen = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net_x = DIPImage(out_channels=y.shape[1], **{**DEFAULT_DIP_X, **(dip_x or {})})
            net_k = DIPKernel(wizard.kernel_dim, **{**DEFAULT_DIP_K, **(dip_k or {})})
        self.net_x, self.net_k = net_x.to(device).train(), net_k.to(device).train()
        self.z_x = self.net_x.make_noise(self.h, self.w, generator=self.gen).to(device)
        if channels_last:
            self.net_x = self.net_x.to(memory_format=torch.channels_last)
            self.z_x = self.z_x.contiguous(memory_format=torch.channels_last)
        self.z_k = self.net_k.make_noise(*self.map_size, generator=self.gen).to(device)
        self.opt_x = torch.optim.Adam(self.net_x.parameters(), lr=lr_x)
        self.opt_k = torch.optim.Adam(self.net_k.parameters(), lr=lr_k)

    def _input(self, z: torch.Tensor) -> torch.Tensor:
        if self.reg_noise_std > 0:
            return z + self.reg_noise_std * torch.randn(z.shape, generator=self.gen).to(z.device)
        return z

    def x(self) -> torch.Tensor:
        return self.net_x(self._input(self.z_x))[..., :self.h, :self.w]

    def k(self) -> torch.Tensor:
        return self.net_k(self._input(self.z_k))

    def decay(self, factor: float) -> None:
        for opt in (self.opt_x, self.opt_k):
            for group in opt.param_groups:
                group["lr"] *= factor


@contextlib.contextmanager
def _frozen(wizard: KernelWizard):
    """The wizard in eval mode without parameter gradients; its mode and flags restored after."""
    was_training = wizard.training
    grad_flags = [p.requires_grad for p in wizard.parameters()]
    wizard.eval()
    for p in wizard.parameters():
        p.requires_grad_(False)
    try:
        yield wizard
    finally:
        for p, flag in zip(wizard.parameters(), grad_flags):
            p.requires_grad_(flag)
        wizard.train(was_training)


def _target_kernel(wizard: KernelWizard, y: torch.Tensor, init_kernel: torch.Tensor | None, map_size) -> torch.Tensor:
    """The kernel map DIP_k warms up on: `init_kernel` fitted to the image's map size, or F(y, y)."""
    with torch.no_grad():
        if init_kernel is None:
            return wizard.extract(y, y).detach()
        init = init_kernel.to(device=y.device, dtype=torch.float32)
        init = init.unsqueeze(0) if init.dim() == 3 else init
        if init.dim() != 4 or init.shape[:2] != (1, wizard.kernel_dim):
            raise ValueError(f"init_kernel must be 1 x {wizard.kernel_dim} x h x w, got {tuple(init.shape)}")
        return fit_kernel_map(init, map_size).detach()


def _stage_printer(progress: bool) -> Callable[[str], None]:
    """Without a progress bar, one line per stage with the elapsed time (a long run is not silent)."""
    started = time.time()

    def stage(text: str) -> None:
        if not progress:
            print(f"blind deblur: {text} ({time.time() - started:.0f} s)", flush=True)
    return stage


def _warm_up(priors: _Priors, y: torch.Tensor, target_k: torch.Tensor, warmup_x: int, warmup_k: int,
             losses: dict[str, list[float]], bar) -> None:
    """Fit DIP_x to y, then DIP_k to the target kernel map (MSE), recording the losses."""
    for steps, opt, draw, target, key in ((warmup_x, priors.opt_x, priors.x, y, "warmup_x"),
                                          (warmup_k, priors.opt_k, priors.k, target_k, "warmup_k")):
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            loss = F.mse_loss(draw(), target)
            loss.backward()
            opt.step()
            losses[key].append(loss.item())
            bar.set_postfix_str(f"warm-up {key[-1]} mse {loss.item():.2e}", refresh=False)
            bar.update()


def _joint_step(priors: _Priors, wizard: KernelWizard, y: torch.Tensor, weights: tuple[float, float, float]):
    """One shared step of both priors on the whole objective; (x, k, data, kernel, prior terms)."""
    kernel_weight, prior_weight, hyper_alpha = weights
    priors.opt_x.zero_grad(set_to_none=True)
    priors.opt_k.zero_grad(set_to_none=True)
    x, k = priors.x(), priors.k()
    data = charbonnier(wizard.adapt(x, k), y)
    k_term, prior = kernel_norm(k), hyper_laplacian(x, hyper_alpha)
    (data + kernel_weight * k_term + prior_weight * prior).backward()
    priors.opt_k.step()
    priors.opt_x.step()
    return x, k, data, k_term, prior


def _alternating_step(priors: _Priors, wizard: KernelWizard, y: torch.Tensor, weights: tuple[float, float, float],
                      x_last: torch.Tensor | None):
    """A k step with x fixed (`x_last`, the previous x step's image), then an x step with the updated
    k fixed; that pair is the recorded iterate: (x, k, data, kernel, prior terms)."""
    kernel_weight, prior_weight, hyper_alpha = weights
    priors.opt_k.zero_grad(set_to_none=True)
    if x_last is None:
        with torch.no_grad():
            x_last = priors.x()
    k = priors.k()
    k_loss = charbonnier(wizard.adapt(x_last, k), y) + kernel_weight * kernel_norm(k)
    k_loss.backward()
    priors.opt_k.step()
    priors.opt_x.zero_grad(set_to_none=True)
    with torch.no_grad():
        k = priors.k()
        k_term = kernel_norm(k)
    x = priors.x()
    data = charbonnier(wizard.adapt(x, k), y)
    prior = hyper_laplacian(x, hyper_alpha)
    (data + prior_weight * prior).backward()
    priors.opt_x.step()
    return x, k, data, k_term, prior


def kernel_map_image(kernel: torch.Tensor, px: int = 6, gap: int = 2) -> np.ndarray:
    """Visualise a kernel map (1 x D x h x w or D x h x w) as an RGB image in [0, 1].

    Each cell's D-dimensional code is drawn as a tile of rows x cols values (the most square
    factorisation of D), ``px`` pixels per value, tiles laid out like the cells with ``gap``-pixel
    grey separators. Diverging colours: white 0, red positive, blue negative, saturated at the map's
    largest absolute value.
    """
    k = kernel.detach().float().cpu()
    if k.dim() == 4:
        if k.shape[0] != 1:
            raise ValueError(f"expected one kernel map, got a batch of {k.shape[0]}")
        k = k[0]
    if k.dim() != 3:
        raise ValueError(f"expected a D x h x w kernel map, got shape {tuple(k.shape)}")
    d, mh, mw = k.shape
    rows = max(r for r in range(1, int(math.isqrt(d)) + 1) if d % r == 0)
    cols = d // rows
    v = (k / k.abs().max().clamp_min(1e-12)).numpy()  # in [-1, 1]
    tile_h, tile_w = rows * px, cols * px
    out = np.full((mh * (tile_h + gap) + gap, mw * (tile_w + gap) + gap, 3), 0.5, np.float32)
    for i in range(mh):
        for j in range(mw):
            cell = v[:, i, j].reshape(rows, cols)
            pos, neg = np.clip(cell, 0, None), np.clip(-cell, 0, None)
            rgb = np.stack((1 - neg, 1 - pos - neg, 1 - pos), axis=-1)
            rgb = rgb.repeat(px, axis=0).repeat(px, axis=1)
            top, left = gap + i * (tile_h + gap), gap + j * (tile_w + gap)
            out[top:top + tile_h, left:left + tile_w] = rgb
    return np.clip(out, 0, 1)


def save_kernel_map(path, kernel: torch.Tensor) -> tuple[Path, Path]:
    """Write a kernel map as ``<path>.png`` (``kernel_map_image``) and ``<path>.safetensors``
    (the raw float32 tensor under the key "kernel"); the suffix of ``path`` is replaced.
    Returns the two paths."""
    path = Path(path)
    png, raw = path.with_suffix(".png"), path.with_suffix(".safetensors")
    write_image(png, kernel_map_image(kernel))
    k = kernel.detach().float().cpu()
    if k.dim() == 3:
        k = k.unsqueeze(0)
    raw.parent.mkdir(parents=True, exist_ok=True)
    save_file({"kernel": k.contiguous()}, str(raw))
    return png, raw


def load_kernel_map(path) -> torch.Tensor:
    """Read a kernel map written by ``save_kernel_map`` (``.safetensors``, key "kernel") or a ``.npy``
    / ``.pt`` tensor; returns a 1 x D x h x w float32 tensor (e.g. for ``init_kernel``)."""
    path = Path(path)
    if path.suffix == ".npy":
        k = torch.from_numpy(np.load(path))
    elif path.suffix in (".pt", ".pth"):
        k = torch.load(path, map_location="cpu", weights_only=True)
    else:
        k = load_file(str(path.with_suffix(".safetensors")))["kernel"]
    k = k.float()
    return k.unsqueeze(0) if k.dim() == 3 else k


def deblur_file(input_path, out_path, wizard, iters: int = 5000, seed: int = 0, save_kernel: bool = False,
                device: str | None = "auto", progress: bool = True, **kwargs) -> list[Path]:
    """Blind-deblur one image file and write the result (format from ``out_path``'s extension).

    ``wizard``: a ``KernelWizard`` or a checkpoint (our stem or an official ``.pth``, loaded with
    ``kernel_space.load.load_kernel_wizard``); ``device`` "auto" | "cpu" | "cuda"... (a given module is
    moved only for an explicit device). With ``save_kernel`` also writes ``<out stem>_kernel.png``
    (visualisation) and ``<out stem>_kernel.safetensors`` (raw map) beside the output. Other keyword
    arguments go to ``blind_deblur``. Returns the written paths, the image first.
    """
    if isinstance(wizard, torch.nn.Module):
        if device not in (None, "auto"):
            wizard = wizard.to(pick_device(device))
    else:
        wizard = load_kernel_wizard(wizard, device=pick_device(device))
    y = read_image(input_path)
    result = blind_deblur(y, wizard, iters=iters, seed=seed, progress=progress, **kwargs)
    out_path = Path(out_path)
    written = [write_image(out_path, result.image())]
    if save_kernel:
        written += list(save_kernel_map(out_path.with_name(out_path.stem + "_kernel.png"), result.kernel))
    return written
