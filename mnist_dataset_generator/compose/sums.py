"""The renderer's one weighted sum: output row ``i`` is ``sum_k weight[i, k] * sheet[index[i, k]]``.

Rows are whole 28-px columns of ink. Every strip is summed here, tap by tap, in order: NumPy
for small calls, SciPy's public sparse product (``csr_array @``) for large batches, checked
once to give NumPy's bytes, so a strip comes out bit for bit the same alone or among 256
others. Scratch arrays are reused per thread.
"""

from __future__ import annotations

import logging
import math
import threading

import numpy as np

from .._limits import bounded_cache
from .programs import DIGIT, tap_table

__all__ = ["expect"]  # the rest are the renderer's internals: see render.run

log = logging.getLogger(__name__)
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


@bounded_cache(max_bytes=64 * 2**20, maxsize=128)  # 112 bytes per tap and output column
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


def expect(rows: int) -> None:
    """Say that about ``rows`` output columns are coming: a run that long decides the kernel now
    (importing ``scipy.sparse`` and probing it once), instead of after ``_SPARSE_AFTER`` rows
    summed the slow way; worker processes forked afterwards inherit the decision and the import.

    Examples
    --------
    >>> expect(10)  # a short run: nothing is imported
    """
    if rows >= _SPARSE_AFTER:
        with _KERNEL_LOCK:
            if _KERNEL["sparse"] is None:
                _KERNEL["sparse"] = _sparse_agrees()


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
