"""Blur transfer from real recorded camera shake onto sharp colour photos.

Sources (x, y) whose blur is transferred with ``G(x_hat, F(x, y))`` onto targets x_hat (centre
crops of ``sharp_kodak24``):

- ``real``: recorded blurry/sharp pairs of Levin et al. 2009 (``levin2009_selfdeblur``, grey
  255x255 as RGB; the blurry image is shifted by up to 5 px against the sharp one). The exact
  ground truth is unknown; the reference is the target convolved with the kernel Levin et al.
  measured for that recording (``Levin09.mat``), compared at the best integer shift within +-5 px
  (both images cropped by 5 px on every side), since F also sees the recording's shift.
- ``levin-synthetic``: the same sharp Levin images convolved with the same Levin kernels: the
  ground truth ``k * x_hat`` is exact; PSNR without any shift.
- ``gyro``: kernels rendered from the 4 real 6-DoF gyroscope recordings of Lai et al. 2016
  (``lai2016/gyro``), applied to the sharp Levin images; ground truth ``k * x_hat`` exact. These
  kernels are NOT of the family F/G were trained on (Levin's 8), so they test generalisation.

Gyro kernel model (assumptions): angular rate (gyro.txt columns 4-5, rad/s) linearly interpolated
and integrated over the exposure window [t_c - 0.08 - e, t_c - 0.08] (info.txt: e = column 2,
t_c = column 3, the window of Lai et al.'s own synthesis); small-angle pinhole model: horizontal
shift = f * angle about the device y axis, vertical shift = f * angle about the x axis, focal
length ``--focal`` px (default 1024, Lai et al.'s choice of max(H, W) for a 1024 px image: the
crops behave as if cut from a 1024 px photo); roll (column 6, spatially varying blur) and
translation (accelerometer) are ignored; the path is splatted bilinearly with equal time weights
and centred on its centroid; signs as recorded (a sign convention change only mirrors a kernel).

Blurring: true convolution in 'valid' mode from the larger image (reflect padding where the
image has no margin; see ``kernel_encoding.py``). Images: ``--out``/transfer_<source>_<target>.png
= source sharp | source blurry | target sharp | transferred (| reference when known).
PSNR: RGB, uint8-rounded (``blur2blur.metrics.psnr``).

    python benchmarks/transfer_real.py                              # trains F/G first (~6 min)
    python benchmarks/transfer_real.py --wizard RUN/kernel_wizard   # reuse trained F/G
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kernel_encoding import (add_wizard_args, convolve_reflect, convolve_valid, data_path,  # noqa: E402
                             get_wizard, grey_to_rgb, kernel_config, levin_kernels, markdown_table,
                             photo_list, side_by_side, transfer)

SHIFT = 5
# recorded pairs used as sources by default: one per sharp image, four different kernels
DEFAULT_SOURCES = ["im1_kernel4", "im2_kernel2", "im3_kernel6", "im4_kernel8"]


def gyro_kernel(folder: Path, focal: float, dt: float = 1e-4) -> tuple[np.ndarray, dict]:
    """Blur kernel (odd square, float32, sum 1) of one Lai et al. 2016 gyro recording; see the
    module docstring for the model. Returns the kernel and a dict of its extent in px."""
    g = np.loadtxt(folder / "gyro.txt")
    info = np.loadtxt(folder / "info.txt").ravel()
    t_end = info[2] - 0.08
    t0 = t_end - info[1]
    t = g[:, 6]
    if t0 < t[0] or t_end > t[-1]:
        raise ValueError(f"{folder}: exposure window [{t0}, {t_end}] outside the recording [{t[0]}, {t[-1]}]")
    ts = np.arange(t0, t_end + dt / 2, dt)
    wx, wy = np.interp(ts, t, g[:, 3]), np.interp(ts, t, g[:, 4])
    ax = np.concatenate([[0.0], np.cumsum((wx[1:] + wx[:-1]) / 2) * dt])  # trapezoid rule
    ay = np.concatenate([[0.0], np.cumsum((wy[1:] + wy[:-1]) / 2) * dt])
    px, py = focal * ay, focal * ax
    px, py = px - px.mean(), py - py.mean()
    half = int(np.ceil(max(np.abs(px).max(), np.abs(py).max()))) + 1
    size = 2 * half + 1
    k = np.zeros((size, size), np.float64)
    cx, cy = px + half, py + half
    x0, y0 = np.floor(cx).astype(int), np.floor(cy).astype(int)
    fx, fy = cx - x0, cy - y0
    for dy, wy_ in ((0, 1 - fy), (1, fy)):
        for dx, wx_ in ((0, 1 - fx), (1, fx)):
            np.add.at(k, (y0 + dy, x0 + dx), wy_ * wx_)
    extent = {"w": float(px.max() - px.min()), "h": float(py.max() - py.min()),
              "exposure_s": float(info[1])}
    return (k / k.sum()).astype(np.float32), extent


def centre_pair(img: np.ndarray, k: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(sharp, k * sharp) centre crops of ``size``; 'valid' convolution of the larger region when the
    image has the margin, else the reflect-padded convolution of the whole image, cropped."""
    h, w = img.shape[:2]
    kh, kw = k.shape
    top, left = (h - size) // 2, (w - size) // 2
    sharp = img[top:top + size, left:left + size]
    if top >= kh // 2 and left >= kw // 2 and top + size + kh // 2 <= h and left + size + kw // 2 <= w:
        region = img[top - kh // 2:top + size + kh - 1 - kh // 2, left - kw // 2:left + size + kw - 1 - kw // 2]
        return sharp, convolve_valid(region, k)
    return sharp, convolve_reflect(img, k)[top:top + size, left:left + size]


def centre(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    return img[top:top + size, left:left + size]


def psnr_aligned(pred: np.ndarray, ref: np.ndarray, r: int = SHIFT) -> float:
    """Best PSNR over integer shifts of ``pred`` within +-r px, r px border cropped."""
    from blur2blur.metrics import psnr

    h, w = ref.shape[:2]
    core = ref[r:h - r, r:w - r]
    return max(psnr(pred[r + dy:h - r + dy, r + dx:w - r + dx], core)
               for dy in range(-r, r + 1) for dx in range(-r, r + 1))


def kernel_sheet(kernels: list[np.ndarray], cell: int = 64) -> np.ndarray:
    """Kernels side by side, each scaled to its maximum and enlarged (nearest) into a cell."""
    panels = []
    for k in kernels:
        scale = max(1, cell // max(k.shape))
        big = np.kron(k / k.max(), np.ones((scale, scale)))
        pad = np.zeros((cell, cell), np.float32)
        oy, ox = (cell - big.shape[0]) // 2, (cell - big.shape[1]) // 2
        pad[max(oy, 0):max(oy, 0) + min(big.shape[0], cell), max(ox, 0):max(ox, 0) + min(big.shape[1], cell)] = \
            big[:cell, :cell]
        panels.append(pad)
    return side_by_side(panels, gap=2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_wizard_args(ap, iters_default=3000)
    ap.add_argument("--out", default="/tmp/b2b_transfer_real", help="output folder (default: %(default)s)")
    ap.add_argument("--targets", type=int, default=4, help="kodak24 target photos (default: %(default)s)")
    ap.add_argument("--sources", nargs="+", default=DEFAULT_SOURCES,
                    help="recorded Levin pairs im<i>_kernel<j> (default: %(default)s)")
    ap.add_argument("--patch", type=int, default=None,
                    help="side of the centre crops of sources and targets (default: the F/G training "
                         "crop, 256 with --wizard; the recorded pairs are 255 px)")
    ap.add_argument("--focal", type=float, default=1024.0, help="focal length in px for the gyro kernels")
    ap.add_argument("--no-gyro", action="store_true", help="skip the gyro-trajectory sources")
    args = ap.parse_args()

    import torch

    from blur2blur.io import read_image, to_tensor, write_image
    from blur2blur.kernel_space.transfer import apply_kernel
    from blur2blur.metrics import psnr

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    levin = levin_kernels(args.data_root)
    base = data_path(args.data_root, "levin2009_selfdeblur")
    targets = [(p.stem, read_image(p)) for p in photo_list(args.data_root, "sharp_kodak24", args.targets)]
    gyro = []
    if not args.no_gyro:
        for folder in sorted(data_path(args.data_root, "lai2016", "gyro").glob("gyro_*")):
            k, extent = gyro_kernel(folder, args.focal)
            gyro.append((folder.name, k, extent))
    wizard, desc, _ = get_wizard(args, levin)
    patch = args.patch or (256 if args.wizard else kernel_config(args).crop)
    patch = min(patch, 255)

    # sources: (kind, name, x, y, kernel or None)
    sources = []
    for name in args.sources:
        i, j = name.replace("im", "").split("_kernel")
        x = grey_to_rgb(read_image(data_path(base, "gt", f"im{i}.png")))
        y = grey_to_rgb(read_image(data_path(base, "blurry", f"{name}_img.png")))
        k = levin[int(j) - 1]
        sources.append(("real", name, centre(x, patch), centre(y, patch), k))
        sources.append(("levin-synthetic", f"im{i}*k{j}", *centre_pair(x, k, patch), k))
    for n, (name, k, extent) in enumerate(gyro):
        i = n % 4 + 1
        x = grey_to_rgb(read_image(data_path(base, "gt", f"im{i}.png")))
        sources.append(("gyro", f"im{i}*{name}", *centre_pair(x, k, patch), k))

    rows = []
    t0 = time.perf_counter()
    with torch.no_grad():
        for kind, name, x, y, k in sources:
            none, blank_, trans = [], [], []
            for tname, photo in targets:
                x_hat, ref = centre_pair(photo, k, patch)
                pred = transfer(wizard, x_hat, x, y)
                blank = apply_kernel(wizard, to_tensor(x_hat), torch.zeros(1, wizard.kernel_dim, 1, 1))
                blank = blank[0].numpy().transpose(1, 2, 0)
                score = psnr_aligned if kind == "real" else psnr
                none.append(score(x_hat, ref))
                blank_.append(score(blank, ref))
                trans.append(score(pred, ref))
                if kind == "real":
                    panels = [x, y, x_hat, pred]
                else:
                    panels = [x, y, x_hat, pred, ref]
                write_image(out / f"transfer_{kind}_{name.replace('*', '-')}_{tname}.png", side_by_side(panels))
            size = f"{k.shape[0]}x{k.shape[1]}"
            rows.append([kind, name, size, f"{statistics.fmean(none):.2f}", f"{statistics.fmean(blank_):.2f}",
                         f"{statistics.fmean(trans):.2f}"])
    eval_s = time.perf_counter() - t0
    write_image(out / "kernels_levin.png", kernel_sheet(levin))
    if gyro:
        write_image(out / "kernels_gyro.png", kernel_sheet([k for _, k, _ in gyro]))

    print(f"\nBlur transfer from recorded camera shake onto {len(targets)} sharp_kodak24 centre crops "
          f"({patch}x{patch}); F/G {desc}.")
    print("PSNR dB (RGB, uint8) against the reference k*x_hat; 'real': reference rendered with Levin's "
          f"measured kernel, best integer shift within +-{SHIFT} px ({SHIFT} px border cropped); others: "
          "exact, no shift.\n")
    for kind in ("real", "levin-synthetic", "gyro"):
        sel = [r for r in rows if r[0] == kind]
        if sel:
            rows.append([f"**mean {kind}**", "", ""] + [f"{statistics.fmean(float(r[i]) for r in sel):.2f}"
                                                        for i in (3, 4, 5)])
    print(markdown_table(["source", "pair", "kernel", "no transfer: x_hat", "blank code: G(x_hat,0)",
                          "transfer: G(x_hat,F(x,y))"], rows))
    print("\nblank code: G with an all-zero kernel map, i.e. no source at all; a transfer that does not beat "
          "it carries nothing of the source's blur.")
    if gyro:
        print("\ngyro kernels (focal %.0f px): " % args.focal + "; ".join(
            f"{n}: {k.shape[0]} px, extent {e['w']:.1f} x {e['h']:.1f} px, exposure {e['exposure_s']:.3f} s"
            for n, k, e in gyro))
    total = time.perf_counter() - t_start
    print(f"\nwall time: {total:.0f} s (transfer and metrics {eval_s:.0f} s), {torch.get_num_threads()} threads; "
          f"images in {out}")


if __name__ == "__main__":
    main()
