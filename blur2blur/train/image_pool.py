"""CycleGAN's history of generated images for the discriminator (Shrivastava et al. 2017,
Zhu et al. 2017): D is shown a mix of the newest translations and earlier ones, so that it does
not chase only T's latest output and the game oscillates less.
"""

from __future__ import annotations

import torch


class ImagePool:
    """Holds up to `size` earlier fakes; each is one sample's outputs at every scale (CHW tensors).

    `query(fakes)` takes a list of NCHW batches (one per scale, detached) and returns batches of
    the same shapes: while the pool fills, the new samples pass through and are stored; then each
    sample is, with probability 1/2, swapped for a stored one (which the new sample replaces).
    `size` 0 passes everything through. Random draws use the pool's own seeded generator, saved
    with `state_dict` so that a resumed run continues identically.
    """

    def __init__(self, size: int, seed: int = 0):
        if size < 0:
            raise ValueError(f"pool size must be >= 0, got {size}")
        self.size = int(size)
        self.items: list[list[torch.Tensor]] = []
        self.gen = torch.Generator().manual_seed(int(seed))

    def query(self, fakes: list[torch.Tensor]) -> list[torch.Tensor]:
        if self.size == 0:
            return fakes
        out: list[list[torch.Tensor]] = [[] for _ in fakes]
        for i in range(fakes[0].shape[0]):
            sample = [f[i].detach().clone() for f in fakes]
            if len(self.items) < self.size:
                self.items.append(sample)
                chosen = sample
            elif torch.rand((), generator=self.gen).item() < 0.5:
                j = int(torch.randint(0, self.size, (), generator=self.gen))
                chosen, self.items[j] = self.items[j], sample
            else:
                chosen = sample
            for s, t in enumerate(chosen):
                out[s].append(t.to(fakes[s].device))
        return [torch.stack(o) for o in out]

    def state_dict(self) -> dict:
        return {"size": self.size, "items": [[t.cpu() for t in s] for s in self.items],
                "gen": self.gen.get_state()}

    def load_state_dict(self, state: dict) -> None:
        if int(state["size"]) != self.size:
            raise ValueError(f"image pool of size {state['size']} saved, {self.size} configured")
        self.items = [list(s) for s in state["items"]]  # (moved to the fakes' device when drawn)
        self.gen.set_state(state["gen"])
