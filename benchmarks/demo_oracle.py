"""What would a perfect translator give in the demo? An upper bound for Blur2Blur itself.

For a finished demo folder (``blur2blur demo --out DIR``), every test scene's ideal translation is
the known camera's blur applied to the camera's own sharp capture (``Camera(known).blur_only`` of
``testA_gt``, the member of K that scene would have). The table gives, against the ground truth:
the camera's input, the demo's known deblurrer applied directly, the ideal translation itself,
and the known deblurrer applied to it. K itself is made from the camera's sharp captures S, which
carry its noise and JPEG: the "K-like" rows take the scene as S would (the camera held still, with
noise and JPEG, seeded per scene) and add the known blur, which is what a translator that matched
K's distribution exactly would output. Last, as a hand-made translator that only smooths the
camera's noise, a Gaussian filter of std `--sigma` px followed by the known deblurrer.
PSNR in dB (RGB, uint8-rounded).

    python benchmarks/demo_oracle.py demo_out
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("demo_dir", help="output folder of `blur2blur demo`")
    ap.add_argument("--known-profile", default="known")
    ap.add_argument("--camera-profile", default="unknown", help="the demo's camera profile")
    ap.add_argument("--sigma", type=float, nargs="+", default=[0.5, 0.8, 1.2],
                    help="std (px) of the Gaussian pre-filter rows")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()

    import kornia

    from blur2blur.infer.pipeline import DeblurPipeline
    from blur2blur.io import list_images, read_image, to_numpy, to_tensor
    from blur2blur.metrics.psnr import psnr
    from blur2blur.simulate.camera import Camera
    from blur2blur.simulate.profile import load_profile
    from blur2blur.simulate.response import invert_response

    root = Path(args.demo_dir)
    checkpoint = root / "runs" / "deblurrer_known" / "deblurrer"
    tests = list_images(root / "data" / "testA")
    if not tests or not checkpoint.with_suffix(".safetensors").is_file():
        raise SystemExit(f"error: {root} is not a finished demo folder (needs data/testA and {checkpoint})")
    pipe = DeblurPipeline.from_checkpoints(checkpoint, None, args.device)
    known = Camera(load_profile(args.known_profile))
    camera = Camera(load_profile(args.camera_profile))
    rows: dict[str, list[float]] = {"input": [], "direct": [], "ideal T(y)": [], "deblurred ideal T(y)": [],
                                    "K-like T(y)": [], "deblurred K-like T(y)": []}
    for i, f in enumerate(tests):
        gt, y = read_image(root / "data" / "testA_gt" / f.name), read_image(f)
        ideal = known.blur_only(gt, seed=i)
        rows["input"].append(psnr(y, gt))
        rows["direct"].append(psnr(pipe.run(y)["deblurred"], gt))
        rows["ideal T(y)"].append(psnr(ideal, gt))
        rows["deblurred ideal T(y)"].append(psnr(pipe.run(ideal)["deblurred"], gt))
        # The source photo back from the ideal frame (response and cast undone), captured as S is.
        linear = invert_response(gt.astype(np.float64), camera.profile.response) / np.asarray(camera.profile.colour_cast)
        photo = (np.clip(linear, 0, 1) ** (1 / camera.input_gamma)).astype(np.float32)
        k_like = known.blur_only(camera.capture(photo, seed=10_000 + i, motion=False), seed=i)
        rows["K-like T(y)"].append(psnr(k_like, gt))
        rows["deblurred K-like T(y)"].append(psnr(pipe.run(k_like)["deblurred"], gt))
        for sigma in args.sigma:
            size = 2 * int(3 * sigma + 0.5) + 1
            smooth = to_numpy(kornia.filters.gaussian_blur2d(to_tensor(y)[None], (size, size), (sigma, sigma),
                                                             border_type="reflect"))
            rows.setdefault(f"Gaussian {sigma} px, then known deblurrer", []).append(
                psnr(pipe.run(smooth)["deblurred"], gt))
    print(f"| image ({len(tests)} test scenes of {root}) | PSNR (dB, RGB, uint8) |")
    print("|---|---|")
    for name, values in rows.items():
        print(f"| {name} | {statistics.fmean(values):.2f} |")


if __name__ == "__main__":
    main()
