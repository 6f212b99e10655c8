"""Pure arithmetic of a strip: gaps, even slots, padding, resampling weights, boxes. No I/O.

Resampling is separable: each output column (or row) is a weighted
sum of a few input columns. The weights come from a triangle (linear) kernel
whose support widens with the shrink factor, as Pillow's antialiased
``BILINEAR`` does: enlarging is plain linear interpolation, shrinking averages
every input column it covers (no aliasing). The weights are non-negative and
sum to one, so values in [0, 1] stay in [0, 1].
"""

from __future__ import annotations

import math

import numpy as np

from .._limits import bounded_cache

__all__ = [
    "ALIGNS",
    "FITS",
    "MIN_DIGIT_WIDTH",
    "digit_boxes",
    "even_layout",
    "ink_extents",
    "ink_spans",
    "map_spans",
    "min_width",
    "pad_placement",
    "random_gaps",
    "reach",
    "resample_weights",
    "spread",
]

MIN_DIGIT_WIDTH = 7  # px: narrower digits are unreadable
DIGIT = 28
FITS = ("stretch", "pad")  # stretch: the strip is resampled to the width; pad: digits keep their size
ALIGNS = ("left", "center", "random")  # where a padded strip sits in its width


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


def min_width(n: int, spacing_range: tuple[int, int], evenly: bool, fit: str = "stretch") -> int:
    """The smallest ``image_width`` that keeps every digit at least 7 px wide.

    Random mode resamples the whole strip, so it must hold for the widest
    strip the gaps can give; even mode gives the gaps their minimum.
    ``fit="pad"`` scales the whole natural strip (28 px digits; even mode: the
    range's middle gap) down to the width when it is wider, so a digit is
    ``28 * width / natural`` px wide: the width must hold the widest natural
    strip at 7/28 of its size, in either mode.

    Examples
    --------
    >>> min_width(3, (0, 10), evenly=False), min_width(3, (0, 10), evenly=True)
    (26, 21)
    >>> min_width(3, (0, 10), evenly=False, fit="pad"), min_width(3, (0, 10), evenly=True, fit="pad")
    (26, 24)
    """
    low, high = spacing_range
    if fit == "pad":  # the widest natural strip, as programs.lay_out and strip.compose build it
        widest = DIGIT * n + (round((n - 1) * (low + high) / 2) if evenly else (n - 1) * high)
        return math.ceil(widest * MIN_DIGIT_WIDTH / DIGIT)
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


@bounded_cache(max_bytes=32 * 2**20, maxsize=256)  # entries grow with src: bytes bound them
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


@bounded_cache(max_bytes=32 * 2**20)
def reach(src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
    """``(first, last)``: for each of ``src`` input positions, the first and last of the ``dst``
    output positions whose resampling weights (:func:`resample_weights`) give it a non-zero weight.

    Ink at input positions ``a..b-1`` therefore lands exactly on outputs ``first[a]..last[b-1]``:
    what a digit's box becomes when its strip is resampled.

    Examples
    --------
    >>> first, last = reach(4, 2)
    >>> first.tolist(), last.tolist()
    ([0, 0, 0, 1], [0, 1, 1, 1])
    """
    if src == dst:
        first = np.arange(src)
        return first, first
    index, weight = resample_weights(src, dst)
    live = weight > 0
    first = np.full(src, dst, np.int64)
    last = np.full(src, -1, np.int64)
    rows = np.broadcast_to(np.arange(dst)[:, None], index.shape)
    np.minimum.at(first, index[live], rows[live])
    np.maximum.at(last, index[live], rows[live])
    for arr in (first, last):
        arr.flags.writeable = False
    return first, last


def map_spans(lo: np.ndarray, hi: np.ndarray, src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Intervals ``lo..hi`` (ends exclusive) of ``src``-long rows, resampled to ``dst``: the output
    interval their ink reaches (see :func:`reach`). An empty interval stays empty, where ``lo`` lands.

    All arguments broadcast to one shape. Time and memory are proportional to that shape, whatever
    the sizes: each end's reach is solved from the kernel's arithmetic (:func:`_reach_at`), no table
    of :func:`reach` is built.

    Examples
    --------
    >>> lo, hi = map_spans(np.array([0, 14]), np.array([14, 28]), np.array([28, 28]), np.array([14, 14]))
    >>> lo.tolist(), hi.tolist()
    ([0, 6], [8, 14])
    """
    lo, hi, src, dst = np.broadcast_arrays(*(np.asarray(a, np.int64) for a in (lo, hi, src, dst)))
    out_lo, out_hi = lo.copy(), hi.copy()
    moved = src != dst
    if moved.any():
        s, d = src[moved], dst[moved]
        a, b = np.minimum(np.clip(lo[moved], 0, s), s - 1), np.clip(hi[moved], 0, s)  # past a strip: any span
        start = _reach_at(a, s, d, last=False)
        out_lo[moved] = start
        out_hi[moved] = np.where(b > a, _reach_at(np.maximum(b, 1) - 1, s, d, last=True) + 1, start)
    return out_lo, out_hi


_SLACK = 2  # outputs tried each side of the solved one, which rounding moves by less than one


def _reach_at(pos: np.ndarray, src: np.ndarray, dst: np.ndarray, *, last: bool) -> np.ndarray:
    """``reach(src, dst)[last][pos]`` elementwise (1-D arrays), without building :func:`reach`.

    Output ``j`` (centre ``c_j``) gives input ``i`` a non-zero weight when ``i`` is among its taps
    and ``|i + 0.5 - c_j| / support < 1``, as :func:`resample_weights` computes them. The outputs
    that do form one run of ``j`` (both tests are monotone in ``j``); solving for its end gives
    ``j`` up to rounding, and the outputs around it are then tested with the very same float
    expressions, so the answer is exactly :func:`reach`'s. An element whose run end is not
    bracketed by the candidates (never seen) is looked up in :func:`reach` itself.
    """
    i, s, d = (np.asarray(a, np.int64) for a in (pos, src, dst))
    scale = s / d  # the float expressions of resample_weights, in the same order
    support = np.maximum(scale, 1.0)
    taps = np.ceil(support).astype(np.int64) * 2 + 1
    if last:  # largest j with c_j < i + 0.5 + support; candidates from above, downwards
        solved = np.ceil((i + 0.5 + support) / scale - 0.5) - 1
        steps = np.arange(_SLACK, -_SLACK - 1, -1)
    else:  # smallest j with c_j > i + 0.5 - support; candidates from below, upwards
        solved = np.floor((i + 0.5 - support) / scale - 0.5) + 1
        steps = np.arange(-_SLACK, _SLACK + 1)
    j = np.clip(solved, 0, d - 1).astype(np.int64)[:, None] + steps  # the run ends inside 0..dst-1
    scale, support, taps, i, d = scale[:, None], support[:, None], taps[:, None], i[:, None], d[:, None]
    c = (j + 0.5) * scale
    first = np.floor(c - support + 0.5).astype(np.int64)
    live = ((j >= 0) & (j < d) & (first <= i) & (i < first + taps)
            & (np.abs((i + 0.5 - c) / support) < 1.0))
    # The first live candidate ends the run when the one before it (the outermost) is not live.
    k = live.argmax(axis=1)
    found = np.take_along_axis(j, k[:, None], axis=1)[:, 0]
    edge = d[:, 0] - 1 if last else 0  # an outermost candidate there ends the run all the same
    for e in np.flatnonzero(~live.any(axis=1) | (live[:, 0] & (j[:, 0] != edge))).tolist():
        found[e] = reach(int(s[e]), int(d[e, 0]))[int(last)][int(i[e, 0])]
    return found


def ink_spans(ink: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """First and one-past-last index along ``axis`` where ``ink`` (boolean) holds anything;
    ``(0, 0)`` where it holds nothing.

    Examples
    --------
    >>> lo, hi = ink_spans(np.array([[0, 1, 1, 0], [0, 0, 0, 0]], bool), axis=1)
    >>> lo.tolist(), hi.tolist()
    ([1, 0], [3, 0])
    """
    ink = np.moveaxis(ink, axis, -1)
    found = ink.any(axis=-1)
    lo = np.where(found, ink.argmax(axis=-1), 0)
    hi = np.where(found, ink.shape[-1] - ink[..., ::-1].argmax(axis=-1), 0)
    return lo, hi


def pad_placement(natural: np.ndarray, width: int, height: int, align: str, u: np.ndarray | None = None
                  ) -> np.ndarray:
    """Where ``fit="pad"`` puts strips of ``natural`` widths (28 px high) in ``height`` x ``width``.

    The strip is scaled by ``height / 28`` (digits keep their shape); one wider than ``width`` is
    scaled down further, uniformly, to fit. It is placed by ``align`` across (``u``: uniform draws
    in [0, 1) for ``"random"``) and centred down.

    Returns
    -------
    numpy.ndarray of shape ``(B, 4)``
        ``x, w, y, h`` per strip: the scaled strip's left column, width, top row and height.

    Examples
    --------
    >>> pad_placement(np.array([84, 300]), 224, 28, "center").tolist()
    [[70, 84, 0, 28], [0, 224, 3, 21]]
    """
    natural = np.asarray(natural, np.int64)
    scaled = np.maximum(1, np.rint(natural * (height / DIGIT)).astype(np.int64))
    wide = scaled > width
    w = np.where(wide, width, scaled)
    h = np.where(wide, np.clip(np.rint(DIGIT * width / natural), 1, height), height).astype(np.int64)
    slack = width - w
    if align == "left":
        x = np.zeros_like(slack)
    elif align == "center":
        x = slack // 2
    else:
        x = np.minimum((np.asarray(u) * (slack + 1)).astype(np.int64), slack)
    return np.stack([x, w, (height - h) // 2, h], axis=1)


def ink_extents(images: np.ndarray) -> np.ndarray:
    """``(n, 4)`` ink extents ``col_lo, col_hi, row_lo, row_hi`` (ends exclusive; ``0, 0`` where
    blank) of ``(n, rows, columns)`` images, ink being any value above 0 (uint8 or float):
    int16, or int32 for images past 32,767 px (a filter may widen a digit that far).

    Examples
    --------
    >>> img = np.zeros((1, 28, 20), np.float32); img[0, 5:9, 10:12] = 0.5
    >>> ink_extents(img).tolist()
    [[10, 12, 5, 9]]
    """
    cols, rows = images.max(axis=1) > 0, images.max(axis=2) > 0
    dtype = np.int16 if max(images.shape[1:]) <= np.iinfo(np.int16).max else np.int32  # ends reach the size
    return np.stack((*ink_spans(cols, axis=1), *ink_spans(rows, axis=1)), axis=1).astype(dtype)


def digit_boxes(ink: np.ndarray, starts: np.ndarray, slot: np.ndarray | int, natural: np.ndarray,
                placement: np.ndarray, glyph: np.ndarray | int = DIGIT) -> np.ndarray:
    """Each digit's box ``[x0, y0, x1, y1]`` (ends exclusive) in the finished strips.

    A digit's ink spans columns ``col_lo..col_hi`` and rows ``row_lo..row_hi`` of its glyph
    (``ink``, from :func:`ink_extents`; the glyph ``glyph`` px wide); the glyph is resampled to
    ``slot`` columns and starts at column ``starts`` of a strip ``natural`` px wide and 28 high,
    which is resampled to ``w`` x ``h`` and put at ``x, y`` (``placement``, ``(B, 4)``, see
    :func:`pad_placement`). Every step maps the ink's span through :func:`reach`, so the box
    holds exactly the pixels the digit's ink reaches.

    Parameters
    ----------
    ink : (B, n, 4) ints
    starts, slot, glyph : (B, n) ints (or scalars)
    natural : (B,) ints
    placement : (B, 4) ints

    Returns
    -------
    numpy.ndarray of shape (B, n, 4), int32

    Examples
    --------
    >>> ink = np.array([[[4, 20, 3, 25], [2, 26, 5, 24]]])
    >>> digit_boxes(ink, np.array([[0, 30]]), 28, np.array([58]), np.array([[0, 58, 0, 28]])).tolist()
    [[[4, 3, 20, 25], [32, 5, 56, 24]]]
    """
    ink = np.asarray(ink, np.int64)
    natural = np.asarray(natural)[:, None]
    x, w, y, h = (np.asarray(placement)[:, k : k + 1] for k in range(4))
    x0, x1 = map_spans(ink[..., 0], ink[..., 1], glyph, slot)
    x0, x1 = map_spans(x0 + starts, x1 + starts, natural, w)
    y0, y1 = map_spans(ink[..., 2], ink[..., 3], DIGIT, h)
    return np.stack([x0 + x, y0 + y, x1 + x, y1 + y], axis=-1).astype(np.int32)
