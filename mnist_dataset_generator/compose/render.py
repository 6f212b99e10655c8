"""THE renderer: column programs (:mod:`.programs`) run on a sheet of ink columns.

:func:`render` makes the sheet from the picked glyphs (unfiltered digits that do not
overlap); strips composed digit by digit (:mod:`.strip`: filters, overlaps) bring their own
sheet to :func:`run`. Either way the same sums (:mod:`.sums`) and the same last step
(height, padding rows, polarity, dtype) make the image, so a strip is the same whichever
path or batch made it. :func:`render_strip` and :func:`place` are shorter routes to the
same bytes for one strip and for strips with nothing to resample.
"""

from __future__ import annotations

import math

import numpy as np

from .programs import DIGIT, tap_table
from .sums import _numpy_rows, _scratch, _spread, _sum_rows, _weighted_columns

__all__ = ["BATCH_BYTES", "SHEET_BYTES", "batch_rows", "column_renderer", "place", "render", "render_strip", "resample",
           "resample_columns", "run"]
BATCH_BYTES = 8 * 2**20  # float32 sums of the strips rendered together (256 strips of 28 x 224)
SHEET_BYTES = DIGIT * DIGIT * 4  # one digit's float32 columns on the sheet


_COLUMN = np.dtype((np.void, DIGIT * 4))  # one float32 column of 28 px, gathered as a unit
_SCALE = np.float32(1 / 255)


_BLANK = np.zeros((64, DIGIT), np.float32)  # gap columns for render_strip
_BLANK.flags.writeable = False


_ZEROS = [np.zeros(0, np.float32)]


def batch_rows(width: int, height: int = DIGIT, slots: int = 1) -> int:
    """How many strips of ``width`` x ``height`` and ``slots`` digits to render in one call:
    :data:`BATCH_BYTES` of sums, or of the digits' ink sheet when that is larger.

    Fewer, larger calls leave less per-call Python for the GIL to serialise: two threads
    made 1.6x one thread's strips at 64 strips a call, 1.8x at 256, one thread alike.
    The sheet (28 float32 columns a digit) bounds it too: long strips padded into a narrow
    image hold far more digits than pixels, and a call's glyphs, sheet and column programs
    grow with the digits (10,000 digits a strip: 31 MB of sheet each).

    Examples
    --------
    >>> batch_rows(224), batch_rows(100_000), batch_rows(1000, slots=100)
    (334, 1, 26)
    """
    return max(1, BATCH_BYTES // max(4 * width * max(height, DIGIT), SHEET_BYTES * slots))


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
    >>> from mnist_dataset_generator.compose.programs import random_program
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


def column_renderer(glyphs: np.ndarray, strips, height: int = DIGIT):
    """``render_columns(members, columns)`` for :func:`.boxes.visible_boxes`: the ink (float32, 0 on
    paper) of the digits ``members`` ((B, n) bool) of ``glyphs`` (B, n, 28, 28) alone, at ``columns``
    ((B, S) ints) of the strips ``strips`` (a :class:`.programs.Layout`) lays out.

    Only the glyph columns those output columns read are gathered, into a sheet of their own."""
    count, slots = glyphs.shape[:2]
    flat = glyphs.reshape(count * slots, DIGIT, DIGIT)

    def render_columns(members: np.ndarray, columns: np.ndarray) -> np.ndarray:
        ids = np.take_along_axis(strips.ids, columns[:, :, None], axis=1)
        weights = np.take_along_axis(strips.weights, columns[:, :, None], axis=1)
        live = ids >= 0
        glyph, x = np.divmod(np.where(live, ids, 0), DIGIT)  # ids are 28 (strip * slots + digit) + column
        keep = live & members[glyph // slots, glyph % slots]
        sheet = np.zeros((ids.size + 1, DIGIT), np.float32)  # one column per tap, then paper
        np.multiply(flat[glyph.ravel(), :, x.ravel()], _SCALE, out=sheet[:-1])
        taps = np.where(keep, np.arange(ids.size).reshape(ids.shape), -1)
        return run(sheet, taps, weights, height=height, background="black", rows=strips.rows)

    return render_columns


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
    >>> from mnist_dataset_generator.compose.programs import random_program
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
    >>> from mnist_dataset_generator.compose.programs import random_program
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
