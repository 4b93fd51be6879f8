"""Can the translator's discriminator tell the camera's blur B from the known blur K?

A probe of the PatchGAN alone (no translator): the demo's two sets are built (bundled photos,
`known` and `unknown` cameras, 96 px tiles, K = known blur on the camera's sharp images), then a
PatchGAN is trained with the hinge loss to call K real and B fake, on random crops of 80% of the
files. Every `--eval-every` iterations it is tested on fixed crops of the other 20% (B files and
S scenes held out, so its K variants too): accuracy at logit 0 and the AUC of the mean patch logit.

This is how we found why the demo's translator did not learn (docs/demo.md): the official depth
(n_layers 3, 70 px receptive field) and the cpu-small depth (n_layers 2, 34 px) fit the
training files but stay at chance on held-out ones -- with 180 tiles cut from 7 photos they
memorise scenes, not blur -- while n_layers 1 (16 px: only local texture, i.e. blur and noise)
generalises (measured tables in docs/demo.md).

    python benchmarks/disc_probe.py                      # n_layers 1 2 3, 1500 iterations each
    python benchmarks/disc_probe.py --n-layers 1 --iters 500 --photos DIR
    python benchmarks/disc_probe.py --n-layers 1 --iters 1000 --lambda-gp 1e-4   # the official penalty
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import torch


def crops(images: list[torch.Tensor], n: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """`n` random `size` crops (N x 3 x size x size) from CHW images, drawn with `gen`."""
    out = []
    for _ in range(n):
        img = images[int(torch.randint(len(images), (1,), generator=gen))]
        top = int(torch.randint(img.shape[1] - size + 1, (1,), generator=gen))
        left = int(torch.randint(img.shape[2] - size + 1, (1,), generator=gen))
        out.append(img[:, top:top + size, left:left + size])
    return torch.stack(out)


def load_sets(work: Path, photos: str | None, seed: int, variants: int):
    """(B images, K images grouped by sharp scene) of the demo's dataset, built in `work`."""
    from blur2blur.data.known_blur import build_known_blur_set
    from blur2blur.demo import bundled_photos
    from blur2blur.io import list_images, read_image
    from blur2blur.simulate import make_dataset

    sources = list_images(photos) if photos else bundled_photos()
    make_dataset(sources, work / "data", "known", "unknown", tile=96, seed=seed, progress=False)
    build_known_blur_set(work / "data" / "trainB", work / "K", "known", variants, seed, progress=False)

    def chw(f):
        return torch.from_numpy(read_image(f)).permute(2, 0, 1).contiguous()

    blurry = [chw(f) for f in list_images(work / "data" / "trainA")]
    known: dict[str, list[torch.Tensor]] = {}
    for f in list_images(work / "K"):
        known.setdefault(f.stem.rsplit("_k", 1)[0], []).append(chw(f))
    return blurry, list(known.values())


def probe(blurry, known_groups, n_layers: int, ndf: int, lr: float, batch: int, crop: int,
          iters: int, eval_every: int, seed: int,
          lambda_gp: float = 0.0) -> list[tuple[int, float, float, float]]:
    """Train one PatchGAN; return (iteration, train hinge loss, held-out accuracy, AUC) rows.

    `lambda_gp` > 0 adds the translator's gradient penalty (target norm 1) as in training."""
    from blur2blur.losses.gan import gan_loss_d, gradient_penalty
    from blur2blur.nets.patchgan import PatchGAN, init_weights

    rng = random.Random(seed)
    b_idx = rng.sample(range(len(blurry)), len(blurry))
    k_idx = rng.sample(range(len(known_groups)), len(known_groups))
    nb, nk = max(1, len(blurry) // 5), max(1, len(known_groups) // 5)
    b_test, b_train = [blurry[i] for i in b_idx[:nb]], [blurry[i] for i in b_idx[nb:]]
    k_test = [k for i in k_idx[:nk] for k in known_groups[i]]
    k_train = [k for i in k_idx[nk:] for k in known_groups[i]]

    torch.manual_seed(seed)
    disc = init_weights(PatchGAN(3, ndf, n_layers), 0.02)
    opt = torch.optim.Adam(disc.parameters(), lr=lr, betas=(0.5, 0.999))
    gen, gen_test = torch.Generator().manual_seed(seed + 1), torch.Generator().manual_seed(seed + 2)
    tb, tk = crops(b_test, 64, crop, gen_test), crops(k_test, 64, crop, gen_test)
    rows, running = [], []
    for it in range(1, iters + 1):
        b, k = crops(b_train, batch, crop, gen), crops(k_train, batch, crop, gen)
        # Sum of the two hinge terms (2 = chance), i.e. twice the library's averaged D loss.
        loss = 2 * gan_loss_d(disc(k), disc(b), "hinge")
        total = loss  # the reported loss stays the hinge part; the penalty keeps training's ratio
        if lambda_gp > 0:
            total = loss + 2 * lambda_gp * gradient_penalty(disc, k, b, target=1.0)
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        running.append(loss.item())
        if it % eval_every == 0:
            with torch.no_grad():
                sb, sk = disc(tb).mean(dim=(1, 2, 3)), disc(tk).mean(dim=(1, 2, 3))
            acc = 0.5 * ((sk > 0).float().mean() + (sb <= 0).float().mean()).item()
            auc = (sk[:, None] > sb[None, :]).float().mean().item()
            rows.append((it, sum(running) / len(running), acc, auc))
            running = []
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-layers", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--ndf", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--crop", type=int, default=64)
    ap.add_argument("--iters", type=int, default=1500)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--photos", help="folder of sharp photos (default: scikit-image's bundled ones)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lambda-gp", type=float, default=0.0,
                    help="add the translator's gradient penalty with this weight (official: 1e-4)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        blurry, known = load_sets(Path(tmp), args.photos, args.seed, variants=4)
    print(f"B: {len(blurry)} images; K: {sum(map(len, known))} images of {len(known)} sharp scenes; "
          f"held out: 20% of each; batch {args.batch}, crop {args.crop}, lr {args.lr}, "
          f"lambda_gp {args.lambda_gp}, "
          f"{torch.get_num_threads()} threads", file=sys.stderr)
    print("| n_layers | receptive field | iteration | train hinge loss | held-out accuracy | held-out AUC |")
    print("|---|---|---|---|---|---|")
    for n_layers in args.n_layers:
        t0 = time.perf_counter()
        field = {1: 16, 2: 34, 3: 70, 4: 142}.get(n_layers, "?")
        for it, loss, acc, auc in probe(blurry, known, n_layers, args.ndf, args.lr, args.batch,
                                        args.crop, args.iters, args.eval_every, args.seed,
                                        args.lambda_gp):
            print(f"| {n_layers} | {field} px | {it} | {loss:.2f} | {acc:.2f} | {auc:.2f} |", flush=True)
        print(f"n_layers {n_layers}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
