"""Blur kernels from files: images (PNG, BMP, TIFF), NumPy (.npy, .npz), MATLAB .mat (v5 and v7.3).

Every kernel is returned as a 2-D float32 array, clipped to >= 0 and normalised to sum 1.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import h5py
import numpy as np
import scipy.io
from PIL import Image
from scipy.ndimage import zoom

IMAGE_SUFFIXES = (".png", ".bmp", ".tif", ".tiff", ".pgm")
# Variable names tried first in .mat/.npz files; otherwise every numeric variable is used.
PREFERRED_NAMES = ("kernels", "kernel", "psfs", "psf", "K", "k", "blur_kernels")


class KernelFileError(ValueError):
    """A kernel file cannot be read or holds no usable kernel; the message names the file."""


def load_kernels(path: str | os.PathLike) -> list[np.ndarray]:
    """Read the blur kernels of a file.

    Images: one kernel per file (colour averaged to grey). ``.npy``: a 2-D array (one kernel) or a
    3-D stack ``N x h x w``. ``.npz``: every array (or the preferred name). ``.mat``: the variable
    named ``kernels`` (or another of PREFERRED_NAMES; otherwise every numeric variable): 2-D arrays,
    cell arrays of them, or ``h x w x N`` stacks (MATLAB order); v7.3 (HDF5) files, including
    cell arrays of object references, are read with h5py.
    """
    path = Path(path)
    if not path.is_file():
        raise KernelFileError(f"kernel file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        raw = [_read_image_kernel(path)]
    elif suffix == ".npy":
        raw = _split_stack(_load_npy(path), matlab_order=False)
    elif suffix == ".npz":
        raw = _read_npz(path)
    elif suffix == ".mat":
        raw = _read_mat(path)
    else:
        raise KernelFileError(f"kernel file {str(path)!r}: unsupported type {suffix or '(none)'}; "
                              f"use one of {IMAGE_SUFFIXES + ('.npy', '.npz', '.mat')}")
    if not raw:
        raise KernelFileError(f"kernel file {str(path)!r} holds no kernel")
    return [normalise_kernel(k, f"{path.name} kernel {i}") for i, k in enumerate(raw)]


def normalise_kernel(k: np.ndarray, what: str = "kernel") -> np.ndarray:
    """Return k as float32, negatives set to 0, summing to 1. Raises KernelFileError if empty."""
    k = np.asarray(k, dtype=np.float64)
    if k.ndim != 2 or k.size == 0:
        raise KernelFileError(f"{what}: expected a 2-D array, got shape {k.shape}")
    if not np.all(np.isfinite(k)):
        raise KernelFileError(f"{what}: contains NaN or infinite values")
    k = np.clip(k, 0.0, None)
    total = k.sum()
    if total <= 0:
        raise KernelFileError(f"{what}: all values are <= 0")
    return (k / total).astype(np.float32)


def center_kernel(k: np.ndarray) -> np.ndarray:
    """Zero-pad k to an odd square whose centre pixel is the kernel's (rounded) centre of mass.

    Convolving with the result does not shift the image on average (up to half a pixel).
    """
    k = np.asarray(k, dtype=np.float32)
    h, w = k.shape
    ys, xs = np.arange(h), np.arange(w)
    total = k.sum()
    cy = int(round(float((k.sum(1) * ys).sum() / total)))
    cx = int(round(float((k.sum(0) * xs).sum() / total)))
    half = max(cy, h - 1 - cy, cx, w - 1 - cx)
    out = np.zeros((2 * half + 1, 2 * half + 1), np.float32)
    oy, ox = half - cy, half - cx
    out[oy:oy + h, ox:ox + w] = k
    return out


def center_kernel_subpixel(k: np.ndarray) -> np.ndarray:
    """`center_kernel`, then the remaining sub-pixel offset (at most half a pixel per axis) moved
    by a bilinear shift, so that the kernel's centre of mass is exactly its centre pixel: a blur
    with it does not shift the image at all (training pairs stay aligned). Odd square, sums to 1."""
    k = np.pad(center_kernel(k).astype(np.float64), 1)
    c = k.shape[0] // 2
    idx = np.arange(k.shape[0]) - c
    for axis in (0, 1):
        offset = float((k.sum(1 - axis) * idx).sum() / k.sum())
        step = -1 if offset > 0 else 1  # (move mass of |offset| px towards the centre)
        moved = np.roll(k, step, axis=axis)
        k = (1 - abs(offset)) * k + abs(offset) * moved
    return (k / k.sum()).astype(np.float32)


def resize_kernel(k: np.ndarray, scale: float) -> np.ndarray:
    """Resample a kernel by ``scale`` (bilinear, area-preserving), re-normalised to sum 1."""
    if abs(scale - 1.0) < 1e-6:
        return np.asarray(k, np.float32)
    h, w = k.shape
    size = (max(1, int(math.ceil(h * scale))), max(1, int(math.ceil(w * scale))))
    out = zoom(np.asarray(k, np.float64), (size[0] / h, size[1] / w), order=1, mode="constant")
    return normalise_kernel(out, "resized kernel")


def _read_image_kernel(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as im:
            arr = np.asarray(im).astype(np.float64)
    except Exception as exc:  # PIL raises many types
        raise KernelFileError(f"kernel image {str(path)!r} cannot be read: {exc}") from exc
    if arr.ndim == 3:
        arr = arr[..., :3].mean(-1)
    return arr


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except Exception as exc:
        raise KernelFileError(f"kernel file {str(path)!r} is not a readable .npy array: {exc}") from exc


def _read_npz(path: Path) -> list[np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {name: z[name] for name in z.files}
    except Exception as exc:
        raise KernelFileError(f"kernel file {str(path)!r} is not a readable .npz archive: {exc}") from exc
    out: list[np.ndarray] = []
    for name in _pick_names(list(arrays)):
        out += _split_stack(arrays[name], matlab_order=False)
    return out


def _pick_names(names: list[str]) -> list[str]:
    for pref in PREFERRED_NAMES:
        if pref in names:
            return [pref]
    return [n for n in names if not n.startswith("__") and not n.startswith("#")]


def _split_stack(arr: np.ndarray, matlab_order: bool) -> list[np.ndarray]:
    """2-D -> [arr]; 3-D -> list along N (last axis in MATLAB order, first otherwise)."""
    if arr.dtype == object:
        out: list[np.ndarray] = []
        for item in arr.flat:
            out += _split_stack(np.asarray(item), matlab_order)
        return out
    if not np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_:
        return []
    arr = np.squeeze(arr) if arr.ndim > 3 else arr
    if arr.ndim == 2:
        return [arr]
    if arr.ndim == 3:
        return [arr[..., i] for i in range(arr.shape[-1])] if matlab_order else list(arr)
    return []


def _read_mat(path: Path) -> list[np.ndarray]:
    try:
        data = scipy.io.loadmat(str(path))
    except NotImplementedError:  # MATLAB v7.3 = HDF5
        return _read_mat_hdf5(path)
    except Exception as exc:
        try:
            return _read_mat_hdf5(path)
        except KernelFileError:
            raise KernelFileError(f"kernel file {str(path)!r} is not a readable MATLAB file: {exc}") from exc
    names = _pick_names([n for n in data if not n.startswith("__")])
    out: list[np.ndarray] = []
    for name in names:
        out += _split_stack(np.asarray(data[name]), matlab_order=True)
    if not out:
        raise KernelFileError(f"kernel file {str(path)!r}: no numeric kernel arrays in variables "
                              f"{[n for n in data if not n.startswith('__')]}")
    return out


def _read_mat_hdf5(path: Path) -> list[np.ndarray]:
    try:
        f = h5py.File(path, "r")
    except Exception as exc:
        raise KernelFileError(f"kernel file {str(path)!r} is neither MATLAB v5 nor HDF5 (v7.3): {exc}") from exc
    with f:
        names = _pick_names([n for n in f.keys() if isinstance(f[n], h5py.Dataset)])
        out: list[np.ndarray] = []
        for name in names:
            out += _h5_arrays(f, f[name][()])
    if not out:
        raise KernelFileError(f"kernel file {str(path)!r} (HDF5): no numeric kernel arrays found")
    return out


def _h5_arrays(f, value) -> list[np.ndarray]:
    """Numeric arrays of an HDF5 value, following object references (MATLAB cell arrays)."""
    arr = np.asarray(value)
    if arr.dtype == object or h5py.check_dtype(ref=arr.dtype) is not None:
        out: list[np.ndarray] = []
        for ref in arr.flat:
            if ref:
                out += _h5_arrays(f, f[ref][()])
        return out
    if not np.issubdtype(arr.dtype, np.number):
        return []
    # MATLAB writes column-major: reverse the axes to get MATLAB's (h, w, N) order.
    return _split_stack(arr.transpose(tuple(reversed(range(arr.ndim)))), matlab_order=True)
