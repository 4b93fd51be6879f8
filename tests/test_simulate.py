"""Camera simulator: trajectories, kernels, responses, profiles and the Camera's physics."""

from pathlib import Path

import numpy as np
import pytest

from blur2blur.simulate import (Camera, CameraProfile, KernelFileError, ProfileError, Trajectory,
                                list_profiles, load_kernels, load_profile, random_trajectory,
                                save_profile, trajectory_kernel)
from blur2blur.simulate.camera import convolve_kernel, render_trajectory
from blur2blur.simulate.response import apply_response, invert_response

KERNEL_DIR = Path("/work/shared/data/kernels")


def pattern(h=48, w=48, seed=0):
    """A textured test image: checkerboard plus smooth colour, values in [0.05, 0.95]."""
    yy, xx = np.mgrid[0:h, 0:w]
    checker = ((yy // 4 + xx // 4) % 2).astype(np.float32)
    rng = np.random.default_rng(seed)
    colour = rng.uniform(0.3, 1.0, size=3).astype(np.float32)
    img = 0.05 + 0.9 * (0.7 * checker[..., None] * colour + 0.3 * (xx / w)[..., None])
    return np.clip(img, 0, 1).astype(np.float32)


def profile(**kw):
    base = dict(name="t", exposure=0.02, shake_speed=300.0, length_spread=0.0, curviness=0.3,
                rotation_speed=0.0, reference_size=None, response={"type": "gamma", "gamma": 2.2},
                noise={"photon_scale": None, "read_sigma": 0.0})
    base.update(kw)
    return CameraProfile(**base)


def grad_energy(img):
    g = img.mean(-1)
    return float(np.abs(np.diff(g, axis=0)).mean() + np.abs(np.diff(g, axis=1)).mean())


# ---------------------------------------------------------------- trajectories
def test_trajectory_deterministic_length_and_centred():
    a = random_trajectory(np.random.default_rng(5), 9.0, rotation=0.05, curviness=0.6)
    b = random_trajectory(np.random.default_rng(5), 9.0, rotation=0.05, curviness=0.6)
    c = random_trajectory(np.random.default_rng(6), 9.0, rotation=0.05, curviness=0.6)
    assert np.array_equal(a.dx, b.dx) and np.array_equal(a.theta, b.theta)
    assert len(a) != len(c) or not np.allclose(a.dx, c.dx)
    assert a.length == pytest.approx(9.0, rel=1e-6)
    assert abs(a.dx.mean()) < 1e-9 and abs(a.dy.mean()) < 1e-9
    assert np.hypot(np.diff(a.dx), np.diff(a.dy)).max() <= 0.5 + 1e-9  # sub-frames 0.5 px apart
    assert np.ptp(a.theta) <= 0.05 + 1e-12


def test_trajectory_smooth_and_straight_when_not_curvy():
    t = random_trajectory(np.random.default_rng(1), 20.0, curviness=0.0)
    assert t.extent == pytest.approx(20.0, rel=1e-3)  # a straight line: extent == path length
    curvy = [random_trajectory(np.random.default_rng(s), 20.0, curviness=1.0).extent for s in range(20)]
    assert np.mean(curvy) < 19.0
    # smooth: the heading changes little between consecutive steps
    h = np.unwrap(np.arctan2(np.diff(t.dy), np.diff(t.dx)))
    assert np.abs(np.diff(h)).max() < 1e-6


def test_trajectory_kernel_matches_rendering():
    traj = random_trajectory(np.random.default_rng(3), 6.0, curviness=0.5)
    k = trajectory_kernel(traj)
    assert k.shape[0] % 2 == 1 and k.sum() == pytest.approx(1.0, abs=1e-5) and k.min() >= 0
    img = pattern(40, 40)
    rendered = render_trajectory(img, traj)
    convolved = convolve_kernel(img, k)
    inner = slice(8, -8)
    assert np.abs(rendered[inner, inner] - convolved[inner, inner]).max() < 1e-4


def test_render_zero_trajectory_is_identity():
    img = pattern(20, 28)
    out = render_trajectory(img, Trajectory.zeros(4))
    assert np.abs(out - img).max() < 1e-5


# ---------------------------------------------------------------- responses
@pytest.mark.parametrize("resp", [{"type": "gamma", "gamma": 2.2}, {"type": "srgb"}, {"type": "linear"},
                                  {"type": "filmic", "gamma": 2.0, "contrast": 5.0, "midpoint": 0.45}])
def test_response_roundtrip_and_monotone(resp):
    x = np.linspace(0, 1, 257)
    y = apply_response(x, resp)
    assert y[0] == pytest.approx(0, abs=1e-9) and y[-1] == pytest.approx(1, abs=1e-9)
    assert np.all(np.diff(y) >= 0)
    assert np.abs(invert_response(y, resp) - x).max() < 1e-6


# ---------------------------------------------------------------- camera
def test_capture_deterministic_for_seed():
    cam = Camera("unknown")
    img = pattern()
    a, b, c = cam.capture(img, 7), cam.capture(img, 7), cam.capture(img, 8)
    assert a.shape == img.shape and a.dtype == np.float32
    assert 0 <= a.min() and a.max() <= 1
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.array_equal(cam.blur_only(img, 3), cam.blur_only(img, 3))
    assert not np.array_equal(cam.blur_only(img, 3), cam.blur_only(img, 4))


def test_sharp_clean_capture_is_response_of_linearised_input():
    img = pattern()
    assert np.abs(Camera("known").capture(img, 0, motion=False, noise=False) - img).max() < 1e-5
    p = profile(response={"type": "filmic", "gamma": 2.0, "contrast": 4.0, "midpoint": 0.5})
    out = Camera(p).capture(img, 123, motion=False, noise=False)
    assert np.abs(out - apply_response(img.astype(np.float64) ** 2.2, p.response)).max() < 1e-5
    # a still camera's blurred path equals its sharp path
    still = Camera(profile(shake_speed=0.0, rotation_speed=0.0, colour_cast=(1.1, 1.0, 0.9)))
    assert np.array_equal(still.capture(img, 5, motion=True, noise=False),
                          still.capture(img, 5, motion=False, noise=False))


def test_blur_grows_with_exposure():
    img = pattern(64, 64)
    energies = [grad_energy(Camera(profile(exposure=e)).capture(img, 11, noise=False))
                for e in (0.0, 0.01, 0.03, 0.06)]
    assert all(a > b for a, b in zip(energies, energies[1:])), energies


def test_blur_scales_with_reference_size():
    cam = Camera(profile(reference_size=64))
    small, big = cam.trajectory(2, 64, 64), cam.trajectory(2, 128, 96)
    assert big.length == pytest.approx(2 * small.length, rel=1e-6)
    assert small.length == pytest.approx(300 * 0.02, rel=1e-6)


def test_noise_variance_grows_with_lower_photon_scale():
    flat = np.full((64, 64, 3), 0.5, np.float32)

    def var(ps):
        cam = Camera(profile(response={"type": "linear"}, noise={"photon_scale": ps, "read_sigma": 0.0}))
        return float(cam.capture(flat, 1, motion=False).var())

    lin = 0.5 ** 2.2
    v_hi, v_lo = var(1000.0), var(100.0)
    assert v_lo > 5 * v_hi
    assert v_lo == pytest.approx(lin / 100.0, rel=0.2)  # Poisson: var = mean / photon_scale
    # read noise alone adds its variance
    cam = Camera(profile(response={"type": "linear"}, noise={"photon_scale": None, "read_sigma": 0.02}))
    assert float(cam.capture(flat, 1, motion=False).var()) == pytest.approx(0.02 ** 2, rel=0.2)


def test_colour_cast_and_jpeg_applied():
    img = np.full((32, 32, 3), 0.5, np.float32)
    out = Camera(profile(colour_cast=(1.2, 1.0, 0.8))).capture(img, 0, motion=False, noise=False)
    assert out[..., 0].mean() > 0.5 + 0.02 and out[..., 2].mean() < 0.5 - 0.02
    assert abs(out[..., 1].mean() - 0.5) < 1e-4
    jp = Camera(profile(jpeg_quality=50)).capture(pattern(32, 32), 0, motion=False, noise=False)
    assert np.allclose(jp * 255, np.round(jp * 255), atol=1e-3)  # 8-bit decoded values
    assert np.abs(jp - pattern(32, 32)).max() > 1 / 255


def test_kernels_profile_delta_kernel_and_blur_only(tmp_path):
    delta = np.zeros((5, 5), np.float32)
    delta[2, 2] = 1
    np.save(tmp_path / "delta.npy", delta)
    img = pattern(32, 32)
    for resp in ({"type": "gamma", "gamma": 2.2},
                 {"type": "filmic", "gamma": 2.0, "contrast": 5.0, "midpoint": 0.45}):
        cam = Camera(profile(type="kernels", kernels=str(tmp_path / "delta.npy"), response=resp))
        assert np.abs(cam.blur_only(img, 4) - img).max() < 1e-4
    cam = Camera(profile(type="kernels", kernels=str(tmp_path / "delta.npy")))
    assert np.abs(cam.capture(img, 4, noise=False) - img).max() < 1e-4
    box = np.ones((1, 7), np.float32)
    np.save(tmp_path / "box.npy", box)
    blurred = Camera(profile(type="kernels", kernels=str(tmp_path / "box.npy"))).blur_only(img, 0)
    assert grad_energy(blurred) < 0.7 * grad_energy(img)


def test_shipped_profiles_differ_and_blur_lengths():
    known, unknown = Camera("known"), Camera("unknown")
    lk = [known.trajectory(s, 128, 128).length for s in range(50)]
    lu = [unknown.trajectory(s, 128, 128).length for s in range(50)]
    assert 3 <= min(lk) and max(lk) <= 7.01
    assert 7 <= min(lu) and max(lu) <= 16
    assert known.profile.response["type"] != unknown.profile.response["type"]
    assert unknown.profile.jpeg_quality is not None and known.profile.jpeg_quality is None
    assert unknown.profile.noise["photon_scale"] < known.profile.noise["photon_scale"]


def test_kernel_for_sizes():
    cam = Camera("known")
    k = cam.kernel_for(3, (128, 128))
    assert k.sum() == pytest.approx(1, abs=1e-5)
    k9 = cam.kernel_for(3, (128, 128), size=9)
    assert k9.shape == (9, 9) and k9.sum() == pytest.approx(1, abs=1e-5)
    with pytest.raises(ValueError, match="odd"):
        cam.kernel_for(3, (128, 128), size=8)


def test_capture_rejects_bad_input():
    cam = Camera("known")
    with pytest.raises(ValueError, match="HxWx3"):
        cam.capture(np.zeros((8, 8), np.float32), 0)
    with pytest.raises(ValueError, match="seed"):
        cam.capture(pattern(8, 8), -1)


# ---------------------------------------------------------------- profiles
def test_profile_yaml_roundtrip_and_errors(tmp_path):
    p = load_profile("unknown")
    path = save_profile(p, tmp_path / "cam.yaml")
    q = load_profile(path)
    assert q == p
    assert {"known", "unknown", "levin"} <= set(list_profiles())
    (tmp_path / "bad.yaml").write_text("exposure: 0.01\nshutter_angle: 180\n")
    with pytest.raises(ProfileError, match="shutter_angle"):
        load_profile(tmp_path / "bad.yaml")
    (tmp_path / "bad2.yaml").write_text("response: {type: gamma, gama: 2.0}\n")
    with pytest.raises(ProfileError, match="gama"):
        load_profile(tmp_path / "bad2.yaml")
    with pytest.raises(ProfileError, match="nosuchcamera"):
        load_profile("nosuchcamera")


def test_kernels_profile_needs_valid_file(tmp_path):
    with pytest.raises(ProfileError, match="kernels"):
        load_profile("levin")
    with pytest.raises(ProfileError, match="does not exist"):
        load_profile("levin", kernels=str(tmp_path / "missing.mat"))
    k = np.ones((3, 3))
    np.save(tmp_path / "k.npy", k)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "cam.yaml").write_text("type: kernels\nkernels: ../k.npy\n")
    p = load_profile(tmp_path / "sub" / "cam.yaml")  # relative to the YAML's folder
    assert Path(p.kernels).resolve() == (tmp_path / "k.npy").resolve()
    assert p.name == "cam"
    assert load_profile("levin", kernels=str(tmp_path / "k.npy")).type == "kernels"


# ---------------------------------------------------------------- kernel files
def test_load_kernels_formats(tmp_path):
    from PIL import Image
    import h5py
    import scipy.io

    k = np.zeros((5, 7))
    k[2, 1:6] = [1, 2, 3, 2, 1]
    Image.fromarray((k / k.max() * 255).astype(np.uint8)).save(tmp_path / "k.png")
    (png,) = load_kernels(tmp_path / "k.png")
    assert png.shape == (5, 7) and png.sum() == pytest.approx(1, abs=1e-6)
    assert np.abs(png - k / k.sum()).max() < 0.01

    np.save(tmp_path / "one.npy", k - 0.1)  # negatives are clipped
    (one,) = load_kernels(tmp_path / "one.npy")
    assert one.min() >= 0 and one.sum() == pytest.approx(1, abs=1e-6)
    np.save(tmp_path / "stack.npy", np.stack([k, k[::-1], np.ones((5, 7))]))
    assert len(load_kernels(tmp_path / "stack.npy")) == 3

    cell = np.empty((1, 2), dtype=object)
    cell[0, 0], cell[0, 1] = k, np.ones((3, 3))
    scipy.io.savemat(tmp_path / "cell.mat", {"kernels": cell, "other": np.eye(4)})
    ks = load_kernels(tmp_path / "cell.mat")
    assert [x.shape for x in ks] == [(5, 7), (3, 3)]
    assert np.allclose(ks[0], k / k.sum(), atol=1e-6)
    scipy.io.savemat(tmp_path / "plain.mat", {"psf": k})
    assert load_kernels(tmp_path / "plain.mat")[0].shape == (5, 7)

    with h5py.File(tmp_path / "v73.mat", "w") as h:  # MATLAB v7.3 layout: transposed + refs
        refs = h.create_group("#refs#")
        a = refs.create_dataset("a", data=k.T)
        b = refs.create_dataset("b", data=np.ones((3, 4)).T)
        ds = h.create_dataset("kernels", (2, 1), dtype=h5py.ref_dtype)
        ds[0, 0], ds[1, 0] = a.ref, b.ref
    ks = load_kernels(tmp_path / "v73.mat")
    assert [x.shape for x in ks] == [(5, 7), (3, 4)]
    assert np.allclose(ks[0], k / k.sum(), atol=1e-6)
    with h5py.File(tmp_path / "plain73.mat", "w") as h:
        h.create_dataset("k", data=k.T)
    assert load_kernels(tmp_path / "plain73.mat")[0].shape == (5, 7)


def test_load_kernels_errors(tmp_path):
    with pytest.raises(KernelFileError, match="does not exist"):
        load_kernels(tmp_path / "nope.npy")
    (tmp_path / "k.txt").write_text("1 2 3")
    with pytest.raises(KernelFileError, match="unsupported"):
        load_kernels(tmp_path / "k.txt")
    np.save(tmp_path / "zero.npy", np.zeros((3, 3)))
    with pytest.raises(KernelFileError, match="<= 0"):
        load_kernels(tmp_path / "zero.npy")
    (tmp_path / "junk.mat").write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(KernelFileError, match="junk.mat"):
        load_kernels(tmp_path / "junk.mat")


@pytest.mark.skipif(not (KERNEL_DIR / "Levin09.mat").is_file(), reason="shared kernel data absent")
def test_load_real_kernel_files():
    levin = load_kernels(KERNEL_DIR / "Levin09.mat")
    assert [k.shape[0] for k in levin] == [19, 17, 15, 27, 13, 21, 23, 23]
    assert all(abs(k.sum() - 1) < 1e-5 for k in levin)
    k12 = load_kernels(KERNEL_DIR / "kernels_12.mat")
    assert len(k12) == 12 and all(k.shape == (25, 25) for k in k12)
    # kernels_12 index 9 is Levin kernel index 6 zero-padded to 25x25
    pad = (25 - 23) // 2
    assert np.abs(k12[9] - np.pad(levin[6], pad)).max() < 1e-5
    cam = Camera(load_profile("levin", kernels=str(KERNEL_DIR / "Levin09.mat")))
    assert grad_energy(cam.capture(pattern(48, 48), 0, noise=False)) < grad_energy(pattern(48, 48))


def test_kernels_profile_scales_kernel_with_reference_size(tmp_path):
    line = np.zeros((1, 9), np.float32)
    line[0, :] = 1
    np.save(tmp_path / "line.npy", line)
    fixed = Camera(profile(type="kernels", kernels=str(tmp_path / "line.npy")))
    scaled = Camera(profile(type="kernels", kernels=str(tmp_path / "line.npy"), reference_size=32))
    k1, k2 = fixed.kernel_for(0, (64, 64)), scaled.kernel_for(0, (64, 64))
    width = lambda k: int((k.sum(0) > 1e-6).sum())  # noqa: E731
    assert width(k1) == 9 and 16 <= width(k2) <= 19
    assert k2.sum() == pytest.approx(1, abs=1e-5)


def test_bayer_mosaic_and_a_jpeg_quality_range(rng):
    from blur2blur.simulate import CameraProfile, load_profile
    from blur2blur.simulate.camera import demosaic_bilinear, mosaic_rggb
    from blur2blur.simulate.profile import ProfileError

    flat = np.full((8, 10, 3), [0.2, 0.5, 0.7])
    np.testing.assert_allclose(demosaic_bilinear(mosaic_rggb(flat)), flat, atol=1e-12)  # (flat stays flat)
    edge = np.zeros((8, 10, 3))
    edge[:, 5:] = 1.0
    fringes = demosaic_bilinear(mosaic_rggb(edge))
    assert np.abs(fringes[..., 0] - fringes[..., 2]).max() > 0.2  # (colour fringes at a grey edge)
    from tests.conftest import smooth_photo

    img = smooth_photo(rng, 32, 40)
    base = dict(load_profile("unknown").to_dict(), reference_size=None, rotation_speed=0.0)
    plain = Camera(CameraProfile(**base)).capture(img, 3)
    bayer = Camera(CameraProfile(**{**base, "mosaic": True})).capture(img, 3)
    assert np.abs(plain - bayer).mean() > 1e-3
    ideal = Camera(CameraProfile(**{**base, "mosaic": True})).capture(img, 3, motion=False, noise=False, jpeg=False)
    np.testing.assert_allclose(ideal, Camera(CameraProfile(**base)).capture(img, 3, motion=False, noise=False,
                                                                            jpeg=False))
    ranged = Camera(CameraProfile(**{**base, "jpeg_quality": [75, 88]}))
    shots = [ranged.capture(img, s) for s in range(4)]
    assert np.array_equal(shots[0], ranged.capture(img, 0))  # (the quality is part of the seeded capture)
    with pytest.raises(ProfileError, match="range must be"):
        CameraProfile(**{**base, "jpeg_quality": [90, 80]})
    with pytest.raises(ProfileError, match="mosaic must be true or false"):
        CameraProfile(**{**base, "mosaic": "yes"})
