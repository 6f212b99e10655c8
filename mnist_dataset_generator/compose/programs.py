"""Column programs: for each output column of a strip, which glyph columns feed it, and how much.

Every output column of a strip is a weighted sum of at most a few columns of the digits
laid side by side, so composition and resampling fuse into a *column program*: for each
output column ``j`` and tap ``k``, which glyph column feeds it (digit ``p``, column ``x``:
id ``28 p + x``; :data:`PAPER` in a gap) and with what weight. The weights are
:func:`.layout.resample_weights` (an antialiased triangle filter), cut to their non-zero
taps and cached per ``(source width, target width)``. :func:`lay_out` plans a batch of
strips (stretched or padded, random or even layout) and says where each digit went, for
the boxes; :mod:`.render` runs the programs.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from .._limits import bounded_cache
from . import layout

__all__ = ["DIGIT", "PAPER", "Layout", "even_program", "lay_out", "natural_columns", "pad_program", "random_geometry",
           "random_program", "stretch_tables", "tap_table"]

PAPER = -1  # a column program's id for "no glyph here"
DIGIT = layout.DIGIT


@bounded_cache(max_bytes=64 * 2**20)  # entries grow with src and dst: bytes bound them
def tap_table(src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
    """``resample_weights(src, dst)`` with the zero-weight taps dropped; identity when ``src == dst``."""
    if src == dst:
        return np.arange(dst)[:, None], np.ones((dst, 1), np.float32)
    index, weight = layout.resample_weights(src, dst)
    keep = int((weight > 0).sum(axis=1).max())
    order = np.argsort(weight == 0, axis=1, kind="stable")[:, :keep]  # non-zero taps first, in order
    return np.take_along_axis(index, order, axis=1), np.take_along_axis(weight, order, axis=1)


def _stack(tables: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Pad ``(index, weight)`` tables of one width to a common tap count (weight 0, index 0)."""
    taps = max(index.shape[1] for index, _ in tables)
    index = np.zeros((len(tables), tables[0][0].shape[0], taps), np.intp)
    weight = np.zeros(index.shape, np.float32)
    for i, (idx, w) in enumerate(tables):
        index[i, :, : idx.shape[1]] = idx
        weight[i, :, : w.shape[1]] = w
    return index, weight


def random_program(lengths: np.ndarray, gaps: np.ndarray, width: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Column programs of random-layout strips: digits side by side, then resampled to ``width``.

    Parameters
    ----------
    lengths : (B,) ints
        Digits per strip.
    gaps : (B, n - 1) ints >= 0
        Gaps after each digit (only the first ``length - 1`` of a row count).
    width : int or None
        Output width; ``None`` keeps the natural width (all strips must then share it).

    Returns
    -------
    ids, weights : arrays of shape ``(B, width, taps)``
        ``ids`` number the glyph columns of the whole batch: strip ``b``'s digit
        ``p`` column ``x`` is ``(b * n + p) * 28 + x``.

    Examples
    --------
    >>> ids, w = random_program(np.array([2, 2]), np.array([[1], [0]]), None)
    Traceback (most recent call last):
    ValueError: random_program: width=None needs strips of one natural width
    >>> ids, w = random_program(np.array([2, 2]), np.array([[1], [1]]), None)
    >>> ids[1, 26:31, 0].tolist()  # strip 1: the last columns of its digit 0, the gap, its digit 1
    [82, 83, -1, 84, 85]
    """
    count = len(lengths)
    colmap, natural, _ = natural_columns(lengths, gaps)
    longest = colmap.shape[1]
    if width is None:
        if natural.min() != longest:
            raise ValueError("random_program: width=None needs strips of one natural width")
        width = longest
    index, weight = stretch_tables(natural, width)
    index += (np.arange(count) * longest)[:, None, None]
    return colmap.ravel()[index], weight


def stretch_tables(natural: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """``(index, weight)`` of shape ``(B, width, taps)``: strip ``b`` of ``natural[b]`` columns resampled
    to ``width`` (:func:`tap_table`, padded to one tap count with weight 0; ``index`` is a new array).

    Examples
    --------
    >>> index, weight = stretch_tables(np.array([3, 2]), 2)
    >>> index[1, :, 0].tolist(), weight[1, :, 0].tolist()  # 2 columns into 2: themselves
    ([0, 1], [1.0, 1.0])
    """
    natural = np.asarray(natural, np.int64)
    low, high = max(1, int(natural.min()) // _ROUND * _ROUND), -(-int(natural.max()) // _ROUND) * _ROUND
    if high - low < _SPAN:  # one cached table for a range of natural widths, rounded out so batches share it
        index, weight = _table(low, high, width)
        rows = natural - low
    else:
        sizes, rows = np.unique(natural, return_inverse=True)
        index, weight = _stack([tap_table(int(size), width) for size in sizes])
    return index[rows.ravel()], weight[rows.ravel()]


def natural_columns(lengths: np.ndarray, gaps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(colmap, natural, starts)`` of strips laid out at their natural width, 28 px digits.

    ``colmap[b, x]`` is the glyph column (numbered as in :func:`random_program`) at column ``x``
    of strip ``b``, :data:`PAPER` in gaps and past the strip's ``natural`` width; ``starts[b, p]``
    is where digit ``p`` begins.
    """
    count, slots = len(lengths), gaps.shape[1] + 1
    starts = np.zeros((count, slots), np.int64)
    np.cumsum(DIGIT + gaps, axis=1, out=starts[:, 1:])
    natural = starts[np.arange(count), lengths - 1] + DIGIT
    longest = int(natural.max())
    colmap = np.full((count, longest), PAPER, np.intp)
    where = (np.arange(count) * longest)[:, None, None] + starts[:, :, None] + np.arange(DIGIT)
    if lengths.min() == slots:  # every slot holds a digit (the usual case): no mask needed
        colmap.ravel()[where] = np.arange(count * slots * DIGIT).reshape(where.shape)
    else:
        present = np.arange(slots) < lengths[:, None]
        colmap.ravel()[where[present]] = np.arange(count * slots * DIGIT).reshape(where.shape)[present]
    return colmap, natural, starts


def pad_program(colmap: np.ndarray, natural: np.ndarray, placement: np.ndarray, width: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Column programs of ``fit="pad"``: each natural strip scaled to ``w`` columns at column ``x``
    (``placement`` from :func:`.layout.pad_placement`), paper elsewhere.

    Examples
    --------
    >>> colmap, natural, _ = natural_columns(np.array([2]), np.array([[0]]))
    >>> ids, w = pad_program(colmap, natural, np.array([[3, 56, 0, 28]]), 60)
    >>> ids[0, :5, 0].tolist(), float(w.min())  # three columns of paper, then the first digit
    ([-1, -1, -1, 0, 1], 1.0)
    """
    count = len(natural)
    x, w = placement[:, 0], placement[:, 1]
    pairs, which = np.unique(np.stack([natural, w], axis=1), axis=0, return_inverse=True)
    tables = [tap_table(int(n), int(s)) for n, s in pairs.tolist()]
    taps = max(index.shape[1] for index, _ in tables)
    ids = np.full((count, width, taps), PAPER, np.intp)
    weights = np.zeros((count, width, taps), np.float32)
    weights[:, :, 0] = 1.0  # paper, unless the strip covers the column
    column = np.arange(width)[None, :] - x[:, None]  # column of the scaled strip, where it lies
    inside = (column >= 0) & (column < w[:, None])
    for g, (index, weight) in enumerate(tables):
        rows, cols = np.nonzero(inside & (which.ravel() == g)[:, None])
        k = index.shape[1]
        ids[rows, cols, :k] = colmap[rows[:, None], index[column[rows, cols]]]
        weights[rows, cols, :k] = weight[column[rows, cols]]
        weights[rows, cols, k:] = 0.0
    return ids, weights


_ROUND, _SPAN = 8, 512  # natural widths: tables cover multiples of 8, ranges up to 512 wide


@bounded_cache(max_bytes=128 * 2**20, maxsize=64)
def _table(low: int, high: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """``tap_table(size, width)`` for every ``size`` in ``low..high``, padded to one tap count (weight 0)."""
    index, weight = _stack([tap_table(size, width) for size in range(low, high + 1)])
    for arr in (index, weight):
        arr.flags.writeable = False
    return index, weight


@functools.lru_cache(maxsize=256)
def _even_table(n: int, spacing: tuple[int, int], width: int | None) -> tuple[np.ndarray, np.ndarray]:
    slots, gaps = layout.even_layout(n, spacing, width)
    starts = np.concatenate([[0], np.cumsum(slots[:-1] + gaps)])
    total = int(slots.sum() + gaps.sum())
    tables = [tap_table(DIGIT, int(s)) for s in slots]
    taps = max(index.shape[1] for index, _ in tables)
    ids = np.full((total, taps), PAPER, np.intp)
    weight = np.zeros((total, taps), np.float32)
    weight[:, 0] = 1.0  # paper, unless a slot covers the column
    for p, (x, (index, w)) in enumerate(zip(starts.tolist(), tables, strict=True)):
        ids[x : x + len(index), : index.shape[1]] = index + p * DIGIT
        weight[x : x + len(index)] = 0.0
        weight[x : x + len(index), : w.shape[1]] = w
    for arr in (ids, weight):
        arr.flags.writeable = False
    return ids, weight


def even_program(lengths: np.ndarray, spacing: tuple[int, int], width: int | None,
                 slots: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Column programs of even-layout strips (slots from :func:`.layout.even_layout`, gaps >= 0).

    ``slots``: glyphs per strip in the batch rendered (default ``max(lengths)``);
    ids are numbered as in :func:`random_program`.

    Examples
    --------
    >>> ids, w = even_program(np.array([3, 3]), (2, 2), None)
    >>> ids.shape, ids[1, 26:32, 0].tolist()  # strip 1: its digit 0 ends, a gap, its digit 1 starts
    ((2, 88, 1), [110, 111, -1, -1, 112, 113])
    """
    sizes, which = np.unique(lengths, return_inverse=True)
    tables = [_even_table(int(n), spacing, width) for n in sizes]
    if len(tables) == 1:
        ids, weight = tables[0]
        shape = (len(lengths), *ids.shape)
        ids, weight = np.broadcast_to(ids, shape), np.broadcast_to(weight, shape)
    else:
        ids, weight = _stack(tables)
        ids, weight = ids[which.ravel()], weight[which.ravel()]
    slots = int(lengths.max()) if slots is None else slots
    return np.where(ids < 0, PAPER, ids + (np.arange(len(lengths)) * (slots * DIGIT))[:, None, None]), weight


class Layout(NamedTuple):
    """Strips planned for :func:`render`: their column programs, rows, and where each digit went.

    ``ids, weights``: the column programs; ``rows``: each strip's top row and height
    (``fit="pad"``), else ``None``; ``starts, slot, natural, placement``: the geometry
    :func:`.layout.digit_boxes` maps ink through.
    """

    ids: np.ndarray
    weights: np.ndarray
    rows: np.ndarray | None
    starts: np.ndarray
    slot: np.ndarray | int
    natural: np.ndarray
    placement: np.ndarray


def lay_out(lengths: np.ndarray, gaps: np.ndarray | None, *, evenly: bool, spacing: tuple[int, int],
            width: int | None, height: int = DIGIT, fit: str = "stretch", align: str = "center",
            u: np.ndarray | None = None, slots: int | None = None) -> Layout:
    """Plan strips of ``lengths`` digits (random layout: ``gaps``; even: from ``spacing``).

    ``fit="stretch"``: the strip is resampled to ``width``; ``"pad"``: it keeps its natural
    width scaled to ``height`` (less if it would not fit), placed by ``align`` (``u``: the
    uniform draws of ``"random"``), paper around it. ``slots``: glyphs per strip in the batch
    (default ``max(lengths)``).

    Examples
    --------
    >>> plan = lay_out(np.array([3]), np.array([[2, 2]]), evenly=False, spacing=(2, 2), width=150, fit="pad")
    >>> plan.placement.tolist(), plan.ids[0, 33:36, 0].tolist()  # 88 px centred in 150: starts at 31
    ([[31, 88, 0, 28]], [2, 3, 4])
    """
    count = len(lengths)
    slots = int(lengths.max()) if slots is None else slots
    padded = fit == "pad" and width is not None  # padding into no width is the natural strip
    if evenly and (padded or width is None):  # 28 px slots, the range's middle gap
        gaps = np.zeros((count, slots - 1), np.int64)
        for n in np.unique(lengths).tolist():
            gaps[lengths == n, : n - 1] = layout.even_layout(n, spacing, None)[1]
        if not padded:
            ids, weights = even_program(lengths, spacing, width, slots)
    if padded:
        colmap, natural, starts = natural_columns(lengths, gaps)
        placement = layout.pad_placement(natural, width, height, align, u)
        ids, weights = pad_program(colmap, natural, placement, width)
        return Layout(ids, weights, placement[:, 2:4], starts, DIGIT, natural, placement)
    if evenly and width is not None:
        ids, weights = even_program(lengths, spacing, width, slots)
        starts = np.zeros((count, slots), np.int64)
        slot = np.full((count, slots), DIGIT, np.int64)
        for n in np.unique(lengths).tolist():
            widths, between = layout.even_layout(n, spacing, width)
            slot[lengths == n, :n] = widths
            starts[lengths == n, :n] = np.concatenate([[0], np.cumsum(widths[:-1] + between)])
        natural = np.full(count, width, np.int64)
    else:
        if not evenly:
            ids, weights = random_program(lengths, gaps, width)
        return random_geometry(lengths, gaps, ids.shape[1], height, slots)._replace(ids=ids, weights=weights)
    placement = np.tile(np.array([0, ids.shape[1], 0, height], np.int64), (count, 1))
    return Layout(ids, weights, None, starts, slot, natural, placement)


def random_geometry(lengths: np.ndarray, gaps: np.ndarray, width: int, height: int = DIGIT,
                    slots: int | None = None) -> Layout:
    """The geometry of stretched random-layout strips (no programs: ``ids`` and ``weights`` are ``None``).

    Examples
    --------
    >>> random_geometry(np.array([2]), np.array([[3]]), 59).starts.tolist()
    [[0, 31]]
    """
    count = len(lengths)
    slots = int(lengths.max()) if slots is None else slots
    starts = np.zeros((count, slots), np.int64)
    np.cumsum(DIGIT + gaps[:, : slots - 1], axis=1, out=starts[:, 1:])
    natural = starts[np.arange(count), lengths - 1] + DIGIT
    placement = np.tile(np.array([0, width, 0, height], np.int64), (count, 1))
    return Layout(None, None, None, starts, DIGIT, natural, placement)
