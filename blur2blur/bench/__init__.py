"""`blur2blur bench`: the shape of the paper's Table 2 and ablations, on photos of your choice.

From a folder of sharp photos (default: the photos bundled with scikit-image) the camera
simulator builds the two domains (the known camera's pairs, the user's camera's unpaired B and S,
a test set with ground truth); then every method is trained at one preset and scored on the
camera's test set:

- table2: the known deblurrer applied directly; deblurrers trained on S with generic blur
  syntheses (linear motion, BSRGAN-style, RSBlur-style); CycleGAN and DualGAN (B -> S);
  Blur2Blur (translator + the known deblurrer); the upper bound trained on the camera's own pairs.
  PSNR, both SSIMs, LPIPS and the training time of each; the converter validation (Acc1, Acc2)
  of the translator on the inputs and on the converted images.
- ratio: Blur2Blur with B:S proportions 5:5 to 9:1 (subsets of equal total size of the table2
  B and S sets);
- backbone: Blur2Blur with MIMO-UNet, U-Net and NAFNet translators;
- size: Blur2Blur with a fraction alpha (0.25 to 1.0) of B and S;
- seeds: Blur2Blur (table2's translator) trained again with other seeds: the spread against
  which the ablations' differences are to be read.
- ocr: text pages (simulate/text_pages.py) captured by the camera as its test scenes are, deblurred
  by every table2 method and read by Tesseract: character and word accuracy (metrics/ocr.py)
  of the sharp page, the blurry input and each method. Skipped with the install hint when
  Tesseract is missing (an error when it is the only part asked for).
Each part can run alone; everything lands in `out/` and an interrupted bench resumes where it
stopped (finished runs are reused, unfinished ones resumed from their checkpoints). The report is
`out/report/README.md` and a self-contained `out/report/index.html` (tables, image grids, plots).
"""

from __future__ import annotations

# (this module holds only names and settings, so that the command line reads PARTS without
# importing the bench's training code)

PARTS = ("table2", "ratio", "backbone", "size", "seeds", "ocr")
METHODS = {
    "direct": "known deblurrer applied directly",
    "linear": "deblurrer trained on S with random linear motion",
    "bsrgan": "deblurrer trained on S with BSRGAN-style degradations",
    "rsblur": "deblurrer trained on S with RSBlur-style synthesis",
    "cyclegan": "CycleGAN (B -> S)",
    "dualgan": "DualGAN (B -> S)",
    "blur2blur": "Blur2Blur: translator + known deblurrer",
    "upper": "deblurrer trained on the camera's own pairs (upper bound)",
}
RATIOS = ((5, 5), (6, 4), (7, 3), (8, 2), (9, 1))
# U-Net and NAFNet output images (the kernel head is MIMO-UNet's): they get the low-pass colour
# anchor, since a patch-statistics critic alone leaves colour free (docs/research/bench.md: without it a
# U-Net T turned whites pink).
_IMAGE_HEAD = ["out_kernel=0", "lambda_lowpass=1"]
BACKBONES = {"mimo_unet": [], "unet": ["net=unet", "levels=3"] + _IMAGE_HEAD,
             "nafnet": ["net=nafnet", "width=16", "enc_blk_nums=[1,1,2]", "dec_blk_nums=[1,1,1]"] + _IMAGE_HEAD}
ALPHAS = (0.25, 0.5, 0.75, 1.0)
SEEDS = (1, 2, 3)  # (table2's Blur2Blur run is seed 0)
GRID_IMAGES = 4


def backbone_run(net: str) -> str:
    """Run name of a translator backbone (MIMO-UNet is Table 2's Blur2Blur run)."""
    return "blur2blur" if net == "mimo_unet" else f"backbone_{net}"
