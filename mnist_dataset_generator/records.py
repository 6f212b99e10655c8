"""What a sample is once made: a :class:`Record`, and a :class:`Batch` of consecutive ones.

The renderer fills batches; workers encode their images where they are made; writers and
callers read records. A new field (boxes today, masks tomorrow) is one attribute here and
reaches every writer without new signatures.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Batch", "Record", "line_boxes", "line_ranges", "pad_boxes"]

NO_BOX = -1  # the padding of boxes past a sample's length


@dataclass(frozen=True)
class Record:
    """One sample.

    Attributes
    ----------
    index : int
        Its position in the dataset.
    label : str
        The digit string, e.g. ``"0741"`` (leading zeros kept).
    boxes : numpy.ndarray
        ``(len(label), 4)`` ints ``[x0, y0, x1, y1]`` in output pixels, ends exclusive: where each
        digit's ink lies in the image, in reading order; a video's are ``(frames, len(label), 4)``,
        each frame's.
    image : numpy.ndarray, bytes or None
        The pixels, their encoding (PNG bytes, where a format encodes image by image), or
        ``None`` where the batch's images travel as one piece (:attr:`Batch.payload`).
    mask : numpy.ndarray or None
        The label image, of the image's shape: 0 on paper, ``i + 1`` where character ``i``'s
        visible ink shows (``None`` when masks were not asked for).
    """

    index: int
    label: str
    boxes: np.ndarray
    image: Any = None
    mask: np.ndarray | None = None

    @property
    def line_boxes(self) -> np.ndarray:
        """The boxes of its lines (a page's, ``layout="lines"``; a strip is one line): :func:`line_boxes`."""
        return line_boxes(self.label, self.boxes)


@dataclass(frozen=True)
class Batch:
    """Samples ``start .. start + len(labels)`` made together.

    Attributes
    ----------
    start : int
    labels : list of str
    boxes : numpy.ndarray or None
        ``(count, longest, 4)`` int32 (a video's ``(count, frames, longest, 4)``), rows past a
        label's length filled with -1 (``None`` when the boxes were not asked for).
    images : numpy.ndarray, list or None
        ``(count, height, width)`` pixels (a video's ``(count, frames, height, width)``), a list of per-image encodings, or ``None`` when the
        pixels were written into the caller's array.
    payload : object, optional
        The batch's images encoded as one piece (a deflated part of an ``.npy``).
    masks : numpy.ndarray or None
        ``(count, *shape)`` label images (uint8, or uint16 past 254 characters), ``None`` when the
        masks were not asked for.
    """

    start: int
    labels: list[str]
    boxes: np.ndarray | None
    images: Any = None
    payload: Any = None
    masks: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def stop(self) -> int:
        return self.start + len(self.labels)

    def records(self) -> Iterator[Record]:
        """The batch's samples one by one (boxes cut to each label's length)."""
        images = self.images if self.images is not None else [None] * len(self.labels)
        for k, (label, image) in enumerate(zip(self.labels, images, strict=True)):
            boxes = None if self.boxes is None else self.boxes[k, ..., : len(label), :]
            yield Record(self.start + k, label, boxes, image, None if self.masks is None else self.masks[k])


def pad_boxes(boxes: list[np.ndarray], longest: int | None = None) -> np.ndarray:
    """Per-sample ``(n_i, 4)`` boxes as one ``(count, longest, 4)`` int32 array padded with -1.

    Examples
    --------
    >>> pad_boxes([np.array([[0, 1, 5, 9]]), np.zeros((2, 4), int)])[0].tolist()
    [[0, 1, 5, 9], [-1, -1, -1, -1]]
    """
    longest = max((len(b) for b in boxes), default=0) if longest is None else longest
    out = np.full((len(boxes), longest, 4), NO_BOX, np.int32)
    for k, b in enumerate(boxes):
        out[k, : len(b)] = b
    return out


def line_boxes(label: str, boxes: np.ndarray) -> np.ndarray:
    """The boxes of a page's lines: for each line of ``label`` (its lines parted by ``"\\n"``, whose own box
    is -1), the smallest box holding its characters' boxes, ``[x0, y0, x1, y1]``, ends exclusive; -1 for a
    line with no visible ink.

    Parameters
    ----------
    label : str
    boxes : numpy.ndarray
        ``(len(label), 4)``, a character's -1 when it shows no ink.

    Returns
    -------
    numpy.ndarray
        ``(label.count("\\n") + 1, 4)`` int32.

    Examples
    --------
    >>> line_boxes("12\\n3", np.array([[0, 0, 9, 20], [30, 2, 40, 22], [-1] * 4, [5, 30, 15, 52]])).tolist()
    [[0, 0, 40, 22], [5, 30, 15, 52]]
    """
    boxes = np.asarray(boxes).reshape(-1, 4)
    if len(boxes) != len(label):
        raise ValueError(f"line_boxes: {len(boxes)} boxes for the {len(label)} characters of {label!r}")
    spans = line_ranges(label)
    out = np.full((len(spans), 4), NO_BOX, np.int32)
    for j, (start, stop) in enumerate(spans):
        mine = boxes[start:stop]
        mine = mine[(mine[:, 2] > mine[:, 0]) & (mine[:, 3] > mine[:, 1])]  # the characters that show
        if len(mine):
            out[j] = (*mine[:, :2].min(axis=0), *mine[:, 2:].max(axis=0))
    return out


def line_ranges(label: str) -> list[tuple[int, int]]:
    """``(start, stop)`` of each line's characters in ``label`` (the ``"\\n"`` between them left out).

    Examples
    --------
    >>> line_ranges("12\\n345")
    [(0, 2), (3, 6)]
    """
    out, at = [], 0
    for line in label.split("\n"):
        out.append((at, at + len(line)))
        at += len(line) + 1
    return out
