"""blur2blur: camera-specific deblurring from unpaired data (Blur2Blur, Pham et al., CVPR 2024).

`blur2blur.load_pipeline(deblurrer, translator=...)` returns a callable deblurrer (blur2blur/api.py).
"""

__version__ = "0.1.0"
__all__ = ["load_pipeline", "Deblurrer", "__version__"]


def __getattr__(name: str):
    # (imported on first use, so that `import blur2blur` and the command line's start stay light)
    if name in ("load_pipeline", "Deblurrer"):
        from blur2blur import api

        return getattr(api, name)
    raise AttributeError(f"module 'blur2blur' has no attribute {name!r}")
