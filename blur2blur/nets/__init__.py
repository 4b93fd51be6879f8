"""Networks of the pipeline, by name: a plain dict and a builder."""

from __future__ import annotations

import torch.nn as nn

from .identity import IdentityTranslator
from .kernel_space import KernelWizard
from .mimo_unet import MIMOUNet
from .multiscale import ThreeScales
from .nafnet import NAFNet
from .patchgan import PatchGAN
from .resnet_classifier import ResNetClassifier
from .resnet_generator import ResnetGenerator
from .restormer import Restormer
from .unet import UNet

NETWORKS: dict[str, type] = {
    "nafnet": NAFNet,
    "mimo_unet": MIMOUNet,
    "patchgan": PatchGAN,
    "restormer": Restormer,
    "unet": UNet,
    "kernel_wizard": KernelWizard,
    "resnet_generator": ResnetGenerator,
    "resnet_classifier": ResNetClassifier,
    "identity_translator": IdentityTranslator,
}


def _nafnet_three_scales(**kwargs) -> nn.Module:
    return ThreeScales(NAFNet(**kwargs))


# Translator backbones for the paper's ablation: each returns [quarter, half, full] outputs.
NETWORKS["nafnet_3scales"] = _nafnet_three_scales


def build_network(name: str, **kwargs) -> nn.Module:
    """Instantiate ``NETWORKS[name](**kwargs)``; unknown names and bad arguments raise ValueError."""
    try:
        cls = NETWORKS[name]
    except KeyError:
        raise ValueError(
            f"unknown network {name!r}; available: {', '.join(sorted(NETWORKS))}"
        ) from None
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"cannot build network {name!r} with arguments {kwargs}: {exc}") from exc


__all__ = ["NETWORKS", "build_network", "NAFNet", "MIMOUNet", "PatchGAN", "Restormer", "UNet", "KernelWizard"]
