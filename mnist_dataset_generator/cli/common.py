"""What both command-line tools share: the parser, exit codes, logging to stderr, argument types,
and the mapping of every error to one line and an exit status (:func:`_run`).

Exit status: 0 success, 1 environment (download failed, disk, permissions,
damaged data), 2 usage (bad arguments), 130 interrupted (Ctrl-C). Errors are one
line on stderr with no traceback; results go to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import NoReturn

from .. import __version__

__all__ = ["EXIT_ENVIRONMENT", "EXIT_INTERRUPTED", "EXIT_USAGE"]


EXIT_ENVIRONMENT = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for a program ended by Ctrl-C


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block): ``prog: error: message``."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


class _UsageError(Exception):
    """Bad input found after parsing; exit status 2."""


def _add_verbosity(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr, no progress bar")
    group.add_argument("-v", "--verbose", action="count", default=0, help="more messages (-vv for debug)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")


@contextlib.contextmanager
def _logging_to_stderr(prog: str, args: argparse.Namespace):
    """Show the package's log records on stderr while the tool runs, then restore the logger.

    Restoring matters when ``main()`` is called in-process (a notebook, a test).
    """
    level = logging.ERROR if args.quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{prog}: %(message)s"))
    logger = logging.getLogger("mnist_dataset_generator")
    saved = logger.handlers[:], logger.level, logger.propagate
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
    try:
        yield
    finally:
        logger.handlers[:], level, logger.propagate = saved
        logger.setLevel(level)  # not .level =: setLevel also clears the loggers' cached levels


def _int_at_least(minimum: int, maximum: int | None = None):
    """argparse type: a whole number in ``minimum..maximum``, with a one-line message otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum}, got {value}")
        return value

    return parse


def _seconds(text: str) -> float:
    """argparse type: a positive, finite number of seconds."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def _add_deadline(parser) -> None:
    parser.add_argument("--deadline", type=_seconds, metavar="SECONDS",
                        help="time allowed to download each MNIST file, all mirrors together "
                             "(default $GENERATOR_NUMBERS_SEQ_MNIST_DEADLINE or 600)")


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    text = str(exc) or type(exc).__name__
    return " ".join(text.split("\n", 1)[0].split())


# Library argument names and the flags that set them, so messages speak the command line's language.
_FLAGS = {"image_width": ("-w", "--width"), "spacing_range": ("-s", "--spacing"), "image_height": ("--height",),
          "fltrs": ("-f", "--filters"), "data_home": ("-d", "--data-dir")}


def _as_typed(message: str, argv: Sequence[str]) -> str:
    """``message`` with library argument names replaced by the flag the user typed (or all its spellings).

    Examples
    --------
    >>> _as_typed("image_width is required when lengths vary", ["--count", "5", "--width=90"])
    '--width is required when lengths vary'
    >>> _as_typed("spacing_range must be a pair", [])
    '-s/--spacing must be a pair'
    >>> _as_typed("/tmp/data_home/image_width is not a folder", [])
    '/tmp/data_home/image_width is not a folder'
    >>> _as_typed("output folder image_width is not writable", ["-w", "9"])
    'output folder image_width is not writable'
    >>> _as_typed("f: use a smaller image_width or image_height", ["-w", "9"])
    'f: use a smaller -w or --height'
    """
    def flag(match: re.Match) -> str:
        spellings = _FLAGS[match[0]]
        typed = [f for f in spellings if any(a == f or a.startswith(f + "=") or
                                             (len(f) == 2 and a.startswith(f) and a[2:3] not in ("", "-"))
                                             for a in argv)]
        return typed[0] if typed else "/".join(spellings)

    # Not inside a path (``/data/image_width/ds``) or a longer name: only the word itself.
    # Only as the subject of a check ("image_width must ...", "image_width is required ..."), never
    # inside a path or a file name that happens to spell the same.
    return re.sub(r"(?:^|(?<=: )|(?<=smaller )|(?<= or )|(?<= and ))(" + "|".join(_FLAGS) + r")(?![\w/.\\-])",
                  flag, message)


def _run(prog: str, work, args, argv: Sequence[str] = ()) -> int:
    """Call ``work(args)``, mapping exceptions to one line on stderr and an exit status."""
    from concurrent.futures import BrokenExecutor

    from ..mnistdata import ChecksumError, DownloadError, IdxFormatError

    try:
        return work(args)
    except _UsageError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenExecutor:
        print(f"{prog}: error: a worker process died (killed, or out of memory?); "
              "run again with fewer --workers, or --resume to finish what was written", file=sys.stderr)
        return EXIT_ENVIRONMENT
    except MemoryError as exc:
        detail = f" ({exc})" if str(exc) else ""
        print(f"{prog}: error: out of memory{detail}; ask for fewer or smaller images", file=sys.stderr)
        return EXIT_ENVIRONMENT
    except DownloadError as exc:
        lines = str(exc).splitlines()
        print(f"{prog}: error: {lines[0]}", *lines[1:], sep="\n", file=sys.stderr)
        return EXIT_ENVIRONMENT
    except (OSError, ChecksumError, IdxFormatError) as exc:
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ENVIRONMENT
    except ValueError as exc:
        print(f"{prog}: error: {_as_typed(_one_line(exc), argv)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _console(main: Callable[..., int], prog: str) -> NoReturn:
    """Run ``main(prog=prog)`` as the whole life of this process and exit with its status.

    The first Ctrl-C raises ``KeyboardInterrupt`` as usual: the run cleans up (workers
    terminated, unfinished files dropped, the folder's lock released) and ends with one line
    and status 130. Every later Ctrl-C is ignored until the process exits: that clean-up
    takes well under a second, and a second ``KeyboardInterrupt`` raised inside it, or in the
    interpreter's exit, would leave it half done with a traceback (or end the process by
    the signal). Only here, not in ``main()``: called in-process (a notebook, a test), the
    tools leave the caller's Ctrl-C alone.
    """
    if threading.current_thread() is threading.main_thread():  # signal handlers are the main thread's
        signal.signal(signal.SIGINT, _first_interrupt)
    try:
        status = main(prog=prog)
    except KeyboardInterrupt:  # before the run proper (while parsing arguments)
        print(f"{prog}: interrupted", file=sys.stderr)
        status = EXIT_INTERRUPTED
    sys.exit(status)


def _first_interrupt(signum, frame) -> NoReturn:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the run is ending: see _console
    raise KeyboardInterrupt
