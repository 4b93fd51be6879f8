"""Blur-kernel space (bkse) in use: blur transfer between images (``transfer``), loading the
kernel networks (``load``), closed-form kernels of a sharp/blurry pair (``estimate``) and blind
deblurring with the kernel space (``blind``).

The networks themselves (F, G) are in ``blur2blur.nets.kernel_space``, their training in
``blur2blur.train.kernels``; the known-blur sets made with them in ``blur2blur.known_blur``.
"""

from .load import load_kernel_wizard
from .transfer import apply_kernel, extract_kernel, frozen_eval, transfer_blur, transfer_image

__all__ = ["apply_kernel", "extract_kernel", "frozen_eval", "load_kernel_wizard", "transfer_blur", "transfer_image"]
