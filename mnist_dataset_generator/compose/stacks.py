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

import functools

import numpy as np

__all__ = ["blur", "distort", "frames"]

# distort's smoothing of the random walk down the rows: a Gaussian of 3 rows, 13 taps
_SMOOTH = np.exp(-0.5 * (np.arange(-6, 7) / 3.0) ** 2)
_SMOOTH /= _SMOOTH.sum()
_SMOOTH.flags.writeable = False


def blur(stack: np.ndarray, *, sigma: float) -> tuple[np.ndarray, None]:
    """Gaussian blur of each digit, none along the stack: ``gaussian_filter``'s two passes, with its
    weights computed once per sigma instead of twice a call (half the cost of a strip's blur)."""
    from scipy.ndimage import correlate1d

    weights = _gaussian_weights(sigma)
    out = correlate1d(stack, weights, axis=1, mode="constant", cval=0.0)
    return correlate1d(out, weights, axis=2, output=out, mode="constant", cval=0.0), None


@functools.lru_cache(maxsize=32)
def _gaussian_weights(sigma: float) -> np.ndarray:
    """The weights ``gaussian_filter(..., sigma)`` correlates with: its response to a unit impulse."""
    from scipy.ndimage import gaussian_filter1d

    radius = int(4.0 * sigma + 0.5)  # SciPy's default truncate=4.0
    impulse = np.zeros(2 * radius + 1)
    impulse[radius] = 1.0
    weights = gaussian_filter1d(impulse, sigma, mode="constant", cval=0.0)
    weights.flags.writeable = False
    return weights


def distort(stack: np.ndarray, *, alpha: float, rng: np.random.Generator) -> tuple[np.ndarray, list]:
    """Each digit's rows shifted sideways by a smoothed random walk (see :func:`.filters.distort`)."""
    count, rows, width = stack.shape
    walks = np.empty((count, rows + 12))  # "valid" smoothing eats 12 rows
    scale = np.empty(count)
    for i in range(count):  # digit by digit: the draws of one digit stay together, as when filtered alone
        rng.standard_normal(out=walks[i])  # what normal(size=...) draws, written in place
        scale[i] = rng.uniform(0.5, 1.0)
    np.cumsum(walks, axis=1, out=walks)
    # One convolution along all walks end to end: the windows that stay inside a walk are its own.
    smooth = np.convolve(walks.ravel(), _SMOOTH, mode="full")[12 : 12 + walks.size].reshape(walks.shape)[:, :rows]
    smooth = smooth - smooth.mean(axis=1, keepdims=True)
    peak = np.abs(smooth).max(axis=1, keepdims=True)
    shifts = np.divide(smooth, peak, out=smooth, where=peak > 0)
    shifts *= (alpha / 100 * width * scale)[:, None]
    pad = int(np.ceil(np.abs(shifts).max())) + 1  # the widest digit's margin, shared by all
    # out[y, x] = in[y, x - shift_y], linearly interpolated, zero outside. With |shift| < pad the
    # source columns lie in -2 pad .. width + 2 pad: read them from a copy with 2 pad zeros each side.
    framed = np.zeros((count, rows, width + 4 * pad), stack.dtype)
    framed[:, :, 2 * pad : 2 * pad + width] = stack
    source = np.arange(width + 2 * pad) - pad - shifts[:, :, None]
    left = np.floor(source).astype(np.int64)
    frac = (source - left).astype(np.float32)
    left += (np.arange(count * rows) * framed.shape[2]).reshape(count, rows, 1) + 2 * pad  # flat positions
    canvas = (framed.take(left) * (1 - frac)).astype(np.float32, copy=False)  # float32 whatever came in
    canvas += framed.take(left + 1) * frac
    # A digit that moved less is all zeros outside its own, narrower margin, so the common rule holds.
    return canvas, frames(canvas, pad, width)


def frames(canvas: np.ndarray, pad: int, width: int) -> list[tuple[int, int]]:
    """Each ``(start, stop)`` that cuts a canvas ``(n, rows, width + 2 pad)`` back to ``width``,
    widened only where ink moved beyond it (the rule of every filter that pads to move ink)."""
    inked = canvas.max(axis=1) > 0
    any_ink = inked.any(axis=1)
    first = np.where(any_ink, inked.argmax(axis=1), pad)
    last = np.where(any_ink, inked.shape[1] - inked[:, ::-1].argmax(axis=1), pad + width)
    return list(zip(np.minimum(first, pad).tolist(), np.maximum(last, pad + width).tolist(), strict=True))
