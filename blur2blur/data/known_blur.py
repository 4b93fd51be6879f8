"""The known-blur set K: the camera's own sharp images S carrying the known domain's blur.

K must differ from the camera's blurry set B only in the blur, so that the translator's
discriminator can judge nothing but blur. This module makes K with the camera simulator's known
profile (`Camera.blur_only`): each sharp image gets `variants` independent blur draws.
"""

from __future__ import annotations

import json
from pathlib import Path

from tqdm.auto import tqdm

from blur2blur.io import list_images, read_image, write_image
from blur2blur.simulate import Camera, load_profile


def build_known_blur_set(
    sharp_dir: str | Path,
    out_dir: str | Path,
    profile: str = "known",
    variants: int = 4,
    seed: int = 0,
    progress: bool = True,
) -> list[Path]:
    """Blur every image of `sharp_dir` `variants` times with `profile`'s blur into `out_dir`.

    Files are named `<stem>_k<v>.png`; `out_dir/manifest.json` records the source file, profile
    and seed of each. Deterministic for a seed. Returns the written paths.
    """
    files = list_images(sharp_dir)
    if not files:
        raise ValueError(f"no sharp images in {sharp_dir} to build the known-blur set from")
    if variants < 1:
        raise ValueError(f"variants must be >= 1, got {variants}")
    camera = Camera(load_profile(profile))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest, written = {}, []
    jobs = [(i, f, v) for i, f in enumerate(files) for v in range(variants)]
    for i, src, v in tqdm(jobs, desc="known-blur set K", disable=not progress, dynamic_ncols=True):
        job_seed = seed * 1_000_003 + i * 101 + v
        out = out_dir / f"{src.stem}_k{v}.png"
        write_image(out, camera.blur_only(read_image(src), seed=job_seed))
        manifest[out.name] = {"source": str(src), "profile": camera.profile.name, "seed": job_seed}
        written.append(out)
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return written
