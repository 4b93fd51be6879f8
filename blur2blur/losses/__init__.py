"""Training losses: adversarial (+ gradient penalty) and pixel losses.

The perceptual loss lives in ``blur2blur.losses.perceptual`` and is deliberately not imported
here (it builds a VGG network); import it from that module directly.
"""

from .gan import GAN_MODES, gan_loss_d, gan_loss_g, gradient_penalty
from .pixel import charbonnier, l1, lowpass_l1, psnr_loss

__all__ = [
    "GAN_MODES",
    "charbonnier",
    "gan_loss_d",
    "gan_loss_g",
    "gradient_penalty",
    "l1",
    "lowpass_l1",
    "psnr_loss",
]
