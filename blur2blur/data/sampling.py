"""Seeded, resumable, shardable batches: batch `i` is a pure function of (seed, i).

Training must resume exactly after a crash and give the same result on 1 or N processes with the
same global batch. Both follow from one rule: the sample at global position `p` (iteration
`i`, slot `j`: p = i * global_batch + j) is item `perm_e[p mod n]` of a per-epoch permutation
seeded by (seed, epoch), and its random crop/flip is drawn from a torch RNG seeded by (seed, p).
Process `rank` of `world_size` takes the slots `rank * local_batch ...` of every global batch.
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler


def mix_seed(*values: int) -> int:
    """Combine integers into one 63-bit seed (deterministic, no Python hash randomisation)."""
    h = 0x9E3779B97F4A7C15
    for v in values:
        h = (h ^ (int(v) + 0x9E3779B97F4A7C15 + (h << 6) + (h >> 2))) & 0xFFFFFFFFFFFFFFFF
    return h & 0x7FFFFFFFFFFFFFFF


class _PositionDataset(Dataset):
    """Maps a global sample position to (item of the epoch permutation, seeded augmentation)."""

    def __init__(self, dataset: Dataset, seed: int):
        self.dataset, self.seed, self.n = dataset, int(seed), len(dataset)
        self._epoch, self._perm = -1, None

    def __len__(self) -> int:  # positions are unbounded; the sampler decides which to load
        return 2**62

    def _index(self, position: int) -> int:
        epoch, offset = divmod(position, self.n)
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(mix_seed(self.seed, 1, epoch))
            self._perm, self._epoch = torch.randperm(self.n, generator=gen), epoch
        return int(self._perm[offset])

    def __getitem__(self, position: int) -> dict:
        index = self._index(position)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(mix_seed(self.seed, 2, position))
            return self.dataset[index]


class _IterationSampler(Sampler):
    """Yields, for iterations start, start+1, ..., the positions of this rank's slots."""

    def __init__(self, start: int, global_batch: int, rank: int, local_batch: int):
        self.start, self.global_batch = start, global_batch
        self.rank, self.local_batch = rank, local_batch

    def __iter__(self) -> Iterator[list[int]]:
        it = self.start
        while True:
            first = it * self.global_batch + self.rank * self.local_batch
            yield list(range(first, first + self.local_batch))
            it += 1

    def __len__(self) -> int:
        return 2**62


class SeededBatches:
    """Iterator of batches for iterations `start`, `start + 1`, ... (0-based).

    `global_batch` is split evenly over `world_size` processes; this process (`rank`) gets
    `global_batch // world_size` samples per iteration. Workers (`num_workers > 0`) load ahead
    without changing the content of any batch.
    """

    def __init__(self, dataset: Dataset, global_batch: int, seed: int, start: int = 0,
                 rank: int = 0, world_size: int = 1, num_workers: int = 0):
        if len(dataset) == 0:
            raise ValueError("cannot draw batches from an empty dataset")
        if global_batch < 1 or global_batch % world_size:
            raise ValueError(f"global batch {global_batch} must be a positive multiple of the "
                             f"number of processes {world_size}")
        local = global_batch // world_size
        sampler = _IterationSampler(start, global_batch, rank, local)
        self._loader = DataLoader(_PositionDataset(dataset, seed), batch_sampler=sampler,
                                  num_workers=num_workers, persistent_workers=num_workers > 0)
        self._it = iter(self._loader)

    def __iter__(self) -> "SeededBatches":
        return self

    def __next__(self) -> dict:
        return next(self._it)
