"""The checks of one strip's arguments, the validated request, and what making it takes in memory.

``check_request`` validates everything that needs no data, so the command line can refuse
bad input before anything is downloaded; every door takes these checks, and nothing here
draws or composes (that is :mod:`.strip`'s).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .._limits import check_bytes, format_bytes, memory_budget
from ..mnistdata import SPLITS
from . import filterspec, layout

__all__ = [
    "BACKGROUNDS",
    "DIGIT_BYTES",
    "MAX_DIGITS",
    "MAX_HEIGHT",
    "MAX_SPACING",
    "MAX_WIDTH",
    "MIN_SPACING",
    "SHRINK_BYTES",
    "Request",
    "check_align",
    "check_background",
    "check_digits",
    "check_fit",
    "check_flag",
    "check_height",
    "check_request",
    "check_rng",
    "check_spacing",
    "check_width",
    "choice",
    "int_pair",
    "is_int",
    "optional_size",
    "strip_bytes",
    "strip_detail",
    "strip_memory",
]

MAX_DIGITS = 10_000
MAX_SPACING = 10_000
MAX_WIDTH = 1_000_000  # px; a float32 strip of 28 x 1e6 is 112 MB
MAX_HEIGHT = 4096
BACKGROUNDS = ("white", "black")  # white: dark ink on paper; black: MNIST polarity


def is_int(value) -> bool:
    """An integer, NumPy's too, but not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_digits(digits, alphabet: str = "0123456789") -> np.ndarray:
    """Digits as an int array of 0..9 (values of 10 and more reduced modulo 10); for another
    ``alphabet``, a string's characters as its classes (a list then holds classes below its size).

    A string must hold only the characters 0-9; a list-like must hold
    non-negative integers. The error names the first offending item.
    """
    if alphabet != "0123456789":
        return _check_text(digits, alphabet)
    if isinstance(digits, str) and digits.isascii() and digits.isdigit() and 0 < len(digits) <= MAX_DIGITS:
        return np.frombuffer(digits.encode(), np.uint8).astype(np.int64) - 48  # the common case, in one step
    if (isinstance(digits, np.ndarray) and digits.dtype.kind in "iu" and 0 < digits.size <= MAX_DIGITS
            and digits.min() >= 0):
        return (digits.ravel() % 10).astype(np.int64)  # reduced in its own type: uint64 past 2**63 wraps in int64
    if isinstance(digits, str):
        for i, char in enumerate(digits):
            if char not in "0123456789":
                raise ValueError(f"digits: {char!r} at position {i} is not a digit 0-9 (in {digits!r})")
        items = [int(char) for char in digits]
    elif isinstance(digits, (bytes, bytearray, dict, set, frozenset)) or not isinstance(digits, Iterable):
        raise ValueError(
            f"digits must be a string of 0-9 or a list of non-negative integers, got {type(digits).__name__}"
        )
    else:
        items = list(np.asarray(digits).ravel()) if isinstance(digits, np.ndarray) else list(digits)
        for i, item in enumerate(items):
            if not is_int(item):
                raise ValueError(f"digits[{i}] must be a non-negative integer, got {item!r}")
            if item < 0:
                raise ValueError(f"digits[{i}] must be non-negative, got {item}")
    if not items:
        raise ValueError("digits must not be empty")
    if len(items) > MAX_DIGITS:
        raise ValueError(f"digits: at most {MAX_DIGITS} digits, got {len(items)}")
    return np.array([int(item) % 10 for item in items], dtype=np.int64)


def _check_text(text, alphabet: str) -> np.ndarray:
    """The classes of ``text`` (a string over ``alphabet``, or a list of its class numbers)."""
    if isinstance(text, str):
        if not 0 < len(text) <= MAX_DIGITS:
            raise ValueError(f"digits: expected 1..{MAX_DIGITS} characters, got {len(text)}")
        for i, char in enumerate(text):
            if char not in alphabet:
                raise ValueError(f"digits: {char!r} at position {i} is not in the alphabet {alphabet!r} (in {text!r})")
        return np.array([alphabet.index(char) for char in text], np.int64)
    if isinstance(text, (bytes, bytearray, dict, set, frozenset)) or not isinstance(text, Iterable):
        raise ValueError(f"digits must be a string over {alphabet!r} or a list of classes, got {type(text).__name__}")
    items = list(np.asarray(text).ravel()) if isinstance(text, np.ndarray) else list(text)
    if not 0 < len(items) <= MAX_DIGITS:
        raise ValueError(f"digits: expected 1..{MAX_DIGITS} classes, got {len(items)}")
    for i, item in enumerate(items):
        if not is_int(item) or not 0 <= item < len(alphabet):
            raise ValueError(f"digits[{i}] must be a class 0..{len(alphabet) - 1} of {alphabet!r}, got {item!r}")
    return np.array(items, np.int64)


MIN_SPACING = -27  # px: digits may overlap, but each still starts at least 1 px after the previous one


def int_pair(name: str, value, expected: str = "a (min, max) pair of integers") -> tuple[int, int]:
    """``value`` as two integers (``int`` for a single one when ``expected`` admits it)."""
    if is_int(value) and "an integer" in expected:
        return int(value), int(value)
    try:
        low, high = value
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {expected}, got {value!r}") from None
    if not (is_int(low) and is_int(high)):
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return int(low), int(high)


def check_spacing(spacing_range) -> tuple[int, int]:
    """``(min, max)`` integers with ``-27 <= min <= max <= MAX_SPACING`` (negative: digits overlap)."""
    low, high = int_pair("spacing_range", spacing_range)
    if not MIN_SPACING <= low <= high <= MAX_SPACING:
        raise ValueError(
            f"spacing_range must satisfy {MIN_SPACING} <= min <= max <= {MAX_SPACING}, got ({low}, {high})"
        )
    return int(low), int(high)


def optional_size(name: str, value, high: int) -> int | None:
    """``None`` or an integer in ``1..high``, named ``name`` in the error."""
    if value is None:
        return None
    if not is_int(value) or not 1 <= value <= high:
        raise ValueError(f"{name} must be an integer in 1..{high} or None, got {value!r}")
    return int(value)


def check_height(image_height) -> int | None:
    """``None`` or an integer height in ``1..MAX_HEIGHT``."""
    return optional_size("image_height", image_height, MAX_HEIGHT)


def choice(name: str, value, accepted: tuple[str, ...]) -> str:
    """``value`` if it is one of ``accepted``; else the error names both."""
    if not isinstance(value, str) or value not in accepted:
        raise ValueError(f"{name} must be one of {', '.join(accepted)}, got {value!r}")
    return value


def check_background(background) -> str:
    return choice("background", background, BACKGROUNDS)


def check_fit(fit) -> str:
    return choice("fit", fit, layout.FITS)


def check_align(align) -> str:
    return choice("align", align, layout.ALIGNS)


def check_width(image_width, n: int, spacing: tuple[int, int], evenly: bool, fit: str = "stretch") -> int | None:
    """``None`` or a width in ``min_width..MAX_WIDTH`` (the error states the smallest that works).

    Either fit keeps digits at least :data:`.layout.MIN_DIGIT_WIDTH` px wide: stretch by
    resampling, pad by scaling the whole strip down (see :func:`.layout.min_width`).
    """
    if image_width is None:
        if layout.DIGIT * n + (n - 1) * spacing[1] > MAX_WIDTH:
            raise ValueError(f"the natural width of {n} digits with spacing up to {spacing[1]} exceeds {MAX_WIDTH} px")
        return None
    if not is_int(image_width) or image_width < 1:
        raise ValueError(f"image_width must be a positive integer or None, got {image_width!r}")
    if image_width > MAX_WIDTH:
        raise ValueError(f"image_width must be at most {MAX_WIDTH}, got {image_width}")
    smallest = layout.min_width(n, spacing, evenly, fit)
    if image_width < smallest:
        mode = ("even" if evenly else "random") + (" layout, fit=pad" if fit == "pad" else " layout")
        raise ValueError(
            f"image_width {image_width} is too small for {n} digit(s) with spacing {spacing[0]}..{spacing[1]} "
            f"({mode}): digits would be under {layout.MIN_DIGIT_WIDTH} px wide; "
            f"the smallest width that works is {smallest}"
        )
    return int(image_width)


def check_flag(name: str, value) -> bool:
    """``value`` as a bool; anything but True or False is refused, naming ``name``."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_rng(rng) -> np.random.Generator:
    try:
        return np.random.default_rng(rng)
    except (TypeError, ValueError):
        raise ValueError(
            f"rng must be None, a non-negative integer seed or a numpy.random.Generator, got {rng!r}"
        ) from None


@dataclass(frozen=True)
class Request:
    """Validated arguments of one strip (see :func:`check_request`)."""

    digits: np.ndarray
    spacing: tuple[int, int]
    width: int | None
    evenly: bool
    prepared: list
    height: int | None = None
    background: str = "white"
    fit: str = "stretch"
    align: str = "center"

    @property
    def padded(self) -> bool:
        """Whether the strip keeps its digits' size inside the width (``fit="pad"`` with a width)."""
        return self.fit == "pad" and self.width is not None


def check_request(digits, spacing_range, image_width, evenly=False, fltrs=None, split="train", *,
                  image_height=None, background="white", fit="stretch", align="center",
                  door: str | None = "generate_numbers_sequence", alphabet: str = "0123456789") -> Request:
    """Check every argument of :func:`.generator.generate_numbers_sequence` that needs no data.

    The command line calls it before loading anything, so bad input never
    starts a download. A strip whose making would take more than the memory
    budget (see :func:`strip_memory`) is refused with a message naming
    ``door``; ``None`` skips that check (datasets make their own).
    """
    digits = check_digits(digits, alphabet)
    spacing = check_spacing(spacing_range)
    if not isinstance(evenly, (bool, np.bool_)):
        raise ValueError(f"evenly must be True or False, got {evenly!r}")
    fit, align = check_fit(fit), check_align(align)
    if align != "center" and fit != "pad":
        raise ValueError(f"align={align!r} places a padded strip: it needs fit='pad', got fit={fit!r}")
    # Padding scales a too-wide strip down whole: the same 7 px floor holds for its digits.
    width = check_width(image_width, len(digits), spacing, bool(evenly), fit)
    prepared = filterspec.prepare(fltrs)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    request = Request(digits, spacing, width, bool(evenly), prepared, check_height(image_height),
                      check_background(background), fit, align)
    if door is not None:
        height, width, nbytes = strip_memory(request)
        if nbytes > memory_budget()[0]:  # the message only then: single strips are made by the thousand
            check_bytes(door, "the image and the renderer's working copies", nbytes,
                         *strip_detail(len(request.digits), height, width))
    return request


def strip_memory(request: Request) -> tuple[int, int, int]:
    """``(height, width, bytes)``: the strip's size, and the most memory making it takes.

    An estimate from above, computed before anything is drawn: the float32
    strip, the 28 rows laid out before it is resampled to its width and after,
    and when the height changes, four copies more of the strip (the vertical
    resampler gathers its taps before it sums them); each digit's share
    (:data:`DIGIT_BYTES`), and the resampling tables of a strip shrunk to its
    image. Digits count as 28 px: a filter that widens them is not foreseen.

    Examples
    --------
    >>> strip_memory(check_request("12", (0, 0), 1_000_000, image_height=4096, door=None))  # 16.4 GB of pixels
    (4096, 1000000, 82144032000)
    """
    return strip_bytes(len(request.digits), request.spacing[1], request.width, request.height or layout.DIGIT)


# Bytes a digit takes while its strip is made, whatever the image's size: its glyph, its columns
# on the ink sheet, its draws, extents and box, the column ids that read it (tracemalloc peaks of
# 6 kB a digit rendered in batches, up to 16 kB composed with filters, 10,000-digit strips).
DIGIT_BYTES = 16_000
# Bytes a column of the natural strip adds when it is shrunk to the image: the resampling
# tables hold about two taps per natural column, int64 and float64 and their temporaries.
SHRINK_BYTES = 160


def strip_bytes(n: int, high: int, width: int | None, height: int) -> tuple[int, int, int]:
    """:func:`strip_memory` of ``n`` digits with gaps up to ``high`` px, made ``height`` x ``width``."""
    natural = layout.DIGIT * n + (n - 1) * high  # the widest the random gaps make it
    if width is None:
        width = natural if height == layout.DIGIT else max(1, round(natural * height / layout.DIGIT))
    copies = 1 if height == layout.DIGIT else 5
    nbytes = 4 * (layout.DIGIT * (max(natural, width) + width) + copies * height * width) + DIGIT_BYTES * n
    if natural > width or height < layout.DIGIT:  # shrunk (stretched into the width, or padded)
        nbytes += SHRINK_BYTES * natural
    return height, width, nbytes


def strip_detail(n: int, height: int, width: int) -> tuple[str, str]:
    """``(detail, advice)`` of a refusal by :func:`strip_bytes`: the image's size, and the digits'
    when they take more (a long string padded into a small image)."""
    image = 4 * height * width
    detail = f"{height} x {width} x 4 bytes = {format_bytes(image)} for the image"
    if DIGIT_BYTES * n <= image:
        return detail, "use a smaller image_width or image_height"
    return (f"{detail}, {n} digits x {format_bytes(DIGIT_BYTES)} = {format_bytes(DIGIT_BYTES * n)} for the digits",
            "use fewer digits, or a smaller image_width or image_height")
