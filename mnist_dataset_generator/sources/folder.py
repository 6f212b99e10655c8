"""A folder of the user's own glyphs, as a glyph source (``source="path/to/folder"``, ``--source DIR``).

Two layouts, told apart by ``classes.txt``:

* **IDX**: ``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte`` (plain or ``.gz``; the
  ``t10k-*`` pair for ``split="test"``), a ``SHA256SUMS`` that lists each of them (their
  stored bytes, as ``sha256sum`` writes it), and ``classes.txt``: line ``k`` is the one
  character of label ``k`` (a line of one space is the space).
* **PNG**: one sub-folder per character, named by it (``DIR/a/*.png``, ``DIR/7/*.png``), of
  28 x 28 grayscale PNGs, dark ink on white or light ink on black (told by the border); the
  classes are the sub-folders' names in sorted order; there is one split, ``train``.

Every class must have images, every image must be 28 x 28. Nothing is written in the folder
(read-only folders work) and no file of it is ever moved. The arrays are checked as a built-in
set's are, and an export's manifest keeps their digest, so a folder changed since an export
is not resumed into it.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np

from .glyphs import MnistData
from .idx import IdxFormatError, read_idx
from .sets import SETS
from .verified import SUMS_NAME, ChecksumError, read_sums

__all__ = ["CLASSES", "alphabet_of", "check_class", "folder_alphabet", "is_glyph_folder", "load_folder", "resolve"]

log = logging.getLogger(__name__)

CLASSES = "classes.txt"
_IDX = SETS["mnist"].splits  # the IDX layout names its files as MNIST does
_SIZE = 28


def resolve(source: str) -> str:
    """``source`` as a recipe keeps it: a built-in set's name, or a glyph folder's absolute path.

    Raises
    ------
    ValueError
        Neither (the known names are listed).

    Examples
    --------
    >>> resolve("fashion")
    'fashion'
    >>> resolve("no/such/folder")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: source must be one of mnist, fashion, ..., or a folder of your glyphs; got 'no/such/folder' (no such folder)
    """
    if isinstance(source, str) and source in SETS:
        return source
    if not isinstance(source, (str, os.PathLike)) or not os.fspath(source).strip():
        raise ValueError(f"source must be one of {', '.join(SETS)}, or a folder of your glyphs; got {source!r}")
    path = Path(os.path.expanduser(os.fspath(source))).resolve()  # one spelling: links and .. resolved
    if not path.is_dir():
        raise ValueError(f"source must be one of {', '.join(SETS)}, or a folder of your glyphs; got {source!r} "
                         "(no such folder)")
    return os.fspath(path)


def is_glyph_folder(source: str) -> bool:
    """Whether ``source`` (as :func:`resolve` gives it) names a folder rather than a built-in set."""
    return source not in SETS


def alphabet_of(source: str) -> str:
    """The alphabet of ``source`` (as :func:`resolve` gives it): a built-in set's, or a folder's."""
    return folder_alphabet(source) if is_glyph_folder(source) else SETS[source].alphabet


def check_class(char: str, where: str) -> str:
    """``char`` if it can name a class: one printable character that every index file can hold (not a comma or
    a double quote, which CSV quotes; not a control character, which lines and tabs are made of)."""
    import unicodedata

    try:
        char.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{where}: a name that is not text (undecodable bytes in a file name?)") from None
    if len(char) != 1 or char in ',"' or (char != " " and not char.isprintable()) \
            or unicodedata.category(char).startswith("C"):
        raise ValueError(f"{where}: {char!r} cannot name a class (one printable character, not a comma or a "
                         "double quote)")
    return char


def folder_alphabet(path: str | os.PathLike) -> str:
    """The characters of a glyph folder's classes, in class order (no image is read).

    Raises
    ------
    ValueError
        ``classes.txt`` or the sub-folders do not name one character per class, once each.
    """
    path = Path(path)
    if (path / CLASSES).is_file():
        try:
            lines = (path / CLASSES).read_text(encoding="utf-8-sig").split("\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path / CLASSES}: cannot be read as UTF-8 text ({exc})") from None
        if lines and lines[-1] == "":
            lines.pop()
        chars = [line.removesuffix("\r") for line in lines]
        where = f"{path / CLASSES}"
        for number, char in enumerate(chars, 1):
            if len(char) != 1:
                raise ValueError(f"{where} line {number}: {char!r} is not one character (line k names the "
                                 "character of label k)")
            check_class(char, f"{where} line {number}")
    else:
        try:
            chars = sorted(entry.name for entry in path.iterdir() if entry.is_dir() and not entry.name.startswith("."))
        except OSError as exc:
            raise ValueError(f"{path}: cannot list its sub-folders ({exc.strerror or exc})") from None
        where = f"{path}"
        for name in chars:
            if len(name) != 1:
                raise ValueError(f"{path}: sub-folder {name!r} is not named by one character (a PNG glyph folder "
                                 f"holds one sub-folder per character), and there is no {CLASSES}")
            check_class(name, f"{path}: sub-folder")
    if not chars:
        raise ValueError(f"{path}: no classes ({CLASSES} for IDX files, or one sub-folder of PNGs per character)")
    if len(set(chars)) != len(chars):
        twice = next(c for c in chars if chars.count(c) > 1)
        raise ValueError(f"{where}: {twice!r} names two classes")
    if len(chars) > 255:
        raise ValueError(f"{where}: {len(chars)} classes, more than the 255 labels a byte holds")
    return "".join(chars)


def load_folder(path: str | os.PathLike, split: str = "train") -> MnistData:
    """The glyphs of one split of a glyph folder (see the module's docstring for the layouts).

    Raises
    ------
    ValueError
        A layout problem: a missing file or split, a class without images, an image of another size,
        ``SHA256SUMS`` not listing a file (each names the file or class).
    ChecksumError
        A file differs from its ``SHA256SUMS`` line.
    IdxFormatError
        An IDX file is not valid IDX (labels past ``classes.txt``: ValueError).
    """
    path = Path(path)
    alphabet = folder_alphabet(path)
    if (path / CLASSES).is_file():
        images, labels = _idx_split(path, split, alphabet)
    else:
        if split != "train":
            raise ValueError(f"{path}: a PNG glyph folder has one split, train (got split {split!r})")
        images, labels = _png_images(path, alphabet)
    try:
        data = MnistData(images, labels, split=split, source=os.fspath(path), alphabet=alphabet)
    except IdxFormatError as exc:  # labels past classes.txt: the folder's layout, a usage error
        raise ValueError(f"{exc} ({len(alphabet)} classes in {CLASSES})") from None
    empty = [alphabet[k] for k in np.flatnonzero(data.counts == 0)]
    if empty:
        raise ValueError(f"{path}: class {empty[0]!r} has no images in {split}"
                         + (f" ({len(empty)} classes have none)" if len(empty) > 1 else ""))
    log.debug("loaded %d glyphs of %d classes from %s", len(data), len(alphabet), path)
    return data


def _idx_split(path: Path, split: str, alphabet: str) -> tuple[np.ndarray, np.ndarray]:
    sums = read_sums(path)
    if not sums:
        raise ValueError(f"{path}: a glyph folder of IDX files needs {SUMS_NAME} listing them "
                         f"(sha256sum {' '.join(_IDX[split])} > {SUMS_NAME})")
    arrays = []
    for name in _IDX[split]:
        found = [f for f in (name, name + ".gz") if (path / f).is_file()]
        if not found:
            raise ValueError(f"{path}: {name} (or {name}.gz) is missing, which split {split!r} needs")
        listed = [f for f in found if f in sums]
        if not listed:
            raise ValueError(f"{path}: {found[0]} is not listed in {SUMS_NAME}")
        file = path / listed[0]
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        if digest != sums[listed[0]]:
            raise ChecksumError(f"{file} does not match {path / SUMS_NAME}: sha256 {digest}, listed "
                                f"{sums[listed[0]]}; restore the file or update {SUMS_NAME}")
        arrays.append(read_idx(file))
    images, labels = arrays
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (_SIZE, _SIZE):
        raise ValueError(f"{path}: {_IDX[split][0]} holds {images.dtype} images of {images.shape[1:]}, not "
                         f"{_SIZE} x {_SIZE} uint8")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise IdxFormatError(f"{path}: {_IDX[split][1]} holds {labels.dtype} {labels.shape}, not uint8 labels")
    return images, labels


def _png_images(path: Path, alphabet: str) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image, UnidentifiedImageError

    images, labels = [], []
    for k, char in enumerate(alphabet):
        try:
            files = sorted(f for f in (path / char).iterdir() if f.suffix.lower() == ".png" and f.is_file())
        except OSError as exc:
            raise ValueError(f"{path / char}: cannot be listed ({exc.strerror or exc})") from None
        for file in files:
            try:
                with Image.open(file) as image:
                    if image.size != (_SIZE, _SIZE):
                        raise ValueError(f"{file}: {image.size[0]} x {image.size[1]} px, not {_SIZE} x {_SIZE}")
                    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:  # ink on transparency
                        paper = Image.new("RGBA", image.size, (255, 255, 255, 255))
                        image = Image.alpha_composite(paper, image.convert("RGBA"))
                    pixels = np.asarray(image.convert("L"))
            except (OSError, UnidentifiedImageError) as exc:
                raise ValueError(f"{file}: not a readable PNG ({exc})") from None
            border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
            images.append(255 - pixels if border.mean() > 127 else pixels)  # ink high, as MNIST's
            labels.append(k)
    if not images:
        raise ValueError(f"{path}: no PNG files in its sub-folders")
    return np.stack(images), np.array(labels, np.uint8)
