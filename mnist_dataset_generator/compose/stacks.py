"""Digits as one stack, and the filters that change their pixels (not their geometry) over all of it.

A filter call costs tens of microseconds of overhead on a 28 x 28 digit, more than its
arithmetic; over a stack it is a few large array operations for every digit of a batch.
:class:`Glyphs` holds digits of different widths in one array: each digit is the columns
``start:stop`` of its row (its *frame*), zero elsewhere. Each filter here draws its random
parameters for ``n`` digits from a generator (``draw``) and applies them to a whole stack
(``apply``); geometry is :mod:`.warp`'s, the order and the streams :mod:`.augment`'s.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .programs import tap_table

__all__ = ["ROWS", "Blur", "Crop", "Glyphs", "Noise", "Resize", "SaltPepper", "Thickness", "frames"]

ROWS = 28


@dataclass
class Glyphs:
    """Digits of any widths in one float32 array ``(n, 28, W)``, ink 1.0 on 0.0: digit ``i`` is
    ``pixels[i, :, start[i]:stop[i]]``, and every pixel outside its frame is 0."""

    pixels: np.ndarray
    start: np.ndarray
    stop: np.ndarray

    @classmethod
    def full(cls, pixels: np.ndarray) -> Glyphs:
        """Digits that fill their rows (``(n, 28, w)``)."""
        n, _, w = pixels.shape
        return cls(np.asarray(pixels, np.float32), np.zeros(n, np.int64), np.full(n, w, np.int64))

    @classmethod
    def from_list(cls, images: list[np.ndarray]) -> Glyphs:
        """Digits of any widths, each at the left of its row."""
        widths = np.array([img.shape[1] for img in images], np.int64)
        pixels = np.zeros((len(images), ROWS, int(widths.max()) if len(images) else 1), np.float32)
        for i, img in enumerate(images):
            pixels[i, :, : img.shape[1]] = img
        return cls(pixels, np.zeros(len(images), np.int64), widths)

    @classmethod
    def concatenate(cls, parts: list[Glyphs]) -> Glyphs:
        """The digits of ``parts``, in order, in one stack."""
        widest = max(p.pixels.shape[2] for p in parts)
        pixels = np.zeros((sum(len(p) for p in parts), parts[0].pixels.shape[1], widest), np.float32)
        at = 0
        for p in parts:
            pixels[at : at + len(p), :, : p.pixels.shape[2]] = p.pixels
            at += len(p)
        return cls(pixels, np.concatenate([p.start for p in parts]), np.concatenate([p.stop for p in parts]))

    def __len__(self) -> int:
        return len(self.pixels)

    def width(self) -> np.ndarray:
        return self.stop - self.start

    def digit(self, i: int) -> np.ndarray:
        return self.pixels[i, :, self.start[i] : self.stop[i]]

    def to_list(self) -> list[np.ndarray]:
        """Each digit as its own C-contiguous float32 array."""
        return [np.ascontiguousarray(self.digit(i)) for i in range(len(self))]

    def ink_extents(self) -> np.ndarray:
        """``(n, 4)`` ``col_lo, col_hi, row_lo, row_hi`` of each digit's ink (above 0) in its frame,
        ends exclusive, ``0, 0`` where blank (as :func:`.layout.ink_extents` of each digit alone)."""
        from .layout import ink_spans

        cols, rows = self.pixels.max(axis=1) > 0, self.pixels.max(axis=2) > 0
        lo, hi = ink_spans(cols, axis=1)
        found = hi > 0
        lo, hi = np.where(found, lo - self.start, 0), np.where(found, hi - self.start, 0)
        return np.stack((lo, hi, *ink_spans(rows, axis=1)), axis=1).astype(np.int64)

    def squares(self) -> np.ndarray:
        """Each digit in a ``28 x 28`` uint8 cell (ink 255 on 0), for layouts that place square glyphs
        (videos, scenes): a narrower digit centred on paper, a wider one cut to the 28 columns nearest
        its centre that hold all its ink (its ink's middle 28 when even that is wider).

        Examples
        --------
        >>> g = Glyphs.from_list([np.ones((28, 10), np.float32), np.pad(np.ones((28, 4), np.float32), ((0, 0), (30, 0)))])
        >>> cells = g.squares()
        >>> cells.shape, np.flatnonzero(cells[0, 0]).tolist(), np.flatnonzero(cells[1, 0]).tolist()
        ((2, 28, 28), [9, 10, 11, 12, 13, 14, 15, 16, 17, 18], [24, 25, 26, 27])
        """
        n, rows = len(self), self.pixels.shape[1]
        out = np.zeros((n, rows, ROWS), np.float32)
        ink = self.ink_extents()
        for i, (w, (lo, hi)) in enumerate(zip(self.width().tolist(), ink[:, :2].tolist(), strict=True)):
            digit = self.digit(i)
            if w <= ROWS:
                left = (ROWS - w) // 2
                out[i, :, left : left + w] = digit
                continue
            if hi - lo > ROWS:  # ink wider than a cell: its middle
                cut = (lo + hi - ROWS) // 2
            else:  # the window nearest the centre that holds the ink
                cut = min(max((w - ROWS) // 2, hi - ROWS), lo)
            out[i] = digit[:, cut : cut + ROWS]
        np.clip(out, 0, 1, out=out)
        return np.rint(out * 255).astype(np.uint8)

    def resampled(self, targets: np.ndarray) -> Glyphs:
        """Each digit resampled across to ``targets[i]`` columns (the renderer's antialiased triangle
        filter, as :func:`.render.resample`), at the left of its row."""
        n, rows = len(self), self.pixels.shape[1]
        targets = np.asarray(targets, np.int64)
        out = np.zeros((n, rows, max(1, int(targets.max())) if n else 1), np.float32)
        widths = self.width()
        pairs, which = np.unique(np.stack([widths, targets], axis=1), axis=0, return_inverse=True)
        for g, (w, t) in enumerate(pairs.tolist()):
            chosen = np.flatnonzero(which.ravel() == g)
            if w == t:
                columns = self.start[chosen, None] + np.arange(w)
                out[chosen, :, :t] = np.take_along_axis(self.pixels[chosen], columns[:, None, :], axis=2)
                continue
            index, weight = tap_table(int(w), int(t))  # (t, taps)
            part = np.zeros((len(chosen), rows, t), np.float32)
            for k in range(index.shape[1]):  # tap by tap, in order, as the renderer sums
                columns = self.start[chosen, None] + index[:, k]
                part += np.take_along_axis(self.pixels[chosen], columns[:, None, :], axis=2) * weight[:, k]
            out[chosen, :, :t] = part
        return Glyphs(out, np.zeros(n, np.int64), targets.copy())

    def inside(self) -> np.ndarray:
        """``(n, W)``: which columns of each row are its digit's frame."""
        columns = np.arange(self.pixels.shape[2])
        return (columns >= self.start[:, None]) & (columns < self.stop[:, None])

    def clear_outside(self) -> Glyphs:
        """Zero every pixel outside its digit's frame (after a filter that spreads ink)."""
        self.pixels *= self.inside()[:, None, :]
        return self

    def packed(self) -> Glyphs:
        """The same digits, each at the left of its row, in the narrowest array that holds them."""
        width = self.width()
        widest = max(1, int(width.max())) if len(self) else 1
        if self.pixels.shape[2] == widest and not self.start.any():
            return self
        columns = np.arange(widest)
        source = np.minimum(self.start[:, None] + columns, self.pixels.shape[2] - 1)
        shape = (len(self), self.pixels.shape[1], widest)
        pixels = np.take_along_axis(self.pixels, np.broadcast_to(source[:, None, :], shape), 2)
        pixels *= (columns < width[:, None])[:, None, :]
        return Glyphs(pixels, np.zeros(len(self), np.int64), width.copy())

    def select(self, chosen: np.ndarray, other: Glyphs) -> Glyphs:
        """Digit ``i`` from ``self`` where ``chosen[i]``, else from ``other`` (a filter applied or not)."""
        if chosen.all():
            return self
        a, b = self.packed(), other.packed()
        width = max(a.pixels.shape[2], b.pixels.shape[2])
        pixels = np.zeros((len(a), a.pixels.shape[1], width), np.float32)
        pixels[chosen, :, : a.pixels.shape[2]] = a.pixels[chosen]
        pixels[~chosen, :, : b.pixels.shape[2]] = b.pixels[~chosen]
        return Glyphs(pixels, np.zeros(len(a), np.int64), np.where(chosen, a.stop, b.stop))


def frames(canvas: np.ndarray, pad: int, width: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
    """``(start, stop)`` that cut each row of a canvas ``(n, rows, W)``, whose frames lie at
    ``pad .. pad + width``, back to its frame, widened only where ink moved beyond it (the rule
    of every filter that moves ink).

    Examples
    --------
    >>> canvas = np.zeros((1, 28, 12), np.float32); canvas[0, 5, 1] = 1  # ink left of a frame at 3..9
    >>> [a.tolist() for a in frames(canvas, 3, 6)]
    [[1], [9]]
    """
    inked = canvas.max(axis=1) > 0
    any_ink = inked.any(axis=1)
    first = np.where(any_ink, inked.argmax(axis=1), pad)
    last = np.where(any_ink, inked.shape[1] - inked[:, ::-1].argmax(axis=1), 0)
    return np.minimum(first, pad).astype(np.int64), np.maximum(last, pad + np.asarray(width)).astype(np.int64)


class _Fixed:
    """A filter that draws nothing: the same result for a digit whatever the stream."""

    random = False

    def draw(self, rng, n, widths, rows=ROWS):
        return None


class Blur(_Fixed):
    """Gaussian blur of each digit within its frame (``gaussian_filter``'s two passes, zeros outside)."""

    def __init__(self, sigma: float) -> None:
        self.sigma = sigma

    def apply(self, glyphs: Glyphs, params) -> Glyphs:
        from scipy.ndimage import correlate1d

        weights = _gaussian_weights(self.sigma)
        out = correlate1d(glyphs.pixels, weights, axis=1, mode="constant", cval=0.0)
        correlate1d(out, weights, axis=2, output=out, mode="constant", cval=0.0)
        return Glyphs(out, glyphs.start, glyphs.stop).clear_outside()


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


def _cross(pixels: np.ndarray, grow: bool) -> np.ndarray:
    """One step of grey dilation (``grow``) or erosion by a 3 x 3 cross, zeros outside the array."""
    pick = np.maximum if grow else np.minimum
    out = pixels.copy()
    for axis in (1, 2):
        head = [slice(None)] * 3
        tail = [slice(None)] * 3
        head[axis], tail[axis] = slice(1, None), slice(None, -1)
        pick(out[tuple(head)], pixels[tuple(tail)], out=out[tuple(head)])
        pick(out[tuple(tail)], pixels[tuple(head)], out=out[tuple(tail)])
        if not grow:  # the zeros beyond the edge erode the edge
            edge = [slice(None)] * 3
            for end in (0, -1):
                edge[axis] = end
                out[tuple(edge)] = 0.0
    return out


class Thickness:
    """Strokes thickened (dilation) or thinned (erosion) by a 3 x 3 cross, by an amount uniform in
    [min, max] px; a fraction blends the two nearest whole steps. All digits of one amount's sign
    take each step together."""

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high

    def draw(self, rng, n, widths, rows=ROWS):
        return rng.uniform(self.low, self.high, n)

    def apply(self, glyphs: Glyphs, amount: np.ndarray) -> Glyphs:
        out = glyphs.pixels.copy()
        inside = glyphs.inside()[:, None, :]
        for grow in (True, False):
            chosen = np.flatnonzero(amount > 0 if grow else amount < 0)
            if not len(chosen):
                continue
            size = np.abs(amount[chosen])
            whole, frac = np.floor(size).astype(np.int64), (size - np.floor(size)).astype(np.float32)
            step = glyphs.pixels[chosen] * inside[chosen]
            result = np.zeros_like(step)
            for k in range(int(whole.max()) + 1):
                if k:
                    step = _cross(step, grow) * inside[chosen]
                done = whole == k
                if done.any():
                    nxt = _cross(step[done], grow) * inside[chosen][done]
                    f = frac[done][:, None, None]
                    result[done] = (1 - f) * step[done] + f * nxt
            out[chosen] = result
        return Glyphs(out, glyphs.start, glyphs.stop)


class Noise:
    """Gaussian noise of standard deviation ``std`` on every pixel of each digit's frame."""

    def __init__(self, std: float) -> None:
        self.std = std

    def draw(self, rng, n, widths, rows=ROWS):
        return rng.normal(0.0, self.std, rows * int(widths.sum())).astype(np.float32)

    def apply(self, glyphs: Glyphs, values: np.ndarray) -> Glyphs:
        out = glyphs.pixels.copy()
        columns = out.transpose(0, 2, 1)  # each frame's columns in order, as the values were drawn
        columns[glyphs.inside()] += values.reshape(-1, out.shape[1])
        return Glyphs(out, glyphs.start, glyphs.stop)


class SaltPepper:
    """A fraction ``amount`` of each frame's pixels set to pure ink or pure paper (half each)."""

    def __init__(self, amount: float) -> None:
        self.amount = amount

    def draw(self, rng, n, widths, rows=ROWS):
        return rng.random((2, rows * int(widths.sum())), dtype=np.float32)

    def apply(self, glyphs: Glyphs, draws: np.ndarray) -> Glyphs:
        out = glyphs.pixels.copy()
        columns = out.transpose(0, 2, 1)
        inside = glyphs.inside()
        values = columns[inside]
        rows = out.shape[1]
        hit, salt = (draws[0] < self.amount).reshape(-1, rows), (draws[1] < 0.5).reshape(-1, rows)
        columns[inside] = np.where(hit, salt.astype(np.float32), values)
        return Glyphs(out, glyphs.start, glyphs.stop)


class Crop(_Fixed):
    """Each frame trimmed to its ink plus ``margin`` empty columns a side (a blank digit: ``2 margin``, at least 1)."""

    def __init__(self, margin: int) -> None:
        self.margin = margin

    def apply(self, glyphs: Glyphs, params) -> Glyphs:
        m = self.margin
        pixels = glyphs.pixels
        if m:
            pixels = np.zeros((len(glyphs), glyphs.pixels.shape[1], glyphs.pixels.shape[2] + 2 * m), np.float32)
            pixels[:, :, m:-m] = glyphs.pixels
        inked = pixels.max(axis=1) > 0  # only frames hold ink
        found = inked.any(axis=1)
        first = inked.argmax(axis=1)
        last = inked.shape[1] - inked[:, ::-1].argmax(axis=1)
        start = np.where(found, first - m, glyphs.start + m)
        stop = np.where(found, last + m, start + max(1, 2 * m))
        return Glyphs(pixels, start.astype(np.int64), stop.astype(np.int64)).packed()


class Resize(_Fixed):
    """Each digit resampled across to ``width`` columns (the renderer's antialiased triangle filter)."""

    def __init__(self, width: int) -> None:
        self.target = width

    def apply(self, glyphs: Glyphs, params) -> Glyphs:
        return glyphs.resampled(np.full(len(glyphs), self.target))

