"""Augmentation as one pass over a stack of digits: the filters of a call, drawn per digit, run per stack.

:func:`stages` reads a list of prepared filters once: consecutive geometric built-ins become
one :func:`.warp.warp` (one interpolation), other built-ins a :mod:`.stacks` operation,
filters of your own run digit by digit (or, declaring :func:`takes_stack`, on the stack).
:func:`augment` runs them over the digits of many samples at once. Each sample brings its
own generator; every filter draws its parameters for that sample's digits from it, in the
filters' order, in fixed amounts: a digit's result depends on its sample's stream and its
place in it, never on the other samples of the batch or on how many workers run.

A filter may carry a probability ``p`` (``rotate(p=0.5)``, :class:`Sometimes`, ``-f
rotate:p=0.5``): each digit draws whether it is applied, always, so the streams of the
filters after it do not shift.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .stacks import ROWS, Glyphs
from .warp import GEOMETRIC, warp

__all__ = [
    "Sometimes",
    "accepts_rng",
    "apply_one",
    "augment",
    "augment_batches",
    "call_filter",
    "check_p",
    "describe_exception",
    "filter_label",
    "stages",
    "takes_stack",
]

log = logging.getLogger(__name__)


def check_p(p, who: str) -> float:
    """``p`` as a float in [0, 1], or one line naming ``who``."""
    ok = isinstance(p, (int, float, np.integer, np.floating)) and not isinstance(p, (bool, np.bool_))
    if not ok or not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"{who}: p must be a number in [0, 1], got {p!r}")
    return float(p)


class Sometimes:
    """A filter applied to a fraction ``p`` of the digits, each digit drawing whether.

    Parameters
    ----------
    f : callable
        Any filter (``f(img) -> img``, ``f(img, *, rng)``, or one that :func:`takes_stack`).
    p : float, in [0, 1]

    Examples
    --------
    >>> from mnist_dataset_generator.filters import blur
    >>> f = Sometimes(blur(1.0), 0.0)
    >>> img = np.zeros((28, 28), np.float32); img[10, 10] = 1
    >>> bool(np.array_equal(f(img, rng=np.random.default_rng(0)), img))
    True
    """

    def __init__(self, f: Callable, p: float) -> None:
        if not callable(f):
            raise ValueError(f"Sometimes: f must be a filter, got {f!r}")
        self.filter, self.p = f, check_p(p, "Sometimes")

    def __call__(self, img: np.ndarray, *, rng: np.random.Generator) -> np.ndarray:
        if rng.random() >= self.p:
            return img
        if takes_stack(self.filter):
            out = self.filter(np.asarray(img)[None], rngs=[rng])
            return np.asarray(out)[0] if np.ndim(out) == 3 else out
        return self.filter(img, rng=rng) if accepts_rng(self.filter) else self.filter(img)

    def __repr__(self) -> str:
        return f"Sometimes({filter_label(self.filter)}, p={self.p:g})"


def takes_stack(f) -> bool:
    """Whether ``f`` declares the stacked protocol: ``f.takes_stack = True``, called as
    ``f(stack, rngs=[one generator per digit])`` with ``stack`` ``(n, 28, w)`` float32 and returning
    ``(n, 28, w')``."""
    return getattr(f, "takes_stack", False) is True


def accepts_rng(f) -> bool:
    """Whether ``f`` takes the keyword ``rng`` (or any keyword)."""
    if isinstance(f, functools.partial) and not f.args and getattr(f.func, "op", None) is not None:
        return True  # the built-ins: all take one
    try:
        params = inspect.signature(f).parameters
    except (TypeError, ValueError):  # some builtins have no signature: call them plainly
        return False
    return "rng" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def filter_label(f) -> str:
    """A filter's name in messages: a built-in's ``blur(sigma=1.0)``, else ``module:name`` as ``-f`` spells it."""
    if isinstance(f, Sometimes):
        return repr(f)
    inner = f.func if isinstance(f, functools.partial) else f
    if getattr(inner, "op", None) is not None and isinstance(f, functools.partial):
        name = inner.__name__.lstrip("_")
        return f"{name}({', '.join(f'{k}={v!r}' for k, v in f.keywords.items())})"
    module = getattr(inner, "__module__", None) or type(inner).__module__
    name = getattr(inner, "__qualname__", None) or getattr(inner, "__name__", None)
    if name is None:  # an instance with __call__: its class names it better than its repr
        name = f"{type(inner).__qualname__} object"
    elif isinstance(f, functools.partial):
        name = f"{name}({', '.join(f'{k}={v!r}' for k, v in f.keywords.items())})"
    return f"{module}:{name}"


def describe_exception(exc: BaseException) -> str:
    """``raised RuntimeError: boom`` in one line, whatever the exception holds."""
    if isinstance(exc, SystemExit):
        return f"raised SystemExit({exc.code!r}) instead of returning an image"
    try:
        text = " ".join(str(exc).split("\n", 1)[0].split())
    except Exception:  # noqa: BLE001 - a user's exception whose str() fails still gets named
        text = ""
    return f"raised {type(exc).__name__}: {text}" if text else f"raised {type(exc).__name__}"


def _checked(f, out, count: int | None = None) -> np.ndarray:
    """``out`` as float32 clipped to [0, 1], or one line naming ``f`` and what is wrong with it.
    ``count``: a stack of that many digits is expected, else one digit."""
    arr = np.asarray(out)
    if count is None:
        if arr.ndim != 2 or arr.shape[0] != ROWS or arr.shape[1] < 1:
            raise ValueError(f"filter {filter_label(f)} must return a 2-D array of height {ROWS} and width >= 1, "
                             f"got shape {arr.shape}")
    elif arr.ndim != 3 or arr.shape[0] != count or arr.shape[1] != ROWS or arr.shape[2] < 1:
        raise ValueError(f"filter {filter_label(f)} must return a stack of shape ({count}, {ROWS}, width >= 1) "
                         f"for the {count} digit(s) it was given, got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":  # complex would lose its imaginary part silently, objects fail later
        raise ValueError(f"filter {filter_label(f)} returned {arr.dtype} values; it must return real numbers "
                         "(ink 1.0 on 0.0)")
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        raise ValueError(f"filter {filter_label(f)} returned NaN or infinite values")
    return np.clip(arr, 0.0, 1.0)


def call_filter(f, takes_rng: bool, img: np.ndarray, rng: np.random.Generator | None,
                count: int | None = None) -> np.ndarray:
    """``f(img)`` (``rng=`` when it takes one; ``rngs=`` for a stack), checked as :func:`_checked` does.

    Raises
    ------
    ValueError
        ``f`` raised (anything but ``KeyboardInterrupt`` or ``MemoryError``; ``SystemExit`` too, so a
        filter cannot end a run as if it succeeded) or returned something unusable; one line.
    """
    try:
        if count is not None:
            out = f(img, rngs=rng)
        else:
            out = f(img, rng=rng) if takes_rng else f(img)
        arr = np.asarray(out)
    except (KeyboardInterrupt, MemoryError):
        raise  # an interrupt stays one (a resumable run); memory is the machine's, not the filter's
    except BaseException as exc:  # SystemExit(0) from a filter must not end a run as a success
        raise ValueError(f"filter {filter_label(f)} {describe_exception(exc)}") from exc
    return _checked(f, arr, count)


@dataclass(frozen=True)
class _Geometry:
    ops: list  # [(op, p), ...], applied in order, interpolated once


@dataclass(frozen=True)
class _Pixels:
    op: object
    p: float


@dataclass(frozen=True)
class _User:
    f: Callable
    takes_rng: bool
    p: float = 1.0
    stacked: bool = False


def _builtin(f):
    """``(op, p)`` of a built-in filter (a partial of a function of :mod:`..filters` with an ``op``)."""
    if isinstance(f, functools.partial) and not f.args and getattr(f.func, "op", None) is not None:
        params = dict(f.keywords)
        p = params.pop("p", 1.0)
        return f.func.op(**params), p
    return None


def stages(prepared: Sequence[tuple[Callable, bool]]) -> list:
    """The stages that run ``prepared`` (``[(filter, takes_rng), ...]``) over stacks.

    Examples
    --------
    >>> from mnist_dataset_generator.filters import blur, elastic, rotate
    >>> [type(s).__name__ for s in stages([(elastic(), True), (rotate(), True), (blur(), True)])]
    ['_Geometry', '_Pixels']
    """
    out: list = []
    for f, takes_rng in prepared:
        found = _builtin(f)
        if found is None and isinstance(f, Sometimes) and _builtin(f.filter) is not None:
            op, p = _builtin(f.filter)  # sometimes(rotate(), 0.5): still a stage over the stack
            found = op, p * f.p
        if found is None and getattr(f, "__module__", None) == "mnist_dataset_generator.filters" \
                and getattr(f, "__name__", "") == "_identity":
            continue  # a filter at strength zero
        if found is not None:
            op, p = found
            if isinstance(op, GEOMETRIC):
                if out and isinstance(out[-1], _Geometry):
                    out[-1].ops.append((op, p))
                else:
                    out.append(_Geometry([(op, p)]))
            else:
                out.append(_Pixels(op, p))
        elif isinstance(f, Sometimes) and takes_stack(f.filter):
            out.append(_User(f.filter, True, f.p, stacked=True))
        else:
            out.append(_User(f, takes_rng, 1.0, stacked=takes_stack(f)))
    return out


def _coins(rng: np.random.Generator, n: int, p: float) -> np.ndarray | None:
    """Which of ``n`` digits a filter of probability ``p`` applies to (``None``: all, nothing drawn)."""
    return None if p >= 1.0 else rng.random(n) < p


def augment(glyphs: Glyphs, counts: Sequence[int], rngs: Sequence[np.random.Generator], plan: list) -> Glyphs:
    """Run the stages ``plan`` (from :func:`stages`) over ``glyphs``: the digits of ``len(counts)``
    samples in order, sample ``s`` holding ``counts[s]`` of them and drawing from ``rngs[s]``.

    Examples
    --------
    >>> from mnist_dataset_generator.filters import rotate
    >>> img = np.zeros((3, 28, 28), np.float32); img[:, 8:20, 12:16] = 1
    >>> rng = lambda: np.random.default_rng(5)
    >>> two = augment(Glyphs.full(img), [2, 1], [rng(), rng()], stages([(rotate(20), True)]))
    >>> bool(np.array_equal(two.digit(0), two.digit(2)))  # each sample's first digit: the same draws
    True
    """
    bounds = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    for stage in plan:
        if isinstance(stage, _Geometry):
            chain = []
            for op, p in stage.ops:
                parts = []
                for s, rng in enumerate(rngs):
                    n = int(counts[s])
                    on = _coins(rng, n, p)
                    params = op.draw(rng, n)
                    if on is not None:
                        op.neutral(params, ~on)
                    parts.append(params)
                chain.append((op, op.prepare(np.concatenate(parts))))
            glyphs = warp(glyphs, chain)
        elif isinstance(stage, _Pixels):
            widths = glyphs.width()
            ons, parts = [], []
            for s, rng in enumerate(rngs):
                n = int(counts[s])
                ons.append(_coins(rng, n, stage.p))
                parts.append(stage.op.draw(rng, n, widths[bounds[s] : bounds[s + 1]], *glyphs.pixels.shape[1:2]))
            params = None if parts[0] is None else np.concatenate(parts, axis=-1)
            out = stage.op.apply(glyphs, params)
            np.clip(out.pixels, 0.0, 1.0, out=out.pixels)
            if stage.p < 1.0:
                out = out.select(np.concatenate(ons), glyphs)
            glyphs = out
        else:
            glyphs = _run_user(stage, glyphs, bounds, rngs)
    return glyphs


def _run_user(stage: _User, glyphs: Glyphs, bounds: np.ndarray, rngs) -> Glyphs:
    """A user's filter: digit by digit in order, each sample's digits drawing from its stream; or
    (``takes_stack``) once on the stack of the digits it applies to, each with a generator of its own."""
    if not stage.stacked:
        images = glyphs.to_list()
        for s, rng in enumerate(rngs):
            for i in range(bounds[s], bounds[s + 1]):
                images[i] = call_filter(stage.f, stage.takes_rng, images[i], rng)
        return Glyphs.from_list(images)
    ons, own = [], []
    for s, rng in enumerate(rngs):
        n = int(bounds[s + 1] - bounds[s])
        ons.append(np.ones(n, bool) if stage.p >= 1.0 else rng.random(n) < stage.p)
        own += [np.random.default_rng(seed) for seed in rng.integers(0, 2**63, n).tolist()]
    on = np.concatenate(ons) if ons else np.zeros(0, bool)
    if not on.any():
        return glyphs
    # Digits of one width at a time, each filling its row: what a digit is given never depends on
    # the widths of others in the batch. A digit's frame is then the whole row the filter returns.
    widths = glyphs.width()
    results: dict[int, np.ndarray] = {}
    for w in np.unique(widths[on]).tolist():
        chosen = np.flatnonzero(on & (widths == w))
        columns = glyphs.start[chosen, None] + np.arange(w)
        stack = np.take_along_axis(glyphs.pixels[chosen], columns[:, None, :], axis=2)
        out = call_filter(stage.f, True, stack, [own[i] for i in chosen.tolist()], count=len(chosen))
        results.update(zip(chosen.tolist(), out, strict=True))
    images = glyphs.to_list()
    for i, image in results.items():
        images[i] = image
    return Glyphs.from_list(images)


def apply_one(op, p: float, img: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
    """One digit through one built-in operation ``op`` applied with probability ``p``, as a stack of
    one: what a built-in filter returns when called alone."""
    if rng is None:
        if p < 1.0 or getattr(op, "random", True):
            raise ValueError(f"{type(op).__name__.lower()} draws at random: call it with rng=numpy.random.Generator")
        rng = np.random.default_rng(0)  # never drawn from
    img = np.asarray(img)
    if img.ndim != 2 or (isinstance(op, GEOMETRIC) and img.shape[0] != ROWS):
        raise ValueError(f"{type(op).__name__.lower()}: expected a digit of {ROWS} rows (float, ink 1.0 on 0.0), "
                         f"got an array of shape {img.shape}")
    stage = _Geometry([(op, p)]) if isinstance(op, GEOMETRIC) else _Pixels(op, p)
    glyphs = augment(Glyphs.full(np.array(img, np.float32)[None]), [1], [rng], [stage])  # a copy: never the caller's
    return np.array(glyphs.digit(0), dtype=np.float32)


GROUP = 512  # digits of one sample augmented together at most: a constant of the draw scheme


def augment_batches(plan: list, sizes: Sequence[int], take: Callable[[int], np.ndarray],
                    rngs: Sequence[np.random.Generator] | None, *, batch: int = GROUP, samples: int | None = None):
    """The samples' digits through ``plan``, a batch of whole samples at a time: yields ``(a, b, glyphs)``,
    the digits of samples ``a..b-1`` in order.

    Sample ``s`` holds ``sizes[s]`` digits, ``take(s)`` its glyphs ``(n, 28, 28)`` (uint8, ink
    255 on 0; fetched only when its batch runs), ``rngs[s]`` its stream (``None`` with no
    filters). A sample's digits are taken in groups of :data:`GROUP` slots, each group
    through all the filters before the next: what a digit gets depends on its sample's stream
    and its slot only, never on the batch. Samples are gathered up to ``batch`` digits (and at
    most ``samples`` samples) a call, so the work per call is large and its memory bounded.

    Examples
    --------
    >>> from mnist_dataset_generator.filters import rotate
    >>> digits = np.zeros((3, 28, 28), np.uint8); digits[:, 8:20, 12:16] = 255
    >>> samples, rngs = [digits[:2], digits[2:]], [np.random.default_rng(5), np.random.default_rng(5)]
    >>> [(a, b, len(g)) for a, b, g in augment_batches(stages([(rotate(), True)]), [2, 1], samples.__getitem__, rngs)]
    [(0, 2, 3)]
    """
    s, count = 0, len(sizes)
    while s < count:
        first, size = s, 0
        while s < count and (s == first or (size + sizes[s] <= batch and (samples is None or s - first < samples))):
            size += int(sizes[s])
            s += 1
        if s - first == 1 and size > GROUP:  # one long sample: its groups of slots in turn
            glyphs = take(first)
            parts = [_augmented(plan, [glyphs[k : k + GROUP]], [rngs[first]] if rngs else None)
                     for k in range(0, size, GROUP)]
            yield first, s, Glyphs.concatenate(parts)
        else:
            yield first, s, _augmented(plan, [take(r) for r in range(first, s)], rngs[first:s] if rngs else None)


def _augmented(plan: list, samples: Sequence[np.ndarray], rngs) -> Glyphs:
    pixels = np.concatenate(samples).astype(np.float32)
    pixels *= np.float32(1 / 255)
    glyphs = Glyphs.full(pixels)
    return augment(glyphs, [len(x) for x in samples], rngs, plan) if plan else glyphs
