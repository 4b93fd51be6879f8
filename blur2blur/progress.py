"""Progress bars: tqdm's on a terminal; in a log file (standard error not a terminal) an update at
most every 30 s, so that `make demo > log` holds a few lines per stage instead of ten
carriage-return updates a second. An explicit `mininterval` (or tqdm's own TQDM_MININTERVAL,
read when tqdm is first imported) wins."""

from __future__ import annotations

import os
import sys

from tqdm.auto import tqdm as _tqdm

LOG_INTERVAL_S = 30.0


def _to_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # (a closed or replaced stream)
        return False


def tqdm(iterable=None, **kwargs):
    """`tqdm.auto.tqdm(iterable, **kwargs)`, with `mininterval` 30 s when not on a terminal."""
    if "mininterval" not in kwargs and "TQDM_MININTERVAL" not in os.environ and not _to_terminal():
        kwargs["mininterval"] = LOG_INTERVAL_S
    return _tqdm(iterable, **kwargs)
