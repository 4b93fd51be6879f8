"""Speed of training and inference, three ways, in one process with interleaved rounds.

Variants (every work item is run by each, round after round, so drift hits all alike):
- `reference`: float32, contiguous (NCHW) memory format, `torch.no_grad` at inference: the path
  this project had before channels-last and bfloat16, which ran at the official code's speed
  (0.86-1.05x of it, issue #11's table); its time is the 1.0x of the last column;
- `float32`: channels-last activations and weights, `torch.inference_mode` (amp=none);
- `amp=auto`: channels-last plus bfloat16 autocast where the hardware runs it natively
  (blur2blur/perf.py; on a CPU without AVX512-BF16 or AMX it is the float32 path).

Rows: the translator training step (official preset at 128/256 px, batch 1 and 4; cpu-small at
its own crop and batch), the deblurrer training step (cpu-small; official NAFNet width 32 at
256 px, batch given), and inference at 256x256, 1280x720 and 4000x3000 (tiled, 1024 px tiles,
64 px overlap) of the translator (MIMO-UNet), NAFNet width 32 and 64 and translator + NAFNet-32,
the shipped deblurrer's architecture alone and after cpu-small's translator (the default pipeline),
the latter with the self-ensemble of 4 views (`deblur --ensemble 4`) at 1280x720,
the same exported to ONNX and run by onnxruntime at 1280x720 (when onnx and onnxruntime are installed),
`blur2blur deblur` of a 1280x720 video (frames per second, decoding and H.264 encoding included)
and `blur2blur prepare` of two 1920x1080 clips (frames per second: decode, score, write PNG).
Columns: median seconds and range over the timed rounds, items per second, peak extra memory
during the call (resident set above the level before it; CUDA: peak allocated), GFLOP of the
work (convolutions and matrix products, counted once with torch's FlopCounterMode) and the
achieved fraction of this machine's ceiling (a 64-channel 3x3 convolution on 256x256 measured
here, channels-last, in float32 and in bfloat16). Random weights: speed does not depend on them.
The C allocator is set as the CLI sets it (large freed blocks reused, `configure_allocator`);
`--default-allocator` leaves glibc's default, under which every row above 32 MB of activations
pays for fresh pages on each call.

    python benchmarks/speed.py                     # the full table (about 30 min on 2 cores)
    python benchmarks/speed.py --quick             # 256 px and training rows only
    python benchmarks/speed.py --only translator   # rows whose name contains a word
    python benchmarks/speed.py --quick --compile   # also amp=auto with torch.compile
    python benchmarks/speed.py --only shipped --default-allocator   # glibc's allocator as found
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from blur2blur.device import pick_device
from blur2blur.infer.pipeline import DeblurPipeline
from blur2blur.infer.tiling import run_tiled
from blur2blur.nets import build_network
from blur2blur.nets.padding import pad_to_multiple
from blur2blur.perf import (configure_allocator, configure_threads, cpu_flags, cpu_name, native_bf16, resolve_amp,
                            trim_heap)
from blur2blur.train.config import DeblurrerConfig, TranslatorConfig
from blur2blur.train.deblurrer import DeblurrerTrainer
from blur2blur.train.presets import make_config
from blur2blur.train.translator_trainer import TranslatorTrainer

VARIANTS = {
    "reference": {"amp": "none", "channels_last": False},
    "float32": {"amp": "none", "channels_last": True},
    "amp=auto": {"amp": "auto", "channels_last": True},
}
MIMO = {"base_channel": 32, "num_res": 8}
NAFNET = {"enc_blk_nums": [1, 1, 1, 28], "middle_blk_num": 1, "dec_blk_nums": [1, 1, 1, 1]}
TILE, OVERLAP = 1024, 64


class PeakRSS:
    """Peak resident memory above the level at entry, sampled every 2 ms by a thread (CPU), or
    CUDA's peak allocated memory; `.mb` after the block."""

    def __init__(self, device: torch.device):
        self.device, self.mb = device, 0.0

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
            return self
        trim_heap()  # hand freed heap pages back first, or reused pages would not show
        self.base = self.peak = self._rss()
        self.stop = threading.Event()

        def sample():
            while not self.stop.wait(0.002):
                self.peak = max(self.peak, self._rss())

        self.thread = threading.Thread(target=sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.mb = (torch.cuda.max_memory_allocated() - self.base) / 2**20
            return
        self.stop.set()
        self.thread.join()
        self.peak = max(self.peak, self._rss())
        self.mb = (self.peak - self.base) / 2**20


@dataclass
class Work:
    """One row group: `make(variant)` returns a zero-argument callable doing one unit of work."""

    name: str
    unit: str  # "it" (training iterations), "img" (images) or "frame" (video frames)
    make: Callable[[dict], Callable[[], object]]
    flops: Callable[[], float]
    rounds: int = 3
    variants: tuple[str, ...] = ()
    items: int = 1  # units of work per call (frames of a video row)
    times: dict[str, list[float]] = field(default_factory=dict)
    memory: dict[str, float] = field(default_factory=dict)


def conv_ceiling(device: torch.device, bf16: bool, reps: int = 5) -> float:
    """GFLOP/s of a 64->64 channel 3x3 convolution on a 1x64x256x256 channels-last input."""
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(device).to(memory_format=torch.channels_last)
    x = torch.randn(1, 64, 256, 256, device=device).contiguous(memory_format=torch.channels_last)
    flops = 2 * 64 * 64 * 9 * 256 * 256
    ctx = torch.autocast(device.type, torch.bfloat16) if bf16 else contextlib.nullcontext()
    times = []
    with torch.inference_mode(), ctx:
        for i in range(reps + 1):
            _sync(device)
            t0 = time.perf_counter()
            conv(x)
            _sync(device)
            if i:
                times.append(time.perf_counter() - t0)
    return flops / statistics.median(times) / 1e9


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _conv_backward_flops(grad_out, inp, weight, *args) -> int:
    """A convolution's forward FLOPs (2 per multiply-add) times the gradients asked for (input,
    weight). torch's own rule treats the weight gradient of a grouped convolution as dense, which
    overcounts NAFNet's depthwise convolutions by their channel count."""
    transposed, mask = args[4], args[7]
    per_element = weight[0].numel()  # multiply-adds per output (input, if transposed) element
    forward = 2 * (inp.numel() if transposed else grad_out.numel()) * per_element
    return forward * (int(mask[0]) + int(mask[1]))


class _CountFlops(TorchDispatchMode):
    """Convolution and matrix-product FLOPs, forward and backward (torch's formulas, but our own
    for convolution backward). (FlopCounterMode itself tracks modules with hooks that
    autograd.grad, used by the gradient penalty, does not support.)"""

    total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func._overloadpacket is torch.ops.aten.convolution_backward:
            self.total += _conv_backward_flops(*args)
        else:
            rule = flop_registry.get(func._overloadpacket)
            if rule is not None:
                self.total += rule(*args, **kwargs, out_val=out)
        return out


def count_flops(fn: Callable[[], object]) -> float:
    with _CountFlops() as counter:
        fn()
    return float(counter.total)


# ---- training rows -------------------------------------------------------------------------

def translator_step(device, preset: str, crop: int, batch: int):
    overrides = [f"crop={crop}", f"batch={batch}", "perc_weights=random", "curriculum=false"]

    def build(variant: dict):
        variant = dict(variant)
        compile_ = variant.pop("compile", False)
        cfg = make_config(TranslatorConfig, preset, overrides + [f"{k}={v}" for k, v in variant.items()])
        torch.manual_seed(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer = TranslatorTrainer(cfg, device)
        if compile_:
            trainer.T.compile()
        gen = torch.Generator().manual_seed(1)
        b = torch.rand(batch, 3, crop, crop, generator=gen).to(device)
        k = torch.rand(batch, 3, crop, crop, generator=gen).to(device)
        counter = iter(range(10**9))
        return lambda: trainer.step(b, k, next(counter))

    return build, lambda: count_flops(build(VARIANTS["reference"]))


def deblurrer_step(device, preset: str, crop: int | None = None, batch: int | None = None):
    overrides = ([f"crop={crop}"] if crop else []) + ([f"batch={batch}"] if batch else [])

    def build(variant: dict):
        variant = dict(variant)
        compile_ = variant.pop("compile", False)
        cfg = make_config(DeblurrerConfig, preset, overrides + [f"{k}={v}" for k, v in variant.items()])
        torch.manual_seed(0)
        trainer = DeblurrerTrainer(cfg, device)
        if compile_:
            trainer.model.compile()
        gen = torch.Generator().manual_seed(1)
        sharp = torch.rand(cfg.batch, 3, cfg.crop, cfg.crop, generator=gen).to(device)
        blur = F.avg_pool2d(sharp, 5, stride=1, padding=2)
        return lambda: trainer.step(blur, sharp)

    return build, lambda: count_flops(build(VARIANTS["reference"]))


# ---- inference rows ------------------------------------------------------------------------

def _nets(which: str) -> tuple[torch.nn.Module | None, torch.nn.Module | None]:
    """(deblurrer, translator) with random weights, for `which` in translator | nafnet32 |
    nafnet64 | both | shipped (the shipped deblurrer's architecture, preset `shipped`) |
    small+shipped (cpu-small's translator, then the shipped deblurrer: the default pipeline)."""
    torch.manual_seed(0)
    if which in ("shipped", "small+shipped"):
        small = make_config(TranslatorConfig, "cpu-small")
        tra = build_network(small.net, **small.net_kwargs()) if which == "small+shipped" else None
        return build_network("nafnet", **make_config(DeblurrerConfig, "shipped").net_kwargs()), tra
    tra = build_network("mimo_unet", **MIMO) if which in ("translator", "both") else None
    width = 64 if which == "nafnet64" else 32
    deb = build_network("nafnet", width=width, **NAFNET) if which != "translator" else None
    return deb, tra


def reference_forward(deb, tra, device):
    """The pre-change inference path: float32, NCHW, no_grad, pad to 16 and crop back."""
    deb = deb.to(device).eval() if deb is not None else None
    tra = tra.to(device).eval() if tra is not None else None

    @torch.no_grad()
    def forward(y: torch.Tensor) -> torch.Tensor:
        h, w = y.shape[-2:]
        x = pad_to_multiple(y, 16)
        outs = []
        if tra is not None:
            x = tra(x)[-1].clamp(0, 1)
            outs.append(x[..., :h, :w])
        if deb is not None:
            outs.append(deb(x).clamp(0, 1)[..., :h, :w])
        return torch.cat(outs, dim=1)

    return forward


def inference(device, which: str, h: int, w: int, ensemble: int = 1):
    """`ensemble` > 1: the pipeline's self-ensemble (that many deblurrer views; no `reference` variant)."""
    tiled = h * w > TILE * TILE

    def build(variant: dict):
        deb, tra = _nets(which)
        y = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(1)).to(device)
        if variant["amp"] == "none" and not variant["channels_last"]:
            fwd = reference_forward(deb, tra, device)
            if tiled:
                return lambda: run_tiled(fwd, y, TILE, OVERLAP)
            return lambda: fwd(y)
        variant = dict(variant)
        compile_ = variant.pop("compile", False)
        pipe = DeblurPipeline(deb, tra, device=device, tile=TILE if tiled else 0, tile_overlap=OVERLAP,
                              ensemble=ensemble, **variant)
        for net in (pipe.translator, pipe.deblurrer):
            if compile_ and net is not None:
                net.compile()
        return lambda: pipe.run_tensor(y)

    def flops() -> float:
        # Convolution FLOPs are linear in the pixels processed: count on 256x256, then scale.
        deb, tra = _nets(which)
        x = torch.rand(1, 3, 256, 256, device=device)
        per_256 = sum(n * count_flops(lambda: reference_forward(*nets, device)(x))
                      for n, nets in ((ensemble, (deb, None)), (1, (None, tra))) if any(m is not None for m in nets))
        if tiled:
            from blur2blur.infer.tiling import fit_tile, tile_origins

            th, tw = fit_tile(h, TILE, OVERLAP, 16), fit_tile(w, TILE, OVERLAP, 16)
            pixels = len(tile_origins(h, th, OVERLAP)) * len(tile_origins(w, tw, OVERLAP)) * th * tw
        else:
            pixels = (-(-h // 16) * 16) * (-(-w // 16) * 16)
        return per_256 * pixels / (256 * 256)

    return build, flops


def works(device, args) -> list[Work]:
    rows: list[Work] = []
    for crop, batch in ((128, 1), (256, 1), (128, 4), (256, 4)):
        b, f = translator_step(device, "official", crop, batch)
        rows.append(Work(f"translator train step, official, {crop} px, batch {batch}", "it", b, f))
    small = make_config(TranslatorConfig, "cpu-small")
    b, f = translator_step(device, "cpu-small", small.crop, small.batch)
    rows.append(Work(f"translator train step, cpu-small, {small.crop} px, batch {small.batch}", "it", b, f))
    small = make_config(DeblurrerConfig, "cpu-small")
    b, f = deblurrer_step(device, "cpu-small")
    rows.append(Work(f"deblurrer train step, cpu-small, {small.crop} px, batch {small.batch}", "it", b, f))
    b, f = deblurrer_step(device, "official", 256, args.nafnet_batch)
    rows.append(Work(f"deblurrer train step, official NAFNet-32, 256 px, batch {args.nafnet_batch}",
                     "it", b, f))
    sizes = [(256, 256, 3)] if args.quick else [(256, 256, 3), (720, 1280, 2), (3000, 4000, 1)]
    names = {"translator": "translator (MIMO-UNet)", "nafnet32": "NAFNet width 32",
             "nafnet64": "NAFNet width 64", "both": "translator + NAFNet-32",
             "shipped": "shipped deblurrer (NAFNet-32, enc [1,1,1,4])",
             "small+shipped": "cpu-small translator + shipped deblurrer"}
    for h, w, rounds in sizes:
        for which, label in names.items():
            if h == 3000 and which not in ("both", "small+shipped") and not args.full:
                continue  # (each of these takes minutes per variant; --full runs them)
            b, f = inference(device, which, h, w)
            variants = tuple(VARIANTS) if (h < 3000 or args.full) else tuple(v for v in VARIANTS if v != "reference")
            tiled = " (tiled)" if h * w > TILE * TILE else ""
            rows.append(Work(f"inference {label}, {w}x{h}{tiled}", "img", b, f, rounds=rounds,
                             variants=variants))
    if not args.quick:
        b, f = inference(device, "small+shipped", 720, 1280, ensemble=4)
        rows.append(Work("inference cpu-small translator + shipped deblurrer, self-ensemble of 4 views, 1280x720",
                         "img", b, f, rounds=2, variants=("float32", "amp=auto")))
    if not args.quick and _has_onnxruntime():
        b, f = onnx_inference(720, 1280)
        rows.append(Work("inference translator + NAFNet-32, 1280x720, exported ONNX run by onnxruntime (CPU)",
                         "img", b, f, rounds=2, variants=("float32",)))
    if not args.quick:
        b, f = video_deblur(device, 720, 1280, VIDEO_FRAMES)
        rows.append(Work(f"video deblur (blur2blur deblur), translator + NAFNet-32, {VIDEO_FRAMES} frames of "
                         "1280x720, decode + encode included", "frame", b, f, rounds=1,
                         variants=("float32", "amp=auto"), items=VIDEO_FRAMES))
        b, f = prepare_speed(1080, 1920, PREPARE_FRAMES)
        rows.append(Work(f"prepare (blur2blur prepare), two clips of {PREPARE_FRAMES} frames of 1920x1080 to "
                         "PNG, decode + score + write", "frame", b, f, rounds=1, variants=("float32",),
                         items=2 * PREPARE_FRAMES))
    if args.only:
        rows = [r for r in rows if any(word in r.name for word in args.only)]
    return rows


def _has_onnxruntime() -> bool:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def onnx_inference(h: int, w: int):
    """translator + NAFNet-32 exported with `blur2blur export` and run by onnxruntime."""
    import tempfile

    from blur2blur.infer.export import OnnxPipeline, export_pipeline
    from blur2blur.nets.weights import save_model

    folder = Path(tempfile.mkdtemp(prefix="b2b-speed-"))
    deb, tra = _nets("both")
    save_model(deb, folder / "deb", "nafnet", {"width": 32, **NAFNET})
    save_model(tra, folder / "tra", "mimo_unet", MIMO)
    path = export_pipeline(folder / "deb", folder / "m.onnx", folder / "tra")

    def build(variant: dict):
        pipe = OnnxPipeline(path, tile=0)
        y = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(1))
        return lambda: pipe.run_tensor(y)

    return build, inference(torch.device("cpu"), "both", h, w)[1]


VIDEO_FRAMES = 6
PREPARE_FRAMES = 24


def _pan_clip(path: Path, h: int, w: int, frames: int) -> Path:
    """A clip of a slow pan over a smooth random scene with grain (H.264)."""
    from blur2blur.video.io import VideoWriter

    gen = torch.Generator().manual_seed(2)
    base = F.interpolate(torch.rand(1, 3, h // 16, w // 16 + frames, generator=gen), size=(h, w + 16 * frames),
                         mode="bilinear")
    with VideoWriter(path, w, h, 30) as writer:
        for i in range(frames):
            view = base[0, :, :, 16 * i:16 * i + w] + 0.02 * torch.randn(3, h, w, generator=gen)
            writer.write(view.clamp(0, 1).permute(1, 2, 0).numpy())
    return path


def prepare_speed(h: int, w: int, frames: int):
    """`blur2blur prepare` of one blurry and one sharp clip of `frames` frames each (no GFLOP)."""
    import tempfile

    from blur2blur.video.prepare import PrepareOptions, prepare_dataset

    folder = Path(tempfile.mkdtemp(prefix="b2b-speed-"))
    (folder / "b").mkdir()
    (folder / "s").mkdir()
    _pan_clip(folder / "b" / "walk.mp4", h, w, frames)
    _pan_clip(folder / "s" / "desk.mp4", h, w, frames)
    known = folder / "known"
    for split in ("trainC", "trainD"):  # (a tiny known set: prepare links it)
        (known / split).mkdir(parents=True)
        from blur2blur.io import write_image

        write_image(known / split / "k.png", torch.rand(3, 32, 32))

    def build(variant: dict):
        opts = PrepareOptions(test_fraction=0, dedup=0)
        return lambda: prepare_dataset([folder / "b"], [folder / "s"], folder / "ds", known, opts,
                                       progress=False, overwrite=True)

    return build, lambda: 0.0


def video_deblur(device, h: int, w: int, frames: int):
    """`blur2blur deblur` on a clip of `frames` frames (decode, both networks, H.264 encode)."""
    import tempfile

    from blur2blur.video.deblur import deblur_video

    folder = Path(tempfile.mkdtemp(prefix="b2b-speed-"))
    clip = _pan_clip(folder / "clip.mp4", h, w, frames)

    def build(variant: dict):
        deb, tra = _nets("both")
        pipe = DeblurPipeline(deb, tra, device=device, tile=0, **variant)
        return lambda: deblur_video(pipe, clip, folder / "out.mp4", progress=False, overwrite=True, batch=1)

    def flops() -> float:
        per_frame = inference(device, "both", h, w)[1]()
        return per_frame * frames

    return build, flops


def measure(work: Work, device: torch.device) -> None:
    """Build every variant, warm each up once, then time interleaved rounds."""
    calls = {v: work.make(VARIANTS[v]) for v in work.variants}
    for v, call in calls.items():
        with PeakRSS(device) as peak:
            call()
        work.memory[v] = peak.mb
        work.times[v] = []
    for _ in range(work.rounds):
        for v, call in calls.items():
            _sync(device)
            t0 = time.perf_counter()
            call()
            _sync(device)
            work.times[v].append(time.perf_counter() - t0)
    del calls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--quick", action="store_true", help="training rows and 256x256 inference only")
    ap.add_argument("--full", action="store_true",
                    help="also every network and the reference at 4000x3000 (adds about an hour on 2 cores)")
    ap.add_argument("--only", nargs="+", help="rows whose name contains one of these words")
    ap.add_argument("--rounds", type=int, help="timed rounds of every row (default 3; 2 at 720p; 1 at 12 MP)")
    ap.add_argument("--nafnet-batch", type=int, default=4, help="batch of the official NAFNet row (default 4)")
    ap.add_argument("--compile", action="store_true",
                    help="add a variant: amp=auto with torch.compile of the trained / inferred networks "
                         "(its compile time falls in the untimed warm-up call)")
    ap.add_argument("--default-allocator", action="store_true",
                    help="leave the C allocator as the process found it (for comparison: by default the "
                         "benchmark sets it as the CLI does, blur2blur.perf.configure_allocator)")
    args = ap.parse_args()
    if args.compile:
        VARIANTS["amp=auto+compile"] = {"amp": "auto", "channels_last": True, "compile": True}
    threads = configure_threads()
    reuse = False if args.default_allocator else configure_allocator()
    device = pick_device(args.device)
    flags = cpu_flags()
    print(f"device {device.type}" + (f" ({torch.cuda.get_device_name()})" if device.type == "cuda" else ""),
          f"| CPU {cpu_name()} | flags: " + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in flags.items()),
          f"| torch {torch.__version__} | {threads} threads | "
          f"allocator: {'large blocks reused (configure_allocator)' if reuse else 'as found'} | amp=auto uses bfloat16: "
          f"{'yes' if resolve_amp('auto', device) else 'no'}", sep=" ")
    ceil32 = conv_ceiling(device, bf16=False)
    ceil16 = conv_ceiling(device, bf16=True)
    print(f"\nceiling (64-ch 3x3 conv, 256x256, channels-last): float32 {ceil32:.0f} GFLOP/s, "
          f"bfloat16 {ceil16:.0f} GFLOP/s (native bfloat16: {'yes' if native_bf16(device) else 'no'})\n")
    print("| work | variant | median s | range s | per s | peak extra MB | GFLOP | GFLOP/s | of ceiling | vs reference |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for work in works(device, args):
        work.variants = work.variants or tuple(VARIANTS)
        if args.rounds:
            work.rounds = args.rounds
        t0 = time.perf_counter()
        gflop = work.flops() / 1e9
        measure(work, device)
        ref = statistics.median(work.times["reference"]) if "reference" in work.times else None
        for v in work.variants:
            ts = work.times[v]
            med = statistics.median(ts)
            bf16 = resolve_amp(VARIANTS[v]["amp"], device)
            rate = gflop / med
            frac = rate / (ceil16 if bf16 else ceil32)
            speedup = f"{ref / med:.2f}x" if ref else "—"
            print(f"| {work.name} | {v} | {med:.3f} | {min(ts):.3f}-{max(ts):.3f} | {work.items / med:.3f} {work.unit} | "
                  + (f"{work.memory[v]:.0f} | {gflop:.0f} | {rate:.0f} | {100 * frac:.0f}% | {speedup} |" if gflop else
                     f"{work.memory[v]:.0f} | - | - | - | {speedup} |"), flush=True)
        print(f"  ({work.name}: {time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
