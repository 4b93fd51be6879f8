"""The blur degree of the paper's curriculum and of `prepare`'s frame scores: the variance of the
Laplacian of the luma (lower is blurrier)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

_LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def blur_degree(x: torch.Tensor) -> torch.Tensor:
    """Variance of the Laplacian of the luma of each NCHW image in [0,1] -> N values.

    Lower means blurrier (fewer edges survive). Valid convolution, so borders do not count.
    """
    luma = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)
    kernel = _LAPLACIAN.to(x.device, x.dtype).view(1, 1, 3, 3)
    return F.conv2d(luma, kernel).flatten(1).var(dim=1)
