"""Tests of tiled inference (blur2blur.infer.tiling): tile layout, exact blending, seams, arguments."""

import pytest
import torch
import torch.nn.functional as F

from blur2blur.infer.tiling import fit_tile, run_tiled, tile_origins


def rand_img(n: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(seed))


def box3(x: torch.Tensor) -> torch.Tensor:
    """3x3 mean per channel with replicate padding: receptive field radius 1."""
    return F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)


class Counter:
    def __init__(self, fn=lambda t: t):
        self.fn, self.calls = fn, 0

    def __call__(self, t):
        self.calls += 1
        return self.fn(t)


@pytest.mark.parametrize("size,tile,overlap", [(70, 32, 8), (101, 32, 8), (100, 48, 16), (33, 32, 0),
                                               (33, 32, 15), (32, 32, 8), (5, 32, 8), (1000, 64, 31)])
def test_tile_origins_cover_axis(size, tile, overlap):
    o = tile_origins(size, tile, overlap)
    if size <= tile:
        assert o == [0]
        return
    assert o[0] == 0 and o[-1] == size - tile
    steps = [b - a for a, b in zip(o, o[1:])]
    assert all(0 < s <= tile - overlap for s in steps)
    covered = torch.zeros(size, dtype=torch.bool)
    for a in o:
        covered[a:a + tile] = True
    assert covered.all()


def test_tile_origins_known_layout():
    assert tile_origins(100, 48, 16) == [0, 32, 52]
    assert tile_origins(101, 32, 8) == [0, 24, 48, 69]
    assert tile_origins(96, 32, 0) == [0, 32, 64]


def test_identity_exact_odd_size():
    x = rand_img(1, 70, 101)
    y = run_tiled(lambda t: t, x, tile=32, overlap=8)
    assert y.shape == x.shape and y.dtype == torch.float32
    torch.testing.assert_close(y, x, atol=1e-6, rtol=0)


def test_pointwise_exact():
    x = rand_img(1, 70, 101, seed=1)
    y = run_tiled(lambda t: t * 2 + 0.1, x, tile=32, overlap=8)
    torch.testing.assert_close(y, x * 2 + 0.1, atol=1e-6, rtol=0)


def test_constant_output_exact():
    x = rand_img(1, 45, 90, seed=2)
    y = run_tiled(lambda t: torch.full_like(t, 0.37), x, tile=32, overlap=8)
    torch.testing.assert_close(y, torch.full_like(x, 0.37), atol=1e-6, rtol=0)


def test_receptive_field_seams_feathered():
    """3x3 box filter: tiles are wrong only on their 1-px inner edge lines; feathering must damp that.

    Off those lines tiled == untiled. On them, the wrong tile's weight share is at most
    0.5 / overlap (first ramp value), and a replicate-padded 3x3 mean of [0,1] data is off by at most
    3/9 on an edge (corners have weight share <= (0.5 / overlap)^2), so |err| <= (1/3) * 0.5 / overlap.
    Unfeathered averaging (equal weights) would give errors around half the edge error (~0.1).
    """
    h, w, tile, overlap = 70, 101, 32, 8
    x = rand_img(1, h, w, seed=3)
    ref = box3(x)
    err = (run_tiled(box3, x, tile=tile, overlap=overlap) - ref).abs()[0].amax(0)

    seam = torch.zeros(h, w, dtype=torch.bool)
    for a in tile_origins(h, tile, overlap):
        seam[[r for r in (a, a + tile - 1) if 0 < r < h - 1], :] = True
    for a in tile_origins(w, tile, overlap):
        seam[:, [c for c in (a, a + tile - 1) if 0 < c < w - 1]] = True

    assert err[~seam].max() < 1e-5
    bound = (1 / 3) * 0.5 / overlap  # 0.0208
    assert err.max() <= bound + 1e-5
    assert err[seam].max() > 1e-4  # the seam lines really are where the tiles disagree


def test_one_side_smaller_than_tile():
    x = rand_img(1, 20, 101, seed=4)
    calls = Counter(box3)
    y = run_tiled(calls, x, tile=32, overlap=8)
    assert calls.calls == len(tile_origins(101, 32, 8))
    ref = box3(x)
    assert y.shape == ref.shape
    assert (y - ref).abs().max() <= (1 / 3) * 0.5 / 8 + 1e-5


def test_small_image_single_call_identical():
    x = rand_img(1, 30, 17, seed=5)
    calls = Counter(box3)
    y = run_tiled(calls, x, tile=32, overlap=8)
    assert calls.calls == 1
    assert torch.equal(y, box3(x))


def test_call_count_known_layout():
    x = rand_img(1, 100, 100, seed=6)
    calls = Counter()
    run_tiled(calls, x, tile=48, overlap=16, progress=True)
    assert calls.calls == len(tile_origins(100, 48, 16)) ** 2 == 9


def test_tiles_have_tile_size():
    shapes = []
    run_tiled(lambda t: shapes.append(tuple(t.shape)) or t, rand_img(1, 70, 100), tile=32, overlap=8)
    assert set(shapes) == {(1, 3, 32, 32)}  # (no shorter tile needs no more tiles here)


@pytest.mark.parametrize("size,tile,overlap", [(4000, 1024, 64), (3000, 1024, 64), (1100, 1024, 64),
                                               (101, 32, 8), (70, 32, 8), (1025, 1024, 0)])
def test_fitted_tiles_are_as_few_and_no_longer_than_needed(size, tile, overlap):
    side = fit_tile(size, tile, overlap, multiple=16 if tile >= 64 else 1)
    origins = tile_origins(size, side, overlap)
    fixed = tile_origins(size, tile, overlap)
    assert side <= tile and len(origins) <= len(fixed)
    assert origins[0] == 0 and origins[-1] + side == size
    assert all(b - a <= side - overlap for a, b in zip(origins, origins[1:]))  # overlap kept
    if size > tile:  # one tile fewer of this length could not cover the axis
        assert (len(origins) - 1) * (side - overlap) + overlap < size


def test_a_12_megapixel_photo_needs_a_sixth_fewer_pixels_processed():
    fixed = len(tile_origins(4000, 1024, 64)) * len(tile_origins(3000, 1024, 64)) * 1024 ** 2
    sw, sh = fit_tile(4000, 1024, 64, 16), fit_tile(3000, 1024, 64, 16)
    fitted = len(tile_origins(4000, sw, 64)) * len(tile_origins(3000, sh, 64)) * sw * sh
    assert (sw, sh) == (864, 800) and fitted < 0.7 * fixed


@pytest.mark.parametrize("tile,overlap,multiple", [(40, 8, 16), (0, 0, 16), (-16, 0, 16), (32, 16, 16),
                                                   (32, 20, 16), (32, -1, 16), (32, 8, 0)])
def test_bad_arguments(tile, overlap, multiple):
    with pytest.raises(ValueError):
        run_tiled(lambda t: t, rand_img(1, 70, 70), tile=tile, overlap=overlap, multiple=multiple)


def test_batch_and_dtype():
    x = rand_img(2, 70, 101, seed=7).double()
    y = run_tiled(lambda t: t * 2 + 0.1, x, tile=32, overlap=8)
    assert y.shape == (2, 3, 70, 101) and y.dtype == torch.float32
    torch.testing.assert_close(y, (x * 2 + 0.1).float(), atol=1e-6, rtol=0)
    ref = box3(x.float())
    z = run_tiled(box3, x.float(), tile=32, overlap=8)
    assert (z - ref).abs().max() <= (1 / 3) * 0.5 / 8 + 1e-5
