"""What the samples say: strings of a pattern, and labels no two samples share.

A *label space* is every string a recipe may draw: each position offers some characters of
the glyph source's alphabet (a pattern's ``d`` the digits, ``a`` the letters, a literal one
character), and the lengths run over a range when there is no pattern. ``unique=True`` maps
sample ``i`` to string ``P(i)`` of that space, where ``P`` is a permutation of its ``M``
strings keyed by the seed (a Feistel network over the smallest even power of two holding
``M``, walked in cycles until it lands below ``M``; the cipher construction of Black and
Rogaway, "Ciphers with arbitrary finite domains", 2002). So labels are distinct for any
``count <= M``, each is a pure function of ``(seed, i)`` (any worker count, any order, any
epoch), every string of the space is equally likely, and nothing is remembered between samples.

Without ``unique``, a pattern's variable positions are drawn uniformly from their characters,
per block of samples as the other draws are (see :mod:`.sampling`).
"""

from __future__ import annotations

import functools
import hashlib
import math

import numpy as np

from .sources.glyphs import DIGITS
from .sources.pen import SEPARATORS

__all__ = ["LETTERS", "PURPOSE_UNIQUE", "SEPARATORS", "LabelSpace", "parse_pattern", "unique_indices"]

LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"  # what a pattern's "a" may draw
_ROUNDS = 6
PURPOSE_UNIQUE = 5  # the SeedSequence purpose key of the permutation's round keys (see :mod:`.sampling`)
_SMALL = 32  # half-widths up to this many bits run in NumPy's uint64, wider ones in Python integers
_INT64 = 2**62  # spaces up to this size are numbered in int64 arrays


def parse_pattern(pattern: str, alphabet: str = DIGITS) -> tuple[str, ...]:
    """The characters each position of ``pattern`` may hold.

    ``d``: any digit of ``alphabet``; ``a``: any letter of it; ``\\`` makes the next character
    literal (``\\d`` is the letter d); any other character stands for itself and must be in
    ``alphabet`` or be a separator (:data:`SEPARATORS`).

    Raises
    ------
    ValueError
        Empty, a class the alphabet has no character of, a character it lacks (named), or a
        trailing ``\\``.

    Examples
    --------
    >>> parse_pattern("dd-7")
    ('0123456789', '0123456789', '-', '7')
    >>> parse_pattern("da")
    Traceback (most recent call last):
    ValueError: pattern 'da': 'a' (any letter) but the alphabet '0123456789' has no letters
    """
    if not isinstance(pattern, str) or not pattern:
        raise ValueError(f"pattern must be a non-empty string such as 'ddd-dddd', got {pattern!r}")
    classes = {"d": ("digit", "digits"), "a": ("letter", "letters")}
    slots: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            char = next(chars, None)
            if char is None:
                raise ValueError(f"pattern {pattern!r}: ends with '\\' (it makes the next character literal)")
        elif char in classes:
            name, plural = classes[char]
            choices = "".join(c for c in alphabet if (c.isdigit() if char == "d" else c.isalpha()))
            if not choices:
                raise ValueError(f"pattern {pattern!r}: {char!r} (any {name}) but the alphabet {alphabet!r} has no "
                                 f"{plural}")
            slots.append(choices)
            continue
        if char not in alphabet and char not in SEPARATORS:
            raise ValueError(f"pattern {pattern!r}: {char!r} is neither in the alphabet {alphabet!r} nor a separator "
                             f"{SEPARATORS!r}")
        slots.append(char)
    return tuple(slots)


class LabelSpace:
    """Every string a recipe may draw, numbered ``0 .. size - 1``.

    Parameters
    ----------
    alphabet : str
        The characters, in class order (a position's characters are classes of it).
    slots : tuple of str, optional
        Per position, the characters it may hold (:func:`parse_pattern`): one length.
    lengths : (int, int), optional
        Without ``slots``: every string over ``alphabet`` of these lengths, shorter ones first.

    Examples
    --------
    >>> space = LabelSpace("0123456789", lengths=(1, 2))
    >>> space.size, space.strings(np.array([0, 9, 10, 109]))
    (110, ['0', '9', '00', '99'])
    >>> LabelSpace("0123456789-", slots=parse_pattern("d-d")).strings(np.array([57]))
    ['5-7']
    """

    def __init__(self, alphabet: str, *, slots: tuple[str, ...] | None = None,
                 lengths: tuple[int, int] | None = None) -> None:
        self.alphabet = alphabet
        if slots is not None:
            self.blocks = [(len(slots), math.prod(len(slot) for slot in slots))]
            self.slots = tuple(tuple(alphabet.index(c) for c in slot) for slot in slots)
        else:
            low, high = lengths
            self.slots = None
            self.blocks = [(n, len(alphabet) ** n) for n in range(low, high + 1)]
        self.size = sum(count for _, count in self.blocks)

    def classes(self, values: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
        """``(lengths, classes)`` of strings ``values`` (numbers below :attr:`size`), classes padded
        with 0 to ``width`` columns."""
        n = len(values)
        lengths = np.zeros(n, np.int64)
        classes = np.zeros((n, width), np.int64)
        values = np.asarray(values, np.int64 if self.size <= _INT64 else object)  # object: Python integers
        offset = 0
        for length, count in self.blocks:
            rows = np.flatnonzero((values >= offset) & (values < offset + count))
            if not len(rows):  # a length no sample has: nothing to decode (a range of 2,000 lengths)
                offset += count
                continue
            rest = values[rows] - offset
            for j in range(length - 1, -1, -1):  # the last position varies fastest
                radix = len(self.slots[j]) if self.slots else len(self.alphabet)
                digit = (rest % radix).astype(np.int64)  # % and // : NumPy has no divmod of Python integers
                rest = rest // radix
                classes[rows, j] = np.asarray(self.slots[j], np.int64)[digit] if self.slots else digit
            lengths[rows] = length
            offset += count
        return lengths, classes

    def strings(self, values: np.ndarray) -> list[str]:
        """The strings numbered ``values``."""
        from .sources.glyphs import decode_rows

        lengths, classes = self.classes(values, max(length for length, _ in self.blocks))
        return decode_rows(classes, lengths, self.alphabet)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: every input bit reaches every output bit (uint64, wrapping)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@functools.lru_cache(maxsize=16)
def _round_keys(entropy: int) -> tuple[int, ...]:
    state = np.random.SeedSequence(entropy, spawn_key=(0, PURPOSE_UNIQUE)).generate_state(_ROUNDS, np.uint64)
    return tuple(int(k) for k in state)


def _encrypt_small(x: np.ndarray, half: int, keys: tuple[int, ...]) -> np.ndarray:
    mask = np.uint64((1 << half) - 1)
    left, right = x >> np.uint64(half), x & mask
    with np.errstate(over="ignore"):
        for key in keys:
            f = _mix(right ^ np.uint64(key)) >> np.uint64(64 - half)
            left, right = right, left ^ f
    return (left << np.uint64(half)) | right


def _encrypt_big(x: int, half: int, keys: tuple[int, ...]) -> int:
    mask, nbytes = (1 << half) - 1, (half + 7) // 8
    left, right = x >> half, x & mask
    for key in keys:
        digest = hashlib.shake_256(key.to_bytes(8, "little") + right.to_bytes(nbytes, "little")).digest(nbytes)
        left, right = right, left ^ (int.from_bytes(digest, "little") & mask)
    return (left << half) | right


def unique_indices(indices: np.ndarray, size: int, entropy: int) -> np.ndarray:
    """``P(indices)``: the seed's permutation of ``0 .. size - 1`` at ``indices`` (int64 when
    ``size`` is at most 2**62, else Python integers in an object array).

    Examples
    --------
    >>> p = unique_indices(np.arange(1000), 1000, entropy=7)
    >>> sorted(p.tolist()) == list(range(1000)), p[:3].tolist() == unique_indices(np.arange(3), 1000, 7).tolist()
    (True, True)
    """
    bits = max(2, (size - 1).bit_length())
    half = (bits + 1) // 2
    keys = _round_keys(entropy)
    if half <= _SMALL:
        x = np.asarray(indices, np.uint64)
        todo = np.arange(len(x))
        while len(todo):  # cycle walking: a value past the space is enciphered again until it lands inside
            x[todo] = _encrypt_small(x[todo], half, keys)
            todo = todo[x[todo] >= np.uint64(size)]
        return x.astype(np.int64) if size <= _INT64 else np.array(x.tolist(), object)
    out = np.empty(len(indices), object)
    for r, i in enumerate(np.asarray(indices).tolist()):
        v = _encrypt_big(int(i), half, keys)
        while v >= size:
            v = _encrypt_big(v, half, keys)
        out[r] = v
    return out
