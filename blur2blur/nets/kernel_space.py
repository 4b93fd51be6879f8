"""Blur-kernel space networks of bkse (Tran et al., CVPR 2021): the kernel extractor F and the blur
operator G, joined in ``KernelWizard``.

``k = F(x_sharp, y_blur)`` encodes the blur that turns a sharp image into its blurry twin as a kernel
map of ``kernel_dim`` channels and ceil(H/128) x ceil(W/128) cells; ``y = G(x_sharp, k)`` applies such
a code to any sharp image. Blur transfer: ``G(x_target, F(x_src, y_src))``.

Structure and state-dict keys follow the official bkse code (the U-Net with 4x4 transposed-conv
up-sampling that the released ``GOPRO_woVAE.pth`` was trained with, norm "none" everywhere):

- ``feature_extractor``: conv3x3 (input_nc->nf) + LReLU(0.1), two conv3x3 stride 2 + LReLU(0.1),
  ``front_RBs`` residual blocks (conv-ReLU-conv + identity, biases). Output nf x H/4 x W/4.
- ``kernel_extractor.model`` (F): reflect-pad 3, conv7x7 2nf->nf (no bias), ReLU, five conv3x3
  stride 2 (no bias) each + ReLU, channels nf*2**i capped at the output width, then 4 ResnetBlocks
  (reflect-pad, conv3x3 no bias, ReLU, reflect-pad, conv3x3 no bias, + identity).
- ``adapter.model`` (G's U-Net, nested ``submodule``s, 5 levels on the features): down = conv4x4
  stride 2 (no bias), preceded by LeakyReLU(0.2) except at the outermost level; up = ReLU then
  ConvTranspose 4x4 stride 2 (bias only at the outermost level); the kernel map is concatenated to
  the bottleneck; skip connections concatenate; the outermost output goes through tanh.
- ``recon_trunk``: ``back_RBs`` residual blocks, conv nf->4nf + PixelShuffle(2) + LReLU, conv
  nf->4*64 + PixelShuffle(2) + LReLU, conv 64->64 + LReLU, conv 64->input_nc (64 = ``recon_nf``);
  plus the sharp input.

Norm-free placeholders (``nn.Identity``) keep the official Sequential indices, so keys read e.g.
``kernel_extractor.model.1.weight`` (64,128,7,7), ``kernel_extractor.model.19.conv_block.5.weight``,
``adapter.model.submodule.down.1.weight``, ``recon_trunk.20.weight`` (256,64,3,3). The official
configuration (nf 64, front 10, back 20, kernel_dim 512) has 49,205,187 parameters, 159 keys.

Images are RGB float32 in [0,1], tensors NCHW; any size works (padded inside to a multiple of 128,
cropped back; the official code needs crops of at least 256 because reflection padding fails on a
1-cell kernel map, which here falls back to replicate padding). Outputs of G are not clamped.

Initialisation (training from scratch only; loaded checkpoints replace it): the convolutions of the
feature extractor's head, of F and of G's U-Net are Kaiming-normal for their activation, so the
kernel code has unit scale and moves G's output from the first step. With PyTorch's default
initialisation, used by the official code, the six bias-free convolutions of F shrink the code to
a std of ~2e-4 and G's U-Net shrinks its effect to ~1e-6 grey levels (cpu-small, 128 px; this init:
1.6 and 0.3; ``benchmarks/kernel_code_probe.py --init-only``), so F receives no usable gradient.
This fixes the scale only: at CPU scale the jointly trained code still collapses and G learns one
average blur (docs/kernel_space.md).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .padding import pad_to_multiple

#: total down-sampling from an image to its kernel map (4 in the feature extractor, 32 in F / U-Net)
KERNEL_STRIDE = 128


def init_signal_preserving(module: nn.Module, negative_slope: float = 0.0) -> None:
    """Kaiming-normal (fan-in) weights and zero biases for every conv of ``module`` (ReLU-family
    activation with ``negative_slope``). A stride-s transposed conv of kernel k gives each output
    in_channels * (k/s)^2 inputs, which is its fan-in here (PyTorch's default reads out_channels)."""
    for m in module.modules():
        if isinstance(m, nn.ConvTranspose2d):
            fan_in = m.in_channels * (m.kernel_size[0] // m.stride[0]) * (m.kernel_size[1] // m.stride[1])
            gain = nn.init.calculate_gain("leaky_relu", negative_slope)
            nn.init.normal_(m.weight, 0.0, gain / math.sqrt(fan_in))
        elif isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, a=negative_slope, mode="fan_in", nonlinearity="leaky_relu")
        else:
            continue
        if m.bias is not None:
            nn.init.zeros_(m.bias)


class ResidualBlockNoBN(nn.Module):
    """conv3x3-ReLU-conv3x3 plus identity, biases, no normalisation (keys ``conv1``, ``conv2``).

    Initialised like the official block: Kaiming-normal (fan_in) weights scaled by 0.1, zero biases.
    """

    def __init__(self, nf: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(nf, nf, 3, 1, 1, bias=True)
        self.conv2 = nn.Conv2d(nf, nf, 3, 1, 1, bias=True)
        for conv in (self.conv1, self.conv2):
            nn.init.kaiming_normal_(conv.weight, a=0, mode="fan_in")
            with torch.no_grad():
                conv.weight.mul_(0.1)
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class ReflectPad1(nn.Module):
    """Reflection padding by 1 pixel; replicate padding on maps with a side of 1 pixel, where
    reflection is undefined (the official code crashes there: kernel maps of images <= 128 px)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mode = "reflect" if min(x.shape[-2:]) > 1 else "replicate"
        return F.pad(x, (1, 1, 1, 1), mode=mode)


class ResnetBlock(nn.Module):
    """pix2pix-style block without norm: reflect-pad, conv3x3, ReLU, reflect-pad, conv3x3, + identity.

    ``conv_block`` indices match the official block built with norm "none" (Identity at 2 and 6),
    so the convs are ``conv_block.1`` and ``conv_block.5``; no biases.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.conv_block = nn.Sequential(
            ReflectPad1(),
            nn.Conv2d(dim, dim, 3, padding=0, bias=False),
            nn.Identity(),
            nn.ReLU(inplace=True),
            ReflectPad1(),
            nn.Conv2d(dim, dim, 3, padding=0, bias=False),
            nn.Identity(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class KernelExtractor(nn.Module):
    """F: features of the sharp and the blurry image (nf each, H/4) -> kernel code (H/128).

    Output has ``kernel_dim`` channels, or ``2 * kernel_dim`` when ``use_vae`` (mean, then
    log-sigma), computed at full width through the whole trunk as in the official VAE variant.
    """

    def __init__(self, nf: int = 64, kernel_dim: int = 512, use_vae: bool = False, n_blocks: int = 4):
        super().__init__()
        out_nc = 2 * kernel_dim if use_vae else kernel_dim
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(2 * nf, nf, 7, padding=0, bias=False),
            nn.Identity(),
            nn.ReLU(inplace=True),
        ]
        for i in range(5):
            c_in = min(nf * 2 ** i, out_nc)
            c_out = min(nf * 2 ** (i + 1), out_nc)
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.Identity(),
                       nn.ReLU(inplace=True)]
        layers += [ResnetBlock(out_nc) for _ in range(n_blocks)]
        self.model = nn.Sequential(*layers)

    def forward(self, feat_sharp: torch.Tensor, feat_blur: torch.Tensor) -> torch.Tensor:
        return self.model(torch.cat((feat_sharp, feat_blur), dim=1))


class UNetLevel(nn.Module):
    """One level of G's U-Net: ``down`` -> ``submodule`` (or the kernel at the bottleneck) -> ``up``.

    Non-outermost levels apply LeakyReLU(0.2) to their input first and the skip connection carries
    that activated input (the official block activates in place, so its skip sees it too).
    """

    def __init__(self, outer_nc: int, inner_nc: int, input_nc: int | None = None,
                 submodule: "UNetLevel | None" = None, outermost: bool = False,
                 innermost: bool = False, kernel_nc: int = 0):
        super().__init__()
        self.outermost, self.innermost = outermost, innermost
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, 4, stride=2, padding=1, bias=False)
        if outermost:
            self.down = nn.Sequential(downconv)
            self.submodule = submodule
            self.up = nn.Sequential(
                nn.ReLU(), nn.ConvTranspose2d(2 * inner_nc, outer_nc, 4, stride=2, padding=1),
                nn.Tanh())
        elif innermost:
            self.down = nn.Sequential(nn.LeakyReLU(0.2), downconv)
            self.up = nn.Sequential(
                nn.ReLU(),
                nn.ConvTranspose2d(inner_nc + kernel_nc, outer_nc, 4, stride=2, padding=1, bias=False),
                nn.Identity())
        else:
            self.down = nn.Sequential(nn.LeakyReLU(0.2), downconv, nn.Identity())
            self.submodule = submodule
            self.up = nn.Sequential(
                nn.ReLU(),
                nn.ConvTranspose2d(2 * inner_nc, outer_nc, 4, stride=2, padding=1, bias=False),
                nn.Identity())

    def forward(self, x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.up(self.submodule(self.down(x), kernel))
        skip = self.down[0](x)
        inner = self.down[1:](skip)
        if self.innermost:
            inner = torch.cat((inner, kernel), dim=1)
        else:
            inner = self.submodule(inner, kernel)
        return torch.cat((self.up(inner), skip), dim=1)


class KernelAdapter(nn.Module):
    """G's U-Net (5 levels, widths nf, 2nf, 4nf, 8nf, 8nf) on nf-channel features at H/4, with the
    kernel map (``kernel_dim`` channels, H/128) concatenated at the bottleneck; output nf channels
    in (-1, 1) at H/4."""

    def __init__(self, nf: int = 64, kernel_dim: int = 512):
        super().__init__()
        block = UNetLevel(nf * 8, nf * 8, innermost=True, kernel_nc=kernel_dim)
        block = UNetLevel(nf * 4, nf * 8, submodule=block)
        block = UNetLevel(nf * 2, nf * 4, submodule=block)
        block = UNetLevel(nf, nf * 2, submodule=block)
        self.model = UNetLevel(nf, nf, input_nc=nf, submodule=block, outermost=True)

    def forward(self, feat: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        return self.model(feat, kernel)


def fit_kernel_map(kernel: torch.Tensor, size: tuple[int, int], mode: str = "pool") -> torch.Tensor:
    """Resample an N x C x h x w kernel map to ``size`` (cells).

    ``"pool"``: adaptive average pooling (shrinking averages neighbouring cells, enlarging repeats
    each cell over a block), keeping the blur's coarse spatial layout; ``"mean"``: one code, the
    average over all cells, broadcast everywhere (spatially uniform blur).
    """
    if mode == "mean":
        return kernel.mean(dim=(2, 3), keepdim=True).expand(-1, -1, *size).contiguous()
    if mode != "pool":
        raise ValueError(f"unknown kernel map fitting mode {mode!r}; use 'pool' or 'mean'")
    if tuple(kernel.shape[-2:]) == tuple(size):
        return kernel
    return F.adaptive_avg_pool2d(kernel, size)


class KernelWizard(nn.Module):
    """F (kernel extractor) and G (blur operator) sharing one feature extractor, bkse-style.

    Args: ``nf`` feature width, ``front_RBs``/``back_RBs`` residual blocks before F,G / after G's
    U-Net, ``kernel_dim`` kernel-code channels, ``input_nc`` image channels, ``use_vae``: F predicts
    a mean and a log-sigma and samples ``mean + exp(log_sigma) * eps`` in training mode (the mean in
    eval mode); ``recon_nf`` the width of the last up-sampling stages (the official code fixes it
    at 64 whatever nf is; lower it only for small experimental models). The official VAE variant
    has the same key names (F's trunk twice as wide) but uses its second half as sigma itself, not
    its log, so only its eval-mode (mean) behaviour carries over here.
    """

    def __init__(self, nf: int = 64, front_RBs: int = 10, back_RBs: int = 20, kernel_dim: int = 512,
                 input_nc: int = 3, use_vae: bool = False, recon_nf: int = 64):
        super().__init__()
        self.nf, self.kernel_dim, self.input_nc, self.use_vae = nf, kernel_dim, input_nc, use_vae
        lrelu = nn.LeakyReLU(0.1)
        self.feature_extractor = nn.Sequential(
            nn.Conv2d(input_nc, nf, 3, 1, 1), lrelu,
            nn.Conv2d(nf, nf, 3, 2, 1), lrelu,
            nn.Conv2d(nf, nf, 3, 2, 1), lrelu,
            *[ResidualBlockNoBN(nf) for _ in range(front_RBs)],
        )
        self.kernel_extractor = KernelExtractor(nf, kernel_dim, use_vae=use_vae)
        self.adapter = KernelAdapter(nf, kernel_dim)
        self.recon_trunk = nn.Sequential(
            *[ResidualBlockNoBN(nf) for _ in range(back_RBs)],
            nn.Conv2d(nf, nf * 4, 3, 1, 1), nn.PixelShuffle(2), lrelu,
            nn.Conv2d(nf, recon_nf * 4, 3, 1, 1), nn.PixelShuffle(2), lrelu,
            nn.Conv2d(recon_nf, recon_nf, 3, 1, 1), lrelu,
            nn.Conv2d(recon_nf, input_nc, 3, 1, 1),
        )
        # Residual blocks keep their own 0.1-scaled init; the recon head keeps PyTorch's default,
        # so G starts close to the identity on the sharp input.
        for layer in list(self.feature_extractor)[:6]:
            init_signal_preserving(layer, negative_slope=0.1)
        init_signal_preserving(self.kernel_extractor)
        init_signal_preserving(self.adapter)

    @staticmethod
    def kernel_map_size(height: int, width: int) -> tuple[int, int]:
        """Kernel-map cells for an image of ``height`` x ``width`` pixels: ceil(side / 128)."""
        return math.ceil(height / KERNEL_STRIDE), math.ceil(width / KERNEL_STRIDE)

    def extract(self, x_sharp: torch.Tensor, y_blur: torch.Tensor, return_stats: bool = False):
        """F: kernel map (N x kernel_dim x ceil(H/128) x ceil(W/128)) of the blur from ``x_sharp``
        to ``y_blur`` (same NCHW shape, [0,1]).

        VAE: a reparameterised sample in training mode, the mean in eval mode. With
        ``return_stats`` returns ``(kernel, mean, log_sigma)`` (``log_sigma`` None without VAE).
        """
        if x_sharp.shape != y_blur.shape:
            raise ValueError(f"sharp {tuple(x_sharp.shape)} and blurry {tuple(y_blur.shape)} differ")
        both = pad_to_multiple(torch.cat((x_sharp, y_blur), dim=0), KERNEL_STRIDE)
        feats = self.feature_extractor(both)
        code = self.kernel_extractor(*feats.chunk(2, dim=0))
        if not self.use_vae:
            return (code, code, None) if return_stats else code
        mean, log_sigma = code[:, :self.kernel_dim], code[:, self.kernel_dim:]
        if self.training:
            kernel = mean + torch.exp(log_sigma) * torch.randn_like(mean)
        else:
            kernel = mean
        return (kernel, mean, log_sigma) if return_stats else kernel

    def adapt(self, x_sharp: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        """G: blur ``x_sharp`` (NCHW, [0,1]) with ``kernel``, a map of exactly
        ``kernel_map_size(H, W)`` cells (batch N or 1). Returns the blurred image, x_sharp's shape."""
        n, _, h, w = x_sharp.shape
        expected = self.kernel_map_size(h, w)
        if kernel.dim() != 4 or kernel.shape[1] != self.kernel_dim or tuple(kernel.shape[-2:]) != expected:
            raise ValueError(f"kernel map must be N x {self.kernel_dim} x {expected[0]} x {expected[1]} "
                             f"for a {h}x{w} image, got {tuple(kernel.shape)} (see fit_kernel_map)")
        if kernel.shape[0] != n:
            if kernel.shape[0] != 1:
                raise ValueError(f"kernel batch {kernel.shape[0]} does not match image batch {n}")
            kernel = kernel.expand(n, -1, -1, -1)
        base = pad_to_multiple(x_sharp, KERNEL_STRIDE)
        out = self.recon_trunk(self.adapter(self.feature_extractor(base), kernel)) + base
        return out[..., :h, :w]

    def transfer(self, x_target: torch.Tensor, x_src: torch.Tensor, y_src: torch.Tensor,
                 fit: str = "pool") -> torch.Tensor:
        """Blur transfer ``G(x_target, F(x_src, y_src))``: the blur of the source pair on the target.

        Target and source may differ in size: the source kernel map is resampled to the target's map
        size with ``fit_kernel_map(..., mode=fit)`` ("pool": adaptive average pooling, "mean":
        one averaged code everywhere). A single source pair may serve a batch of targets.
        """
        kernel = self.extract(x_src, y_src)
        size = self.kernel_map_size(*x_target.shape[-2:])
        return self.adapt(x_target, fit_kernel_map(kernel, size, mode=fit))

    def forward(self, x_sharp: torch.Tensor, y_blur: torch.Tensor) -> torch.Tensor:
        """Reconstruction ``G(x_sharp, F(x_sharp, y_blur))`` (the training objective's prediction of
        ``y_blur``). The official ``forward`` returned F's output instead; use ``extract`` for that."""
        return self.adapt(x_sharp, self.extract(x_sharp, y_blur))

    @staticmethod
    def kl_divergence(mean: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
        """KL(N(mean, exp(log_sigma)^2) || N(0, 1)) summed over code elements, averaged over the batch."""
        kl = 0.5 * (mean.pow(2) + torch.exp(2 * log_sigma) - 2 * log_sigma - 1)
        return kl.flatten(1).sum(dim=1).mean()
