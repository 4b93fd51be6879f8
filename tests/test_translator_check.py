"""The translator's label-free check (issue #19): hold-out splits, the patch-statistics criterion,
the patch bank, and the export of the identity when T does not beat it."""

import json
import warnings
from pathlib import Path

import kornia
import numpy as np
import pytest
import torch
import torch.nn as nn

from blur2blur.data.holdout import holdout_split, source_group
from blur2blur.demo import _check_sentence
from blur2blur.io import list_images, write_image
from blur2blur.losses.patch_swd import PatchBank, resample_sorted, sliced_wasserstein
from blur2blur.metrics.patch_distance import PatchDistance
from blur2blur.nets.weights import load_model, read_model_meta
from blur2blur.train.config import TranslatorConfig
from blur2blur.train.presets import make_config
from blur2blur.train.translator import train_translator
from blur2blur.train.translator_check import TranslatorCheck, decide_export, report_decision, seeded_windows
from tests.conftest import smooth_photo

# The cpu-small (patch-statistics) recipe at tiny size.
TINY = ["base_channel=8", "num_res=1", "crop=32", "batch=2", "iters=6", "decay_start=3", "log_every=2",
        "save_every=6", "val_every=2", "val_fraction=0.3", "swd_samples=256", "swd_bank=2048", "amp=none"]


def _scene(rng, size=64):
    """Piecewise-constant grey-ish scene: random rectangles (edges of every orientation)."""
    img = np.full((size, size, 3), rng.uniform(0.2, 0.8), np.float32)
    for _ in range(12):
        y0, x0 = rng.integers(0, size - 4, 2)
        img[y0:y0 + rng.integers(3, size // 2), x0:x0 + rng.integers(3, size // 2)] = rng.uniform(0, 1)
    return img


def _gauss(img, sigma):
    t = torch.from_numpy(img).permute(2, 0, 1)[None]
    size = 2 * int(3 * sigma + 0.5) + 1
    return kornia.filters.gaussian_blur2d(t, (size, size), (sigma, sigma), border_type="reflect")[0].permute(1, 2, 0).numpy()


class Gaussian(nn.Module):
    """A 'translator' that smooths by a Gaussian of `sigma` px (three scales, like MIMO-UNet)."""

    def __init__(self, sigma):
        super().__init__()
        self.sigma = sigma

    def forward(self, x):
        size = 2 * int(3 * self.sigma + 0.5) + 1
        y = kornia.filters.gaussian_blur2d(x, (size, size), (self.sigma, self.sigma), border_type="reflect")
        return [y[..., ::4, ::4], y[..., ::2, ::2], y]


def _write(folder: Path, images):
    for i, img in enumerate(images):
        write_image(folder / f"s{i:02d}.png", img)
    return list_images(folder)


def test_holdout_keeps_groups_whole_and_is_seeded():
    files = [Path(f"scene{i}_k{v}.png") for i in range(10) for v in range(3)]
    train, held = holdout_split(files, 0.2, seed=0)
    assert len(held) == 6 and len(train) == 24 and not set(train) & set(held)
    assert {source_group(f) for f in held}.isdisjoint({source_group(f) for f in train})
    assert holdout_split(files, 0.2, seed=0) == (train, held)
    assert holdout_split(files, 0.2, seed=1)[1] != held
    assert len(holdout_split(files, 0.2, seed=0, max_files=4)[1]) == 3  # whole groups, at most 4 files
    assert holdout_split(files[:3], 0.5) == (files[:3], [])  # one group: nothing can be held out
    assert holdout_split(files, 0.0) == (files, [])
    two = [Path("a.png"), Path("b.png")]
    assert len(holdout_split(two, 0.9)[1]) == 1  # at least one left for training
    with pytest.raises(ValueError, match="fraction"):
        holdout_split(files, 1.0)


def test_resample_sorted_reads_quantiles():
    values = torch.arange(8, dtype=torch.float32).unsqueeze(1)  # 0..7
    assert torch.equal(resample_sorted(values, 8), values)
    assert torch.allclose(resample_sorted(values, 4).squeeze(), torch.tensor([0.5, 2.5, 4.5, 6.5]))
    assert torch.allclose(resample_sorted(values, 1).squeeze(), torch.tensor(3.5))
    # sets of different sizes drawn from one distribution are close; shifted ones are not
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(500, 4, generator=gen), torch.randn(2000, 4, generator=gen)
    assert sliced_wasserstein(a, b, 64, generator=gen) < 0.05 < sliced_wasserstein(a + 1, b, 64, generator=gen)


def test_criterion_ranks_identity_between_a_matching_and_an_over_smoothing_translator():
    rng = np.random.default_rng(0)
    # K: scenes with the known blur (Gaussian 1.5 px); B: other scenes, sharp. A translator that
    # applies the known blur matches K; one that blurs four times as much over-smooths.
    k_val = [_gauss(_scene(rng), 1.5) for _ in range(6)]
    b_val = [_scene(rng) for _ in range(6)]
    dist = PatchDistance(k_val)
    check = TranslatorCheck.__new__(TranslatorCheck)  # (the check's scoring on in-memory images)
    check.inputs = [torch.from_numpy(b).permute(2, 0, 1)[None] for b in b_val]
    check.distance, check.through, check.scale = dist, None, 1
    identity = dist.score(check.inputs)
    matching = check.score(Gaussian(1.5), torch.device("cpu"))
    over = check.score(Gaussian(6.0), torch.device("cpu"))
    assert matching < identity < over
    # deterministic: the same images score the same
    assert dist.score(check.inputs) == identity


def test_patch_bank_is_closer_for_its_own_distribution_and_differentiable():
    rng = np.random.default_rng(1)
    bank = PatchBank([_gauss(_scene(rng), 1.5) for _ in range(8)], size=4096, pool=64)
    same = torch.stack([torch.from_numpy(_gauss(_scene(rng), 1.5)).permute(2, 0, 1) for _ in range(4)])
    sharp = torch.stack([torch.from_numpy(_scene(rng)).permute(2, 0, 1) for _ in range(4)]).requires_grad_()
    gen = torch.Generator().manual_seed(0)
    d_same = bank.distance(same, projections=32, samples=2048, generator=gen)
    d_sharp = bank.distance(sharp, projections=32, samples=2048, generator=gen)
    assert d_same < d_sharp
    d_sharp.backward()
    assert sharp.grad is not None and sharp.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="empty"):
        PatchBank([])


def _camera_and_known(tmp_path, rng, n=8, size=40):
    blurry = _write(tmp_path / "B", [smooth_photo(rng, size, size + 8) for _ in range(n)])
    known = _write(tmp_path / "K", [_gauss(smooth_photo(rng, size, size + 8), 1.0) for _ in range(n)])
    return blurry, known


def test_translator_run_logs_the_check_and_exports_what_it_prefers(tmp_path):
    _camera_and_known(tmp_path, np.random.default_rng(0))
    cfg = make_config(TranslatorConfig, "cpu-small", TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stem = train_translator(tmp_path / "B", tmp_path / "K", tmp_path / "run", cfg, device="cpu", progress=False)
    report = json.loads((tmp_path / "run" / "translator_check.json").read_text())
    assert [h["iteration"] for h in report["history"]] == [2, 4, 6]
    assert report["held_out"] == {"B": 3, "K": 3}
    decision = report["decision"]
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    checked = [r for r in log if "val/patch_distance" in r]
    assert [r["step"] for r in checked] == [2, 4, 6]
    assert all(r["val/identity"] == report["identity"] for r in checked)
    best = min(report["history"], key=lambda h: h["score"])
    assert decision["iteration"] == best["iteration"] and decision["score"] == best["score"]
    meta = read_model_meta(stem)
    if decision["beats_identity"]:
        assert meta["network"] == "mimo_unet" and meta["extra"]["iteration"] == best["iteration"]
    else:
        assert meta["network"] == "identity_translator"


def test_a_translator_that_does_not_beat_the_identity_is_exported_as_the_identity(tmp_path, monkeypatch):
    # Whatever T learns, let the check find it 10% farther from K than the identity.
    monkeypatch.setattr(TranslatorCheck, "score", lambda self, net, device, bf16=False: self.identity * 1.1)
    _camera_and_known(tmp_path, np.random.default_rng(0))
    cfg = make_config(TranslatorConfig, "cpu-small", TINY)
    with pytest.warns(UserWarning, match="did not learn.*identity"):
        stem = train_translator(tmp_path / "B", tmp_path / "K", tmp_path / "run", cfg, device="cpu", progress=False)
    report = json.loads((tmp_path / "run" / "translator_check.json").read_text())
    assert not report["decision"]["beats_identity"] and report["decision"]["exported"] == "identity"
    T = load_model(stem)
    x = torch.rand(1, 3, 20, 28)
    assert torch.equal(T(x)[-1], x) and [o.shape[-1] for o in T(x)] == [7, 14, 28]
    rejected = load_model(tmp_path / "run" / "translator_rejected")
    assert not torch.equal(rejected(x)[-1], x)  # the trained weights are kept for inspection
    # identity_fallback=false exports the trained weights, with a warning
    cfg = make_config(TranslatorConfig, "cpu-small", TINY + ["identity_fallback=false"])
    with pytest.warns(UserWarning, match="does not beat the identity"):
        stem = train_translator(tmp_path / "B", tmp_path / "K", tmp_path / "run2", cfg, device="cpu", progress=False)
    assert read_model_meta(stem)["network"] == "mimo_unet"
    assert not (tmp_path / "run2" / "translator_rejected.json").exists()


def test_a_translator_within_the_margin_of_the_identity_does_not_beat_it(tmp_path, monkeypatch):
    monkeypatch.setattr(TranslatorCheck, "score", lambda self, net, device, bf16=False: self.identity * 0.99)
    _camera_and_known(tmp_path, np.random.default_rng(0))
    for margin, exported in ((0.02, "identity"), (0.0, "trained")):
        cfg = make_config(TranslatorConfig, "cpu-small", TINY + [f"val_margin={margin}"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            train_translator(tmp_path / "B", tmp_path / "K", tmp_path / f"run{margin}", cfg, device="cpu",
                             progress=False)
        report = json.loads((tmp_path / f"run{margin}" / "translator_check.json").read_text())
        assert report["decision"]["exported"] == exported


def test_check_state_survives_resume(tmp_path):
    _camera_and_known(tmp_path, np.random.default_rng(0))
    cfg = make_config(TranslatorConfig, "cpu-small", TINY + ["save_every=2"])
    run = tmp_path / "run"
    torch.set_num_threads(1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            train_translator(tmp_path / "B", tmp_path / "K", run, cfg, device="cpu", progress=False)
            expected = json.loads((run / "translator_check.json").read_text())
            for n in (4, 6):  # back to the state after iteration 2, then the same command with --resume
                (run / "checkpoints" / f"state_{n:08d}.pt").unlink()
            train_translator(tmp_path / "B", tmp_path / "K", run, cfg, device="cpu", progress=False, resume=True)
    finally:
        torch.set_num_threads(2)
    got = json.loads((run / "translator_check.json").read_text())
    assert got["history"] == expected["history"] and got["decision"] == expected["decision"]


def test_too_few_images_to_hold_out_trains_unchecked_with_a_warning(tmp_path):
    rng = np.random.default_rng(0)
    _write(tmp_path / "B", [smooth_photo(rng, 40, 48)])
    _write(tmp_path / "K", [smooth_photo(rng, 40, 48) for _ in range(3)])
    cfg = make_config(TranslatorConfig, "cpu-small", TINY + ["iters=2", "save_every=2"])
    with pytest.warns(UserWarning, match="too few"):
        train_translator(tmp_path / "B", tmp_path / "K", tmp_path / "run", cfg, device="cpu", progress=False)
    assert not (tmp_path / "run" / "translator_check.json").exists()
    assert read_model_meta(tmp_path / "run" / "translator")["network"] == "mimo_unet"


def test_too_few_images_for_the_check_through_the_deblurrer_trains_unchecked_with_a_warning(tmp_path):
    # (one sharp image: the check through the deblurrer needs two to compare with; no deblurrer is
    # loaded, so none is given)
    rng = np.random.default_rng(0)
    _write(tmp_path / "B", [smooth_photo(rng, 40, 48) for _ in range(3)])
    _write(tmp_path / "K", [smooth_photo(rng, 40, 48) for _ in range(3)])
    _write(tmp_path / "S", [smooth_photo(rng, 40, 48)])
    cfg = make_config(TranslatorConfig, "cpu-small", TINY + ["iters=2", "save_every=2", "val_criterion=deblurred"])
    with pytest.warns(UserWarning, match="not checked through the deblurrer"):
        train_translator(tmp_path / "B", tmp_path / "K", tmp_path / "run", cfg, device="cpu", progress=False,
                         sharp_dir=tmp_path / "S")
    assert not (tmp_path / "run" / "translator_check.json").exists()
    assert read_model_meta(tmp_path / "run" / "translator")["network"] == "mimo_unet"


class Wiener(nn.Module):
    """A 'deblurrer' for a Gaussian blur of `sigma` px: the Wiener filter (mirror-padded FFT)."""

    def __init__(self, sigma, nsr=3e-3):
        super().__init__()
        self.sigma, self.nsr = sigma, nsr

    def forward(self, x):
        h, w = x.shape[-2:]
        xp = torch.cat([x, x.flip(-1)], -1)
        xp = torch.cat([xp, xp.flip(-2)], -2)
        fy, fx = torch.fft.fftfreq(xp.shape[-2])[:, None], torch.fft.fftfreq(xp.shape[-1])[None, :]
        otf = torch.exp(-2 * (torch.pi * self.sigma) ** 2 * (fx ** 2 + fy ** 2))
        return torch.fft.ifft2(torch.fft.fft2(xp) * otf / (otf ** 2 + self.nsr)).real[..., :h, :w].clamp(0, 1)


def _textured_camera(tmp_path, rng):
    """The camera's blurry images B (its textured scenes, Gaussian blur of 1 px), its sharp images S
    (other textured scenes) and known-blur images K of other, smooth scenes (Gaussian 1.5 px)."""
    b = _write(tmp_path / "B", [_gauss(_scene(rng), 1.0) for _ in range(6)])
    s = _write(tmp_path / "S", [_scene(rng) for _ in range(8)])
    k = _write(tmp_path / "K", [_gauss(smooth_photo(rng, 64, 64), 1.5) for _ in range(6)])
    return b, s, k


def test_a_translator_that_smooths_the_cameras_textures_towards_other_scenes_is_rejected(tmp_path):
    # Issue #28's failure, constructed: smoothing the camera's textured scenes brings their patches
    # closer to K's smooth other scenes, so the K criterion approves it at full and at half scale;
    # the guard (through the deblurrer, here one that changes nothing, against the camera's own
    # sharp images) vetoes it, and the run exports the identity.
    b, s, k = _textured_camera(tmp_path, np.random.default_rng(0))
    cfg = make_config(TranslatorConfig, "cpu-small")
    smoothing, cpu, margin = Gaussian(2.0), torch.device("cpu"), cfg.val_margin
    for scale in (1, 2):
        by_k = TranslatorCheck(b, k, patch=7, window=64, scale=scale)
        assert by_k.score(smoothing, cpu) < by_k.identity * (1 - margin)  # (the K criterion is fooled)
    through = TranslatorCheck(b, s[0::2], s[1::2], patch=7, window=64, through=nn.Identity())
    assert through.score(smoothing, cpu) > through.identity * cfg.val_guard
    assert through.k_level < through.identity  # (two samples of S are closer than the blurry B)
    by_k.update(smoothing, 10, cpu)
    _, decision = decide_export(by_k, cfg, smoothing, guard=through)
    assert decision["beats_identity"] and decision["guard"]["vetoed"] and decision["exported"] == "identity"
    # the veto is said, with the guard's ratio, at the end of training and in the demo's report
    ratio = f"{decision['guard']['ratio']:.2f} times as far"
    with pytest.warns(UserWarning, match=f"but through the known deblurrer .*{ratio}.*the exported translator is "
                                         "the identity"):
        report_decision(by_k.summary(), decision, tmp_path)
    (tmp_path / "translator_check.json").write_text(json.dumps(by_k.summary() | {"decision": decision}))
    sentence = _check_sentence(tmp_path / "translator_check.json")
    assert ratio in sentence and sentence.endswith("Blur2Blur equals the direct deblurrer")
    _, unguarded = decide_export(by_k, cfg, smoothing)
    assert unguarded["guard"] is None and unguarded["exported"] == "trained"


def test_the_guard_passes_a_translator_that_keeps_the_cameras_textures(tmp_path):
    # A mild smoothing (0.5 px) moves the deblurred images a little from the camera's sharp ones
    # (less than val_guard times the identity's distance): the guard lets the K criterion decide.
    b, s, k = _textured_camera(tmp_path, np.random.default_rng(0))
    cfg, cpu, mild = make_config(TranslatorConfig, "cpu-small"), torch.device("cpu"), Gaussian(0.5)
    by_k = TranslatorCheck(b, k, patch=7, window=64, scale=2)
    through = TranslatorCheck(b, s[0::2], s[1::2], patch=7, window=64, through=nn.Identity())
    by_k.update(mild, 10, cpu)
    _, decision = decide_export(by_k, cfg, mild, guard=through)
    assert 1.0 < decision["guard"]["ratio"] < cfg.val_guard and not decision["guard"]["vetoed"]
    assert decision["exported"] == ("trained" if decision["beats_identity"] else "identity")


def test_the_check_compares_at_its_scale(tmp_path):
    # scale 2: every image (reference, identity, T's output) averaged over 2x2 blocks before the
    # patch statistics, so the check equals a PatchDistance on half-size images
    b, _, k = _textured_camera(tmp_path, np.random.default_rng(2))
    cpu, half = torch.device("cpu"), lambda xs: [torch.nn.functional.avg_pool2d(x, 2) for x in xs]  # noqa: E731
    check = TranslatorCheck(b, k, patch=7, window=64, seed=3, scale=2)
    ref = PatchDistance(half(seeded_windows(k, 64, 4)), 7, seed=3)
    inputs = seeded_windows(b, 64, 3)
    assert check.identity == pytest.approx(ref.score(half(inputs)), rel=1e-6)
    blurred = [Gaussian(1.0)(x)[-1] for x in inputs]
    assert check.score(Gaussian(1.0), cpu) == pytest.approx(ref.score(half(blurred)), rel=1e-5)
    assert check.identity != pytest.approx(TranslatorCheck(b, k, patch=7, window=64, seed=3).identity, rel=1e-3)
    assert check.summary()["scale"] == 2
    with pytest.raises(ValueError, match="scale"):
        TranslatorCheck(b, k, patch=7, window=64, scale=0)


def test_the_check_scores_in_float32_even_inside_a_bfloat16_autocast(tmp_path):
    # bfloat16 rounds T's output (steps up to 2^-9) but not the identity's images, which moved a
    # translator's score from 1.03 to 0.55 of the identity's on a phone-ISP camera (issue #28). A
    # translator that returns its input must score exactly as the identity, whatever precision
    # the run trains in.
    b, s, k = _textured_camera(tmp_path, np.random.default_rng(0))
    passthrough = nn.Conv2d(3, 3, 1, bias=False)
    with torch.no_grad():
        passthrough.weight.copy_(torch.eye(3)[:, :, None, None])
    cpu = torch.device("cpu")
    for check in (TranslatorCheck(b, k, patch=7, window=64),
                  TranslatorCheck(b, s[0::2], patch=7, window=64, through=Gaussian(1.0))):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert check.score(passthrough, cpu) == pytest.approx(check.identity, rel=1e-5)


def test_through_the_deblurrer_a_translator_that_matches_the_known_blur_is_accepted(tmp_path):
    # The known deblurrer undoes a Gaussian blur of 2 px; the camera's blur is 1 px. Blurring the
    # camera's images by sqrt(3) px more gives the known blur exactly (T wins); 3 px more is over
    # the top (T loses against the identity, whose deblurred images ring but keep their edges).
    b, s, _ = _textured_camera(tmp_path, np.random.default_rng(0))
    check = TranslatorCheck(b, s[0::2], s[1::2], patch=7, window=64, through=Wiener(2.0))
    cpu = torch.device("cpu")
    assert check.score(Gaussian(3 ** 0.5), cpu) < check.identity * 0.98
    assert check.score(Gaussian(3.0), cpu) > check.identity
    assert "D(T(B_val))" in check.summary()["criterion"]


def test_a_translator_run_with_the_deblurred_criterion_scores_through_the_named_deblurrer(tmp_path):
    from blur2blur.nets import build_network
    from blur2blur.nets.weights import save_model

    b, s, k = _textured_camera(tmp_path, np.random.default_rng(1))
    deb = build_network("nafnet", width=8, enc_blk_nums=[1], dec_blk_nums=[1], middle_blk_num=1)
    save_model(deb, tmp_path / "deb", "nafnet", {"width": 8, "enc_blk_nums": [1], "dec_blk_nums": [1],
                                                  "middle_blk_num": 1})
    cfg = make_config(TranslatorConfig, "cpu-small", TINY + ["val_criterion=deblurred",
                                                              f"val_deblurrer={tmp_path / 'deb'}"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_translator(tmp_path / "B", tmp_path / "K", tmp_path / "run", cfg, device="cpu", progress=False,
                         sharp_dir=tmp_path / "S")
    report = json.loads((tmp_path / "run" / "translator_check.json").read_text())
    assert "D(T(B_val))" in report["criterion"] and report["held_out"] == {"B": 2, "K": 4}
    assert [h["iteration"] for h in report["history"]] == [2, 4, 6]
    assert report["k_level"] is not None and report["decision"]["exported"] in ("trained", "identity")
    missing = make_config(TranslatorConfig, "cpu-small", TINY + ["val_criterion=deblurred"])
    with pytest.raises(ValueError, match="sharp images"):
        train_translator(tmp_path / "B", tmp_path / "K", tmp_path / "run2", missing, device="cpu", progress=False)
