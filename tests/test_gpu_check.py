"""benchmarks/gpu_check.py: without CUDA it says so; its CPU smoke test runs (issue #22)."""

import subprocess
import sys
from pathlib import Path

import torch

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "gpu_check.py"


def test_gpu_check_without_cuda_says_so():
    if torch.cuda.is_available():
        return
    r = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "no CUDA device" in r.stderr


def test_gpu_check_cpu_smoke():
    r = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--steps", "2", "--every", "1", "--crop", "32",
                        "--batch", "2", "--size", "64x48", "--tile", "64"],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "| official | 2 x 32 |" in r.stdout and "| paper | 2 x 32 |" in r.stdout
    assert "frames/s" in r.stdout
