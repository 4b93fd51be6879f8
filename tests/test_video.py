"""Videos in and out (issue #20): decoding, rotation, writing with audio, the simulated clip,
`prepare`, video deblurring and the flicker index. Tiny generated clips, no network."""

import hashlib
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch.nn as nn

from blur2blur.cli import main
from blur2blur.data.layout import check_layout
from blur2blur.infer.pipeline import DeblurPipeline
from blur2blur.io import list_images, read_image
from blur2blur.metrics.flicker import flicker_index, temporal_change
from blur2blur.video import prepare as prepare_module
from blur2blur.video.deblur import deblur_video, score_clip
from blur2blur.video.io import VideoError, VideoWriter, probe, read_frames
from blur2blur.video.prepare import PrepareOptions, prepare_dataset
from blur2blur.video.simulate import _tone, simulate_clip
from tests.conftest import smooth_photo


def _smooth_frames(n, h=32, w=48, seed=0):
    rng = np.random.default_rng(seed)
    base = smooth_photo(rng, h, w + n)
    return [np.ascontiguousarray(base[:, i:i + w]) for i in range(n)]  # a slow pan


def _clip(path, frames, fps=10, **kw):
    with VideoWriter(path, frames[0].shape[1], frames[0].shape[0], fps, crf=0, **kw) as w:
        for f in frames:
            w.write(f)
    return path


def _sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_write_and_read_back_keep_frames_size_rate_and_audio(tmp_path):
    frames = _smooth_frames(12)
    audio = _tone(tmp_path, 1.2)
    _clip(tmp_path / "a.mp4", frames, fps=10, audio_from=audio)
    info = probe(tmp_path / "a.mp4")
    assert (info.width, info.height, info.fps, info.frames, info.has_audio) == (48, 32, Fraction(10), 12, True)
    back = list(read_frames(tmp_path / "a.mp4"))
    assert [f.index for f in back] == list(range(12))
    assert back[3].time == pytest.approx(0.3)
    assert all(np.abs(b.image - f).mean() < 0.04 for b, f in zip(back, frames))
    # sampling: every N frames, frames per second, at most N, shrunk
    assert [f.index for f in read_frames(tmp_path / "a.mp4", every=4)] == [0, 4, 8]
    assert [f.index for f in read_frames(tmp_path / "a.mp4", fps=2.5)] == [0, 4, 8]
    assert [f.index for f in read_frames(tmp_path / "a.mp4", max_frames=2)] == [0, 1]
    assert next(read_frames(tmp_path / "a.mp4", long_side=24)).image.shape == (16, 24, 3)


def test_a_rotated_clip_comes_out_upright_and_is_written_back_rotated(tmp_path):
    portrait = _smooth_frames(4, h=48, w=32)  # upright: taller than wide
    _clip(tmp_path / "p.mp4", portrait, rotation=90)
    info = probe(tmp_path / "p.mp4")
    assert (info.rotation, info.width, info.height) == (90, 32, 48)
    back = list(read_frames(tmp_path / "p.mp4"))
    assert back[0].image.shape == (48, 32, 3)
    assert np.abs(back[0].image - portrait[0]).mean() < 0.04


def test_bad_videos_are_named_with_the_reason(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "junk.mp4").write_bytes(b"this is not a video" * 100)
    audio_only = _tone(tmp_path, 0.5).rename(tmp_path / "voice.m4a")
    for path, reason in ((tmp_path / "empty.mp4", "empty"), (tmp_path / "junk.mp4", "not a readable video"),
                         (audio_only, "no video stream"), (tmp_path / "none.mp4", "no such file")):
        with pytest.raises(VideoError, match=reason) as err:
            probe(path)
        assert path.name in str(err.value)


def test_an_interrupted_write_leaves_no_file(tmp_path):
    with pytest.raises(RuntimeError):
        with VideoWriter(tmp_path / "x.mp4", 48, 32, 10) as w:
            w.write(_smooth_frames(1)[0])
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_flicker_index_by_hand():
    a, b = np.zeros((2, 2, 3), np.float32), np.ones((2, 2, 3), np.float32)
    assert temporal_change([a, b, a]) == 1.0
    assert flicker_index([a, b, a], [a, a + 0.5, a]) == pytest.approx(255 / 128)  # (0.5 rounds to 128/255)
    assert flicker_index([a, a, a], [a, b, a]) == 0.0
    with pytest.raises(ValueError):
        flicker_index([a, b], [a, a])  # a still ground truth: undefined
    with pytest.raises(ValueError):
        temporal_change([a])


def test_simulated_clip_has_ground_truth_and_blur(tmp_path, photo_dir):
    meta = simulate_clip(list_images(photo_dir)[0], tmp_path / "c", n_frames=6, width=48, height=32,
                         audio=True, progress=False)
    info = probe(tmp_path / "c" / "clip.mp4")
    assert (info.frames, info.width, info.height, info.has_audio) == (6, 48, 32, True)
    gt = list_images(tmp_path / "c" / "gt")
    assert len(gt) == 6 and meta["n_frames"] == 6
    scores = score_clip(tmp_path / "c" / "clip.mp4", tmp_path / "c" / "gt")
    assert 10 < scores["psnr"] < 40 and len(scores["psnr_per_frame"]) == 6  # blurred, not destroyed
    again = simulate_clip(list_images(photo_dir)[0], tmp_path / "d", n_frames=6, width=48, height=32, progress=False)
    assert again["seed"] == 0 and np.array_equal(read_image(gt[3]), read_image(tmp_path / "d" / "gt" / gt[3].name))
    with pytest.raises(FileExistsError):
        simulate_clip(list_images(photo_dir)[0], tmp_path / "c", n_frames=6, width=48, height=32, progress=False)


def _captures(tmp_path, photo_dir):
    photos = list_images(photo_dir)
    for i in range(2):
        simulate_clip(photos[i], tmp_path / f"sim_b{i}", n_frames=5, width=48, height=32, progress=False, seed=i)
        simulate_clip(photos[2 + i], tmp_path / f"sim_s{i}", "known", n_frames=5, width=48, height=32,
                      progress=False, seed=10 + i)
        (tmp_path / "blurry").mkdir(exist_ok=True)
        (tmp_path / "sharp").mkdir(exist_ok=True)
        (tmp_path / f"sim_b{i}" / "clip.mp4").rename(tmp_path / "blurry" / f"walk{i}.mp4")
        (tmp_path / f"sim_s{i}" / "sharp.mp4").rename(tmp_path / "sharp" / f"desk{i}.mp4")
    return tmp_path / "blurry", tmp_path / "sharp"


def test_prepare_makes_a_checked_layout_without_leaking_test_videos(tmp_path, photo_dir):
    blurry, sharp = _captures(tmp_path, photo_dir)
    before = {p: _sha(p) for p in list(blurry.iterdir()) + list(sharp.iterdir())}
    summary = prepare_dataset([blurry], [sharp], tmp_path / "ds", progress=False,
                              options=PrepareOptions(test_videos=["walk1"], known_profile="known"))
    root = tmp_path / "ds"
    report = check_layout(root, crop_size=16)
    assert not [p for p in report.problems if p.level == "error"], report.format()
    assert {f.name.split("_f")[0] for f in list_images(root / "testA")} == {"walk1"}
    assert {f.name.split("_f")[0] for f in list_images(root / "trainA")} == {"walk0"}
    # with a known profile (no --known), one of the two sharp videos made the simulated known pairs, the other S
    assert {f.name.split("_f")[0] for f in list_images(root / "trainB")}.isdisjoint(
        {f.name.split("_f")[0] for f in list_images(root / "trainC")})
    assert summary["counts"]["trainC"] == summary["counts"]["trainD"] > 0
    manifest = json.loads((root / "manifest.json").read_text())
    entry = manifest["files"]["testA/walk1_f000002.png"]
    assert entry["source"].endswith("walk1.mp4") and entry["frame_index"] == 2
    assert entry["time_s"] == pytest.approx(2 / 24, abs=1e-3) and entry["blur_score"] > 0
    assert before == {p: _sha(p) for p in before}  # inputs untouched
    with pytest.raises(FileExistsError, match="not empty"):
        prepare_dataset([blurry], [sharp], root, progress=False)
    # by default no known pairs: every sharp video is S, and the layout is complete without them
    # (the project's known camera is the known domain: K = S blurred by it, issue #27)
    summary = prepare_dataset([blurry], [sharp], tmp_path / "ds2", progress=False,
                              options=PrepareOptions(test_videos=["walk1"]))
    assert not (tmp_path / "ds2" / "trainC").exists() and summary["counts"].get("trainC", 0) == 0
    assert {f.name.split("_f")[0] for f in list_images(tmp_path / "ds2" / "trainB")} == {"desk0", "desk1"}
    assert check_layout(tmp_path / "ds2", crop_size=16).ok


def test_prepare_resumes_an_interrupted_run_and_refuses_bad_videos(tmp_path, photo_dir, monkeypatch):
    blurry, sharp = _captures(tmp_path, photo_dir)
    real = prepare_module._process
    calls = []

    def dies_on_third(source, *a, **k):
        calls.append(source.name)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(source, *a, **k)

    monkeypatch.setattr(prepare_module, "_process", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset([blurry], [sharp], tmp_path / "ds", progress=False)
    assert not (tmp_path / "ds" / "manifest.json").exists()
    monkeypatch.setattr(prepare_module, "_process", lambda s, *a, **k: (calls.append(s.name), real(s, *a, **k))[1])
    summary = prepare_dataset([blurry], [sharp], tmp_path / "ds", progress=False)  # the same command
    assert calls[3] == calls[2] and set(calls[3:]).isdisjoint(calls[:2])  # finished sources are not redone
    assert sum(summary["counts"].values()) > 0 and not (tmp_path / "ds" / ".prepare").exists()
    # a corrupt file among the sources: named, nothing written
    (blurry / "broken.mov").write_bytes(b"\x00" * 2000)
    with pytest.raises(ValueError, match="broken.mov"):
        prepare_dataset([blurry], [sharp], tmp_path / "ds2", progress=False)
    assert not (tmp_path / "ds2").exists()


def test_prepare_drops_frames_whose_blur_contradicts_their_label(tmp_path, photo_dir):
    blurry, sharp = _captures(tmp_path, photo_dir)
    # shaken frames among the sharp sources: one blurry clip filed as sharp
    mixed = tmp_path / "mixed_sharp"
    mixed.mkdir()
    for f in sharp.iterdir():
        f.rename(mixed / f.name)
    (blurry / "walk0.mp4").rename(mixed / "shaky.mp4")
    opts = PrepareOptions(drop_mislabelled=True, test_fraction=0)
    summary = prepare_dataset([blurry], [mixed], tmp_path / "ds", options=opts, progress=False)
    flagged = summary["label_check"]["flagged"]
    assert any("shaky" in k for k in flagged)
    assert all(not (tmp_path / "ds" / k).exists() for k in flagged)


class _Halve(nn.Module):
    """A stand-in deblurrer: halves the image (a visible, checkable change)."""

    def forward(self, x):
        return x * 0.5


class _Fails(nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("out of memory (simulated)")
        return x


def test_deblur_video_keeps_size_rate_timestamps_rotation_and_audio(tmp_path):
    frames = _smooth_frames(9, h=32, w=48)
    src = tmp_path / "in.mp4"
    with VideoWriter(src, 48, 32, 10, crf=0, rotation=270, audio_from=_tone(tmp_path, 1.0),
                     time_base=Fraction(1, 100)) as w:
        for i, f in enumerate(frames):  # variable frame rate: irregular timestamps
            w.write(f, pts=[0, 10, 20, 35, 40, 60, 70, 75, 90][i])
    digest = _sha(src)
    pipe = DeblurPipeline(_Halve(), device="cpu", amp="none", tile=0)
    result = deblur_video(pipe, src, tmp_path / "out.mp4", batch=4, progress=False, frames_dir=tmp_path / "frames")
    assert result["frames"] == 9 and _sha(src) == digest
    a, b = probe(src), probe(tmp_path / "out.mp4")
    assert (b.width, b.height, b.rotation, b.frames, b.has_audio) == (a.width, a.height, 270, 9, True)
    times_in = [f.time for f in read_frames(src)]
    out = list(read_frames(tmp_path / "out.mp4"))
    assert [f.time for f in out] == pytest.approx(times_in)
    assert np.abs(out[4].image - frames[4] * 0.5).mean() < 0.04
    assert len(list_images(tmp_path / "frames")) == 9
    compare = deblur_video(pipe, src, tmp_path / "cmp.mp4", compare=True, progress=False)
    assert probe(compare["path"]).width == 2 * a.width
    with pytest.raises(FileExistsError):
        deblur_video(pipe, src, tmp_path / "out.mp4", progress=False)


def test_an_interrupted_video_deblur_leaves_nothing_at_the_final_name(tmp_path):
    src = _clip(tmp_path / "in.mp4", _smooth_frames(6))
    pipe = DeblurPipeline(_Fails(), device="cpu", amp="none", tile=0)
    with pytest.raises(RuntimeError, match="out of memory"):
        deblur_video(pipe, src, tmp_path / "out" / "o.mp4", batch=2, progress=False)
    assert not (tmp_path / "out" / "o.mp4").exists()
    assert [p for p in (tmp_path / "out").iterdir()] == []


def test_cli_deblurs_a_video_into_a_folder(tmp_path, capsys):
    from blur2blur.nets import build_network
    from blur2blur.nets.weights import save_model

    net = build_network("nafnet", width=8, enc_blk_nums=[1], middle_blk_num=1, dec_blk_nums=[1])
    save_model(net, tmp_path / "deb", "nafnet", {"width": 8, "enc_blk_nums": [1], "middle_blk_num": 1,
                                                  "dec_blk_nums": [1]})
    src = _clip(tmp_path / "walk.mp4", _smooth_frames(5))
    assert main(["deblur", str(src), str(tmp_path / "out"), "--deblurrer", str(tmp_path / "deb"),
                 "--no-progress", "--device", "cpu", "--compare"]) == 0
    assert probe(tmp_path / "out" / "walk.mp4").width == 96
    assert main(["deblur", str(tmp_path / "junk.mp4"), str(tmp_path / "o2"), "--deblurrer",
                 str(tmp_path / "deb")]) == 2
    (tmp_path / "junk.mp4").write_bytes(b"junk" * 100)
    assert main(["deblur", str(tmp_path / "junk.mp4"), str(tmp_path / "o2"), "--deblurrer",
                 str(tmp_path / "deb"), "--no-progress"]) == 2
    assert "junk.mp4" in capsys.readouterr().err


def test_video_demo_reuses_demo_networks_and_writes_a_playable_comparison(tmp_path):
    from blur2blur.demo_video import run_video_demo
    from blur2blur.nets import build_network
    from blur2blur.nets.weights import save_model

    runs = tmp_path / "demo" / "runs"
    kw = {"width": 8, "enc_blk_nums": [1], "middle_blk_num": 1, "dec_blk_nums": [1]}
    for name in ("deblurrer_known", "deblurrer_camera"):
        save_model(build_network("nafnet", **kw), runs / name / "deblurrer", "nafnet", kw)
    save_model(build_network("identity_translator"), runs / "translator" / "translator", "identity_translator", {})
    (runs / "networks.json").write_text(json.dumps({"known": "deblurrer_known/deblurrer", "camera":
                                                    "deblurrer_camera/deblurrer", "translator": "translator/translator"}))
    result = run_video_demo(tmp_path / "demo", frames=4, width=48, height=32, device="cpu", progress=False)
    video = tmp_path / "demo" / "video"
    info = probe(video / "compare.mp4")
    assert (info.frames, info.width, info.height) == (4, 3 * 48 + 8, 32)
    assert set(result["scores"]) == {"input", "direct", "blur2blur", "upper"}
    # the identity translator: Blur2Blur is exactly the direct deblurrer
    assert result["scores"]["blur2blur"]["psnr_per_frame"] == result["scores"]["direct"]["psnr_per_frame"]
    readme = (video / "report" / "README.md").read_text()
    assert "flicker index" in readme and "Blur2Blur" in readme
    with pytest.raises(FileExistsError):
        run_video_demo(tmp_path / "demo", frames=4, width=48, height=32, device="cpu", progress=False)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_video_demo_from_scratch_trains_without_the_clips_photo(tmp_path, photo_dir):
    from blur2blur.demo_video import run_video_demo

    clip_photo = photo_dir / "photo0.png"
    out = tmp_path / "demo"
    result = run_video_demo(out, clip_photo=clip_photo, frames=4, width=48, height=32, device="cpu",
                            progress=False, photos=photo_dir, demo_options={
                                "tile": 32,
                                "deblurrer_overrides": ["width=8", "enc_blk_nums=[1]", "dec_blk_nums=[1]", "crop=32",
                                                        "batch=2", "iters=2"],
                                "translator_overrides": ["base_channel=8", "num_res=1", "crop=32", "batch=2",
                                                         "iters=2", "decay_start=1"]})
    sources = {e["source"] for e in json.loads((out / "data" / "manifest.json").read_text())["files"].values()}
    assert sources and str(clip_photo) not in sources
    assert {Path(s).name for s in sources} == {"photo1.png", "photo2.png", "photo3.png"}
    info = probe(out / "video" / "compare.mp4")
    assert (info.frames, info.width, info.height) == (4, 3 * 48 + 8, 32)
    assert "still demo (networks)" in result["timings_s"]
    assert not (out / "video_photos").exists()  # (nothing but the demo's own folders inside --out)
