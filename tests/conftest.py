import numpy as np
import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def smooth_photo(rng, h: int, w: int) -> np.ndarray:
    """A photo-like HxWx3 float32 image in [0,1]: smooth colour fields plus a few sharp edges."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        fx, fy, ph = rng.uniform(0.02, 0.2), rng.uniform(0.02, 0.2), rng.uniform(0, 6.28)
        img[..., c] = 0.5 + 0.3 * np.sin(fx * xx + fy * yy + ph)
    for _ in range(4):
        y0, x0 = rng.integers(0, h - 8), rng.integers(0, w - 8)
        img[y0:y0 + rng.integers(4, h // 2), x0:x0 + rng.integers(4, w // 2)] = rng.uniform(0, 1, 3)
    return np.clip(img, 0, 1)


@pytest.fixture
def photo_dir(tmp_path, rng):
    """A folder of 4 small synthetic 'photos' (PNG)."""
    from blur2blur.io import write_image

    d = tmp_path / "photos"
    for i in range(4):
        write_image(d / f"photo{i}.png", smooth_photo(rng, 96, 128))
    return d
