"""The demo end to end at toy size: every stage runs and the report is complete."""

import json

from blur2blur.demo import METHODS, run_demo
from blur2blur.io import list_images, read_image


def test_demo_runs_end_to_end(tmp_path, photo_dir):
    out = tmp_path / "demo"
    result = run_demo(
        out_dir=out, photos=photo_dir, tile=32, device="cpu", progress=False,
        deblurrer_overrides=["width=8", "enc_blk_nums=[1,1]", "dec_blk_nums=[1,1]", "crop=32",
                             "batch=2", "iters=2"],
        translator_overrides=["base_channel=8", "num_res=1", "ndf=8", "crop=32", "batch=2",
                              "iters=2", "decay_start=1", "perc_weights=random"],
    )
    assert set(result["mean"]) == set(METHODS)
    for name in METHODS:
        assert 0 < result["mean"][name]["psnr"] < 100
    tests = list_images(out / "data" / "testA")
    assert tests
    rows = list_images(out / "report" / "side_by_side")
    assert [p.stem for p in rows] == [p.stem for p in tests]
    row = read_image(rows[0])
    h = read_image(tests[0]).shape[0]
    assert row.shape[0] == h * (256 // h)  # tiles enlarged to be visible
    saved = json.loads((out / "report" / "results.json").read_text())
    assert saved["n_test"] == len(tests) and "total" in saved["timings_s"]
    assert "Blur2Blur" in (out / "report" / "README.md").read_text()
