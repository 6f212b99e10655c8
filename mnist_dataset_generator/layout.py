"""Pure arithmetic of a strip: gaps, even slots, horizontal resampling weights. No I/O.

Resampling is separable and horizontal only: each output column is a weighted
sum of a few input columns. The weights come from a triangle (linear) kernel
whose support widens with the shrink factor, as Pillow's antialiased
``BILINEAR`` does: enlarging is plain linear interpolation, shrinking averages
every input column it covers (no aliasing). The weights are non-negative and
sum to one, so values in [0, 1] stay in [0, 1].
"""

from __future__ import annotations

import functools
import math

import numpy as np

__all__ = [
    "MIN_DIGIT_WIDTH",
    "even_layout",
    "min_width",
    "random_gaps",
    "resample",
    "resample_weights",
    "spread",
]

MIN_DIGIT_WIDTH = 7  # px: narrower digits are unreadable
DIGIT = 28


def spread(total: int, parts: int) -> np.ndarray:
    """Split ``total`` into ``parts`` integers differing by at most 1, the larger ones spread out.

    Examples
    --------
    >>> spread(10, 4).tolist()
    [2, 3, 2, 3]
    """
    if parts == 0:
        return np.zeros(0, dtype=np.int64)
    edges = (np.arange(parts + 1) * total) // parts
    return np.diff(edges)


def random_gaps(spacing_range: tuple[int, int], u: np.ndarray) -> np.ndarray:
    """Gaps uniform on ``min..max`` inclusive, one for each uniform draw ``u`` in [0, 1).

    Examples
    --------
    >>> random_gaps((2, 4), np.array([0.0, 0.34, 0.999])).tolist()
    [2, 3, 4]
    """
    low, high = spacing_range
    span = high - low + 1
    return low + np.minimum((u * span).astype(np.int64), span - 1)  # u * span may round up to span


def min_width(n: int, spacing_range: tuple[int, int], evenly: bool) -> int:
    """The smallest ``image_width`` that keeps every digit at least 7 px wide.

    Random mode resamples the whole strip, so it must hold for the widest
    strip the gaps can give; even mode gives the gaps their minimum.

    Examples
    --------
    >>> min_width(3, (0, 10), evenly=False), min_width(3, (0, 10), evenly=True)
    (26, 21)
    """
    low, high = spacing_range
    if evenly:  # slots of at least 7 px, each starting at least 1 px after the previous one
        return _min_slot(low) * n + (n - 1) * low
    widest = DIGIT * n + (n - 1) * high
    return math.ceil(widest * MIN_DIGIT_WIDTH / DIGIT)


def _min_slot(low: int) -> int:
    return max(MIN_DIGIT_WIDTH, 1 - low)


def even_layout(n: int, spacing_range: tuple[int, int], image_width: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Digit slot widths and gap widths for even mode.

    All slots have the same width, all gaps too (each may differ by 1 px
    where the numbers do not divide); the total is exactly ``image_width``;
    each gap lies in the range; among the allowed gaps the one keeping the
    digits closest to 28 px wins. ``image_width=None``: 28 px digits and gaps
    averaging the midpoint of the range.

    Returns
    -------
    (slots, gaps) : arrays of int, lengths ``n`` and ``n - 1``

    Examples
    --------
    >>> slots, gaps = even_layout(3, (2, 4), 100)
    >>> slots.tolist(), gaps.tolist()
    ([30, 31, 31], [4, 4])
    """
    low, high = spacing_range
    if image_width is None:
        return np.full(n, DIGIT), spread(round((n - 1) * (low + high) / 2), n - 1)
    # total digit width D: as close to 28 n as the gap range allows
    lowest = max(_min_slot(low) * n, image_width - (n - 1) * high)
    highest = image_width - (n - 1) * low
    if lowest > highest:
        raise ValueError(f"no even layout of {n} digits fits {image_width} px")  # callers check min_width first
    digits_total = min(max(DIGIT * n, lowest), highest)
    # With overlapping (negative) gaps each digit must still start after the previous
    # one: smallest slot + smallest gap >= 1; less digit width means wider gaps.
    while n > 1 and digits_total > lowest and digits_total // n + (image_width - digits_total) // (n - 1) < 1:
        digits_total -= 1
    return spread(digits_total, n), spread(image_width - digits_total, n - 1)


@functools.lru_cache(maxsize=256)
def resample_weights(src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
    """Gather indices and weights mapping ``src`` columns to ``dst`` columns.

    Returns
    -------
    (index, weight) : arrays of shape ``(dst, taps)``
        Output column ``j`` is ``sum_k weight[j, k] * input[:, index[j, k]]``.
        Read-only; cached per ``(src, dst)``.

    Examples
    --------
    >>> index, weight = resample_weights(4, 2)  # halve: a triangle 2 input px wide each side
    >>> np.round((weight[:, :, None] * np.eye(4)[index]).sum(1), 3).tolist()
    [[0.429, 0.429, 0.143, 0.0], [0.0, 0.143, 0.429, 0.429]]
    """
    if src < 1 or dst < 1:
        raise ValueError(f"resample_weights: widths must be positive, got {src} -> {dst}")
    scale = src / dst
    support = max(scale, 1.0)  # widen the kernel when shrinking: antialiasing
    centres = (np.arange(dst) + 0.5) * scale  # output pixel centres in input coordinates
    taps = int(math.ceil(support)) * 2 + 1
    first = np.floor(centres - support + 0.5).astype(np.int64)
    index = first[:, None] + np.arange(taps)
    weight = np.maximum(0.0, 1.0 - np.abs((index + 0.5 - centres[:, None]) / support))
    weight[(index < 0) | (index >= src)] = 0.0
    weight /= weight.sum(axis=1, keepdims=True)
    index = np.clip(index, 0, src - 1)
    for arr in (index, weight):
        arr.flags.writeable = False
    return index, weight.astype(np.float32)


def resample(img: np.ndarray, width: int) -> np.ndarray:
    """Resample ``img`` (rows x columns) horizontally to ``width`` columns; float32, C-contiguous.

    Examples
    --------
    >>> resample(np.ones((28, 10), np.float32), 25).shape
    (28, 25)
    """
    src = img.shape[1]
    if src == width:
        return np.ascontiguousarray(img, dtype=np.float32)
    index, weight = resample_weights(src, width)
    out = np.einsum("rjk,jk->rj", img[:, index], weight, dtype=np.float32, casting="unsafe")
    return np.ascontiguousarray(out, dtype=np.float32)
