"""The demo end to end at toy size: every stage runs and the report is complete."""

import json

import yaml

from blur2blur.demo import METHODS, run_demo
from blur2blur.io import list_images, read_image
from blur2blur.simulate.profile import PROFILES_DIR


def test_demo_runs_end_to_end(tmp_path, photo_dir):
    out = tmp_path / "demo"
    # The known camera given as a YAML file: it makes both the known pairs and K.
    known_yaml = tmp_path / "my_known.yaml"
    known_yaml.write_text((PROFILES_DIR / "known.yaml").read_text().replace("name: known", "name: my_known"))
    result = run_demo(
        out_dir=out, photos=photo_dir, tile=32, device="cpu", progress=False, known_profile=known_yaml,
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
    profiles = json.loads((out / "data" / "manifest.json").read_text())["profiles"]
    assert profiles["known"]["name"] == "my_known" and profiles["unknown"]["name"] == "unknown"
    k_manifest = json.loads((out / "known_blur_set" / "manifest.json").read_text())
    assert {entry["profile"] for entry in k_manifest.values()} == {"my_known"}
    # the translator run was checked on held-out images and says what it exported
    check = json.loads((out / "runs" / "translator" / "translator_check.json").read_text())
    assert check["decision"]["exported"] in ("trained", "identity")
    assert check["reference"] == "S" and check["scale"] == 1  # (the default: through the deblurrer)
    assert check["decision"]["guard"] is None  # (a guard only with the K criterion)


def test_demo_with_the_known_camera_uses_the_shipped_deblurrer_and_trains_the_translator(tmp_path, photo_dir):
    out = tmp_path / "demo"
    result = run_demo(
        out_dir=out, photos=photo_dir, tile=32, device="cpu", progress=False,
        translator_overrides=["base_channel=8", "num_res=1", "crop=32", "batch=2", "iters=2", "decay_start=1"],
    )
    assert set(result["mean"]) == set(METHODS)
    runs = out / "runs"
    assert not (runs / "deblurrer_known").exists()  # (nothing trained for the known domain)
    assert json.loads((runs / "networks.json").read_text())["known"] == "shipped"
    upper = yaml.safe_load((runs / "deblurrer_camera" / "config.yaml").read_text())["config"]
    assert upper["init"] == "shipped" and (upper["iters"], upper["crop"], upper["batch"]) == (2, 32, 2)
    assert upper["width"] == 32  # (the shipped network, fine-tuned)
    k_manifest = json.loads((out / "known_blur_set" / "manifest.json").read_text())
    assert {entry["profile"] for entry in k_manifest.values()} == {"actioncam"}
