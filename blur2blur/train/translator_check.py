"""The translator's label-free check: does T bring held-out camera images closer to the known blur?

The camera has no ground truth, so a translator run holds out part of the camera's blurry set B
(B_val) and of the known-blur set K (K_val) and, every `val_every` iterations, scores the
translator by the patch-statistics distance of T(B_val) to K_val (metrics/patch_distance.py).
B_val's own distance is the identity's score; a second sample of training K scored the same way
gives the level two samples of K reach (what a perfect translator could hope for). The check keeps
the weights of the best-scoring evaluation; at the end the run exports them if they beat the
identity, and the identity translator otherwise (train/translator.py), so that a translator that
drifted into a worse state is never used.

Each held-out image is scored on one seeded window of at most `window` px a side (the same
window for the identity and for T), so a check costs a few T passes on small crops. The passes run
in float32 whatever precision the run trains in: bfloat16 rounds an output to steps of up to 2^-9
(half a uint8 level), which the contrast-normalised patches of smooth regions register, while the
identity's images are not rounded; measured on a phone-ISP camera, a translator scored 0.55 of the
identity's distance in bfloat16 and 1.03 in float32 (docs/research/decisions.md).

The check compares images averaged over `scale` x `scale` blocks (`TranslatorConfig.val_scale`,
1 by default; at half scale the camera's grain averages out while the blur's shape remains).
Two criteria (`TranslatorConfig.val_criterion`):
- "known_blur": the distance of T(B_val) to K_val, as above;
- "deblurred" (the default on a layout): the distance of D(T(B_val)) to the camera's own sharp
  images S, D the known deblurrer (`through`); the identity's score is D(B_val)'s. It compares
  images of the camera's own scenes, so a translator that moves the camera's textures towards
  the known domain's other scenes (issue #28: smoothing them until their patches look like
  trainC's) makes D(T(b)) smoother than S and is rejected; it also rejects translators that gain
  a little PSNR by smoothing grain away.
With the K criterion, a check through the deblurrer at full scale can be the guard of
`decide_export`: it vetoes a translator that leaves D(T(B_val)) more than
`TranslatorConfig.val_guard` times as far from S as D(B_val) (docs/research/decisions.md).
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from blur2blur.data.holdout import evenly_spaced
from blur2blur.io import read_image, to_tensor
from blur2blur.metrics.patch_distance import PatchDistance


WINDOW = 128  # px: the side of each held-out image's scored window


def seeded_windows(files: Sequence[Path], window: int, seed: int) -> list[torch.Tensor]:
    """One 1x3xhxw tensor per file: a seeded window of at most `window` px a side (whole images
    that are smaller)."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for f in files:
        t = to_tensor(read_image(f))
        h, w = t.shape[-2:]
        top = int(torch.randint(0, max(1, h - window + 1), (1,), generator=gen))
        left = int(torch.randint(0, max(1, w - window + 1), (1,), generator=gen))
        out.append(t[None, :, top:top + window, left:left + window].contiguous())
    return out


class TranslatorCheck:
    """Scores translators on held-out camera images `b_val` against reference images `k_val`
    (file lists: held-out known-blur images, or with `through` the camera's sharp images); `k_level`:
    other reference files scored the same way, for reference (optional). `through`: a network (the
    known deblurrer, frozen) applied to the identity's and T's outputs before they are scored.
    Lower scores are better."""

    def __init__(self, b_val: Sequence[Path], k_val: Sequence[Path], k_level: Sequence[Path] = (),
                 patch: int = 7, window: int = WINDOW, seed: int = 0, through: nn.Module | None = None,
                 scale: int = 1, device: torch.device | str = "cpu"):
        if not b_val or not k_val:
            raise ValueError("the translator check needs held-out camera images and reference images")
        if int(scale) < 1:
            raise ValueError(f"the check's scale must be a whole factor >= 1, got {scale}")
        self.through = None if through is None else through.eval().requires_grad_(False)
        self.scale = int(scale)
        self.inputs = seeded_windows(b_val, window, seed)
        self.distance = PatchDistance(self._pooled(seeded_windows(k_val, window, seed + 1)), patch, seed=seed)
        self.identity = self._score(self._through(self.inputs, torch.device(device)))
        self.k_level = self._score(seeded_windows(k_level, window, seed + 2)) if k_level else None
        self.n_b, self.n_k = len(b_val), len(k_val)
        self.history: list[tuple[int, float]] = []
        self.best: dict | None = None  # {"iteration", "score", "state"}

    @classmethod
    def through_deblurrer(cls, b_val: Sequence[Path], sharp: Sequence[Path], deblurrer: nn.Module,
                          max_files: int, patch: int = 7, seed: int = 0, scale: int = 1,
                          device: torch.device | str = "cpu") -> "TranslatorCheck":
        """The "deblurred" criterion's check: D(T(B_val)) against an even spread of at most
        `max_files` of the camera's sharp images (the other `max_files` of a spread twice as dense
        give the level two samples of S reach)."""
        spread = evenly_spaced(sharp, 2 * max_files)
        return cls(b_val, spread[0::2], spread[1::2], patch, seed=seed, through=deblurrer, scale=scale,
                   device=device)

    @torch.no_grad()
    def score(self, net: nn.Module, device: torch.device) -> float:
        """The distance of net(B_val) (full-scale output, clamped to [0,1]; through `through`) to
        the reference."""
        return self._score(self._through(network_outputs(net, self.inputs, device), device))

    def _score(self, images: list[torch.Tensor]) -> float:
        return self.distance.score(self._pooled(images))

    def _pooled(self, images: list[torch.Tensor]) -> list[torch.Tensor]:
        """The images averaged over `scale` x `scale` blocks (the scale the check compares at)."""
        return images if self.scale == 1 else [F.avg_pool2d(x, self.scale) for x in images]

    def _through(self, images: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
        return images if self.through is None else network_outputs(self.through, images, device)

    def update(self, net: nn.Module, iteration: int, device: torch.device) -> dict[str, float]:
        """Score `net` after `iteration` iterations, keep its weights when it is the best so far;
        returns the scalars to log."""
        s = self.score(net, device)
        self.history.append((int(iteration), s))
        if self.best is None or s < self.best["score"]:
            self.best = {"iteration": int(iteration), "score": s,
                         "state": {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}}
        logs = {"val/patch_distance": s, "val/identity": self.identity, "val/best": self.best["score"]}
        if self.k_level is not None:
            logs["val/k_level"] = self.k_level
        return logs

    def best_network(self, net: nn.Module) -> nn.Module:
        """A copy of `net` with the best-scoring weights (`net` itself before any check)."""
        if self.best is None:
            return net
        best = copy.deepcopy(net)
        best.load_state_dict(self.best["state"])
        return best

    def summary(self) -> dict:
        """JSON-ready: the identity's and K's own scores, the best evaluation and the history."""
        best = None if self.best is None else {k: self.best[k] for k in ("iteration", "score")}
        criterion = ("patch-statistics distance of T(B_val) to K_val (metrics/patch_distance.py); lower is closer"
                     if self.through is None else "patch-statistics distance of D(T(B_val)) to the camera's sharp "
                     "images S, D the known deblurrer (metrics/patch_distance.py); lower is closer")
        return {"criterion": criterion, "reference": "K" if self.through is None else "S", "scale": self.scale,
                "held_out": {"B": self.n_b, "K": self.n_k}, "identity": self.identity, "k_level": self.k_level,
                "best": best,
                "history": [{"iteration": i, "score": s} for i, s in self.history]}

    def state_dict(self) -> dict:
        return {"history": [list(h) for h in self.history], "best": self.best}

    def load_state_dict(self, state: dict) -> None:
        self.history = [(int(i), float(s)) for i, s in state["history"]]
        self.best = state["best"]


@torch.no_grad()
def network_outputs(net: nn.Module, images: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    """`net` (eval mode, its mode restored) on each 1x3xhxw image, in float32 even inside an
    autocast region (see the module's docstring); the full-scale output clamped to [0,1], on the CPU."""
    was_training = net.training
    net.eval()
    outs = []
    try:
        for x in images:
            with torch.autocast(torch.device(device).type, enabled=False):  # (even inside a caller's autocast)
                y = net(x.to(device))
            y = y[-1] if isinstance(y, (list, tuple)) else y
            outs.append(y.float().clamp(0, 1).cpu())
    finally:
        net.train(was_training)
    return outs


def decide_export(check: TranslatorCheck | None, cfg, net: nn.Module, guard: TranslatorCheck | None = None,
                  device: torch.device | str = "cpu") -> tuple[nn.Module, dict | None]:
    """What a translator run exports, by the held-out `check`: (network, decision). Without a
    check (or before its first score): `net`, None. With one: its best-scoring (`cfg.val_keep`
    "best") or last evaluated weights, and a decision {iteration, score, identity, beats_identity,
    guard, exported}: "trained" when they beat the identity by `cfg.val_margin` and the `guard`
    (a check through the deblurrer against the camera's sharp images, if any) does not veto them,
    that is does not score them above `cfg.val_guard` times the identity's; else "identity" (the
    caller then exports the identity translator), unless `cfg.identity_fallback` is off."""
    if check is None or not check.history:
        return net, None
    if cfg.val_keep == "best":
        chosen_iter, score = check.best["iteration"], check.best["score"]
        net = check.best_network(net)
    else:
        chosen_iter, score = check.history[-1]
    beats = score < check.identity * (1 - cfg.val_margin)
    vetoed, guard_record = False, None
    if beats and guard is not None:  # (only a translator the criterion approves is put to the guard)
        g = guard.score(net, torch.device(device))
        vetoed = g > guard.identity * cfg.val_guard
        guard_record = {"score": g, "identity": guard.identity, "ratio": g / guard.identity,
                        "limit": cfg.val_guard, "vetoed": vetoed}
    accepted = beats and not vetoed
    return net, {"iteration": chosen_iter, "score": score, "identity": check.identity, "beats_identity": beats,
                 "guard": guard_record,
                 "exported": "trained" if accepted or not cfg.identity_fallback else "identity"}


def check_terms(summary: dict) -> tuple[str, str, str]:
    """(what is compared, with what, the identity's phrase) of a check's summary, for messages."""
    if summary.get("reference") == "S":
        return ("the held-out camera images, deblurred,", "the camera's sharp images", "without T")
    return ("the held-out camera images", "the held-out known blur", "they are")


def veto_phrase(guard: dict) -> str:
    """Why the guard (`decide_export`'s record, vetoed) rejected T, as a clause for messages."""
    return (f"through the known deblurrer it leaves the held-out camera images {guard['ratio']:.2f} times as far "
            f"from the camera's sharp images as without T (above val_guard={guard['limit']:g})")


def report_decision(summary: dict, decision: dict, out_dir: Path) -> None:
    """Say at the end of training what the held-out check found, plainly."""
    level = summary["k_level"]
    what, target, untranslated = check_terms(summary)
    floor = f"; two samples of {summary.get('reference', 'K')} differ by {level:.3g}" if level is not None else ""
    guard = decision.get("guard") or {}
    if decision["beats_identity"] and not guard.get("vetoed"):
        gain = 1 - decision["score"] / decision["identity"]
        print(f"translator check: T brings {what} {gain:.0%} closer to {target} than {untranslated} "
              f"({decision['score']:.3g} against {decision['identity']:.3g}{floor}); "
              f"exported the weights of iteration {decision['iteration']} ({out_dir / 'translator_check.json'})")
        return
    if guard.get("vetoed"):
        fate = ("so the exported translator is the identity (Blur2Blur is then the known deblurrer applied "
                f"directly; the trained weights are {out_dir / 'translator_rejected'}.*)"
                if decision["exported"] == "identity" else "and was exported anyway (identity_fallback=false)")
        warnings.warn(f"translator check: T brings {what} closer to {target} than {untranslated}, but "
                      f"{veto_phrase(guard)}: it changes the camera's own textures rather than its blur, {fate}",
                      stacklevel=2)
        return
    advice = ("train longer or with another seed, give a known-blur set closer to the known deblurrer's "
              "training inputs, and check that the camera's blurry images and K differ in blur at all")
    if decision["exported"] == "identity":
        warnings.warn(f"translator check: the translator did not learn: at best it leaves {what} as far from "
                      f"{target} as {untranslated} ({decision['score']:.3g} against "
                      f"{decision['identity']:.3g}{floor}), so the exported translator is the identity (Blur2Blur "
                      f"is then the known deblurrer applied directly; the trained weights are "
                      f"{out_dir / 'translator_rejected'}.*). To do better: {advice}", stacklevel=2)
    else:
        warnings.warn(f"translator check: the translator does not beat the identity ({decision['score']:.3g} "
                      f"against {decision['identity']:.3g}{floor}) and was exported anyway "
                      f"(identity_fallback=false); it may make images worse. To do better: {advice}",
                      stacklevel=2)
