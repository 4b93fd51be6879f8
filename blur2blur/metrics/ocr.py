"""Reading text as a downstream measure: Tesseract OCR and character / word accuracy.

Reading text is one of the commonest reasons to deblur a photo (signs, documents, plates,
screens), and Tesseract runs fully offline (Debian: `apt install tesseract-ocr tesseract-ocr-eng`).
A deblurring method is scored by how much of a page's known text Tesseract reads from its output:

    character accuracy = 1 - CER, CER = Levenshtein distance of the characters / length of the truth
    word accuracy      = 1 - WER, WER = Levenshtein distance of the word sequences / number of words

both clipped at 0 (a reading with more errors than the truth has characters scores 0). Whitespace
is normalised (runs of spaces and line breaks count as one space) and case is kept.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from blur2blur.io import write_image

INSTALL_HINT = ("Tesseract OCR is not installed: on Debian or Ubuntu `sudo apt install tesseract-ocr "
                "tesseract-ocr-eng`, on macOS `brew install tesseract`; or give its path with "
                "--tesseract PATH")


class OCRUnavailable(RuntimeError):
    """Tesseract cannot be found or run; the message says how to install it."""


def edit_distance(a: Sequence, b: Sequence) -> int:
    """Levenshtein distance (insertions, deletions, substitutions of one element each)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def _normal(text: str) -> str:
    return " ".join(text.split())


def char_accuracy(read: str, truth: str) -> float:
    """1 - character error rate of `read` against `truth` (normalised whitespace), clipped at 0."""
    truth, read = _normal(truth), _normal(read)
    if not truth:
        raise ValueError("the true text is empty")
    return max(0.0, 1.0 - edit_distance(read, truth) / len(truth))


def word_accuracy(read: str, truth: str) -> float:
    """1 - word error rate of `read` against `truth` (words split on whitespace), clipped at 0."""
    words, got = truth.split(), read.split()
    if not words:
        raise ValueError("the true text has no words")
    return max(0.0, 1.0 - edit_distance(got, words) / len(words))


def find_tesseract(path: str | os.PathLike | None = None) -> Path:
    """The Tesseract executable: `path` if given, else `tesseract` on PATH; OCRUnavailable with
    the install hint when it cannot run."""
    exe = Path(path) if path else (Path(shutil.which("tesseract")) if shutil.which("tesseract") else None)
    if exe is None or not exe.is_file():
        raise OCRUnavailable(INSTALL_HINT if path is None else f"no Tesseract at {path}. {INSTALL_HINT}")
    try:
        subprocess.run([str(exe), "--version"], capture_output=True, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        raise OCRUnavailable(f"{exe} does not run ({exc}). {INSTALL_HINT}") from None
    return exe


def read_text(img: np.ndarray, tesseract: str | os.PathLike | None = None, psm: int = 6, lang: str = "eng") -> str:
    """The text Tesseract reads in an image (HxWx3 float in [0,1]); `psm` 6 = one uniform block
    of text. Runs one `tesseract` process on a temporary PNG."""
    exe = find_tesseract(tesseract)
    with tempfile.TemporaryDirectory(prefix="b2b-ocr-") as tmp:
        page = write_image(Path(tmp) / "page.png", img)
        result = subprocess.run([str(exe), str(page), "stdout", "--psm", str(psm), "-l", lang],
                                capture_output=True, text=True, timeout=120,
                                env=dict(os.environ, OMP_THREAD_LIMIT="1"))
    if result.returncode != 0:
        raise OCRUnavailable(f"tesseract failed on a page: {result.stderr.strip()[:300]}")
    return result.stdout
