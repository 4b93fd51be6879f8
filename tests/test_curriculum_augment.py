"""Curriculum by blur degree and the augmentation settings."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from blur2blur.data.augment import Augment, color_jitter
from blur2blur.data.datasets import PairedCrops
from blur2blur.data.sampling import SeededBatches
from blur2blur.io import write_image
from blur2blur.metrics.blur_degree import blur_degree
from blur2blur.train.curriculum import curriculum_fraction, select_fraction


def test_fraction_grows_linearly_to_the_whole_batch():
    assert curriculum_fraction(0, 0.5, 200_000) == 0.5
    assert curriculum_fraction(100_000, 0.5, 200_000) == pytest.approx(0.75)
    assert curriculum_fraction(200_000, 0.5, 200_000) == 1.0
    assert curriculum_fraction(10**7, 0.5, 200_000) == 1.0
    fractions = [curriculum_fraction(i, 0.3, 100) for i in range(0, 120, 10)]
    assert fractions == sorted(fractions)
    with pytest.raises(ValueError):
        curriculum_fraction(0, 0.0, 10)


def test_blur_degree_ranks_blurrier_images_lower():
    torch.manual_seed(0)
    sharp = torch.rand(1, 3, 48, 48)
    box = torch.ones(3, 1, 5, 5) / 25
    blurred = F.conv2d(F.pad(sharp, (2, 2, 2, 2), mode="reflect"), box, groups=3)
    degree = blur_degree(torch.cat([sharp, blurred]))
    assert degree[1] < degree[0]


def test_select_keeps_the_blurriest_or_the_sharpest():
    degree = torch.tensor([5.0, 1.0, 3.0, 4.0])
    assert select_fraction(degree, 0.5).tolist() == [1, 2]
    assert select_fraction(degree, 0.5, blurriest=False).tolist() == [0, 3]
    assert select_fraction(degree, 0.01).tolist() == [1]
    assert select_fraction(degree, 1.0).tolist() == [0, 1, 2, 3]


def test_colour_jitter_identity_and_effect():
    x = torch.rand(3, 8, 8)
    assert torch.allclose(color_jitter(x, 1.0, 1.0, 1.0, 0.0), x, atol=1e-6)
    brighter = color_jitter(x * 0.5, 1.5, 1.0, 1.0, 0.0)
    assert brighter.mean() > (x * 0.5).mean()
    grey = color_jitter(x, 1.0, 1.0, 0.0, 0.0)
    assert torch.allclose(grey[0], grey[1], atol=1e-6) and torch.allclose(grey[1], grey[2], atol=1e-6)
    hue = color_jitter(x, 1.0, 1.0, 1.0, 0.5)
    assert not torch.allclose(hue, x, atol=1e-3)


def test_probabilities_are_respected_and_pairs_share_the_transform(tmp_path):
    img = np.random.default_rng(0).uniform(0, 1, (32, 32, 3)).astype(np.float32)
    write_image(tmp_path / "a.png", img)
    write_image(tmp_path / "b.png", img)
    none = PairedCrops([(tmp_path / "a.png", tmp_path / "b.png")], 32,
                       augment=Augment(hflip=0, vflip=0, rot90=0, jitter=0))
    item = none[0]
    assert torch.equal(item["blur"], item["sharp"])
    assert torch.allclose(item["blur"], torch.from_numpy(img).permute(2, 0, 1), atol=0.5 / 255 + 1e-6)
    always = PairedCrops([(tmp_path / "a.png", tmp_path / "b.png")], 32,
                         augment=Augment(hflip=1, vflip=0, rot90=0, jitter=1.0))
    flipped = always[0]
    assert torch.equal(flipped["blur"], flipped["sharp"])  # same flip and same jitter
    plain = torch.from_numpy(img).permute(2, 0, 1).flip(-1)
    assert not torch.allclose(flipped["blur"], plain, atol=1e-2)  # the jitter changed colours


def test_seeded_batches_are_a_function_of_seed_and_iteration(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(5):
        write_image(tmp_path / f"b{i}.png", rng.uniform(0, 1, (40, 40, 3)))
        write_image(tmp_path / f"s{i}.png", rng.uniform(0, 1, (40, 40, 3)))
    ds = PairedCrops([(tmp_path / f"b{i}.png", tmp_path / f"s{i}.png") for i in range(5)], 16)
    run = SeededBatches(ds, 2, seed=3)
    seq = [next(run)["blur"] for _ in range(6)]
    later = SeededBatches(ds, 2, seed=3, start=4)
    assert torch.equal(next(later)["blur"], seq[4])
    halves = [SeededBatches(ds, 2, seed=3, rank=r, world_size=2) for r in range(2)]
    for it in range(3):
        joined = torch.cat([next(h)["blur"] for h in halves])
        assert torch.equal(joined, seq[it])
    other = SeededBatches(ds, 2, seed=4)
    assert not torch.equal(next(other)["blur"], seq[0])
    with pytest.raises(ValueError):
        SeededBatches(ds, 3, seed=0, world_size=2)
