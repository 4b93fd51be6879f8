"""Adversarial losses (vanilla, hinge, lsgan, wgan) and the WGAN-GP gradient penalty.

Logits are raw discriminator outputs (any shape, e.g. a PatchGAN map N x 1 x h x w), either one
tensor or a list with one tensor per scale; per-scale losses are combined with ``reduce``
("mean", as the official code does over the three MIMO scales, or "sum").

Discriminator losses of "vanilla", "hinge" and "lsgan" are the average of the real and fake terms,
0.5 * (real_term + fake_term), which is how the official Blur2Blur code scales its hinge D loss
(DESIGN.md section 1). "wgan" is the plain critic difference mean(fake) - mean(real).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

GAN_MODES = ("vanilla", "hinge", "lsgan", "wgan")
_REDUCE = ("mean", "sum")


def _as_list(logits, what: str) -> list[torch.Tensor]:
    items = list(logits) if isinstance(logits, (list, tuple)) else [logits]
    if not items:
        raise ValueError(f"{what}: empty list of logits")
    for i, t in enumerate(items):
        if not torch.is_tensor(t):
            raise TypeError(f"{what}[{i}]: expected a tensor, got {type(t).__name__}")
    return items


def _check(mode: str, reduce: str) -> None:
    if mode not in GAN_MODES:
        raise ValueError(f"unknown GAN mode {mode!r}; expected one of {GAN_MODES}")
    if reduce not in _REDUCE:
        raise ValueError(f"unknown reduce {reduce!r}; expected one of {_REDUCE}")


def _combine(losses: list[torch.Tensor], reduce: str) -> torch.Tensor:
    total = torch.stack(losses).sum()
    return total / len(losses) if reduce == "mean" else total


def _d_one(real: torch.Tensor, fake: torch.Tensor, mode: str) -> torch.Tensor:
    if mode == "vanilla":  # -log sigmoid(real) - log(1 - sigmoid(fake))
        r = F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
        f = F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
        return 0.5 * (r + f)
    if mode == "hinge":
        return 0.5 * (F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean())
    if mode == "lsgan":
        return 0.5 * (((real - 1.0) ** 2).mean() + (fake**2).mean())
    return fake.mean() - real.mean()  # wgan


def _g_one(fake: torch.Tensor, mode: str) -> torch.Tensor:
    if mode == "vanilla":  # non-saturating: -log sigmoid(fake)
        return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
    if mode == "lsgan":
        return ((fake - 1.0) ** 2).mean()
    return -fake.mean()  # hinge and wgan


def gan_loss_d(real_logits, fake_logits, mode: str = "hinge", reduce: str = "mean") -> torch.Tensor:
    """Discriminator loss (scalar) for ``mode`` in ``GAN_MODES``; lower is better for D.

    vanilla: 0.5*(BCE(real, 1) + BCE(fake, 0)); hinge: 0.5*(mean relu(1-real) + mean relu(1+fake));
    lsgan: 0.5*(mean (real-1)^2 + mean fake^2); wgan: mean fake - mean real. Lists of logits are
    paired scale by scale (real_logits[i] with fake_logits[i]).
    """
    _check(mode, reduce)
    reals, fakes = _as_list(real_logits, "real_logits"), _as_list(fake_logits, "fake_logits")
    if len(reals) != len(fakes):
        raise ValueError(f"got {len(reals)} real scales but {len(fakes)} fake scales")
    return _combine([_d_one(r, f, mode) for r, f in zip(reals, fakes)], reduce)


def gan_loss_g(fake_logits, mode: str = "hinge", reduce: str = "mean") -> torch.Tensor:
    """Generator loss (scalar): lower when D scores the fakes as real.

    vanilla: BCE(fake, 1) (non-saturating log loss); lsgan: mean (fake-1)^2; hinge and wgan:
    -mean fake.
    """
    _check(mode, reduce)
    return _combine([_g_one(f, mode) for f in _as_list(fake_logits, "fake_logits")], reduce)


def _sum_outputs(out) -> torch.Tensor:
    if isinstance(out, (list, tuple)):
        return torch.stack([o.sum() for o in out]).sum()
    return out.sum()


def gradient_penalty(D, real: torch.Tensor, fake: torch.Tensor, target: float = 1.0,
                     generator: torch.Generator | None = None,
                     alpha: torch.Tensor | None = None) -> torch.Tensor:
    """WGAN-GP penalty mean_i (||grad_x D(x_i)||_2 - target)^2 on per-sample interpolates.

    x_i = a_i * real_i + (1 - a_i) * fake_i with a_i ~ U[0, 1) drawn per sample (from
    ``generator`` if given, on the inputs' device); real and fake are detached, so only D gets
    gradients. D may return one tensor or a list (their sums are added). The norm is taken over
    all non-batch dimensions. Differentiable w.r.t. D's parameters (create_graph=True). Any
    batch size. Returns a scalar; multiply by lambda_gp yourself. ``alpha`` (N values in [0, 1])
    overrides the random draw, e.g. to give every sample of a global batch the same mixing
    weight however the batch is split over processes.
    """
    if real.shape != fake.shape:
        raise ValueError(f"shape mismatch: real {tuple(real.shape)} vs fake {tuple(fake.shape)}")
    if real.dim() < 2:
        raise ValueError(f"expected batched inputs (N, ...), got shape {tuple(real.shape)}")
    n = real.shape[0]
    shape = (n,) + (1,) * (real.dim() - 1)
    if alpha is None:
        alpha = torch.rand(shape, generator=generator, device=real.device, dtype=real.dtype)
    else:
        alpha = alpha.to(device=real.device, dtype=real.dtype).reshape(shape)
    interp = (alpha * real.detach() + (1.0 - alpha) * fake.detach()).requires_grad_(True)
    with torch.enable_grad():
        score = _sum_outputs(D(interp))
        (grad,) = torch.autograd.grad(score, interp, create_graph=True)
    norm = grad.reshape(n, -1).norm(2, dim=1)
    return ((norm - target) ** 2).mean()
