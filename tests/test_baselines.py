"""The paper's baselines: generic blur syntheses and deblurrers trained on them (tiny sizes)."""

import numpy as np
import pytest
import torch

from blur2blur.io import write_image
from blur2blur.nets.weights import load_model
from blur2blur.simulate.degradations import SYNTHESES, synthesize
from blur2blur.train.config import DeblurrerConfig
from blur2blur.train.deblurrer import train_deblurrer
from blur2blur.train.presets import make_config
from tests.conftest import smooth_photo
from tests.test_train import TINY_DEBLURRER


@pytest.mark.parametrize("name", SYNTHESES)
def test_synthesis_blurs_keeps_range_and_is_seeded(name):
    x = torch.from_numpy(np.stack([smooth_photo(np.random.default_rng(i), 48, 48) for i in range(2)])).permute(0, 3, 1, 2)
    a = synthesize(name, x, torch.Generator().manual_seed(0))
    b = synthesize(name, x, torch.Generator().manual_seed(0))
    c = synthesize(name, x, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and float(a.min()) >= 0 and float(a.max()) <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)

    def detail(t):  # mean absolute horizontal + vertical difference: blur lowers it
        return float((t[..., 1:, :] - t[..., :-1, :]).abs().mean() + (t[..., 1:] - t[..., :-1]).abs().mean())
    if name == "linear":
        assert detail(a) < detail(x)
    assert float((a - x).abs().mean()) > 0.005


def test_unknown_synthesis_is_refused():
    with pytest.raises(ValueError, match="synthesis"):
        synthesize("gopro", torch.rand(1, 3, 16, 16), torch.Generator())
    with pytest.raises(ValueError, match="synthesis"):
        make_config(DeblurrerConfig, "cpu-small", ["synthesis=gopro"])


@pytest.mark.parametrize("name", SYNTHESES)
def test_deblurrer_trains_on_a_synthesis_of_sharp_photos(tmp_path, name):
    rng = np.random.default_rng(0)
    for i in range(3):
        write_image(tmp_path / "S" / f"s{i}.png", smooth_photo(rng, 40, 40))
    cfg = make_config(DeblurrerConfig, "cpu-small", TINY_DEBLURRER + [f"synthesis={name}", "amp=none"])
    ckpt = train_deblurrer(None, tmp_path / "S", tmp_path / "run", cfg, device="cpu", progress=False)
    assert load_model(ckpt)(torch.rand(1, 3, 24, 24)).shape == (1, 3, 24, 24)


@pytest.mark.parametrize("method", ["cyclegan", "dualgan"])
def test_unpaired_gan_step_updates_all_four_networks(method):
    from blur2blur.train.config import UnpairedGANConfig
    from blur2blur.train.unpaired_gan import UnpairedGANTrainer

    cfg = make_config(UnpairedGANConfig, "cpu-small", [f"method={method}", "ngf=4", "n_blocks=1", "ndf=4",
                                                        "n_layers=1", "amp=none", "pool_size=2"])
    torch.manual_seed(0)
    tr = UnpairedGANTrainer(cfg, torch.device("cpu"))
    before = [[p.detach().clone() for p in n.parameters()] for n in (tr.G, tr.F, tr.D_S, tr.D_B)]
    logs = tr.step(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32))
    assert all(np.isfinite(v) for v in logs.values())
    for net, old in zip((tr.G, tr.F, tr.D_S, tr.D_B), before):
        assert any(not torch.equal(a, b) for a, b in zip(old, net.parameters()))
    if method == "dualgan":  # critics clipped, RMSProp, no identity term
        assert all(float(p.detach().abs().max()) <= cfg.clip + 1e-7 for p in tr.discs.parameters())
        assert isinstance(tr.opt_g, torch.optim.RMSprop) and logs["loss/idt"] == 0
    else:
        assert logs["loss/idt"] > 0 and len(tr.pool_s.items) == 2


def test_unpaired_gan_cli_trains_and_the_generator_deblurs(tmp_path, capsys):
    from blur2blur import cli

    rng = np.random.default_rng(0)
    for split in ("trainA", "trainB"):
        for i in range(3):
            write_image(tmp_path / "data" / split / f"{split}{i}.png", smooth_photo(rng, 40, 40))
    args = ["train-unpaired", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"), "--device", "cpu",
            "--no-progress"]
    for o in ["ngf=4", "n_blocks=1", "ndf=4", "n_layers=1", "crop=32", "batch=1", "iters=2", "save_every=2",
              "log_every=1", "method=dualgan"]:
        args += ["--set", o]
    assert cli.main(args) == 0
    code = cli.main(["deblur", str(tmp_path / "data" / "trainA"), str(tmp_path / "out"), "--deblurrer",
                     str(tmp_path / "run" / "deblurrer"), "--device", "cpu"])
    assert code == 0 and len(list((tmp_path / "out").glob("*.png"))) == 3


def test_converter_validation_classifier_and_accuracies(tmp_path):
    # (a classifier that really separates the blurs needs minutes; here: it trains, is seeded,
    # and both accuracies are fractions of the images)
    from blur2blur.metrics.converter import _known, _other, acc1, acc2, train_blur_classifier
    from blur2blur.nets import build_network
    from blur2blur.simulate import Camera, load_profile

    rng = np.random.default_rng(0)
    files = [write_image(tmp_path / f"s{i}.png", smooth_photo(rng, 48, 48)) for i in range(3)]
    a = train_blur_classifier(files, iters=3, batch=4, crop=32, width=4, progress=False)
    b = train_blur_classifier(files, iters=3, batch=4, crop=32, width=4, progress=False)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    gen = torch.Generator().manual_seed(9)
    sharp = torch.rand(4, 3, 32, 32)
    known = _known(sharp, Camera(load_profile("known")), gen)
    other = _other(sharp, gen)
    assert known.shape == other.shape == sharp.shape
    images = [k.permute(1, 2, 0).numpy() for k in known]
    assert acc2(a, images) in (0.0, 0.25, 0.5, 0.75, 1.0)
    disc = build_network("patchgan", input_nc=3, ndf=4, n_layers=1).eval()
    assert acc1(disc, images) in (0.0, 0.25, 0.5, 0.75, 1.0)


def test_classifier_heldout_accuracy_is_balanced_and_labelled(tmp_path):
    # each held-out image is shown known-blurred first, then other-blurred: a classifier answering
    # (known, other) in turn is always right, one answering the reverse always wrong, a constant
    # one at chance whatever its answer
    from blur2blur.metrics.converter import classifier_accuracy

    class Scripted(torch.nn.Module):
        def __init__(self, answers):
            super().__init__()
            self.w, self.answers, self.calls = torch.nn.Parameter(torch.zeros(1)), answers, 0

        def forward(self, x):
            self.calls += 1
            return torch.full((x.shape[0],), self.answers[(self.calls - 1) % len(self.answers)])

    rng = np.random.default_rng(0)
    files = [write_image(tmp_path / f"s{i}.png", smooth_photo(rng, 32, 32)) for i in range(3)]
    assert classifier_accuracy(Scripted([1.0, -1.0]), files) == 1.0
    assert classifier_accuracy(Scripted([-1.0, 1.0]), files) == 0.0
    assert classifier_accuracy(Scripted([1.0]), files) == 0.5
    assert classifier_accuracy(Scripted([-1.0]), files) == 0.5
