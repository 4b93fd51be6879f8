"""Tests for blur2blur.io: formats, bit depths, colour modes, EXIF orientation, rounding, errors."""

import struct
import zlib

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image, ImageOps

from blur2blur import io as bio

RNG = np.random.default_rng(1234)


def rand_u8(h=12, w=17, c=3):
    return RNG.integers(0, 256, (h, w, c) if c else (h, w)).astype(np.uint8)


def rand_u16(h=12, w=17, c=3):
    return RNG.integers(0, 65536, (h, w, c) if c else (h, w)).astype(np.uint16)


# --- an independent 16-bit PNG writer (every filter type, optional Adam7 interlace) ---------------

def _filter_rows(rows, bpp, filters):
    """rows: uint8 (h, stride). Returns bytes of filtered scanlines, filter chosen per row."""
    out = []
    prev = np.zeros(rows.shape[1], np.int32)
    for y, cur in enumerate(rows.astype(np.int32)):
        f = filters[y % len(filters)]
        left = np.concatenate([np.zeros(bpp, np.int32), cur[:-bpp]])
        upleft = np.concatenate([np.zeros(bpp, np.int32), prev[:-bpp]])
        if f == 0:
            d = cur
        elif f == 1:
            d = cur - left
        elif f == 2:
            d = cur - prev
        elif f == 3:
            d = cur - (left + prev) // 2
        else:
            p = left + prev - upleft
            pa, pb, pc = abs(p - left), abs(p - prev), abs(p - upleft)
            pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prev, upleft))
            d = cur - pred
        out.append(bytes([f]) + (d % 256).astype(np.uint8).tobytes())
        prev = cur
    return b"".join(out)


def make_png16(arr, colour_type, filters=(0, 1, 2, 3, 4), interlace=False):
    arr = arr if arr.ndim == 3 else arr[..., None]
    h, w, c = arr.shape
    bpp = 2 * c
    be = arr.astype(">u2")
    if interlace:
        passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
                  (0, 1, 1, 2)]
        data = b""
        for x0, y0, dx, dy in passes:
            sub = be[y0::dy, x0::dx]
            if sub.size:
                data += _filter_rows(np.ascontiguousarray(sub).view(np.uint8).reshape(sub.shape[0], -1),
                                     bpp, filters)
    else:
        data = _filter_rows(np.ascontiguousarray(be).view(np.uint8).reshape(h, -1), bpp, filters)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 1 if interlace else 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(data))
            + chunk(b"IEND", b""))


# --- 16-bit PNG --------------------------------------------------------------------------------

@pytest.mark.parametrize("interlace", [False, True])
@pytest.mark.parametrize("channels,colour_type", [(3, 2), (4, 6), (2, 4), (1, 0)])
def test_png16_exact(tmp_path, channels, colour_type, interlace):
    a = rand_u16(11, 13, channels)
    p = tmp_path / "x.png"
    p.write_bytes(make_png16(a, colour_type, interlace=interlace))
    raw = bio.read_image(p, keep_dtype=True)
    assert raw.dtype == np.uint16 and raw.shape == (11, 13, 3)
    expected = np.repeat(a[..., :1], 3, 2) if channels <= 2 else a[..., :3]
    np.testing.assert_array_equal(raw, expected)
    img = bio.read_image(p)
    assert img.dtype == np.float32
    np.testing.assert_allclose(img, expected / 65535.0, atol=1e-7)


def test_png16_low_byte_matters(tmp_path):
    # values differing only in the low byte must read differently (Pillow alone would merge them)
    a = np.array([[[0x1200, 0x12FF, 0x1201]]], np.uint16).repeat(4, 0).repeat(4, 1)
    p = tmp_path / "lo.png"
    p.write_bytes(make_png16(a, 2))
    img = bio.read_image(p)
    assert img[0, 0, 0] < img[0, 0, 2] < img[0, 0, 1]


def test_write_png16_roundtrip(tmp_path):
    a = RNG.random((9, 14, 3)).astype(np.float32)
    p = bio.write_image(tmp_path / "sub" / "o16.png", a, bits=16)
    assert p.exists()
    back = bio.read_image(p)
    assert np.abs(back - a).max() <= 0.5 / 65535 + 1e-7
    raw = bio.read_image(p, keep_dtype=True)
    np.testing.assert_array_equal(raw, np.floor(a.astype(np.float64) * 65535 + 0.5).astype(np.uint16))
    grey = RNG.random((5, 6)).astype(np.float32)
    g = bio.read_image(bio.write_image(tmp_path / "g16.png", grey, bits=16))
    np.testing.assert_allclose(g[..., 1], grey, atol=0.5 / 65535 + 1e-7)


# --- other formats ------------------------------------------------------------------------------

@pytest.mark.parametrize("ext", [".png", ".bmp", ".webp", ".tif", ".tiff"])
def test_lossless_roundtrip_8bit(tmp_path, ext):
    a = rand_u8()
    p = bio.write_image(tmp_path / f"a{ext}", a.astype(np.float32) / 255)
    back = bio.read_image(p)
    np.testing.assert_array_equal(np.round(back * 255).astype(np.uint8), a)


def test_jpeg_roundtrip_close(tmp_path):
    y, x = np.mgrid[0:32, 0:32] / 31.0
    a = np.stack([y, x, (x + y) / 2], -1).astype(np.float32)
    p = bio.write_image(tmp_path / "a.jpg", a, quality=95)
    back = bio.read_image(p)
    assert back.shape == (32, 32, 3) and back.dtype == np.float32
    assert np.abs(back - a).mean() < 0.01


def test_tiff16_read_and_write(tmp_path):
    a = rand_u16()
    tifffile.imwrite(tmp_path / "a.tif", a, photometric="rgb")
    np.testing.assert_array_equal(bio.read_image(tmp_path / "a.tif", keep_dtype=True), a)
    planar = np.moveaxis(a, -1, 0)
    tifffile.imwrite(tmp_path / "p.tif", planar, photometric="rgb", planarconfig="separate")
    np.testing.assert_array_equal(bio.read_image(tmp_path / "p.tif", keep_dtype=True), a)
    f = a.astype(np.float32) / 65535
    p = bio.write_image(tmp_path / "w.tif", f, bits=16)
    np.testing.assert_array_equal(bio.read_image(p, keep_dtype=True), a)


def test_tiff_minisblack_and_miniswhite(tmp_path):
    g = rand_u8(c=0)
    tifffile.imwrite(tmp_path / "g.tif", g, photometric="minisblack")
    np.testing.assert_allclose(bio.read_image(tmp_path / "g.tif")[..., 2], g / 255.0, atol=1e-7)
    tifffile.imwrite(tmp_path / "w.tif", g, photometric="miniswhite")
    np.testing.assert_allclose(bio.read_image(tmp_path / "w.tif")[..., 0], 1 - g / 255.0, atol=1e-6)


def test_format_sniffed_not_extension(tmp_path):
    # a JPEG saved with a .png name still reads
    a = rand_u8()
    Image.fromarray(a).save(tmp_path / "fake.png", format="JPEG")
    assert bio.read_image(tmp_path / "fake.png").shape == a.shape


# --- colour modes -----------------------------------------------------------------------------

def test_grey_8_and_16_bit(tmp_path):
    g = rand_u8(c=0)
    Image.fromarray(g, "L").save(tmp_path / "g.png")
    img = bio.read_image(tmp_path / "g.png")
    assert img.shape == g.shape + (3,)
    for c in range(3):
        np.testing.assert_allclose(img[..., c], g / 255.0, atol=1e-7)
    g16 = rand_u16(c=0)
    Image.fromarray(g16).save(tmp_path / "g16.png")
    np.testing.assert_array_equal(bio.read_image(tmp_path / "g16.png", keep_dtype=True)[..., 0], g16)


def test_rgba_and_grey_alpha_drop_alpha(tmp_path):
    a = rand_u8(c=4)
    Image.fromarray(a, "RGBA").save(tmp_path / "a.png")
    np.testing.assert_array_equal(bio.read_image(tmp_path / "a.png", keep_dtype=True), a[..., :3])
    la = rand_u8(c=2)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    out = bio.read_image(tmp_path / "la.png", keep_dtype=True)
    np.testing.assert_array_equal(out, np.repeat(la[..., :1], 3, 2))


def test_palette_and_bilevel(tmp_path):
    a = rand_u8()
    pal = Image.fromarray(a).quantize(colors=16)
    pal.save(tmp_path / "p.png")
    expected = np.asarray(pal.convert("RGB"))
    np.testing.assert_array_equal(bio.read_image(tmp_path / "p.png", keep_dtype=True), expected)
    pal.info["transparency"] = 0
    pal.save(tmp_path / "pt.png", transparency=0)
    np.testing.assert_array_equal(bio.read_image(tmp_path / "pt.png", keep_dtype=True), expected)
    bw = Image.fromarray((rand_u8(c=0) > 127).astype(np.uint8) * 255).convert("1")
    bw.save(tmp_path / "bw.png")
    out = bio.read_image(tmp_path / "bw.png")
    assert set(np.unique(out)) <= {0.0, 1.0}


def test_cmyk_jpeg(tmp_path):
    Image.fromarray(rand_u8()).convert("CMYK").save(tmp_path / "c.jpg")
    out = bio.read_image(tmp_path / "c.jpg")
    assert out.shape == (12, 17, 3) and 0 <= out.min() and out.max() <= 1


# --- EXIF orientation -------------------------------------------------------------------------

def test_exif_orientation_6_rotates_jpeg(tmp_path):
    a = np.zeros((10, 20, 3), np.uint8)
    a[:, :5] = 255  # white band on the left of the stored image
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(a).save(tmp_path / "o.jpg", exif=exif, quality=95)
    img = bio.read_image(tmp_path / "o.jpg")
    assert img.shape == (20, 10, 3)
    # orientation 6 = rotate 90 degrees clockwise for display: the left band goes to the top
    assert img[:5].mean() > 0.9 and img[-5:].mean() < 0.1
    info = bio.image_info(tmp_path / "o.jpg")
    assert (info.width, info.height, info.orientation) == (10, 20, 6)


@pytest.mark.parametrize("code", range(1, 9))
def test_orientation_matches_pillow(tmp_path, code):
    a = rand_u8(6, 9)
    exif = Image.Exif()
    exif[0x0112] = code
    Image.fromarray(a).save(tmp_path / "o.png", exif=exif)
    with Image.open(tmp_path / "o.png") as im:
        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    np.testing.assert_array_equal(bio.read_image(tmp_path / "o.png", keep_dtype=True), expected)
    info = bio.image_info(tmp_path / "o.png")  # header-only read agrees
    assert info.orientation == code and (info.height, info.width) == expected.shape[:2]


def test_tiff_orientation_tag(tmp_path):
    a = rand_u16(4, 7)
    tifffile.imwrite(tmp_path / "o.tif", a, photometric="rgb", extratags=[(274, 3, 1, 8, True)])
    out = bio.read_image(tmp_path / "o.tif", keep_dtype=True)
    np.testing.assert_array_equal(out, np.rot90(a, 1))


# --- writing: rounding, inputs, errors ----------------------------------------------------------

def test_write_rounds_not_truncates(tmp_path):
    vals = np.array([100.6, 100.4, 100.51, 100.49, 0.49, 254.51, -3.0, 300.0]) / 255.0
    img = np.tile(vals.astype(np.float32)[None, :, None], (2, 1, 3))
    p = bio.write_image(tmp_path / "r.png", img)
    out = np.asarray(Image.open(p))[0, :, 0]
    np.testing.assert_array_equal(out, [101, 100, 101, 100, 0, 255, 0, 255])


def test_write_tensor_inputs(tmp_path):
    a = rand_u8()
    t = torch.from_numpy(a.astype(np.float32) / 255).permute(2, 0, 1)
    for name, x in [("chw.png", t), ("nchw.png", t[None]), ("grey.png", t[:1])]:
        out = bio.read_image(bio.write_image(tmp_path / name, x), keep_dtype=True)
        exp = a if name != "grey.png" else np.repeat(a[..., :1], 3, 2)
        np.testing.assert_array_equal(out, exp)
    with pytest.raises(ValueError, match="batch"):
        bio.write_image(tmp_path / "b.png", torch.zeros(2, 3, 4, 4))


def test_write_errors(tmp_path):
    img = np.zeros((4, 4, 3), np.float32)
    with pytest.raises(ValueError, match="extension"):
        bio.write_image(tmp_path / "a.gif", img)
    with pytest.raises(ValueError, match="16-bit"):
        bio.write_image(tmp_path / "a.jpg", img, bits=16)
    with pytest.raises(ValueError, match="NaN"):
        bio.write_image(tmp_path / "n.png", np.full((4, 4, 3), np.nan, np.float32))
    with pytest.raises(ValueError, match="shape"):
        bio.write_image(tmp_path / "s.png", np.zeros((4, 4, 2), np.float32))
    assert not any(tmp_path.iterdir())  # nothing (not even temp files) left behind


def test_to_tensor_to_numpy():
    a = RNG.random((5, 7, 3)).astype(np.float32)
    t = bio.to_tensor(a)
    assert t.shape == (3, 5, 7) and t.dtype == torch.float32
    np.testing.assert_array_equal(bio.to_numpy(t), a)
    np.testing.assert_array_equal(bio.to_numpy(t[None]), a)
    assert bio.to_numpy(t[:1]).shape == (5, 7)


# --- reading errors, listing ----------------------------------------------------------------------

@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif"])
def test_truncated_file_raises_naming_it(tmp_path, ext):
    y, x = np.mgrid[0:64, 0:64]
    a = np.stack([x * 4, y * 4, (x * y) % 256], -1).astype(np.uint8)
    a = a ^ RNG.integers(0, 256, a.shape, dtype=np.uint8)  # hard to compress: data fills the file
    full = tmp_path / f"full{ext}"
    bio.write_image(full, a)
    data = full.read_bytes()
    bad = tmp_path / f"cut_here{ext}"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(bio.ImageReadError, match="cut_here") as err:
        bio.read_image(bad)
    assert err.value.path == bad and err.value.reason


def test_missing_and_garbage_files(tmp_path):
    with pytest.raises(bio.ImageReadError, match="no such file"):
        bio.read_image(tmp_path / "nope.png")
    (tmp_path / "junk.png").write_bytes(b"this is not an image")
    with pytest.raises(bio.ImageReadError, match="junk.png"):
        bio.read_image(tmp_path / "junk.png")
    with pytest.raises(bio.ImageReadError, match="junk.png"):
        bio.image_info(tmp_path / "junk.png")


def test_list_images(tmp_path):
    for name in ["b.PNG", "a.jpg", "c.tiff", "d.txt", ".hidden.png", "e.webp", "f.BMP"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "z.png").write_bytes(b"x")
    names = [p.name for p in bio.list_images(tmp_path)]
    assert names == ["a.jpg", "b.PNG", "c.tiff", "e.webp", "f.BMP"]
    with pytest.raises(FileNotFoundError, match="missing"):
        bio.list_images(tmp_path / "missing")
    with pytest.raises(NotADirectoryError, match="a.jpg"):
        bio.list_images(tmp_path / "a.jpg")
