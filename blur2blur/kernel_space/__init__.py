"""Blur-kernel space (bkse) in use: blur transfer between images and the known-blur set K it makes
(``transfer``); blind deblurring with the kernel space is in ``blur2blur.kernel_space.blind``.

The networks themselves (F, G) are in ``blur2blur.nets.kernel_space``; their training and loading
in ``blur2blur.train.kernels``.
"""

from .transfer import (
    OnlineKnownBlur,
    apply_kernel,
    build_transferred_known_set,
    extract_kernel,
    frozen_eval,
    transfer_blur,
    transfer_image,
)

__all__ = [
    "OnlineKnownBlur",
    "apply_kernel",
    "build_transferred_known_set",
    "extract_kernel",
    "frozen_eval",
    "transfer_blur",
    "transfer_image",
]
