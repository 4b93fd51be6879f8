"""Image quality metrics with the field's conventions (DESIGN.md section 3)."""

from .evaluate import METRIC_LABELS, evaluate_arrays, evaluate_folders, format_table
from .psnr import psnr
from .ssim import SSIM_CONVENTIONS, ssim

__all__ = [
    "METRIC_LABELS",
    "SSIM_CONVENTIONS",
    "evaluate_arrays",
    "evaluate_folders",
    "format_table",
    "psnr",
    "ssim",
]
