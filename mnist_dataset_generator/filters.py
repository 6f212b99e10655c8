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
"""

from __future__ import annotations

import builtins
import functools
import logging
from collections.abc import Callable, Sequence

import numpy as np

from .compose import stacks as _stacks
from .compose.render import resample

__all__ = [
    "FILTERS", "apply_filters", "apply_filters_stacked", "blur", "crop", "distort", "elastic", "noise",
    "prepare_filters", "resize", "rotate", "salt_pepper", "scale", "slant", "stackable", "thickness",
]

log = logging.getLogger(__name__)

builtins_max = builtins.max  # scale() and thickness() take parameters named min and max

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
    canvas, spans = _stacks.distort(np.asarray(img)[None], alpha=alpha, rng=rng)  # a stack of one
    (start, stop), = spans
    return np.ascontiguousarray(canvas[0, :, start:stop], dtype=np.float32)


def _keep_frame(canvas: np.ndarray, pad: int, width: int) -> np.ndarray:
    """Cut a canvas padded by ``pad`` back to the original ``width``, widened only where ink moved beyond it."""
    (start, stop), = _stacks.frames(canvas[None], pad, width)
    return np.ascontiguousarray(canvas[:, start:stop], dtype=np.float32)


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


def elastic(alpha: float = 34.0, sigma: float = 4.0) -> Filter:
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

    Examples
    --------
    >>> f = elastic()
    >>> f(np.zeros((28, 28), np.float32), rng=np.random.default_rng(0)).shape
    (28, 28)
    """
    alpha = _check_range("elastic", "alpha", alpha, 0, 200)
    sigma = _check_range("elastic", "sigma", sigma, 0, 20, low_open=True)
    return _identity if alpha == 0 else functools.partial(_elastic, alpha=alpha, sigma=sigma)


def _elastic(img: np.ndarray, *, alpha: float, sigma: float, rng: np.random.Generator) -> np.ndarray:
    from scipy.ndimage import gaussian_filter, map_coordinates

    rows, cols = img.shape
    dy = gaussian_filter(rng.uniform(-1, 1, (rows, cols)), sigma, mode="constant") * alpha
    dx = gaussian_filter(rng.uniform(-1, 1, (rows, cols)), sigma, mode="constant") * alpha
    y, x = np.mgrid[0:rows, 0:cols]
    out = map_coordinates(img, [y + dy, x + dx], order=1, mode="constant", cval=0.0)
    return out.astype(np.float32)


def _affine_about_centre(img: np.ndarray, matrix: np.ndarray, pad: int) -> np.ndarray:
    """Apply ``out[p] = img[matrix @ (p - c) + c]`` on a canvas widened by ``pad``; keep the frame."""
    from scipy.ndimage import affine_transform

    rows, width = img.shape
    canvas = np.zeros((rows, width + 2 * pad), np.float32)
    canvas[:, pad : pad + width] = img
    centre = np.array([(rows - 1) / 2, pad + (width - 1) / 2])
    out = affine_transform(canvas, matrix, offset=centre - matrix @ centre, order=1, mode="constant", cval=0.0)
    return _keep_frame(out.astype(np.float32), pad, width)


def rotate(max_degrees: float = 10.0) -> Filter:
    """Rotate a digit by a random angle about its centre, uniform in [-max, max] degrees.

    The frame widens where needed so no ink is cut sideways; the height
    stays 28, so very large angles can clip ink at the top and bottom
    (MNIST's 4 px margins keep up to about 20 degrees safe).

    Parameters
    ----------
    max_degrees : float, in [0, 90]
        0 returns the digit unchanged.

    Examples
    --------
    >>> rotate(15)(np.zeros((28, 28), np.float32), rng=np.random.default_rng(0)).shape[0]
    28
    """
    max_degrees = _check_range("rotate", "max_degrees", max_degrees, 0, 90)
    return _identity if max_degrees == 0 else functools.partial(_rotate, max_degrees=max_degrees)


def _rotate(img: np.ndarray, *, max_degrees: float, rng: np.random.Generator) -> np.ndarray:
    theta = np.radians(rng.uniform(-max_degrees, max_degrees))
    c, s = np.cos(theta), np.sin(theta)
    pad = int(np.ceil(img.shape[0] * abs(s))) + 1
    return _affine_about_centre(img, np.array([[c, -s], [s, c]]), pad)


def slant(max_shear: float = 0.3) -> Filter:
    """Shear a digit horizontally about its centre, like slanted handwriting.

    Each row shifts by ``shear * (distance from the centre row)``, with
    ``shear`` uniform in [-max, max] (0.3 leans the top about 4 px); the frame
    widens where needed so no ink is cut.

    Parameters
    ----------
    max_shear : float, in [0, 1]
        0 returns the digit unchanged.

    Examples
    --------
    >>> slant(0.5)(np.zeros((28, 28), np.float32), rng=np.random.default_rng(0)).shape[0]
    28
    """
    max_shear = _check_range("slant", "max_shear", max_shear, 0, 1)
    return _identity if max_shear == 0 else functools.partial(_slant, max_shear=max_shear)


def _slant(img: np.ndarray, *, max_shear: float, rng: np.random.Generator) -> np.ndarray:
    shear = rng.uniform(-max_shear, max_shear)
    pad = int(np.ceil(abs(shear) * img.shape[0] / 2)) + 1
    return _affine_about_centre(img, np.array([[1.0, 0.0], [shear, 1.0]]), pad)


def scale(min: float = 0.8, max: float = 1.1) -> Filter:  # noqa: A002 - the issue's parameter names
    """Resize a digit by a random factor, uniform in [min, max], re-centred vertically in 28 px.

    Both axes scale by the same factor (the width changes with it); a larger
    digit is cropped to 28 px about its centre, a smaller one padded.

    Parameters
    ----------
    min, max : float, 0.3 <= min <= max <= 2
        ``min = max = 1`` returns the digit unchanged.

    Examples
    --------
    >>> scale(0.5, 0.5)(np.ones((28, 28), np.float32), rng=np.random.default_rng(0)).shape
    (28, 14)
    """
    low = _check_range("scale", "min", min, 0.3, 2)
    high = _check_range("scale", "max", max, 0.3, 2)
    if low > high:
        raise ValueError(f"scale: min must not exceed max, got min={low:g}, max={high:g}")
    return _identity if low == high == 1 else functools.partial(_scale, low=low, high=high)


def _scale(img: np.ndarray, *, low: float, high: float, rng: np.random.Generator) -> np.ndarray:
    factor = rng.uniform(low, high)
    rows, width = img.shape
    new_rows = int(np.clip(round(rows * factor), 1, 4 * rows))
    new_width = builtins_max(1, round(width * factor))
    scaled = resample(resample(img, new_width).T, new_rows).T  # both axes, same resampler
    out = np.zeros((rows, new_width), np.float32)
    if new_rows <= rows:
        top = (rows - new_rows) // 2
        out[top : top + new_rows] = scaled
    else:
        top = (new_rows - rows) // 2
        out[:] = scaled[top : top + rows]
    return out


def thickness(min: float = -1.0, max: float = 2.0) -> Filter:  # noqa: A002 - the issue's parameter names
    """Thin or thicken strokes by grey-level morphology, by a random amount in [min, max] px.

    Positive amounts dilate, negative ones erode, with a 3x3 cross per
    pixel; a fractional amount blends the two nearest whole steps. Shape kept.

    Parameters
    ----------
    min, max : float, -3 <= min <= max <= 3
        ``min = max = 0`` returns the digit unchanged.

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
    return _identity if low == high == 0 else functools.partial(_thickness, low=low, high=high)


_CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)


def _thickness(img: np.ndarray, *, low: float, high: float, rng: np.random.Generator) -> np.ndarray:
    from scipy.ndimage import grey_dilation, grey_erosion

    amount = rng.uniform(low, high)
    step = grey_dilation if amount > 0 else grey_erosion
    whole, frac = divmod(abs(amount), 1.0)
    out = img
    for _ in range(int(whole)):
        out = step(out, footprint=_CROSS, mode="constant", cval=0.0)
    if frac:
        out = (1 - frac) * out + frac * step(out, footprint=_CROSS, mode="constant", cval=0.0)
    return out.astype(np.float32)


def noise(std: float = 0.1) -> Filter:
    """Add Gaussian noise of standard deviation ``std`` to every pixel of the digit's box.

    Parameters
    ----------
    std : float, in [0, 1]
        0 returns the digit unchanged. The result is clipped to [0, 1].

    Examples
    --------
    >>> bool(noise(0.2)(np.zeros((28, 28), np.float32), rng=np.random.default_rng(0)).std() > 0)
    True
    """
    std = _check_range("noise", "std", std, 0, 1)
    return _identity if std == 0 else functools.partial(_noise, std=std)


def _noise(img: np.ndarray, *, std: float, rng: np.random.Generator) -> np.ndarray:
    return (img + rng.normal(0.0, std, img.shape)).astype(np.float32)


def salt_pepper(amount: float = 0.02) -> Filter:
    """Set a random fraction ``amount`` of the pixels to pure ink or pure background (half each).

    Parameters
    ----------
    amount : float, in [0, 1]
        0 returns the digit unchanged.

    Examples
    --------
    >>> out = salt_pepper(0.5)(np.full((28, 28), 0.5, np.float32), rng=np.random.default_rng(0))
    >>> sorted(set(np.unique(out).tolist()))
    [0.0, 0.5, 1.0]
    """
    amount = _check_range("salt_pepper", "amount", amount, 0, 1)
    return _identity if amount == 0 else functools.partial(_salt_pepper, amount=amount)


def _salt_pepper(img: np.ndarray, *, amount: float, rng: np.random.Generator) -> np.ndarray:
    hit = rng.random(img.shape) < amount
    salt = rng.random(img.shape) < 0.5
    return np.where(hit, salt.astype(np.float32), img).astype(np.float32)


def crop(margin: int = 1) -> Filter:
    """Trim empty columns, leaving ``margin`` empty columns on each side of the ink.

    MNIST digits carry about 4 px of empty margin per side; after ``crop``
    the spacing is measured between strokes rather than between 28 px boxes.
    A blank digit becomes ``2 * margin`` columns (at least 1).

    Parameters
    ----------
    margin : int, in 0..28

    Examples
    --------
    >>> img = np.zeros((28, 28), np.float32); img[5:20, 10:14] = 1
    >>> crop(2)(img).shape
    (28, 8)
    """
    if isinstance(margin, bool) or not isinstance(margin, (int, np.integer)) or not 0 <= margin <= 28:
        raise ValueError(f"crop: margin must be an integer in 0..28, got {margin!r}")
    return functools.partial(_crop, margin=int(margin))


def _crop(img: np.ndarray, *, margin: int) -> np.ndarray:
    ink = np.flatnonzero(img.max(axis=0) > 0)
    if not ink.size:
        return np.zeros((img.shape[0], builtins_max(1, 2 * margin)), np.float32)
    core = img[:, ink[0] : ink[-1] + 1]
    out = np.zeros((img.shape[0], core.shape[1] + 2 * margin), np.float32)
    out[:, margin : margin + core.shape[1]] = core
    return out


# Name -> factory, for the command line's -f NAME[:key=value...] and --list-filters.
FILTERS: dict[str, Callable[..., Filter]] = {
    "blur": blur, "crop": crop, "distort": distort, "elastic": elastic, "noise": noise, "resize": resize,
    "rotate": rotate, "salt_pepper": salt_pepper, "scale": scale, "slant": slant, "thickness": thickness,
}


def _name(f) -> str:
    if isinstance(f, functools.partial):
        return f"{_name(f.func).lstrip('_')}({', '.join(f'{k}={v!r}' for k, v in f.keywords.items())})"
    return getattr(f, "__qualname__", None) or getattr(f, "__name__", None) or repr(f)


def _label(f) -> str:
    """A filter's name in messages: a built-in's ``blur(sigma=1.0)``, else ``module:name`` as ``-f`` spells it."""
    inner = f.func if isinstance(f, functools.partial) else f
    module = getattr(inner, "__module__", None) or type(inner).__module__
    if module == __name__:
        return _name(f)
    if getattr(inner, "__qualname__", None) or getattr(inner, "__name__", None):
        name = _name(f)
    else:  # an instance with __call__: its class names it better than its repr
        name = f"{type(inner).__qualname__} object"
    return f"{module}:{name}"


def _raised(exc: BaseException) -> str:
    """``raised RuntimeError: boom`` in one line, whatever the exception holds."""
    if isinstance(exc, SystemExit):
        return f"raised SystemExit({exc.code!r}) instead of returning an image"
    try:
        text = " ".join(str(exc).split("\n", 1)[0].split())
    except Exception:  # noqa: BLE001 - a user's exception whose str() fails still gets named
        text = ""
    return f"raised {type(exc).__name__}: {text}" if text else f"raised {type(exc).__name__}"


def _accepts_rng(f) -> bool:
    if isinstance(f, functools.partial) and not f.args and f.func.__module__ == __name__:
        return _built_in_accepts_rng(f.func, frozenset(f.keywords))  # 30 us a call saved on built-ins
    return _signature_accepts_rng(f)


@functools.lru_cache(maxsize=64)
def _built_in_accepts_rng(func, keywords: frozenset) -> bool:
    return _signature_accepts_rng(functools.partial(func, **dict.fromkeys(keywords)))


def _signature_accepts_rng(f) -> bool:
    import inspect  # only when filters are used: keeps plain runs' start-up light

    try:
        params = inspect.signature(f).parameters
    except (TypeError, ValueError):  # some builtins have no signature: call them plainly
        return False
    return "rng" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


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
        prepared.append((f, _accepts_rng(f)))
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
        try:
            out = f(img, rng=rng) if takes_rng else f(img)
            arr = np.asarray(out)
        except (KeyboardInterrupt, MemoryError):
            raise  # an interrupt stays one (a resumable run); memory is the machine's, not the filter's
        except BaseException as exc:  # noqa: BLE001 - SystemExit(0) from a filter must not end a run as a success
            raise ValueError(f"filter {_label(f)} {_raised(exc)}") from exc
        if arr.ndim != 2 or arr.shape[0] != HEIGHT or arr.shape[1] < 1:
            raise ValueError(
                f"filter {_label(f)} must return a 2-D array of height {HEIGHT} and width >= 1, "
                f"got shape {arr.shape}"
            )
        if arr.dtype.kind not in "biuf":  # complex would lose its imaginary part silently, objects fail later
            raise ValueError(f"filter {_label(f)} returned {arr.dtype} values; it must return real numbers "
                             "(ink 1.0 on 0.0)")
        arr = arr.astype(np.float32, copy=False)
        if not np.isfinite(arr).all():
            raise ValueError(f"filter {_label(f)} returned NaN or infinite values")
        img = np.clip(arr, 0.0, 1.0)
    return img


# Built-in filters with a form over a stack of digits (see _stacks): what apply_filters_stacked runs.
_STACKED = {_blur: _stacks.blur, _distort: _stacks.distort}


def stackable(prepared: list[tuple[Filter, bool]]) -> bool:
    """Whether :func:`apply_filters_stacked` can run this list: built-in filters with a stacked
    form only, and at most one of them random (so the draws come in the same order)."""
    return (bool(prepared) and sum(takes_rng for _, takes_rng in prepared) <= 1
            and all(f is _identity or (isinstance(f, functools.partial) and f.func in _STACKED and not f.args)
                    for f, _ in prepared))


def apply_filters_stacked(stack: np.ndarray, prepared: list[tuple[Filter, bool]],
                          rng: np.random.Generator) -> list[np.ndarray]:
    """:func:`apply_filters` on every digit of ``stack`` (n, 28, width), each filter over all digits at
    once: bit for bit the per-digit result, and several times faster (blur: one SciPy call for a strip).

    Only for lists where :func:`stackable` holds. Once a filter leaves the digits with different
    widths, the filters after it run digit by digit.

    Examples
    --------
    >>> stack = np.zeros((3, 28, 28), np.float32); stack[:, 10:18, 12:16] = 1
    >>> prepared = prepare_filters([blur(1.0), distort()])
    >>> rng = np.random.default_rng(0)
    >>> together = apply_filters_stacked(stack, prepared, rng)
    >>> rng = np.random.default_rng(0)
    >>> alone = [apply_filters(digit, prepared, rng) for digit in stack]
    >>> all(np.array_equal(a, b) for a, b in zip(together, alone))
    True
    """
    spans = None
    for k, (f, takes_rng) in enumerate(prepared):
        if f is _identity:
            continue
        if spans is not None:  # ragged from here on
            rest = prepared[k:]
            return [apply_filters(stack[i, :, a:b], rest, rng) for i, (a, b) in enumerate(spans)]
        kernel = _STACKED[f.func]
        stack, spans = kernel(stack, **f.keywords, rng=rng) if takes_rng else kernel(stack, **f.keywords)
        np.clip(stack, 0.0, 1.0, out=stack)  # as apply_filters clips each result
    if spans is None:
        return list(stack)
    return [stack[i, :, a:b] for i, (a, b) in enumerate(spans)]
