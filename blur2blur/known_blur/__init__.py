"""The known-blur set K of Blur2Blur: the camera's sharp images S (or the known domain's images)
carrying the known domain's blur, the target the blur translator learns to reach.

- `build`: the one entry point: `build_known_set(options, root, out_dir, source)`, the "auto" rule
  `resolve_k_source` (with why), `known_profile_of`, `online_known_blur`;
- `images`: K written from images: a camera profile on S, the known domain's own blurry images,
  kernels estimated from the known pairs on S; the camera's grain matched; `with_known_grain`;
- `transferred`: K by bkse blur transfer with a kernel network, stored or online.
"""

# The sources of K (`k_source`), here so that configs can name them without importing the builders.
SOURCES = ("auto", "simulate", "known", "estimated", "transfer", "online")
