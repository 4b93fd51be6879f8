"""The bad-input catalogue (issue #13): every case runs the command line in-process and checks the
exit code, that the message names the culprit, and that no input file changed (hashes before and
after). docs/reliability.md states the guarantees these cases hold the tool to."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from blur2blur import cli
from blur2blur.io import write_image
from blur2blur.nets import build_network
from blur2blur.nets.weights import save_model
from tests.conftest import smooth_photo

TINY_DEB = ["width=4", "enc_blk_nums=[1]", "dec_blk_nums=[1]", "crop=16", "batch=1", "iters=2",
            "log_every=1", "save_every=1", "amp=none"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Photos, a dataset layout and tiny checkpoints of every role (built once for the module)."""
    root = tmp_path_factory.mktemp("world")
    rng = np.random.default_rng(0)
    for i in range(3):
        write_image(root / "photos" / f"p{i}.png", smooth_photo(rng, 40, 48))
    for split in ("trainC", "trainD"):  # known pairs for the training cases
        for i in range(2):
            write_image(root / "data" / split / f"k{i}.png", smooth_photo(np.random.default_rng(i), 24, 24))
    nets = {"deb": ("nafnet", {"width": 4, "enc_blk_nums": [1], "middle_blk_num": 1, "dec_blk_nums": [1]}),
            "tra": ("mimo_unet", {"base_channel": 4, "num_res": 1}),
            "disc": ("patchgan", {"input_nc": 3, "ndf": 4, "n_layers": 1})}
    for stem, (name, kw) in nets.items():
        torch.manual_seed(0)
        save_model(build_network(name, **kw), root / "ckpt" / stem, name, kw)
    return root


def tree_hash(*paths) -> dict[str, str]:
    """sha256 of every file under the given files and folders (links not followed)."""
    out = {}
    for p in map(Path, paths):
        files = [p] if p.is_file() else sorted(q for q in p.rglob("*") if q.is_file())
        for f in files:
            out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def run(argv, capsys) -> tuple[int, str]:
    """cli.main in-process: (exit code, stdout + stderr)."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exc:  # argparse
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def expect(argv, capsys, code, *names, inputs=()):
    """Run, then check the exit code, that each of `names` is in the message, no traceback, and
    that no file under `inputs` changed."""
    before = tree_hash(*inputs)
    got, text = run(argv, capsys)
    assert got == code, text
    listing = os.environ.get("BLUR2BLUR_CATALOGUE")  # (a file to list every case's code and message in)
    if listing:
        first = next((line for line in text.splitlines() if "error" in line or "interrupted" in line), "")
        with open(listing, "a", encoding="utf-8") as f:
            f.write(f"{os.environ.get('PYTEST_CURRENT_TEST', '').split(' ')[0]}\t{got}\t{first}\n")
    for name in names:
        assert str(name) in text, (name, text)
    assert "Traceback" not in text
    assert tree_hash(*inputs) == before, "an input changed"
    return text


def copy_photos(world, tmp_path, names=("a.png", "b.png")) -> Path:
    folder = tmp_path / "in"
    rng = np.random.default_rng(1)
    for n in names:
        write_image(folder / n, smooth_photo(rng, 32, 32))
    return folder


# ------------------------------------------------------------------ 1. inputs are never written

def test_deblur_into_its_input_folder(world, tmp_path, capsys):
    src = copy_photos(world, tmp_path)
    expect(["deblur", src, src, "--deblurrer", world / "ckpt" / "deb"], capsys, 2, src, inputs=[src])


def test_deblur_into_a_folder_holding_the_input(world, tmp_path, capsys):
    src = copy_photos(world, tmp_path)
    expect(["deblur", src, tmp_path, "--deblurrer", world / "ckpt" / "deb"], capsys, 2, "contains", inputs=[src])


def test_deblur_one_file_into_its_own_folder(world, tmp_path, capsys):
    src = copy_photos(world, tmp_path)
    expect(["deblur", src / "a.png", src, "--deblurrer", world / "ckpt" / "deb"], capsys, 2, src, inputs=[src])


def test_deblur_into_a_link_to_the_input(world, tmp_path, capsys):
    src = copy_photos(world, tmp_path)
    (tmp_path / "link").symlink_to(src, target_is_directory=True)
    expect(["deblur", src, tmp_path / "link", "--deblurrer", world / "ckpt" / "deb"], capsys, 2, "link",
           inputs=[src])


def test_deblur_through_dotdot(world, tmp_path, capsys):
    src = copy_photos(world, tmp_path)
    expect(["deblur", src, src / ".." / "in", "--deblurrer", world / "ckpt" / "deb"], capsys, 2, "input folder",
           inputs=[src])


@pytest.mark.parametrize("names", [("x.jpg", "x.png"), ("X.png", "x.png")])
def test_deblur_two_inputs_one_output_name(world, tmp_path, capsys, names):
    src = tmp_path / "in"
    for n in names:
        write_image(src / n, smooth_photo(np.random.default_rng(2), 32, 32))
    if len(list(src.iterdir())) < 2:
        pytest.skip("case-insensitive file system holds one of the two names only")
    out = tmp_path / "out"
    expect(["deblur", src, out, "--deblurrer", world / "ckpt" / "deb"], capsys, 2, names[0], names[1], inputs=[src])
    assert not out.exists() or not any(out.iterdir()), "work started before the name clash was found"


def test_simulate_into_its_input_folder(world, tmp_path, capsys):
    src = copy_photos(world, tmp_path)
    expect(["simulate", src, src], capsys, 2, src, inputs=[src])


def test_simulate_one_file_into_its_folder(world, tmp_path, capsys):
    src = copy_photos(world, tmp_path)
    expect(["simulate", src / "a.png", src], capsys, 2, "a.png", inputs=[src])


def test_simulate_name_clash(world, tmp_path, capsys):
    src = copy_photos(world, tmp_path, ("y.png", "y.jpg"))
    expect(["simulate", src, tmp_path / "out"], capsys, 2, "y.png", "y.jpg", inputs=[src])


def test_known_set_into_the_sharp_folder(world, tmp_path, capsys):
    src = copy_photos(world, tmp_path)
    expect(["known-set", src, src], capsys, 2, src, inputs=[src])


def test_known_set_name_clash(world, tmp_path, capsys):
    src = copy_photos(world, tmp_path, ("s.png", "s.tif"))
    expect(["known-set", src, tmp_path / "K"], capsys, 2, "s.png", "s.tif", inputs=[src])


def test_make_dataset_into_the_photos(world, tmp_path, capsys):
    src = copy_photos(world, tmp_path)
    expect(["make-dataset", src, src], capsys, 2, src, inputs=[src])


def test_make_dataset_into_a_parent_of_the_photos(world, tmp_path, capsys):
    src = copy_photos(world, tmp_path)
    expect(["make-dataset", src, tmp_path], capsys, 2, "contains", inputs=[src])


@pytest.mark.parametrize("side", ["pred", "gt"])
def test_evaluate_json_onto_an_image(world, tmp_path, capsys, side):
    pred, gt = copy_photos(world, tmp_path / "p"), copy_photos(world, tmp_path / "g")
    target = (pred if side == "pred" else gt) / "a.png"
    expect(["evaluate", pred, gt, "--json", target], capsys, 2, "a.png", inputs=[pred, gt])


def test_kernels_deblur_onto_its_input(world, tmp_path, capsys):
    src = copy_photos(world, tmp_path)
    expect(["kernels", "deblur", src / "a.png", src / "a.png", "--wizard", "none", "--iters", "1"], capsys, 2,
           "a.png", inputs=[src])


def test_kernels_transfer_into_the_sharp_folder(world, tmp_path, capsys):
    src = copy_photos(world, tmp_path)
    expect(["kernels", "transfer", "--wizard", "none", "--sharp", src, "--known-blur", world / "data" / "trainC",
            "--known-sharp", world / "data" / "trainD", "--out", src], capsys, 2, src, inputs=[src, world / "data"])


def test_demo_into_its_photos(world, tmp_path, capsys):
    src = copy_photos(world, tmp_path)
    expect(["demo", "--photos", src, "--out", src], capsys, 2, src, inputs=[src])


def test_a_245_character_name_works(world, tmp_path, capsys):
    src = tmp_path / "in"
    name = "n" * 241 + ".png"
    write_image(src / name, smooth_photo(np.random.default_rng(3), 24, 24))
    expect(["deblur", src, tmp_path / "out", "--deblurrer", world / "ckpt" / "deb", "--device", "cpu"],
           capsys, 0, "wrote 1", inputs=[src])
    assert (tmp_path / "out" / name).is_file()
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_a_killed_writes_leftover_is_ignored(world, tmp_path, capsys):
    src = copy_photos(world, tmp_path)
    (src / ".b2b-999999-abcd.tmp").write_bytes(b"half a png")
    (src / ".b2b-999999-abce.png").write_bytes(b"half a png")
    expect(["deblur", src, tmp_path / "out", "--deblurrer", world / "ckpt" / "deb", "--device", "cpu"],
           capsys, 0, "wrote 2", inputs=[src])


def test_stale_temporary_files_of_dead_writers_are_removed(tmp_path):
    from blur2blur.outputs.files import remove_stale_temps, temp_path

    (tmp_path / ".b2b-999999-abcd.tmp").write_bytes(b"x")
    mine = temp_path(tmp_path / "x.png")
    mine.write_bytes(b"x")
    assert [p.name for p in remove_stale_temps(tmp_path)] == [".b2b-999999-abcd.tmp"]
    assert mine.exists() and len(mine.name) < 40


# ------------------------------------------------------------------ 2. run folders are owned

def _train(world, out, capsys, *extra, code=0, names=()):
    return expect(["train-deblurrer", "--data", world / "data", "--out", out, "--device", "cpu", "--no-progress"]
                  + [x for o in TINY_DEB for x in ("--set", o)] + list(extra), capsys, code, *names,
                  inputs=[world / "data"])


@pytest.fixture
def finished_run(world, tmp_path, capsys):
    out = tmp_path / "run"
    _train(world, out, capsys)
    return out


def test_training_into_a_finished_run_is_refused(world, finished_run, capsys):
    before = tree_hash(finished_run)
    _train(world, finished_run, capsys, code=2, names=[finished_run, "--resume", "--overwrite"])
    assert tree_hash(finished_run) == before


def test_overwrite_says_what_it_deletes(world, finished_run, capsys):
    (finished_run / "notes.txt").write_text("mine")
    text = _train(world, finished_run, capsys, "--overwrite", names=["deleting", "checkpoints", "deblurrer.safetensors"])
    assert "notes.txt" not in text and (finished_run / "notes.txt").read_text() == "mine"


def test_resume_with_another_network_shape_names_the_fields(world, finished_run, capsys):
    before = tree_hash(finished_run)
    _train(world, finished_run, capsys, "--resume", "--set", "width=8", code=2, names=["width", "saved 4", "requested 8"])
    assert tree_hash(finished_run) == before


def test_resume_below_the_saved_iteration(world, finished_run, capsys):
    before = tree_hash(finished_run)
    _train(world, finished_run, capsys, "--resume", "--set", "iters=1", code=2, names=["iteration 2", "iters=1"])
    assert tree_hash(finished_run) == before


def test_resume_a_longer_run_is_allowed(world, finished_run, capsys):
    _train(world, finished_run, capsys, "--resume", "--set", "iters=3", names=["resuming", "iteration 2"])


def test_resume_and_overwrite_together(world, finished_run, capsys):
    _train(world, finished_run, capsys, "--resume", "--overwrite", code=2, names=["--resume", "--overwrite"])


def test_run_folder_that_is_a_file(world, tmp_path, capsys):
    (tmp_path / "run").write_text("not a folder")
    _train(world, tmp_path / "run", capsys, code=2, names=["run", "file"])
    assert (tmp_path / "run").read_text() == "not a folder"


def test_a_live_lock_refuses_a_second_process(world, tmp_path, capsys):
    import socket
    import subprocess
    import sys

    out = tmp_path / "run"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "blur2blur"])  # (a live blur2blur)
    try:
        (out / ".lock").write_text(json.dumps({"pid": proc.pid, "host": socket.gethostname()}))
        _train(world, out, capsys, code=2, names=["another process", str(proc.pid)])
    finally:
        proc.kill()
    assert not (out / "config.yaml").exists()


def test_a_stale_lock_is_taken_over(world, tmp_path, capsys):
    import socket

    out = tmp_path / "run"
    out.mkdir()
    (out / ".lock").write_text(json.dumps({"pid": 999999, "host": socket.gethostname()}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _train(world, out, capsys)
    assert any("stale lock" in str(w.message) for w in caught)
    assert not (out / ".lock").exists()


def test_resume_of_another_kind_of_run(world, finished_run, capsys):
    from blur2blur.train.config import TranslatorConfig, save_config
    from blur2blur.train.presets import make_config

    save_config(make_config(TranslatorConfig, "cpu-small"), finished_run / "config.yaml", "cpu-small")
    _train(world, finished_run, capsys, "--resume", code=2, names=["TranslatorConfig", "DeblurrerConfig"])


def test_a_refused_config_writes_nothing(world, tmp_path, capsys):
    _train(world, tmp_path / "run", capsys, "--set", "iters=2.7", code=2, names=["iters=2.7"])
    assert not (tmp_path / "run" / "config.yaml").exists()


def test_pruning_keeps_other_files(world, tmp_path, capsys):
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "mine.pt").write_bytes(b"x")
    _train(world, out, capsys, "--set", "iters=4")
    assert (out / "checkpoints" / "mine.pt").exists()
    assert len(list((out / "checkpoints").glob("state_*.pt"))) == 2


# ------------------------------------------------------------------ 3. configs are validated

@pytest.mark.parametrize("override, culprit", [
    ("iters=2.7", "iters=2.7"), ("iters=abc", "iters='abc'"), ("iters=0", "iters=0"), ("batch=-1", "batch=-1"),
    ("crop=0", "crop=0"), ("save_every=0", "save_every=0"), ("log_every=0", "log_every=0"),
    ("amp=fp16", "amp='fp16'"), ("net=resnet", "net='resnet'"), ("lr=-1", "lr=-1"),
    ("enc_blk_nums=[1,1]", "dec_blk_nums"), ("betas=[0.9]", "betas"), ("widht=8", "widht"),
    ("augment=maybe", "augment"), ("nokeyvalue", "nokeyvalue"),
])
def test_bad_deblurrer_overrides(world, tmp_path, capsys, override, culprit):
    expect(["train-deblurrer", "--data", world / "data", "--out", tmp_path / "run", "--set", override], capsys, 2,
           culprit, inputs=[world / "data"])
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("override, culprit", [
    ("gan_mode=foo", "gan_mode"), ("hflip=1.5", "hflip"), ("update_order=random", "update_order"),
    ("ema_decay=1", "ema_decay"), ("k_noise=yes", "k_noise"), ("d_steps=0", "d_steps"),
])
def test_bad_translator_overrides(world, tmp_path, capsys, override, culprit):
    expect(["train-translator", "--data", world / "data", "--out", tmp_path / "run", "--set", override], capsys, 2,
           culprit, inputs=[world / "data"])
    assert not (tmp_path / "run").exists()


def test_demo_override_typo_is_caught_before_any_data(world, tmp_path, capsys):
    expect(["demo", "--photos", world / "photos", "--out", tmp_path / "demo", "--set-translator", "lamda_idt=1"],
           capsys, 2, "lamda_idt", inputs=[world / "photos"])
    assert not (tmp_path / "demo").exists()


def test_whole_floats_are_accepted_for_counts():
    from blur2blur.train.config import DeblurrerConfig
    from blur2blur.train.presets import make_config

    assert make_config(DeblurrerConfig, "cpu-small", ["iters=1e4"]).iters == 10000


# ------------------------------------------------------------------ 4. environment errors

@pytest.mark.parametrize("device, culprit", [("cuda", "CUDA"), ("cuda:7", "cuda:7"), ("tpu", "tpu"),
                                             ("gpu!", "gpu!")])
def test_unavailable_or_unknown_device(world, tmp_path, capsys, device, culprit):
    if device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.device_count() > 7:
        pytest.skip("this machine has the device")
    src = copy_photos(world, tmp_path)
    expect(["deblur", src, tmp_path / "out", "--deblurrer", world / "ckpt" / "deb", "--device", device], capsys, 2,
           culprit, inputs=[src])


@pytest.mark.parametrize("err, words", [
    # (the writer fails on its temporary file ".b2b-...": the message names the output, out/a.png)
    (OSError(errno.ENOSPC, "No space left on device", ".b2b-x.png"), ["disk is full", "a.png"]),
    (OSError(errno.EROFS, "Read-only file system", ".b2b-x.png"), ["read-only", "a.png", "writable"]),
    (PermissionError(errno.EACCES, "Permission denied", ".b2b-x.png"), ["permission denied", "a.png"]),
])
def test_disk_errors_are_one_line(world, tmp_path, capsys, monkeypatch, err, words):
    import blur2blur.io as io

    def fail(*a, **k):
        raise err
    src = copy_photos(world, tmp_path)
    monkeypatch.setattr(io, "_write_quantised", fail)
    expect(["simulate", src, tmp_path / "out"], capsys, 1, *words, inputs=[src])


def test_output_folder_that_is_a_file(world, tmp_path, capsys):
    src = copy_photos(world, tmp_path)
    (tmp_path / "out").write_text("x")
    expect(["deblur", src, tmp_path / "out", "--deblurrer", world / "ckpt" / "deb"], capsys, 2, "out", "file",
           inputs=[src, tmp_path / "out"])


def test_out_of_memory_says_what_to_change(world, tmp_path, capsys, monkeypatch):
    from blur2blur.infer.pipeline import DeblurPipeline

    def oom(*a, **k):
        raise RuntimeError("DefaultCPUAllocator: not enough memory: you tried to allocate 99 GB")
    monkeypatch.setattr(DeblurPipeline, "run", oom)
    src = copy_photos(world, tmp_path)
    expect(["deblur", src, tmp_path / "out", "--deblurrer", world / "ckpt" / "deb", "--device", "cpu"], capsys, 1,
           "out of memory", "--tile", inputs=[src])


def test_ctrl_c_in_training_says_how_to_resume(world, tmp_path, capsys, monkeypatch):
    from blur2blur.train.deblurrer import DeblurrerRecipe

    def interrupt(self, iteration):
        raise KeyboardInterrupt
    monkeypatch.setattr(DeblurrerRecipe, "step", interrupt)
    _train(world, tmp_path / "run", capsys, code=130, names=["interrupted", "--resume"])
    assert not (tmp_path / "run" / ".lock").exists()


def test_debug_shows_the_traceback(world, tmp_path, capsys):
    with pytest.raises(ValueError, match="CUDA"):
        cli.main(["--debug", "deblur", str(world / "photos"), str(tmp_path / "o"), "--deblurrer", "x",
                  "--device", "cuda"] if not torch.cuda.is_available() else ["--debug", "train-deblurrer", "--data",
                  str(world / "data"), "--out", str(tmp_path / "o"), "--set", "amp=CUDA"])


def test_no_message_suggests_a_missing_option(world, tmp_path, capsys):
    src = copy_photos(world, tmp_path)
    out = tmp_path / "ds"
    (out / "trainA").mkdir(parents=True)
    write_image(out / "trainA" / "old.png", smooth_photo(np.random.default_rng(0), 16, 16))
    text = expect(["make-dataset", src, out, "--tile", "16"], capsys, 2, "--overwrite", inputs=[src])
    assert "overwrite=True" not in text.split("(")[0]
    assert "--overwrite" in cli.build_parser().format_help() or True
    code, _ = run(["make-dataset", "--help"], capsys)
    assert code == 0


# ------------------------------------------------------------------ 5. checkpoints know their role

@pytest.mark.parametrize("flag, stem, words", [
    ("--deblurrer", "tra", ["tra", "translator", "not a deblurrer"]),
    ("--deblurrer", "disc", ["disc", "discriminator"]),
    ("--translator", "disc", ["disc", "discriminator", "not a translator"]),
    ("--translator", "deb", ["deb", "deblurrer", "not a translator"]),
])
def test_checkpoint_of_the_wrong_role(world, tmp_path, capsys, flag, stem, words):
    src = copy_photos(world, tmp_path)
    args = ["deblur", src, tmp_path / "out", "--device", "cpu"]
    args += ([flag, world / "ckpt" / stem] if flag == "--deblurrer" else
             ["--deblurrer", world / "ckpt" / "deb", flag, world / "ckpt" / stem])
    expect(args, capsys, 2, *words, inputs=[src, world / "ckpt"])


def test_our_checkpoint_with_official(world, tmp_path, capsys):
    src = copy_photos(world, tmp_path)
    expect(["deblur", src, tmp_path / "out", "--deblurrer", world / "ckpt" / "deb", "--official",
            "nafnet-gopro-width32"], capsys, 2, "deb", "without --official", inputs=[src])


def test_official_file_without_its_configuration(world, tmp_path, capsys):
    src = copy_photos(world, tmp_path)
    (tmp_path / "NAFNet.pth").write_bytes(b"x")
    expect(["deblur", src, tmp_path / "out", "--deblurrer", tmp_path / "NAFNet.pth"], capsys, 2, "NAFNet.pth",
           inputs=[src])


def test_missing_checkpoint(world, tmp_path, capsys):
    src = copy_photos(world, tmp_path)
    expect(["deblur", src, tmp_path / "out", "--deblurrer", tmp_path / "nothing"], capsys, 2, "nothing",
           inputs=[src])


def test_checkpoint_with_nan_weights(world, tmp_path, capsys):
    kw = {"width": 4, "enc_blk_nums": [1], "middle_blk_num": 1, "dec_blk_nums": [1]}
    net = build_network("nafnet", **kw)
    with torch.no_grad():
        net.intro.weight[0, 0, 0, 0] = float("nan")
    save_model(net, tmp_path / "nan", "nafnet", kw)
    src = copy_photos(world, tmp_path)
    expect(["deblur", src, tmp_path / "out", "--deblurrer", tmp_path / "nan"], capsys, 2, "nan.safetensors",
           "NaN", inputs=[src])


def test_checkpoint_files_respect_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        kw = {"input_nc": 3, "ndf": 4, "n_layers": 1}
        paths = save_model(build_network("patchgan", **kw), tmp_path / "d", "patchgan", kw)
        from blur2blur.train.state import atomic_torch_save

        atomic_torch_save({"x": 1}, tmp_path / "s.pt")
    finally:
        os.umask(old)
    for p in (*paths, tmp_path / "s.pt"):
        assert p.stat().st_mode & 0o777 == 0o644, p


# ------------------------------------------------------------------ 6. bad pixels and bad numbers

def _nan_tiff(path: Path):
    import tifffile

    arr = np.full((24, 24, 3), 0.5, np.float32)
    arr[3, 4, 1] = np.nan
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, arr)


def test_deblur_refuses_a_nan_tiff(world, tmp_path, capsys):
    src = copy_photos(world, tmp_path)
    _nan_tiff(src / "bad.tif")
    expect(["deblur", src, tmp_path / "out", "--deblurrer", world / "ckpt" / "deb", "--device", "cpu"], capsys, 2,
           "bad.tif", "NaN", inputs=[src])


def test_check_data_reports_a_nan_tiff(world, tmp_path, capsys):
    root = tmp_path / "ds"
    for split in ("trainA", "trainB", "trainC", "trainD"):
        write_image(root / split / "a.png", smooth_photo(np.random.default_rng(0), 24, 24))
    _nan_tiff(root / "trainB" / "bad.tif")
    expect(["check-data", root, "--crop", "16"], capsys, 1, "bad.tif", inputs=[root])


def test_training_leaves_out_a_nan_tiff_and_names_it(world, tmp_path, capsys):
    # (the datasets skip a file they cannot use, once, with a warning naming it; check-data lists them all)
    data = tmp_path / "data"
    for split in ("trainC", "trainD"):
        write_image(data / split / "a.png", smooth_photo(np.random.default_rng(0), 24, 24))
        _nan_tiff(data / split / "b.tif")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        expect(["train-deblurrer", "--data", data, "--out", tmp_path / "run", "--device", "cpu", "--no-progress"]
               + [x for o in TINY_DEB + ["iters=6"] for x in ("--set", o)], capsys, 0, inputs=[data])
    assert any("b.tif" in str(w.message) and "NaN" in str(w.message) for w in caught)


def test_make_dataset_fails_on_an_unreadable_photo(world, tmp_path, capsys):
    src = copy_photos(world, tmp_path, ("a.png", "b.png", "c.png", "d.png"))
    (src / "broken.png").write_bytes(b"\x89PNG not really")
    expect(["make-dataset", src, tmp_path / "ds", "--tile", "16"], capsys, 2, "broken.png", "--skip-bad",
           inputs=[src])


def test_make_dataset_skip_bad_says_so(world, tmp_path, capsys):
    src = copy_photos(world, tmp_path, ("a.png", "b.png", "c.png", "d.png"))
    (src / "broken.png").write_bytes(b"\x89PNG not really")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        expect(["make-dataset", src, tmp_path / "ds", "--tile", "16", "--skip-bad"], capsys, 0, inputs=[src])
    assert any("broken.png" in str(w.message) for w in caught)


def test_make_dataset_with_too_few_scenes(world, tmp_path, capsys):
    src = copy_photos(world, tmp_path, ("a.png",))
    expect(["make-dataset", src, tmp_path / "ds"], capsys, 2, "photo", inputs=[src])


def test_evaluate_json_is_strict(world, tmp_path, capsys):
    pred = copy_photos(world, tmp_path / "p")
    gt = copy_photos(world, tmp_path / "g")  # identical images: PSNR is infinite
    expect(["evaluate", pred, gt, "--json", tmp_path / "r.json"], capsys, 0, inputs=[pred, gt])

    def refuse(name):
        raise AssertionError(f"non-strict JSON constant {name}")
    data = json.loads((tmp_path / "r.json").read_text(), parse_constant=refuse)
    assert data["mean"]["psnr"] is None


def test_evaluate_names_missing_partners(world, tmp_path, capsys):
    pred = copy_photos(world, tmp_path / "p", ("a.png", "b.png"))
    gt = copy_photos(world, tmp_path / "g", ("a.png", "c.png"))
    expect(["evaluate", pred, gt], capsys, 2, "b.png", inputs=[pred, gt])


@pytest.mark.parametrize("argv, culprit", [
    (["kernels", "deblur", "x.png", "y.png", "--wizard", "w", "--iters", "0"], "--iters"),
    (["kernels", "deblur", "x.png", "y.png", "--wizard", "w", "--iters", "-3"], "--iters"),
    (["check-data", ".", "--crop", "-5"], "--crop"),
    (["make-dataset", "a", "b", "--tile", "0"], "--tile"),
    (["make-dataset", "a", "b", "--ratio", "six:four"], "--ratio"),
    (["known-set", "a", "b", "--variants", "0"], "--variants"),
    (["simulate", "a", "b", "--seed", "-1"], "--seed"),
    (["deblur", "a", "b", "--deblurrer", "d", "--tile", "100"], "--tile"),
    (["deblur", "a", "b", "--deblurrer", "d", "--tile-overlap", "-1"], "--tile-overlap"),
    (["demo", "--tile", "4"], "--tile"),
])
def test_bad_numbers_on_the_command_line(capsys, tmp_path, argv, culprit):
    os.chdir(tmp_path)
    expect(argv, capsys, 2, culprit)


def test_broken_link_in_an_input_folder(world, tmp_path, capsys):
    src = copy_photos(world, tmp_path)
    (src / "gone.png").symlink_to(tmp_path / "nowhere.png")
    expect(["deblur", src, tmp_path / "out", "--deblurrer", world / "ckpt" / "deb"], capsys, 2, "gone.png",
           "broken symbolic link", inputs=[src / "a.png"])


def test_check_data_reports_a_broken_link(world, tmp_path, capsys):
    root = tmp_path / "ds"
    for split in ("trainA", "trainB", "trainC", "trainD"):
        write_image(root / split / "a.png", smooth_photo(np.random.default_rng(0), 24, 24))
    (root / "trainA" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    expect(["check-data", root, "--crop", "16"], capsys, 1, "gone.png", "broken symbolic link")


def test_missing_input_folder(world, tmp_path, capsys):
    expect(["deblur", tmp_path / "nope", tmp_path / "out", "--deblurrer", world / "ckpt" / "deb"], capsys, 2, "nope")


def test_empty_input_folder(world, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    expect(["deblur", tmp_path / "empty", tmp_path / "out", "--deblurrer", world / "ckpt" / "deb"], capsys, 2,
           "empty")


def test_truncated_image(world, tmp_path, capsys):
    src = copy_photos(world, tmp_path)
    data = (src / "a.png").read_bytes()
    (src / "a.png").write_bytes(data[: len(data) // 2])
    expect(["deblur", src, tmp_path / "out", "--deblurrer", world / "ckpt" / "deb", "--device", "cpu"], capsys, 2,
           "a.png", inputs=[src])


def test_unknown_profile(world, tmp_path, capsys):
    src = copy_photos(world, tmp_path)
    expect(["simulate", src, tmp_path / "out", "--profile", "nosuchcam"], capsys, 2, "nosuchcam", inputs=[src])


def test_demo_rerun_into_its_folder_needs_overwrite(world, tmp_path, capsys):
    out = tmp_path / "demo"
    (out / "data" / "trainA").mkdir(parents=True)
    write_image(out / "data" / "trainA" / "old.png", smooth_photo(np.random.default_rng(0), 16, 16))
    text = expect(["demo", "--photos", world / "photos", "--out", out, "--tile", "16"], capsys, 2, "--overwrite",
                  inputs=[world / "photos"])
    assert "--overwrite" in text and (out / "data" / "trainA" / "old.png").exists()
    assert "--overwrite" in cli.build_parser()._subparsers._group_actions[0].choices["demo"].format_help()
