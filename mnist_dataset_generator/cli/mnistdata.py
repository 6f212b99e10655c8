"""The ``mnistdata.py`` / ``mnist-data`` tool: write small MNIST-compatible test files, or, with
``--fetch``, download and verify the real MNIST files into the cache.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from .common import (
    _add_deadline,
    _add_verbosity,
    _int_at_least,
    _logging_to_stderr,
    _console,
    _Parser,
    _run,
    _UsageError,
)

__all__ = ["mnistdata_console", "mnistdata_main"]


def _mnistdata_parser(prog: str) -> argparse.ArgumentParser:
    from ..sources.sets import SETS
    from ..sources.testdata import MAX_COUNT

    parser = _Parser(
        prog=prog,
        description=(
            "Write small MNIST-compatible files of drawn digits (gzip IDX with the official "
            "names, plus SHA256SUMS) for tests and offline use; or, with --fetch, download "
            "and verify the real MNIST files into the cache."
        ),
        epilog=(
            "examples:\n  %(prog)s ./test-data\n  %(prog)s ./test-data --count-train 5000 --seed 7\n"
            "  %(prog)s --fetch -d /shared/mnist"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("target_dir", nargs="?", help="folder to write the test files into (created if missing)")
    parser.add_argument("--count-train", type=_int_at_least(1, MAX_COUNT), default=1000, metavar="N",
                        help=f"training images, 1..{MAX_COUNT} (default 1000)")
    parser.add_argument("--count-test", type=_int_at_least(1, MAX_COUNT), default=200, metavar="M",
                        help=f"test images, 1..{MAX_COUNT} (default 200)")
    parser.add_argument("--seed", type=_int_at_least(0), default=0, metavar="S",
                        help="random seed; the same seed writes identical files (default 0)")
    parser.add_argument("--force", action="store_true", help="replace existing files of the same names")
    parser.add_argument("--source", choices=tuple(SETS), default="mnist",
                        help="the glyph set whose file layout the test files take, or whose files --fetch gets "
                             "(default mnist)")
    parser.add_argument("--glyphs", metavar="CHARS",
                        help="write a folder of your own glyphs for these characters instead (stand-in drawings, "
                             "--count-train per character), for --source DIR of generator.py")
    parser.add_argument("--layout", choices=("png", "idx"), default="png",
                        help="with --glyphs: one sub-folder of PNGs per character (default), or IDX files with "
                             "classes.txt and SHA256SUMS")
    fetch = parser.add_argument_group("real MNIST")
    fetch.add_argument("--fetch", action="store_true",
                       help="download and verify the four real MNIST files into the cache, then exit")
    fetch.add_argument("-d", "--data-dir", metavar="DIR",
                       help="cache folder (default $GENERATOR_NUMBERS_SEQ_MNIST_DIR or ~/generator_numbers_seq_mnist)")
    fetch.add_argument("--mirrors", metavar="URLS",
                       help="comma-separated base URLs tried in order (https://, http://, file:// or folders)")
    _add_deadline(fetch)
    _add_verbosity(parser)
    return parser


def _mnistdata_work(args: argparse.Namespace) -> int:
    if args.fetch:
        from ..mnistdata import fetch

        folder = fetch(data_home=args.data_dir, mirrors=args.mirrors, progress=False if args.quiet else None,
                       deadline=args.deadline, source=args.source)
        print(folder)
        return 0
    from ..sources.testdata import write_glyph_folder, write_test_data

    if args.glyphs is not None:
        from pathlib import Path

        target = Path(args.target_dir)
        if target.exists() and any(target.iterdir()) and not args.force:
            raise _UsageError(f"{target} is not empty; choose another folder or use --force")
        try:
            print(write_glyph_folder(target, args.glyphs, args.count_train, args.seed, layout=args.layout))
        except ValueError as exc:
            raise _UsageError(str(exc).removeprefix("write_glyph_folder: ")) from None
        return 0
    try:
        folder = write_test_data(args.target_dir, args.count_train, args.count_test, args.seed,
                                 overwrite=args.force, source=args.source)
    except FileExistsError:
        raise _UsageError(
            f"{args.target_dir} already holds MNIST test files; choose another folder or use --force"
        ) from None
    except NotADirectoryError as exc:
        raise _UsageError(exc.args[0].removeprefix("write_test_data: ")) from None
    print(folder)
    return 0


def mnistdata_main(argv: Sequence[str] | None = None, prog: str = "mnistdata.py") -> int:
    """Entry point of ``mnistdata.py`` / ``mnist-data``; returns the exit status."""
    parser = _mnistdata_parser(prog)
    args = parser.parse_args(argv)
    if args.fetch and args.target_dir:
        parser.error("give either TARGET_DIR (write test data) or --fetch, not both")
    if not args.fetch and not args.target_dir:
        parser.error("TARGET_DIR is required (or --fetch to download the real MNIST files)")
    if args.glyphs is not None and (args.fetch or args.source != "mnist"):
        parser.error("--glyphs writes a folder of your own glyphs: it takes no --fetch or --source")
    if args.glyphs is None and args.layout != "png":
        parser.error("--layout applies with --glyphs only")
    if not args.fetch and (args.data_dir or args.mirrors or args.deadline):
        parser.error("-d/--data-dir, --mirrors and --deadline only apply with --fetch")
    with _logging_to_stderr(prog, args):
        return _run(prog, _mnistdata_work, args, argv or sys.argv[1:])


def mnistdata_console(prog: str = "mnist-data") -> NoReturn:
    """Console-script wrapper: ``mnist-data`` (also ``mnistdata.py``); exits this process.

    A second Ctrl-C is ignored while the first one's clean-up runs (see :func:`.common._console`).
    """
    _console(mnistdata_main, prog)
