import pytest

from blur2blur.train.config import DeblurrerConfig, TranslatorConfig, load_config, save_config
from blur2blur.train.config_checks import parse_overrides
from blur2blur.train.presets import make_config


def test_presets_differ_where_the_paper_and_code_differ():
    official = make_config(TranslatorConfig, "official")
    paper = make_config(TranslatorConfig, "paper")
    assert official.gan_mode == "hinge" and official.lambda_gp == 1e-4 and official.batch == 1
    assert paper.gan_mode == "vanilla" and paper.lambda_gp == 0.005 and paper.batch == 16
    small = make_config(TranslatorConfig, "cpu-small")
    assert small.crop < official.crop


def test_overrides_are_parsed_as_yaml():
    cfg = make_config(DeblurrerConfig, "cpu-small", ["lr=1e-4", "enc_blk_nums=[1,2]", "dec_blk_nums=[1,1]", "augment=false"])
    assert cfg.lr == pytest.approx(1e-4)
    assert cfg.enc_blk_nums == [1, 2]
    assert cfg.augment is False
    assert parse_overrides({"iters": 3}) == {"iters": 3}


def test_unknown_preset_and_field_are_named():
    with pytest.raises(ValueError, match="unknown preset 'fast'"):
        make_config(DeblurrerConfig, "fast")
    with pytest.raises(ValueError, match="itres"):
        make_config(DeblurrerConfig, "cpu-small", ["itres=3"])
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides(["iters"])


def test_config_round_trip(tmp_path):
    cfg = make_config(TranslatorConfig, "paper", ["iters=7"])
    save_config(cfg, tmp_path / "c.yaml", "paper")
    assert load_config(tmp_path / "c.yaml") == cfg


def test_presets_of_every_config_and_cpu_medium_sits_between():
    from blur2blur.train.config import KernelConfig
    from blur2blur.train.config_checks import validate_config
    from blur2blur.train.presets import PRESETS

    for cls in PRESETS:  # (the kernel network has no bench, hence no cpu-medium)
        assert {"official", "paper", "cpu-small"} <= set(PRESETS[cls])
        assert ("cpu-medium" in PRESETS[cls]) == (cls is not KernelConfig)
    for cls in PRESETS:
        for preset in PRESETS[cls]:
            validate_config(make_config(cls, preset))
    small, medium, official = (make_config(DeblurrerConfig, p) for p in ("cpu-small", "cpu-medium", "official"))
    assert small.crop <= medium.crop < official.crop and small.iters < medium.iters < official.iters
    assert len(small.enc_blk_nums) < len(medium.enc_blk_nums) == len(official.enc_blk_nums)
    t_small, t_medium = make_config(TranslatorConfig, "cpu-small"), make_config(TranslatorConfig, "cpu-medium")
    assert t_medium.crop > t_small.crop and t_medium.iters > t_small.iters
    assert (t_medium.lambda_gan, t_medium.lambda_swd, t_medium.out_kernel) == (0.0, 1000.0, 5)
