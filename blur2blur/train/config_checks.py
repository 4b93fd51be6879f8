"""Checks of every config field: type (with whole floats made ints), range, allowed values and
consistency between fields; and the parsing of `key=value` overrides. Errors name the field and value."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import yaml

from blur2blur.known_blur import SOURCES

# Allowed values of the enumerated fields (any config class that has the field).
CHOICES: dict[str, tuple[str, ...]] = {
    "amp": ("auto", "bf16", "none"),
    "gan_mode": ("vanilla", "hinge", "lsgan", "wgan"),
    "gan_scale_reduce": ("mean", "sum"),
    "rec_scale_reduce": ("mean", "sum"),
    "perc_arch": ("vgg16", "vgg19"),
    "curriculum_order": ("blurriest", "sharpest"),
    "update_order": ("d_first", "g_first"),
    "rec_target_resize": ("bilinear", "nearest"),
    "k_source": SOURCES,
    "k_noise": ("none", "match"),
    "kernel_mode": ("convex", "residual"),
    "val_keep": ("best", "last"),
    "val_criterion": ("auto", "known_blur", "deblurred"),
    "synthesis": ("", "linear", "bsrgan", "rsblur"),
    "method": ("cyclegan", "dualgan"),
}
NET_CHOICES = {"DeblurrerConfig": ("nafnet", "restormer"), "TranslatorConfig": ("mimo_unet", "unet", "nafnet")}
# Lower bounds of numeric fields (inclusive unless listed in _OPEN): counts >= 1, others >= 0.
_AT_LEAST_ONE = {"iters", "save_every", "log_every", "batch", "crop", "width", "base_channel", "ndf", "n_layers",
                 "ngf", "n_critic",
                 "levels", "k_variants", "nf", "kernel_dim", "recon_nf", "restart_every", "swd_patch",
                 "swd_projections", "d_steps", "restormer_dim", "val_crop", "val_scale"}
_OPEN = {"lr", "init_gain", "adam_eps", "charbonnier_eps"}  # > 0
_UNIT = {"hflip", "vflip", "rot90", "jitter", "curriculum_start"}  # in [0, 1]
_BELOW_ONE = {"val_fraction", "val_margin"}  # in [0, 1)


class ConfigError(ValueError):
    """A config field has a value of the wrong type or outside its range; names field and value."""


def _coerce(cls_name: str, name: str, kind: str, value):
    """`value` checked (and, for whole floats and numbers given to text fields, converted) against
    the annotation `kind` of the field."""
    def bad(expected: str):
        return ConfigError(f"invalid {cls_name} field {name}={value!r}: expected {expected}")

    def as_int(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not v.is_integer()):
            raise bad("a whole number")
        return int(v)

    def as_float(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise bad("a number")
        return float(v)

    if kind == "int":
        return as_int(value)
    if kind == "float":
        return as_float(value)
    if kind == "float | None":
        return None if value is None else as_float(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if kind == "str":
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            choices = CHOICES.get(name)
            raise bad(f"one of {', '.join(c or repr(c) for c in choices)}" if choices else "a text value"
                      + (" (YAML reads yes/no/on/off as true/false)" if isinstance(value, bool) else ""))
        return str(value)
    if kind.startswith("list["):
        if not isinstance(value, (list, tuple)):
            raise bad(f"a list such as [1, 2] ({kind})")
        item = kind[5:-1]
        conv = {"int": as_int, "float": as_float, "str": lambda v: str(v)}[item]
        return [conv(v) for v in value]
    return value


def validate_config(cfg):
    """Check every field of `cfg` for type, range, allowed values and consistency; return `cfg`
    with whole floats made ints (`iters=1e5`). Raises ConfigError naming the field and value."""
    name = type(cfg).__name__
    hints = {f.name: str(f.type) for f in fields(cfg)}
    for field_name, kind in hints.items():
        setattr(cfg, field_name, _coerce(name, field_name, kind, getattr(cfg, field_name)))

    def check(ok: bool, field_name: str, expected: str):
        if not ok:
            raise ConfigError(f"invalid {name} field {field_name}={getattr(cfg, field_name)!r}: {expected}")

    for field_name in hints:
        v = getattr(cfg, field_name)
        if field_name in CHOICES:
            check(v in CHOICES[field_name], field_name, f"choose one of {', '.join(CHOICES[field_name])}")
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            if field_name in _AT_LEAST_ONE:
                check(v >= 1, field_name, "must be at least 1")
            elif field_name in _OPEN:
                check(v > 0, field_name, "must be greater than 0")
            elif field_name in _UNIT:
                check(0 <= v <= 1, field_name, "must be in [0, 1]")
            elif field_name == "ema_decay" or field_name in _BELOW_ONE:
                check(0 <= v < 1, field_name, "must be in [0, 1)")
            else:
                check(v >= 0, field_name, "must not be negative")
        elif isinstance(v, list) and field_name.endswith(("blk_nums", "blocks", "heads")):
            check(len(v) > 0 and all(x >= (1 if field_name.endswith("heads") else 0) for x in v),
                  field_name, "must be a non-empty list of non-negative whole numbers")
    if hasattr(cfg, "net"):
        check(cfg.net in NET_CHOICES.get(name, (cfg.net,)), "net", f"choose one of {', '.join(NET_CHOICES.get(name, ()))}")
    if hasattr(cfg, "betas"):
        check(len(cfg.betas) == 2 and all(0 <= b < 1 for b in cfg.betas), "betas", "must be two numbers in [0, 1)")
    if hasattr(cfg, "enc_blk_nums"):
        check(len(cfg.enc_blk_nums) == len(cfg.dec_blk_nums), "dec_blk_nums",
              f"must have as many levels as enc_blk_nums ({len(cfg.enc_blk_nums)})")
    if hasattr(cfg, "restormer_blocks"):
        check(len(cfg.restormer_blocks) == 4 and len(cfg.restormer_heads) == 4, "restormer_blocks",
              "Restormer needs 4 levels of blocks and of heads")
        check(all((cfg.restormer_dim * 2 ** i) % h == 0 for i, h in enumerate(cfg.restormer_heads)),
              "restormer_heads", f"level i has restormer_dim * 2^i channels ({cfg.restormer_dim} at level 0), "
              "which must be divisible by its number of heads")
    if hasattr(cfg, "perc_layers"):
        check(len(cfg.perc_layers) == len(cfg.perc_layer_weights), "perc_layer_weights",
              f"needs one weight per layer of perc_layers ({len(cfg.perc_layers)})")
    return cfg


def parse_overrides(overrides: list[str] | dict | None) -> dict[str, Any]:
    """`["lr=1e-4", "tlc=true"]` -> `{"lr": 0.0001, "tlc": True}` (values parsed as YAML)."""
    if not overrides:
        return {}
    if isinstance(overrides, dict):
        return dict(overrides)
    out: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not of the form key=value")
        key, value = item.split("=", 1)
        out[key.strip()] = _parse_value(value)
    return out


def _parse_value(text: str) -> Any:
    """YAML scalar/list parsing, plus `1e-4`-style floats that YAML 1.1 reads as strings."""
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


