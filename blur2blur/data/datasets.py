"""Training datasets: random crops of paired (blur, sharp) images and of unpaired images.

Items are dicts of float32 CHW tensors in [0, 1].  Randomness (crop position, flips, 90-degree
rotation) comes from torch's global RNG, so `torch.manual_seed` makes items reproducible and
DataLoader workers (which torch seeds one by one) draw different crops.  Images smaller than the
crop are reflect-padded.  An unreadable file is reported once (warnings + the "blur2blur.data"
logger), remembered as bad, and another random item is returned instead.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from blur2blur.data.augment import Augment
from blur2blur.io import ImageReadError, image_info, read_image

logger = logging.getLogger("blur2blur.data")


SMALL_CHECK_FILES = 2000  # header reads, at most this many files


def warn_small_images(files: Sequence[Path], crop: int) -> int:
    """Warn once when images (their headers; at most SMALL_CHECK_FILES) are smaller than the crop:
    they are reflect-padded, so the network learns the padding. Returns how many are."""
    small, smallest = 0, None
    checked = list(files)[:SMALL_CHECK_FILES]
    for f in checked:
        try:
            info = image_info(f)
        except (ImageReadError, OSError):
            continue  # (unreadable files are reported where they are read)
        if min(info.width, info.height) < crop:
            small += 1
            if smallest is None or info.width * info.height < smallest[0] * smallest[1]:
                smallest = (info.width, info.height)
    if small:
        warnings.warn(f"{small} of {len(checked)} images in {Path(checked[0]).parent} are smaller than the "
                      f"{crop} px training crop (the smallest {smallest[0]}x{smallest[1]}): they are reflect-padded, "
                      f"so the network also learns the padding; lower the crop (--set crop=...) or use larger "
                      f"images (`blur2blur check-data` lists them)", stacklevel=3)
    return small


class _CropDataset(Dataset):
    """Shared machinery: image cache, bad-file bookkeeping, crop + augmentation."""

    def __init__(self, items: Sequence[tuple[Path, ...]], crop_size: int | None,
                 augment: "bool | Augment", cache: bool):
        if len(items) == 0:
            raise ValueError(f"{type(self).__name__}: no images given")
        if crop_size is not None and int(crop_size) < 1:
            raise ValueError(f"crop_size must be a positive integer or None, got {crop_size}")
        self.items = [tuple(Path(p) for p in item) for item in items]
        self.crop_size = None if crop_size is None else int(crop_size)
        self.augment = Augment.from_flag(augment)
        self.cache = bool(cache)
        self._cache: dict[Path, np.ndarray] = {}
        self._bad: set[int] = set()
        self._warned: set[Path] = set()
        if self.crop_size is not None:
            warn_small_images([item[0] for item in self.items], self.crop_size)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def bad_files(self) -> list[Path]:
        """Files found unreadable so far (in this process)."""
        return sorted(self._warned)

    def _load(self, path: Path) -> np.ndarray:
        """HxWx3 image as stored (uint8 / uint16 / float32), from the cache when enabled."""
        arr = self._cache.get(path)
        if arr is None:
            arr = read_image(path, keep_dtype=True)
            if self.cache:
                self._cache[path] = arr
        return arr

    def _mark_bad(self, index: int, error: ImageReadError) -> None:
        self._bad.add(index)
        if error.path not in self._warned:
            self._warned.add(error.path)
            msg = f"skipping unreadable image {error.path}: {error.reason}"
            logger.warning(msg)
            warnings.warn(msg, RuntimeWarning, stacklevel=3)

    def __getitem__(self, index: int) -> dict:
        n = len(self.items)
        index = int(index)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"index {index} out of range for {n} items")
        while True:
            if index not in self._bad:
                try:
                    return self._make_item(index, [self._load(p) for p in self.items[index]])
                except ImageReadError as exc:
                    self._mark_bad(index, exc)
            good = [i for i in range(n) if i not in self._bad]
            if not good:
                names = ", ".join(str(p) for p in self.bad_files[:5])
                raise RuntimeError(f"{type(self).__name__}: all {n} items are unreadable "
                                   f"(e.g. {names}); check the data with `blur2blur check-data`")
            index = good[int(torch.randint(len(good), (1,)).item())]

    def _make_item(self, index: int, arrays: list[np.ndarray]) -> dict:
        raise NotImplementedError

    def _crop_and_augment(self, arrays: list[np.ndarray]) -> list[torch.Tensor]:
        """The same random crop / flips / rotation for every array; returns CHW float32 tensors."""
        h, w = arrays[0].shape[:2]
        if self.crop_size is not None:
            top, left = self._offset(h), self._offset(w)  # drawn once: shared by all arrays
            arrays = [random_crop_pad(a, self.crop_size, top, left) for a in arrays]
        hflip, vflip, rot = self.augment.draw_geometry()
        square = arrays[0].shape[0] == arrays[0].shape[1]
        if hflip:
            arrays = [a[:, ::-1] for a in arrays]
        if vflip:
            arrays = [a[::-1] for a in arrays]
        if rot and square:
            arrays = [a.swapaxes(0, 1) for a in arrays]  # with the flips: all 8 symmetries
        return self.augment.jitter_all([_to_float_tensor(a) for a in arrays])

    def _offset(self, size: int) -> int:
        """Random crop start along an axis of `size` pixels (0 when padding is needed)."""
        room = size - self.crop_size
        return int(torch.randint(room + 1, (1,)).item()) if room > 0 else 0


class PairedCrops(_CropDataset):
    """Random crops of (blurry, sharp) pairs, e.g. from `layout.pair_by_stem(trainC, trainD)`.

    pairs: list of (blur_path, sharp_path); crop_size: square crop side in pixels (None = whole
    image, no rotation for non-square images).  augment: True (random horizontal/vertical flips
    and 90-degree rotation, each with probability 0.5), False, or an `Augment` with per-transform
    probabilities and colour jitter; identical for both images.  cache: keep decoded images in memory (stored
    as uint8/uint16; per DataLoader worker process).  check_sizes: compare the two images' header
    sizes now and raise ValueError listing every mismatched pair.
    Item: {"blur": 3xHxW float32, "sharp": 3xHxW float32, "name": stem of the blurry file}.
    """

    def __init__(self, pairs: Sequence[tuple], crop_size: int | None = 256, augment: "bool | Augment" = True,
                 cache: bool = True, check_sizes: bool = True):
        for pair in pairs:
            if len(pair) != 2:
                raise ValueError(f"PairedCrops needs (blur, sharp) pairs, got {pair!r}")
        super().__init__(pairs, crop_size, augment, cache)
        if check_sizes:
            self._check_sizes()

    def _check_sizes(self) -> None:
        mismatched = []
        for index, (blur, sharp) in enumerate(self.items):
            try:
                a, b = image_info(blur), image_info(sharp)
            except ImageReadError as exc:
                self._mark_bad(index, exc)
                continue
            if (a.width, a.height) != (b.width, b.height):
                mismatched.append(f"{blur} is {a.width}x{a.height} but {sharp} is {b.width}x{b.height}")
        if mismatched:
            more = f" (and {len(mismatched) - 10} more)" if len(mismatched) > 10 else ""
            raise ValueError("the images of a pair must have the same size: "
                             + "; ".join(mismatched[:10]) + more)

    def _make_item(self, index, arrays):
        blur, sharp = arrays
        if blur.shape != sharp.shape:
            b, s = self.items[index]
            raise ValueError(f"the images of a pair must have the same size: {b} is "
                             f"{blur.shape[1]}x{blur.shape[0]} but {s} is {sharp.shape[1]}x{sharp.shape[0]}")
        blur_t, sharp_t = self._crop_and_augment([blur, sharp])
        return {"blur": blur_t, "sharp": sharp_t, "name": self.items[index][0].stem}


class UnpairedCrops(_CropDataset):
    """Random crops of single images (the camera's blurry set B or sharp set S).

    files: image paths; other arguments as PairedCrops.
    Item: {"image": 3xHxW float32 in [0, 1], "name": file stem}.
    """

    def __init__(self, files: Sequence, crop_size: int | None = 256, augment: "bool | Augment" = True,
                 cache: bool = True):
        super().__init__([(f,) for f in files], crop_size, augment, cache)

    def _make_item(self, index, arrays):
        (image,) = self._crop_and_augment(arrays)
        return {"image": image, "name": self.items[index][0].stem}


def random_crop_pad(arr: np.ndarray, crop: int, top: int, left: int) -> np.ndarray:
    """Crop arr (HxWxC) to crop x crop at (top, left); an axis shorter than `crop` is kept whole
    and reflect-padded (centred; repeated reflection if much shorter)."""
    h, w = arr.shape[:2]
    out = arr[top:top + crop if h >= crop else h, left:left + crop if w >= crop else w]
    pad_h, pad_w = max(crop - h, 0), max(crop - w, 0)
    if pad_h or pad_w:
        out = np.pad(out, ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)),
                     mode="reflect")
    return out


def _to_float_tensor(arr: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8/uint16/float -> contiguous CHW float32 tensor in [0, 1]."""
    chw = np.ascontiguousarray(arr.transpose(2, 0, 1))
    t = torch.from_numpy(chw)
    if arr.dtype == np.uint8:
        return t.float().div_(255.0)
    if arr.dtype == np.uint16:
        return t.float().div_(65535.0)
    return t.float().clamp_(0.0, 1.0)


def infinite_loader(dataset: Dataset, batch_size: int, seed: int,
                    num_workers: int = 0) -> Iterator[dict]:
    """Yield batches forever: reshuffled every epoch, drop_last=True, reproducible for `seed`.

    Shuffling and worker seeds come from a torch.Generator seeded with `seed`; with
    num_workers=0 the crops use a private RNG stream (the caller's global torch RNG is left
    untouched), so the sequence of batches depends only on `seed` and num_workers.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if len(dataset) < batch_size:
        raise ValueError(f"the dataset has {len(dataset)} items, fewer than one batch of {batch_size}")
    generator = torch.Generator().manual_seed(int(seed))
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True,
                        generator=generator, num_workers=num_workers,
                        persistent_workers=num_workers > 0)
    crop_state = torch.Generator().manual_seed((int(seed) * 1_000_003 + 12_345) % 2**63).get_state()
    while True:
        batches = iter(loader)
        while True:
            if num_workers > 0:
                batch = next(batches, None)
            else:
                with torch.random.fork_rng(devices=[]):
                    torch.set_rng_state(crop_state)
                    batch = next(batches, None)
                    crop_state = torch.get_rng_state()
            if batch is None:
                break
            yield batch
