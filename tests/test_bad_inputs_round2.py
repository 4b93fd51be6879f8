"""The second reliability round (issue #23): 22 cases, each with its exit code, its message and no
file changed outside the ones asked for. Helpers and the shared fixture come from the first
round's catalogue (tests/test_bad_inputs.py)."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from blur2blur.io import write_image
from tests.conftest import smooth_photo
from tests.test_bad_inputs import TINY_DEB, expect, run, tree_hash, world  # noqa: F401  (world: a fixture)

TINY_T = ["base_channel=4", "num_res=1", "crop=16", "batch=2", "iters=1", "decay_start=1", "log_every=1",
          "save_every=1", "amp=none", "val_fraction=0", "swd_bank=0", "k_variants=1"]


def _sleeper(name: str = "blur2blur") -> subprocess.Popen:
    """A live process whose command line names `name` (a stand-in for another blur2blur command)."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", name])


def _layout(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for split, n in (("trainA", 4), ("trainB", 4), ("trainC", 3), ("trainD", 3)):
        for i in range(n):
            write_image(root / split / f"i{i}.png", smooth_photo(np.random.default_rng(i) if split in ("trainC", "trainD")
                                                                 else rng, 32, 40))
    return root


# 1. two deblur commands into one folder
def test_a_second_deblur_into_a_folder_in_use_is_refused(world, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    proc = _sleeper()
    try:
        (out / ".lock").write_text(json.dumps({"pid": proc.pid, "host": socket.gethostname()}))
        expect(["deblur", world / "photos", out, "--deblurrer", world / "ckpt" / "deb", "--no-progress"], capsys, 2,
               "another process", str(proc.pid), "writing into", inputs=[world / "photos"])
    finally:
        proc.kill()
    assert [p.name for p in out.iterdir()] == [".lock"]


# 16. a lock whose pid now belongs to another program
def test_a_lock_naming_an_unrelated_live_process_names_the_lock_to_delete(world, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    proc = _sleeper("some-other-tool")
    try:
        (out / ".lock").write_text(json.dumps({"pid": proc.pid, "host": socket.gethostname()}))
        expect(["deblur", world / "photos", out, "--deblurrer", world / "ckpt" / "deb", "--no-progress"], capsys, 2,
               "not blur2blur", str(out / ".lock"), "delete")
    finally:
        proc.kill()


# 2. --csv onto a file that is not ours (through a link)
def test_evaluate_does_not_replace_a_file_it_did_not_write(world, tmp_path, capsys):
    photo = tmp_path / "keep.png"
    write_image(photo, smooth_photo(np.random.default_rng(0), 16, 16))
    (tmp_path / "out.csv").symlink_to(photo)
    before = tree_hash(photo)
    ev = ["evaluate", world / "photos", world / "photos", "--no-lpips", "--no-progress"]
    expect(ev + ["--csv", tmp_path / "out.csv"], capsys, 2,
           "symbolic link", "--overwrite")
    (tmp_path / "notes.json").write_text("my notes")
    expect(ev + ["--json", tmp_path / "notes.json"], capsys, 2,
           "notes.json", "not a JSON file written by blur2blur")
    assert tree_hash(photo) == before and (tmp_path / "notes.json").read_text() == "my notes"
    # its own files are replaced
    expect(ev + ["--json", tmp_path / "r.json", "--csv", tmp_path / "r.csv"], capsys, 0)
    expect(ev + ["--json", tmp_path / "r.json", "--csv", tmp_path / "r.csv"], capsys, 0)


# 3. a crop larger than the images
def test_training_warns_when_the_crop_is_larger_than_the_images(world, tmp_path, capsys):
    with pytest.warns(UserWarning, match="smaller than the 200 px training crop.*24x24"):
        run(["train-deblurrer", "--data", world / "data", "--out", tmp_path / "run", "--device", "cpu",
             "--no-progress"] + [x for o in TINY_DEB + ["crop=200"] for x in ("--set", o)], capsys)


# 4. an empty profile
def test_an_empty_profile_is_refused(world, tmp_path, capsys):
    (tmp_path / "empty.yaml").write_text("")
    expect(["simulate", world / "photos", tmp_path / "out", "--profile", tmp_path / "empty.yaml"], capsys, 2,
           "empty.yaml", "is empty")
    assert not (tmp_path / "out").exists()


# 5. a refused train-translator writes nothing (not even K)
def test_a_refused_translator_run_writes_nothing(tmp_path, capsys):
    data = _layout(tmp_path / "data")
    out = tmp_path / "run"
    args = ["train-translator", "--data", data, "--out", out, "--device", "cpu", "--no-progress"]
    tiny = [x for o in TINY_T for x in ("--set", o)]
    expect(args + tiny + ["--resume", "--overwrite"], capsys, 2, "contradict")
    expect(args + tiny + ["--set", "lambda_rec=0.8", "--set", f"perc_weights={tmp_path / 'no.pth'}"], capsys, 2,
           "no.pth")
    expect(args + tiny + ["--set", "k_source=transfer", "--set", f"kernel_wizard={tmp_path / 'none'}"], capsys, 2,
           "none")
    assert not out.exists()
    # another run's folder: refused before K is written into it
    other = tmp_path / "other"
    expect(["train-deblurrer", "--data", data, "--out", other, "--device", "cpu", "--no-progress"]
           + [x for o in TINY_DEB for x in ("--set", o)], capsys, 0)
    before = tree_hash(other)
    expect(["train-translator", "--data", data, "--out", other, "--device", "cpu", "--no-progress"] + tiny, capsys, 2,
           "already holds")
    assert tree_hash(other) == before and not (other / "known_blur_set").exists()


# 6. a failed make-dataset leaves nothing
def test_a_failed_make_dataset_leaves_nothing_behind(tmp_path, capsys):
    photos = tmp_path / "photos"
    write_image(photos / "a.png", smooth_photo(np.random.default_rng(0), 64, 64))
    write_image(photos / "b.png", smooth_photo(np.random.default_rng(1), 64, 64))
    data = (photos / "b.png").read_bytes()
    (photos / "b.png").write_bytes(data[: len(data) // 2])  # (its header reads, its pixels do not)
    expect(["make-dataset", photos, tmp_path / "ds", "--tile", "16"], capsys, 2, "b.png", inputs=[photos])
    assert not (tmp_path / "ds").exists()
    (tmp_path / "ds2").mkdir()
    (tmp_path / "ds2" / "mine.txt").write_text("mine")
    expect(["make-dataset", photos, tmp_path / "ds2", "--tile", "16"], capsys, 2, "b.png")
    assert [p.name for p in (tmp_path / "ds2").iterdir()] == ["mine.txt"]


# 7. a half-configured torchrun environment
def test_world_size_without_rank_says_how_to_launch(world, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    for var in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    expect(["train-deblurrer", "--data", world / "data", "--out", tmp_path / "run", "--device", "cpu",
            "--no-progress"] + [x for o in TINY_DEB for x in ("--set", o)], capsys, 2, "RANK", "torchrun")


# 8, 12. profile fields of the wrong type
@pytest.mark.parametrize("field,value,said", [("colour_cast", "1.0", "colour_cast"), ("n_subframes", "many", "n_subframes"),
                                              ("response", "{type: gamma, gamma: [1, 2]}", "response.gamma"),
                                              ("exposure", "[0.1, 0.2]", "exposure"),
                                              ("noise", "{read_sigma: abc}", "noise.read_sigma")])
def test_profile_fields_of_the_wrong_type_are_named(world, tmp_path, capsys, field, value, said):
    (tmp_path / "p.yaml").write_text(f"name: p\ntype: trajectory\n{field}: {value}\n")
    expect(["simulate", world / "photos", tmp_path / "out", "--profile", tmp_path / "p.yaml"], capsys, 2,
           "p.yaml", said)


# 9. check-data on a file
def test_check_data_on_a_file_says_it_is_a_file(tmp_path, capsys):
    (tmp_path / "f.txt").write_text("x")
    code, text = run(["check-data", tmp_path / "f.txt"], capsys)
    assert code == 1 and "is a file" in text and "does not exist" not in text


# 10. a checkpoint JSON with a field of the wrong type
def test_a_checkpoint_field_of_the_wrong_type_is_named(world, tmp_path, capsys):
    for suffix in (".safetensors", ".json"):
        (tmp_path / f"deb{suffix}").write_bytes((world / "ckpt" / f"deb{suffix}").read_bytes())
    meta = json.loads((tmp_path / "deb.json").read_text())
    meta["kwargs"]["width"] = "wide"
    (tmp_path / "deb.json").write_text(json.dumps(meta))
    expect(["deblur", world / "photos", tmp_path / "out", "--deblurrer", tmp_path / "deb"], capsys, 2,
           "deb.json", "kwargs.width", "'wide'")


# 11. an unreadable checkpoint
def test_an_unreadable_checkpoint_says_permission_denied(world, tmp_path, capsys, monkeypatch):
    for suffix in (".safetensors", ".json"):
        (tmp_path / f"deb{suffix}").write_bytes((world / "ckpt" / f"deb{suffix}").read_bytes())
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False if str(p).endswith("deb.safetensors")
                        else real(p, mode, *a, **k))  # (as root every file is readable)
    code, text = run(["deblur", world / "photos", tmp_path / "out", "--deblurrer", tmp_path / "deb"], capsys)
    assert code == 1 and "permission denied" in text and "deb.safetensors" in text and "No such file" not in text


# 13. simulate --list-profiles alone
def test_list_profiles_needs_no_input(capsys):
    code, text = run(["simulate", "--list-profiles"], capsys)
    assert code == 0 and "known" in text and "unknown" in text


# 14. a full disk while a checkpoint is written
def test_a_full_disk_during_a_checkpoint_says_so(world, tmp_path, capsys, monkeypatch):
    import blur2blur.train.state as state

    def full(obj, f):
        raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 64 vs 0")

    monkeypatch.setattr(state.torch, "save", full)
    monkeypatch.setattr("shutil.disk_usage", lambda p: type("U", (), {"free": 0})())
    code, text = run(["train-deblurrer", "--data", world / "data", "--out", tmp_path / "run", "--device", "cpu",
                      "--no-progress"] + [x for o in TINY_DEB for x in ("--set", o)], capsys)
    assert code == 1 and "disk is full" in text and "state_00000001.pt" in text and ".b2b-" not in text


# 15. demo and bench accept --skip-bad
def test_demo_and_bench_accept_skip_bad():
    from blur2blur.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["demo", "--skip-bad"]).skip_bad
    assert parser.parse_args(["bench", "--skip-bad"]).skip_bad


# 17. noise estimation on too small photos
def test_too_small_sharp_images_for_the_noise_estimate_name_the_folder_and_the_fix(tmp_path):
    from blur2blur.known_blur.images import build_known_blur_set

    for i in range(2):
        write_image(tmp_path / "S" / f"s{i}.png", smooth_photo(np.random.default_rng(i), 16, 16))
    with pytest.raises(ValueError, match=r"S .*larger --tile"):
        build_known_blur_set(tmp_path / "S", tmp_path / "K", variants=1, progress=False, match_noise=True)


# 18. a file named like an option
def test_a_file_named_like_an_option_gets_a_hint(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_image(tmp_path / "-rf.png", smooth_photo(np.random.default_rng(0), 16, 16))
    code, text = run(["simulate", "-rf.png", "out"], capsys)
    assert code == 2 and "./-rf.png" in text and "--" in text


# 19. hidden image files
def test_no_images_found_mentions_hidden_files(world, tmp_path, capsys):
    write_image(tmp_path / "in" / "..png", smooth_photo(np.random.default_rng(0), 16, 16))
    expect(["deblur", tmp_path / "in", tmp_path / "out", "--deblurrer", world / "ckpt" / "deb"], capsys, 2,
           "hidden", "'..png'")


# 20. a file name that is not UTF-8 in the CSV
def test_csv_with_a_name_that_is_not_utf8(world, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    name = os.fsdecode(b"caf\xe9.png")
    write_image(folder / name, smooth_photo(np.random.default_rng(0), 16, 16))
    code, text = run(["evaluate", folder, folder, "--csv", tmp_path / "r.csv", "--no-lpips", "--no-progress"], capsys)
    assert code == 0, text
    assert "caf\\xe9" in (tmp_path / "r.csv").read_text(encoding="utf-8")


# 21. the real output named, and the real cause
def test_write_errors_name_the_output_and_the_cause(tmp_path):
    from blur2blur.outputs.files import atomic_write_text

    target = tmp_path / "ro" / "report.json"
    target.parent.mkdir()
    real = Path.write_text

    def readonly(self, *a, **k):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    Path.write_text = readonly
    try:
        with pytest.raises(OSError) as err:
            atomic_write_text(target, "x")
    finally:
        Path.write_text = real
    assert err.value.filename == str(target) and err.value.errno == errno.EROFS


def test_the_read_only_message_gives_the_right_advice(world, tmp_path, capsys, monkeypatch):
    import blur2blur.infer.pipeline as pipeline

    def readonly(path, *a, **k):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(pipeline, "write_image", readonly)
    code, text = run(["deblur", world / "photos", tmp_path / "out", "--deblurrer", world / "ckpt" / "deb",
                      "--no-progress"], capsys)
    assert code == 1 and "read-only" in text and "writable" in text and "free space" not in text


# 22. kernels deblur without progress bars still says what it does
def test_blind_deblur_prints_its_stages_without_progress_bars(capsys):
    from blur2blur.kernel_space.blind import blind_deblur
    from blur2blur.nets import build_network

    wizard = build_network("kernel_wizard", nf=8, front_RBs=1, back_RBs=1, kernel_dim=16, recon_nf=8)
    blind_deblur(torch.rand(1, 3, 32, 32), wizard, iters=5, warmup_x=2, warmup_k=2, progress=False)
    out = capsys.readouterr().out
    assert "warming up" in out and "iteration" in out and "done" in out
