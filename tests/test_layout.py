"""Tests for blur2blur.data.layout: stem pairing and every kind of check_layout finding."""

import numpy as np
import pytest
from PIL import Image

from blur2blur.data import layout
from blur2blur.data.layout import check_layout, pair_by_stem
from blur2blur.io import encode_png16, write_image

RNG = np.random.default_rng(7)


def img(path, h=40, w=40, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, RNG.random((h, w, 3)).astype(np.float32), **kw)
    return path


def good_root(tmp_path, n=3, size=40):
    root = tmp_path / "ds"
    for i in range(n):
        img(root / "trainA" / f"a{i}.png", size, size)
        img(root / "trainB" / f"b{i}.jpg", size, size)
        img(root / "trainC" / f"{i:03d}.png", size, size)
        img(root / "trainD" / f"{i:03d}.jpg", size, size)  # extension differs from trainC
    return root


def codes(report, level=None):
    return [(p.level, p.split, p.code) for p in report.problems if level in (None, p.level)]


def find(report, code):
    return [p for p in report.problems if p.code == code]


# --- pairing -----------------------------------------------------------------------------------

def test_pair_by_stem_not_by_order(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for name in ["x.png", "y.png", "z.png", "only_a.png"]:
        img(a / name, 8, 8)
    # sorted order of b differs from a's, extensions differ
    for name in ["0_only_b.png", "z.jpg", "y.bmp", "x.tif"]:
        img(b / name, 8, 8)
    pairs, only_a, only_b = pair_by_stem(a, b)
    assert [(p.name, q.name) for p, q in pairs] == [("x.png", "x.tif"), ("y.png", "y.bmp"),
                                                      ("z.png", "z.jpg")]
    assert [p.name for p in only_a] == ["only_a.png"]
    assert [p.name for p in only_b] == ["0_only_b.png"]


def test_pair_by_stem_duplicates_raise(tmp_path):
    img(tmp_path / "a" / "k.png", 8, 8)
    img(tmp_path / "b" / "k.png", 8, 8)
    img(tmp_path / "b" / "k.jpg", 8, 8)
    with pytest.raises(ValueError, match="k.jpg"):
        pair_by_stem(tmp_path / "a", tmp_path / "b")


# --- check_layout --------------------------------------------------------------------------------

def test_clean_layout_is_ok(tmp_path):
    root = good_root(tmp_path)
    rep = check_layout(root, crop_size=32)
    assert rep.ok and rep.problems == []
    assert rep.counts["trainA"] == 3 and rep.counts["testA"] == 0
    assert rep.pairs == {"trainC/trainD": 3}
    text = rep.format()
    assert "trainA" in text and "Result: OK" in text and "trainC/trainD 3" in text


def test_missing_root(tmp_path):
    rep = check_layout(tmp_path / "nothing")
    assert not rep.ok and codes(rep) == [("error", None, "no_root")]
    assert "does not exist" in rep.format()


def test_missing_and_empty_folders(tmp_path):
    root = good_root(tmp_path)
    for f in (root / "trainB").iterdir():
        f.unlink()
    for f in (root / "trainD").iterdir():
        f.unlink()
    (root / "trainD").rmdir()
    (root / "testA").mkdir()
    rep = check_layout(root, crop_size=32)
    assert ("error", "trainD", "missing") in codes(rep)
    assert ("error", "trainB", "empty") in codes(rep)
    assert ("warning", "testA", "empty") in codes(rep)  # not needed: only a warning
    assert not any(p.split == "testA_gt" for p in rep.problems)  # optional and absent: silent
    msg = find(rep, "missing")[0].message
    assert "trainD/" in msg and "known-domain sharp" in msg
    assert not rep.ok
    # need controls what is an error
    rep2 = check_layout(root, crop_size=32, need=("trainA",))
    assert rep2.ok
    with pytest.raises(ValueError, match="trainX"):
        check_layout(root, need=("trainX",))


def test_case_mismatch_hint(tmp_path):
    root = good_root(tmp_path)
    (root / "trainA").rename(root / "TrainA")
    rep = check_layout(root, crop_size=32)
    missing = find(rep, "missing")[0]
    assert missing.split == "trainA" and "TrainA" in missing.message
    unknown = find(rep, "unknown_folder")[0]
    assert unknown.level == "info" and "did you mean trainA/" in unknown.message


def test_truncated_and_garbage_files_named(tmp_path):
    root = good_root(tmp_path)
    data = (root / "trainA" / "a0.png").read_bytes()
    (root / "trainA" / "cut.png").write_bytes(data[: len(data) // 2])
    (root / "trainB" / "junk.jpg").write_bytes(b"not a jpeg at all")
    rep = check_layout(root, crop_size=32)
    bad = {p.path.name: p for p in find(rep, "unreadable")}
    assert set(bad) == {"cut.png", "junk.jpg"}
    assert all(p.level == "error" for p in bad.values())
    assert "trainA/cut.png" in bad["cut.png"].message
    assert "truncated" in bad["cut.png"].message
    # header-only check does not see the truncation but still sees the garbage file
    fast = check_layout(root, crop_size=32, deep=False)
    assert {p.path.name for p in find(fast, "unreadable")} == {"junk.jpg"}


def test_duplicate_stems_error(tmp_path):
    root = good_root(tmp_path)
    img(root / "trainC" / "000.jpg")
    rep = check_layout(root, crop_size=32)
    dup = find(rep, "duplicate")
    assert len(dup) == 1 and dup[0].level == "error" and dup[0].split == "trainC"
    assert "000.jpg" in dup[0].message and "000.png" in dup[0].message
    assert not find(rep, "unpaired")  # 000 has a partner; the problem is the duplicate


def test_unpaired_and_no_pairs(tmp_path):
    root = good_root(tmp_path)
    img(root / "trainC" / "lonely_c.png")
    img(root / "trainD" / "lonely_d.png")
    rep = check_layout(root, crop_size=32)
    unpaired = {(p.split, p.path.name) for p in find(rep, "unpaired")}
    assert unpaired == {("trainC", "lonely_c.png"), ("trainD", "lonely_d.png")}
    assert all(p.level == "warning" for p in find(rep, "unpaired"))
    assert rep.ok and rep.pairs["trainC/trainD"] == 3
    # renaming every trainD file breaks all pairs: an error
    for f in sorted((root / "trainD").iterdir()):
        f.rename(f.with_name("sharp_" + f.name))
    rep = check_layout(root, crop_size=32)
    assert [p.level for p in find(rep, "no_pairs")] == ["error"]
    assert "stem" in find(rep, "no_pairs")[0].message


def test_test_split_pairs(tmp_path):
    root = good_root(tmp_path)
    img(root / "testA" / "t1.png")
    img(root / "testA" / "t2.png")
    img(root / "testA_gt" / "t1.png")
    img(root / "testA_gt" / "t9.png")
    rep = check_layout(root, crop_size=32)
    assert rep.pairs["testA/testA_gt"] == 1
    msgs = {p.path.name: p.message for p in find(rep, "unpaired")}
    assert "not be scored" in msgs["t2.png"] and "testA_gt/" in msgs["t2.png"]
    assert "t9.png" in msgs


def test_size_mismatch_in_pair(tmp_path):
    root = good_root(tmp_path)
    img(root / "trainD" / "001.jpg", 40, 44)
    rep = check_layout(root, crop_size=32)
    mm = find(rep, "size_mismatch")
    assert len(mm) == 1 and mm[0].level == "error"
    assert "001.png" in mm[0].message and "44x40" in mm[0].message


def test_small_images_warn(tmp_path):
    root = good_root(tmp_path)
    img(root / "trainA" / "tiny.png", 20, 60)
    rep = check_layout(root, crop_size=32)
    small = find(rep, "small")
    assert [p.path.name for p in small] == ["tiny.png"]
    assert small[0].level == "warning" and "60x20" in small[0].message and "padded" in small[0].message
    assert not find(check_layout(root, crop_size=16), "small")


def test_conversions_are_info(tmp_path):
    root = good_root(tmp_path)
    a = root / "trainA"
    Image.fromarray(RNG.integers(0, 256, (40, 40), dtype=np.uint8)).save(a / "grey.png")
    Image.fromarray(RNG.integers(0, 256, (40, 40, 4), dtype=np.uint8), "RGBA").save(a / "rgba.png")
    Image.fromarray(RNG.integers(0, 256, (40, 40, 3), dtype=np.uint8)).quantize(8).save(a / "pal.png")
    (a / "deep.png").write_bytes(encode_png16(RNG.integers(0, 65536, (40, 40, 3)).astype(np.uint16)))
    Image.fromarray(RNG.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(a / "wrong.png", "JPEG")
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(RNG.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(a / "rot.jpg", exif=exif)
    rep = check_layout(root, crop_size=32)
    conv = {p.path.name: p for p in find(rep, "converted")}
    assert set(conv) == {"grey.png", "rgba.png", "pal.png", "deep.png", "wrong.png", "rot.jpg"}
    assert all(p.level == "info" for p in conv.values())
    assert "grey" in conv["grey.png"].message
    assert "alpha dropped" in conv["rgba.png"].message
    assert "palette" in conv["pal.png"].message
    assert "16-bit" in conv["deep.png"].message
    assert "JPEG file with a .png extension" in conv["wrong.png"].message
    assert "orientation 6" in conv["rot.jpg"].message and "40x50" in conv["rot.jpg"].message
    assert rep.ok  # conversions are not errors


def test_ignored_files_and_subfolders(tmp_path):
    root = good_root(tmp_path)
    (root / "trainB" / "readme.txt").write_text("hi")
    (root / "trainB" / ".DS_Store").write_bytes(b"x")
    (root / "trainB" / "more").mkdir()
    rep = check_layout(root, crop_size=32)
    ign = {p.path.name: p for p in find(rep, "ignored")}
    assert set(ign) == {"readme.txt", ".DS_Store", "more"}
    assert all(p.level == "warning" for p in ign.values())
    assert "subfolder" in ign["more"].message and ".txt" in ign["readme.txt"].message
    assert rep.counts["trainB"] == 3


def test_format_groups_and_truncates(tmp_path):
    root = good_root(tmp_path, n=14, size=16)
    (root / "trainC" / "000.png").write_bytes(b"broken")
    rep = check_layout(root, crop_size=32, workers=1)
    text = rep.format(max_items=5)
    assert text.index("Errors (1):") < text.index("Warnings (")
    assert "trainC/000.png: cannot be read" in text
    # 14 small images in trainA: one group line with the count, 5 items, then a remainder line
    assert "[trainA] images smaller than the crop (will be reflect-padded): 14" in text
    assert "... and 9 more" in text
    assert "Result: 1 error(s)" in text
    assert str(rep) == rep.format()
    # same findings with several worker threads
    assert codes(check_layout(root, crop_size=32, workers=3)) == codes(rep)


def test_splits_constant():
    assert layout.SPLITS == ("trainA", "trainB", "trainC", "trainD", "testA", "testA_gt")
