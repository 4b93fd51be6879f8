"""Tiled inference: run an image-to-image network on overlapping tiles and blend them.

Why: a full camera photo (e.g. 4000x3000) does not fit in memory when pushed through the translator
and deblurrer at once. Running the networks on square tiles bounds the memory; because the networks
have a finite receptive field, a tile's output is wrong only near its borders, so neighbouring
tiles overlap by `overlap` pixels and their outputs are cross-faded ("feathered") across the overlap,
which hides the seams.

Images are NCHW float tensors, RGB in [0, 1]; all sizes are in pixels.
"""

from __future__ import annotations

from typing import Callable

import torch
from blur2blur.progress import tqdm


def tile_origins(size: int, tile: int, overlap: int) -> list[int]:
    """Start offsets (pixels) of the tiles covering [0, size) along one axis.

    Origins are 0, s, 2s, ... with stride s = tile - overlap, plus a last tile aligned to the end
    (origin size - tile), so every tile lies inside the image. A single origin [0] when size <= tile
    (that tile then spans the whole axis, i.e. it is `size` long). Requires 0 <= overlap < tile.
    """
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    if tile < 1 or not 0 <= overlap < tile:
        raise ValueError(f"need tile >= 1 and 0 <= overlap < tile, got tile={tile}, overlap={overlap}")
    if size <= tile:
        return [0]
    last = size - tile
    return list(range(0, last, tile - overlap)) + [last]


def fit_tile(size: int, tile: int, overlap: int, multiple: int = 1) -> int:
    """Tile length along an axis of `size` px: the fewest tiles of at most `tile` px that overlap
    by at least `overlap` px, each made as short as that count allows (rounded up to `multiple`).

    A fixed `tile` would leave the last tile overlapping its neighbour by up to a whole tile (a
    4000 px side in 1024 px tiles: 5 tiles, 5120 px processed); fitted, the same 5 tiles are
    864 px long (4320 px processed). Returns `size` when it fits in one tile.
    """
    if size <= tile:
        return size
    n = -(-(size - overlap) // (tile - overlap))
    side = -(-(size + (n - 1) * overlap) // n)
    return min(tile, -(-side // multiple) * multiple)


def _ramp_window(length: int, overlap: int, ramp_start: bool, ramp_end: bool) -> torch.Tensor:
    """1-D float32 weights of `length`: 1 inside, linear ramp over `overlap` px at the flagged ends.

    The ramp values (i + 0.5) / overlap, i = 0..overlap-1, are strictly positive, and the rising ramp
    of one tile plus the falling ramp of its neighbour sum to 1 over an overlap of exactly `overlap`.
    """
    w = torch.ones(length, dtype=torch.float32)
    n = min(overlap, length)
    if n > 0:
        ramp = (torch.arange(n, dtype=torch.float32) + 0.5) / overlap
        if ramp_start:
            w[:n] = torch.minimum(w[:n], ramp)
        if ramp_end:
            w[length - n:] = torch.minimum(w[length - n:], ramp.flip(0))
    return w


def run_tiled(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tile: int, overlap: int = 32,
              multiple: int = 16, progress: bool = False) -> torch.Tensor:
    """Apply `fn` to overlapping `tile` x `tile` crops of `x` (NCHW) and blend into one full-size output.

    fn: maps an NCHW float tensor to an NCHW tensor of the same N, H, W (any channel count, e.g. 3 for
        RGB in [0, 1]); called once per tile, or once on the whole image if H <= tile and W <= tile.
    tile: largest tile side in pixels; a positive multiple of `multiple` and > 2 * overlap. Along
        each axis the tiles are shortened to the least length that still needs no more of them
        (`fit_tile`); along an axis shorter than `tile`, the tile spans that whole axis.
    overlap: pixels (>= 0) shared by neighbouring tiles; each tile's output is weighted by a separable
        window that is 1 inside and ramps linearly from ~0 to 1 across `overlap` pixels at every edge
        bordering another tile (no ramp at the image border). The result is sum(w * out) / sum(w),
        so a pointwise fn is reproduced exactly.
    progress: show a tqdm bar over tiles.

    Returns a float32 tensor on x's device. Only one tile's output is held at a time besides the two
    accumulators. Gradients are not blocked: wrap the call in torch.inference_mode() for inference.
    """
    if multiple < 1:
        raise ValueError(f"multiple must be >= 1, got {multiple}")
    if overlap < 0:
        raise ValueError(f"overlap must be >= 0 pixels, got {overlap}")
    if tile < 1 or tile % multiple:
        raise ValueError(f"tile must be a positive multiple of {multiple} pixels, got {tile}")
    if tile <= 2 * overlap:
        raise ValueError(f"tile must be > 2 * overlap, got tile={tile}, overlap={overlap}")
    if x.ndim != 4:
        raise ValueError(f"x must be NCHW, got shape {tuple(x.shape)}")

    h, w = x.shape[-2:]
    if h <= tile and w <= tile:
        return fn(x).to(device=x.device, dtype=torch.float32)

    th, tw = fit_tile(h, tile, overlap, multiple), fit_tile(w, tile, overlap, multiple)
    ys, xs = tile_origins(h, th, overlap), tile_origins(w, tw, overlap)
    # Separable window factors, indexed by tile position (first / middle / last / only along the axis).
    wy = [_ramp_window(th, overlap, i > 0, i < len(ys) - 1).to(x.device) for i in range(len(ys))]
    wx = [_ramp_window(tw, overlap, j > 0, j < len(xs) - 1).to(x.device) for j in range(len(xs))]

    acc = None
    weight = torch.zeros(1, 1, h, w, dtype=torch.float32, device=x.device)
    tiles = [(i, j) for i in range(len(ys)) for j in range(len(xs))]
    for i, j in tqdm(tiles, desc="tiles", disable=not progress, leave=False):
        y0, x0 = ys[i], xs[j]
        out = fn(x[..., y0:y0 + th, x0:x0 + tw]).to(device=x.device, dtype=torch.float32)
        if out.shape[-2:] != (th, tw):
            raise ValueError(f"fn changed the tile size: {(th, tw)} -> {tuple(out.shape[-2:])}")
        if acc is None:
            acc = torch.zeros(out.shape[0], out.shape[1], h, w, dtype=torch.float32, device=x.device)
        win = wy[i][:, None] * wx[j][None, :]
        acc[..., y0:y0 + th, x0:x0 + tw] += out * win
        weight[..., y0:y0 + th, x0:x0 + tw] += win
        del out
    return acc / weight
