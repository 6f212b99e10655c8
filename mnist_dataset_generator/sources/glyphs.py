"""Glyph sources: what the renderer needs of a set of glyphs (:class:`GlyphSource`), and MNIST's,
:class:`MnistData`, digit images and labels of one split, indexed by digit.

A source is images of one glyph size, each labelled by its class, a position in the source's
``alphabet`` (the characters a label string may hold); strings and class arrays convert
through :func:`encode_text` and :func:`decode_rows` only, so another glyph set (letters, a
folder of your own) needs no change in the renderer.

:func:`mnist_dataset_generator.mnistdata.load` reads a verified split into one (memory-mapped, read-only);
:meth:`MnistData.from_arrays` wraps your own digits. Either way the arrays are
checked (:func:`_check_arrays`) and grouped by digit once, so sampling a digit is
an index look-up (:meth:`MnistData.pick`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from .idx import IdxFormatError

__all__ = ["DIGITS", "GlyphSource", "MnistData", "decode_rows", "encode_text"]

DIGITS = "0123456789"  # MNIST's alphabet: class k is the character DIGITS[k]


@runtime_checkable
class GlyphSource(Protocol):
    """What the renderer reads of a glyph source.

    Attributes
    ----------
    images : (N, height, width) uint8
        Ink high on 0. The renderer draws 28 x 28 glyphs (``glyph_shape``).
    labels : (N,) ints
        Each image's class: a position in ``alphabet``.
    alphabet : str
        The characters of the classes, in class order.
    counts : (len(alphabet),) ints
        Images per class.
    """

    images: np.ndarray
    labels: np.ndarray
    alphabet: str
    counts: np.ndarray

    @property
    def glyph_shape(self) -> tuple[int, int]: ...

    def ink_of(self, index: np.ndarray) -> np.ndarray:
        """Ink extents ``col_lo, col_hi, row_lo, row_hi`` of images ``index``, for the boxes."""
        ...

    def pick(self, classes: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Image positions for ``classes`` from uniform draws ``u`` in [0, 1)."""
        ...


def encode_text(text: str, alphabet: str = DIGITS) -> np.ndarray:
    """The classes of ``text``'s characters (int64); a character outside ``alphabet`` is refused.

    Examples
    --------
    >>> encode_text("0741").tolist()
    [0, 7, 4, 1]
    """
    if alphabet == DIGITS and text.isascii() and text.isdigit():  # the common case, in one step
        return np.frombuffer(text.encode(), np.uint8).astype(np.int64) - 48
    try:
        return np.array([alphabet.index(char) for char in text], np.int64)
    except ValueError:
        bad = next(char for char in text if char not in alphabet)
        raise ValueError(f"{bad!r} is not in the alphabet {alphabet!r}") from None


def decode_rows(classes: np.ndarray, lengths: np.ndarray, alphabet: str = DIGITS) -> list[str]:
    """Row ``r``'s first ``lengths[r]`` classes as a string of ``alphabet``'s characters.

    Examples
    --------
    >>> decode_rows(np.array([[0, 7, 4], [4, 2, 0]]), np.array([3, 2]))
    ['074', '42']
    """
    codec = "ascii" if alphabet.isascii() else "utf-32-le"  # one byte a character where it can be
    table = np.frombuffer(alphabet.encode(codec), np.uint8 if codec == "ascii" else np.uint32)
    chars = table[classes]
    return [chars[r, :n].tobytes().decode(codec) for r, n in enumerate(np.asarray(lengths).tolist())]


@dataclass(frozen=True, eq=False)
class MnistData:
    """Digit images and labels of one split, ready for sampling.

    Attributes
    ----------
    images : numpy.ndarray
        ``uint8``, shape ``(N, 28, 28)``, ink 255 on 0 (MNIST polarity). Read-only.
    labels : numpy.ndarray
        ``uint8``, shape ``(N,)``, values 0..9. Read-only.
    digit_indices : tuple of numpy.ndarray
        ``digit_indices[d]`` holds the (``int64``, sorted) positions of every
        sample of digit ``d``; sample a digit with
        ``images[rng.choice(digit_indices[d])]``.
    counts : numpy.ndarray
        ``counts[d] == len(digit_indices[d])``, for the 10 digits.
    split : str
        ``"train"``, ``"test"`` or ``"custom"``.
    source : str
        Where the data came from (a folder, or ``"arrays"``).

    Examples
    --------
    >>> data = MnistData.from_arrays(np.zeros((3, 28, 28), np.uint8), [7, 1, 7])
    >>> len(data), data.digit_indices[7].tolist()
    (3, [0, 2])
    """

    images: np.ndarray
    labels: np.ndarray
    split: str = "custom"
    source: str = "arrays"
    alphabet: str = DIGITS  # label k is the character alphabet[k]
    digit_indices: tuple = field(init=False, repr=False)
    counts: np.ndarray = field(init=False, repr=False)
    _order: np.ndarray = field(init=False, repr=False)
    _offsets: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        _check_arrays(self.images, self.labels, f"{self.source} ({self.split})", self.alphabet)
        order = np.argsort(self.labels, kind="stable")
        counts = np.bincount(self.labels, minlength=len(self.alphabet))
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
        groups = tuple(np.split(order, offsets[1:]))
        for arr in (*groups, counts, order, offsets):
            arr.flags.writeable = False
        object.__setattr__(self, "digit_indices", groups)
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "_order", order)  # digit_indices side by side, for vectorised picks
        object.__setattr__(self, "_offsets", offsets)

    def pick(self, digits: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Sample positions for ``digits`` from uniform draws ``u`` in [0, 1): ``digit_indices[d][floor(u * count)]``.

        Any shapes that broadcast; every digit must have samples (see ``counts``).

        Examples
        --------
        >>> data = MnistData.from_arrays(np.zeros((4, 28, 28), np.uint8), [7, 1, 7, 7])
        >>> data.pick(np.array([7, 7, 1]), np.array([0.0, 0.99, 0.5])).tolist()
        [0, 3, 1]
        """
        counts = self.counts[digits]
        within = np.minimum((u * counts).astype(np.int64), counts - 1)  # u * count may round up to count
        return self._order[self._offsets[digits] + within]

    @property
    def glyph_shape(self) -> tuple[int, int]:
        """``(28, 28)``: the size of every image."""
        return tuple(self.images.shape[1:])

    def ink_of(self, index: np.ndarray) -> np.ndarray:
        """Ink extents ``col_lo, col_hi, row_lo, row_hi`` (ends exclusive; ``0, 0`` for a blank
        image) of images ``index``, shape ``index.shape + (4,)`` int16, for the boxes of
        unfiltered digits. Each image's is computed once, when first asked for: a worker pays
        for the glyphs it draws, not for the whole split at start-up.

        Examples
        --------
        >>> img = np.zeros((2, 28, 28), np.uint8); img[1, 5:9, 10:12] = 200
        >>> MnistData.from_arrays(img, [3, 4]).ink_of(np.array([1, 0])).tolist()
        [[10, 12, 5, 9], [0, 0, 0, 0]]
        """
        from ..compose.layout import ink_extents  # arithmetic only, no cycle

        index = np.asarray(index, np.intp)
        with _INK_LOCK:  # threads of one batch share the table: no half-written rows are read
            table = self.__dict__.get("_ink")
            if table is None:
                table = self.__dict__["_ink"] = np.full((len(self), 4), -1, np.int16)
            missing = index.ravel()[table[index.ravel(), 0] < 0]
            if missing.size:
                missing = np.unique(missing)
                table[missing] = ink_extents(self.images[missing])
            return table[index]

    @classmethod
    def from_arrays(cls, images, labels, *, name: str = "arrays") -> MnistData:
        """Wrap your own digits: ``(N, 28, 28)`` images, ink high on 0, and ``N`` labels 0..9.

        ``uint8`` input is used without a copy (through read-only views; your
        arrays stay writable). Other integer or float images must hold values
        in 0..255 and are converted to ``uint8``.
        """
        images = np.asarray(images)
        labels = np.asarray(labels)
        if images.dtype != np.uint8:
            if not np.issubdtype(images.dtype, np.number) or np.issubdtype(images.dtype, np.complexfloating):
                raise ValueError(f"{name}: images must be numbers in 0..255, got dtype {images.dtype}")
            if images.size:
                low, high = float(np.min(images)), float(np.max(images))
                if not (np.isfinite(low) and np.isfinite(high) and low >= 0 and high <= 255):
                    raise ValueError(f"{name}: image values must lie in 0..255, got {low:g}..{high:g}")
                if np.issubdtype(images.dtype, np.floating) and high <= 1:
                    raise ValueError(
                        f"{name}: float images span 0..{high:g}; scale them to 0..255 (multiply by 255)"
                    )
            images = np.rint(images).astype(np.uint8)
        if labels.dtype != np.uint8:
            if labels.size and (not np.issubdtype(labels.dtype, np.integer)
                                or labels.min() < 0 or labels.max() > 9):
                raise ValueError(f"{name}: labels must be integers 0..9")
            labels = labels.astype(np.uint8)
        images, labels = images.view(), labels.view()
        images.flags.writeable = labels.flags.writeable = False
        return cls(images, labels, split="custom", source=name)

    def __repr__(self) -> str:
        return f"MnistData(split={self.split!r}, samples={len(self)}, source={self.source!r})"

    def __len__(self) -> int:
        return len(self.labels)


_INK_LOCK = threading.Lock()



def _check_arrays(images: np.ndarray, labels: np.ndarray, name: str, alphabet: str = DIGITS) -> None:
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise IdxFormatError(
            f"{name}: images must be uint8 of shape (N, 28, 28), got {images.dtype} {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise IdxFormatError(f"{name}: labels must be uint8 of shape (N,), got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise IdxFormatError(f"{name}: {len(images)} images but {len(labels)} labels")
    if len(labels) == 0:
        raise IdxFormatError(f"{name}: holds no samples")
    last = len(alphabet) - 1
    if (top := int(labels.max())) > last:
        at = int(np.argmax(labels > last))
        raise IdxFormatError(f"{name}: labels must be 0..{last}, found {top} (first bad one at index {at})")
