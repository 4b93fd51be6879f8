"""The models shipped inside the package: found by name, checked, loaded with no network.

The shipped deblurrer is a NAFNet trained for the project's known camera (the `actioncam`
profile, simulate/profiles/actioncam.yaml) by `blur2blur train-deblurrer --preset shipped`;
docs/model_card.md says how, on what and how well. Its files live in `blur2blur/weights/`:
`<name>.safetensors` with its `<name>.json` metadata, and `MANIFEST.json` holding the SHA-256 of
every weight file, so that a truncated or altered file is refused with a message rather than
loaded as noise.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from blur2blur.nets.weights import load_model, read_model_meta
from blur2blur.outputs.files import atomic_write_text

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"  # (blur2blur/weights)
SHIPPED_DEBLURRER = "deblurrer_actioncam"
KNOWN_CAMERA = "actioncam"
REINSTALL = "reinstall blur2blur (pip install --force-reinstall .) or give --deblurrer CHECKPOINT"


class ShippedModelError(RuntimeError):
    """A shipped model file is missing or damaged; the message names the file and the remedy."""


def shipped_stem(name: str = SHIPPED_DEBLURRER, verify: bool = True) -> Path:
    """Path stem of a shipped model (give it to `nets.weights.load_model`), after checking that its
    `.safetensors` and `.json` exist and that the weights match MANIFEST.json's SHA-256."""
    stem = WEIGHTS_DIR / name
    weights, meta = stem.with_suffix(".safetensors"), stem.with_suffix(".json")
    for path in (weights, meta):
        if not path.is_file():
            raise ShippedModelError(f"the shipped model file {path} is missing: {REINSTALL}")
    if verify:
        expected = manifest().get(weights.name)
        if expected is None:
            raise ShippedModelError(f"{WEIGHTS_DIR / 'MANIFEST.json'} has no entry for {weights.name}: {REINSTALL}")
        actual = sha256(weights)
        if actual != expected:
            raise ShippedModelError(f"the shipped model file {weights} is damaged (SHA-256 {actual[:12]}... "
                                    f"instead of {expected[:12]}...): {REINSTALL}")
    return stem


def manifest() -> dict[str, str]:
    """{file name: SHA-256 hex} of the shipped weight files."""
    path = WEIGHTS_DIR / "MANIFEST.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ShippedModelError(f"{path} cannot be read ({exc}): {REINSTALL}") from None


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_shipped_deblurrer(device=None):
    """The shipped deblurrer as an eval-mode `nn.Module` (NCHW RGB [0,1] in and out)."""
    stem = shipped_stem()
    try:
        return load_model(stem, device)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ShippedModelError(f"the shipped model {stem}.safetensors cannot be loaded ({exc}): {REINSTALL}") from None


def ship(stem: str | Path, name: str = SHIPPED_DEBLURRER) -> Path:
    """Copy a trained checkpoint (`stem`.safetensors + .json, e.g. `runs/shipped/deblurrer`) into
    the package as the shipped model `name` and update MANIFEST.json. Returns the new stem."""
    meta = read_model_meta(stem)
    meta["weights"] = f"{name}.safetensors"
    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(f"{stem}.safetensors", WEIGHTS_DIR / f"{name}.safetensors")
    atomic_write_text(WEIGHTS_DIR / f"{name}.json", json.dumps(meta, indent=2, sort_keys=True) + "\n")
    write_manifest()
    return WEIGHTS_DIR / name


def write_manifest() -> dict[str, str]:
    """Record the SHA-256 of every `.safetensors` in WEIGHTS_DIR (run after committing new weights)."""

    entries = {p.name: sha256(p) for p in sorted(WEIGHTS_DIR.glob("*.safetensors"))}
    atomic_write_text(WEIGHTS_DIR / "MANIFEST.json", json.dumps(entries, indent=2, sort_keys=True) + "\n")
    return entries
