"""Small MNIST-compatible files of drawn digits, for tests and offline use.

Each digit is a few pen strokes (polylines in a unit box) bent by a random
affine map and per-point jitter, then rendered with a random pen width as an
anti-aliased distance field, ink 255 on 0 in a 28x28 frame like MNIST. The
shapes are plain enough that a test can tell which digit landed where by
matching against class templates.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np

from .._files import atomic_write
from .idx import write_idx

__all__ = ["FILE_NAMES", "MAX_COUNT", "draw_digits", "write_glyph_folder", "write_test_data"]

log = logging.getLogger(__name__)

MAX_COUNT = 1_000_000
FILE_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
SUMS_NAME = "SHA256SUMS"


def _arc(cx, cy, rx, ry, start, stop, n=14):
    """Points on an ellipse arc; angles in degrees, y pointing down (90 = bottom)."""
    t = np.radians(np.linspace(start, stop, n))
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _line(*points):
    return np.array(points, dtype=float)


# Pen strokes per digit in a unit box, x to the right, y down.
_STROKES = {
    0: [_arc(0.5, 0.5, 0.32, 0.45, 0, 360, 28)],
    1: [_line((0.32, 0.22), (0.55, 0.04), (0.55, 0.96))],
    2: [np.vstack([_arc(0.5, 0.3, 0.32, 0.25, 190, 395), _line((0.12, 0.95), (0.9, 0.95))])],
    3: [_arc(0.48, 0.27, 0.3, 0.22, 200, 450), _arc(0.48, 0.72, 0.34, 0.24, 270, 520)],
    4: [_line((0.58, 0.04), (0.12, 0.65), (0.92, 0.65)), _line((0.7, 0.28), (0.7, 0.97))],
    5: [np.vstack([_line((0.85, 0.05), (0.27, 0.05)), _arc(0.5, 0.66, 0.33, 0.28, 230, 510)])],
    6: [np.vstack([_line((0.78, 0.04), (0.45, 0.2), (0.24, 0.45)), _arc(0.5, 0.7, 0.3, 0.26, 190, 550, 24)])],
    7: [_line((0.1, 0.07), (0.9, 0.07), (0.4, 0.97))],
    8: [_arc(0.5, 0.26, 0.25, 0.22, 0, 360, 22), _arc(0.5, 0.72, 0.31, 0.25, 0, 360, 24)],
    9: [_arc(0.48, 0.3, 0.3, 0.26, 0, 360, 22), _line((0.78, 0.3), (0.7, 0.97))],
}


def _segments(digit):
    """``(points, starts, ends)``: all stroke points and the index pairs of each segment."""
    points, starts = [], []
    offset = 0
    for stroke in _STROKES[digit]:
        points.append(stroke)
        starts.extend(range(offset, offset + len(stroke) - 1))
        offset += len(stroke)
    starts = np.array(starts)
    return np.vstack(points), starts, starts + 1


_PIXELS = np.stack(np.meshgrid(np.arange(28) + 0.5, np.arange(28) + 0.5, indexing="xy"), -1).reshape(-1, 2)


def draw_digits(labels, rng: np.random.Generator) -> np.ndarray:
    """Draw one random-looking handwritten-style image per label.

    Parameters
    ----------
    labels : array of int, values 0..9
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray
        ``uint8``, shape ``(len(labels), 28, 28)``, ink 255 on 0.

    Examples
    --------
    >>> img = draw_digits([1, 7], np.random.default_rng(0))
    >>> img.shape, img.dtype.name, bool(img[0].max() > 200)
    ((2, 28, 28), 'uint8', True)
    """
    labels = np.asarray(labels)
    n = len(labels)
    # Draw every random variable for all samples up front, in a fixed order, so
    # an image depends only on (rng state, position), not on the class grouping.
    angle = np.radians(rng.uniform(-12, 12, n))
    shear = rng.uniform(-0.25, 0.25, n)
    scale = np.stack([rng.uniform(0.75, 1.05, n), rng.uniform(0.88, 1.04, n)], axis=1)
    size = rng.uniform(0.85, 1.0, n)  # of the 20 px box
    shift = rng.uniform(-1.0, 1.0, (n, 2))
    pen = rng.uniform(0.9, 1.9, n)
    peak = rng.uniform(0.85, 1.0, n)
    jitter_seed = rng.integers(0, 2**63, n)

    out = np.zeros((n, 28 * 28), dtype=np.float32)
    for digit in range(10):
        where = np.flatnonzero(labels == digit)
        if where.size == 0:
            continue
        points, starts, ends = _segments(digit)
        for chunk in np.array_split(where, max(1, where.size // 128)):
            k = len(chunk)
            p = np.broadcast_to(points - 0.5, (k, *points.shape)).copy()
            for j, i in enumerate(chunk):
                p[j] += np.random.default_rng(jitter_seed[i]).normal(0, 0.012, points.shape)
            c, s = np.cos(angle[chunk]), np.sin(angle[chunk])
            x = p[..., 0] + shear[chunk, None] * p[..., 1]
            y = p[..., 1]
            xr, yr = c[:, None] * x - s[:, None] * y, s[:, None] * x + c[:, None] * y
            xr = xr * scale[chunk, 0, None] * 0.9  # digits are narrower than tall
            yr = yr * scale[chunk, 1, None]
            # As MNIST does: fit the ink's bounding box (pen included) into 20 px,
            # keeping the aspect ratio, and centre it in the 28 px frame.
            r = pen[chunk, None]
            lo = np.stack([xr.min(1), yr.min(1)], -1)
            hi = np.stack([xr.max(1), yr.max(1)], -1)
            fit = ((20 - 2 * r[:, 0]) / (hi - lo).max(axis=1))[:, None] * size[chunk, None]
            centre = (lo + hi) / 2
            px = 14 + shift[chunk, 0, None] + fit * (xr - centre[:, 0, None])
            py = 14 + shift[chunk, 1, None] + fit * (yr - centre[:, 1, None])
            pts = np.stack([px, py], -1)  # (k, P, 2)
            a, b = pts[:, starts], pts[:, ends]  # (k, S, 2)
            ab = b - a
            ap = _PIXELS[None, None] - a[:, :, None]  # (k, S, 784, 2)
            t = np.clip((ap * ab[:, :, None]).sum(-1) / np.maximum((ab**2).sum(-1), 1e-9)[..., None], 0, 1)
            d = np.sqrt(((ap - t[..., None] * ab[:, :, None]) ** 2).sum(-1)).min(axis=1)  # (k, 784)
            out[chunk] = np.clip(pen[chunk, None] + 0.5 - d, 0, 1) * peak[chunk, None]
    return np.rint(out * 255).astype(np.uint8).reshape(n, 28, 28)


def _labels(count: int, rng: np.random.Generator) -> np.ndarray:
    """Balanced labels (every digit present once ``count >= 10``), shuffled."""
    return rng.permutation(np.arange(count) % 10).astype(np.uint8)


def _check_count(arg: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= MAX_COUNT:
        raise ValueError(f"write_test_data: {arg} must be an integer in 1..{MAX_COUNT}, got {value!r}")
    return int(value)


def write_test_data(
    target_dir: str | os.PathLike,
    count_train: int = 1000,
    count_test: int = 200,
    seed: int | None = 0,
    *,
    overwrite: bool = False,
    source: str = "mnist",
) -> Path:
    """Write the four MNIST files (gzip, official names) of drawn digits, plus ``SHA256SUMS``.

    The folder then works as ``data_home`` (accepted through its
    ``SHA256SUMS``) or as a ``file://`` mirror of the official layout.

    Parameters
    ----------
    target_dir : str or os.PathLike
        Created when missing.
    count_train, count_test : int, in 1..1000000
        Images per split; labels are balanced and shuffled.
    seed : int or None
        The same seed gives byte-identical files; ``None`` draws fresh
        entropy. The train and test images come from independent streams, so
        changing ``count_test`` leaves the training files unchanged.
    overwrite : bool
        Replace existing files of these names; otherwise refuse before writing.
    source : str, default "mnist"
        The glyph set whose layout the files take: MNIST's four gzip files (also ``fashion`` and
        ``kmnist``), QMNIST's, or EMNIST's zip (``emnist-*``, transposed images, letters from 1):
        ``load(..., source=source, data_home=folder)`` then reads them as that set (each class
        drawn with the strokes of digit ``k % 10``).

    Returns
    -------
    pathlib.Path
        ``target_dir``.

    Raises
    ------
    ValueError
        A count or the seed is out of range.
    FileExistsError
        One of the five files exists and ``overwrite`` is false.
    NotADirectoryError
        ``target_dir`` exists and is not a folder.

    Examples
    --------
    >>> import tempfile
    >>> folder = write_test_data(tempfile.mkdtemp(), count_train=20, count_test=10)
    >>> sorted(p.name for p in folder.iterdir())[0]
    'SHA256SUMS'
    """
    from .sets import glyph_set

    glyphs = glyph_set(source)
    count_train = _check_count("count_train", count_train)
    count_test = _check_count("count_test", count_test)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ValueError(f"write_test_data: seed must be a non-negative integer or None, got {seed!r}")
    target = Path(target_dir)
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(f"write_test_data: {target} exists and is not a folder")
    files = _layout(glyphs, count_train, count_test, np.random.SeedSequence(seed).entropy)
    names = (*files, SUMS_NAME)
    if not overwrite and (clash := [n for n in names if (target / n).exists()]):
        raise FileExistsError(
            f"write_test_data: {target} already holds {', '.join(clash)}; "
            "choose another folder or allow overwriting"
        )
    target.mkdir(parents=True, exist_ok=True)
    lines = []
    for name, data in files.items():  # data files first, the sums last: sums present => data complete
        with atomic_write(target / name) as out:
            out.write(data)
        lines.append(f"{hashlib.sha256(data).hexdigest()}  {name}\n")
    with atomic_write(target / SUMS_NAME) as out:
        out.write("".join(lines).encode())
    log.info("wrote %d train and %d test images to %s", count_train, count_test, target)
    return target


def _idx_gz(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    write_idx(buffer, array, compress=True)
    return buffer.getvalue()


def _layout(glyphs, count_train: int, count_test: int, entropy: int) -> dict[str, bytes]:
    """The files of ``glyphs``' layout (name -> bytes) holding drawn stand-ins: MNIST's gzip IDX files
    (mnist, fashion, kmnist), QMNIST's (labels: eight int32 columns), or EMNIST's zip, whose images
    are transposed and whose letters count from 1."""
    import io
    import zipfile

    splits = {}
    for index, (split, count) in enumerate((("train", count_train), ("test", count_test))):
        rng = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(index,)))
        classes = len(glyphs.alphabet)
        labels = rng.permutation(np.arange(count) % classes).astype(np.uint8) if classes != 10 else _labels(count, rng)
        splits[split] = (draw_digits(labels % 10, rng), labels)
    if glyphs.reader in ("idx", "idx-gz"):
        return {(name if name.endswith(".gz") else name + ".gz"): _idx_gz(array)
                for split, arrays in splits.items() for name, array in zip(glyphs.splits[split], arrays, strict=True)}
    if glyphs.reader == "qmnist":
        files = {}
        for split, (images, labels) in splits.items():
            table = np.zeros((len(labels), 8), np.int32)
            table[:, 0] = labels
            table[:, 5] = np.arange(len(labels))  # QMNIST's columns past the class: NIST ids and indices
            images_name, labels_name = glyphs.splits[split]
            files[images_name], files[labels_name] = _idx_gz(images), _idx_gz(table)
        return files
    buffer = io.BytesIO()  # emnist: one zip, its members at fixed times so the bytes repeat
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zipped:
        for split, (images, labels) in splits.items():
            images_member, labels_member = glyphs.members[split]
            for member, array in ((images_member, np.ascontiguousarray(images.transpose(0, 2, 1))),
                                  (labels_member, (labels + glyphs.label_offset).astype(np.uint8))):
                zipped.writestr(zipfile.ZipInfo(member, date_time=(2017, 2, 14, 0, 0, 0)), _idx_gz(array))
    return {glyphs.splits["train"][0]: buffer.getvalue()}


def write_glyph_folder(target_dir: str | os.PathLike, alphabet: str, per_class: int = 20, seed: int = 0, *,
                       layout: str = "png") -> Path:
    """Write a folder of your own glyphs (:mod:`.folder`) for ``alphabet``: stand-in images drawn with
    the strokes of digit ``k % 10`` for class ``k``, in the ``"png"`` layout (one sub-folder per
    character, dark ink on white) or the ``"idx"`` one (train and test IDX files, ``classes.txt``,
    ``SHA256SUMS``).

    Examples
    --------
    >>> import tempfile
    >>> folder = write_glyph_folder(tempfile.mkdtemp(), "abc", per_class=2)
    >>> sorted(p.name for p in (folder / "b").iterdir())
    ['0.png', '1.png']
    """
    from PIL import Image

    if layout not in ("png", "idx"):
        raise ValueError(f"write_glyph_folder: layout must be png or idx, got {layout!r}")
    from .folder import check_class

    if not alphabet or len(set(alphabet)) != len(alphabet):
        raise ValueError(f"write_glyph_folder: alphabet must hold distinct characters, got {alphabet!r}")
    for char in alphabet:
        check_class(char, "write_glyph_folder")
        if layout == "png" and char in "/\\.":  # a sub-folder per character: never a path outside it
            raise ValueError(f"write_glyph_folder: {char!r} cannot name a sub-folder; use layout='idx'")
    per_class = _check_count("per_class", per_class)
    target = Path(target_dir)
    target.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(alphabet)), per_class)
    images = draw_digits(labels % 10, rng)
    if layout == "png":
        for k, char in enumerate(alphabet):
            (target / char).mkdir(exist_ok=True)
            for i, image in enumerate(images[labels == k]):
                Image.fromarray(255 - image).save(target / char / f"{i}.png")
        return target
    lines = []
    for prefix, rows in (("train", slice(None)), ("t10k", slice(None, None, 2))):
        for kind, array in (("images-idx3-ubyte", images[rows]), ("labels-idx1-ubyte", labels[rows].astype(np.uint8))):
            name = f"{prefix}-{kind}"
            with atomic_write(target / name) as out:
                write_idx(out, array)
            lines.append(f"{hashlib.sha256((target / name).read_bytes()).hexdigest()}  {name}\n")
    (target / "classes.txt").write_text("".join(char + "\n" for char in alphabet), encoding="utf-8")
    (target / SUMS_NAME).write_text("".join(lines))
    return target
