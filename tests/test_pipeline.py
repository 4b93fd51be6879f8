import numpy as np
import pytest
import torch

from blur2blur.infer.pipeline import DeblurPipeline
from blur2blur.nets.padding import pad_to_multiple
from blur2blur.io import read_image, write_image
from blur2blur.nets import build_network
from blur2blur.nets.weights import save_model


def _nets():
    torch.manual_seed(0)
    deb = build_network("nafnet", width=8, enc_blk_nums=[1, 1], middle_blk_num=1, dec_blk_nums=[1, 1])
    tra = build_network("mimo_unet", base_channel=8, num_res=1)
    return deb, tra


@pytest.mark.parametrize("size", [(37, 53), (16, 16), (5, 9)])
def test_full_resolution_any_size(size):
    deb, tra = _nets()
    pipe = DeblurPipeline(deb, tra, device="cpu")
    img = np.random.default_rng(0).uniform(0, 1, (*size, 3)).astype(np.float32)
    outs = pipe.run(img)
    assert outs["deblurred"].shape == (*size, 3)
    assert outs["translated"].shape == (*size, 3)
    assert outs["deblurred"].min() >= 0 and outs["deblurred"].max() <= 1


def test_padding_does_not_change_the_valid_region_of_a_pointwise_net():
    x = torch.rand(1, 3, 37, 53)
    padded = pad_to_multiple(x, 16)
    h, w = 37, 53
    assert padded.shape[-2:] == (48, 64)
    assert pad_to_multiple(torch.rand(1, 3, 5, 9), 16).shape[-2:] == (16, 16)  # replicate fallback
    assert torch.equal(padded[..., :h, :w], x)


def test_folder_round_trip_from_checkpoints(tmp_path):
    deb, tra = _nets()
    save_model(deb, tmp_path / "deb", "nafnet", {"width": 8, "enc_blk_nums": [1, 1], "middle_blk_num": 1,
                                                  "dec_blk_nums": [1, 1]})
    save_model(tra, tmp_path / "tra", "mimo_unet", {"base_channel": 8, "num_res": 1})
    img = np.random.default_rng(1).uniform(0, 1, (21, 30, 3)).astype(np.float32)
    write_image(tmp_path / "in" / "a.png", img)
    pipe = DeblurPipeline.from_checkpoints(tmp_path / "deb", tmp_path / "tra", device="cpu")
    written = pipe.run_folder(tmp_path / "in", tmp_path / "out", save_translated=True, progress=False)
    assert [p.name for p in written] == ["a.png"]
    assert read_image(written[0]).shape == (21, 30, 3)
    assert (tmp_path / "out" / "translated" / "a.png").is_file()
    expected = pipe.run(read_image(tmp_path / "in" / "a.png"))["deblurred"]
    assert np.abs(read_image(written[0]) - expected).max() <= 0.5 / 255 + 1e-6


def test_official_checkpoint_by_name(tmp_path):
    from blur2blur.nets.official import OFFICIAL, load_network

    name, kwargs = OFFICIAL["nafnet-gopro-width32"]
    torch.manual_seed(0)
    net = build_network(name, **kwargs)
    torch.save({"params": net.state_dict()}, tmp_path / "NAFNet-GoPro-width32.pth")
    loaded = load_network(tmp_path / "NAFNet-GoPro-width32.pth", "nafnet-gopro-width32", tlc=True)
    assert loaded.tlc and not loaded.training
    for key, value in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    with pytest.raises(ValueError, match="nafnet-gopro-width32"):
        load_network(tmp_path / "NAFNet-GoPro-width32.pth")
    with pytest.raises(ValueError, match="missing|unexpected|mismatch"):
        load_network(tmp_path / "NAFNet-GoPro-width32.pth", "nafnet-gopro-width64")


def test_the_ensemble_averages_the_deblurrer_over_flipped_views():
    deb, _ = _nets()
    y = torch.rand(1, 3, 21, 30)
    x = pad_to_multiple(y, 16)
    with torch.no_grad():
        views = [deb(x), deb(x.flip(-1)).flip(-1), deb(x.flip(-2)).flip(-2), deb(x.flip(-2, -1)).flip(-2, -1)]
        t = x.transpose(-1, -2)
        views += [deb(t).transpose(-1, -2), deb(t.flip(-1)).flip(-1).transpose(-1, -2),
                  deb(t.flip(-2)).flip(-2).transpose(-1, -2), deb(t.flip(-2, -1)).flip(-2, -1).transpose(-1, -2)]
    views = [v.clamp(0, 1)[..., :21, :30] for v in views]
    for n in (1, 2, 4, 8):
        got = DeblurPipeline(deb, device="cpu", amp="none", channels_last=False, ensemble=n).run_tensor(y)["deblurred"]
        assert torch.allclose(got, sum(views[:n]) / n, atol=1e-5), n
    # the views differ (the network is not flip-equivariant), so the average is not the plain output
    assert (views[1] - views[0]).abs().max() > 1e-3
    # channels-last and bfloat16 runs take the same views
    low = DeblurPipeline(deb, device="cpu", amp="bf16", channels_last=True, ensemble=4).run_tensor(y)["deblurred"]
    assert (low - sum(views[:4]) / 4).abs().mean() < 0.01


def test_the_ensemble_of_a_flip_symmetric_deblurrer_is_its_output_and_bad_counts_are_refused():
    box = torch.nn.Conv2d(3, 3, 3, padding=1, groups=3, bias=False)
    torch.nn.init.constant_(box.weight, 1 / 9)
    y = torch.rand(1, 3, 32, 32)
    one = DeblurPipeline(box, device="cpu", amp="none", ensemble=1).run_tensor(y)["deblurred"]
    for n in (2, 4, 8):
        many = DeblurPipeline(box, device="cpu", amp="none", ensemble=n).run_tensor(y)["deblurred"]
        assert torch.allclose(one, many, atol=1e-6)
    for bad in (0, 3, 16, True, "4"):
        with pytest.raises(ValueError, match="ensemble must be 1"):
            DeblurPipeline(box, device="cpu", ensemble=bad)


def test_deblur_command_and_python_api_pass_the_ensemble(tmp_path):
    from blur2blur.api import load_pipeline
    from blur2blur.cli import main

    deb, _ = _nets()
    save_model(deb, tmp_path / "deb", "nafnet", {"width": 8, "enc_blk_nums": [1, 1], "middle_blk_num": 1,
                                                  "dec_blk_nums": [1, 1]})
    img = np.random.default_rng(2).uniform(0, 1, (24, 40, 3)).astype(np.float32)
    write_image(tmp_path / "in" / "a.png", img)
    img = read_image(tmp_path / "in" / "a.png")
    assert main(["deblur", str(tmp_path / "in"), str(tmp_path / "out"), "--deblurrer", str(tmp_path / "deb"),
                 "--ensemble", "4", "--no-progress"]) == 0
    four = DeblurPipeline.from_checkpoints(tmp_path / "deb", device="cpu", ensemble=4).run(img)["deblurred"]
    one = DeblurPipeline.from_checkpoints(tmp_path / "deb", device="cpu").run(img)["deblurred"]
    assert np.abs(read_image(tmp_path / "out" / "a.png") - four).max() <= 0.5 / 255 + 1e-6
    assert np.abs(four - one).max() > 2 / 255  # (so the file above is the ensemble's, not the plain output)
    api = load_pipeline(tmp_path / "deb", device="cpu", ensemble=4)
    assert api.pipeline.ensemble == 4
    with pytest.raises(ValueError, match="give it alone"):
        load_pipeline(tmp_path / "m.onnx", ensemble=4)
