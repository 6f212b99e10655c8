"""The glyph sets a recipe may draw from (``source=``): each one's files, mirrors and alphabet.

A set's files are checked like MNIST's (SHA-256 of the *decompressed* content, see
:mod:`.verified`), fetched from its own mirrors in order, and kept in its own folder: the cache
folder itself for ``mnist`` (where earlier versions kept it), a subfolder named after the set
for the others. A folder given by the caller (``data_home=``, ``-d DIR``) is that set's
folder, used in place (read-only too) once its files match the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .glyphs import DIGITS

__all__ = ["SETS", "FileSpec", "GlyphSet", "glyph_set"]


@dataclass(frozen=True)
class FileSpec:
    """One file of a set: its name and what its decompressed content must be.

    ``gz_size`` and ``gz_sha256`` describe the mirrors' gzip files where known; they are
    kept for reference only, since any faithful gzip (or none) is accepted.
    """

    name: str
    size: int
    sha256: str
    gz_size: int | None = None
    gz_sha256: str | None = None


@dataclass(frozen=True)
class GlyphSet:
    """A glyph set: ``splits`` maps ``"train"``/``"test"`` to its (images, labels) file names, label
    ``k`` is the character ``alphabet[k]``; ``subfolder``: its folder inside the cache (``None``:
    the cache folder)."""

    name: str
    title: str
    alphabet: str
    files: dict[str, FileSpec] = field(repr=False)
    splits: dict[str, tuple[str, str]]
    mirrors: tuple[str, ...]
    subfolder: str | None = None


_IDX_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _table(*specs: FileSpec) -> dict[str, FileSpec]:
    return {spec.name: spec for spec in specs}


MNIST = GlyphSet(
    "mnist", "MNIST handwritten digits (LeCun, Cortes and Burges)", DIGITS,
    _table(
        FileSpec("train-images-idx3-ubyte", 47040016,
                 "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                 9912422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        FileSpec("train-labels-idx1-ubyte", 60008,
                 "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                 28881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        FileSpec("t10k-images-idx3-ubyte", 7840016,
                 "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                 1648877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        FileSpec("t10k-labels-idx1-ubyte", 10008,
                 "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
                 4542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    ),
    _IDX_NAMES,
    ("https://ossci-datasets.s3.amazonaws.com/mnist/",
     "https://storage.googleapis.com/cvdf-datasets/mnist/",
     "https://yann.lecun.com/exdb/mnist/"),  # last: it often answers 403
)

# The decompressed digests are those of the publisher's files (zalandoresearch/fashion-mnist, whose
# README gives the gzip MD5s); Debian's dataset-fashion-mnist package holds the same content
# recompressed, which is why only the content is checked.
FASHION = GlyphSet(
    "fashion", "Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017): 10 kinds of clothing, classes 0-9",
    DIGITS,
    _table(
        FileSpec("train-images-idx3-ubyte", 47040016,
                 "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
        FileSpec("train-labels-idx1-ubyte", 60008,
                 "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
        FileSpec("t10k-images-idx3-ubyte", 7840016,
                 "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
        FileSpec("t10k-labels-idx1-ubyte", 10008,
                 "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
    ),
    _IDX_NAMES,
    ("https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
     "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
    subfolder="fashion",
)

SETS: dict[str, GlyphSet] = {s.name: s for s in (MNIST, FASHION)}
"""Every glyph set by name."""


def glyph_set(name: str) -> GlyphSet:
    """The set called ``name``; an unknown one is refused, listing the known ones.

    Examples
    --------
    >>> glyph_set("fashion").alphabet
    '0123456789'
    >>> glyph_set("kanji")
    Traceback (most recent call last):
    ValueError: source must be one of mnist, fashion, got 'kanji'
    """
    found = SETS.get(name) if isinstance(name, str) else None
    if found is None:
        raise ValueError(f"source must be one of {', '.join(SETS)}, got {name!r}")
    return found
