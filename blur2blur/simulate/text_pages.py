"""Seeded pages of text, for OCR as a downstream measure of deblurring.

A page is dark words on a light, slightly uneven background, in lines, drawn with Pillow's
bundled font (FreeType, Pillow >= 10.1) or any TrueType file, at a given size. Words come from a
fixed list of common English words, drawn with a seeded generator, so a page and its text are a
pure function of (seed, size, font size).
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# Common English words (a fixed list, so pages are reproducible across versions).
WORDS = tuple("""
able about above after again against along also always among animal answer apple area around
asked away back basket became because before began being below best better between black blue
board boat body book both bread bring brother brown build built cannot capital care carry cause
center certain change check child city class clear close cloud cold color come common country
course cover cross dark day deep different direction door down draw during early earth east easy
eight enough even every example face fact family farm fast father field figure final find fire
first fish five floor follow food force form found four free friend front full game garden given
glass going gold good great green ground group grow half hand happy hard heard heavy help high
hold home horse hour house idea important inside island just keep kind king land large later
learn leave letter light line list little live long look machine made main make many market
measure middle might mind minute money month more morning mother mountain move music name near
never next night north notice number ocean office often open order other outside page paper
part party pass people perhaps person picture piece place plain plant play point power press
probably problem product pull quick quiet rain reach read ready real record river road rock room
round rule same school science second sentence seven shape ship short should show side simple
since size small snow song sound south space special stand start state station still stone stop
story street strong study sudden summer table tail take teacher test thing think three through
time today together took town travel tree true under unit until usual valley voice walk warm
watch water week weight west wheel while white whole window winter within without woman wood
word work world write yellow young
""".split())


def _font(size: int, font: str | os.PathLike | None):
    if font:
        return ImageFont.truetype(str(font), size)
    default = ImageFont.load_default(size=size)
    if not hasattr(default, "getlength"):  # (Pillow < 10.1: a bitmap font of one size)
        raise RuntimeError("text pages need Pillow >= 10.1 for its bundled scalable font, or give a TrueType font")
    return default


def render_page(seed: int, width: int = 384, height: int = 256, font_size: int = 20,
                font: str | os.PathLike | None = None, margin: int = 12) -> tuple[np.ndarray, str]:
    """(page HxWx3 float32 in [0,1], its text with one line per text line). Deterministic."""
    rng = np.random.default_rng([int(seed), int(font_size), int(width), int(height)])
    f = _font(font_size, font)
    paper = float(rng.uniform(0.82, 0.95))
    ink = float(rng.uniform(0.05, 0.2))
    img = Image.new("L", (width, height), int(round(paper * 255)))
    draw = ImageDraw.Draw(img)
    line_h = int(round(font_size * 1.45))
    lines = []
    y = margin
    while y + line_h <= height - margin:
        words, x = [], margin
        while True:
            word = WORDS[int(rng.integers(len(WORDS)))]
            if rng.random() < 0.15:
                word = word.capitalize()
            w = f.getlength(word + " ")
            if x + f.getlength(word) > width - margin:
                break
            draw.text((x, y), word, fill=int(round(ink * 255)), font=f)
            words.append(word)
            x += w
        if words:
            lines.append(" ".join(words))
        y += line_h
    arr = np.asarray(img, np.float32) / 255.0
    # a gentle illumination gradient, as on a photographed page
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    shade = 1.0 - 0.08 * (xx / width) * float(rng.uniform(0.5, 1.0)) - 0.05 * (yy / height)
    page = np.clip(arr * shade, 0, 1)
    return np.repeat(page[..., None], 3, axis=2), "\n".join(lines)
