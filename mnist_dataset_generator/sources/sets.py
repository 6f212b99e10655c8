"""The glyph sets a recipe may draw from (``source=``): each one's files, mirrors and alphabet.

A set's files are checked like MNIST's (SHA-256 of the *decompressed* content, see
:mod:`.verified`), fetched from its own mirrors in order, and kept in its own folder: the cache
folder itself for ``mnist`` (where earlier versions kept it), a subfolder named after the set
for the others. A folder given by the caller (``data_home=``, ``-d DIR``) is that set's
folder, used in place (read-only too) once its files match the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .glyphs import DIGITS
from .idx import IdxFormatError, decode_idx, read_idx

__all__ = ["SETS", "FileSpec", "GlyphSet", "glyph_set", "read_split"]


@dataclass(frozen=True)
class FileSpec:
    """One file of a set: its name and what its decompressed content must be.

    ``gz_size`` and ``gz_sha256`` describe the mirrors' gzip files where known; they are
    kept for reference only, since any faithful gzip (or none) is accepted.

    ``stored=True``: the publisher gives the digest of the file as published (an archive, kept
    as it is), so ``sha256`` is that of its bytes, ``size`` the most bytes it may be, and the
    file is fetched as ``base + name`` and never unpacked by the store.
    """

    name: str
    size: int
    sha256: str
    gz_size: int | None = None
    gz_sha256: str | None = None
    stored: bool = False


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
    reader: str = "idx"  # idx: plain IDX files the store keeps; idx-gz: gzip kept as published; qmnist; emnist
    members: dict[str, tuple[str, str]] | None = None  # emnist: the split's files inside the archive
    label_offset: int = 0  # subtracted from the file's labels (EMNIST letters count from 1)


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

# KMNIST, QMNIST and EMNIST publish digests of their archives, not of the content: those are
# checked over the stored bytes, as torchvision's dataset code (its `_CHECKSUMS`) checks them, and
# the archives are kept as published. Sizes are upper bounds (a download past one is abandoned).
KMNIST = GlyphSet(
    "kmnist", "Kuzushiji-MNIST (Clanuwat et al., 2018): ten cursive hiragana, classes 0-9 (o ki su tsu na ha ma ya "
              "re wo)", DIGITS,
    _table(
        FileSpec("train-images-idx3-ubyte.gz", 47040016,
                 "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4", stored=True),
        FileSpec("train-labels-idx1-ubyte.gz", 60008,
                 "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17", stored=True),
        FileSpec("t10k-images-idx3-ubyte.gz", 7840016,
                 "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5", stored=True),
        FileSpec("t10k-labels-idx1-ubyte.gz", 10008,
                 "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c", stored=True),
    ),
    {split: (images + ".gz", labels + ".gz") for split, (images, labels) in _IDX_NAMES.items()},
    ("https://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
    subfolder="kmnist", reader="idx-gz",
)

QMNIST = GlyphSet(
    "qmnist", "QMNIST (Yadav and Bottou, 2019): MNIST's digits reconstructed, with a 60,000-image test set",
    DIGITS,
    _table(
        FileSpec("qmnist-train-images-idx3-ubyte.gz", 47040016,
                 "9e26a7bf1683614e065d7b76460ccd52807165b3f22561fb782bd9f38c52b51d", stored=True),
        FileSpec("qmnist-train-labels-idx2-int.gz", 1920016,
                 "2c05dc77f6b916b38e455e97ab129a42a444f3dbef09b278a366f82904e0dd9f", stored=True),
        FileSpec("qmnist-test-images-idx3-ubyte.gz", 47040016,
                 "43fc22bf7498b8fc98de98369d72f752d0deabc280a43a7bcc364ab19e57b375", stored=True),
        FileSpec("qmnist-test-labels-idx2-int.gz", 1920016,
                 "9fbcbe594c3766fdf4f0b15c5165dc0d1e57ac604e01422608bb72c906030d06", stored=True),
    ),
    {"train": ("qmnist-train-images-idx3-ubyte.gz", "qmnist-train-labels-idx2-int.gz"),
     "test": ("qmnist-test-images-idx3-ubyte.gz", "qmnist-test-labels-idx2-int.gz")},
    ("https://raw.githubusercontent.com/facebookresearch/qmnist/master/",),
    subfolder="qmnist", reader="qmnist",
)

_EMNIST_ZIP = FileSpec("emnist-gzip.zip", 600_000_000,
                       "909a2a39c5e86bdd7662425e9b9c4a49bb582bf8d0edad427f3c3a9d0c6f7259", stored=True)
_EMNIST_MIRRORS = ("https://rds.westernsydney.edu.au/Institutes/MARCS/BENS/EMNIST/",)


def _emnist(kind: str, title: str, alphabet: str, label_offset: int = 0) -> GlyphSet:
    """One of EMNIST's sets: all are members of one zip (kept once, in the ``emnist`` subfolder)."""
    members = {split: tuple(f"gzip/emnist-{kind}-{split}-{part}-ubyte.gz" for part in ("images-idx3", "labels-idx1"))
               for split in ("train", "test")}
    return GlyphSet(f"emnist-{kind}", title, alphabet, _table(_EMNIST_ZIP),
                    {split: (_EMNIST_ZIP.name, _EMNIST_ZIP.name) for split in members}, _EMNIST_MIRRORS,
                    subfolder="emnist", reader="emnist", members=members, label_offset=label_offset)


_LOWER = "abcdefghijklmnopqrstuvwxyz"
EMNIST_DIGITS = _emnist("digits", "EMNIST Digits (Cohen et al., 2017): 280,000 handwritten digits from NIST", DIGITS)
EMNIST_LETTERS = _emnist("letters", "EMNIST Letters: 26 letters, upper and lower case merged, written a-z", _LOWER,
                         label_offset=1)
EMNIST_BALANCED = _emnist("balanced", "EMNIST Balanced: 47 classes, digits, A-Z and the 11 lower-case letters "
                          "unlike their capitals", DIGITS + _LOWER.upper() + "abdefghnqrt")

SETS: dict[str, GlyphSet] = {s.name: s for s in (MNIST, FASHION, KMNIST, QMNIST, EMNIST_DIGITS, EMNIST_LETTERS,
                                                 EMNIST_BALANCED)}
"""Every glyph set by name."""


def read_split(glyphs: GlyphSet, paths: dict, split: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)`` of ``split`` from the verified files ``paths`` (name -> path): uint8
    ``(N, 28, 28)`` ink high, upright, and labels ``0 .. len(alphabet) - 1``."""
    images_name, labels_name = glyphs.splits[split]
    if glyphs.reader == "idx":  # plain copies kept by the store: memory-mapped, shared between processes
        return read_idx(paths[images_name], mmap=True), read_idx(paths[labels_name], mmap=True)
    if glyphs.reader == "idx-gz":
        return read_idx(paths[images_name]), read_idx(paths[labels_name])
    if glyphs.reader == "qmnist":  # labels: eight int32 columns per image, the class first
        table = read_idx(paths[labels_name])
        if table.ndim != 2 or table.shape[1] < 1 or len(table) and (table[:, 0].min() < 0 or table[:, 0].max() > 9):
            raise IdxFormatError(f"{paths[labels_name]}: not QMNIST's label table (N, 8) of classes 0-9")
        return read_idx(paths[images_name]), table[:, 0].astype(np.uint8)
    if glyphs.reader == "emnist":
        archive, (images_member, labels_member) = paths[images_name], glyphs.members[split]
        images, labels = (_zip_idx(archive, member) for member in (images_member, labels_member))
        if images.ndim == 3:
            images = np.ascontiguousarray(images.transpose(0, 2, 1))  # EMNIST stores each image transposed
        if labels.dtype == np.uint8 and glyphs.label_offset:
            if len(labels) and labels.min() < glyphs.label_offset:
                raise IdxFormatError(f"{archive}:{labels_member}: a label below {glyphs.label_offset}")
            labels = (labels - glyphs.label_offset).astype(np.uint8)
        return images, labels
    raise ValueError(f"unknown reader {glyphs.reader!r} of {glyphs.name}")


def _zip_idx(archive, member: str) -> np.ndarray:
    """The IDX array of the gzip ``member`` of the zip ``archive``."""
    import gzip
    import zipfile

    try:
        with zipfile.ZipFile(archive) as zipped, zipped.open(member) as stream:
            return decode_idx(gzip.decompress(stream.read()), f"{archive}:{member}")
    except KeyError:
        raise IdxFormatError(f"{archive}: holds no {member}") from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise IdxFormatError(f"{archive}:{member}: not readable ({exc})") from None


def glyph_set(name: str) -> GlyphSet:
    """The set called ``name``; an unknown one is refused, listing the known ones.

    Examples
    --------
    >>> glyph_set("fashion").alphabet
    '0123456789'
    >>> glyph_set("kanji")
    Traceback (most recent call last):
    ValueError: source must be one of mnist, fashion, kmnist, qmnist, emnist-digits, emnist-letters, emnist-balanced, got 'kanji'
    """
    found = SETS.get(name) if isinstance(name, str) else None
    if found is None:
        raise ValueError(f"source must be one of {', '.join(SETS)}, got {name!r}")
    return found
