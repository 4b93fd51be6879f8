"""make_dataset: layout, stem pairing, disjoint scenes, determinism, manifest."""

import json

import numpy as np
import pytest

from blur2blur.io import list_images, read_image, write_image
from blur2blur.simulate import make_dataset, simulate_path
from blur2blur.simulate.make_dataset import assign_groups, group_sizes

SPLITS = ("trainA", "trainB", "trainC", "trainD", "testA", "testA_gt")


def make_photos(folder, n=3, h=64, w=96):
    """n smooth random colour photos with some edges, written as PNG."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    paths = []
    for i in range(n):
        a, b = rng.uniform(2, 9, size=2)
        base = 0.5 + 0.4 * np.sin(a * 6 * xx + b * 4 * yy)
        img = np.stack([base, base[::-1], 1 - base], -1) * rng.uniform(0.6, 1, 3)
        img[(yy * 10).astype(int) % 3 == 0] *= 0.5
        paths.append(write_image(folder / f"photo{i}.png", img.astype(np.float32)))
    return paths


def stems(root, split):
    return {p.stem for p in list_images(root / split)}


def test_layout_pairs_and_disjoint(tmp_path):
    make_photos(tmp_path / "photos")
    out = tmp_path / "ds"
    counts = make_dataset(tmp_path / "photos", out, "known", "unknown", tile=32, seed=1,
                          progress=False)
    assert counts["scenes"] == 3 * 2 * 3 and counts["photos"] == 3
    for split in SPLITS:
        assert counts[split] == len(list_images(out / split)) > 0
        assert read_image(list_images(out / split)[0]).shape == (32, 32, 3)
    assert stems(out, "trainC") == stems(out, "trainD")
    assert stems(out, "testA") == stems(out, "testA_gt")
    groups = [stems(out, "trainA"), stems(out, "trainB"), stems(out, "trainC"), stems(out, "testA")]
    assert sum(len(g) for g in groups) == counts["scenes"]
    assert len(set().union(*groups)) == counts["scenes"]  # pairwise disjoint
    assert not (out / "trainA_gt").exists()
    # every group gets tiles from more than one photo
    m = json.loads((out / "manifest.json").read_text())
    for split in ("trainA", "trainB", "trainC"):
        sources = {v["source"] for k, v in m["files"].items() if k.startswith(split + "/")}
        assert len(sources) >= 2, split
    entry = m["files"][f"trainC/{sorted(stems(out, 'trainC'))[0]}.png"]
    assert entry["profile"] == "known" and entry["motion"] and len(entry["tile"]) == 4
    d_entry = m["files"][f"trainD/{sorted(stems(out, 'trainD'))[0]}.png"]
    assert d_entry["seed"] == entry["seed"] and not d_entry["motion"] and not d_entry["noise"]
    assert m["profiles"]["unknown"]["name"] == "unknown"


def test_ratio_and_determinism(tmp_path):
    photos = make_photos(tmp_path / "photos", n=3, h=64, w=64)
    a = make_dataset(photos, tmp_path / "a", tile=16, seed=3, progress=False, write_train_gt=True)
    b = make_dataset(photos, tmp_path / "b", tile=16, seed=3, progress=False, write_train_gt=True)
    make_dataset(photos, tmp_path / "c", tile=16, seed=4, progress=False)
    assert a == b
    for split in SPLITS + ("trainA_gt",):
        assert stems(tmp_path / "a", split) == stems(tmp_path / "b", split)
        for f in list_images(tmp_path / "a" / split):
            assert f.read_bytes() == (tmp_path / "b" / split / f.name).read_bytes()
    assert stems(tmp_path / "a", "trainA") == stems(tmp_path / "a", "trainA_gt")
    assert stems(tmp_path / "a", "trainA") != stems(tmp_path / "c", "trainA")
    # 48 scenes, 60% of 48 * (1 - 0.3 - 0.1) is about 17 B vs 12 S
    assert a["trainA"] / (a["trainA"] + a["trainB"]) == pytest.approx(0.6, abs=0.05)


def test_without_tiles_and_errors(tmp_path):
    photos = make_photos(tmp_path / "photos", n=3, h=32, w=32)
    with pytest.raises(ValueError, match="tile"):
        make_dataset(photos, tmp_path / "x", progress=False)  # 3 scenes < 4 groups
    more = photos + make_photos(tmp_path / "more", n=2, h=32, w=32)
    counts = make_dataset(more, tmp_path / "y", seed=0, progress=False)
    assert counts["scenes"] == 5
    all_stems = set().union(*(stems(tmp_path / "y", s) for s in ("trainA", "trainB", "trainC", "testA")))
    assert len(all_stems) == 5  # same stems in two folders were made unique
    with pytest.raises(FileExistsError, match="overwrite"):
        make_dataset(more, tmp_path / "y", seed=0, progress=False)
    again = make_dataset(more, tmp_path / "y", seed=1, progress=False, overwrite=True)
    # no stale files left: the folders hold exactly this run's files (5 scenes, 2 paired groups)
    on_disk = {s: len(list_images(tmp_path / "y" / s)) for s in SPLITS}
    assert on_disk == {s: again[s] for s in SPLITS}
    assert sum(on_disk.values()) == 5 + on_disk["trainD"] + on_disk["testA_gt"]


def test_group_helpers():
    sizes = group_sizes(10, {"B": 0.36, "S": 0.24, "known": 0.3, "test": 0.1})
    assert sum(sizes.values()) == 10 and min(sizes.values()) >= 1
    assert group_sizes(4, {"B": 0.9, "S": 0.04, "known": 0.03, "test": 0.03}) == \
        {"B": 1, "S": 1, "known": 1, "test": 1}
    groups = assign_groups(list(range(20)), {"a": 10, "b": 5, "c": 5})
    first_half = [groups[i] for i in range(10)]
    assert first_half.count("a") == 5 and first_half.count("b") in (2, 3)


def test_simulate_path(tmp_path):
    photos = make_photos(tmp_path / "photos", n=2, h=24, w=24)
    written = simulate_path(tmp_path / "photos", tmp_path / "out", "unknown", seed=2)
    assert [p.name for p in written] == ["photo0.png", "photo1.png"]
    single = simulate_path(photos[1], tmp_path / "one", "unknown", seed=3)
    assert single[0].read_bytes() == written[1].read_bytes()  # image i uses seed + i
