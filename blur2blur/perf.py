"""How the networks run fast: bfloat16 autocast choice, channels-last memory format, threads.

- ``amp`` is one of ``AMP_CHOICES``: "bf16" runs the networks under bfloat16 autocast, "none" in
  float32, "auto" picks bfloat16 where the hardware runs it natively (CUDA devices that support
  it; CPUs with AVX512-BF16 or AMX) and float32 elsewhere, so "auto" is never the slow emulated
  path. Losses, the gradient penalty and metrics are computed in float32 by their callers.
- Channels-last (NHWC) memory format lets oneDNN and cuDNN use their fast convolution kernels;
  on the CPUs measured here it is several times faster for 3x3 convolutions (docs/performance.md).
  It changes results by float rounding only.
- The C allocator (``configure_allocator``): glibc hands every block above 32 MB a fresh mapping
  and unmaps it when freed, so each full-frame activation was faulted in page by page again.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import platform
import sys
from pathlib import Path

import torch
import torch.nn as nn

AMP_CHOICES = ("auto", "bf16", "none")
# /proc/cpuinfo flags that matter for reading a speed table.
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> dict[str, bool]:
    """Which of ``CPU_FLAGS`` this CPU reports (Linux /proc/cpuinfo; all False elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {f: False for f in CPU_FLAGS}
    present: set[str] = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            present = set(line.split(":", 1)[1].split())
            break
    return {f: f in present for f in CPU_FLAGS}


def cpu_name() -> str:
    """The CPU's model name (Linux), else the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def native_bf16(device: torch.device | str) -> bool:
    """True when ``device`` computes bfloat16 natively (fast), not by float32 emulation."""
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            return False
        try:
            return torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # torch < 2.3 has no emulation switch
            return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        flags = cpu_flags()
        return flags["avx512_bf16"] or flags["amx_bf16"]
    return False


def resolve_amp(amp: str, device: torch.device | str) -> bool:
    """Whether networks run under bfloat16 autocast for the setting ``amp`` on ``device``."""
    if amp not in AMP_CHOICES:
        raise ValueError(f"amp must be one of {', '.join(AMP_CHOICES)}; got {amp!r}")
    if amp == "auto":
        return native_bf16(device)
    return amp == "bf16"


def autocast(enabled: bool, device: torch.device | str):
    """bfloat16 autocast on ``device`` when ``enabled``, else a no-op context."""
    device = torch.device(device)
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def channels_last_ok(device: torch.device | str) -> bool:
    """Channels-last helps (and is well supported) on the CPU and CUDA, not e.g. on MPS."""
    return torch.device(device).type in ("cpu", "cuda")


def to_channels_last(obj, enabled: bool = True):
    """A module converted in place to channels-last (4-D weights), or a 4-D tensor made
    channels-last contiguous; other objects, and everything when not ``enabled``, pass unchanged."""
    if not enabled:
        return obj
    if isinstance(obj, nn.Module):
        return obj.to(memory_format=torch.channels_last)
    if torch.is_tensor(obj) and obj.dim() == 4:
        return obj.contiguous(memory_format=torch.channels_last)
    return obj


# glibc's mallopt parameters (malloc.h) and the environment variables that set them at start-up.
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_MALLOC_ENV = ("MALLOC_MMAP_MAX_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


def _glibc() -> ctypes.CDLL | None:
    """The process's glibc (Linux), or None under another C library or system."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def trim_heap() -> None:
    """Hand glibc's free heap pages back to the system (malloc_trim), so that a resident-memory
    reading after it counts only live blocks; nothing elsewhere."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.lru_cache(maxsize=1)
def configure_allocator() -> bool:
    """Make glibc keep freed large blocks for reuse; True when this call set it (Linux, glibc).

    glibc serves each allocation above its mmap threshold (which never rises above 32 MB) with a
    fresh mapping and unmaps it when freed, so every full-frame activation (1280x720 x 32
    channels in bfloat16 is 59 MB) is page-faulted in and zeroed anew: measured on a 2-core CPU,
    that was 43% of the default pipeline's time on a 720p frame with bfloat16 and 51% in float32
    (docs/performance.md).
    With mappings off and a 2 GiB trim threshold those blocks come from the heap, and freed ones
    are reused. The cost: the resident memory stays near its peak until the process exits (not
    more than it needed at that peak). glibc's own MALLOC_* variables, when set, are left to
    rule; other C libraries are left alone.
    """
    libc = _glibc()
    if libc is None or any(name in os.environ for name in _MALLOC_ENV):
        return False
    # (mallopt takes a C int: 2**31 - 1 bytes is the largest trim threshold it accepts)
    return bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))


def configure_threads() -> int:
    """Use every core this process may run on; returns the intra-op thread count.

    PyTorch defaults to the machine's physical cores, which oversubscribes a process limited to
    fewer CPUs (taskset, containers). An explicit OMP_NUM_THREADS or an earlier
    ``torch.set_num_threads`` is left alone.
    """
    if "OMP_NUM_THREADS" not in os.environ and hasattr(os, "sched_getaffinity"):
        usable = len(os.sched_getaffinity(0))
        if 0 < usable < torch.get_num_threads():
            torch.set_num_threads(usable)
    return torch.get_num_threads()
