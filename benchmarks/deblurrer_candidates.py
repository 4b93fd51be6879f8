"""Speed of the candidate architectures for the shipped deblurrer (NAFNet variants): one training
step (batch 8 of 128 px crops, AdamW, L1 on float32 outputs) with and without bfloat16 autocast,
and one 1280x720 inference, channels-last. Medians of a few steps after a warm-up; random weights.

    python benchmarks/deblurrer_candidates.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from blur2blur.nets import build_network  # noqa: E402
from blur2blur.perf import autocast, configure_allocator, configure_threads, cpu_name, to_channels_last  # noqa: E402

CANDIDATES = {
    "width 32, enc [1,1,1,4] (shipped)": dict(width=32, enc_blk_nums=[1, 1, 1, 4], middle_blk_num=1,
                                              dec_blk_nums=[1, 1, 1, 1]),
    "width 24, enc [1,1,1,4]": dict(width=24, enc_blk_nums=[1, 1, 1, 4], middle_blk_num=1, dec_blk_nums=[1, 1, 1, 1]),
    "width 32, enc [1,1,2,8], middle 2": dict(width=32, enc_blk_nums=[1, 1, 2, 8], middle_blk_num=2,
                                               dec_blk_nums=[1, 1, 1, 1]),
}


def train_step_s(model, bf16: bool, steps: int = 4) -> float:
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    x, y = to_channels_last(torch.rand(8, 3, 128, 128), True), torch.rand(8, 3, 128, 128)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        with autocast(bf16, torch.device("cpu")):
            out = model(x)
        loss = (out.float() - y).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return statistics.median(times[1:])


@torch.no_grad()
def frame_s(model, bf16: bool, runs: int = 2) -> float:
    model.eval()
    x = to_channels_last(torch.rand(1, 3, 720, 1280), True)
    times = []
    for _ in range(runs + 1):
        t = time.perf_counter()
        with autocast(bf16, torch.device("cpu")):
            model(x)
        times.append(time.perf_counter() - t)
    return min(times[1:])


def main() -> int:
    threads = configure_threads()
    configure_allocator()
    print(f"CPU {cpu_name()}, {threads} threads, torch {torch.__version__}\n")
    print("| candidate | parameters | train step bf16 s | train step fp32 s | 1280x720 bf16 s | 1280x720 fp32 s |")
    print("|---|---|---|---|---|---|")
    for name, kw in CANDIDATES.items():
        torch.manual_seed(0)
        model = to_channels_last(build_network("nafnet", **kw), True)
        n = sum(p.numel() for p in model.parameters())
        row = [train_step_s(model, True), train_step_s(model, False), frame_s(model, True), frame_s(model, False)]
        print(f"| {name} | {n / 1e6:.2f} M | " + " | ".join(f"{v:.2f}" for v in row) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
