"""Image reading and writing.

Images in the library are RGB float32 arrays in [0, 1], HxWx3 (numpy) or CHW / NCHW (torch).
Reading accepts PNG, JPEG, TIFF, BMP and WebP files, 8 and 16 bit, grey / grey+alpha / RGB /
RGBA / palette; EXIF orientation is applied and alpha is dropped (not composited).

16-bit PNG: Pillow decodes 16-bit RGB(A) PNG files to 8 bits.  We let Pillow's own (C) decoder
unfilter the file twice, once keeping the high byte of every sample and once the low byte, and
join the two; the result is exact (see tests/test_io.py).  16-bit PNG files are written by a small
encoder here.  TIFF files are read with tifffile (any bit depth), Pillow as a fallback.

(One file of about 500 lines on purpose: reading and writing share the format table, the 16-bit
rules and the orientation handling, and every module imports its image functions from here.)
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from blur2blur.outputs.files import raise_for_output, temp_path

IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_ORIENTATION_TAG = 0x0112
# 16-bit PNG raw modes: the raw mode Pillow uses (keeps the high byte) -> one that keeps the low byte.
_PNG16_LOW_RAWMODE = {"RGB;16B": "RGB;16L", "RGBA;16B": "RGBA;16L", "LA;16B": "RGBA"}
_WRITE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF",
                  ".bmp": "BMP", ".webp": "WEBP"}


class ImageReadError(Exception):
    """An image file could not be read; the message names the file and the reason."""

    def __init__(self, path, reason: str):
        self.path = Path(path)
        self.reason = str(reason)
        super().__init__(f"cannot read image {self.path}: {self.reason}")


@dataclass(frozen=True)
class ImageInfo:
    """Header facts about an image file (no full decode).

    width/height are after EXIF orientation; `colour` is one of "grey", "grey+alpha", "RGB",
    "RGBA", "palette", "CMYK", "other"; `bits` per sample (1, 8, 16, 32); `format` as Pillow
    names it ("PNG", "JPEG", "TIFF", ...); `orientation` the EXIF/TIFF code 1..8 (1 = upright).
    """

    width: int
    height: int
    colour: str
    bits: int
    format: str
    orientation: int = 1


# ----------------------------------------------------------------------------- reading


def read_image(path, keep_dtype: bool = False) -> np.ndarray:
    """Read an image file as RGB float32 HxWx3 in [0, 1].

    EXIF orientation is applied, alpha dropped, grey replicated to 3 channels, 16-bit data
    scaled by 65535.  With `keep_dtype=True` the stored samples are returned unscaled
    (uint8 or uint16 HxWx3; float32 for float TIFFs) - used by the datasets to cache compactly.
    Raises ImageReadError (naming the file and the reason) for missing, unreadable or
    truncated files; the whole file is decoded, so truncation is detected.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(path, "no such file" if not path.exists() else "not a regular file")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
        if magic in _TIFF_MAGIC:
            arr, orientation = _read_tiff(path)
        else:
            arr, orientation = _read_pillow(path)
        arr = _to_rgb(arr)
        arr = apply_orientation(arr, orientation)
    except ImageReadError:
        raise
    except Exception as exc:  # Pillow/tifffile raise many types (OSError, SyntaxError, ...)
        raise ImageReadError(path, f"{type(exc).__name__}: {exc}") from exc
    if keep_dtype:
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ImageReadError(path, "float image contains NaN or infinity")
        return arr
    return _scale_to_unit(arr, path)


def _read_pillow(path: Path):
    """Decode with Pillow. Returns (array HxW or HxWxC, orientation code)."""
    with Image.open(path) as im:
        if im.format == "PNG" and len(im.tile) == 1 and _png16_rawmode(im) in _PNG16_LOW_RAWMODE:
            return _read_png16(path, im)
        im.load()  # full decode: raises OSError on truncated data
        orientation = _exif_orientation(im)
        mode = im.mode
        if mode in ("P", "PA"):
            im = im.convert("RGBA")
        elif mode == "1":
            im = im.convert("L")
        elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
            im = im.convert("RGB")
        arr = np.asarray(im)
        if mode == "I":  # 32-bit integer grey: treat as 16-bit data
            arr = np.clip(arr, 0, 65535).astype(np.uint16)
        elif mode.startswith("I;16"):
            arr = arr.astype(np.uint16)
        elif mode == "F":
            arr = arr.astype(np.float32)
        return np.array(arr), orientation


def _png16_rawmode(im: Image.Image) -> str:
    args = im.tile[0][3]
    return args if isinstance(args, str) else ""


def _read_png16(path: Path, first: Image.Image):
    """Exact 16-bit RGB / RGBA / grey+alpha PNG decode (high and low bytes decoded separately)."""
    tile = first.tile[0]
    high_raw = tile[3]
    first.load()
    orientation = _exif_orientation(first)
    high = np.asarray(first)
    low_tile = tile._replace(args=_PNG16_LOW_RAWMODE[high_raw]) if hasattr(tile, "_replace") \
        else (tile[0], tile[1], tile[2], _PNG16_LOW_RAWMODE[high_raw])
    with Image.open(path) as im:
        im.tile = [low_tile]
        im.load()
        low = np.asarray(im)
    if high_raw == "LA;16B":  # low decode holds the raw bytes: grey hi, grey lo, alpha hi, alpha lo
        grey = low[..., 0].astype(np.uint16) << 8 | low[..., 1]
        return grey, orientation
    channels = 3 if high_raw.startswith("RGB;") else 4
    out = high[..., :channels].astype(np.uint16) << 8 | low[..., :channels].astype(np.uint16)
    return out, orientation


def _read_tiff(path: Path):
    """Decode a TIFF with tifffile (any bit depth); fall back to Pillow if tifffile cannot."""
    try:
        return _read_tiff_tifffile(path)
    except Exception as first_error:
        try:
            return _read_pillow(path)
        except Exception:
            raise ImageReadError(path, f"{type(first_error).__name__}: {first_error}") from first_error


def _read_tiff_tifffile(path: Path):
    with tifffile.TiffFile(path) as tif:
        if not tif.pages:
            raise ValueError("TIFF has no pages")
        page = tif.pages[0]
        arr = page.asarray()
        axes = page.axes
        photometric = int(page.photometric)
        bits = int(page.bitspersample)
        colormap = page.colormap
        tag = page.tags.get(274)
        orientation = int(tag.value) if tag is not None else 1
    if arr.ndim == 3 and axes.startswith("S"):
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim not in (2, 3):
        raise ValueError(f"unsupported TIFF layout {axes} {arr.shape}")
    if photometric == 3 and colormap is not None:  # palette
        arr = np.moveaxis(colormap[:, arr], 0, -1).astype(np.uint16)
        if colormap.max() <= 255:
            arr = arr.astype(np.uint8)
    elif photometric not in (0, 1, 2):
        raise ValueError(f"unsupported TIFF photometric interpretation {photometric}")
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    if arr.dtype == np.uint16 and 8 < bits < 16:  # e.g. 12-bit data in 16-bit words
        arr = np.round(arr.astype(np.float64) * (65535.0 / (2**bits - 1))).astype(np.uint16)
    if photometric == 0:  # min-is-white
        arr = _invert(arr)
    return arr, orientation


def _invert(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind == "u":
        return np.iinfo(arr.dtype).max - arr
    return 1.0 - arr


def _exif_orientation(im: Image.Image, header_only: bool = False) -> int:
    """EXIF orientation code 1..8 (1 if absent or invalid)."""
    try:
        if header_only and im.format == "PNG":
            # PNG getexif() decodes the whole image to look for a late eXIf chunk; use the
            # header's eXIf chunk only (the usual place for it)
            raw = im.info.get("exif")
            if not raw:
                return 1
            exif = Image.Exif()
            exif.load(raw)
        else:
            exif = im.getexif()
        value = int(exif.get(_ORIENTATION_TAG, 1))
    except Exception:
        return 1
    return value if 1 <= value <= 8 else 1


def _to_rgb(arr: np.ndarray) -> np.ndarray:
    """HxW / HxWxC (C = 1..4+) -> HxWx3: grey replicated, alpha and extra channels dropped."""
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3:
        raise ValueError(f"unsupported image shape {arr.shape}")
    c = arr.shape[2]
    if c in (1, 2):
        arr = np.repeat(arr[..., :1], 3, axis=2)
    else:
        arr = arr[..., :3]
    return np.ascontiguousarray(arr)


def _scale_to_unit(arr: np.ndarray, path) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / np.float32(255.0)
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / np.float32(65535.0)
    if arr.dtype == np.uint32:
        return (arr.astype(np.float64) / 4294967295.0).astype(np.float32)
    if arr.dtype.kind == "f":
        out = arr.astype(np.float32)
        if not np.isfinite(out).all():
            raise ImageReadError(path, "float image contains NaN or infinity")
        return np.clip(out, 0.0, 1.0)
    raise ImageReadError(path, f"unsupported sample type {arr.dtype}")


def apply_orientation(arr: np.ndarray, code: int) -> np.ndarray:
    """Apply an EXIF orientation code (1..8) to an HxW[xC] array so it displays upright."""
    ops = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
        8: lambda a: np.rot90(a, 1),
    }
    return np.ascontiguousarray(ops.get(int(code), ops[1])(arr))


def image_info(path) -> ImageInfo:
    """Header-only facts about an image (fast; does not detect truncated pixel data)."""
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(path, "no such file")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
        if magic in _TIFF_MAGIC:
            try:
                return _tiff_info(path)
            except Exception:
                pass  # let Pillow try
        with Image.open(path) as im:
            w, h = im.size
            mode = im.mode
            bits = 8
            raw = im.tile[0][3] if len(im.tile) == 1 and isinstance(im.tile[0][3], str) else ""
            if mode.startswith("I;16") or mode == "I" or raw.endswith(";16B"):
                bits = 16
            if mode in ("I", "F") and im.format != "PNG":
                bits = 32
            colour = {"1": "grey", "L": "grey", "LA": "grey+alpha", "La": "grey+alpha",
                      "P": "palette", "PA": "palette", "RGB": "RGB", "YCbCr": "RGB",
                      "RGBA": "RGBA", "RGBa": "RGBA", "RGBX": "RGB", "CMYK": "CMYK",
                      "I": "grey", "F": "grey"}.get(mode, "grey" if mode.startswith("I;16") else "other")
            if raw == "LA;16B":
                colour = "grey+alpha"
            if mode == "1":
                bits = 1
            orientation = _exif_orientation(im, header_only=True)
            fmt = im.format or "unknown"
    except ImageReadError:
        raise
    except Exception as exc:
        raise ImageReadError(path, f"{type(exc).__name__}: {exc}") from exc
    if orientation in (5, 6, 7, 8):
        w, h = h, w
    return ImageInfo(w, h, colour, bits, fmt, orientation)


def _tiff_info(path: Path) -> ImageInfo:
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        h, w = int(page.imagelength), int(page.imagewidth)
        spp = int(page.samplesperpixel)
        photometric = int(page.photometric)
        bits = int(page.bitspersample)
        tag = page.tags.get(274)
        orientation = int(tag.value) if tag is not None else 1
    if photometric == 3:
        colour = "palette"
    elif photometric in (0, 1):
        colour = "grey" if spp == 1 else "grey+alpha"
    elif photometric == 2:
        colour = "RGB" if spp == 3 else "RGBA"
    elif photometric == 5:
        colour = "CMYK"
    else:
        colour = "other"
    if orientation in (5, 6, 7, 8):
        w, h = h, w
    return ImageInfo(w, h, colour, bits, "TIFF", orientation if 1 <= orientation <= 8 else 1)


def list_images(folder) -> list[Path]:
    """Image files directly in `folder` (no recursion), sorted by name.

    Files are recognised by extension (IMAGE_EXTENSIONS, case-insensitive); hidden files
    (name starting with '.', such as a killed write's temporary file) are skipped.
    FileNotFoundError if the folder does not exist; ImageReadError for an image name that is a
    broken symbolic link (a missing photo is reported, not silently left out).
    """
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"image folder {folder} does not exist")
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is a file, not an image folder")
    found = []
    for p in folder.iterdir():
        if p.name.startswith(".") or p.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        if p.is_symlink() and not p.exists():
            raise ImageReadError(p, f"broken symbolic link (its target {os.readlink(p)} does not exist)")
        if p.is_file():
            found.append(p)
    return sorted(found)


def no_images_message(folder, what: str = "images") -> str:
    """"no <what> found in <folder>", naming the hidden image files (names starting with '.') that
    `list_images` skipped, if any: a file named like `..png` is easy to miss."""
    folder = Path(folder)
    hidden = []
    if folder.is_dir():
        hidden = sorted(p.name for p in folder.iterdir()
                        if p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    text = f"no {what} found in {folder}"
    if hidden:
        text += (f" ({len(hidden)} hidden file(s) whose names start with '.' were skipped, e.g. {hidden[0]!r}: "
                 "rename them to use them)")
    return text


def images_in(folder, what: str) -> list[Path]:
    """The images of `folder` (as `list_images`); a ValueError saying "no images for <what> found
    in <folder>" when there are none."""
    files = list_images(folder)
    if not files:
        raise ValueError(no_images_message(folder, f"images for {what}"))
    return files


# ----------------------------------------------------------------------------- writing


def write_image(path, img, bits: int = 8, quality: int = 95) -> Path:
    """Write an image; the format comes from the extension (.png .jpg .jpeg .tif .tiff .bmp .webp).

    `img`: numpy HxWx3 / HxWx1 / HxW float in [0, 1] (uint8 is written as is), or a torch tensor
    CHW / 1xCxHxW (C = 1 or 3).  Float values are clipped and rounded to the nearest level
    (floor(x * 255 + 0.5)), not truncated.  PNG, BMP, TIFF and WebP are lossless; `quality`
    applies to JPEG (written 4:4:4).  `bits=16` writes 16-bit PNG or TIFF.  Parent folders are
    created; the file is written to a temporary name then renamed.  Returns the path.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in _WRITE_FORMATS:
        raise ValueError(f"cannot write {path}: unknown extension {path.suffix!r} "
                         f"(use one of {', '.join(_WRITE_FORMATS)})")
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    if bits == 16 and ext not in (".png", ".tif", ".tiff"):
        raise ValueError(f"16-bit output needs a .png or .tif file, got {path.name}")
    arr = _quantise(_as_hwc(img), bits)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        _write_quantised(tmp, arr, _WRITE_FORMATS[ext], quality)
        os.replace(tmp, path)
    except OSError as exc:
        raise_for_output(exc, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _as_hwc(img) -> np.ndarray:
    """numpy HxW/HxWxC or torch CHW/1xCxHxW -> numpy HxW or HxWx3."""
    if hasattr(img, "detach"):  # torch tensor (torch imported only if the caller uses it)
        t = img.detach().cpu()
        if t.dim() == 4:
            if t.shape[0] != 1:
                raise ValueError(f"write_image takes one image, got a batch of {t.shape[0]}")
            t = t[0]
        if t.dim() != 3:
            raise ValueError(f"expected a CHW tensor, got shape {tuple(t.shape)}")
        if t.dtype.is_floating_point:
            t = t.float()
        arr = t.numpy().transpose(1, 2, 0)
    else:
        arr = np.asarray(img)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise ValueError(f"expected an HxW or HxWx3 image, got shape {arr.shape}")
    return arr


def _quantise(arr: np.ndarray, bits: int) -> np.ndarray:
    """float [0,1] -> uint8/uint16 by rounding to the nearest level; uint8 passes through."""
    if arr.dtype == np.uint8:
        return arr if bits == 8 else arr.astype(np.uint16) * 257
    if arr.dtype == np.uint16 and bits == 16:
        return arr
    if arr.dtype.kind != "f":
        raise TypeError(f"write_image expects float images in [0, 1] or uint8, got {arr.dtype}")
    if not np.isfinite(arr).all():
        raise ValueError("image contains NaN or infinity")
    top = 255.0 if bits == 8 else 65535.0
    levels = np.floor(np.clip(arr.astype(np.float64), 0.0, 1.0) * top + 0.5)
    return levels.astype(np.uint8 if bits == 8 else np.uint16)


def _write_quantised(path: Path, arr: np.ndarray, fmt: str, quality: int) -> None:
    if fmt == "TIFF":
        tifffile.imwrite(path, arr, photometric="rgb" if arr.ndim == 3 else "minisblack")
    elif arr.dtype == np.uint16:  # 16-bit PNG
        path.write_bytes(encode_png16(arr))
    else:
        im = Image.fromarray(arr)
        if fmt == "JPEG":
            im.save(path, format=fmt, quality=int(quality), subsampling=0)
        elif fmt == "WEBP":
            im.save(path, format=fmt, lossless=True)
        else:
            im.save(path, format=fmt)


def encode_png16(arr: np.ndarray) -> bytes:
    """Encode a uint16 HxW (grey) or HxWx3 (RGB) array as a 16-bit PNG (filter 'Up' on every row)."""
    arr = np.asarray(arr)
    if arr.dtype != np.uint16 or not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise ValueError(f"encode_png16 needs uint16 HxW or HxWx3, got {arr.dtype} {arr.shape}")
    h, w = arr.shape[:2]
    colour_type = 0 if arr.ndim == 2 else 2
    rows = np.ascontiguousarray(arr.astype(">u2")).view(np.uint8).reshape(h, -1)
    filtered = rows.copy()
    filtered[1:] = rows[1:] - rows[:-1]  # uint8 arithmetic wraps modulo 256, as PNG wants
    data = np.concatenate([np.full((h, 1), 2, np.uint8), filtered], axis=1).tobytes()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(data, 6)) + chunk(b"IEND", b""))


# ----------------------------------------------------------------------------- conversions


def to_tensor(img: np.ndarray):
    """numpy HxWxC (or HxW) -> torch CHW float32 (1xHxW for HxW)."""
    import torch  # (here, not at the top: reading and listing images, e.g. `check-data`, never load torch)

    arr = np.asarray(img, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3:
        raise ValueError(f"expected an HxWxC image, got shape {arr.shape}")
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


def to_numpy(t) -> np.ndarray:
    """torch CHW or 1xCxHxW -> numpy float32 HxWxC (HxWx3 for RGB; HxW for one channel)."""
    t = t.detach().cpu()
    if t.dim() == 4:
        if t.shape[0] != 1:
            raise ValueError(f"to_numpy takes one image, got a batch of {t.shape[0]}")
        t = t[0]
    if t.dim() != 3:
        raise ValueError(f"expected a CHW tensor, got shape {tuple(t.shape)}")
    arr = t.float().numpy().transpose(1, 2, 0)
    if arr.shape[2] == 1:
        arr = arr[..., 0]
    return np.ascontiguousarray(arr)
