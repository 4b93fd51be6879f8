"""Official released checkpoints by name: which network and configuration each file needs.

`load_network("path/NAFNet-GoPro-width64.pth", "nafnet-gopro-width64")` builds the official
configuration and loads the file strictly (`weights_only=True`). Our own checkpoints
(`.safetensors` + `.json`) carry their configuration and need no name: `load_network(stem)`.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch.nn as nn

from blur2blur.nets import build_network
from blur2blur.nets.pretrained import shipped_stem
from blur2blur.nets.weights import load_model, load_weights, read_model_meta

OFFICIAL: dict[str, tuple[str, dict]] = {
    "nafnet-gopro-width32": ("nafnet", {"width": 32, "enc_blk_nums": [1, 1, 1, 28],
                                        "middle_blk_num": 1, "dec_blk_nums": [1, 1, 1, 1]}),
    "nafnet-gopro-width64": ("nafnet", {"width": 64, "enc_blk_nums": [1, 1, 1, 28],
                                        "middle_blk_num": 1, "dec_blk_nums": [1, 1, 1, 1]}),
    "restormer-motion": ("restormer", {}),
    "mimo-unet": ("mimo_unet", {"base_channel": 32, "num_res": 8}),
    "mimo-unet-plus": ("mimo_unet", {"base_channel": 32, "num_res": 20}),
    "bkse-gopro": ("kernel_wizard", {}),
}


# What each saved network is for, by its registered name.
ROLES = {"nafnet": "deblurrer", "restormer": "deblurrer", "mimo_unet": "translator", "unet": "translator",
         "nafnet_3scales": "translator", "identity_translator": "translator", "patchgan": "discriminator",
         "kernel_wizard": "kernel network", "resnet_generator": "deblurrer", "resnet_classifier": "blur classifier"}  # (CycleGAN / DualGAN generator B -> S: a deblurrer)


def load_network(path: str | os.PathLike, official: str | None = None, tlc: bool = False,
                 device=None, role: str | None = None) -> nn.Module:
    """Our checkpoint stem, "shipped" (the deblurrer inside the package, blur2blur/nets/pretrained.py),
    or an official file with its configuration name (see OFFICIAL).

    `role` ("deblurrer", "translator", ...; None = any): a checkpoint of another role is an
    error naming the file and what it is. `tlc` turns on NAFNet's test-time local converter
    (needed for NAFNet's published GoPro scores). Returned in eval mode.
    """
    if official is None and str(path) == "shipped":  # (the model inside the package, checked first)
        path = shipped_stem()
    path = Path(path)
    ours = Path(str(path.with_suffix("") if path.suffix in (".json", ".safetensors") else path) + ".json")
    if official is None:
        if path.suffix in (".pth", ".pt", ".ckpt", ".bin"):
            raise ValueError(f"{path} looks like an official checkpoint: name its configuration "
                             f"with one of {sorted(OFFICIAL)}")
        if role is not None:
            network = read_model_meta(path)["network"]
            actual = ROLES.get(network, network)
            if actual != role:
                raise ValueError(f"{path} is a {actual} checkpoint ({network}), not a {role}")
        model = load_model(path, device=device)
    else:
        if ours.is_file():
            raise ValueError(f"{path} is a blur2blur checkpoint, not an official file: give it without --official")
        if official not in OFFICIAL:
            raise ValueError(f"unknown official configuration {official!r}; choose from {sorted(OFFICIAL)}")
        name, kwargs = OFFICIAL[official]
        model = build_network(name, **kwargs)
        load_weights(model, path, strict=True)
        if device is not None:
            model = model.to(device)
    if tlc:
        if not hasattr(model, "tlc"):
            raise ValueError("the test-time local converter (tlc) exists for NAFNet only")
        model.tlc = True
    return model.eval()
