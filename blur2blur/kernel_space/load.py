"""Loading kernel networks F+G for use: our checkpoints (``.safetensors`` + ``.json``) and the
official bkse plain state dicts (``.pth``), whose configuration is read off their keys."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

import torch

from blur2blur.device import pick_device
from blur2blur.nets.kernel_space import KernelWizard
from blur2blur.nets.weights import load_model, load_weights, read_state_dict

#: file suffixes read as plain (external) state dicts, e.g. the official ``GOPRO_woVAE.pth``
PLAIN_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")


def infer_net_kwargs(sd: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """KernelWizard constructor arguments read off a state dict's key names and shapes.

    Recovers nf, front_RBs, back_RBs, kernel_dim, recon_nf, input_nc and use_vae (F's trunk twice
    ``kernel_dim`` wide), so official files (``GOPRO_woVAE.pth``, ``*_wVAE.pth``) and our own
    smaller nets load without being told their configuration. Raises ValueError when the keys are
    not those of a KernelWizard.
    """
    try:
        nf, input_nc = sd["feature_extractor.0.weight"].shape[:2]
        front = sum(1 for k in sd if re.fullmatch(r"feature_extractor\.\d+\.conv1\.weight", k))
        back = sum(1 for k in sd if re.fullmatch(r"recon_trunk\.\d+\.conv1\.weight", k))
        inner = "adapter.model" + ".submodule" * 4 + ".up.1.weight"
        kernel_dim = sd[inner].shape[0] - 8 * nf
        recon_nf = sd[f"recon_trunk.{back + 3}.weight"].shape[0] // 4
        blocks = [k for k in sd if re.fullmatch(r"kernel_extractor\.model\.\d+\.conv_block\.1\.weight", k)]
        width = sd[blocks[0]].shape[0]
    except (KeyError, IndexError, AttributeError) as exc:
        raise ValueError(f"not a bkse KernelWizard state dict (missing {exc})") from exc
    if width not in (kernel_dim, 2 * kernel_dim):
        raise ValueError(f"kernel extractor width {width} fits neither kernel_dim {kernel_dim} nor twice it")
    return {"nf": int(nf), "front_RBs": int(front), "back_RBs": int(back), "kernel_dim": int(kernel_dim),
            "input_nc": int(input_nc), "use_vae": bool(width == 2 * kernel_dim), "recon_nf": int(recon_nf)}


def load_kernel_wizard(path_or_stem: str | os.PathLike, device: str | torch.device | None = None,
                       net_kwargs: Mapping[str, Any] | None = None) -> KernelWizard:
    """Load kernel networks F+G for use (eval mode, gradients still enabled; freeze as needed).

    ``path_or_stem``: our checkpoint (``run/kernel_wizard``, with or without ``.safetensors`` /
    ``.json``; recognised by its JSON file) or a plain state dict such as the official bkse
    ``GOPRO_woVAE.pth`` (``.pth .pt .ckpt .bin``, or a ``.safetensors`` without JSON beside it).
    For plain files the configuration comes from ``net_kwargs`` if given, else it is inferred from
    the keys (the official file gives the official config); loading is strict either way.
    ``net_kwargs`` is ignored for our checkpoints (their JSON holds the kwargs). ``device`` None
    keeps the CPU; "auto" picks CUDA/MPS when present.
    """
    path = Path(path_or_stem)
    suffix = path.suffix.lower()
    base = path.with_suffix("") if suffix in (".safetensors", ".json") else path
    json_path = Path(str(base) + ".json")
    if suffix not in PLAIN_SUFFIXES and json_path.is_file():
        net = load_model(base)
        if not isinstance(net, KernelWizard):
            raise ValueError(f"{base} is a {type(net).__name__} checkpoint, not kernel networks (F+G)")
    else:
        plain = path if (suffix in PLAIN_SUFFIXES or suffix == ".safetensors") else Path(str(base) + ".safetensors")
        if not plain.is_file():
            raise FileNotFoundError(
                f"no kernel-network weights at {path_or_stem}: expected {base}.safetensors + {json_path.name} "
                f"(a blur2blur checkpoint) or a plain state dict file ({', '.join(PLAIN_SUFFIXES)})")
        sd = read_state_dict(plain)
        kwargs = dict(net_kwargs) if net_kwargs is not None else infer_net_kwargs(sd)
        net = KernelWizard(**kwargs)
        load_weights(net, sd, strict=True)
    if device is not None:
        net = net.to(pick_device(device))
    return net.eval()
