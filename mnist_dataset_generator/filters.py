"""Filters: factories returning ``f(img) -> img`` closures, and the helpers that apply a list.

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

Called alone, a built-in filter runs as a stack of one digit; in a list, the built-ins run
over the stack of many samples' digits (:mod:`.compose.augment`), consecutive geometric ones
through one interpolation (:mod:`.compose.warp`). Every factory takes ``p``, the fraction of
digits the filter applies to; :func:`sometimes` gives any filter one, :func:`stacked` marks a
filter of your own that takes a whole stack. A built-in returns float32 clipped to [0, 1]
(the contract's range); the geometric ones take digits of 28 rows only.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence

import numpy as np

from .compose import stacks, warp
from .compose.augment import (
    Sometimes,
    accepts_rng,
    apply_one,
    call_filter,
    check_p,
    takes_stack,
)

__all__ = [
    "FILTERS", "Sometimes", "apply_filters", "blur", "crop", "distort", "elastic", "noise", "prepare_filters",
    "resize", "rotate", "salt_pepper", "scale", "slant", "sometimes", "stacked", "thickness",
]

log = logging.getLogger(__name__)


Filter = Callable[..., np.ndarray]


def _check_range(factory: str, arg: str, value, low: float, high: float, *, low_open: bool = False) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if ok:
        value = float(value)
        ok = (low < value if low_open else low <= value) and value <= high and np.isfinite(value)
    if not ok:
        bracket = "(" if low_open else "["
        raise ValueError(f"{factory}: {arg} must be a number in {bracket}{low:g}, {high:g}], got {value!r}")
    return value


def blur(sigma: float = 1.0, p: float = 1.0) -> Filter:
    """Gaussian blur of one digit (both directions), SciPy's ``gaussian_filter``.

    Parameters
    ----------
    sigma : float, in [0, 10]
        Standard deviation in pixels; 0 returns the digit unchanged.

    p : float, in [0, 1]
        The fraction of digits it applies to, drawn digit by digit (default: all).

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
    return _built(_blur, p, sigma=sigma)


def _blur(img: np.ndarray, *, sigma: float, p: float = 1.0, rng: np.random.Generator | None = None) -> np.ndarray:
    return apply_one(stacks.Blur(sigma), p, img, rng)


_blur.op = stacks.Blur


def _identity(img: np.ndarray) -> np.ndarray:
    return img


def _built(func, p, **params) -> Filter:
    """``func`` with its parameters, and ``p`` when it is below 1 (so a filter's name stays as before)."""
    p = check_p(p, func.__name__.lstrip("_"))
    return functools.partial(func, **params, **({"p": p} if p < 1 else {}))


def distort(alpha: float = 10.0, p: float = 1.0) -> Filter:
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

    p : float, in [0, 1]
        The fraction of digits it applies to, drawn digit by digit (default: all).

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
    return _built(_distort, p, alpha=alpha)


def _distort(img: np.ndarray, *, alpha: float, p: float = 1.0, rng: np.random.Generator | None = None) -> np.ndarray:
    return apply_one(warp.Distort(alpha), p, img, rng)


_distort.op = warp.Distort


def resize(width: int, p: float = 1.0) -> Filter:
    """Resize a digit horizontally to ``width`` px (height kept).

    Uses the generator's own resampler: linear interpolation when enlarging,
    an antialiasing triangle filter when shrinking; values stay in [0, 1].

    Parameters
    ----------
    width : int, in 1..1000

    p : float, in [0, 1]
        The fraction of digits it applies to, drawn digit by digit (default: all).

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
    return _built(_resize, p, width=int(width))


def _resize(img: np.ndarray, *, width: int, p: float = 1.0, rng: np.random.Generator | None = None) -> np.ndarray:
    return apply_one(stacks.Resize(width), p, img, rng)


_resize.op = stacks.Resize


def elastic(alpha: float = 34.0, sigma: float = 4.0, p: float = 1.0) -> Filter:
    """Elastic distortion (Simard, Steinkraus and Platt, 2003): a smoothed random displacement field.

    Each pixel moves by a displacement drawn uniformly in [-1, 1] per axis,
    smoothed by a Gaussian of width ``sigma`` and scaled by ``alpha``; the
    paper's values for MNIST are the defaults. Bilinear sampling, zeros
    outside. Shape kept.

    Parameters
    ----------
    alpha : float, in [0, 200]
        Strength in pixels (before smoothing); 0 returns the digit unchanged.
    sigma : float, in (0, 20]
        Smoothness of the field in pixels: small is jittery, large is rubbery.

    p : float, in [0, 1]
        The fraction of digits it applies to, drawn digit by digit (default: all).

    Examples
    --------
    >>> f = elastic()
    >>> f(np.zeros((28, 28), np.float32), rng=np.random.default_rng(0)).shape
    (28, 28)
    """
    alpha = _check_range("elastic", "alpha", alpha, 0, 200)
    sigma = _check_range("elastic", "sigma", sigma, 0, 20, low_open=True)
    return _identity if alpha == 0 else _built(_elastic, p, alpha=alpha, sigma=sigma)


def _elastic(img: np.ndarray, *, alpha: float, sigma: float, p: float = 1.0,
             rng: np.random.Generator | None = None) -> np.ndarray:
    return apply_one(warp.Elastic(alpha, sigma), p, img, rng)


_elastic.op = warp.Elastic


def rotate(max_degrees: float = 10.0, p: float = 1.0) -> Filter:
    """Rotate a digit by a random angle about its centre, uniform in [-max, max] degrees.

    The frame widens where needed so no ink is cut sideways; the height
    stays 28, so very large angles can clip ink at the top and bottom
    (MNIST's 4 px margins keep up to about 20 degrees safe).

    Parameters
    ----------
    max_degrees : float, in [0, 90]
        0 returns the digit unchanged.

    p : float, in [0, 1]
        The fraction of digits it applies to, drawn digit by digit (default: all).

    Examples
    --------
    >>> rotate(15)(np.zeros((28, 28), np.float32), rng=np.random.default_rng(0)).shape[0]
    28
    """
    max_degrees = _check_range("rotate", "max_degrees", max_degrees, 0, 90)
    return _identity if max_degrees == 0 else _built(_rotate, p, max_degrees=max_degrees)


def _rotate(img: np.ndarray, *, max_degrees: float, p: float = 1.0,
            rng: np.random.Generator | None = None) -> np.ndarray:
    return apply_one(warp.Rotate(max_degrees), p, img, rng)


_rotate.op = warp.Rotate


def slant(max_shear: float = 0.3, p: float = 1.0) -> Filter:
    """Shear a digit horizontally about its centre, like slanted handwriting.

    Each row shifts by ``shear * (distance from the centre row)``, with
    ``shear`` uniform in [-max, max] (0.3 leans the top about 4 px); the frame
    widens where needed so no ink is cut.

    Parameters
    ----------
    max_shear : float, in [0, 1]
        0 returns the digit unchanged.

    p : float, in [0, 1]
        The fraction of digits it applies to, drawn digit by digit (default: all).

    Examples
    --------
    >>> slant(0.5)(np.zeros((28, 28), np.float32), rng=np.random.default_rng(0)).shape[0]
    28
    """
    max_shear = _check_range("slant", "max_shear", max_shear, 0, 1)
    return _identity if max_shear == 0 else _built(_slant, p, max_shear=max_shear)


def _slant(img: np.ndarray, *, max_shear: float, p: float = 1.0, rng: np.random.Generator | None = None) -> np.ndarray:
    return apply_one(warp.Slant(max_shear), p, img, rng)


_slant.op = warp.Slant


def scale(min: float = 0.8, max: float = 1.1, p: float = 1.0) -> Filter:  # noqa: A002 - the issue's parameter names
    """Resize a digit by a random factor, uniform in [min, max], re-centred vertically in 28 px.

    Both axes scale by the same factor (the width changes with it); a larger
    digit is cropped to 28 px about its centre, a smaller one padded.

    Parameters
    ----------
    min, max : float, 0.3 <= min <= max <= 2
        ``min = max = 1`` returns the digit unchanged.

    p : float, in [0, 1]
        The fraction of digits it applies to, drawn digit by digit (default: all).

    Examples
    --------
    >>> scale(0.5, 0.5)(np.ones((28, 28), np.float32), rng=np.random.default_rng(0)).shape
    (28, 14)
    """
    low = _check_range("scale", "min", min, 0.3, 2)
    high = _check_range("scale", "max", max, 0.3, 2)
    if low > high:
        raise ValueError(f"scale: min must not exceed max, got min={low:g}, max={high:g}")
    return _identity if low == high == 1 else _built(_scale, p, low=low, high=high)


def _scale(img: np.ndarray, *, low: float, high: float, p: float = 1.0,
           rng: np.random.Generator | None = None) -> np.ndarray:
    return apply_one(warp.Scale(low, high), p, img, rng)


_scale.op = warp.Scale


def thickness(min: float = -1.0, max: float = 2.0, p: float = 1.0) -> Filter:  # noqa: A002 - the issue's parameter names
    """Thin or thicken strokes by grey-level morphology, by a random amount in [min, max] px.

    Positive amounts dilate, negative ones erode, with a 3x3 cross per
    pixel; a fractional amount blends the two nearest whole steps. Shape kept.

    Parameters
    ----------
    min, max : float, -3 <= min <= max <= 3
        ``min = max = 0`` returns the digit unchanged.

    p : float, in [0, 1]
        The fraction of digits it applies to, drawn digit by digit (default: all).

    Examples
    --------
    >>> img = np.zeros((28, 28), np.float32); img[14, 14] = 1
    >>> int(thickness(1, 1)(img, rng=np.random.default_rng(0)).sum())
    5
    """
    low = _check_range("thickness", "min", min, -3, 3)
    high = _check_range("thickness", "max", max, -3, 3)
    if low > high:
        raise ValueError(f"thickness: min must not exceed max, got min={low:g}, max={high:g}")
    return _identity if low == high == 0 else _built(_thickness, p, low=low, high=high)


def _thickness(img: np.ndarray, *, low: float, high: float, p: float = 1.0,
               rng: np.random.Generator | None = None) -> np.ndarray:
    return apply_one(stacks.Thickness(low, high), p, img, rng)


_thickness.op = stacks.Thickness


def noise(std: float = 0.1, p: float = 1.0) -> Filter:
    """Add Gaussian noise of standard deviation ``std`` to every pixel of the digit's box.

    Parameters
    ----------
    std : float, in [0, 1]
        0 returns the digit unchanged. The result is clipped to [0, 1].

    p : float, in [0, 1]
        The fraction of digits it applies to, drawn digit by digit (default: all).

    Examples
    --------
    >>> bool(noise(0.2)(np.zeros((28, 28), np.float32), rng=np.random.default_rng(0)).std() > 0)
    True
    """
    std = _check_range("noise", "std", std, 0, 1)
    return _identity if std == 0 else _built(_noise, p, std=std)


def _noise(img: np.ndarray, *, std: float, p: float = 1.0, rng: np.random.Generator | None = None) -> np.ndarray:
    return apply_one(stacks.Noise(std), p, img, rng)


_noise.op = stacks.Noise


def salt_pepper(amount: float = 0.02, p: float = 1.0) -> Filter:
    """Set a random fraction ``amount`` of the pixels to pure ink or pure background (half each).

    Parameters
    ----------
    amount : float, in [0, 1]
        0 returns the digit unchanged.

    p : float, in [0, 1]
        The fraction of digits it applies to, drawn digit by digit (default: all).

    Examples
    --------
    >>> out = salt_pepper(0.5)(np.full((28, 28), 0.5, np.float32), rng=np.random.default_rng(0))
    >>> sorted(set(np.unique(out).tolist()))
    [0.0, 0.5, 1.0]
    """
    amount = _check_range("salt_pepper", "amount", amount, 0, 1)
    return _identity if amount == 0 else _built(_salt_pepper, p, amount=amount)


def _salt_pepper(img: np.ndarray, *, amount: float, p: float = 1.0,
                 rng: np.random.Generator | None = None) -> np.ndarray:
    return apply_one(stacks.SaltPepper(amount), p, img, rng)


_salt_pepper.op = stacks.SaltPepper


def crop(margin: int = 1, p: float = 1.0) -> Filter:
    """Trim empty columns, leaving ``margin`` empty columns on each side of the ink.

    MNIST digits carry about 4 px of empty margin per side; after ``crop``
    the spacing is measured between strokes rather than between 28 px boxes.
    A blank digit becomes ``2 * margin`` columns (at least 1).

    Parameters
    ----------
    margin : int, in 0..28

    p : float, in [0, 1]
        The fraction of digits it applies to, drawn digit by digit (default: all).

    Examples
    --------
    >>> img = np.zeros((28, 28), np.float32); img[5:20, 10:14] = 1
    >>> crop(2)(img).shape
    (28, 8)
    """
    if isinstance(margin, bool) or not isinstance(margin, (int, np.integer)) or not 0 <= margin <= 28:
        raise ValueError(f"crop: margin must be an integer in 0..28, got {margin!r}")
    return _built(_crop, p, margin=int(margin))


def _crop(img: np.ndarray, *, margin: int, p: float = 1.0, rng: np.random.Generator | None = None) -> np.ndarray:
    return apply_one(stacks.Crop(margin), p, img, rng)


_crop.op = stacks.Crop


# Name -> factory, for the command line's -f NAME[:key=value...] and --list-filters.
FILTERS: dict[str, Callable[..., Filter]] = {
    "blur": blur, "crop": crop, "distort": distort, "elastic": elastic, "noise": noise, "resize": resize,
    "rotate": rotate, "salt_pepper": salt_pepper, "scale": scale, "slant": slant, "thickness": thickness,
}


def _name(f) -> str:
    if isinstance(f, functools.partial):
        return f"{_name(f.func).lstrip('_')}({', '.join(f'{k}={v!r}' for k, v in f.keywords.items())})"
    return getattr(f, "__qualname__", None) or getattr(f, "__name__", None) or repr(f)


def sometimes(f: Filter, p: float) -> Sometimes:
    """``f`` applied to a fraction ``p`` of the digits, each drawing whether (see :class:`Sometimes`).

    For the built-ins, ``rotate(10, p=0.5)`` says the same; ``-f NAME:p=0.5`` wraps any filter.

    Examples
    --------
    >>> sometimes(lambda img: img, 0.5).p
    0.5
    """
    return Sometimes(f, p)


def stacked(f: Callable) -> Callable:
    """Mark ``f`` as a filter of stacks: called ``f(stack, rngs=[...])`` with digits it applies to,
    ``stack`` of shape ``(n, 28, w)`` float32 (ink 1.0 on 0.0; the digits of one call share their
    width ``w``, so a call may hold any number of them) and one :class:`numpy.random.Generator`
    per digit, it returns ``(n, 28, w')``. It must treat each digit on its own: the result for a
    digit may depend on that digit and its generator only, never on the others in the call.
    Sets ``f.takes_stack = True`` and returns ``f``.

    Examples
    --------
    >>> @stacked
    ... def invert_rows(stack, *, rngs):
    ...     return stack[:, ::-1]
    >>> invert_rows.takes_stack
    True
    """
    f.takes_stack = True
    return f


def prepare_filters(fltrs: Sequence[Filter] | None) -> list[tuple[Filter, bool]]:
    """Check a list of filters once: ``[(filter, takes_rng), ...]``.

    The doors take ``-f`` text too, through :func:`.compose.filterspec.prepare`, which
    builds it and calls this.

    Raises
    ------
    ValueError
        ``fltrs`` is not a list of callables: a single callable, a list holding text,
        anything else; the message names the likely fix.

    Examples
    --------
    >>> [f.func.__name__ for f, _ in prepare_filters([crop(), blur(0.7)])]
    ['_crop', '_blur']
    >>> prepare_filters(["blur"])
    Traceback (most recent call last):
    ValueError: fltrs[0] is text, not a filter: give the text as one string, fltrs='blur' (read by from_spec), or a list of callables such as from_spec('blur')
    """
    if fltrs is None:
        return []
    if callable(fltrs) or isinstance(fltrs, (bytes, bytearray)) or not hasattr(fltrs, "__iter__"):
        hint = "; wrap a single filter as [f]" if callable(fltrs) else ""
        raise ValueError(f"fltrs must be a list of filters or -f text such as \"blur:sigma=1\", got {fltrs!r}{hint}")
    prepared = []
    for i, f in enumerate(fltrs):
        if isinstance(f, str):
            raise ValueError(f"fltrs[{i}] is text, not a filter: give the text as one string, fltrs={f!r} (read by "
                             f"from_spec), or a list of callables such as from_spec({f!r})")
        if not callable(f):
            raise ValueError(f"fltrs[{i}] must be callable f(img) -> img, got {f!r}")
        prepared.append((f, accepts_rng(f)))
    return prepared


def apply_filters(img: np.ndarray, prepared: list[tuple[Filter, bool]], rng: np.random.Generator) -> np.ndarray:
    """Apply prepared filters in order; each result is cast to float32 and clipped to [0, 1].

    Raises
    ------
    ValueError
        A filter raised (anything but ``KeyboardInterrupt`` or ``MemoryError``; ``SystemExit``
        too, so a filter cannot end a run as if it succeeded), or returned something that is
        not a 2-D array of real numbers of height 28, or an empty or non-finite one; one
        line naming the filter and what it did.
    """
    for f, takes_rng in prepared:
        if takes_stack(f):
            img = call_filter(f, True, np.asarray(img)[None], [rng], count=1)[0]
        else:
            img = call_filter(f, takes_rng, img, rng)
    return img
