"""The one way to get the known-blur set K of a dataset layout: `build_known_set(options, root,
out_dir, source)` for a stored K, `online_known_blur` for the online one, and `resolve_k_source`,
the "auto" rule that picks the source.

Sources (`SOURCES`):
- "simulate": S (trainB) blurred by a camera profile (`known_profile_of`), `images.build_known_blur_set`;
- "known": the known domain's own blurry images (trainC), `images.build_known_set_from_domain`;
- "estimated": S blurred by kernels estimated in closed form from the known pairs (trainC/trainD),
  `images.build_known_set_from_pairs`;
- "transfer": S carrying the known pairs' blur by bkse transfer with a kernel network,
  `transferred.build_transferred_known_set`;
- "online": a fresh bkse transfer every translator step, `transferred.OnlineKnownBlur`.

`options` is any object with the fields below (a TranslatorConfig has them all), so this room
needs nothing from training.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Protocol

from blur2blur.data.augment import Augment
from blur2blur.data.datasets import PairedCrops
from blur2blur.data.layout import paired_files
from blur2blur.known_blur import SOURCES
from blur2blur.known_blur.images import build_known_blur_set, build_known_set_from_domain, build_known_set_from_pairs
from blur2blur.known_blur.transferred import OnlineKnownBlur, build_transferred_known_set
from blur2blur.nets.pretrained import KNOWN_CAMERA
from blur2blur.simulate.make_dataset import recorded_profile

class KnownSetOptions(Protocol):
    """The settings K is built from (the fields of the same names of TranslatorConfig)."""

    k_source: str  # one of SOURCES
    k_noise: str  # "match": K gets the camera's own grain (estimated from S); "none"
    k_denoise_sigma: float  # px of Gaussian smoothing of S before the blur when matching grain
    k_variants: int  # blurred versions of every image of S
    known_profile: str  # the profile of "simulate"; "" = the rule of `known_profile_of`
    kernel_wizard: str  # the kernel network of "transfer" / "online"
    seed: int


def has_known_pairs(root: str | Path) -> bool:
    """Whether a layout holds known pairs (trainC and trainD)."""
    root = Path(root)
    return (root / "trainC").is_dir() and (root / "trainD").is_dir()


def known_profile_of(options: KnownSetOptions, root: str | Path):
    """The profile a simulated K uses: `options.known_profile`, or when that is empty the profile
    that made the layout's known pairs (recorded by `make-dataset`); else, for a layout without
    known pairs (what `prepare` makes from a camera's videos), the project's known camera
    `actioncam`, whose deblurrer ships in the package; else (known pairs from elsewhere) `known`."""
    return (options.known_profile or recorded_profile(root, "known")
            or ("known" if has_known_pairs(root) else KNOWN_CAMERA))


def resolve_k_source(options: KnownSetOptions, root: str | Path, known_set: str | Path | None = None) -> str:
    """The K source actually used: `options.k_source`, or for "auto":

    - with known pairs (trainC/trainD) and a kernel network: "transfer";
    - with known pairs made by `make-dataset`, whose manifest records the profile that blurred them:
      "simulate" with that profile (K is S with that very blur: an exact blur transfer);
    - with other known pairs: "estimated" (the pairs' own kernels and noise, estimated in closed
      form, on S: the known blur on the camera's scenes). K of other scenes ("known") let a
      translator that moves textures towards those scenes pass its check (issue #28);
    - without known pairs: "simulate" with the project's known camera `actioncam` (K = S blurred by
      it: the exact transfer; deblur with the shipped model), or `options.known_profile` when set.

    `known_set` (a folder of K) is used as given whatever the source. Measured: docs/research/demo.md,
    eighth round (issue #19, item 4)."""
    source = options.k_source
    if source not in SOURCES:
        raise ValueError(f"k_source must be {', '.join(SOURCES[:-1])} or {SOURCES[-1]}, got {source!r}")
    if source != "auto":
        return source
    if not has_known_pairs(root):
        return "simulate"
    if options.kernel_wizard:
        return "transfer"
    return "simulate" if recorded_profile(root, "known") is not None else "estimated"


def build_known_set(options: KnownSetOptions, root: str | Path, out_dir: str | Path, source: str | None = None,
                    device: str | None = "auto", progress: bool = True) -> Path:
    """Build the stored known-blur set K of a layout `root` in `out_dir` (once: a folder with a
    manifest.json is reused) from `source` (default `resolve_k_source`), `options.k_variants` per
    image of trainB, with the camera's grain (estimated from trainB) when `options.k_noise` is
    "match" (simulate, known; "estimated" always carries the known images' own grain). Returns `out_dir`."""
    root, out_dir = Path(root), Path(out_dir)
    source = source or resolve_k_source(options, root)
    if (out_dir / "manifest.json").is_file():
        return out_dir
    match = options.k_noise == "match"
    variants, seed = options.k_variants, options.seed
    if source == "simulate":
        build_known_blur_set(root / "trainB", out_dir, known_profile_of(options, root), variants, seed,
                             progress=progress, match_noise=match, denoise_sigma=options.k_denoise_sigma)
    elif source == "known":
        build_known_set_from_domain(root / "trainC", out_dir, root / "trainB" if match else None, variants, seed,
                                    progress=progress)
    elif source == "estimated":
        build_known_set_from_pairs(root / "trainC", root / "trainD", root / "trainB", out_dir, variants, seed,
                                   progress=progress)
    elif source == "transfer":
        if match:
            warnings.warn("k_noise=match is not implemented for k_source=transfer; K keeps the grain of "
                          "its sources", stacklevel=2)
        build_transferred_known_set(options.kernel_wizard, root / "trainB", root / "trainC", root / "trainD",
                                    out_dir, variants=variants, seed=seed, device=device, progress=progress)
    else:
        raise ValueError(f"a stored known-blur set cannot be built from k_source={source!r}")
    return out_dir


def online_known_blur(options: KnownSetOptions, root: str | Path, wizard, crop: int, batch: int,
                      augment: Augment, rank: int = 0, world_size: int = 1) -> OnlineKnownBlur:
    """The "online" K: every call blurs a batch of sharp crops with the kernels of a fresh batch of
    known pairs (`crop` px crops of trainC/trainD, `augment`ed, `batch` per step over all
    processes) read by the loaded kernel network `wizard`."""
    if options.k_noise == "match":
        warnings.warn("k_noise=match is not implemented for k_source=online; K keeps the grain of "
                      "its sources", stacklevel=2)
    root = Path(root)
    known_pairs = PairedCrops(paired_files(root / "trainC", root / "trainD"), crop, augment=augment)
    return OnlineKnownBlur(wizard, known_pairs, batch_size=batch, seed=options.seed + 2, rank=rank,
                           world_size=world_size)
