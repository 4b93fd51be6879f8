"""Run logging: a JSON-lines file always, TensorBoard when it is installed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch


class RunLogger:
    """Writes scalars to `<run>/log.jsonl` and, if tensorboard is importable, to `<run>/tb`."""

    def __init__(self, run_dir: str | Path, tensorboard: bool = True):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._file = open(self.run_dir / "log.jsonl", "a", encoding="utf-8")
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(self.run_dir / "tb"))
            except Exception:  # tensorboard missing or broken: the JSON log is enough
                self._tb = None
        self._t0 = time.time()

    def scalars(self, step: int, values: dict[str, float]) -> None:
        record = {"step": step, "time_s": round(time.time() - self._t0, 2)}
        record.update({k: float(v) for k, v in values.items()})
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        if self._tb is not None:
            for key, value in values.items():
                self._tb.add_scalar(key, float(value), step)

    def images(self, step: int, tag: str, batch: torch.Tensor) -> None:
        """Log an NCHW [0,1] batch as an image grid (TensorBoard only)."""
        if self._tb is not None:
            self._tb.add_images(tag, batch.detach().clamp(0, 1).cpu(), step)

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()
