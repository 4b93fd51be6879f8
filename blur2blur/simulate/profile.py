"""Camera profiles: the named, documented parameters of a simulated camera, stored as YAML.

Units
-----
Blur lengths are pixels of image motion. When ``reference_size`` is set they are pixels at an
image whose longer side is ``reference_size`` pixels, and they scale with the image: a 512 px image
gets 4x the blur of a 128 px one (the same shake seen at a higher resolution). With
``reference_size: null`` the lengths are absolute pixels whatever the image size.

The nominal blur path length is ``shake_speed * exposure`` (times the size scale), so blur grows
with exposure. Each capture draws its length uniformly in ``[1 - length_spread, 1 + length_spread]``
times the nominal length.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from blur2blur.outputs.files import atomic_write_text

PROFILES_DIR = Path(__file__).resolve().parent / "profiles"

RESPONSE_TYPES = {
    # type -> allowed keys besides "type" (with defaults)
    "gamma": {"gamma": 2.2},
    "srgb": {},
    "filmic": {"gamma": 2.2, "contrast": 5.0, "midpoint": 0.45},
    "linear": {},
}
NOISE_KEYS = {"photon_scale": None, "read_sigma": 0.0}


class ProfileError(ValueError):
    """A camera profile is invalid or cannot be found; the message says which field and why."""


@dataclass
class CameraProfile:
    """Parameters of a simulated camera.

    Attributes:
        name: profile name (defaults to the YAML file stem).
        type: "trajectory" (render random camera shake) or "kernels" (convolve with a kernel
            drawn from the ``kernels`` file).
        exposure: exposure time in seconds; the blur length is ``shake_speed * exposure``.
        shake_speed: image motion speed in pixels per second (at ``reference_size``).
        length_spread: relative spread of the blur length per capture, in [0, 1).
        curviness: 0 = straight-line blur, ~1 = strongly curved paths (heading changes ~pi).
        rotation_speed: in-plane rotation speed in radians per second (about the image centre);
            the rotation over an exposure is at most ``rotation_speed * exposure``.
        n_subframes: minimum number of sub-frames per exposure; raised automatically so that
            consecutive sub-frames are at most 0.5 px apart.
        reference_size: longer image side (px) at which blur lengths are expressed; None = absolute.
        gain: linear exposure gain applied to the linearised scene (1 = unchanged; >1 may clip).
        response: camera response curve, a dict with ``type`` in "gamma" ({gamma}),
            "srgb", "filmic" ({gamma, contrast, midpoint}: a normalised sigmoid applied after
            the gamma) or "linear".
        noise: {photon_scale: electrons at white (None or 0 = no shot noise),
            read_sigma: Gaussian read noise std in linear [0,1] units}.
        sharp_noise_scale: noise std multiplier for sharp (motion=False) captures.
        colour_cast: per-channel linear gains (R, G, B) applied before the response.
        jpeg_quality: JPEG quality 1..100 applied at the end, a range [lo, hi] drawn per capture
            (phones change it with the scene), or None for no compression.
        mosaic: True for a Bayer (RGGB) sensor: each pixel keeps one colour of the linear image
            (after noise) and the others are interpolated back bilinearly, as a plain ISP does
            (colour fringes at edges, correlated noise between channels).
        kernels: for type "kernels", path of a kernel file (PNG, .npy, .mat); relative paths in a
            YAML file are resolved against the YAML's folder.
    """

    name: str = "camera"
    type: str = "trajectory"
    exposure: float = 1.0 / 60.0
    shake_speed: float = 300.0
    length_spread: float = 0.3
    curviness: float = 0.3
    rotation_speed: float = 0.5
    n_subframes: int = 16
    reference_size: int | None = 128
    gain: float = 1.0
    response: dict = field(default_factory=lambda: {"type": "gamma", "gamma": 2.2})
    noise: dict = field(default_factory=lambda: {"photon_scale": 4000.0, "read_sigma": 0.001})
    sharp_noise_scale: float = 1.0
    colour_cast: tuple = (1.0, 1.0, 1.0)
    jpeg_quality: int | list | None = None
    mosaic: bool = False
    kernels: str | None = None

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field; normalise the nested dicts (defaults filled). Raises ProfileError."""
        where = f"camera profile {self.name!r}"
        if self.type not in ("trajectory", "kernels"):
            raise ProfileError(f"{where}: type must be 'trajectory' or 'kernels', got {self.type!r}")
        if not isinstance(self.name, str) or not self.name:
            raise ProfileError(f"{where}: name must be a text, got {_short(self.name)}")
        for key in ("exposure", "shake_speed", "rotation_speed", "curviness", "gain"):
            if _number(getattr(self, key), where, key) < 0:
                raise ProfileError(f"{where}: {key} must be a number >= 0, got {_short(getattr(self, key))}")
        if not 0 <= _number(self.length_spread, where, "length_spread") < 1:
            raise ProfileError(f"{where}: length_spread must be in [0, 1), got {_short(self.length_spread)}")
        self.n_subframes = _number(self.n_subframes, where, "n_subframes", integer=True)
        if self.n_subframes < 1:
            raise ProfileError(f"{where}: n_subframes must be >= 1, got {self.n_subframes!r}")
        if self.reference_size is not None and _number(self.reference_size, where, "reference_size") <= 0:
            raise ProfileError(f"{where}: reference_size must be > 0 or null, got {_short(self.reference_size)}")
        self.response = _check_response(self.response, where)
        self.noise = _check_noise(self.noise, where)
        if _number(self.sharp_noise_scale, where, "sharp_noise_scale") < 0:
            raise ProfileError(f"{where}: sharp_noise_scale must be >= 0")
        if not isinstance(self.colour_cast, (list, tuple)) or len(self.colour_cast) != 3:
            raise ProfileError(f"{where}: colour_cast must be a list of 3 positive gains, got {_short(self.colour_cast)}")
        cast = tuple(_number(c, where, "colour_cast") for c in self.colour_cast)
        if min(cast) <= 0:
            raise ProfileError(f"{where}: colour_cast must be 3 positive gains, got {_short(self.colour_cast)}")
        self.colour_cast = cast
        if isinstance(self.jpeg_quality, (list, tuple)):
            qs = [_number(q, where, "jpeg_quality", integer=True) for q in self.jpeg_quality]
            if len(qs) != 2 or not 1 <= qs[0] <= qs[1] <= 100:
                raise ProfileError(f"{where}: jpeg_quality as a range must be [lo, hi] with 1 <= lo <= hi <= 100, "
                                   f"got {_short(self.jpeg_quality)}")
            self.jpeg_quality = qs
        elif self.jpeg_quality is not None:
            self.jpeg_quality = _number(self.jpeg_quality, where, "jpeg_quality", integer=True)
            if not 1 <= self.jpeg_quality <= 100:
                raise ProfileError(f"{where}: jpeg_quality must be 1..100, a range [lo, hi] or null, "
                                   f"got {self.jpeg_quality!r}")
        if not isinstance(self.mosaic, bool):
            raise ProfileError(f"{where}: mosaic must be true or false, got {_short(self.mosaic)}")
        if self.type == "kernels":
            if not self.kernels:
                raise ProfileError(
                    f"{where} (type kernels) needs a kernels file: set `kernels:` in the YAML to a "
                    "PNG/.npy/.mat path (e.g. Levin09.mat) or pass kernels=... to load_profile")
            if not Path(self.kernels).is_file():
                raise ProfileError(f"{where}: kernels file {str(self.kernels)!r} does not exist")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of all fields (YAML/JSON friendly)."""
        d = dataclasses.asdict(self)
        d["colour_cast"] = list(self.colour_cast)
        return d

    def blur_scale(self, height: int, width: int) -> float:
        """Factor turning profile pixel lengths into pixels of an image of this size."""
        if self.reference_size is None:
            return 1.0
        return max(height, width) / float(self.reference_size)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _number(value: Any, where: str, key: str, integer: bool = False) -> float:
    """`value` as a number (whole for `integer`); ProfileError naming the field otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and isinstance(value, float)
                                                                          and not value.is_integer()):
        raise ProfileError(f"{where}: {key} must be a {'whole number' if integer else 'number'}, got {_short(value)}")
    return int(value) if integer else float(value)


def _check_response(resp: Any, where: str) -> dict:
    if not isinstance(resp, dict) or "type" not in resp:
        raise ProfileError(f"{where}: response must be a mapping with a 'type', got {_short(resp)}")
    kind = resp["type"]
    if kind not in RESPONSE_TYPES:
        raise ProfileError(f"{where}: response type {kind!r} unknown; use one of {sorted(RESPONSE_TYPES)}")
    allowed = RESPONSE_TYPES[kind]
    extra = sorted(set(resp) - set(allowed) - {"type"})
    if extra:
        raise ProfileError(f"{where}: response type {kind!r} has unknown keys {extra}; allowed {sorted(allowed)}")
    out = {"type": kind, **allowed}
    for key in allowed:
        if key in resp:
            out[key] = _number(resp[key], where, f"response.{key}")
    if out.get("gamma", 1.0) <= 0 or out.get("contrast", 1.0) <= 0:
        raise ProfileError(f"{where}: response gamma and contrast must be > 0")
    if not 0 < out.get("midpoint", 0.5) < 1:
        raise ProfileError(f"{where}: response midpoint must be in (0, 1)")
    return out


def _check_noise(noise: Any, where: str) -> dict:
    if noise is None:
        noise = {}
    if not isinstance(noise, dict):
        raise ProfileError(f"{where}: noise must be a mapping, got {_short(noise)}")
    extra = sorted(set(noise) - set(NOISE_KEYS))
    if extra:
        raise ProfileError(f"{where}: noise has unknown keys {extra}; allowed {sorted(NOISE_KEYS)}")
    out = {**NOISE_KEYS, **noise}
    ps = out["photon_scale"]
    if ps is not None and _number(ps, where, "noise.photon_scale") < 0:
        raise ProfileError(f"{where}: noise.photon_scale must be >= 0 or null, got {_short(ps)}")
    out["photon_scale"] = None if not ps else float(ps)
    if out["read_sigma"] is None or _number(out["read_sigma"], where, "noise.read_sigma") < 0:
        raise ProfileError(f"{where}: noise.read_sigma must be >= 0, got {_short(out['read_sigma'])}")
    out["read_sigma"] = float(out["read_sigma"])
    return out


def list_profiles() -> list[str]:
    """Names of the shipped profiles (usable with load_profile)."""
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


def _resolve_path(value: str, base: Path) -> str:
    p = Path(os.path.expandvars(os.path.expanduser(str(value))))
    if not p.is_absolute():
        p = base / p
    return str(p)


def load_profile(name_or_path: str | os.PathLike | CameraProfile, **overrides: Any) -> CameraProfile:
    """Load a shipped profile by name ("known", "unknown", "levin") or a YAML file path.

    ``overrides`` replace fields after reading (e.g. ``kernels="/data/Levin09.mat"``); a relative
    ``kernels`` override is taken relative to the current directory. Unknown keys are an error.
    """
    if isinstance(name_or_path, CameraProfile):
        data = name_or_path.to_dict()
        base = Path.cwd()
    else:
        text = str(name_or_path)
        path = Path(text)
        if not path.suffix and not path.exists():
            path = PROFILES_DIR / f"{text}.yaml"
            if not path.is_file():
                raise ProfileError(f"unknown camera profile {text!r}; shipped profiles: {list_profiles()} "
                                   "(or give a YAML file path)")
        if not path.is_file():
            raise ProfileError(f"camera profile file {str(path)!r} does not exist")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ProfileError(f"camera profile {str(path)!r} is not valid YAML: {exc}") from exc
        if data is None:
            raise ProfileError(f"camera profile {str(path)!r} is empty: write its fields (see the shipped "
                               f"profiles in {PROFILES_DIR})")
        if not isinstance(data, dict):
            raise ProfileError(f"camera profile {str(path)!r} must be a YAML mapping")
        data.setdefault("name", path.stem)
        base = path.resolve().parent
        if data.get("kernels"):
            data["kernels"] = _resolve_path(data["kernels"], base)
    if overrides.get("kernels"):
        overrides["kernels"] = _resolve_path(overrides["kernels"], Path.cwd())
    data.update(overrides)
    known = {f.name for f in dataclasses.fields(CameraProfile)}
    extra = sorted(set(data) - known)
    if extra:
        raise ProfileError(f"camera profile {data.get('name')!r} has unknown keys {extra}; "
                           f"allowed keys: {sorted(known)}")
    try:
        return CameraProfile(**data)
    except ProfileError as exc:
        if isinstance(name_or_path, CameraProfile):
            raise
        raise ProfileError(f"{path}: {exc}") from None


def save_profile(profile: CameraProfile, path: str | os.PathLike) -> Path:
    """Write the profile as YAML (all fields); returns the path. Creates parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, yaml.safe_dump(profile.to_dict(), sort_keys=False))
    return path
