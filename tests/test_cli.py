"""The command line: each command parses and calls the library; errors are messages, not tracebacks."""

import json

import numpy as np
import pytest

from blur2blur.cli import main
from blur2blur.io import list_images, read_image, write_image
from blur2blur.simulate import make_dataset


@pytest.fixture
def dataset(tmp_path, photo_dir):
    root = tmp_path / "data"
    make_dataset(photo_dir, root, "known", "unknown", tile=32, seed=0, progress=False)
    return root


def test_check_data_ok_and_broken(dataset, capsys):
    assert main(["check-data", str(dataset), "--crop", "32"]) == 0
    capsys.readouterr()
    (dataset / "trainC" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    assert main(["check-data", str(dataset), "--crop", "32"]) == 1
    out = capsys.readouterr().out
    assert "broken.png" in out


def test_check_data_missing_root(tmp_path, capsys):
    assert main(["check-data", str(tmp_path / "nope")]) != 0
    assert "nope" in capsys.readouterr().out + capsys.readouterr().err


def test_simulate_and_profiles(tmp_path, photo_dir, capsys):
    assert main(["simulate", "--list-profiles", str(photo_dir), str(tmp_path / "o")]) == 0
    assert "unknown" in capsys.readouterr().out
    assert main(["simulate", str(photo_dir), str(tmp_path / "sim"), "--profile", "unknown"]) == 0
    assert len(list_images(tmp_path / "sim")) == len(list_images(photo_dir))


def test_evaluate_prints_both_ssim_conventions(tmp_path, capsys):
    rng = np.random.default_rng(0)
    gt = rng.uniform(0, 1, (24, 24, 3)).astype(np.float32)
    write_image(tmp_path / "gt" / "a.png", gt)
    write_image(tmp_path / "pred" / "a.png", np.clip(gt + 0.05, 0, 1))
    assert main(["evaluate", str(tmp_path / "pred"), str(tmp_path / "gt"), "--json",
                 str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "matlab3d" in out and "channelwise" in out and "PSNR" in out
    assert json.loads((tmp_path / "r.json").read_text())["count"] == 1


def test_train_and_deblur_commands(dataset, tmp_path, capsys):
    tiny = ["--set", "width=8", "--set", "enc_blk_nums=[1]", "--set", "dec_blk_nums=[1]",
            "--set", "crop=32", "--set", "batch=2", "--set", "iters=2", "--no-progress"]
    assert main(["train-deblurrer", "--data", str(dataset), "--out", str(tmp_path / "deb")] + tiny) == 0
    tiny_t = ["--set", "base_channel=8", "--set", "num_res=1", "--set", "ndf=8", "--set", "crop=32",
              "--set", "batch=2", "--set", "iters=2", "--set", "decay_start=1",
              "--set", "perc_weights=random", "--set", "k_variants=1", "--no-progress"]
    with pytest.warns(UserWarning):
        assert main(["train-translator", "--data", str(dataset), "--out", str(tmp_path / "tra")] + tiny_t) == 0
    assert list_images(tmp_path / "tra" / "known_blur_set")
    assert main(["deblur", str(dataset / "testA"), str(tmp_path / "out"), "--deblurrer",
                 str(tmp_path / "deb" / "deblurrer"), "--translator", str(tmp_path / "tra" / "translator"),
                 "--save-translated", "--device", "cpu"]) == 0
    outs = list_images(tmp_path / "out")
    ins = list_images(dataset / "testA")
    assert [p.stem for p in outs] == [p.stem for p in ins]
    assert read_image(outs[0]).shape == read_image(ins[0]).shape


def test_bad_override_is_a_message(dataset, tmp_path, capsys):
    code = main(["train-deblurrer", "--data", str(dataset), "--out", str(tmp_path / "d"),
                 "--set", "nonsense=1"])
    assert code == 2
    assert "nonsense" in capsys.readouterr().err


def test_kernels_train_transfer_and_translator_k_sources(dataset, tmp_path, capsys):
    tiny_k = ["--set", "nf=8", "--set", "front_RBs=1", "--set", "back_RBs=1", "--set", "kernel_dim=16",
              "--set", "recon_nf=8", "--set", "crop=32", "--set", "batch=2", "--set", "iters=2",
              "--no-progress"]
    assert main(["kernels", "train", "--data", str(dataset), "--out", str(tmp_path / "k")] + tiny_k) == 0
    wizard = str(tmp_path / "k" / "kernel_wizard")
    assert main(["kernels", "transfer", "--wizard", wizard, "--data", str(dataset), "--out",
                 str(tmp_path / "K"), "--variants", "2", "--device", "cpu", "--no-progress"]) == 0
    n_sharp = len(list_images(dataset / "trainB"))
    assert len(list_images(tmp_path / "K")) == 2 * n_sharp
    assert (tmp_path / "K" / "manifest.json").is_file()
    tiny_t = ["--set", "base_channel=8", "--set", "num_res=1", "--set", "ndf=8", "--set", "crop=32",
              "--set", "batch=2", "--set", "iters=1", "--set", "decay_start=1",
              "--set", "perc_weights=random", "--set", "k_variants=1", "--no-progress",
              "--set", f"kernel_wizard={wizard}"]
    for source in ("transfer", "online"):
        with pytest.warns(UserWarning):
            assert main(["train-translator", "--data", str(dataset), "--out", str(tmp_path / source),
                         "--set", f"k_source={source}"] + tiny_t) == 0
    assert json.loads((tmp_path / "transfer" / "known_blur_set" / "manifest.json").read_text())
    assert not (tmp_path / "online" / "known_blur_set").exists()
    # Without a kernel network the bkse sources explain what is missing.
    code = main(["train-translator", "--data", str(dataset), "--out", str(tmp_path / "x"),
                 "--set", "k_source=online"] + tiny_t[:-2])
    assert code == 2 and "kernels train" in capsys.readouterr().err
