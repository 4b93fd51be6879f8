"""Converter validation (Blur2Blur supplementary, Table 3): does the translator's output carry the
known blur? Two accuracies, each the fraction of images judged "known blur":

- Acc1: the trained translator's own discriminator D (mean logit over the image > 0);
- Acc2: an independent ResNet-18-style classifier (nets/resnet_classifier.py) trained here to
  tell the known camera's blur from other blur, on sharp photos blurred by the simulator: the
  known profile's shake (positives) against generic linear motion and random RSBlur-style shakes
  (negatives), both with random Gaussian grain so that noise tells nothing.
Reported for the camera's inputs y (low is expected) and for the converted T(y) (high if the
translation works).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from blur2blur.data.datasets import UnpairedCrops
from blur2blur.io import read_image, to_numpy, to_tensor
from blur2blur.nets.resnet_classifier import ResNetClassifier
from blur2blur.progress import tqdm
from blur2blur.simulate import Camera, load_profile
from blur2blur.simulate.degradations import linear_motion, rsblur_like


def _known(x: torch.Tensor, camera, gen: torch.Generator) -> torch.Tensor:
    return torch.stack([to_tensor(camera.blur_only(to_numpy(img), int(torch.randint(0, 2**31 - 1, (), generator=gen))))
                        for img in x])


def _other(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    out = []
    for img in x:
        if float(torch.rand((), generator=gen)) < 0.5:
            out.append(linear_motion(img[None], gen, max_len=25)[0])
        else:
            out.append(rsblur_like(img[None], gen)[0])
    return torch.stack(out)


def train_blur_classifier(sharp_files: list[Path], known_profile: str = "known", iters: int = 300,
                          batch: int = 8, crop: int = 64, width: int = 16, lr: float = 1e-3, seed: int = 0,
                          device: str | torch.device = "cpu", progress: bool = True) -> ResNetClassifier:
    """Train the Acc2 classifier on crops of `sharp_files`: half of each batch gets the
    `known_profile` blur (label 1), half other blur (label 0); all get Gaussian grain of a random
    std in [0, 0.03]. Returns the classifier in eval mode."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    camera = Camera(load_profile(known_profile))
    data = UnpairedCrops(sharp_files, crop, augment=True)
    net = ResNetClassifier(width).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    net.train()
    for _ in tqdm(range(iters), desc="Acc2 classifier", disable=not progress, dynamic_ncols=True):
        idx = torch.randint(0, len(data), (batch,), generator=gen).tolist()
        sharp = torch.stack([data[i]["image"] for i in idx])
        half = batch // 2
        x = torch.cat([_known(sharp[:half], camera, gen), _other(sharp[half:], gen)])
        x = (x + torch.randn(x.shape, generator=gen) * torch.rand(batch, 1, 1, 1, generator=gen) * 0.03).clamp(0, 1)
        labels = torch.cat([torch.ones(half), torch.zeros(batch - half)])
        loss = F.binary_cross_entropy_with_logits(net(x.to(device)), labels.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return net.eval()


@torch.no_grad()
def classifier_accuracy(classifier: ResNetClassifier, sharp_files: list[Path], known_profile: str = "known",
                        seed: int = 1) -> float:
    """Balanced accuracy of the Acc2 classifier on held-out images (`sharp_files`, e.g. the test
    set's ground truth, which it never trained on): each blurred once with the known profile and
    once with other blur. Near 0.5 means Acc2 says nothing yet (too few training steps)."""
    gen = torch.Generator().manual_seed(seed)
    camera = Camera(load_profile(known_profile))
    device = next(classifier.parameters()).device
    hits = []
    for f in sharp_files:
        x = to_tensor(read_image(f))[None]
        hits.append(float(classifier(_known(x, camera, gen).to(device))[0]) > 0)
        hits.append(float(classifier(_other(x, gen).to(device))[0]) <= 0)
    return float(np.mean(hits))


@torch.no_grad()
def acc2(classifier: ResNetClassifier, images: list[np.ndarray]) -> float:
    """Fraction of `images` (HxWx3 in [0,1]) the classifier judges to carry the known blur."""
    device = next(classifier.parameters()).device
    return float(np.mean([float(classifier(to_tensor(im)[None].to(device))[0]) > 0 for im in images]))


@torch.no_grad()
def acc1(discriminator: torch.nn.Module, images: list[np.ndarray]) -> float:
    """Fraction of `images` the translator's discriminator scores as known blur (mean logit > 0)."""
    device = next(discriminator.parameters()).device
    return float(np.mean([float(discriminator(to_tensor(im)[None].to(device)).mean()) > 0 for im in images]))
