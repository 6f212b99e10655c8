"""Many unfiltered strips at once: one gather over glyph columns, with precomputed weights.

Every output column of a strip is a weighted sum of at most a few columns of the digits
laid side by side, so composition and resampling fuse into a *column program*: for each
output column ``j`` and tap ``k``, which glyph column feeds it (digit ``p``, column ``x``:
id ``28 p + x``; :data:`PAPER` in a gap) and with what weight. The weights are
:func:`.layout.resample_weights` (the same antialiased triangle filter as the per-strip
path), cut to their non-zero taps and cached per ``(source width, target width)``.

Rendering gathers whole 28-px columns from a column-major sheet of the picked glyphs and
sums them tap by tap, in order: NumPy for small calls, SciPy's public sparse product
(``csr_array @``) for large batches, checked once to give NumPy's bytes (:func:`_sum_rows`). A
strip comes out bit for bit the same whether it is rendered alone (:func:`render_strip`) or
among 256 others.

Only digits that do not overlap (gaps >= 0) and carry no filters take this path; the
rest are composed one by one by :func:`.strip.compose`, whose finished strips are
resampled here too (:func:`resample_columns`).
"""

from __future__ import annotations

import functools
import logging
import math
import threading
from typing import NamedTuple

import numpy as np

from . import layout

__all__ = ["BATCH_BYTES", "PAPER", "batch_rows", "even_program", "Layout", "lay_out", "natural_columns", "pad_program", "place", "random_geometry",
           "random_program", "render", "render_strip", "resample", "resample_columns", "run", "tap_table"]

log = logging.getLogger(__name__)

PAPER = -1  # a column program's id for "no glyph here"
BATCH_BYTES = 8 * 2**20  # float32 sums of the strips rendered together (256 strips of 28 x 224)
DIGIT = layout.DIGIT
_COLUMN = np.dtype((np.void, DIGIT * 4))  # one float32 column of 28 px, gathered as a unit
_SCALE = np.float32(1 / 255)
_BLANK = np.zeros((64, DIGIT), np.float32)  # gap columns for render_strip
_BLANK.flags.writeable = False


_ZEROS = [np.zeros(0, np.float32)]


def batch_rows(width: int, height: int = DIGIT) -> int:
    """How many strips of ``width`` x ``height`` to render in one call: :data:`BATCH_BYTES` of sums.

    Fewer, larger calls leave less per-call Python for the GIL to serialise: two threads
    made 1.6x one thread's strips at 64 strips a call, 1.8x at 256, one thread alike.

    Examples
    --------
    >>> batch_rows(224), batch_rows(100_000)
    (334, 1)
    """
    return max(1, BATCH_BYTES // (4 * width * max(height, DIGIT)))


def _zeros(shape: tuple[int, ...]) -> np.ndarray:
    """Read-only float32 zeros: ``np.maximum`` against an array takes NumPy's SIMD loop, against
    the scalar 0 a plain one (0.09 against 0.28 ns an element). Never written, so the pages stay
    the kernel's one zero page."""
    size = math.prod(shape)
    if _ZEROS[0].size < size:
        zeros = np.zeros(size, np.float32)
        zeros.flags.writeable = False
        _ZEROS[0] = zeros
    return _ZEROS[0][:size].reshape(shape)


_LOCAL = threading.local()
_SCRATCH_BYTES = 64 * 2**20  # larger temporaries are not kept between calls


def _scratch(name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """A temporary array reused between calls of this thread (no fresh pages to fault in per chunk)."""
    size = math.prod(shape)
    pool = _LOCAL.__dict__
    held = pool.get(name)
    if held is None or held.size < size or held.dtype != dtype:
        held = np.empty(size, dtype)
        if held.nbytes <= _SCRATCH_BYTES:
            pool[name] = held
    return held[:size].reshape(shape)


@functools.lru_cache(maxsize=128)
def _spread(src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
    """``tap_table(src, dst)`` tap-major, ``(taps, dst)`` and ``(taps, dst, 28)``: the weights repeated down
    the 28 px of a column. Contiguous per tap, the multiply and the adds of :func:`render_strip`
    cost a third of their broadcast or strided forms (1 against 4 us, 0.7 against 2-3 us)."""
    index, weight = tap_table(src, dst)
    spread = np.repeat(weight.T[:, :, None], DIGIT, axis=2)
    index = np.ascontiguousarray(index.T)
    for arr in (index, spread):
        arr.flags.writeable = False
    return index, spread


@functools.lru_cache(maxsize=4096)
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
    low, high = max(1, int(natural.min()) // _ROUND * _ROUND), -(-longest // _ROUND) * _ROUND
    if high - low < _SPAN:  # one cached table for a range of natural widths, rounded out so batches share it
        index, weight = _table(low, high, width)
        rows = natural - low
    else:
        sizes, rows = np.unique(natural, return_inverse=True)
        index, weight = _stack([tap_table(int(size), width) for size in sizes])
    index, weight = index[rows.ravel()], weight[rows.ravel()]  # (B, width, taps)
    index += (np.arange(count) * longest)[:, None, None]
    return colmap.ravel()[index], weight


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


@functools.lru_cache(maxsize=64)
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
    if evenly and (fit == "pad" or width is None):  # 28 px slots, the range's middle gap
        gaps = np.zeros((count, slots - 1), np.int64)
        for n in np.unique(lengths).tolist():
            gaps[lengths == n, : n - 1] = layout.even_layout(n, spacing, None)[1]
        if fit == "stretch":
            ids, weights = even_program(lengths, spacing, width, slots)
    if fit == "pad" and width is not None:
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


def render(glyphs: np.ndarray, ids: np.ndarray, weights: np.ndarray, *, height: int = DIGIT,
           background: str = "white", dtype: str = "float32", out: np.ndarray | None = None,
           rows: np.ndarray | None = None) -> np.ndarray:
    """Run column programs on the strips' glyphs.

    Parameters
    ----------
    glyphs : (B, n, 28, 28) uint8
        Each strip's digits, ink 255 on 0 (unused slots may hold anything).
    ids, weights : (B, width, taps)
        From :func:`random_program` or :func:`even_program`.
    height : int
        Output height; the strip is resampled vertically with the same filter.
    background : {"white", "black"}
    dtype : {"float32", "uint8"}
        ``uint8`` is ``rint(x * 255)`` of the float result.
    out : array of shape (B, height, width), optional
    rows : (B, 2) ints, optional
        Each strip's top row and height inside ``height`` (:class:`Layout`'s ``rows``).

    Returns
    -------
    numpy.ndarray of shape (B, height, width)

    Examples
    --------
    >>> glyphs = np.full((1, 2, 28, 28), 255, np.uint8)  # two solid blocks of ink
    >>> ids, w = random_program(np.array([2]), np.array([[2]]), None)
    >>> img = render(glyphs, ids, w)
    >>> img.shape, img[0, 0, 26:32].tolist()  # ink, then the 2 px gap of white paper
    ((1, 28, 58), [0.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    """
    count, slots = glyphs.shape[:2]
    columns = count * slots * DIGIT
    # Column-major sheet of ink in [0, 1], one extra column of paper (0 ink) at the end.
    sheet = _scratch("sheet", (columns + 1, DIGIT), np.float32)
    np.multiply(glyphs.reshape(count * slots, DIGIT, DIGIT).transpose(0, 2, 1), _SCALE,
                out=sheet[:columns].reshape(count * slots, DIGIT, DIGIT))
    sheet[columns] = 0.0  # PAPER = -1 is this last column
    return run(sheet, ids, weights, height=height, background=background, dtype=dtype, out=out, rows=rows)


def run(sheet: np.ndarray, ids: np.ndarray, weights: np.ndarray, *, height: int = DIGIT, background: str = "white",
        dtype: str = "float32", out: np.ndarray | None = None, rows: np.ndarray | None = None) -> np.ndarray:
    """Run column programs on a sheet of ink columns: the one path every strip ends on.

    ``sheet`` is ``(columns + 1, 28)`` float32 ink in [0, 1], its last column paper (what
    :data:`PAPER` reads): the glyphs of :func:`render`, or strips composed digit by digit
    (:mod:`.strip`). The rest is as for :func:`render`.

    Examples
    --------
    >>> sheet = np.zeros((3, 28), np.float32); sheet[:2] = 1.0  # two columns of ink, then paper
    >>> run(sheet, np.array([[[0], [-1], [1]]]), np.ones((1, 3, 1), np.float32))[0, 0].tolist()
    [0.0, 1.0, 0.0]
    """
    count = ids.shape[0]
    if ids.shape[2] == 1 and bool(np.all(weights == 1)):  # no resampling: a pure copy of columns
        acc = _scratch("acc", (count, ids.shape[1], DIGIT), np.float32)
        np.take(sheet.view(_COLUMN)[:, 0], ids[:, :, 0], out=acc.view(_COLUMN)[:, :, 0])
    else:
        acc = _weighted_columns(sheet, ids, weights).reshape(count, ids.shape[1], DIGIT)
    return _finish(acc, height, background, dtype, out, rows)


def resample(img: np.ndarray, width: int) -> np.ndarray:
    """``img`` (rows x columns) resampled across to ``width`` columns by the renderer's own sums
    (:func:`resample_columns`); float32, C-contiguous, its own memory.

    Examples
    --------
    >>> resample(np.ones((28, 10), np.float32), 25).shape
    (28, 25)
    """
    if img.shape[1] == width:
        return np.array(img, dtype=np.float32, order="C")
    columns = np.ascontiguousarray(img.T, dtype=np.float32)  # (src, rows)
    if columns.shape[1] == DIGIT:
        acc = resample_columns(columns, width)
    else:  # columns of another height (a filter resizing both ways): the same sums, row by row
        acc = _numpy_rows(columns, *tap_table(len(columns), width), np.empty((width, columns.shape[1]), np.float32))
    return np.array(acc.T, order="C")


def _weighted_columns(sheet: np.ndarray, ids: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``sum_k weights[..., k] * sheet[ids[..., k]]`` for every output column: rows of a (columns, 28) array.

    ``ids`` of shape (B, width, taps) may hold :data:`PAPER`, the sheet's last column
    (all paper). The sums are :func:`_sum_rows`'s, the same as a single strip's.
    """
    taps = ids.shape[2]
    return _sum_rows(sheet, ids.reshape(-1, taps), weights.reshape(-1, taps))


# SciPy's product beats NumPy's from about 2 strips of 224 columns a call (450 rows; 4 strips:
# 34 against 59 us), and saves ~50 ns a row there: NumPy's extra time on 2M rows (~9,000 strips)
# is about what ``import scipy.sparse`` costs (~0.1 s). Until then NumPy sums, so short runs
# never import it and long ones pay at most twice the import.
_SPARSE_ROWS = 1024  # rows of one call from which SciPy's product is used
_SPARSE_AFTER = 2_000_000  # rows of such calls NumPy sums first
_BLOCK = 2048  # rows per NumPy block: a tap's gathered columns stay in the cache
_KERNEL_LOCK = threading.Lock()  # one thread counts, imports and probes; the others wait for it
_KERNEL: dict[str, int | bool | None] = {"rows": 0, "sparse": None}  # sparse: None until decided


def _sum_rows(sheet: np.ndarray, index: np.ndarray, weight: np.ndarray,
              spread: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """The one weighted sum of batches and single strips: row ``i`` is
    ``sum_k weight[i, k] * sheet[index[i, k]]``, added tap by tap in order from the first product.

    Parameters
    ----------
    sheet : (columns, 28) float32, C-contiguous
    index : (rows, taps) ints
        Rows of ``sheet``; -1 (:data:`PAPER`) is its last row.
    weight : (rows, taps) float32 >= 0
    spread : tuple, optional
        :func:`_spread` of the same program (tap-major, weights repeated down the column):
        the fastest NumPy form for one strip.

    Returns
    -------
    (rows, 28) float32
        May be scratch memory, overwritten by this thread's next call.

    Notes
    -----
    Small calls run NumPy (gather, multiply, add per tap). Large ones run the public
    ``scipy.sparse.csr_array @ sheet``: the same products added in the same order, in one
    pass, three times as fast. ``import scipy.sparse`` is slow, so it happens only for calls
    of ``_SPARSE_ROWS`` rows or more, once NumPy has summed ``_SPARSE_AFTER`` rows of such
    calls: one strip or a short run never imports it. Before the first product,
    :func:`_sparse_agrees` checks that SciPy gives NumPy's bytes (a build that fuses multiply
    and add would not); where it does not, NumPy sums every call, so a strip never depends
    on its batch.
    """
    rows = len(index)
    if rows >= _SPARSE_ROWS and _sparse_pays(rows):
        return _sparse_rows(sheet, index, weight)
    if spread is not None:
        return _spread_rows(sheet, *spread)
    weight = np.asarray(weight, np.float32)  # float32 products, as SciPy's float32 data gives
    return _numpy_rows(sheet, index, weight, _scratch("acc", (rows, DIGIT), np.float32))


def _sparse_pays(rows: int) -> bool:
    """Whether a call of ``rows`` (>= ``_SPARSE_ROWS``) runs SciPy's product: not until such
    calls have brought ``_SPARSE_AFTER`` rows, then as :func:`_sparse_agrees` answers, once."""
    with _KERNEL_LOCK:
        if _KERNEL["sparse"] is None:
            if _KERNEL["rows"] < _SPARSE_AFTER:
                _KERNEL["rows"] += rows
                return False
            _KERNEL["sparse"] = _sparse_agrees()
        return bool(_KERNEL["sparse"])


def _sparse_agrees() -> bool:
    """Whether SciPy's product gives NumPy's bytes here: a fixed random probe through both.

    Both multiply, then add, each rounded, on x86-64; a SciPy compiled to fuse them (FMA, as
    on some aarch64 builds) differs in the last bit, and then only NumPy is used. Call with
    ``_KERNEL_LOCK`` held.
    """
    rng = np.random.default_rng(20_240_611)
    sheet = rng.random((97, DIGIT), dtype=np.float32)
    index = rng.integers(-1, len(sheet), (600, 4))
    weight = rng.random(index.shape, dtype=np.float32)
    try:
        sparse = _sparse_rows(sheet, index, weight)
    except ImportError as exc:  # a SciPy without scipy.sparse: NumPy does everything
        log.debug("scipy.sparse not importable (%s): NumPy sums every batch", exc)
        return False
    if np.array_equal(sparse, _numpy_rows(sheet, index, weight, np.empty_like(sparse))):
        return True
    log.debug("SciPy's sparse product rounds differently from NumPy here (fused multiply-add?): "
              "NumPy sums every batch")
    return False


def _numpy_rows(sheet: np.ndarray, index: np.ndarray, weight: np.ndarray, out: np.ndarray) -> np.ndarray:
    """:func:`_sum_rows` in NumPy into ``out``, a block of rows at a time: per tap a gather of
    whole columns (index -1 is the last), a multiply and an add, on data the cache holds."""
    rows, taps = index.shape
    term = _scratch("term", (min(rows, _BLOCK), sheet.shape[1]), np.float32) if taps > 1 else None
    for a in range(0, rows, _BLOCK):
        b = min(rows, a + _BLOCK)
        part = out[a:b]
        np.take(sheet, index[a:b, 0], axis=0, out=part)
        part *= weight[a:b, :1]
        for k in range(1, taps):
            t = term[: b - a]
            np.take(sheet, index[a:b, k], axis=0, out=t)
            t *= weight[a:b, k : k + 1]
            part += t
    return out


def _spread_rows(sheet: np.ndarray, index: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """:func:`_numpy_rows` for a program in :func:`_spread`'s tap-major form: one gather for
    all taps and contiguous multiplies, a third of the per-row form's cost for one strip."""
    terms = np.take(sheet, index, axis=0)  # (taps, width, 28), its own memory
    terms *= spread
    acc = terms[0]
    for k in range(1, len(terms)):  # tap by tap in order, as the other kernels add
        acc += terms[k]
    return acc


def _sparse_rows(sheet: np.ndarray, index: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """:func:`_sum_rows` as the public ``csr_array @ sheet``: a fresh result, the product's own.

    Products of 4096 rows at a time, whose results malloc reuses, copied into scratch cost
    more than the fresh pages here (8.6 against 6.5 us a strip of 224 columns).
    """
    from scipy.sparse import (
        csr_array,  # ~0.1 s the first time: only large calls come here
    )

    rows, taps = index.shape
    cols = np.empty(rows * taps, np.int32 if max(len(sheet), rows * taps) < 2**31 else np.int64)
    # -1 (PAPER) read as unsigned is the largest number: the minimum makes it the last row, in one pass
    np.minimum(index.view(f"u{index.dtype.itemsize}").reshape(-1), len(sheet) - 1, out=cols, casting="unsafe")
    data = np.ascontiguousarray(weight, dtype=np.float32).reshape(-1)
    indptr = np.arange(0, rows * taps + 1, taps, dtype=cols.dtype)  # SciPy's own index type: no copies
    return csr_array((data, cols, indptr), shape=(rows, len(sheet))) @ sheet


def place(glyphs: np.ndarray, gap: int, *, background: str = "white", out: np.ndarray | None = None,
          dtype: str = "float32") -> np.ndarray:
    """Strips whose digits all sit ``gap`` px apart at the natural width: each digit's rows are
    written straight into place, bit for bit what :func:`render` makes of them.

    With no resampling and one layout for every strip there is nothing to gather:
    two passes instead of a sheet, a gather and a transposing copy (1.4 against 8 us
    a strip, edge to edge).

    Parameters
    ----------
    glyphs : (B, n, 28, 28) uint8
    gap : int >= 0
    out : array of shape (B, 28, n * 28 + (n - 1) * gap), optional

    Examples
    --------
    >>> glyphs = np.full((1, 2, 28, 28), 255, np.uint8)
    >>> ids, w = random_program(np.array([2]), np.array([[3]]), None)
    >>> np.array_equal(place(glyphs, 3), render(glyphs, ids, w))
    True
    """
    count, n = glyphs.shape[:2]
    if out is None:
        out = np.empty((count, DIGIT, n * DIGIT + (n - 1) * gap), dtype)
    target = out if out.dtype == np.float32 else _scratch("placed", out.shape, np.float32)
    rows, step = target.strides[:2], (DIGIT + gap) * target.itemsize
    slots = np.lib.stride_tricks.as_strided(target, (count, DIGIT, n, DIGIT), (*rows, step, target.itemsize))
    # White is 1 - ink, rounded as render rounds it: -(v / 255) + 1 == 1 - v / 255 in IEEE arithmetic.
    white = background == "white"
    np.multiply(glyphs.transpose(0, 2, 1, 3), -_SCALE if white else _SCALE, out=slots)
    if gap:
        paper = np.lib.stride_tricks.as_strided(target[:, :, DIGIT:], (count, DIGIT, n - 1, gap),
                                                (*rows, step, target.itemsize))
        paper[...] = 0.0  # ink 0: paper, once the whole strip is turned white below
    if white:
        target += np.float32(1.0)  # every column at once: a contiguous pass
    if target is not out:
        np.rint(np.multiply(target, 255, out=target), out=target)
        np.copyto(out, target, casting="unsafe")
    return out


def render_strip(glyphs: np.ndarray, gaps: np.ndarray, width: int | None, *, height: int = DIGIT,
                 background: str = "white") -> np.ndarray:
    """One random-layout strip, bit for bit what :func:`render` makes of it, in fewer steps.

    Parameters
    ----------
    glyphs : (n, 28, 28) uint8
    gaps : (n - 1,) ints >= 0
    width : int or None
        ``None``: the natural width (scaled with ``height`` to keep the aspect ratio).

    Examples
    --------
    >>> glyphs = np.full((2, 28, 28), 255, np.uint8)
    >>> ids, w = random_program(np.array([2]), np.array([[2]]), 29)
    >>> np.array_equal(render_strip(glyphs, np.array([2]), 29), render(glyphs[None], ids, w)[0])
    True
    """
    columns = np.multiply(glyphs.transpose(0, 2, 1), _SCALE, order="C")  # column-major ink in [0, 1]
    pieces = [columns[0]]
    for p, gap in enumerate(gaps.tolist(), start=1):
        if gap:
            pieces.append(_BLANK[:gap] if gap <= len(_BLANK) else np.zeros((gap, DIGIT), np.float32))
        pieces.append(columns[p])
    natural = np.concatenate(pieces)  # (columns, 28)
    if width is None:
        width = len(natural) if height == DIGIT else max(1, round(len(natural) * height / DIGIT))
    acc = natural if width == len(natural) else resample_columns(natural, width)  # equal: nothing to resample
    return _finish(acc[None], height, background, "float32", None)[0]


def resample_columns(columns: np.ndarray, width: int) -> np.ndarray:
    """Columns ``(src, 28)`` float32 resampled to ``(width, 28)``: the filter of
    :func:`.layout.resample_weights`, summed tap by tap in order as the batch kernel sums.

    The result may be scratch memory, overwritten by the next call in this thread.

    Examples
    --------
    >>> img = np.linspace(0, 1, 28 * 50, dtype=np.float32).reshape(28, 50)
    >>> out = resample_columns(np.ascontiguousarray(img.T), 35).T
    >>> bool(np.allclose(out, resample(img, 35), atol=1e-6))
    True
    """
    index, weight = tap_table(len(columns), width)
    return _sum_rows(columns, index, weight, _spread(len(columns), width))


def _finish(acc: np.ndarray, height: int, background: str, dtype: str, out: np.ndarray | None,
            rows: np.ndarray | None = None) -> np.ndarray:
    """Ink ``acc`` of shape (B, width, 28) -> images (B, height, width): height, polarity, dtype.

    ``rows`` (B, 2): each strip's top row and height within ``height`` (``fit="pad"``), when
    they are not ``0, height`` for all. ``acc`` is scratch and is overwritten. Everything runs
    on it in place, and one transposing copy writes the result: a ufunc reading the
    transposed array directly costs twice as much (3.6 against 1.8 us a strip).
    """
    count, width = acc.shape[:2]
    if rows is not None and not ((rows[:, 0] == 0) & (rows[:, 1] == height)).all():
        tall = _scratch("tall", (count, width, height), np.float32)
        tall.fill(0.0)
        for h in np.unique(rows[:, 1]).tolist():
            index, weight = tap_table(DIGIT, h)
            for b in np.flatnonzero(rows[:, 1] == h).tolist():
                y = int(rows[b, 0])
                part = tall[b, :, y : y + h]
                np.multiply(acc[b][:, index[:, 0]], weight[:, 0], out=part)
                for k in range(1, index.shape[1]):
                    part += acc[b][:, index[:, k]] * weight[:, k]
        acc = tall
    elif height != DIGIT:
        index, weight = tap_table(DIGIT, height)
        tall = np.multiply(acc[:, :, index[:, 0]], weight[:, 0], out=_scratch("tall", (count, width, height),
                                                                            np.float32))
        for k in range(1, index.shape[1]):
            tall += acc[:, :, index[:, k]] * weight[:, k]
        acc = tall
    # Weights sum to 1 only to float precision; ink >= 0 always, so one bound each is enough.
    if background == "white":
        np.maximum(np.subtract(np.float32(1.0), acc, out=acc), _zeros(acc.shape), out=acc)
    else:
        np.minimum(acc, np.float32(1.0), out=acc)
    if out is None:
        out = np.empty((count, height, width), dtype)
    if out.dtype != np.float32:
        np.rint(np.multiply(acc, 255, out=acc), out=acc)
    np.copyto(out, acc.transpose(0, 2, 1), casting="unsafe")
    return out
