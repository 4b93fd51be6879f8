"""Never lose work, scale out: kill-and-resume equality, NaN guard, 2-process equality."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from blur2blur.io import write_image
from blur2blur.nets.weights import load_model
from blur2blur.train.config import TranslatorConfig
from blur2blur.train.distributed import DistInfo
from blur2blur.train.loop import Recipe, run_training
from blur2blur.train.presets import make_config
from blur2blur.train.state import atomic_torch_save, load_latest_state, save_state, state_files
from blur2blur.train.translator import train_translator
from tests.conftest import smooth_photo

ROOT = Path(__file__).resolve().parents[1]
TINY = ["base_channel=8", "num_res=1", "ndf=8", "n_layers=2", "crop=32", "perc_weights=random",
        "log_every=1", "lambda_gp=0.5", "gan_mode=hinge", "vflip=0.5", "rot90=0.5",
        # the adversarial recipe: its losses split over processes exactly (the patch-statistics
        # term of cpu-small is computed per process; docs/training.md)
        "out_kernel=0", "lambda_gan=1", "lambda_swd=0", "lambda_rec=0.8"]


@pytest.fixture
def sets(tmp_path):
    rng = np.random.default_rng(0)
    dirs = tmp_path / "data" / "trainA", tmp_path / "K"
    for d in dirs:
        for i in range(5):
            write_image(d / f"{d.name}{i}.png", smooth_photo(rng, 40, 48))
    return dirs


def _weights(stem):
    return {k: v.clone() for k, v in load_model(stem).state_dict().items()}


def _cli(args, **kw):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "blur2blur"] + args, env=env, cwd=ROOT, **kw)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_sigkill_then_resume_equals_uninterrupted(sets, tmp_path):
    b, k = sets
    # (with the weight average on, so that it too must survive the kill)
    overrides = TINY + ["batch=2", "iters=40", "decay_start=20", "save_every=3", "ema_decay=0.9"]
    torch.set_num_threads(1)
    try:
        cfg = make_config(TranslatorConfig, "cpu-small", overrides)
        ref = train_translator(b, k, tmp_path / "ref", cfg, device="cpu", progress=False)
        expected = _weights(ref)
        expected_raw = _weights(tmp_path / "ref" / "translator_raw")

        # The same run in a subprocess, killed with SIGKILL as soon as a checkpoint exists.
        run = tmp_path / "killed"
        data = b.parent
        proc = _cli(["train-translator", "--data", str(data), "--known-set", str(k), "--out", str(run),
                     "--device", "cpu", "--no-progress"] + [x for o in overrides for x in ("--set", o)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while not state_files(run / "checkpoints") and proc.poll() is None and time.time() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        saved = load_latest_state(run / "checkpoints")
        assert saved is not None and saved["iteration"] < 40, "the run was not interrupted"

        resumed = train_translator(b, k, run, cfg, device="cpu", progress=False, resume=True)
        got = _weights(resumed)
        got_raw = _weights(run / "translator_raw")
    finally:
        torch.set_num_threads(2)
    assert got.keys() == expected.keys()
    for key in expected:
        assert torch.equal(got[key], expected[key]), key
        assert torch.equal(got_raw[key], expected_raw[key]), key


def test_a_torn_checkpoint_falls_back_to_the_previous_one(tmp_path):
    save_state(tmp_path, 2, {"x": torch.ones(1)})
    save_state(tmp_path, 4, {"x": torch.full((1,), 4.0)})
    (tmp_path / "state_00000004.pt").write_bytes(b"torn")  # as if the disk lost the tail
    with pytest.warns(RuntimeWarning, match="state_00000004"):
        state = load_latest_state(tmp_path)
    assert state["iteration"] == 2


def test_atomic_save_leaves_the_old_file_when_the_write_fails(tmp_path):
    target = tmp_path / "state.pt"
    atomic_torch_save({"v": 1}, target)

    class Boom:
        def __reduce__(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_torch_save({"v": Boom()}, target)
    assert torch.load(target, weights_only=True) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]


class _Counting(Recipe):
    """A recipe whose loss turns NaN at a chosen iteration."""

    name = "toy"

    def __init__(self, nan_at):
        self.w = torch.nn.Linear(1, 1)
        self.opt = torch.optim.SGD(self.w.parameters(), lr=0.1)
        self.nan_at = nan_at

    def networks(self):
        return {"w": self.w}

    def optimizers(self):
        return {"w": self.opt}

    def start(self, iteration):
        pass

    def step(self, iteration):
        loss = self.w(torch.ones(1, 1)).pow(2).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return {"loss": float("nan") if iteration == self.nan_at else loss.item()}

    def export(self, out_dir, iteration):
        return Path(out_dir) / "toy"


def test_nan_guard_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    cfg = make_config(TranslatorConfig, "cpu-small", ["iters=10", "save_every=2", "log_every=1"])
    with pytest.raises(FloatingPointError, match=r"non-finite at iteration 6.*state_00000004"):
        run_training(_Counting(nan_at=5), cfg, tmp_path, None, DistInfo(), progress=False)
    assert [p.name for p in state_files(tmp_path / "checkpoints")] == ["state_00000002.pt",
                                                                        "state_00000004.pt"]
    assert load_latest_state(tmp_path / "checkpoints")["iteration"] == 4


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_two_processes_equal_one_with_the_same_global_batch(sets, tmp_path):
    b, k = sets
    # Adam turns float-rounding noise in near-zero gradients (e.g. conv biases before an
    # InstanceNorm, whose true gradient is 0) into full +-lr steps, and the L1 perceptual loss of
    # a near-identity T has a gradient sign set by rounding noise; a larger eps, no perceptual
    # term and float32 keep the comparison about the gradients, which must match, not about
    # rounding noise.
    overrides = TINY + ["batch=2", "iters=3", "decay_start=2", "save_every=3", "adam_eps=1e-4",
                        "lambda_rec=0", "amp=none"]
    torch.set_num_threads(1)
    try:
        cfg = make_config(TranslatorConfig, "cpu-small", overrides)
        single = _weights(train_translator(b, k, tmp_path / "one", cfg, device="cpu", progress=False))
    finally:
        torch.set_num_threads(2)
    data = b.parent
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "blur2blur", "train-translator", "--data", str(data), "--known-set", str(k),
           "--out", str(tmp_path / "two"), "--device", "cpu", "--no-progress"]
    cmd += [x for o in overrides for x in ("--set", o)]
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    double = _weights(tmp_path / "two" / "translator")
    for key in single:
        assert torch.allclose(single[key], double[key], rtol=1e-5, atol=1e-7), key
