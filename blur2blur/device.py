"""Device choice and seeding shared by every recipe and the inference pipeline."""

from __future__ import annotations

import random

import numpy as np
import torch


def pick_device(name: str | None = "auto") -> torch.device:
    """`"auto"` (or None) picks CUDA when present, else Apple MPS, else the CPU; any other string is
    passed to torch.device (e.g. "cpu", "cuda:1")."""
    if name in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a CPU generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
