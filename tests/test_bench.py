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


def _tiny_photos_and_classifier(tmp_path, monkeypatch) -> None:
    """Four 64x96 photos in tmp_path/photos; the converter's blur classifier trained for 2 steps."""
    import blur2blur.bench.runner as runner
    import blur2blur.metrics.converter as conv

    rng = np.random.default_rng(0)
    for i in range(4):
        write_image(tmp_path / "photos" / f"p{i}.png", smooth_photo(rng, 64, 96))
    real_train = conv.train_blur_classifier
    monkeypatch.setattr(runner, "train_blur_classifier",
                        lambda files, profile, progress: real_train(files, profile, iters=2, batch=2, crop=32,
                                                                    width=4, progress=False))


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_bench_all_parts_report_and_resume(tmp_path, monkeypatch):
    import blur2blur.bench.runner as bench_mod

    _tiny_photos_and_classifier(tmp_path, monkeypatch)
    out = tmp_path / "bench"
    parts = [p for p in bench_mod.PARTS if p != "ocr"]  # (ocr: its own test, it needs Tesseract)
    ledger = bench_mod.run_bench(out, tmp_path / "photos", tile=32, device="cpu", progress=False, overrides=TINY,
                                 parts=parts)
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


def test_ocr_accuracy_by_hand():
    from blur2blur.metrics.ocr import char_accuracy, edit_distance, word_accuracy

    assert edit_distance("kitten", "sitting") == 3 and edit_distance("", "abc") == 3
    assert edit_distance(["a", "b"], ["a", "c", "b"]) == 1
    assert char_accuracy("the cat", "the cat") == 1.0
    assert char_accuracy("the  cat\n", "the cat") == 1.0  # whitespace normalised
    assert char_accuracy("the bat", "the cat") == pytest.approx(1 - 1 / 7)
    assert char_accuracy("", "abcd") == 0.0 and char_accuracy("x" * 50, "abcd") == 0.0  # clipped at 0
    assert word_accuracy("the cat sat", "the cat sat on") == pytest.approx(0.75)
    assert word_accuracy("the bat sat on", "the cat sat on") == pytest.approx(0.75)
    with pytest.raises(ValueError):
        char_accuracy("a", "  ")


def test_text_pages_are_seeded_and_deterministic():
    from blur2blur.simulate.text_pages import WORDS, render_page

    a, text = render_page(3, 192, 96, font_size=18)
    b, again = render_page(3, 192, 96, font_size=18)
    assert np.array_equal(a, b) and text == again
    assert a.shape == (96, 192, 3) and 0 <= a.min() and a.max() <= 1 and a.min() < 0.3
    assert text and all(w.lower() in WORDS for w in text.split())
    assert render_page(4, 192, 96, font_size=18)[1] != text


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_ocr_part_without_tesseract_says_how_to_install(tmp_path, capsys):
    import blur2blur.bench.runner as bench_mod
    from blur2blur.cli import main
    from blur2blur.metrics.ocr import OCRUnavailable

    rng = np.random.default_rng(0)
    for i in range(4):
        write_image(tmp_path / "photos" / f"p{i}.png", smooth_photo(rng, 64, 96))
    with pytest.raises(OCRUnavailable, match="apt install tesseract-ocr"):
        bench_mod.run_bench(tmp_path / "b", tmp_path / "photos", parts=("ocr",), tesseract=str(tmp_path / "none"),
                            tile=32, device="cpu", progress=False, overrides=TINY)
    assert main(["bench", "--photos", str(tmp_path / "photos"), "--out", str(tmp_path / "b2"), "--parts", "ocr",
                 "--tesseract", str(tmp_path / "none"), "--tile", "32", "--no-progress"]) == 1
    assert "apt install tesseract-ocr" in capsys.readouterr().err
    # beside another part it is skipped with the hint, and the other part runs
    ledger = bench_mod.run_bench(tmp_path / "b3", tmp_path / "photos", parts=("seeds", "ocr"),
                                 tesseract=str(tmp_path / "none"), tile=32, device="cpu", progress=False,
                                 overrides=TINY)
    assert "seed_1" in ledger["scores"] and "ocr" not in ledger
    assert "skipping the ocr part" in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_ocr_part_end_to_end_on_two_pages(tmp_path, monkeypatch):
    import shutil

    import blur2blur.bench.ocr as ocr_mod
    import blur2blur.bench.runner as bench_mod

    if shutil.which("tesseract") is None:
        pytest.skip("Tesseract OCR is not installed (apt install tesseract-ocr tesseract-ocr-eng)")
    monkeypatch.setattr(ocr_mod, "OCR_FONT_SIZES", (28,))
    monkeypatch.setattr(ocr_mod, "OCR_PAGES", 2)
    _tiny_photos_and_classifier(tmp_path, monkeypatch)
    ledger = bench_mod.run_bench(tmp_path / "b", tmp_path / "photos", parts=("ocr",), tile=32, device="cpu",
                                 progress=False, overrides=TINY)
    rows = ledger["ocr"]["rows"]
    assert ledger["ocr"]["pages"] == 2 and set(bench_mod.METHODS) <= set(rows)
    assert rows["sharp page"]["char"] > 0.9  # Tesseract reads the sharp page
    assert all(0 <= r["char"] <= 1 and 0 <= r["word"] <= 1 for r in rows.values())
    md = (tmp_path / "b" / "report" / "README.md").read_text()
    assert "Reading text" in md and (tmp_path / "b" / "report" / "ocr_grid.png").is_file()
