"""Train a fresh translator against a frozen, already trained discriminator: does D's signal lead T
to a better image when D cannot adapt?

For a finished demo folder and a translator run in it (``demo_translator.py --name RUN``), this
loads RUN's discriminator, freezes it, and trains a new cpu-small MIMO-UNet T on random 64 px crops
of the camera's blurry set B (batch 4, Adam with the translator's betas) to maximise D's mean logit
over the three MIMO scales (the hinge G loss), plus one content anchor: ``lowpass`` (L1 of
`lowpass_factor` = 4 px average pools of T(b) and b, weight 1) or ``perceptual`` (the cpu-small
VGG16 perceptual loss against b at every scale, summed, times `lambda_rec` = 0.8, as the
translator computes it). Every `--eval-every` steps it prints D's mean logit
on T(y) over the test inputs, and the PSNR (dB, RGB, uint8-rounded) of T(y) and of the demo's
known deblurrer applied to it.

    python benchmarks/frozen_disc.py demo_out --disc-run tinyT_idt1_lp1 --anchor lowpass
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("demo_dir", help="output folder of `blur2blur demo`")
    ap.add_argument("--disc-run", required=True, help="run under DIR/runs whose discriminator to freeze")
    ap.add_argument("--anchor", choices=["lowpass", "perceptual"], default="lowpass")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from blur2blur.data.datasets import UnpairedCrops
    from blur2blur.io import list_images, read_image, to_tensor
    from blur2blur.losses.perceptual import PerceptualLoss
    from blur2blur.losses.pixel import lowpass_l1
    from blur2blur.metrics.psnr import psnr
    from blur2blur.nets import build_network
    from blur2blur.nets.patchgan import init_weights
    from blur2blur.nets.weights import load_model
    from blur2blur.train.config import TranslatorConfig, make_config
    from blur2blur.train.translator import resize_like

    torch.manual_seed(args.seed)
    root = Path(args.demo_dir)
    cfg = make_config(TranslatorConfig, "cpu-small")
    disc = load_model(root / "runs" / args.disc_run / "discriminator")
    disc.requires_grad_(False)
    deblurrer = load_model(root / "runs" / "deblurrer_known" / "deblurrer")
    T = init_weights(build_network("mimo_unet", **cfg.net_kwargs()), cfg.init_gain)
    opt = torch.optim.Adam(T.parameters(), lr=args.lr, betas=tuple(cfg.betas))
    perc = None
    if args.anchor == "perceptual":
        perc = PerceptualLoss(arch=cfg.perc_arch, layers=tuple(cfg.perc_layers),
                              layer_weights=tuple(cfg.perc_layer_weights), weights=cfg.perc_weights,
                              normalize=cfg.perc_normalize, per_element=cfg.perc_per_element)
    blurry = UnpairedCrops(list_images(root / "data" / "trainA"), cfg.crop, augment=False)
    tests = list_images(root / "data" / "testA")
    ys = [to_tensor(read_image(f))[None] for f in tests]
    gts = [to_tensor(read_image(root / "data" / "testA_gt" / f.name))[None] for f in tests]

    def evaluate(step: int) -> None:
        logits, t_psnr, b2b_psnr = [], [], []
        with torch.no_grad():
            for y, gt in zip(ys, gts):
                t = T(y)[-1]
                logits.append(disc(t).mean().item())
                t_psnr.append(psnr(t.clamp(0, 1), gt))
                b2b_psnr.append(psnr(deblurrer(t).clamp(0, 1), gt))
        print(f"| {step} | {statistics.fmean(logits):+.3f} | {statistics.fmean(t_psnr):.2f} | "
              f"{statistics.fmean(b2b_psnr):.2f} |", flush=True)

    print(f"frozen D of {args.disc_run}, anchor {args.anchor}, lr {args.lr:g}")
    print("| step | D(T(y)) | T(y) dB | deblurred T(y) dB |\n|---|---|---|---|")
    evaluate(0)
    for step in range(1, args.steps + 1):
        b = torch.stack([blurry[int(i)]["image"] for i in torch.randint(len(blurry), (cfg.batch,))])
        outs = T(b)
        loss = -torch.stack([disc(o).mean() for o in outs]).mean()
        if perc is None:
            loss = loss + lowpass_l1(outs[-1], b, cfg.lowpass_factor)
        else:
            loss = loss + cfg.lambda_rec * sum(perc(o, resize_like(b, o, "nearest")) for o in outs)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % args.eval_every == 0:
            evaluate(step)


if __name__ == "__main__":
    main()
