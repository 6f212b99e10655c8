"""Glyphs the tool draws itself: the separators a pattern may hold (``- . ( ) + / :`` and space).

No handwriting set has them, so they are drawn with a pen whose strokes measure as wide as the
source's (:func:`pen_width`), with soft edges
like MNIST's anti-aliased ones, in :data:`VARIANTS` variants each (length, slant and place
jittered, always from the same stream: the same glyphs in every process and version of this
format). A space, and every separator in the ``"gap"`` style, is a blank glyph: a gap.
:func:`with_separators` appends them to a source as classes past its alphabet.
"""

from __future__ import annotations

import functools
import logging
import threading
import weakref

import numpy as np

from .glyphs import MnistData

__all__ = ["SEPARATORS", "STYLES", "VARIANTS", "WithSeparators", "pen_width", "separator_glyphs", "stroke_width",
           "with_separators"]

log = logging.getLogger(__name__)

SEPARATORS = "-.()+/: "  # what a pattern may hold that no glyph source draws, in class order past its alphabet
STYLES = ("pen", "gap")
VARIANTS = 16  # drawn shapes per separator
_SEED = 20261203  # the stream of the shapes' jitter: part of the format, never of a run
_SIZE = 28


def _strokes(char: str, rng: np.random.Generator) -> list[np.ndarray]:
    """The polylines (``(n, 2)`` points ``x, y``) of one variant of ``char`` on a 28 px square."""
    def j(scale: float = 1.0) -> float:  # a jitter
        return float(rng.uniform(-scale, scale))

    if char == "-":
        y, slope = 14 + j(1.5), j(0.12)
        x0, x1 = 8 + j(1.5), 20 + j(1.5)
        return [np.array([[x0, y - slope * 6], [x1, y + slope * 6]])]
    if char == ".":
        return [np.array([[14 + j(1.5), 22 + j(1)]])]
    if char == ":":
        x = 14 + j(1.5)
        return [np.array([[x + j(0.5), 10 + j(1)]]), np.array([[x + j(0.5), 21 + j(1)]])]
    if char in "()":
        rx, ry, cy = 6 + j(1.5), 10 + j(0.8), 14 + j(0.8)
        angles = np.linspace(np.radians(115 + j(10)), np.radians(245 + j(10)), 24)
        cx = 18 + j(1)
        points = np.stack([cx + rx * np.cos(angles), cy - ry * np.sin(angles)], axis=1)
        if char == ")":
            points[:, 0] = 27 - points[:, 0]
        return [points]
    if char == "+":
        cx, cy, arm = 14 + j(1), 14 + j(1), 6 + j(1)
        return [np.array([[cx - arm, cy + j(0.5)], [cx + arm, cy + j(0.5)]]),
                np.array([[cx + j(0.5), cy - arm], [cx + j(0.5), cy + arm]])]
    if char == "/":
        return [np.array([[19 + j(1.5), 4 + j(1)], [9 + j(1.5), 24 + j(1)]])]
    return []  # a space: no ink


def stroke_width(images: np.ndarray) -> float:
    """The median stroke width of ``images`` as twice the ink's area over its outline (ink: above half;
    outline: ink-paper edges between 4-neighbours), a measure that reads any pen the same way.

    Examples
    --------
    >>> img = np.zeros((1, 28, 28), np.uint8); img[0, 4:24, 12:15] = 255
    >>> round(stroke_width(img), 2)
    2.61
    """
    ink = np.asarray(images) > 127
    area = ink.sum(axis=(1, 2))
    outline = (np.count_nonzero(np.diff(ink, axis=1), axis=(1, 2)) + np.count_nonzero(np.diff(ink, axis=2), axis=(1, 2)))
    widths = 2 * area[outline > 0] / outline[outline > 0]
    return float(np.median(widths)) if len(widths) else 0.0


def pen_width(images: np.ndarray, sample: int = 300) -> float:
    """The pen (in pixels, to 0.1) whose strokes measure as wide as the first ``sample`` ``images``'
    (:func:`stroke_width` of a ring, which has every slant a handwritten curve has).

    Examples
    --------
    >>> ring = _draw([_ring()], 2.5)[None]
    >>> pen_width(ring)
    2.5
    """
    target = stroke_width(images[:sample])
    low, high = 10, 60  # tenths of a pixel; a wider pen measures wider: bisection
    while high - low > 1:
        mid = (low + high) // 2
        if stroke_width(_draw([_ring()], mid / 10)[None]) < target:
            low = mid
        else:
            high = mid
    near = min((low, high), key=lambda k: abs(stroke_width(_draw([_ring()], k / 10)[None]) - target))
    return near / 10


def _ring() -> np.ndarray:
    angles = np.linspace(0, 2 * np.pi, 49)
    return np.stack([14 + 6 * np.cos(angles), 14 + 8 * np.sin(angles)], axis=1)


def _draw(strokes: list[np.ndarray], width: float) -> np.ndarray:
    """A uint8 glyph (ink high) of ``strokes`` drawn ``width`` px wide with a one-pixel soft edge."""
    ys, xs = np.mgrid[0:_SIZE, 0:_SIZE] + 0.5  # pixel centres
    grid = np.stack([xs.ravel(), ys.ravel()], axis=1)[:, None, :]
    a = np.concatenate([points[:-1] if len(points) > 1 else points for points in strokes])  # segment starts
    b = np.concatenate([points[1:] if len(points) > 1 else points for points in strokes])  # and ends (a dot: a == b)
    ab = b - a
    t = np.clip(((grid - a) * ab).sum(axis=2) / np.maximum((ab * ab).sum(axis=1), 1e-9), 0, 1)
    distance = np.hypot(*np.moveaxis(grid - (a + t[..., None] * ab), 2, 0)).min(axis=1)
    ink = np.clip(width / 2 + 0.5 - distance, 0, 1).reshape(_SIZE, _SIZE)
    # MNIST's strokes fade over a pixel or two: a Gaussian of sigma 0.5 px, three taps each way (NumPy
    # alone: drawing separators loads no SciPy)
    taps = np.exp(-0.5 * (np.arange(-1, 2) / 0.5) ** 2)
    taps /= taps.sum()
    for axis in (0, 1):
        padded = np.pad(ink, [(1, 1) if a == axis else (0, 0) for a in (0, 1)], mode="edge")
        ink = sum(t * np.take(padded, range(k, k + _SIZE), axis=axis) for k, t in enumerate(taps))
    return np.rint(255 * ink / max(float(ink.max()), 1e-9) if ink.max() > 0 else ink).astype(np.uint8)


@functools.lru_cache(maxsize=8)
def separator_glyphs(width: float, style: str = "pen") -> tuple[np.ndarray, np.ndarray]:
    """``(images, classes)``: :data:`VARIANTS` glyphs of each of :data:`SEPARATORS`, classes
    ``0 .. len(SEPARATORS) - 1`` in its order; blank for a space and in the ``"gap"`` style.

    Examples
    --------
    >>> images, classes = separator_glyphs(2.8)
    >>> images.shape, int(images[classes == SEPARATORS.index(" ")].max())
    ((128, 28, 28), 0)
    """
    if style not in STYLES:
        raise ValueError(f"separators must be one of {', '.join(STYLES)}, got {style!r}")
    rng = np.random.default_rng(_SEED)
    images = np.zeros((len(SEPARATORS) * VARIANTS, _SIZE, _SIZE), np.uint8)
    for k, char in enumerate(SEPARATORS):
        for v in range(VARIANTS):
            strokes = _strokes(char, rng)  # drawn in every style: the jitter stream stays the same
            if style == "pen" and strokes:
                wide = width * (1.5 if char in ".:" else 1.0)  # a dot is a pen pressed, not drawn along
                images[k * VARIANTS + v] = _draw(strokes, wide)
    images.flags.writeable = False
    return images, np.repeat(np.arange(len(SEPARATORS), dtype=np.uint8), VARIANTS)


class _Stacked:
    """The images of a source followed by the separators' glyphs, indexed as one array without copying
    the source (a memory-mapped split stays shared between processes)."""

    def __init__(self, base: np.ndarray, extra: np.ndarray) -> None:
        self.base, self.extra = base, extra
        self.shape = (len(base) + len(extra), *base.shape[1:])
        self.dtype = base.dtype

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index) -> np.ndarray:
        index = np.asarray(index, np.intp)
        out = np.empty(index.shape + self.shape[1:], self.dtype)
        own = index < len(self.base)
        out[own] = self.base[index[own]]
        out[~own] = self.extra[index[~own] - len(self.base)]
        return out


class WithSeparators:
    """A glyph source (see :class:`.glyphs.GlyphSource`) that draws ``base``'s classes from ``base`` and
    the separators it lacks, classes past its alphabet in :data:`SEPARATORS`' order, from
    :func:`separator_glyphs`."""

    def __init__(self, base: MnistData, style: str) -> None:
        width = pen_width(base.images)  # to 0.1 px: one cache entry, and the same glyphs on any machine
        drawn, classes = separator_glyphs(width, style)
        log.debug("separators drawn %.1f px wide for %r", width, base)
        missing = [c for c in SEPARATORS if c not in base.alphabet]  # a source's own "-" is drawn as its glyph
        keep = np.isin(classes, [SEPARATORS.index(c) for c in missing])
        extra, classes = drawn[keep], np.repeat(np.arange(len(missing), dtype=np.uint8), VARIANTS)
        self.base, self.style, self.n = base, style, len(base)
        self.images = _Stacked(base.images, extra)
        self.labels = np.concatenate([base.labels, classes + len(base.alphabet)]).astype(np.uint8)
        self.alphabet = base.alphabet + "".join(missing)
        self.counts = np.concatenate([base.counts, np.bincount(classes, minlength=len(missing))])
        self.split, self.source = base.split, f"{base.source} with separators"
        self._extra_ink: np.ndarray | None = None

    @property
    def glyph_shape(self) -> tuple[int, int]:
        return self.base.glyph_shape

    def __len__(self) -> int:
        return len(self.images)

    def pick(self, classes: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Image positions for ``classes`` from uniform draws ``u`` (as :meth:`.glyphs.MnistData.pick`)."""
        classes, u = np.broadcast_arrays(np.asarray(classes), np.asarray(u))
        out = np.empty(classes.shape, np.intp)
        own = classes < len(self.base.alphabet)
        out[own] = self.base.pick(classes[own], u[own])
        k = classes[~own] - len(self.base.alphabet)
        within = np.minimum((u[~own] * VARIANTS).astype(np.int64), VARIANTS - 1)
        out[~own] = self.n + k * VARIANTS + within
        return out

    def ink_of(self, index: np.ndarray) -> np.ndarray:
        """Ink extents of images ``index`` (as :meth:`.glyphs.MnistData.ink_of`)."""
        from ..compose.layout import ink_extents

        index = np.asarray(index, np.intp)
        if self._extra_ink is None:
            self._extra_ink = ink_extents(self.images.extra)
        out = np.empty(index.shape + (4,), np.int16)
        own = index < self.n
        out[own] = self.base.ink_of(index[own])
        out[~own] = self._extra_ink[index[~own] - self.n]
        return out


_MADE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_MADE_LOCK = threading.Lock()


def with_separators(source: MnistData, style: str = "pen") -> WithSeparators:
    """``source`` with the separators appended as classes past its alphabet (its alphabet followed by
    :data:`SEPARATORS`), drawn in a pen of its strokes' width. Made once per source, style and process,
    and kept no longer than the source.
    """
    with _MADE_LOCK:
        made = _MADE.setdefault(source, {})
        if style not in made:
            made[style] = WithSeparators(source, style)
        return made[style]
