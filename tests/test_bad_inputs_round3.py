"""Reliability, third round (issue #29): what a command may delete or replace. Each case checks the
exit code, the message and that nothing else changed."""

import hashlib

import numpy as np

import pytest
import torch

from blur2blur.cli import main
from tests.test_video import _captures


def _tree(folder):
    """{relative path: sha256 or 'dir'} of everything under `folder`."""
    return {str(p.relative_to(folder)): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))}


def test_prepare_overwrite_deletes_only_what_prepare_wrote(tmp_path, photo_dir, capsys):
    blurry, sharp = _captures(tmp_path, photo_dir)
    user = tmp_path / "userfolder"
    (user / "sub").mkdir(parents=True)
    (user / "thesis.txt").write_text("four years")
    (user / "holiday.png").write_bytes(b"\x89PNG not really")
    (user / "sub" / "notes.md").write_text("keep me")
    before = _tree(user)
    args = ["prepare", "--blurry", str(blurry), "--sharp", str(sharp), "--out", str(user), "--no-progress"]
    assert main(args + ["--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "holds no dataset made by prepare" in err and "thesis.txt" in err
    assert _tree(user) == before  # nothing deleted, nothing written

    out = tmp_path / "ds"
    assert main(args[:-3] + ["--out", str(out), "--no-progress", "--every", "2"]) == 0
    (out / "my_notes.txt").write_text("the user's, beside the dataset")
    frames_before = {p.name for p in (out / "trainA").iterdir()}
    capsys.readouterr()
    assert main(args[:-3] + ["--out", str(out), "--no-progress", "--overwrite"]) == 0
    said = capsys.readouterr().out
    assert "--overwrite: removing the previous prepare output" in said and "trainA/" in said
    assert (out / "my_notes.txt").read_text() == "the user's, beside the dataset"
    assert {p.name for p in (out / "trainA").iterdir()} > frames_before  # (every frame now, not every 2nd)
    # a file of the user's inside a split folder: refused, nothing removed
    (out / "trainA" / "mine.png").write_bytes(b"x")
    before = _tree(out)
    assert main(args[:-3] + ["--out", str(out), "--no-progress", "--every", "3", "--overwrite"]) == 2
    assert "trainA/mine.png" in capsys.readouterr().err and _tree(out) == before


def test_export_never_replaces_an_input_or_an_existing_file_unasked(tmp_path, capsys):
    from blur2blur.nets import build_network
    from blur2blur.nets.weights import save_model

    kw = {"width": 8, "enc_blk_nums": [1], "middle_blk_num": 1, "dec_blk_nums": [1]}
    stem = tmp_path / "d" / "deblurrer"
    save_model(build_network("nafnet", **kw), stem, "nafnet", kw)
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "folder.onnx").mkdir()
    before = _tree(tmp_path)
    cases = [(str(stem) + ".safetensors", "onnx", "one of the input files"),
             (str(stem) + ".json", "onnx", "one of the input files"),
             (str(tmp_path / "notes.txt"), "onnx", "exists: give another output name, or --overwrite"),
             (str(tmp_path / "folder.onnx"), "onnx", "is a folder"),
             (str(tmp_path / "m.onnx"), "torchscript", "names an ONNX file but --format is torchscript")]
    for out, fmt, message in cases:
        assert main(["export", out, "--deblurrer", str(stem), "--format", fmt]) == 2, out
        assert message in capsys.readouterr().err, out
        assert _tree(tmp_path) == before
    # --overwrite replaces a file that is not an input (and still never an input)
    assert main(["export", str(tmp_path / "notes.txt"), "--deblurrer", str(stem), "--format", "torchscript",
                 "--overwrite"]) == 0
    assert (tmp_path / "notes.txt").read_bytes()[:2] == b"PK"  # (a TorchScript zip)
    assert main(["export", str(stem) + ".safetensors", "--deblurrer", str(stem), "--overwrite"]) == 2
    assert _tree(tmp_path / "d") == {k[2:]: v for k, v in before.items() if k.startswith("d/")}


def test_video_demo_checks_its_folder_before_any_work_and_never_deletes_the_users_files(tmp_path, capsys):
    out = tmp_path / "mine"
    (out / "video").mkdir(parents=True)
    (out / "video" / "family.mp4").write_bytes(b"precious")
    (out / "diary.txt").write_text("dear diary")
    before = _tree(out)
    for extra in ([], ["--overwrite"]):
        assert main(["demo", "--video", "--out", str(out), "--no-progress", *extra]) == 2
        err = capsys.readouterr().err
        assert "family.mp4" in err and "did not write" in err
        assert _tree(out) == before  # (no data/, runs/ or known_blur_set/ written first)
    # a previous video demo's own outputs: refused without --overwrite, before any work
    (out / "video" / "family.mp4").unlink()
    (out / "video" / "report").mkdir()
    before = _tree(out)
    assert main(["demo", "--video", "--out", str(out), "--no-progress"]) == 2
    assert "pass --overwrite" in capsys.readouterr().err and _tree(out) == before


def _served_app(tmp_path, **kw):
    from blur2blur.infer.pipeline import DeblurPipeline
    from blur2blur.serve import create_app
    from tests.test_export import _checkpoints

    deb, tra = _checkpoints(tmp_path)
    return create_app(DeblurPipeline.from_checkpoints(deb, tra, "cpu", amp="none"), **kw)


def _png(w, h):
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (w, h), (90, 120, 200)).save(buf, format="PNG")
    return buf.getvalue()


def test_serve_refuses_foreign_hosts_and_origins(tmp_path):
    import pytest

    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    app = _served_app(tmp_path)
    png = {"file": ("a.png", _png(40, 32), "image/png")}
    good = TestClient(app, base_url="http://127.0.0.1:7860")
    assert good.get("/").status_code == 200
    assert good.post("/api/deblur", files=png, headers={"Origin": "http://127.0.0.1:7860"}).status_code == 200
    assert TestClient(app, base_url="http://localhost:7860").post("/api/deblur", files=png).status_code == 200
    forged = TestClient(app, base_url="http://evil.example:7860")  # (DNS rebinding: the Host is the attacker's)
    for r in (forged.get("/"), forged.post("/api/deblur", files=png)):
        assert r.status_code == 403 and "evil.example" in r.json()["detail"]
    r = good.post("/api/deblur", files=png, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "another site" in r.json()["detail"]
    r = good.post("/api/deblur", files=png, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403


def test_serve_limits_size_while_reading_and_pixels_from_the_header(tmp_path):
    import pytest

    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from blur2blur.serve import GuardedApp

    app = _served_app(tmp_path, max_mb=0.05, max_pixels=100 * 100)
    client = TestClient(app, base_url="http://127.0.0.1:7860")
    # a body announced larger than the limit is refused before any byte of it is read
    read = []

    async def inner(scope, receive, send):
        read.append(await receive())

    guarded = GuardedApp(inner, limit=1000, hosts=None)
    client2 = TestClient(guarded)
    r = client2.post("/api/deblur", content=b"x" * 200_000, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 413 and "larger than the limit" in r.json()["detail"] and read == []
    # a streamed body without a length is cut off at the limit
    body = (b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
            b"Content-Type: image/png\r\n\r\n" + b"z" * 500_000 + b"\r\n--xyz--\r\n")
    r = client.post("/api/deblur", content=(body[i:i + 8192] for i in range(0, len(body), 8192)),
                    headers={"Content-Type": "multipart/form-data; boundary=xyz"})
    assert r.status_code == 413 and "larger than the limit" in r.json()["detail"]
    # a small file of a huge image: refused from its header (a PNG of 20,000 x 20,000 px would be 1.2 GB)
    r = client.post("/api/deblur", files={"file": ("big.png", _png(120, 100), "image/png")})
    assert r.status_code == 413 and "120x100" in r.json()["detail"] and "--max-pixels" in r.json()["detail"]
    # an absurd file extension is not a file name on disk, and the answer is JSON
    r = client.post("/api/deblur", files={"file": ("a." + "x" * 300, _png(40, 30), "image/png")})
    assert r.status_code == 200 and r.json()["kind"] == "image"
    page = client.get("/").text
    assert "0.01 megapixels" in page


def test_serve_command_checks_its_settings_and_model_before_starting(tmp_path, capsys):
    assert main(["serve", "--max-mb", "1e300"]) == 2
    assert "--max-mb" in capsys.readouterr().err
    assert main(["serve", "--port", "70000"]) == 2
    assert "--port must be 1..65535" in capsys.readouterr().err

    class Half(torch.nn.Module):  # (a model whose output is half the size: cannot serve)
        def forward(self, x):
            return x[..., ::2, ::2]

    from blur2blur.infer.pipeline import DeblurPipeline
    from blur2blur.serve import serve

    with pytest.raises(ValueError, match="cannot deblur a test image"):
        serve(DeblurPipeline(Half(), device="cpu", amp="none"), port=7861)


def _clip(path, w, h, frames=3):
    import numpy as np

    from blur2blur.video.io import VideoWriter

    rng = np.random.default_rng(0)
    with VideoWriter(path, w, h, 24) as writer:
        for _ in range(frames):
            writer.write(rng.random((h, w, 3)).astype(np.float32))
    return path


def test_video_deblur_keeps_odd_sizes_reads_camcorder_containers_and_checks_the_output_name(tmp_path, capsys):
    from blur2blur.video.io import probe
    from tests.test_export import _checkpoints

    deb, _ = _checkpoints(tmp_path)
    odd = _clip(tmp_path / "odd.mp4", 161, 97)
    assert main(["deblur", str(odd), str(tmp_path / "out"), "--deblurrer", str(deb), "--no-progress"]) == 0
    info = probe(tmp_path / "out" / "odd.mp4")
    assert (info.width, info.height) == (161, 97)
    for ext in (".3gp", ".MTS", ".ts"):  # (read by content through FFmpeg, named as video by extension)
        clip = tmp_path / f"cam{ext}"
        clip.write_bytes(_clip(tmp_path / "even.mp4", 64, 48).read_bytes())
        out = tmp_path / f"o_{ext[1:]}"
        assert main(["deblur", str(clip), str(out), "--deblurrer", str(deb), "--no-progress"]) == 0, ext
        assert probe(out / "cam.mp4").frames == 3
    before = _tree(tmp_path)
    for out, message in (("x.png", "cannot be an image"), ("x.gif", "cannot be an image"),
                         ("x.webm", "videos are written as H.264 in .mp4, .m4v, .mov, .mkv, not .webm")):
        assert main(["deblur", str(odd), str(tmp_path / out), "--deblurrer", str(tmp_path / "missing"),
                     "--no-progress"]) == 2, out
        assert message in capsys.readouterr().err  # (said before the (missing) model is loaded)
        assert _tree(tmp_path) == before


def test_sigterm_during_a_video_deblur_cleans_up_and_says_so(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.test_export import _checkpoints

    deb, _ = _checkpoints(tmp_path)
    clip = _clip(tmp_path / "long.mp4", 64, 48, frames=400)
    out = tmp_path / "out"
    out.mkdir()
    (out / ".b2b-999999999-dead.mp4").write_bytes(b"partial video of a killed run")  # (a stale leftover)
    proc = subprocess.Popen([sys.executable, "-m", "blur2blur", "deblur", str(clip), str(out), "--deblurrer", str(deb),
                             "--no-progress", "--batch", "1"], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    for _ in range(600):  # (until it writes its own hidden partial file)
        if [p for p in out.iterdir() if p.name.startswith(".b2b-") and "999999999" not in p.name
                and p.suffix == ".mp4"]:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "terminated (SIGTERM)" in err
    assert sorted(p.name for p in out.iterdir()) == []  # (its partial file, its lock and the stale one: gone)


def test_video_frames_folder_is_never_mixed_or_replaced_unasked(tmp_path, capsys):
    from tests.test_export import _checkpoints

    deb, _ = _checkpoints(tmp_path)
    clip = _clip(tmp_path / "c.mp4", 64, 48, frames=3)
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(5):
        (frames / f"frame_{i:05d}.png").write_bytes(b"user frame %d" % i)
    base = ["deblur", str(clip), str(tmp_path / "out"), "--deblurrer", str(deb), "--no-progress"]
    before = _tree(tmp_path)
    assert main(base + ["--frames", str(frames)]) == 2
    assert "holds 5 frames of an earlier run" in capsys.readouterr().err and _tree(tmp_path) == before
    assert main(base + ["--frames", str(frames), "--overwrite"]) == 0
    assert sorted(p.name for p in frames.iterdir()) == ["frame_00000.png", "frame_00001.png", "frame_00002.png"]
    (frames / "notes.txt").write_text("mine")
    assert main(base + ["--frames", str(frames), "--overwrite"]) == 2
    assert "notes.txt" in capsys.readouterr().err and (frames / "notes.txt").read_text() == "mine"
    assert main(["deblur", str(clip), str(tmp_path / "v.mp4"), "--deblurrer", str(deb), "--no-progress",
                 "--frames", str(tmp_path / "v.mp4")]) == 2
    assert "is the output video's path" in capsys.readouterr().err


def test_deblur_says_what_it_leaves_out(tmp_path, capsys, rng):
    import os

    from blur2blur.io import write_image
    from tests.conftest import smooth_photo
    from tests.test_export import _checkpoints

    deb, _ = _checkpoints(tmp_path)
    clip = _clip(tmp_path / "in" / "c.mp4", 64, 48)
    base = ["--deblurrer", str(deb), "--no-progress"]
    assert main(["deblur", str(clip), str(tmp_path / "o1"), "--save-translated", *base]) == 2
    assert "--save-translated writes T(y) for images" in capsys.readouterr().err
    assert main(["deblur", str(tmp_path / "in"), str(tmp_path / "o2"), *base]) == 2
    assert "holds 1 video(s) and no image" in capsys.readouterr().err
    write_image(tmp_path / "in" / "a.png", smooth_photo(rng, 32, 32))
    assert main(["deblur", str(tmp_path / "in"), str(tmp_path / "o3"), *base]) == 0
    assert "also holds 1 video(s) (c.mp4), left out" in capsys.readouterr().out
    os.symlink(tmp_path / "gone.mp4", tmp_path / "broken.mp4")
    assert main(["deblur", str(tmp_path / "broken.mp4"), str(tmp_path / "o4"), *base]) == 2
    assert "broken symbolic link" in capsys.readouterr().err and not (tmp_path / "o4").exists()


def test_prepare_checks_every_argument_and_refuses_duplicate_sources_before_any_frame(tmp_path, photo_dir, capsys):
    import os

    blurry, sharp = _captures(tmp_path, photo_dir)
    out = tmp_path / "ds"
    base = ["prepare", "--blurry", str(blurry), "--sharp", str(sharp), "--out", str(out), "--no-progress"]
    cases = [(["--test-fraction", "2"], "--test-fraction must be a number in [0, 1)"),
             (["--test-fraction", "-0.5"], "--test-fraction must be a number in [0, 1)"),
             (["--test-fraction", "nan"], "--test-fraction must be a number in [0, 1)"),
             (["--known", str(tmp_path / "nosuch")], "--known"),
             (["--known-profile", "nosuch"], "unknown camera profile 'nosuch'")]
    for extra, message in cases:
        assert main(base + extra) == 2, extra
        assert message in capsys.readouterr().err, extra
        assert not out.exists(), extra
    # the same clip as blurry and sharp, or twice as blurry (as a file and in its folder)
    clip = sorted(blurry.iterdir())[0]
    for args in (["--blurry", str(blurry), "--sharp", str(clip)], ["--blurry", str(blurry), "--blurry", str(clip),
                                                                  "--sharp", str(sharp)]):
        assert main(["prepare", *args, "--out", str(out), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert clip.name in err and "may be given once" in err and not out.exists()
    os.symlink(tmp_path / "gone.mp4", blurry / "broken.mp4")
    assert main(base) == 2
    assert "broken symbolic links (broken.mp4)" in capsys.readouterr().err and not out.exists()
    (blurry / "broken.mp4").unlink()
    import warnings

    with warnings.catch_warnings():  # (--test-fraction 0: no test set, asked for, so no "one source only")
        warnings.simplefilter("error")
        assert main(base + ["--test-fraction", "0"]) == 0
    assert not any((out / "testA").iterdir())
    import shutil

    shutil.rmtree(out)
    with pytest.raises(SystemExit):
        main(base + ["--test-videos", "-rf"])
    assert "write --test-videos=-rf" in capsys.readouterr().err


def test_progress_in_a_log_file_is_a_line_now_and_then(tmp_path, rng):
    import os
    import subprocess
    import sys

    from blur2blur.io import write_image
    from tests.conftest import smooth_photo

    for i in range(40):
        write_image(tmp_path / "in" / f"p{i}.png", smooth_photo(rng, 24, 24))
    from tests.test_export import _checkpoints

    deb, _ = _checkpoints(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TQDM_")}
    r = subprocess.run([sys.executable, "-m", "blur2blur", "deblur", str(tmp_path / "in"), str(tmp_path / "out"),
                        "--deblurrer", str(deb), "--amp", "none"],
                       capture_output=True, text=True, env={**env, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert r.returncode == 0, r.stderr
    bars = r.stderr.count("\r") + r.stderr.count("\n")
    assert "deblur" in r.stderr and "40/40" in r.stderr and bars <= 4, r.stderr  # (start and end, not per image)


def _onnx(path, module, input_name="image", dynamic=True):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        axes = {input_name: {0: "n", 2: "h", 3: "w"}, "deblurred": {0: "n", 2: "h", 3: "w"}} if dynamic else None
        torch.onnx.export(module, (torch.rand(1, 3, 32, 48),), str(path), input_names=[input_name],
                          output_names=["deblurred"], dynamic_axes=axes, dynamo=False)
    return path


def test_onnx_models_of_another_shape_are_refused_at_load_naming_the_model(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from blur2blur.infer.export import OnnxPipeline

    class Half(torch.nn.Module):
        def forward(self, x):
            return x[..., ::2, ::2]

    class Same(torch.nn.Module):
        def forward(self, x):
            return x * 1.0

    cases = [(_onnx(tmp_path / "half.onnx", Half()), "returns images of the input's size"),
             (_onnx(tmp_path / "named.onnx", Same(), input_name="x"), "takes one input `image`"),
             (_onnx(tmp_path / "fixed.onnx", Same(), dynamic=False), "of any H and W")]
    for path, message in cases:
        with pytest.raises(ValueError, match=message) as info:
            OnnxPipeline(path)
        assert path.name in str(info.value)
    assert OnnxPipeline(_onnx(tmp_path / "ok.onnx", Same())).run_tensor(torch.rand(1, 3, 40, 56))["deblurred"].shape \
        == (1, 3, 40, 56)


def test_deblur_onnx_options_and_a_too_small_photo_are_named(tmp_path, capsys, rng):
    pytest.importorskip("onnxruntime")
    from blur2blur.infer.export import export_pipeline
    from blur2blur.io import write_image
    from tests.conftest import smooth_photo
    from tests.test_export import _checkpoints

    deb, _ = _checkpoints(tmp_path)
    model = export_pipeline(deb, tmp_path / "m.onnx")
    write_image(tmp_path / "in" / "a.png", smooth_photo(rng, 32, 32))
    write_image(tmp_path / "in" / "tiny.png", smooth_photo(rng, 12, 12))
    for extra, message in ((["--tlc"], "without --deblurrer/--translator/--official/--tlc"),
                           (["--official", "nafnet-gopro-width32"], "--official"),
                           (["--ensemble", "4"], "--ensemble work with the PyTorch models")):
        assert main(["deblur", str(tmp_path / "in"), str(tmp_path / "o"), "--onnx", str(model), *extra]) == 2
        assert message in capsys.readouterr().err
    assert main(["deblur", str(tmp_path / "in"), str(tmp_path / "o"), "--onnx", str(tmp_path)]) == 2
    assert "is a folder: give the .onnx file" in capsys.readouterr().err
    assert main(["deblur", str(tmp_path / "in"), str(tmp_path / "o"), "--onnx", str(model), "--no-progress"]) == 2
    assert "tiny.png" in capsys.readouterr().err


def test_the_python_api_checks_and_converts_what_it_is_given(tmp_path):
    import numpy as np
    from PIL import Image

    import blur2blur
    from tests.test_export import _checkpoints

    deb, _ = _checkpoints(tmp_path)
    model = blur2blur.load_pipeline(deb, device="cpu", amp="none")
    rng = np.random.default_rng(0)
    img = rng.random((24, 32, 3)).astype(np.float32)
    for bad, message in ((img * 255, "divide by 255"), (img * 2 - 1, r"\(x \+ 1\) / 2"),
                         (np.zeros((0, 5, 3), np.float32), "empty")):
        with pytest.raises(ValueError, match=message):
            model(bad)
    nan = img.copy()
    nan[3, 4, 1] = np.nan
    with pytest.raises(ValueError, match="1 NaN or infinite"):
        model(nan)
    u8 = torch.from_numpy((img * 255).round().astype(np.uint8)).permute(2, 0, 1)  # (a reader's CHW uint8)
    out = model(u8)
    assert out.dtype == torch.uint8 and out.shape == u8.shape
    ref = model(torch.from_numpy(img).permute(2, 0, 1))
    assert (out.float() / 255 - ref).abs().max() < 0.02  # (not white: converted from 0..255)
    rgba = Image.fromarray((np.concatenate([img, np.full((24, 32, 1), 0.5)], 2) * 255).astype(np.uint8), "RGBA")
    back = model(rgba)
    assert back.mode == "RGBA" and np.all(np.asarray(back)[..., 3] == 127)  # (alpha kept, not made 255)
    la = rgba.convert("LA")
    assert model(la).mode == "LA" and np.all(np.asarray(model(la))[..., 1] == 127)
    for mode in ("P", "CMYK", "YCbCr", "1"):
        assert model(rgba.convert("RGB").convert(mode)).mode == "RGB", mode
    for mode in ("I;16", "F", "I"):
        with pytest.raises(ValueError, match="accepted modes"):
            model(rgba.convert("L").convert(mode) if mode != "I;16" else Image.new("I;16", (32, 24)))
    with pytest.raises(ValueError, match="is a video: use blur2blur.video.deblur.deblur_video"):
        model(tmp_path / "clip.mp4")
    with pytest.raises(ValueError, match="too small for tiles that overlap by 64 px"):
        blur2blur.load_pipeline(deb, device="cpu", tile=16)
    onnx = pytest.importorskip("onnxruntime") and __import__("blur2blur.infer.export", fromlist=["x"])
    exported = onnx.export_pipeline(deb, tmp_path / "m.onnx")
    assert blur2blur.load_pipeline(exported)(img).shape == img.shape  # (an .onnx path: the ONNX loader)


def test_simulate_video_streams_its_frames_and_overwrite_leaves_no_stale_frame(tmp_path, photo_dir, capsys):
    import types

    from blur2blur.video.simulate import pan_zoom_frames

    photo = sorted(photo_dir.iterdir())[0]
    views = pan_zoom_frames(np.zeros((64, 64, 3), np.float32), 100_000, 32, 24)
    assert isinstance(views, types.GeneratorType) and next(views).shape == (24, 32, 3)  # (one frame at a time)
    out = tmp_path / "clip"
    base = ["simulate-video", str(photo), str(out), "--size", "32x24", "--no-progress"]
    assert main(base + ["--frames", "6"]) == 0
    assert main(base + ["--frames", "3", "--overwrite"]) == 0
    assert sorted(p.name for p in (out / "gt").iterdir()) == [f"frame_{i:05d}.png" for i in range(3)]
    assert main(base + ["--frames", "3", "--overwrite", "--fps", "100000"]) == 2
    assert "--fps must be in [1, 240]" in capsys.readouterr().err


def test_make_dataset_counts_only_the_photos_it_could_use(tmp_path, rng, capsys):
    from blur2blur.io import write_image
    from tests.conftest import smooth_photo

    photos = tmp_path / "photos"
    for i in range(4):
        write_image(photos / f"p{i}.png", smooth_photo(rng, 40, 40))
    data = (photos / "p2.png").read_bytes()
    (photos / "p2.png").write_bytes(data[: len(data) // 2])  # (its header reads, its pixels do not)
    with pytest.warns(UserWarning, match="skipping unreadable photo"):
        code = main(["make-dataset", str(photos), str(tmp_path / "ds"), "--skip-bad"])
    assert code == 2
    err = capsys.readouterr().err
    assert "3 usable photo(s) (1 unreadable or too small, left out) gave 3 scene(s)" in err, err


def test_frames_whose_timestamps_go_back_are_retimed_not_a_muxer_error(tmp_path):
    from fractions import Fraction

    from blur2blur.video.io import VideoWriter, read_frames

    rng = np.random.default_rng(0)
    with VideoWriter(tmp_path / "o.mp4", 64, 48, 24, time_base=Fraction(1, 24)) as writer:
        for pts in (0, 2, 1, 3, 3, None):  # (what an AVI with B-frames can hand over)
            writer.write(rng.random((48, 64, 3)).astype(np.float32), pts=pts)
    assert writer.retimed == 4
    times = [f.pts for f in read_frames(tmp_path / "o.mp4")]
    assert len(times) == 6 and times == sorted(set(times))


def test_a_checkpoint_json_error_names_only_the_wrong_field(tmp_path):
    import json

    from blur2blur.nets.weights import load_model
    from tests.test_export import _checkpoints

    deb, _ = _checkpoints(tmp_path)
    meta = json.loads(deb.with_suffix(".json").read_text())
    meta["kwargs"]["width"] = "wide"
    deb.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(ValueError) as info:
        load_model(deb)
    message = str(info.value)
    assert "kwargs.width is 'wide' where a number is expected" in message
    assert "enc_blk_nums" not in message and "dec_blk_nums" not in message  # (valid lists are not blamed)


def test_serve_shows_a_video_the_browser_cannot_play_as_its_result_only(tmp_path):
    pytest.importorskip("fastapi")
    import av
    from fastapi.testclient import TestClient

    app = _served_app(tmp_path)
    clip = tmp_path / "c.avi"
    with av.open(str(clip), "w") as container:  # (an AVI: no browser plays it)
        stream = container.add_stream("mpeg4", rate=24)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((32, 48, 3), 40 * i, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    client = TestClient(app, base_url="http://127.0.0.1:7860")
    with open(clip, "rb") as f:
        r = client.post("/api/deblur", files={"file": ("c.avi", f, "video/x-msvideo")})
    j = r.json()
    assert r.status_code == 200 and j["kind"] == "video" and j["frames"] == 3
    assert j["input"] is None and "cannot play .avi" in j["note"]
    assert j["deblurred"].startswith("data:video/mp4;base64,")  # (the result: H.264 MP4, playable)
