"""`blur2blur bench` at tiny size: every part runs, the report references only files that exist,
and a second run resumes without training again."""

import json
import re

import numpy as np
import pytest
import yaml

from blur2blur.io import write_image
from blur2blur.metrics.evaluate import evaluate_folders
from tests.conftest import smooth_photo

TINY = {
    "deblurrer": ["width=4", "enc_blk_nums=[1]", "dec_blk_nums=[1]", "crop=32", "batch=2", "iters=2",
                  "save_every=2", "log_every=1", "amp=none"],
    "translator": ["base_channel=4", "num_res=1", "ndf=4", "n_layers=1", "crop=32", "batch=2", "iters=2",
                   "decay_start=1", "save_every=2", "log_every=1", "perc_weights=random", "amp=none",
                   "k_variants=1", "width=4"],
    "unpaired": ["ngf=4", "n_blocks=1", "ndf=4", "n_layers=1", "crop=32", "batch=1", "iters=2",
                 "save_every=2", "log_every=1", "amp=none"],
}


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_bench_all_parts_report_and_resume(tmp_path, monkeypatch):
    import blur2blur.bench as bench_mod
    import blur2blur.metrics.converter as conv

    rng = np.random.default_rng(0)
    for i in range(4):
        write_image(tmp_path / "photos" / f"p{i}.png", smooth_photo(rng, 64, 96))
    real_train = conv.train_blur_classifier
    monkeypatch.setattr(conv, "train_blur_classifier",
                        lambda files, profile, progress: real_train(files, profile, iters=2, batch=2, crop=32,
                                                                    width=4, progress=False))
    out = tmp_path / "bench"
    ledger = bench_mod.run_bench(out, tmp_path / "photos", tile=32, device="cpu", progress=False, overrides=TINY)
    assert set(bench_mod.METHODS) <= set(ledger["scores"])
    for key in ["ratio_5_5", "ratio_9_1", "backbone_unet", "backbone_nafnet", "size_0.25", "size_1",
                "seed_1", "seed_3"]:
        assert key in ledger["scores"], key
    assert 0 <= ledger["converter"]["acc2_converted"] <= 1
    assert 0 <= ledger["converter"]["classifier_heldout"] <= 1
    page = (out / "report" / "index.html").read_text()
    refs = re.findall(r'src="([^"]+)"', page)
    assert refs and all((out / "report" / r).is_file() for r in refs)
    assert "Table 2" in page and "B:S" in page and "alpha" in page and "seeds" in page
    assert [yaml.safe_load((out / "runs" / r / "config.yaml").read_text())["config"]["seed"]
            for r in ("blur2blur", "seed_1", "seed_2")] == [0, 1, 2]
    md = (out / "report" / "README.md").read_text()
    assert "| known deblurrer applied directly |" in md and "| blurry input (no deblurring) |" in md
    inputs = evaluate_folders(out / "data" / "testA", out / "data" / "testA_gt")["mean"]["psnr"]
    assert ledger["scores"]["input"]["mean"]["psnr"] == pytest.approx(inputs)

    # resume: nothing is trained again, the scores stay
    times = dict(ledger["times_s"])
    again = bench_mod.run_bench(out, tmp_path / "photos", tile=32, device="cpu", progress=False, overrides=TINY,
                                parts=("table2",))
    assert again["times_s"] == times and again["scores"] == ledger["scores"]
    assert json.loads((out / "bench.json").read_text())["times_s"] == times
