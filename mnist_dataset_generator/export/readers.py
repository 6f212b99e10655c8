"""Reading a dataset folder back, sample by sample, as each format stores it: :func:`stored_samples`.

For ``--verify --deep``, which compares what a folder holds with what its recipe and seed
make. Each sample comes with every label the folder gives it (``labels.csv`` and the
format's own: ``metadata.jsonl``, ``KEY.txt``, the npz's ``labels``, the LMDB's ``label-%09d``), so a folder whose
index files disagree with each other is caught too. A folder is read as untrusted input:
files are read in index order and streamed (tar shards, the npz's pixels), every line,
member and array is bounded by what the dataset's size allows before it is read, an image
of another size is never decoded, and anything past the last sample (a row, a member, an
array) is an error.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..compose.checks import MAX_DIGITS
from ..compose.video import picture_shape
from .folder import LABELS, MANIFEST
from .writers import LMDB_DATA, METADATA, NPZ, WRITERS, Options, TarWriter, lmdb_key

__all__ = ["Stored", "UnreadableError", "decode_mask_png", "decode_png", "stored_labels", "stored_samples"]

_ROW = 64 + 4 * MAX_DIGITS  # bytes of a labels.csv row, or a KEY.txt
_META = 4096 + 64 * MAX_DIGITS  # bytes of a metadata.jsonl row, or a KEY.json: a label and its boxes
_NPZ_MEMBERS = {"images.npy", "labels.npy", "boxes.npy", "lengths.npy"}


def _meta(shape: tuple[int, ...]) -> int:
    """Bytes of a metadata row of a sample of ``shape``: a video's hold the boxes of every frame."""
    return _META * (shape[0] if len(shape) == 3 else 1)


class UnreadableError(ValueError):
    """A file of the folder does not hold what its format says (named in the message)."""


@dataclass(frozen=True)
class Stored:
    """One sample as the folder holds it: where, every label it is given, its boxes, and its pixels.

    ``digest``: the SHA-256 of its PNG (from the folder's verified record, or of the tar member),
    so that a PNG made again with the same bytes needs no decoding; ``pixels()`` reads and decodes.
    """

    index: int
    where: str
    labels: tuple[str, ...]
    boxes: np.ndarray
    pixels: Callable[[], np.ndarray]
    digest: str | None = None
    mask: Callable[[], np.ndarray] | None = None
    line_boxes: np.ndarray | None = None  # a page's (layout="lines"), where the format holds them
    mask_where: str | None = None  # where its mask is, when not where its image is
    length: int | None = None  # the length a format records beside the label (npz), whose box rows are padded


def decode_png(data: bytes, where: str, shape: tuple[int, int] | None = None) -> np.ndarray:
    """The pixels of an 8-bit grayscale PNG of ``shape`` (rows, columns), checked from its header before
    anything is decoded (:class:`UnreadableError` naming ``where`` otherwise)."""
    return _decode(data, where, shape, ("L",), "an 8-bit grayscale PNG")[1]


def decode_mask_png(data: bytes, where: str, shape: tuple[int, int]) -> np.ndarray:
    """The label image of an 8- or 16-bit grayscale PNG of ``shape`` (rows, columns), checked from its header
    first (:class:`UnreadableError` naming ``where`` otherwise)."""
    # 16-bit grayscale opens as "I;16", or as "I" before Pillow 10.3
    mode, values = _decode(data, where, shape, ("L", "I;16", "I"), "an 8- or 16-bit grayscale PNG")
    if mode == "L":
        return values.astype(np.uint8)
    if values.size and (values.min() < 0 or values.max() > 65535):
        raise UnreadableError(f"{where}: values past 16 bits, not a label image")
    return values.astype(np.uint16)


def _decode(data: bytes, where: str, shape: tuple[int, int] | None, modes: tuple[str, ...], what: str
            ) -> tuple[str, np.ndarray]:
    """``(mode, pixels)`` of a PNG in one of ``modes`` (``what`` names them in the refusal) and of ``shape``,
    checked from its header before anything is decoded; any fault is one :class:`UnreadableError`."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.format != "PNG" or image.mode not in modes:
                    raise UnreadableError(f"{where}: a {image.format} {image.mode} image, not {what}")
                if shape is not None and image.size != (shape[1], shape[0]):
                    raise UnreadableError(f"{where}: {image.size[0]} x {image.size[1]} px, not the dataset's "
                                          f"{shape[1]} x {shape[0]}")
                return image.mode, np.asarray(image)
    except UnreadableError:
        raise
    except UnidentifiedImageError:  # its message names an in-memory buffer, not the file
        raise UnreadableError(f"{where}: not a readable PNG (not an image Pillow knows)") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise UnreadableError(f"{where}: not a readable PNG ({exc})") from None


def _read(path: Path, where: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UnreadableError(f"{where}: cannot be read ({exc.strerror or exc})") from None


def _text(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UnreadableError(f"{where}: not UTF-8 text") from None


def _lines(path: Path, limit: int, rel: str) -> Iterator[str]:
    """The lines of ``path`` as text, none longer than ``limit`` bytes; ``""`` once it ends."""
    with open(path, "rb") as lines:
        number = 0
        while True:
            raw = lines.readline(limit + 1)
            number += 1
            if len(raw) > limit:
                raise UnreadableError(f"{rel}: line {number} is longer than any line of this dataset")
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                raise UnreadableError(f"{rel}: line {number} is not UTF-8 text") from None


def _csv_rows(folder: Path, names) -> Iterator[str]:
    """The labels of ``labels.csv``, checking that each row names the sample expected next and that
    nothing follows the last."""
    rows = _lines(folder / LABELS, _ROW, LABELS)
    next(rows)  # the header
    for name in names:
        row = next(rows).rstrip("\n")
        key, sep, label = row.partition(",")
        if not sep or key != name:
            raise UnreadableError(f"{LABELS}: expected the row of {name}, found {row[:60]!r}")
        if label.startswith('"'):  # quoted (csv_field): a page's lines run on over the rows that follow
            while not _closed(label):
                more = next(rows)
                if not more:
                    raise UnreadableError(f"{LABELS}: the quoted label of {name} has no end")
                label += "\n" + more.rstrip("\n")
            label = label[1:-1].replace('""', '"')
        yield label
    if next(rows):
        raise UnreadableError(f"{LABELS}: rows past the dataset's last sample")


def _closed(field: str) -> bool:
    """Whether a quoted CSV field is whole: after its opening quote, it ends in an odd run of quotes (an
    escaped quote is two)."""
    body = field[1:]
    return (len(body) - len(body.rstrip('"'))) % 2 == 1


def _end(csv: Iterator[str]) -> None:
    """Run ``csv`` past its last row (its check that nothing follows)."""
    next(csv, None)


def _json_line(line: str, where: str) -> dict:
    try:
        row = json.loads(line)
    except (ValueError, RecursionError):
        row = None
    if not isinstance(row, dict):
        raise UnreadableError(f"{where}: not a JSON object")
    return row


def _boxes(value, where: str) -> np.ndarray:
    try:
        boxes = np.array(value, dtype=np.int64).reshape(-1, 4)
    except (TypeError, ValueError, OverflowError):
        raise UnreadableError(f"{where}: boxes are not a list of [x0, y0, x1, y1]") from None
    return boxes


def _line_boxes(row: dict, where: str) -> np.ndarray | None:
    """A JSON row's ``line_boxes`` (a page's), or ``None`` when it has none."""
    return None if "line_boxes" not in row else _boxes(row["line_boxes"], where)


def _png_samples(folder: Path, indices: range, records: dict, shape: tuple[int, ...],
                 options: Options) -> Iterator[Stored]:
    name = WRITERS["png"].name
    csv = _csv_rows(folder, (name(i) for i in indices))
    metadata = _lines(folder / METADATA, _meta(shape), METADATA)
    picture = picture_shape(shape)
    for i, label in zip(indices, csv, strict=False):
        where = name(i)
        row = _json_line(next(metadata), f"{METADATA} (row of {where})")
        if row.get("file_name") != where:
            raise UnreadableError(f"{METADATA}: expected the row of {where}, found {str(row.get('file_name'))[:60]!r}")
        record = records.get(where)
        mask_at = WRITERS["png"].mask_name(i)
        yield Stored(i, where, (label, row.get("text")), _boxes(row.get("boxes"), f"{METADATA} ({where})"),
                     lambda where=where: decode_png((folder / where).read_bytes(), where, picture),
                     None if record is None else record[0],
                     mask=(lambda at=mask_at: decode_mask_png(_read(folder / at, at), at, picture))
                     if options.masks else None, line_boxes=_line_boxes(row, f"{METADATA} ({where})"),
                     mask_where=mask_at)
    _end(csv)
    if next(metadata):
        raise UnreadableError(f"{METADATA}: rows past the dataset's last sample")


def _tar_samples(folder: Path, indices: range, records: dict, shape: tuple[int, ...],
                 options: Options) -> Iterator[Stored]:
    name, size = TarWriter.name, options.shard_size
    csv = _csv_rows(folder, (name(i) for i in indices))
    # A PNG of the dataset's size, stored uncompressed at worst, and some room for its chunks.
    picture = picture_shape(shape)
    limits = {".png": 2 * picture[0] * (picture[1] + 1) + 65536, ".txt": _ROW, ".json": _meta(shape),
              **({".mask.png": 4 * picture[0] * (picture[1] + 1) + 65536} if options.masks else {})}
    for block in TarWriter.blocks(indices, options):
        shard = TarWriter.shard(block)
        keys = range(max(indices.start, block * size), min(indices.stop, (block + 1) * size))
        try:
            with tarfile.open(folder / shard, mode="r|") as tar:  # a stream: members in order, never seeking
                members = iter(tar)
                for i in keys:
                    parts = {}
                    for suffix, limit in limits.items():
                        member = next(members, None)
                        found = None if member is None else member.name
                        if found != name(i) + suffix or not member.isfile() or member.issparse():
                            raise UnreadableError(f"{shard}: expected the file {name(i) + suffix}, found {found!r}")
                        if member.size > limit:
                            raise UnreadableError(f"{shard}: {found} is {member.size} bytes, more than a sample holds")
                        parts[suffix] = tar.extractfile(member).read()
                    where = f"{shard}:{name(i)}"
                    meta = _json_line(_text(parts[".json"], f"{where}.json"), f"{where}.json")
                    png, mask = parts[".png"], parts.get(".mask.png")
                    yield Stored(i, where, (next(csv), _text(parts[".txt"], f"{where}.txt"), meta.get("text")),
                                 _boxes(meta.get("boxes"), f"{where}.json"),
                                 lambda png=png, where=where: decode_png(png, f"{where}.png", picture),
                                 hashlib.sha256(png).hexdigest(),
                                 mask=None if mask is None else
                                 (lambda mask=mask, where=where: decode_mask_png(mask, f"{where}.mask.png", picture)),
                                 line_boxes=_line_boxes(meta, f"{where}.json"), mask_where=f"{where}.mask.png")
                extra = next(members, None)
                if extra is not None:
                    raise UnreadableError(f"{shard}: {extra.name!r} follows its last sample")
        except tarfile.TarError as exc:
            raise UnreadableError(f"{shard}: not a readable tar file ({exc})") from None
    _end(csv)


def _header(stream, member: str):
    """``(shape, fortran_order, dtype)`` of an ``.npy`` stream (NumPy's public header readers)."""
    version = np.lib.format.read_magic(stream)
    read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}.get(version)
    if read is None:
        raise UnreadableError(f"{NPZ}: {member} has .npy format version {version}")
    return read(stream)


def _column(npz: zipfile.ZipFile, member: str, shape: tuple[int, ...], kinds: str, itemsize: int) -> np.ndarray:
    """A small array of the npz, read only once its header says it has ``shape`` (``-1``: any up to
    the longest label) and a dtype of those ``kinds`` and at most ``itemsize`` bytes."""
    with npz.open(member) as stream:
        found, fortran, dtype = _header(stream, member)
        fits = len(found) == len(shape) and all(s == f or (s == -1 and 0 <= f <= MAX_DIGITS)
                                                  for s, f in zip(shape, found, strict=True))
        if fortran or not fits or dtype.kind not in kinds or dtype.itemsize > itemsize or dtype.hasobject:
            raise UnreadableError(f"{NPZ}: {member} is {dtype} {found}, not what this dataset's npz holds")
        nbytes = int(np.prod(found)) * dtype.itemsize
        data = stream.read(nbytes)
        if len(data) != nbytes:
            raise UnreadableError(f"{NPZ}: {member} ends early")
        return np.frombuffer(data, dtype).reshape(found)


class _MaskRows:
    """The rows of the npz's ``masks.npy``, read in step with its images (never the whole array at once)."""

    def __init__(self, stream, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.stream, self.shape, self.dtype = stream, shape, dtype
        self.row_bytes = int(np.prod(shape)) * dtype.itemsize

    def row(self, k: int) -> np.ndarray:
        data = self.stream.read(self.row_bytes)
        if len(data) != self.row_bytes:
            raise UnreadableError(f"{NPZ}: masks end at row {k}")
        return np.frombuffer(data, self.dtype).reshape(self.shape)


@contextlib.contextmanager
def _masks(npz: zipfile.ZipFile, n: int, shape: tuple[int, ...], wanted: bool):
    """:class:`_MaskRows` of ``masks.npy`` when the export wrote masks, else ``None``."""
    if not wanted:
        yield None
        return
    with npz.open("masks.npy") as stream:
        found, fortran, dtype = _header(stream, "masks.npy")
        if fortran or tuple(found) != (n, *shape) or dtype not in (np.uint8, np.uint16):
            raise UnreadableError(f"{NPZ}: masks are {dtype} {found}, not {n} label images of {shape}")
        yield _MaskRows(stream, shape, dtype)


def _npz_samples(folder: Path, indices: range, records: dict, shape: tuple[int, ...],
                 options: Options) -> Iterator[Stored]:
    name = WRITERS["npz"].name
    csv = _csv_rows(folder, (name(i) for i in indices))
    n = len(indices)
    if not n:  # an empty range writes no npz
        _end(csv)
        return
    try:
        with zipfile.ZipFile(folder / NPZ) as npz:
            members, expected = set(npz.namelist()), _NPZ_MEMBERS | ({"masks.npy"} if options.masks else set())
            expected |= members & {"line_boxes.npy"}  # a page's; deep verify says when a strip has them
            if members != expected:
                raise UnreadableError(f"{NPZ}: holds {', '.join(sorted(members ^ expected))}: not this "
                                      f"tool's arrays {', '.join(sorted(n[:-4] for n in expected))}")
            labels = _column(npz, "labels.npy", (n,), "U", 4 * MAX_DIGITS)
            boxes = _column(npz, "boxes.npy", (n, *shape[:-2], -1, 4), "i", 4)
            lengths = _column(npz, "lengths.npy", (n,), "i", 2)
            lines = _column(npz, "line_boxes.npy", (n, -1, 4), "i", 4) if "line_boxes.npy" in members else None
            with npz.open("images.npy") as pixels, _masks(npz, n, shape, options.masks) as masks:
                found, fortran, dtype = _header(pixels, "images.npy")
                if fortran or tuple(found) != (n, *shape) or dtype not in (np.uint8, np.float32):
                    raise UnreadableError(f"{NPZ}: images are {dtype} {found}, not {n} images of {shape}")
                row_bytes = int(np.prod(shape)) * dtype.itemsize
                for k, i in enumerate(indices):
                    data = pixels.read(row_bytes)
                    if len(data) != row_bytes:
                        raise UnreadableError(f"{NPZ}: images end at row {k}")
                    image = np.frombuffer(data, dtype).reshape(shape)
                    mask = None if masks is None else masks.row(k)
                    label = str(labels[k])
                    # whole rows, padding and all: deep verify compares them with the padded rows it makes
                    yield Stored(i, f"{NPZ}:{name(i)}", (next(csv), label), boxes[k],
                                 lambda image=image: image, mask=None if mask is None else (lambda mask=mask: mask),
                                 line_boxes=None if lines is None else lines[k], length=int(lengths[k]))
    except (zipfile.BadZipFile, KeyError, OSError, EOFError) as exc:
        raise UnreadableError(f"{NPZ}: not readable as this tool's npz ({exc})") from None
    except ValueError as exc:  # NumPy's header readers; our own errors are ValueErrors too
        if isinstance(exc, UnreadableError):
            raise
        raise UnreadableError(f"{NPZ}: not readable as this tool's npz ({exc})") from None
    _end(csv)


_PROBE = """
import sys, lmdb
env = lmdb.open(sys.argv[1], subdir=False, readonly=True, lock=False, readahead=False, max_readers=1)
with env.begin(buffers=True) as txn:
    for key, value in txn.cursor():
        bytes(value[-1:])
"""


def _probe_lmdb(path: Path) -> None:
    """Read every key and value of ``path`` in a child process first: LMDB trusts the pages of the file it
    maps, and a crafted one can kill the process reading it (SIGBUS), which must be a finding, not a crash."""
    import subprocess
    import sys

    try:
        child = subprocess.run([sys.executable, "-c", _PROBE, str(path)], capture_output=True, timeout=3600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UnreadableError(f"{LMDB_DATA}: could not be read ({exc})") from None
    if child.returncode < 0:
        raise UnreadableError(f"{LMDB_DATA}: damaged: reading it killed the LMDB reader (signal {-child.returncode})")
    if child.returncode:
        last = (child.stderr.decode("utf-8", "replace").strip().splitlines() or ["no message"])[-1]
        raise UnreadableError(f"{LMDB_DATA}: not a readable LMDB ({last[:200]})")


def _lmdb_samples(folder: Path, indices: range, records: dict, shape: tuple[int, ...],
                  options: Options) -> Iterator[Stored]:
    name = WRITERS["lmdb"].name
    csv = _csv_rows(folder, (name(i) for i in indices))
    if not len(indices):  # an empty range writes no database
        _end(csv)
        return
    try:
        import lmdb
    except ImportError:
        raise UnreadableError(f"{MANIFEST}: not checked deeply: reading {LMDB_DATA} needs the lmdb package: pip "
                              "install 'mnist_dataset_generator[lmdb]'") from None
    _probe_lmdb(folder / LMDB_DATA)
    picture = picture_shape(shape)
    limit = 2 * picture[0] * (picture[1] + 1) + 65536  # as for a tar member
    try:
        env = lmdb.open(str(folder / LMDB_DATA), subdir=False, readonly=True, lock=False, readahead=False,
                        max_readers=1)
    except lmdb.Error as exc:
        raise UnreadableError(f"{LMDB_DATA}: not a readable LMDB ({exc})") from None
    try:
        with env.begin(buffers=False) as txn:
            count = txn.get(b"num-samples")
            if count != str(len(indices)).encode():
                raise UnreadableError(f"{LMDB_DATA}: num-samples is {count!r}, not {len(indices)}")
            entries, kinds = env.stat()["entries"], 4 if options.masks else 3
            if entries != kinds * len(indices) + 1:
                raise UnreadableError(f"{LMDB_DATA}: holds {entries} keys, not the {kinds * len(indices) + 1} of "
                                      f"{len(indices)} samples")
            for number, i in enumerate(indices, start=1):
                where = f"{LMDB_DATA}:{lmdb_key('image', number).decode()}"
                image, label, boxes = (txn.get(lmdb_key(kind, number)) for kind in ("image", "label", "boxes"))
                if image is None or label is None or boxes is None:
                    raise UnreadableError(f"{where}: its image, label or boxes are missing")
                if len(image) > limit or len(label) > _ROW or len(boxes) > _meta(shape):
                    raise UnreadableError(f"{where}: larger than a sample of this dataset")
                try:
                    box_list = json.loads(boxes)
                except (ValueError, RecursionError):
                    raise UnreadableError(f"{where}: its boxes are not JSON") from None
                mask = txn.get(lmdb_key("mask", number)) if options.masks else None
                if options.masks and (mask is None or len(mask) > 2 * limit):
                    raise UnreadableError(f"{where}: its mask is missing or larger than a sample's")
                mask_at = f"{LMDB_DATA}:{lmdb_key('mask', number).decode()}"
                yield Stored(i, where, (next(csv), _text(label, where)), _boxes(box_list, where),
                             lambda image=image, where=where: decode_png(image, where, picture),
                             hashlib.sha256(image).hexdigest(),
                             mask=None if mask is None else
                             (lambda mask=mask, at=mask_at: decode_mask_png(mask, at, picture)),
                             mask_where=mask_at)
    except lmdb.Error as exc:
        raise UnreadableError(f"{LMDB_DATA}: not a readable LMDB ({exc})") from None
    finally:
        env.close()
    _end(csv)


def _no_reader(fmt: str) -> Iterator[Stored]:
    raise UnreadableError(f"{MANIFEST}: not checked deeply: this version cannot read {fmt} samples back")
    yield  # a generator: the error comes with the first sample, as a reader's would


_READERS = {"png": _png_samples, "tar": _tar_samples, "npz": _npz_samples, "lmdb": _lmdb_samples}


def stored_samples(folder: Path, fmt: str, indices: range, shape: tuple[int, ...],
                   records: dict | None = None, options: Options | None = None) -> Iterator[Stored]:
    """Samples ``indices`` of the ``fmt`` folder ``folder``, images of ``shape`` (rows, columns; a video's
    ``(frames, rows, columns)``, stored by the PNG formats as :func:`.compose.video.picture`), in
    order, as it stores them; drawn once more past the last, it checks that nothing follows.

    ``records``: the folder's verified record (path -> (sha256, size)), for the PNG files' digests;
    ``options``: the export's (:meth:`.writers.Options.from_key` of its manifest).

    Raises
    ------
    UnreadableError
        A file does not hold what its format says (one line naming it).
    """
    reader = _READERS.get(fmt)
    if reader is None:
        return _no_reader(fmt)
    return reader(Path(folder), indices, records or {}, shape, Options() if options is None else options)


def stored_labels(folder: Path, fmt: str, indices: range) -> list[str]:
    """The labels ``labels.csv`` of the ``fmt`` folder ``folder`` gives samples ``indices``, in order
    (each row checked to name the sample expected next, nothing past the last).

    Raises
    ------
    UnreadableError
        A row is not the one expected, too long or not UTF-8 (one line naming it).
    """
    try:
        return list(_csv_rows(Path(folder), map(WRITERS[fmt].name, indices)))  # run past the last row: checked
    except (OSError, StopIteration) as exc:
        raise UnreadableError(f"{LABELS}: cannot be read ({exc or 'it ends early'})") from None
