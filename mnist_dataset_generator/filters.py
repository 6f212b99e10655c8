"""Filters: factories returning ``f(img) -> img`` closures, and the helper that applies a list.

A filter receives one digit as float32, height 28, ink 1.0 on background 0.0
(MNIST polarity, so padding with zeros adds background) and returns an array
of the same height; the width may change. Filters that need randomness take a
keyword-only ``rng`` (a :class:`numpy.random.Generator`); the generator passes
its own, so a seed reproduces filtered output too. Closures hold parameters
only, never a generator or a counter. Any one-argument callable works::

    from scipy.ndimage import gaussian_filter
    generate_numbers_sequence("42", (0, 4), None, fltrs=[lambda img: gaussian_filter(img, 1)])

SciPy is imported inside the filters that need it, so importing this
module stays cheap. The built-in factories return ``functools.partial``
objects of module-level functions: closures in spirit (parameters only), but
picklable, so datasets can send them to worker processes on platforms that
start workers by spawning (macOS, Windows). A filter of your own must be
picklable too for ``workers > 1`` there; on Linux any callable works.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Sequence

import numpy as np

from .layout import resample

__all__ = ["FILTERS", "apply_filters", "blur", "distort", "prepare_filters", "resize"]

log = logging.getLogger(__name__)

Filter = Callable[..., np.ndarray]
HEIGHT = 28


def _check_range(factory: str, arg: str, value, low: float, high: float, *, low_open: bool = False) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if ok:
        value = float(value)
        ok = (low < value if low_open else low <= value) and value <= high and np.isfinite(value)
    if not ok:
        bracket = "(" if low_open else "["
        raise ValueError(f"{factory}: {arg} must be a number in {bracket}{low:g}, {high:g}], got {value!r}")
    return value


def blur(sigma: float = 1.0) -> Filter:
    """Gaussian blur of one digit (both directions), SciPy's ``gaussian_filter``.

    Parameters
    ----------
    sigma : float, in [0, 10]
        Standard deviation in pixels; 0 returns the digit unchanged.

    Returns
    -------
    callable
        ``f(img) -> img``, same shape; the background outside the digit counts as zero.

    Examples
    --------
    >>> f = blur(sigma=1.5)
    >>> f(np.zeros((28, 20), np.float32)).shape
    (28, 20)
    """
    sigma = _check_range("blur", "sigma", sigma, 0, 10)
    if sigma == 0:
        return _identity
    return functools.partial(_blur, sigma=sigma)


def _blur(img: np.ndarray, *, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(img, sigma=sigma, mode="constant", cval=0.0)


def _identity(img: np.ndarray) -> np.ndarray:
    return img


def distort(alpha: float = 10.0) -> Filter:
    """Shift each row of a digit sideways by a smooth random amount, like a wavering hand.

    The shifts follow a smoothed random walk down the rows, scaled so that the
    largest shift is ``alpha`` percent of the digit's width (at the default,
    up to 2.8 px on a 28 px digit). Shifts are sub-pixel (linear
    interpolation); ink never wraps around from one side to the other, and
    the digit is widened with background where ink would otherwise be cut.

    Parameters
    ----------
    alpha : float, in [0, 100]
        Largest row shift, in percent of the digit's width; 0 returns the
        digit unchanged.

    Returns
    -------
    callable
        ``f(img, *, rng) -> img``, height kept.

    Examples
    --------
    >>> f = distort(alpha=20)
    >>> img = np.zeros((28, 28), np.float32); img[:, 13:15] = 1
    >>> out = f(img, rng=np.random.default_rng(0))
    >>> out.shape[0], bool(np.isclose(out.sum(), img.sum(), rtol=1e-3))
    (28, True)
    """
    alpha = _check_range("distort", "alpha", alpha, 0, 100)
    if alpha == 0:
        return _identity
    return functools.partial(_distort, alpha=alpha)


def _distort(img: np.ndarray, *, alpha: float, rng: np.random.Generator) -> np.ndarray:
    rows, width = img.shape
    walk = np.cumsum(rng.normal(size=rows + 12))  # "valid" convolution eats 12
    kernel = np.exp(-0.5 * (np.arange(-6, 7) / 3.0) ** 2)
    smooth = np.convolve(walk, kernel / kernel.sum(), mode="valid")
    smooth -= smooth.mean()
    peak = np.abs(smooth).max()
    shifts = smooth / peak if peak > 0 else smooth
    shifts *= alpha / 100 * width * rng.uniform(0.5, 1.0)
    pad = int(np.ceil(np.abs(shifts).max())) + 1
    canvas = np.zeros((rows, width + 2 * pad), np.float32)
    # out[y, x] = in[y, x - shift_y], linearly interpolated, zero outside
    source = np.arange(width + 2 * pad)[None, :] - pad - shifts[:, None]
    left = np.floor(source).astype(np.int64)
    frac = (source - left).astype(np.float32)
    y = np.arange(rows)[:, None]
    for col, weight in ((left, 1 - frac), (left + 1, frac)):
        valid = (col >= 0) & (col < width)
        canvas += np.where(valid, img[y, np.clip(col, 0, width - 1)], 0) * weight
    # keep the original frame, widened only where ink moved beyond it
    ink = np.flatnonzero(canvas.max(axis=0) > 0)
    start = min(pad, ink[0]) if ink.size else pad
    stop = max(pad + width, ink[-1] + 1) if ink.size else pad + width
    return canvas[:, start:stop]


def resize(width: int) -> Filter:
    """Resize a digit horizontally to ``width`` px (height kept).

    Uses the generator's own resampler: linear interpolation when enlarging,
    an antialiasing triangle filter when shrinking; values stay in [0, 1].

    Parameters
    ----------
    width : int, in 1..1000

    Returns
    -------
    callable
        ``f(img) -> img`` of shape ``(28, width)``.

    Examples
    --------
    >>> resize(14)(np.ones((28, 28), np.float32)).shape
    (28, 14)
    """
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or not 1 <= width <= 1000:
        raise ValueError(f"resize: width must be an integer in 1..1000, got {width!r}")
    return functools.partial(_resize, width=int(width))


def _resize(img: np.ndarray, *, width: int) -> np.ndarray:
    return resample(img, width)


# Name -> factory, for the command line's -f NAME[:key=value...].
FILTERS: dict[str, Callable[..., Filter]] = {"blur": blur, "distort": distort, "resize": resize}


def _name(f) -> str:
    if isinstance(f, functools.partial):
        return f"{_name(f.func).lstrip('_')}({', '.join(f'{k}={v!r}' for k, v in f.keywords.items())})"
    return getattr(f, "__qualname__", None) or getattr(f, "__name__", None) or repr(f)


def _accepts_rng(f) -> bool:
    try:
        params = inspect.signature(f).parameters
    except (TypeError, ValueError):  # some builtins have no signature: call them plainly
        return False
    return "rng" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def prepare_filters(fltrs: Sequence[Filter] | None) -> list[tuple[Filter, bool]]:
    """Check a filter list once per call: ``[(filter, takes_rng), ...]``.

    Raises
    ------
    ValueError
        ``fltrs`` is not a list of callables (a single callable or a string is
        named as the likely mistake).
    """
    if fltrs is None:
        return []
    if callable(fltrs) or isinstance(fltrs, (str, bytes)):
        raise ValueError(f"fltrs must be a list of filters, got {fltrs!r}; wrap a single filter as [f]")
    prepared = []
    for i, f in enumerate(fltrs):
        if not callable(f):
            raise ValueError(f"fltrs[{i}] must be callable f(img) -> img, got {f!r}")
        prepared.append((f, _accepts_rng(f)))
    return prepared


def apply_filters(img: np.ndarray, prepared: list[tuple[Filter, bool]], rng: np.random.Generator) -> np.ndarray:
    """Apply prepared filters in order; each result is cast to float32 and clipped to [0, 1].

    Raises
    ------
    ValueError
        A filter returned something that is not a 2-D array of height 28,
        or an empty or non-finite one; the message names the filter.
    """
    for f, takes_rng in prepared:
        out = f(img, rng=rng) if takes_rng else f(img)
        arr = np.asarray(out)
        if arr.ndim != 2 or arr.shape[0] != HEIGHT or arr.shape[1] < 1:
            raise ValueError(
                f"filter {_name(f)} must return a 2-D array of height {HEIGHT} and width >= 1, "
                f"got shape {arr.shape}"
            )
        arr = arr.astype(np.float32, copy=False)
        if not np.isfinite(arr).all():
            raise ValueError(f"filter {_name(f)} returned NaN or infinite values")
        img = np.clip(arr, 0.0, 1.0)
    return img
