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
