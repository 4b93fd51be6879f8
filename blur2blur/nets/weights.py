"""Checkpoints: safe reading of external weight files, strict loading, and our own format.

External files (.pth/.pt/.ckpt/.bin) are read with ``torch.load(weights_only=True)``: a pickle that
would run code is refused. ``.safetensors`` files are read with safetensors. Our own checkpoints are
two files written atomically: ``<path>.safetensors`` (weights) and ``<path>.json`` (network name,
constructor kwargs, blur2blur version, extra metadata).
"""

from __future__ import annotations

import errno
import inspect
import io
import json
import os
import pickle
import pickletools
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

from blur2blur import __version__
from blur2blur.nets import NETWORKS, build_network
from blur2blur.outputs.files import as_disk_error, file_mode, raise_for_output, temp_path

# Wrapper keys of common checkpoint layouts, tried in this order when no ``key`` is given:
# BasicSR/NAFNet/Restormer save {'params': sd} (and sometimes 'params_ema' as well: the official
# NAFNet files use 'params', so it wins), MIMO-UNet saves {'model': sd}, Lightning 'state_dict'.
WRAPPER_KEYS = ("params", "params_ema", "model", "state_dict", "net", "network")
_PREFIXES = ("module.", "_orig_mod.")
FORMAT_NAME = "blur2blur-checkpoint"
FORMAT_VERSION = 1


class UnsafeCheckpointError(ValueError):
    """The file is a pickle that contains code objects/callables; it was not loaded."""


class CheckpointFormatError(ValueError):
    """The file could not be read or holds no recognisable state dict."""


class WeightsMismatchError(ValueError, RuntimeError):
    """A state dict does not fit the model (missing, unexpected or wrongly shaped keys)."""


@dataclass
class LoadReport:
    """Outcome of ``load_weights``: key names that did not fit (empty lists when all fitted)."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)  # "key: file (a, b) vs model (c, d)"

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def format(self, limit: int = 20) -> str:
        parts = []
        for title, items in (("missing", self.missing), ("unexpected", self.unexpected),
                             ("shape mismatch", self.mismatched)):
            if items:
                shown = ", ".join(items[:limit]) + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")
                parts.append(f"{len(items)} {title}: {shown}")
        return "; ".join(parts) if parts else "all keys matched"


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    )


def unwrap_state_dict(obj: Any, key: str | None = None, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """Find the state dict inside a loaded checkpoint object and strip ``module.`` prefixes.

    ``key`` selects a wrapper entry explicitly (e.g. ``"params_ema"``); otherwise the first of
    ``WRAPPER_KEYS`` present is used, repeatedly (nested wrappers), until a plain state dict remains.
    """
    if key is not None:
        if not isinstance(obj, Mapping) or key not in obj:
            have = list(obj.keys())[:20] if isinstance(obj, Mapping) else type(obj).__name__
            raise CheckpointFormatError(f"{source}: no entry {key!r} (top-level keys: {have})")
        obj = obj[key]
    for _ in range(4):
        if _is_state_dict(obj):
            break
        if not isinstance(obj, Mapping):
            raise CheckpointFormatError(f"{source}: expected a dict of tensors, found {type(obj).__name__}")
        found = next((k for k in WRAPPER_KEYS if k in obj and isinstance(obj[k], Mapping)), None)
        if found is None:
            raise CheckpointFormatError(
                f"{source}: no state dict found; top-level keys are {list(obj.keys())[:20]}; "
                f"pass key=... to pick one"
            )
        obj = obj[found]
    if not _is_state_dict(obj):
        raise CheckpointFormatError(f"{source}: no state dict of tensors found")
    out: dict[str, torch.Tensor] = {}
    for k, v in obj.items():
        changed = True
        while changed:
            changed = False
            for p in _PREFIXES:
                if k.startswith(p):
                    k, changed = k[len(p):], True
        out[k] = v
    return out


def read_state_dict(path: str | os.PathLike, key: str | None = None) -> dict[str, torch.Tensor]:
    """Read a state dict from .pth/.pt/.ckpt (weights only, never code) or .safetensors, on CPU.

    Unwraps ``{'params'}``, ``{'params_ema'}``, ``{'model'}``, ``{'state_dict'}`` (first present, in
    that order, unless ``key`` is given) and strips ``module.`` prefixes.
    Raises FileNotFoundError, UnsafeCheckpointError (pickled code) or CheckpointFormatError.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weight file not found: {path}")
    if not os.access(path, os.R_OK):
        raise PermissionError(errno.EACCES, "permission denied: the file exists but cannot be read", str(path))
    if path.suffix.lower() == ".safetensors":
        try:
            obj = load_file(str(path), device="cpu")
        except Exception as exc:  # safetensors raises its own error types
            raise CheckpointFormatError(f"{path}: not a readable safetensors file ({exc})") from exc
        if key is not None:
            raise CheckpointFormatError(
                f"{path}: safetensors files hold a flat state dict; key={key!r} is not applicable")
        return unwrap_state_dict(obj, None, str(path))
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise _explain_refusal(path, exc) from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointFormatError(f"{path}: cannot read as a PyTorch checkpoint ({exc})") from exc
    return unwrap_state_dict(obj, key, str(path))


# Globals a plain tensor checkpoint legitimately references (the weights-only loader allows these).
_SAFE_GLOBAL_PREFIXES = ("torch.", "collections.OrderedDict", "builtins.set", "builtins.slice", "_codecs.encode")


def scan_pickle_globals(path: str | os.PathLike) -> list[str] | None:
    """Static scan (nothing is executed): the Python objects the pickle(s) in ``path`` would import.

    Handles torch's zip format (``*/data.pkl``) and raw/legacy pickles. None if it is not a pickle.
    """
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                members = [n for n in z.namelist() if n.endswith("data.pkl")]
                if not members:
                    return None
                data = z.read(members[0])
        else:
            data = Path(path).read_bytes()
    except (OSError, zipfile.BadZipFile):
        return None
    stream = io.BytesIO(data)
    found: list[str] = []
    parsed_one = False
    while stream.tell() < len(data):
        strings: list[str] = []
        try:
            for op, arg, _ in pickletools.genops(stream):
                if op.name in ("GLOBAL", "INST"):
                    found.append(str(arg).replace(" ", "."))
                elif op.name == "STACK_GLOBAL":
                    found.append(".".join(strings[-2:]))
                elif isinstance(arg, str):
                    strings.append(arg)
        except Exception:  # not (or no longer) pickle data: e.g. raw tensor bytes after the pickles
            break
        parsed_one = True
    return found if parsed_one else None


def _explain_refusal(path: Path, exc: Exception) -> Exception:
    """Turn the weights-only loader's UnpicklingError into our error with a clear reason."""
    found = scan_pickle_globals(path)
    if found is None:
        return CheckpointFormatError(f"{path}: not a PyTorch checkpoint (not a readable pickle or zip archive)")
    unsafe = sorted({g for g in found if not g.startswith(_SAFE_GLOBAL_PREFIXES)})
    if unsafe or "Unsupported global" in str(exc):
        names = ", ".join(unsafe[:10]) if unsafe else "see details"
        return UnsafeCheckpointError(
            f"{path}: refused to load: the file contains code objects / references to Python callables "
            f"that would be executed when unpickled ({names}); it will not be loaded. Only tensors and "
            f"plain containers are accepted. If you trust the file, re-save just its state dict with "
            f"torch.save(model.state_dict(), ...) or convert it to .safetensors."
        )
    return UnsafeCheckpointError(
        f"{path}: refused to load: the pickle uses constructs the safe (weights-only) loader cannot "
        f"verify, so it will not be loaded. Re-save the state dict with torch.save or as .safetensors."
    )


def compare_state_dict(model: nn.Module, sd: Mapping[str, torch.Tensor]) -> LoadReport:
    """Report which keys of ``sd`` are missing/unexpected/wrongly shaped for ``model``."""
    own = model.state_dict()
    report = LoadReport()
    report.missing = [k for k in own if k not in sd]
    report.unexpected = [k for k in sd if k not in own]
    report.mismatched = [
        f"{k}: file {tuple(sd[k].shape)} vs model {tuple(v.shape)}"
        for k, v in own.items() if k in sd and tuple(sd[k].shape) != tuple(v.shape)
    ]
    return report


def load_weights(model: nn.Module, path_or_sd: str | os.PathLike | Mapping[str, torch.Tensor],
                 strict: bool = True, key: str | None = None) -> LoadReport:
    """Load weights (a file path or a state dict, wrappers allowed) into ``model`` in place.

    strict=True: any missing, unexpected or wrongly shaped key raises WeightsMismatchError naming
    the keys. strict=False: loads what fits (shape-mismatched entries skipped) and returns the
    LoadReport listing the rest.
    """
    if isinstance(path_or_sd, (str, os.PathLike)):
        sd = read_state_dict(path_or_sd, key=key)
        source = str(path_or_sd)
    else:
        sd = unwrap_state_dict(path_or_sd, key, "state dict")
        source = "state dict"
    report = compare_state_dict(model, sd)
    if strict and not report.ok:
        raise WeightsMismatchError(
            f"weights from {source} do not fit {type(model).__name__}: {report.format()}"
        )
    bad = {m.split(":")[0] for m in report.mismatched}
    model.load_state_dict({k: v for k, v in sd.items() if k not in bad}, strict=False)
    return report


def _atomic_write(target: Path, write) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = str(temp_path(target))
    try:
        write(tmp)
        os.chmod(tmp, file_mode())  # (some writers create 0600 files; checkpoints follow the umask)
        os.replace(tmp, target)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(exc, OSError):
            raise_for_output(exc, target)
        disk = as_disk_error(exc, target)
        if disk is not None:
            raise disk from None
        raise


def _base(path: str | os.PathLike) -> Path:
    p = Path(path)
    return p.with_suffix("") if p.suffix.lower() in (".safetensors", ".json") else p


def save_model(model: nn.Module, path: str | os.PathLike, name: str, kwargs: Mapping[str, Any],
               extra: Mapping[str, Any] | None = None) -> tuple[Path, Path]:
    """Write ``<path>.safetensors`` + ``<path>.json`` atomically; returns both paths.

    ``name`` is the NETWORKS key and ``kwargs`` the constructor arguments (JSON-serialisable) so
    that ``load_model`` can rebuild the network. ``extra`` is free metadata (iteration, preset...).
    """
    base = _base(path)
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "network": name,
        "kwargs": dict(kwargs),
        "blur2blur_version": __version__,
        "torch_version": torch.__version__,
        "weights": base.name + ".safetensors",
        "extra": dict(extra or {}),
    }
    try:
        text = json.dumps(meta, indent=2, sort_keys=True)
    except TypeError as exc:
        raise ValueError(f"save_model: kwargs/extra must be JSON-serialisable ({exc})") from exc
    # Own copies on CPU: safetensors refuses tensors that share memory.
    tensors = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}
    weights_path, json_path = Path(str(base) + ".safetensors"), Path(str(base) + ".json")
    _atomic_write(weights_path, lambda tmp: save_file(tensors, tmp, metadata={"format": FORMAT_NAME, "network": name}))

    def write_json(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text + "\n")

    _atomic_write(json_path, write_json)
    return weights_path, json_path


def read_model_meta(path: str | os.PathLike) -> dict:
    """The JSON metadata of one of our checkpoints (``path`` with or without suffix)."""
    json_path = Path(str(_base(path)) + ".json")
    if not json_path.is_file():
        raise FileNotFoundError(f"checkpoint metadata not found: {json_path}")
    if not os.access(json_path, os.R_OK):
        raise PermissionError(errno.EACCES, "permission denied: the file exists but cannot be read", str(json_path))
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CheckpointFormatError(f"{json_path}: invalid JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME or "network" not in meta:
        raise CheckpointFormatError(f"{json_path}: not a blur2blur checkpoint description")
    return meta


def _bad_kwargs(name: str, kwargs: Mapping[str, Any]) -> str | None:
    """The constructor arguments of network `name` whose type differs from their default's (the
    field a hand-edited or corrupt checkpoint JSON got wrong), said plainly; None if none does."""
    try:
        params = inspect.signature(NETWORKS[name]).parameters
    except (KeyError, TypeError, ValueError):
        return None
    wrong = []
    for key, value in kwargs.items():
        default = params[key].default if key in params else inspect.Parameter.empty
        if default is inspect.Parameter.empty or default is None:
            continue
        numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
        if numeric:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif isinstance(default, (list, tuple)):  # (JSON has lists only: a list stands for a tuple)
            ok = isinstance(value, (list, tuple))
        else:
            ok = isinstance(value, type(default))
        if not ok:
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            kind = "number" if numeric else "list" if isinstance(default, (list, tuple)) else type(default).__name__
            wrong.append(f"kwargs.{key} is {shown} where a {kind} is expected")
    return "; ".join(wrong) + f" (network {name!r})" if wrong else None


def load_model(path: str | os.PathLike, device: str | torch.device | None = None) -> nn.Module:
    """Rebuild a network saved by ``save_model`` and load its weights strictly; returned in eval mode."""
    meta = read_model_meta(path)
    kwargs = meta.get("kwargs", {})
    try:
        model = build_network(meta["network"], **kwargs)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{Path(str(_base(path)) + '.json')}: {_bad_kwargs(meta['network'], kwargs) or exc}") from None
    weights = Path(str(_base(path)) + ".safetensors")
    if model.state_dict():
        load_weights(model, weights, strict=True)
    elif not weights.is_file():  # (a network without weights, e.g. the identity translator)
        raise FileNotFoundError(f"{weights} is missing")
    bad = [k for k, v in model.state_dict().items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ValueError(f"{weights} holds NaN or infinite weights ({', '.join(bad[:3])}"
                         f"{', ...' if len(bad) > 3 else ''}): it comes from a run that diverged; use an earlier checkpoint")
    if device is not None:
        model = model.to(device)
    return model.eval()
