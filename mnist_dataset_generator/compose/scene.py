"""Scenes: glyphs of several sizes at random places on a canvas, with an overlap rule and clutter.

The shape of the detection-MNIST scripts, cluttered MNIST (Mnih et al. 2014), MultiMNIST (Sabour
et al. 2017) and the canvases of Attend-Infer-Repeat, made in batches from draws passed in (so a
sample stays a pure function of its seed):

- each glyph is resized to its square (``round(28 * scale)`` px a side) by a separable triangle
  filter, widened when shrinking so that every source pixel counts (:func:`resize_matrix`);
- squares are placed uniformly on the canvas one after the other, each at the first of its
  candidate corners whose intersection over union with every square already placed is at most
  ``max_iou`` (:func:`place`); a scene whose candidates all fail takes a grid placement that
  the overlap rule allows by construction, so a scene never fails to be made;
- the label reads the glyphs in reading order, top to bottom, then left to right, of their
  squares' top-left corners; each glyph's box is tight to its ink;
- ink is combined by its maximum (or its sum, clipped), on 0: ink high, as a video's frames.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .layout import DIGIT

__all__ = ["TIE_MARGIN", "check_fit", "fits", "glyph_sides", "place", "render_scenes", "resize_matrix"]

TIE_MARGIN = 1e-9  # float64 products of 28 taps err by about 1e-12; other values keep 1e-6 from a half (sides 7..448)


def glyph_sides(scale: np.ndarray) -> np.ndarray:
    """Each glyph's side in pixels: ``round(28 * scale)``, at least 1.

    Examples
    --------
    >>> glyph_sides(np.array([0.25, 1.0, 1.3])).tolist()
    [7, 28, 36]
    """
    return np.maximum(1, np.rint(np.asarray(scale) * DIGIT)).astype(np.int64)


def fits(side: int, height: int, width: int, max_iou: float) -> int:
    """How many squares of ``side`` px a grid lays on the canvas with no two over ``max_iou``
    (``-1``: any number, when ``max_iou`` is 1).

    Neighbours on the grid are ``ceil(side * (1 - t) / (1 + t))`` px apart, the least shift at which
    two squares' IoU is ``t``; smaller squares at the same corners overlap less.

    Examples
    --------
    >>> fits(28, 60, 60, 0.0), fits(28, 64, 64, 0.25), fits(28, 64, 64, 1.0)
    (4, 9, -1)
    """
    if max_iou >= 1:
        return -1
    step = _grid_step(side, max_iou)
    return ((height - side) // step + 1) * ((width - side) // step + 1)


def check_fit(length: tuple[int, int], scale: tuple[float, float], height: int, width: int, max_iou: float) -> None:
    """Refuse (one line) glyphs larger than the canvas, and more glyphs than surely fit under the rule."""
    largest = int(glyph_sides(np.array(scale[1])))
    if largest > min(height, width):
        raise ValueError(f"a glyph of scale {scale[1]:g} is {largest} px a side, larger than the {height} x {width} "
                         "canvas: use a smaller scale or a larger canvas")
    most = fits(largest, height, width, max_iou)
    if most != -1 and length[1] > most:
        rule = "no overlap" if max_iou == 0 else f"max_iou {max_iou:g}"
        raise ValueError(f"{length[1]} glyphs of up to {largest} px may not fit a {height} x {width} canvas with "
                         f"{rule}: {most} surely fit (a grid of {largest} px squares); use fewer glyphs, smaller "
                         "ones, a larger canvas or a larger max_iou")


@functools.lru_cache(maxsize=512)
def resize_matrix(size: int, source: int = DIGIT) -> np.ndarray:
    """``(size, source)`` float64 weights: row ``i`` makes output pixel ``i`` from the source pixels.

    A triangle filter centred where the output pixel's centre falls, as wide as a source pixel when
    enlarging and as wide as an output pixel when shrinking (every source pixel counts); rows sum to 1.

    Examples
    --------
    >>> (resize_matrix(2, 4) * 7).round(2).tolist()  # halving: each output pixel reads 3 source pixels
    [[3.0, 3.0, 1.0, 0.0], [0.0, 1.0, 3.0, 3.0]]
    >>> bool(np.allclose(resize_matrix(56) @ np.ones(28), 1, rtol=0, atol=1e-12))
    True
    """
    ratio = source / size
    support = max(1.0, ratio)
    centres = (np.arange(size) + 0.5) * ratio
    taps = np.arange(source) + 0.5
    weights = np.maximum(0.0, 1.0 - np.abs(taps[None, :] - centres[:, None]) / support)
    matrix = weights / weights.sum(axis=1, keepdims=True)
    matrix.flags.writeable = False  # shared by every call (cached)
    return matrix


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """IoU of squares ``box`` ``(..., 3)`` (``y, x, side``) with ``others`` ``(..., 3)``, broadcast."""
    y0 = np.maximum(box[..., 0], others[..., 0])
    x0 = np.maximum(box[..., 1], others[..., 1])
    y1 = np.minimum(box[..., 0] + box[..., 2], others[..., 0] + others[..., 2])
    x1 = np.minimum(box[..., 1] + box[..., 2], others[..., 1] + others[..., 2])
    inter = np.clip(y1 - y0, 0, None) * np.clip(x1 - x0, 0, None)
    union = box[..., 2] ** 2 + others[..., 2] ** 2 - inter
    return inter / np.maximum(union, 1)


def place(sides: np.ndarray, present: np.ndarray, candidates: np.ndarray, height: int, width: int, max_iou: float,
          fallback) -> np.ndarray:
    """Top-left corners ``(n, k, 2)`` (``row, column``) of each scene's squares.

    Parameters
    ----------
    sides : (n, k) ints
        Each square's side.
    present : (n, k) bools
        The slots that hold a glyph (the others are not placed: corners 0).
    candidates : (n, k, c, 2) floats in [0, 1)
        Candidate corners of each square, a share of the room it has (``height - side + 1`` rows).
    max_iou : float
    fallback : callable
        ``fallback(b, cells)``: a permutation of ``cells`` for scene ``b`` (from its own stream), used
        when none of some square's candidates is allowed: its squares then go to cells of a grid that
        the rule allows (see :func:`fits`), in that order.

    Examples
    --------
    >>> sides = np.array([[28, 28]]); c = np.zeros((1, 2, 2, 2)); c[0, 1, 1] = 0.99
    >>> place(sides, np.ones((1, 2), bool), c, 64, 64, 0.0, None).tolist()  # the second one's first try overlaps
    [[[0, 0], [36, 36]]]
    """
    n, k = sides.shape
    room = np.stack([height - sides + 1, width - sides + 1], axis=-1)  # (n, k, 2)
    corners = np.zeros((n, k, 2), np.int64)
    placed = np.zeros((n, k, 3), np.int64)  # y, x, side of the squares placed so far (side 0: none)
    failed = np.zeros(n, bool)
    for j in range(k):
        options = np.floor(candidates[:, j] * room[:, j, None, :]).astype(np.int64)  # (n, c, 2)
        squares = np.concatenate([options, np.broadcast_to(sides[:, j, None, None], (*options.shape[:2], 1))], axis=-1)
        if max_iou >= 1 or j == 0:
            allowed = np.ones(options.shape[:2], bool)
        else:
            iou = _iou(squares[:, :, None, :], placed[:, None, :j, :])  # (n, c, j)
            live = placed[:, None, :j, 2] > 0
            allowed = ~(live & (iou > max_iou)).any(axis=2)
        first = allowed.argmax(axis=1)
        ok = allowed[np.arange(n), first]
        chosen = options[np.arange(n), first]
        here = present[:, j] & ok
        corners[here, j] = chosen[here]
        placed[here, j] = np.concatenate([chosen[here], sides[here, j, None]], axis=-1)
        failed |= present[:, j] & ~ok
    for b in np.flatnonzero(failed).tolist():
        slots = np.flatnonzero(present[b])
        cells = fallback(b, _cells(int(sides[b, slots].max()), height, width, max_iou))
        corners[b] = 0
        corners[b, slots] = cells[: len(slots)]
    return corners


def _cells(side: int, height: int, width: int, max_iou: float) -> np.ndarray:
    """Top-left corners ``(m, 2)`` of the grid of :func:`fits` for squares up to ``side``."""
    step = _grid_step(side, max_iou)
    rows, cols = np.arange(0, height - side + 1, step), np.arange(0, width - side + 1, step)
    return np.stack(np.meshgrid(rows, cols, indexing="ij"), axis=-1).reshape(-1, 2)


def _grid_step(side: int, max_iou: float) -> int:
    """The least shift at which two squares of ``side`` px overlap by an IoU of ``max_iou`` at most."""
    return max(1, math.ceil(side * (1 - max_iou) / (1 + max_iou)))


def render_scenes(glyphs: np.ndarray, sides: np.ndarray, corners: np.ndarray, present: np.ndarray, height: int,
                  width: int, *, clutter: tuple[np.ndarray, np.ndarray] | None = None, combine: str = "max",
                  out: np.ndarray | None = None, labels: np.ndarray | None = None,
                  paper: np.ndarray | None = None) -> np.ndarray:
    """Paint ``n`` scenes: uint8 ``(n, height, width)``, ink high on 0; returns the glyphs' boxes.

    Parameters
    ----------
    glyphs : (n, k, 28, 28) uint8
    sides, corners, present : (n, k), (n, k, 2), (n, k)
        Each glyph's square: side, top-left corner, and whether the slot holds one.
    clutter : ((n, m, c, c) uint8, (n, m, 2) ints), optional
        Pieces strewn first, and their top-left corners.
    combine : {"max", "sum"}
        The sum is clipped at 255.
    out : (n, height, width) uint8, optional
    labels : (n, height, width) unsigned ints, optional
        Filled with label images: 0 on paper (and where clutter or the paper is darker), ``j + 1`` where
        glyph ``j`` is the darkest ink (the first, on a tie).
    paper : (n, height, width) uint8, optional
        The canvas before anything is strewn or placed (a noisy paper); 0 without it.

    Returns
    -------
    numpy.ndarray
        int32 boxes ``(n, k, 4)`` ``[x0, y0, x1, y1]`` (ends exclusive) of each glyph's ink; an empty
        box (all 0) for a slot without a glyph or a glyph without ink.

    Examples
    --------
    >>> g = np.zeros((1, 1, 28, 28), np.uint8); g[0, 0, 10:18, 6:20] = 255
    >>> frames = np.empty((1, 40, 40), np.uint8)
    >>> render_scenes(g, np.array([[28]]), np.array([[[5, 9]]]), np.ones((1, 1), bool), 40, 40, out=frames).tolist()
    [[[15, 15, 29, 23]]]
    >>> int(frames[0, 15, 15]), int(frames[0, 14, 15])
    (255, 0)
    """
    n, k = sides.shape
    canvas = np.empty((n, height, width), np.uint8) if out is None else out
    if paper is None:
        canvas.fill(0)
    else:
        canvas[...] = paper
    if labels is not None:
        labels.fill(0)
    # the ink a glyph's pixel must pass to be its own: the paper's and any ink under it
    darkest = canvas if combine == "max" or labels is None else np.zeros_like(canvas) if paper is None \
        else paper.copy()
    if clutter is not None:
        pieces, spots = clutter
        size = pieces.shape[-1]
        for b in range(n):
            for piece, (y, x) in zip(pieces[b], spots[b].tolist(), strict=True):
                _combine(canvas[b, y : y + size, x : x + size], piece, combine)
                if darkest is not canvas:
                    np.maximum(darkest[b, y : y + size, x : x + size], piece, out=darkest[b, y : y + size, x : x + size])
    boxes = np.zeros((n, k, 4), np.int32)
    resized = _resize_all(glyphs, sides, present)
    for b, j in zip(*np.nonzero(present), strict=True):
        glyph, (col_lo, col_hi, row_lo, row_hi) = resized[b, j]
        side = glyph.shape[0]
        y, x = corners[b, j].tolist()
        window = np.s_[b, y : y + side, x : x + side]
        if labels is not None:
            labels[window][glyph > darkest[window]] = j + 1
            if darkest is not canvas:
                np.maximum(darkest[window], glyph, out=darkest[window])
        _combine(canvas[window], glyph, combine)
        if col_hi > col_lo:
            boxes[b, j] = (x + col_lo, y + row_lo, x + col_hi, y + row_hi)
    return boxes


def _combine(window: np.ndarray, ink: np.ndarray, combine: str) -> None:
    if combine == "max":
        np.maximum(window, ink, out=window)
    else:  # a clipped sum, in 8 bits: window + min(ink, 255 - window)
        np.add(window, np.minimum(ink, 255 - window), out=window)


def _extents(glyphs: np.ndarray) -> np.ndarray:
    """``(m, 4)`` ``col_lo, col_hi, row_lo, row_hi`` of the ink (any value above 0) of ``(m, s, s)`` glyphs
    (``0, 0, 0, 0`` for one without ink): :func:`.layout.ink_extents`, lean for many small groups."""
    side = glyphs.shape[-1]
    cols, rows = glyphs.max(axis=1) > 0, glyphs.max(axis=2) > 0
    found = cols.any(axis=1)
    out = np.stack([cols.argmax(axis=1), side - cols[:, ::-1].argmax(axis=1),
                    rows.argmax(axis=1), side - rows[:, ::-1].argmax(axis=1)], axis=1)
    out[~found] = 0
    return out


def _resize_all(glyphs: np.ndarray, sides: np.ndarray, present: np.ndarray) -> dict:
    """``{(b, j): (glyph resized to its side, uint8; its ink extents)}`` for every present slot, each size's
    glyphs resized together (``A @ G @ A.T``)."""
    out = {}
    where = np.argwhere(present)
    if not len(where):
        return out
    wanted = sides[present]
    order = np.argsort(wanted, kind="stable")  # the glyphs of each side together: one gather, then slices
    wanted, where = wanted[order], where[order]
    flat = glyphs[where[:, 0], where[:, 1]]
    starts = np.flatnonzero(np.r_[True, wanted[1:] != wanted[:-1]])
    for a, b in zip(starts.tolist(), [*starts[1:].tolist(), len(wanted)], strict=True):
        side, picked = int(wanted[a]), where[a:b]
        if side == glyphs.shape[-1]:
            made = flat[a:b]
        else:
            matrix = resize_matrix(side, glyphs.shape[-1])
            resized = matrix @ flat[a:b].astype(np.float64) @ matrix.T
            # Half-way values are common (an even enlargement's weights are quarters): rounded half up past a
            # margin far above float64's error and far below the gap to any other value, the same bytes come
            # from any BLAS, CPU or batch. The weights are convex: values stay in 0..255.
            made = np.floor(resized + (0.5 + TIE_MARGIN), out=resized).astype(np.uint8)
        extents = _extents(made).tolist()
        for (b, j), glyph, extent in zip(picked.tolist(), made, extents, strict=True):
            out[b, j] = (glyph, extent)
    return out
