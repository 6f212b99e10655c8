"""The ``generator.py`` / ``mnist-generator`` / ``python -m mnist_dataset_generator`` tool: one image
of a digit string, a dataset folder (``--count``), or the check of a finished one (``--verify``).
"""

from __future__ import annotations

import argparse
import logging
import math
import re
import sys
from collections.abc import Sequence
from typing import NoReturn

from .common import (
    EXIT_ENVIRONMENT,
    _add_deadline,
    _add_verbosity,
    _int_at_least,
    _logging_to_stderr,
    _console,
    _Parser,
    _run,
    _UsageError,
)

__all__ = ["generator_console", "generator_main"]

log = logging.getLogger(__name__)


DEFAULT_OUTPUT = "mnist_numbers_sequence.png"


_SPACING_VALUE = re.compile(r"^-?\d+(,-?\d+)?$")


def _join_negative_values(argv: list[str]) -> list[str]:
    """``-s -5,3`` -> ``-s=-5,3``: argparse would take ``-5,3`` for an option."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1] in ("-s", "--spacing") and _SPACING_VALUE.match(arg) and arg.startswith("-"):
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def _spacing(text: str) -> tuple[int, int]:
    """``MIN,MAX`` or ``N`` (meaning ``N,N``), whole numbers; negative values overlap digits."""
    parts = text.split(",")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or len(values) != len(parts):
        raise argparse.ArgumentTypeError(f"expected MIN,MAX or N in whole pixels, got {text!r}")
    low, high = values if len(values) == 2 else values * 2
    if not -27 <= low <= high:
        raise argparse.ArgumentTypeError(f"need -27 <= MIN <= MAX, got {text!r}")
    return low, high


class _ListFilters(argparse.Action):
    """``--list-filters``: print every filter with its parameters, defaults and purpose, then exit."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        from ..compose.filterspec import describe

        rows = describe()
        filters = [row for row in rows if not row[1].startswith("= ")]
        name_width = max(len(n) for n, _, _ in rows)
        param_width = max(len(p) for _, p, _ in filters)
        for name, params, summary in filters:
            print(f"{name:<{name_width}}  {params:<{param_width}}  {summary}")
        print("\npresets (-f NAME):")
        for name, params, summary in rows[len(filters):]:
            print(f"{name:<{name_width}}  {summary.removeprefix('preset: ')}\n{'':<{name_width}}  {params}")
        print("\nUse -f NAME[:KEY=VALUE...], comma-separated, applied in order; your own factory as "
              "-f module.path:factory[:KEY=VALUE...].")
        parser.exit(0)


def _output_path(text: str):
    """Check the output path before any work; return it as a Path."""
    import os
    from pathlib import Path

    path = Path(text).expanduser()
    if path.suffix.lower() != ".png":
        raise _UsageError(f"output must be a .png file, got {text!r}")
    folder = path.parent
    if not folder.is_dir():
        raise _UsageError(f"output folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise _UsageError(f"output folder {str(folder)!r} is not writable")
    if path.is_dir():
        raise _UsageError(f"output {text!r} is a folder; give a file name ending in .png")
    return path


def _generator_parser(prog: str) -> argparse.ArgumentParser:
    from ..compose.checks import MAX_SPACING
    from ..export.annotations import ANNOTATIONS
    from ..export.writers import MAX_SHARD_SIZE, SAMPLES_PER_TAR, WRITERS
    from ..filters import FILTERS
    from ..presets import PRESETS
    from ..recipe import LAYOUTS, MAX_FRAMES
    from ..sources.sets import SETS

    parser = _Parser(
        prog=prog,
        description="Write an image of a digit string made from random MNIST samples (8-bit grayscale PNG, "
                    "dark digits on white).",
        epilog=(
            "examples:\n  %(prog)s 4981278\n"
            "  %(prog)s -o first_image.png -w 360 -s 0,20 -f distort 498127864687234\n"
            "  %(prog)s -e -w 200 -s 2,8 -f blur:sigma=0.8 --seed 7 2024\n"
            "  %(prog)s --count 20000 --length 3-10 -w 224 -s 0,10 --seed 1 --workers 0 --output-dir train\n\n"
            "An existing file is never replaced: the next free name (name-1.png, ...) is used unless --force.\n"
            "Exit status: 0 written, 2 bad arguments, 1 data or disk problem, 130 interrupted (Ctrl-C;\n"
            "--resume finishes a dataset folder)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("digits", nargs="?", help="the digits to write, e.g. 4981278")
    parser.add_argument("-o", "--output", default=DEFAULT_OUTPUT, metavar="image_name.png",
                        help=f"PNG file to write (default {DEFAULT_OUTPUT})")
    parser.add_argument("-d", "--data-dir", metavar="DATA_DIRECTORY",
                        help="MNIST folder (default $GENERATOR_NUMBERS_SEQ_MNIST_DIR or ~/generator_numbers_seq_mnist)")
    parser.add_argument("-w", "--width", type=_int_at_least(1), metavar="IMAGE_WIDTH",
                        help="image width in pixels (default: natural width)")
    parser.add_argument("-s", "--spacing", type=_spacing, default=(0, 0), metavar="min,max",
                        help=f"gap between digits in pixels, drawn uniformly from min..max (-27..{MAX_SPACING}; "
                             "negative gaps overlap digits); '-s 3' means 3,3 (default 0,0)")
    parser.add_argument("--height", type=_int_at_least(1), metavar="H",
                        help="resample the finished image to H px high, keeping its aspect ratio unless -w is given")
    parser.add_argument("--background", choices=("white", "black", "noise"),
                        help="white: dark digits on white (default; a preset may say otherwise); black: MNIST "
                             "polarity; noise (--layout scene): MNIST polarity on paper of uniform noise, 0..63")
    parser.add_argument("--fit", choices=("stretch", "pad"), default="stretch",
                        help="stretch: resample the strip to the width (default); pad: digits keep their size, "
                             "the strip is placed in the width with white around it (scaled down whole if wider)")
    parser.add_argument("--align", choices=("left", "center", "random"),
                        help="with --fit pad: where the strip sits across the width (default center)")
    parser.add_argument("-e", "--evenly", action="store_true",
                        help="even layout: equal digit slots and equal gaps, no randomness in the layout")
    parser.add_argument("-f", "--filters", metavar="filter1,filter2",
                        help=f"filters applied to each digit in order: {', '.join(FILTERS)} "
                             "(see --list-filters); parameters as NAME:KEY=VALUE, e.g. "
                             "crop,elastic:alpha=30:sigma=4,blur:sigma=0.7; your own as module.path:factory")
    parser.add_argument("--list-filters", action=_ListFilters, help="list every filter with its parameters and exit")
    parser.add_argument("--seed", type=_int_at_least(0), metavar="N",
                        help="random seed: the same seed and arguments give the same image (default: fresh)")
    parser.add_argument("--split", choices=("train", "test"),
                        help="MNIST split the digits come from (default train)")
    parser.add_argument("--source", type=_source, default="mnist", metavar="NAME|DIR",
                        help="the glyph set: " + "; ".join(f"{s.name}: {s.title}" for s in SETS.values())
                             + " (default mnist; -d DIR is then the folder of its files); or a folder of your own "
                               "glyphs (one sub-folder of 28 x 28 PNGs per character, or IDX files with SHA256SUMS "
                               "and classes.txt)")
    parser.add_argument("--mirrors", metavar="URLS",
                        help="comma-separated base URLs to download MNIST from (https://, http://, file://, folders)")
    _add_deadline(parser)
    parser.add_argument("--force", action="store_true",
                        help="overwrite the output file; with --count, replace the dataset files in DIR")
    batch = parser.add_argument_group("datasets (with --count)")
    batch.add_argument("--count", type=_int_at_least(1), metavar="N", help="make a dataset of N images instead")
    batch.add_argument("--output-dir", metavar="DIR", help="dataset folder (required with --count)")
    batch.add_argument("--length", type=_length, metavar="L|MIN-MAX",
                       help="digits per image: 8, or a range such as 3-10 drawn uniformly (default 8)")
    batch.add_argument("--labels-file", metavar="FILE",
                       help="the images' digit strings, one per line, in order: a dataset of as many images "
                            "(with --count N, of the first N)")
    batch.add_argument("--pattern", metavar="P",
                       help="what every label looks like: d any digit, a literal character otherwise, e.g. "
                            "'ddd-dddd' or '+dd (ddd) ddd-dddd' (with letters in the source, a: any letter; "
                            "\\d, \\a: a literal d, a); the separators - . ( ) + / : "
                            "are drawn with a pen like the digits' (see --separators), a space is a gap")
    batch.add_argument("--unique", action="store_true",
                       help="no two images share a label (refused when --count exceeds the strings the length or "
                            "the pattern allows); each string is equally likely")
    batch.add_argument("--distinct", action="store_true", default=None,
                       help="no character twice in a label (MultiMNIST's two different classes)")
    batch.add_argument("--separators", choices=("pen", "gap"), default="pen",
                       help="with --pattern: draw its separators with a pen (default) or leave gaps")
    batch.add_argument("--preset", choices=tuple(PRESETS), metavar="NAME",
                       help="the parameters of a standard benchmark: " + ", ".join(PRESETS)
                            + " (Moving MNIST's 20 frames of 64 x 64 with 2 digits); any option given overrides it")
    batch.add_argument("--layout", choices=LAYOUTS,
                       help="strip: a line of glyphs (default); video: glyphs moving over a canvas (-w x --height, "
                            "default 64 x 64) and bouncing off its walls, Moving MNIST's rule (--length glyphs, "
                            "default 2); png, tar and lmdb store its frames side by side; scene: glyphs of "
                            "several sizes at random places on a canvas (-w x --height, default 64 x 64), read "
                            "top to bottom, left to right (--scale, --max-iou, --clutter, --combine); lines: a page "
                            "of lines (--lines, --line-gap), each a padded strip (-s, -e, -f, --align), the label's "
                            "lines parted by a newline")
    batch.add_argument("--lines", type=_length, metavar="N|MIN-MAX",
                       help="with --layout lines: lines per page, or a range drawn per page (default 3)")
    batch.add_argument("--line-gap", type=_gap, metavar="G|MIN,MAX",
                       help="with --layout lines: px between lines, or a range drawn per gap (default 0)")
    batch.add_argument("--frames", type=_int_in(1, MAX_FRAMES), metavar="T",
                       help="with --layout video: frames per video (default 20)")
    batch.add_argument("--speed", type=_speed, metavar="S|MIN,MAX",
                       help="with --layout video: each glyph's move per frame as a share of the range it moves "
                            "over, 0..1, or a range drawn per glyph (default 0.1, about 3.6 px on 64 x 64)")
    batch.add_argument("--scale", type=_scale, metavar="S|MIN,MAX",
                       help="with --layout scene: each glyph's side as a multiple of 28 px, or a range drawn per "
                            "glyph (default 1)")
    batch.add_argument("--max-iou", type=_iou, metavar="T",
                       help="with --layout scene: the largest intersection over union of two glyphs' squares, "
                            "0..1 (0 or 'none': no overlap; default 1: any)")
    batch.add_argument("--clutter", type=_clutter, metavar="COUNT,SIZE",
                       help="with --layout scene: COUNT pieces of SIZE x SIZE px cut from random glyphs, strewn "
                            "under the glyphs (cluttered MNIST's 4,8)")
    batch.add_argument("--combine", choices=("max", "sum"),
                       help="with --layout scene: ink that meets is combined by its maximum (default) or its "
                            "sum, clipped")
    batch.add_argument("--format", choices=tuple(WRITERS), default="png",
                       help="; ".join(f"{name}: {w.summary}".replace("%", "%%") for name, w in WRITERS.items())
                            + " (default png); every format also writes labels.csv")
    dtypes = dict.fromkeys(d for w in WRITERS.values() for d in w.dtypes)
    batch.add_argument("--dtype", choices=tuple(dtypes), default="uint8",
                       help="image type: uint8 0..255 like the PNGs (default), or float32 0..1 ("
                            + ", ".join(f"--format {n}" for n, w in WRITERS.items() if "float32" in w.dtypes) + ")")
    batch.add_argument("--annotations", type=_names(ANNOTATIONS), metavar="NAME,...",
                       help="annotation files written beside the images: "
                            + "; ".join(f"{name}: {a.summary}" for name, a in ANNOTATIONS.items()))
    holders = [name for name, w in WRITERS.items() if w.holds_masks]
    holders = f"{', '.join(holders[:-1])} or {holders[-1]}"
    batch.add_argument("--masks", action="store_true",
                       help="also write each sample's label image: 0 on paper, i + 1 on character i's visible "
                            f"ink (--format {holders})")
    batch.add_argument("--shard-size", type=_int_in(1, MAX_SHARD_SIZE), metavar="N",
                       help=f"samples per tar shard (default {SAMPLES_PER_TAR}); make at least as many shards as "
                            "DataLoader workers")
    batch.add_argument("--workers", type=_int_at_least(0), default=1, metavar="K",
                       help="processes to use, 0 for all cores; the output does not depend on it (default 1)")
    batch.add_argument("--shard", type=_shard, metavar="I/N",
                       help="make only part I of N (0-based) of the dataset; the parts' union is the whole")
    batch.add_argument("--resume", action="store_true",
                       help="finish an interrupted run in DIR (same arguments): keep the files that verify, "
                            "make the rest")
    parser.add_argument("--verify", metavar="DIR",
                        help="check a finished dataset folder against its SHA256SUMS and manifest "
                             "(like sha256sum -c); exit 0 only when every file matches")
    parser.add_argument("--deep", action="store_true",
                        help="with --verify: also make every sample again from the manifest's recipe and seed and "
                             "compare pixels, labels, boxes and masks (takes -d, --mirrors, --deadline, --workers)")
    _add_verbosity(parser)
    return parser


def _read_labels(parser: argparse.ArgumentParser, path: str, count: int | None, alphabet: str = "0123456789",
                 *, pages: bool = False) -> tuple[str, ...]:
    """The labels of ``--labels-file``: one digit string per line (the last newline optional, CRLF
    accepted), the first ``count`` when given; any problem is one ``parser.error`` naming the line.
    With ``pages`` (``--layout lines``), a page's lines are consecutive lines, pages are parted by an
    empty line, and a label is its page's lines joined by ``"\\n"``."""
    from ..sources.glyphs import encode_text

    try:
        with open(path, encoding="utf-8-sig", newline=None) as handle:  # -sig: a BOM is not a character
            text = handle.read()
    except UnicodeDecodeError as exc:
        parser.error(f"--labels-file {path}: not UTF-8 text ({exc.reason} at byte {exc.start})")
    except OSError as exc:
        parser.error(f"--labels-file {path}: cannot read it ({exc.strerror or exc})")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline ending the last line
    if pages:
        return _read_pages(parser, path, count, alphabet, lines)
    if not lines:
        parser.error(f"--labels-file {path}: holds no labels")
    if count is not None:
        if count > len(lines):
            parser.error(f"--count {count} but --labels-file {path} holds {len(lines)} labels")
        lines = lines[:count]
    if "" in lines or not set("".join(lines)) <= set(alphabet):  # one pass over a million labels; then the line
        for number, line in enumerate(lines, 1):
            if not line:
                parser.error(f"--labels-file {path} line {number}: empty (one label per line)")
            try:
                encode_text(line, alphabet)  # the one codec of labels: it names a character outside the alphabet
            except ValueError as exc:
                parser.error(f"--labels-file {path} line {number}: {exc} ({line!r})")
    return tuple(lines)


def _read_pages(parser: argparse.ArgumentParser, path: str, count: int | None, alphabet: str, lines: list[str]
                ) -> tuple[str, ...]:
    """:func:`_read_labels` of pages: runs of non-empty ``lines`` parted by empty ones."""
    from ..sources.glyphs import encode_text

    pages: list[list[str]] = []
    fresh = True  # the next non-empty line starts a page
    for number, line in enumerate(lines, 1):
        if not line:
            fresh = True
            continue
        if count is not None and fresh and len(pages) == count:
            break
        if not set(line) <= set(alphabet):
            try:
                encode_text(line, alphabet)
            except ValueError as exc:
                parser.error(f"--labels-file {path} line {number}: {exc} ({line!r})")
        if fresh:
            pages.append([])
        pages[-1].append(line)
        fresh = False
    if not pages:
        parser.error(f"--labels-file {path}: holds no pages")
    if count is not None and count > len(pages):
        parser.error(f"--count {count} but --labels-file {path} holds {len(pages)} pages (parted by empty lines)")
    return tuple("\n".join(page) for page in pages)


def _source(text: str) -> str:
    """An argparse type: a built-in set's name, or a glyph folder (its absolute path)."""
    from ..sources.folder import folder_alphabet, is_glyph_folder, resolve

    try:
        source = resolve(text)
        if is_glyph_folder(source):
            folder_alphabet(source)  # its classes, now: a bad folder is a usage error
    except (ValueError, OSError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return source


def _check_content(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The content options together: a pattern sets the length, given labels are drawn as they are."""
    if args.pattern is not None:
        other = ("--labels-file" if args.labels_file is not None else "--length" if args.length is not None
                 else None)
        if other:
            parser.error(f"give --pattern or {other}, not both: the pattern sets the labels' length")
    elif args.separators != "pen":
        parser.error("--separators applies with --pattern only")
    if args.unique and args.labels_file is not None:
        parser.error("--unique does not apply with --labels-file: its labels are drawn as they are")


def _length(text: str) -> tuple[int, int]:
    """``L`` or ``MIN-MAX``."""
    low, sep, high = text.partition("-")
    try:
        values = (int(low), int(high)) if sep else (int(text), int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected L or MIN-MAX in digits, got {text!r}") from None
    if not 0 <= values[0] <= values[1] or values[1] < 1:  # 0 only for scenes: the recipe says so
        raise argparse.ArgumentTypeError(f"need 0 <= MIN <= MAX and MAX >= 1, got {text!r}")
    return values


def _gap(text: str) -> tuple[int, int]:
    """``G`` or ``MIN,MAX``, whole pixels from 0 up."""
    parts = text.split(",")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or len(values) != len(parts) or values[0] < 0 or values != sorted(values):
        raise argparse.ArgumentTypeError(f"expected G or MIN,MAX with 0 <= MIN <= MAX px, got {text!r}")
    return values[0], values[-1]


def _speed(text: str) -> float | tuple[float, float]:
    """``S`` or ``MIN,MAX``, shares of the range in [0, 1]."""
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or len(values) != len(parts) or not all(0 <= v <= 1 for v in values) \
            or values != sorted(values):
        raise argparse.ArgumentTypeError(f"expected S or MIN,MAX with 0 <= MIN <= MAX <= 1, got {text!r}")
    return values[0] if len(values) == 1 else (values[0], values[1])


def _scale(text: str) -> float | tuple[float, float]:
    """``S`` or ``MIN,MAX``, multiples of 28 px (the recipe checks the range)."""
    try:
        values = [float(p) for p in text.split(",")]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"expected S or MIN,MAX (multiples of 28 px), got {text!r}")
    return values[0] if len(values) == 1 else (values[0], values[1])


def _iou(text: str) -> float:
    """``T`` in [0, 1], or ``none`` (0: no overlap)."""
    if text.strip().lower() == "none":
        return 0.0
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1] or 'none', got {text!r}")
    return value


def _clutter(text: str) -> tuple[int, int]:
    """``COUNT,SIZE``, integers (the recipe checks their ranges)."""
    parts = text.split(",")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"expected COUNT,SIZE (two integers), got {text!r}")
    return int(parts[0]), int(parts[1])


def _apply_preset(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--preset``: its fields fill the options not given; then the strip's defaults fill the rest."""
    from ..presets import check_preset

    flags = {"layout": "layout", "length": "length", "image_width": "width", "image_height": "height",
             "frames": "frames", "speed": "speed", "background": "background", "split": "split",
             "scale": "scale", "max_iou": "max_iou", "clutter": "clutter", "combine": "combine",
             "distinct": "distinct"}
    preset = check_preset(args.preset) if args.preset else {}
    layout = args.layout or preset.get("layout", "strip")
    only = {"frames": "video", "speed": "video", "scale": "scene", "max_iou": "scene", "clutter": "scene",
            "combine": "scene"}
    for field, value in preset.items():
        if only.get(field, layout) != layout:
            continue  # --layout changed the preset's: its options of that other layout do not apply
        if field == "distinct" and (args.labels is not None or args.pattern is not None or args.unique):
            continue  # the labels given say their own characters
        if getattr(args, flags[field]) is None:
            setattr(args, flags[field], (value, value) if field == "length" and isinstance(value, int) else value)
    args.layout = args.layout or "strip"
    args.background = args.background or "white"
    args.split = args.split or "train"
    for flag, layout in (("frames", "video"), ("speed", "video"), ("scale", "scene"), ("max_iou", "scene"),
                         ("clutter", "scene"), ("combine", "scene"), ("lines", "lines"), ("line_gap", "lines")):
        if getattr(args, flag) is not None and args.layout != layout:
            parser.error(f"--{flag.replace('_', '-')} applies with --layout {layout} only")
    if args.layout == "lines" and args.fit != "stretch":
        parser.error("--fit applies to strips, not --layout lines: lines keep their glyphs' size")
    if args.layout not in ("strip", "lines"):
        strip = [flag for flag, given in (("-s/--spacing", args.spacing != (0, 0)), ("-e/--evenly", args.evenly),
                                           ("--fit", args.fit != "stretch"), ("--align", args.align is not None))
                 if given]
        if strip:
            parser.error(f"{strip[0]} applies to strips, not --layout {args.layout}")


def _names(known):
    """An argparse type: comma-separated names, each one of ``known``."""
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(n.strip() for n in text.split(","))
        for name in names:
            if name not in known:
                raise argparse.ArgumentTypeError(f"unknown name {name!r}; choose from {', '.join(known)}")
        return names

    return parse


def _int_in(low: int, high: int):
    """An argparse type: a whole number in ``low..high``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"need {low}..{high}, got {text!r}")
        return value

    return parse


def _shard(text: str) -> tuple[int, int]:
    """``I/N`` with ``0 <= I < N``."""
    i, sep, n = text.partition("/")
    try:
        values = (int(i), int(n))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/N, got {text!r}") from None
    if not sep or not 0 <= values[0] < values[1]:
        raise argparse.ArgumentTypeError(f"need I/N with 0 <= I < N, got {text!r}")
    return values


def _dataset_work(args: argparse.Namespace) -> int:
    import time

    from ..dataset import plan_dataset
    from ..export.exporter import Options, check_format, check_layout, dataset_key, export_dataset, shard_range
    from ..export.prepare import check_folder
    from ..making import check_memory, chunk_bounds
    from ..mnistdata import load
    from ..recipe import Recipe

    seed = args.seed
    if seed is None and args.resume:
        seed = _resume_seed(args.output_dir)
    content = ({"labels": args.labels} if args.labels is not None  # their lengths
               else {"pattern": args.pattern, "separators": args.separators} if args.pattern is not None
               else {"length": args.length})
    layout_fields = ({"layout": "video", "frames": args.frames, "speed": args.speed} if args.layout == "video"
                     else {"layout": "scene", "scale": args.scale, "max_iou": args.max_iou, "clutter": args.clutter,
                           "combine": args.combine} if args.layout == "scene"
                     else {"layout": "lines", "lines": args.lines, "line_gap": args.line_gap}
                     if args.layout == "lines" else {})
    recipe = Recipe(**content, unique=args.unique, distinct=bool(args.distinct), source=args.source,
                    spacing_range=args.spacing,
                    image_width=args.width,
                    image_height=args.height, evenly=args.evenly, fit=args.fit, align=args.align or "center",
                    fltrs=args.filters, background=args.background, split=args.split, dtype=args.dtype,
                    **layout_fields)
    plan = plan_dataset(args.count, seed=seed, recipe=recipe)  # with labels: as many as they are
    options = Options(annotations=args.annotations or (), masks=args.masks,
                      **({} if args.shard_size is None else {"shard_size": args.shard_size}))
    check_format(args.format, args.dtype, options)  # what it needs installed and can do, before any loading
    check_layout(plan, options, args.format)
    indices = shard_range(plan.count, args.shard, args.format, options)
    check_memory(plan, door="export", workers=args.workers, bounds=chunk_bounds(indices),  # before any loading
                 masks=args.masks)
    description = {"filters": recipe.fltrs or ""}  # presets written out, as in the recipe
    check_folder(args.output_dir, resume=args.resume, force=args.force,
                 dataset=dataset_key(plan, args.format, indices, description, options))
    started = time.perf_counter()
    source = load(args.split, data_home=args.data_dir, mirrors=args.mirrors, progress=False if args.quiet else None,
                  deadline=args.deadline, source=args.source)
    arguments = {k: v for k, v in vars(args).items() if k not in ("quiet", "verbose", "labels")}  # labels: as a digest
    summary = export_dataset(
        args.output_dir, plan, source, fmt=args.format, options=options, indices=indices, workers=args.workers,
        arguments=arguments, description=description, resume=args.resume,
        force=args.force, progress=False if args.quiet else None, from_files=True, data_home=args.data_dir,
    )
    seconds = time.perf_counter() - started
    if not args.quiet:
        rate = summary["written"] / seconds if seconds > 0 else float("inf")
        print(f"{summary['written']} images in {seconds:.1f} s ({rate:.0f} images/s), "
              f"{len(indices) - summary['written']} kept from before", file=sys.stderr)
    print(args.output_dir)
    return 0


def _resume_seed(folder) -> int | None:
    """The seed recorded by the run being resumed, so --resume needs no --seed."""
    from pathlib import Path

    from ..export.record import read_manifest

    if not Path(folder).is_dir():
        return None
    seed = (read_manifest(Path(folder)) or {}).get("dataset", {}).get("seed")  # a bad manifest: one line, exit 2
    return seed if isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0 else None


def _verify_work(args: argparse.Namespace) -> int:
    from ..export.verify import verify_dataset

    problems = verify_dataset(args.verify, deep=args.deep, workers=args.workers, data_home=args.data_dir,
                              mirrors=args.mirrors, deadline=args.deadline, progress=False if args.quiet else None)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{args.verify}: {len(problems)} problem(s) found", file=sys.stderr)
        return EXIT_ENVIRONMENT
    if not args.quiet:
        deep = ", and every sample is what its recipe and seed make" if args.deep else ""
        print(f"{args.verify}: every file matches{deep}", file=sys.stderr)
    return 0


def _generator_work(args: argparse.Namespace) -> int:
    import numpy as np

    from ..compose.filterspec import from_spec
    from ..compose.checks import check_request
    from ..compose.strip import compose
    from ..export.exporter import write_png
    from ..mnistdata import load

    fltrs = from_spec(args.filters) if args.filters else None
    from ..sources.folder import alphabet_of

    request = check_request(args.digits, args.spacing, args.width, args.evenly, fltrs, args.split,
                            image_height=args.height, background=args.background, fit=args.fit,
                            align=args.align or "center", alphabet=alphabet_of(args.source))
    output = _output_path(args.output)
    seed = args.seed if args.seed is not None else int(np.random.SeedSequence().entropy % 2**63)
    log.info("seed %d (pass --seed %d to repeat this image)", seed, seed)
    source = load(args.split, data_home=args.data_dir, mirrors=args.mirrors,
                  progress=False if args.quiet else None, deadline=args.deadline, source=args.source)
    image = compose(request, source, np.random.default_rng(seed))
    written = write_png(output, image, overwrite=args.force)
    print(written)
    return 0


def generator_main(argv: Sequence[str] | None = None, prog: str = "generator.py") -> int:
    """Entry point of ``generator.py`` / ``mnist-generator`` / ``python -m mnist_dataset_generator``."""
    parser = _generator_parser(prog)
    argv = _join_negative_values(list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(argv)
    batch_only = [flag for flag, value in (("--output-dir", args.output_dir), ("--shard", args.shard),
                                           ("--resume", args.resume), ("--workers", args.workers != 1),
                                           ("--format", args.format != "png"), ("--length", args.length is not None),
                                           ("--dtype", args.dtype != "uint8"),
                                           ("--shard-size", args.shard_size is not None),
                                           ("--annotations", args.annotations is not None),
                                           ("--masks", args.masks),
                                           ("--pattern", args.pattern is not None), ("--unique", args.unique),
                                           ("--distinct", bool(args.distinct)),
                                           ("--separators", args.separators != "pen"),
                                           ("--preset", args.preset is not None),
                                           ("--layout", args.layout is not None), ("--frames", args.frames is not None),
                                           ("--speed", args.speed is not None),
                                           ("--scale", args.scale is not None),
                                           ("--max-iou", args.max_iou is not None),
                                           ("--clutter", args.clutter is not None),
                                           ("--combine", args.combine is not None),
                                           ("--lines", args.lines is not None),
                                           ("--line-gap", args.line_gap is not None))
                  if value]
    args.labels = None
    if args.labels_file is not None and args.verify is None:
        if args.digits is not None:
            parser.error("give either digits (one image) or --labels-file (a dataset), not both")
        if args.length is not None:
            parser.error("--length does not apply with --labels-file: the labels' lengths are the lengths")
        from ..sources.folder import alphabet_of

        args.labels = _read_labels(parser, args.labels_file, args.count, alphabet_of(args.source),
                                   pages=args.layout == "lines")
        args.count = len(args.labels)
    if args.verify is None:
        _check_content(parser, args)
        _apply_preset(parser, args)
        if args.length is None and args.layout == "strip":
            args.length = (8, 8)  # not given: 8, as the manifests of earlier versions record it
    if args.force and args.resume:
        parser.error("give --resume (finish this run) or --force (start over), not both")
    if args.align is not None and args.fit != "pad" and args.layout != "lines":
        parser.error(f"--align {args.align} places a padded strip: it needs --fit pad")
    if args.deep and args.verify is None:
        parser.error("--deep applies to --verify DIR only")
    if args.verify is not None:
        defaults = vars(_generator_parser(prog).parse_args([]))
        deep_options = ("deep", "data_dir", "mirrors", "workers", "deadline") if args.deep else ()
        given = [name for name, value in vars(args).items()
                 if name not in ("verify", "quiet", "verbose", *deep_options) and value != defaults.get(name)]
        if given:
            flag = given[0] if given[0] == "digits" else "--" + given[0].replace("_", "-")
            parser.error(f"--verify checks a finished folder and takes no other option but --deep and, with it, "
                         f"-d, --mirrors, --deadline and --workers (got {flag})")
        with _logging_to_stderr(prog, args):
            return _run(prog, _verify_work, args)
    if args.count is None:
        if args.digits is None:
            parser.error("the following arguments are required: digits (or --count N for a dataset)")
        if batch_only:
            parser.error(f"{batch_only[0]} applies to datasets only (with --count)")
    else:
        if args.digits is not None:
            parser.error("give either digits (one image) or --count (a dataset), not both")
        if args.output_dir is None:
            parser.error("--count needs --output-dir DIR")
        if args.output != DEFAULT_OUTPUT:
            parser.error("-o names a single image; a dataset goes to --output-dir")
        from ..export.writers import WRITERS

        writer = WRITERS[args.format]
        if args.dtype not in writer.dtypes:
            only = ", ".join(f"--format {n}" for n, w in WRITERS.items() if args.dtype in w.dtypes)
            parser.error(f"--dtype {args.dtype} applies to {only} only: {args.format} stores "
                         f"{' or '.join(writer.dtypes)} images")
        if args.shard_size is not None and "shard_size" not in writer.takes:
            only = ", ".join(f"--format {n}" for n, w in WRITERS.items() if "shard_size" in w.takes)
            parser.error(f"--shard-size applies to {only} only")
    work = _generator_work if args.count is None else _dataset_work
    with _logging_to_stderr(prog, args):
        return _run(prog, work, args, argv)


def generator_console(prog: str = "mnist-generator") -> NoReturn:
    """Console-script wrapper: ``mnist-generator`` (also ``generator.py``, ``python -m``); exits this process.

    A second Ctrl-C is ignored while the first one's clean-up runs (see :func:`.common._console`).
    """
    _console(generator_main, prog)
