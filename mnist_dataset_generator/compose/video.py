"""Moving digits (Moving MNIST, Srivastava, Mansimov and Salakhutdinov, 2015): trajectories and frames.

The original generator (``data_handler.py`` of emansim/unsupervised-videos) gives each digit a
start ``(y, x)`` uniform in the unit square and a direction ``theta`` uniform in ``[0, 2 pi)``;
every frame it first moves each coordinate by ``step * (sin theta, cos theta)``, then bounces:
a coordinate past 0 or 1 is set to that wall and its velocity reversed; the frame's top-left
corner is ``floor(coordinate * (canvas - 28))``; digits are combined by their maximum. The
functions here follow that rule exactly, for a batch of digits at once, from draws passed in
(so a sample stays a pure function of its seed), and give each digit's box in every frame.
"""

from __future__ import annotations

import numpy as np

from .layout import ink_extents

__all__ = ["CACHE_BYTES", "VIDEO_BLOCK", "cache_rows", "glyph_boxes", "paint", "picture", "picture_shape", "render_batch",
           "render_frames", "trajectories"]

VIDEO_BLOCK = 256  # sequences whose draws are made together (a constant of the format)


def trajectories(start: np.ndarray, theta: np.ndarray, step: np.ndarray, frames: int) -> np.ndarray:
    """Unit-square positions ``(frames, k, 2)`` (``y, x``) of ``k`` digits, the original rule frame by frame.

    Parameters
    ----------
    start : (k, 2) floats in [0, 1]
        Where each digit starts (before the first move).
    theta : (k,) floats
        Each digit's direction, radians.
    step : (k,) floats in [0, 1]
        Each digit's move per frame, as a share of the range it moves over.
    frames : int

    Examples
    --------
    >>> p = trajectories(np.array([[0.5, 0.95]]), np.array([0.0]), np.array([0.1]), 3)
    >>> p[:, 0, 1].round(2).tolist()  # moving right: the wall at 1 turns it back
    [1.0, 0.9, 0.8]
    """
    position = np.array(start, np.float64)
    velocity = np.stack([np.sin(theta), np.cos(theta)], axis=-1).astype(np.float64)
    step = np.asarray(step, np.float64)[:, None]
    out = np.empty((frames, *position.shape))
    for t in range(frames):
        position = position + velocity * step
        low, high = position <= 0, position >= 1.0
        position = np.where(low, 0.0, np.where(high, 1.0, position))
        velocity = np.where(low | high, -velocity, velocity)
        out[t] = position
    return out


def render_frames(glyphs: np.ndarray, corners: np.ndarray, height: int, width: int,
                  ink: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(frames, boxes)`` of one sequence: :func:`render_batch` of a batch of one.

    Examples
    --------
    >>> g = np.zeros((1, 28, 28), np.uint8); g[0, 10:12, 3:5] = 200
    >>> frames, boxes = render_frames(g, np.array([[[0, 0]], [[5, 30]]]), 64, 64)
    >>> int(frames[1, 15, 33]), boxes[:, 0].tolist()
    (200, [[3, 10, 5, 12], [33, 15, 35, 17]])
    """
    frames, boxes = render_batch(glyphs[None], corners[None], height, width, None if ink is None else ink[None])
    return frames[0], boxes[0]


def render_batch(glyphs: np.ndarray, corners: np.ndarray, height: int, width: int, ink: np.ndarray | None = None,
                 out: np.ndarray | None = None, boxes: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """``(frames, boxes)`` of ``N`` sequences: uint8 ``(N, T, height, width)``, ink high on 0, each frame the
    maximum of the ``k`` glyphs ``(N, k, 28, 28)`` placed at their top-left ``corners`` ``(N, T, k, 2)``
    (``row, column``); and int32 boxes ``(N, T, k, 4)`` of :func:`glyph_boxes` (``boxes=False``: ``None``,
    none computed). The frames are painted by :func:`paint`, :data:`CACHE_BYTES` of them at a time.
    """
    n, frames_count = corners.shape[:2]
    frames = np.empty((n, frames_count, height, width), np.uint8) if out is None else out
    block = cache_rows(frames.shape[1:])
    for a in range(0, n, block):
        paint(frames[a : a + block], glyphs[a : a + block], corners[a : a + block])
    if not boxes:
        return frames, None
    extents = ink_extents(glyphs.reshape(-1, *glyphs.shape[2:])).reshape(*glyphs.shape[:2], 4) if ink is None else ink
    return frames, glyph_boxes(corners, extents)


CACHE_BYTES = 1 << 20  # frames painted at once: zeroed, drawn into and read back while in a core's cache


def cache_rows(shape: tuple[int, ...]) -> int:
    """Sequences of ``shape`` (uint8) that :data:`CACHE_BYTES` holds, at least one.

    Examples
    --------
    >>> cache_rows((20, 64, 64))
    12
    """
    return max(1, CACHE_BYTES // int(np.prod(shape)))


def paint(frames: np.ndarray, glyphs: np.ndarray, corners: np.ndarray, labels: np.ndarray | None = None) -> None:
    """Fill ``frames`` (uint8 ``(N, T, H, W)``, C-contiguous) with the maximum of the ``k`` glyphs ``(N, k, h, w)``
    placed at ``corners`` ``(N, T, k, 2)`` (``row, column`` of each top-left), on 0; and ``labels`` (an
    unsigned integer array of the frames' shape, C-contiguous), if given, with label images: 0 on
    paper, ``j + 1`` where glyph ``j`` gives the pixel its value (the first, on a tie).

    Each ``w``-byte run of the canvas is seen as one item (a ``V{w}`` view, one byte apart), so a glyph
    row is copied whole: a slot is gathered, maximised and scattered back for every frame of every
    sequence at once, a row of items per glyph row. The first slot lands on zeros, so it is only written.

    Examples
    --------
    >>> f = np.empty((1, 2, 4, 5), np.uint8)
    >>> g = np.array([[[[1, 2], [3, 4]], [[9, 0], [0, 9]]]], np.uint8)
    >>> paint(f, g, np.array([[[[0, 0], [1, 1]], [[2, 3], [2, 3]]]]))
    >>> f[0, 0].tolist()
    [[1, 2, 0, 0, 0], [3, 9, 0, 0, 0], [0, 0, 9, 0, 0], [0, 0, 0, 0, 0]]
    >>> f[0, 1].tolist()
    [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 9, 2], [0, 0, 0, 3, 9]]
    >>> labels = np.empty(f.shape, np.uint8); paint(f, g, np.array([[[[0, 0], [1, 1]], [[2, 3], [2, 3]]]]), labels)
    >>> labels[0, 0].tolist()
    [[1, 1, 0, 0, 0], [1, 2, 0, 0, 0], [0, 0, 2, 0, 0], [0, 0, 0, 0, 0]]
    """
    if not frames.flags.c_contiguous or frames.dtype != np.uint8:
        raise ValueError("paint draws into C-contiguous uint8 frames")
    if labels is not None and (not labels.flags.c_contiguous or labels.shape != frames.shape):
        raise ValueError("paint writes labels into a C-contiguous array of the frames' shape")
    n, count, height, width = frames.shape
    k, rows, columns = glyphs.shape[1:]
    frames.fill(0)
    if labels is not None:
        labels.fill(0)
    if not frames.size or not k:
        return
    runs = _runs(frames, columns)
    label_runs = None if labels is None else _runs(labels, columns)
    firsts = np.arange(n * count, dtype=np.intp).reshape(n, count) * (height * width)
    down = np.arange(rows, dtype=np.intp) * width
    for j in range(k):
        where = (firsts + corners[:, :, j, 0] * width + corners[:, :, j, 1])[..., None] + down  # (N, T, h)
        glyph = np.ascontiguousarray(glyphs[:, j]).reshape(n, 1, rows * columns)
        if j == 0:
            runs[where] = glyph.view(runs.dtype)
            if label_runs is not None:
                label_runs[where] = (glyph > 0).astype(labels.dtype).view(label_runs.dtype)
            continue
        placed = runs[where]
        ink = placed.view(np.uint8)
        if label_runs is not None:
            owner = label_runs[where]
            mine = owner.view(labels.dtype)
            mine[glyph > ink] = j + 1
            label_runs[where] = owner
        np.maximum(ink, glyph, out=ink)
        runs[where] = placed


def _runs(array: np.ndarray, columns: int) -> np.ndarray:
    """Every run of ``columns`` elements of C-contiguous ``array``, one element apart, as one item each
    (a ``V`` dtype view of its memory): a glyph row copied whole by one index."""
    flat = array.reshape(-1)
    size = columns * array.itemsize
    return np.ndarray((flat.size - columns + 1,), np.dtype(f"V{size}"), buffer=flat, strides=(array.itemsize,))


def glyph_boxes(corners: np.ndarray, extents: np.ndarray) -> np.ndarray:
    """Int32 boxes ``(N, T, k, 4)`` ``[x0, y0, x1, y1]`` (ends exclusive) of each glyph's ink where it is placed:
    ``corners`` ``(N, T, k, 2)`` (``row, column``), ``extents`` ``(N, k, 4)`` (``col_lo, col_hi, row_lo,
    row_hi`` of its ink in the glyph); an empty box (all 0) for a glyph without ink.

    Examples
    --------
    >>> glyph_boxes(np.array([[[[5, 30]]]]), np.array([[[3, 5, 10, 12]]])).tolist()
    [[[[33, 15, 35, 17]]]]
    """
    col_lo, col_hi, row_lo, row_hi = (extents[:, None, :, i].astype(np.int32) for i in range(4))
    y0, x0 = corners[..., 0].astype(np.int32), corners[..., 1].astype(np.int32)
    found = np.stack([x0 + col_lo, y0 + row_lo, x0 + col_hi, y0 + row_hi], axis=-1)
    found[np.broadcast_to(col_hi <= col_lo, found.shape[:-1])] = 0  # a glyph without ink: an empty box
    return found.astype(np.int32)


def picture(image: np.ndarray) -> np.ndarray:
    """One picture of a sample: a strip as it is; a video's frames side by side, frame ``t`` in columns
    ``t * width`` to ``(t + 1) * width`` (how png, tar and lmdb store a video: one image per sample).

    Examples
    --------
    >>> picture(np.arange(8).reshape(2, 2, 2)).tolist()
    [[0, 1, 4, 5], [2, 3, 6, 7]]
    """
    if image.ndim == 2:
        return image
    frames, height, width = image.shape
    return image.transpose(1, 0, 2).reshape(height, frames * width)


def picture_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """The ``(rows, columns)`` of :func:`picture` of a sample of ``shape``."""
    return tuple(shape) if len(shape) == 2 else (shape[1], shape[0] * shape[2])
