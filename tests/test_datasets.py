"""Tests for blur2blur.data.datasets: crops, shared pair transforms, padding, bad files, seeding."""

import logging
import warnings

import numpy as np
import pytest
import torch

from blur2blur.data.datasets import PairedCrops, UnpairedCrops, infinite_loader, random_crop_pad
from blur2blur.io import encode_png16, write_image

RNG = np.random.default_rng(3)


def save(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, arr)
    return path


def rand_u8(h, w):
    return RNG.integers(0, 256, (h, w, 3)).astype(np.uint8)


def as_hwc(t):
    return np.round(t.numpy().transpose(1, 2, 0) * 255).astype(np.uint8)


def dihedral(a):
    """The 8 flips/rotations of an HxWxC array."""
    out = []
    for k in range(4):
        r = np.rot90(a, k)
        out += [r, r[:, ::-1]]
    return out


@pytest.fixture
def files(tmp_path):
    return [save(tmp_path / f"im{i}.png", rand_u8(40, 48)) for i in range(4)]


def test_unpaired_shapes_and_range(files):
    ds = UnpairedCrops(files, crop_size=24)
    assert len(ds) == 4
    item = ds[1]
    assert item["name"] == "im1"
    assert item["image"].shape == (3, 24, 24) and item["image"].dtype == torch.float32
    assert 0.0 <= item["image"].min() and item["image"].max() <= 1.0
    assert ds[-1]["name"] == "im3"
    with pytest.raises(IndexError):
        ds[4]
    with pytest.raises(ValueError, match="no images"):
        UnpairedCrops([], crop_size=8)


def test_crop_is_a_window_without_augment(tmp_path):
    a = rand_u8(30, 40)
    ds = UnpairedCrops([save(tmp_path / "a.png", a)], crop_size=16, augment=False)
    for seed in range(5):
        torch.manual_seed(seed)
        c = as_hwc(ds[0]["image"])
        hits = [(y, x) for y in range(15) for x in range(25) if np.array_equal(a[y:y + 16, x:x + 16], c)]
        assert len(hits) == 1


def test_augment_covers_the_eight_symmetries(tmp_path):
    a = rand_u8(16, 16)
    ds = UnpairedCrops([save(tmp_path / "a.png", a)], crop_size=16, augment=True)
    variants = dihedral(a)
    seen = set()
    for seed in range(60):
        torch.manual_seed(seed)
        c = as_hwc(ds[0]["image"])
        match = [i for i, v in enumerate(variants) if np.array_equal(v, c)]
        assert len(match) == 1
        seen.add(match[0])
    assert seen == set(range(8))


def test_pair_gets_same_transform(tmp_path):
    a = rand_u8(37, 45)
    pairs = [(save(tmp_path / "blur" / "x.png", a), save(tmp_path / "sharp" / "x.bmp", a))]
    ds = PairedCrops(pairs, crop_size=20, augment=True)
    outs = set()
    for seed in range(20):
        torch.manual_seed(seed)
        item = ds[0]
        assert item["blur"].shape == item["sharp"].shape == (3, 20, 20)
        assert torch.equal(item["blur"], item["sharp"])
        outs.add(item["blur"].numpy().tobytes())
    assert len(outs) > 10  # crops and transforms really vary
    assert ds[0]["name"] == "x"


def test_pair_transform_aligned_for_different_content(tmp_path):
    # sharp = 255 - blur: after any shared transform the relation must still hold pixelwise
    a = rand_u8(33, 41)
    pairs = [(save(tmp_path / "b.png", a), save(tmp_path / "s.png", 255 - a))]
    ds = PairedCrops(pairs, crop_size=16)
    for seed in range(10):
        torch.manual_seed(seed)
        item = ds[0]
        torch.testing.assert_close(item["sharp"], 1.0 - item["blur"], atol=1e-6, rtol=0)


def test_small_images_reflect_padded(tmp_path):
    a = rand_u8(10, 20)
    ds = UnpairedCrops([save(tmp_path / "s.png", a)], crop_size=32, augment=False)
    out = as_hwc(ds[0]["image"])
    assert out.shape == (32, 32, 3)
    top, left = (32 - 10) // 2, (32 - 20) // 2
    np.testing.assert_array_equal(out[top:top + 10, left:left + 20], a)
    np.testing.assert_array_equal(out[top - 1, left:left + 20], a[1])  # reflection, not edge copy
    np.testing.assert_array_equal(out[top:top + 10, left - 1], a[:, 1])
    # one axis long enough: cropped there, padded on the other
    b = rand_u8(8, 50)
    ds2 = UnpairedCrops([save(tmp_path / "w.png", b)], crop_size=16, augment=False)
    assert ds2[0]["image"].shape == (3, 16, 16)
    # a 1-pixel-wide image still works
    assert random_crop_pad(rand_u8(1, 3), 8, 0, 0).shape == (8, 8, 3)


def test_bad_file_skipped_with_one_warning(tmp_path, files, caplog):
    data = files[0].read_bytes()
    bad = tmp_path / "broken_one.png"
    bad.write_bytes(data[: len(data) // 3])
    ds = UnpairedCrops([files[0], bad, files[1]], crop_size=16)
    with caplog.at_level(logging.WARNING, logger="blur2blur.data"):
        with pytest.warns(RuntimeWarning, match="broken_one.png"):
            item = ds[1]
        assert item["name"] in ("im0", "im1")
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a second access must not warn again
            for _ in range(5):
                assert ds[1]["name"] in ("im0", "im1")
    logged = [r for r in caplog.records if r.name == "blur2blur.data"]
    assert len(logged) == 1 and "broken_one.png" in logged[0].getMessage()
    assert ds.bad_files == [bad]


def test_all_bad_raises(tmp_path):
    paths = []
    for i in range(2):
        p = tmp_path / f"junk{i}.png"
        p.write_bytes(b"nope")
        paths.append(p)
    ds = UnpairedCrops(paths, crop_size=8)
    with pytest.warns(RuntimeWarning):
        with pytest.raises(RuntimeError, match="all 2 items are unreadable"):
            ds[0]


def test_pair_size_mismatch_names_files(tmp_path):
    pairs = [(save(tmp_path / "b" / "p.png", rand_u8(20, 20)), save(tmp_path / "s" / "p.png", rand_u8(20, 24)))]
    with pytest.raises(ValueError, match=r"b/p\.png is 20x20 but .*s/p\.png is 24x20"):
        PairedCrops(pairs, crop_size=8)
    ds = PairedCrops(pairs, crop_size=8, check_sizes=False)
    with pytest.raises(ValueError, match="same size"):
        ds[0]


def test_bad_pair_member_skipped(tmp_path):
    good = (save(tmp_path / "b" / "g.png", rand_u8(20, 20)), save(tmp_path / "s" / "g.png", rand_u8(20, 20)))
    broken = tmp_path / "s" / "h.png"
    broken.write_bytes(b"garbage")
    pairs = [good, (save(tmp_path / "b" / "h.png", rand_u8(20, 20)), broken)]
    with pytest.warns(RuntimeWarning, match="h.png"):
        ds = PairedCrops(pairs, crop_size=8)  # found while checking sizes
    for _ in range(3):
        assert ds[1]["name"] == "g"


def test_cache_keeps_native_dtype_and_16_bit(tmp_path):
    a16 = RNG.integers(0, 65536, (12, 12, 3)).astype(np.uint16)
    p = tmp_path / "d.png"
    p.write_bytes(encode_png16(a16))
    ds = UnpairedCrops([p], crop_size=12, augment=False, cache=True)
    out = ds[0]["image"]
    np.testing.assert_allclose(out.numpy().transpose(1, 2, 0), a16 / 65535.0, atol=1e-7)
    assert ds._cache[p].dtype == np.uint16
    nocache = UnpairedCrops([p], crop_size=12, cache=False)
    nocache[0]
    assert not nocache._cache


def test_items_deterministic_for_torch_seed(files):
    ds = UnpairedCrops(files, crop_size=16)
    torch.manual_seed(11)
    a = [ds[i]["image"] for i in range(4)]
    torch.manual_seed(11)
    b = [ds[i]["image"] for i in range(4)]
    torch.manual_seed(12)
    c = [ds[i]["image"] for i in range(4)]
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))


def take(it, n):
    return [next(it) for _ in range(n)]


def test_infinite_loader_seeded_and_reshuffles(files):
    ds = UnpairedCrops(files, crop_size=16)
    state = torch.get_rng_state()
    run1 = take(infinite_loader(ds, batch_size=2, seed=5), 6)  # 3 epochs of 2 batches
    assert torch.equal(torch.get_rng_state(), state)  # the caller's RNG is untouched
    torch.manual_seed(999)  # global seed must not matter
    run2 = take(infinite_loader(ds, batch_size=2, seed=5), 6)
    run3 = take(infinite_loader(ds, batch_size=2, seed=6), 6)
    assert run1[0]["image"].shape == (2, 3, 16, 16)
    for x, y in zip(run1, run2):
        assert x["name"] == y["name"] and torch.equal(x["image"], y["image"])
    assert any(not torch.equal(x["image"], y["image"]) for x, y in zip(run1, run3))
    epochs = [tuple(run1[i]["name"]) + tuple(run1[i + 1]["name"]) for i in (0, 2, 4)]
    assert all(sorted(e) == ["im0", "im1", "im2", "im3"] for e in epochs)  # each epoch sees all
    assert len(set(epochs)) > 1  # and the order changes between epochs


def test_infinite_loader_with_worker_is_seeded(files):
    ds = UnpairedCrops(files, crop_size=16)
    a = take(infinite_loader(ds, batch_size=2, seed=1, num_workers=1), 3)
    b = take(infinite_loader(ds, batch_size=2, seed=1, num_workers=1), 3)
    for x, y in zip(a, b):
        assert torch.equal(x["image"], y["image"])


def test_infinite_loader_too_small(files):
    with pytest.raises(ValueError, match="fewer than one batch"):
        next(infinite_loader(UnpairedCrops(files, crop_size=8), batch_size=5, seed=0))
