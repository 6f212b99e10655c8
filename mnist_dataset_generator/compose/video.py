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

__all__ = ["VIDEO_BLOCK", "picture", "picture_shape", "render_batch", "render_frames", "trajectories"]

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
    (``row, column``); and int32 boxes ``(N, T, k, 4)`` ``[x0, y0, x1, y1]`` (ends exclusive) of each glyph's
    ink there (``ink``: its extents ``col_lo, col_hi, row_lo, row_hi``, ``(N, k, 4)``), an empty box for a
    glyph without ink (``boxes=False``: ``None``, none computed). One glyph of each slot per frame: a slot is written for all frames of all
    sequences at once (gathered, maximised, scattered back), not frame by frame.
    """
    n, frames_count, k = corners.shape[:3]
    size_y, size_x = glyphs.shape[2:]
    frames = np.zeros((n, frames_count, height, width), np.uint8) if out is None else out
    if out is not None:
        frames[...] = 0
    # Every glyph-sized window of every frame, as a view: indexing it by (sequence, frame, row, column)
    # copies whole 28 x 28 blocks, where per-pixel index arrays would gather pixel by pixel.
    windows = np.lib.stride_tricks.sliding_window_view(frames, (size_y, size_x), axis=(2, 3), writeable=True)
    seq = np.arange(n)[:, None]
    frame = np.arange(frames_count)[None, :]
    for j in range(k):
        where = (seq, frame, corners[:, :, j, 0], corners[:, :, j, 1])
        placed = windows[where]  # (N, T, 28, 28); one window per frame and slot: no two overlap
        np.maximum(placed, glyphs[:, j, None], out=placed)
        windows[where] = placed
    if not boxes:
        return frames, None
    extents = ink_extents(glyphs.reshape(-1, size_y, size_x)).reshape(n, k, 4) if ink is None else ink
    col_lo, col_hi, row_lo, row_hi = (extents[None, ..., i].astype(np.int32).transpose(1, 0, 2) for i in range(4))
    y0, x0 = corners[..., 0].astype(np.int32), corners[..., 1].astype(np.int32)
    found = np.stack([x0 + col_lo, y0 + row_lo, x0 + col_hi, y0 + row_hi], axis=-1)
    found[np.broadcast_to(col_hi <= col_lo, found.shape[:-1])] = 0  # a glyph without ink: an empty box
    return frames, found.astype(np.int32)


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
