"""blur2blur: camera-specific deblurring from unpaired data (Blur2Blur, Pham et al., CVPR 2024)."""

__version__ = "0.1.0"
