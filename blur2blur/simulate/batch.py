"""Run one camera profile over an image or a folder of images (the `simulate` command)."""

from __future__ import annotations

import os
from pathlib import Path

from blur2blur.io import list_images, no_images_message, read_image, write_image
from blur2blur.outputs.files import guard_output, output_names
from blur2blur.progress import tqdm
from .camera import Camera
from .profile import CameraProfile


def simulate_path(src, out_dir, profile: str | os.PathLike | CameraProfile = "unknown", seed: int = 0,
                  motion: bool = True, noise: bool = True, progress: bool = False) -> list[Path]:
    """Capture every image of ``src`` (a file or a folder) with ``profile`` into ``out_dir``.

    Image number i (in sorted order) uses seed ``seed + i``; outputs are ``out_dir/<stem>.png``.
    Returns the written paths.
    """
    src = Path(src)
    if src.is_dir():
        files = list_images(src)
    elif src.is_file():
        files = [src]
    else:
        raise FileNotFoundError(f"input {src} does not exist")
    if not files:
        raise ValueError(no_images_message(src))
    out_dir = Path(out_dir)
    guard_output(out_dir, [src, *files], "output folder")
    names = output_names(files)
    camera = Camera(profile)
    written = []
    for i, f in enumerate(tqdm(files, desc=f"simulate {camera.profile.name}", disable=not progress)):
        out = out_dir / names[f]
        write_image(out, camera.capture(read_image(f), seed + i, motion=motion, noise=noise))
        written.append(out)
    return written
