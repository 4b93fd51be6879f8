"""The commands' shared error handling: parse-error notes, SIGTERM, and exception -> exit code and message.

Exit codes: 0 done; 1 the work failed (environment: disk, memory, permissions, device; a run that
diverged; check-data found problems); 2 the request was wrong (bad option or config value, missing or
bad input, an output that would overwrite an input); 130 interrupted by Ctrl-C; 143 terminated by
SIGTERM. Errors are one line without a traceback unless --debug or the environment variable
BLUR2BLUR_DEBUG=1 asks for it (docs/reliability.md).
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import threading
from typing import Callable

# Commands whose interruption keeps checkpoints that --resume continues from.
RESUMABLE_COMMANDS = ("train-deblurrer", "train-translator", "train-unpaired", "kernels", "demo")


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """`parser.parse_args(argv)`; on a usage error (exit 2), first a note on the likely cause:
    a file name that starts with '-', or an option's value that starts with '-'."""
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:
        if exc.code == 2:
            _note_dashed_arguments(parser, sys.argv[1:] if argv is None else list(argv))
        raise


def _note_dashed_arguments(parser: argparse.ArgumentParser, tokens: list[str]) -> None:
    dashed = [a for a in tokens if a.startswith("-") and len(a) > 1 and os.path.exists(a)]
    if dashed:  # (a file name that starts with '-' reads as an option)
        print(f"blur2blur: note: {dashed[0]!r} is a file whose name starts with '-', which reads as an "
              f"option: write it as ./{dashed[0]}, or put -- before the file names", file=sys.stderr)
    known = _option_strings(parser)
    for before, token in zip(tokens, tokens[1:]):
        if (token.startswith("-") and len(token) > 1 and token.split("=")[0] not in known
                and not os.path.exists(token) and before in known and not _is_number(token)):
            print(f"blur2blur: note: {token!r} reads as an option: to give it as the value of {before}, "
                  f"write {before}={token}", file=sys.stderr)
            break


def _option_strings(parser: argparse.ArgumentParser) -> set[str]:
    """Every option string of `parser` and of its sub-commands."""
    found: set[str] = set()
    for action in parser._actions:
        found.update(action.option_strings)
        for sub in (getattr(action, "choices", None) or {}).values() if isinstance(action, argparse._SubParsersAction) else ():
            found |= _option_strings(sub)
    return found


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so that it cleans up as on Ctrl-C (partial files
    removed, locks released) and exits 143 with a message."""


def _terminate_as_interrupt():
    """Turn SIGTERM into `Terminated` in the main thread; returns the previous handler (or None)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise Terminated()

    return signal.signal(signal.SIGTERM, handler)


def run_guarded(args: argparse.Namespace, run: Callable[[argparse.Namespace], int]) -> int:
    """`run(args)`, its exceptions turned into an exit code and a one-line message on stderr
    (re-raised with --debug or BLUR2BLUR_DEBUG=1); SIGTERM is handled as Ctrl-C meanwhile."""
    from blur2blur.io import ImageReadError

    debug = args.debug or os.environ.get("BLUR2BLUR_DEBUG", "") not in ("", "0")
    prefix = f"blur2blur {args.command}: error:"
    previous = _terminate_as_interrupt()
    try:
        return run(args)
    except KeyboardInterrupt as exc:
        hint = (" Checkpoints are kept: run the same command with --resume to continue."
                if args.command in RESUMABLE_COMMANDS else "")
        how = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        print(f"\nblur2blur {args.command}: {how}.{hint}", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    except (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError, FileExistsError,
            ImageReadError) as err:
        if debug:
            raise
        print(f"{prefix} {err}", file=sys.stderr)
        return 2
    except (FloatingPointError, ImportError) as err:  # (a diverged run; an optional package missing)
        if debug:
            raise
        print(f"{prefix} {err}", file=sys.stderr)
        return 1
    except PermissionError as err:
        if debug:
            raise
        print(f"{prefix} permission denied: {err.filename or err}: check its permissions (and its folder's) or "
              "choose another path", file=sys.stderr)
        return 1
    except OSError as err:
        if debug:
            raise
        print(f"{prefix} {_os_error_message(err)}", file=sys.stderr)
        return 1
    except (MemoryError, RuntimeError) as err:
        if debug:
            raise
        print(f"{prefix} {_runtime_error_message(err)}", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _os_error_message(err: OSError) -> str:
    """What went wrong (full disk, read-only file system, ...), where, and what to do."""
    what = {errno.ENOSPC: "the disk is full", errno.EROFS: "the file system is read-only",
            errno.EDQUOT: "the disk quota is exceeded"}.get(err.errno, err.strerror or str(err))
    where = f" writing {err.filename}" if err.filename else ""
    fix = ("choose an output path on a writable file system" if err.errno == errno.EROFS else
           "free space or choose another output path" if err.errno in (errno.ENOSPC, errno.EDQUOT) else
           "check the path and try again")
    return f"{what}{where}: {fix}"


def _runtime_error_message(err: Exception) -> str:
    """Out of memory (with what to shrink), or the first line of the error."""
    text = str(err)
    if isinstance(err, MemoryError) or "out of memory" in text.lower() or "can't allocate" in text.lower() \
            or "not enough memory" in text.lower():
        return ("out of memory: use a smaller --set crop / --set batch, or for deblur a smaller "
                "--tile; on a GPU try --device cpu")
    return f"{text.splitlines()[0] if text else type(err).__name__} (run with --debug for the full traceback)"
