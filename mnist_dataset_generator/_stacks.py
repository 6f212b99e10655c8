"""Built-in filters over a stack of digits at once: ``(n, 28, width)`` in, the same per digit out.

A filter call costs tens of microseconds of overhead on a 28 x 28 digit, more
than its arithmetic. Run over a strip's digits together, blur is one
``gaussian_filter`` call instead of eight and distort one set of array
operations instead of eight. Every digit comes out bit for bit as when it is
filtered alone, and random draws are taken digit by digit in the same order,
so :func:`.filters.apply_filters_stacked` gives exactly what
:func:`.filters.apply_filters` gives digit by digit.

A stacked filter returns ``(stack, spans)``: ``spans`` is ``None`` when each
digit is the whole of its row of ``stack``, else each digit's ``(start, stop)``
columns (distort widens digits by different amounts).
"""

from __future__ import annotations

import numpy as np

__all__ = ["blur", "distort"]

# distort's smoothing of the random walk down the rows: a Gaussian of 3 rows, 13 taps
_SMOOTH = np.exp(-0.5 * (np.arange(-6, 7) / 3.0) ** 2)
_SMOOTH /= _SMOOTH.sum()
_SMOOTH.flags.writeable = False


def blur(stack: np.ndarray, *, sigma: float) -> tuple[np.ndarray, None]:
    """Gaussian blur of each digit; none along the stack (sigma 0 there: SciPy skips that axis)."""
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(stack, sigma=(0.0, sigma, sigma), mode="constant", cval=0.0), None


def distort(stack: np.ndarray, *, alpha: float, rng: np.random.Generator) -> tuple[np.ndarray, list]:
    """Each digit's rows shifted sideways by a smoothed random walk (see :func:`.filters.distort`)."""
    count, rows, width = stack.shape
    smooth = np.empty((count, rows))
    scale = np.empty(count)
    for i in range(count):  # digit by digit: the draws of one digit stay together, as when filtered alone
        smooth[i] = np.convolve(np.cumsum(rng.normal(size=rows + 12)), _SMOOTH, mode="valid")  # "valid" eats 12
        scale[i] = rng.uniform(0.5, 1.0)
    smooth -= smooth.mean(axis=1, keepdims=True)
    peak = np.abs(smooth).max(axis=1, keepdims=True)
    shifts = np.divide(smooth, peak, out=smooth, where=peak > 0)
    shifts *= (alpha / 100 * width * scale)[:, None]
    pads = (np.ceil(np.abs(shifts).max(axis=1)) + 1).astype(np.int64)  # each digit's own margin
    pad = int(pads.max())
    canvas = np.zeros((count, rows, width + 2 * pad), np.float32)
    # out[y, x] = in[y, x - shift_y], linearly interpolated, zero outside
    source = np.arange(width + 2 * pad) - pad - shifts[:, :, None]
    left = np.floor(source).astype(np.int64)
    frac = (source - left).astype(np.float32)
    digit, y = np.arange(count)[:, None, None], np.arange(rows)[None, :, None]
    for col, weight in ((left, 1 - frac), (left + 1, frac)):
        valid = (col >= 0) & (col < width)
        canvas += np.where(valid, stack[digit, y, np.clip(col, 0, width - 1)], 0) * weight
    # Keep each digit's frame (its own margin), widened only where ink moved beyond it.
    inked = canvas.max(axis=1) > 0
    spans = []
    for i, margin in enumerate(pads.tolist()):
        lo, hi = pad - margin, pad + width + margin
        ink = np.flatnonzero(inked[i, lo:hi])
        start = min(margin, int(ink[0])) if ink.size else margin
        stop = max(margin + width, int(ink[-1]) + 1) if ink.size else margin + width
        spans.append((lo + start, lo + stop))
    return canvas, spans
