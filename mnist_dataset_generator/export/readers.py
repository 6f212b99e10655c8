"""Reading a dataset folder back, sample by sample, as each format stores it: :func:`stored_samples`.

For ``--verify --deep``, which compares what a folder holds with what its recipe and seed
make. Each sample comes with every label the folder gives it (``labels.csv`` and the
format's own: ``metadata.jsonl``, ``KEY.txt``, the npz's ``labels``), so a folder whose
index files disagree with each other is caught too. Files are read in index order and
streamed (tar shards, the npz's pixels), so memory stays flat.
"""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .folder import LABELS, METADATA, NPZ
from .writers import SAMPLES_PER_TAR, WRITERS

__all__ = ["Stored", "UnreadableError", "decode_png", "stored_samples"]


class UnreadableError(ValueError):
    """A file of the folder cannot be read as its format says (named in the message)."""


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


def decode_png(data: bytes, where: str) -> np.ndarray:
    """The pixels of an 8-bit grayscale PNG (:class:`UnreadableError` naming ``where`` otherwise)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.mode != "L":
                raise UnreadableError(f"{where}: a {image.mode} image, not 8-bit grayscale")
            return np.asarray(image)
    except (OSError, UnidentifiedImageError, SyntaxError) as exc:
        raise UnreadableError(f"{where}: not a readable PNG ({exc})") from None


def _csv_rows(folder: Path, names) -> Iterator[str]:
    """The labels of ``labels.csv``, checking that each row names the sample expected next."""
    with open(folder / LABELS, encoding="utf-8") as rows:
        next(rows, None)  # the header
        for name in names:
            row = next(rows, "").rstrip("\n")
            key, sep, label = row.partition(",")
            if not sep or key != name:
                raise UnreadableError(f"{LABELS}: expected the row of {name}, found {row[:60]!r}")
            yield label


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


def _png_samples(folder: Path, indices: range, records: dict) -> Iterator[Stored]:
    name = WRITERS["png"].name
    csv = _csv_rows(folder, (name(i) for i in indices))
    with open(folder / METADATA, encoding="utf-8") as metadata:
        for i, label in zip(indices, csv, strict=False):
            where = name(i)
            row = _json_line(next(metadata, ""), f"{METADATA} (row of {where})")
            if row.get("file_name") != where:
                raise UnreadableError(f"{METADATA}: expected the row of {where}, found {row.get('file_name')!r}")
            record = records.get(where)
            yield Stored(i, where, (label, row.get("text")), _boxes(row.get("boxes"), f"{METADATA} ({where})"),
                         lambda where=where: decode_png((folder / where).read_bytes(), where),
                         None if record is None else record[0])


def _tar_samples(folder: Path, indices: range, records: dict) -> Iterator[Stored]:
    name = WRITERS["tar"].name
    csv = _csv_rows(folder, (name(i) for i in indices))
    for shard in WRITERS["tar"].files(indices):
        block = int(shard[6:12])
        keys = range(max(indices.start, block * SAMPLES_PER_TAR), min(indices.stop, (block + 1) * SAMPLES_PER_TAR))
        try:
            with tarfile.open(folder / shard, mode="r|") as tar:  # a stream: members in order, never seeking
                members = iter(tar)
                for i in keys:
                    parts = {}
                    for suffix in (".png", ".txt", ".json"):
                        member = next(members, None)
                        if member is None or member.name != name(i) + suffix or not member.isfile():
                            raise UnreadableError(f"{shard}: expected {name(i) + suffix}, found "
                                                  f"{None if member is None else member.name!r}")
                        parts[suffix] = tar.extractfile(member).read()
                    where = f"{shard}:{name(i)}"
                    meta = _json_line(parts[".json"].decode("utf-8", "replace"), f"{where}.json")
                    png = parts[".png"]
                    yield Stored(i, where, (next(csv), parts[".txt"].decode("utf-8", "replace"), meta.get("text")),
                                 _boxes(meta.get("boxes"), f"{where}.json"),
                                 lambda png=png, where=where: decode_png(png, f"{where}.png"),
                                 hashlib.sha256(png).hexdigest())
        except tarfile.TarError as exc:
            raise UnreadableError(f"{shard}: not a readable tar file ({exc})") from None


def _npz_samples(folder: Path, indices: range, records: dict) -> Iterator[Stored]:
    name = WRITERS["npz"].name
    csv = _csv_rows(folder, (name(i) for i in indices))
    try:
        with zipfile.ZipFile(folder / NPZ) as npz:
            columns = {}
            for column in ("labels", "boxes", "lengths"):
                with npz.open(f"{column}.npy") as member:
                    columns[column] = np.lib.format.read_array(member, allow_pickle=False)
            with npz.open("images.npy") as pixels:
                version = np.lib.format.read_magic(pixels)
                shape, fortran, dtype = _header(pixels, version)
                if fortran or len(shape) != 3 or shape[0] != len(indices) or dtype.hasobject:
                    raise UnreadableError(f"{NPZ}: images are not {len(indices)} rows of one image each")
                row_bytes = int(np.prod(shape[1:])) * dtype.itemsize
                for k, i in enumerate(indices):
                    data = pixels.read(row_bytes)
                    if len(data) != row_bytes:
                        raise UnreadableError(f"{NPZ}: images end at row {k}")
                    length = int(columns["lengths"][k])
                    image = np.frombuffer(data, dtype).reshape(shape[1:])
                    yield Stored(i, f"{NPZ}:{name(i)}", (next(csv), str(columns["labels"][k])),
                                 columns["boxes"][k][:length], lambda image=image: image)
    except (zipfile.BadZipFile, KeyError, ValueError, IndexError, OSError) as exc:
        if isinstance(exc, UnreadableError):
            raise
        raise UnreadableError(f"{NPZ}: not readable as this tool's npz ({exc})") from None


def _header(stream, version: tuple[int, int]):
    """``(shape, fortran_order, dtype)`` of an ``.npy`` stream after its magic (NumPy's public readers)."""
    read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}.get(version)
    if read is None:
        raise UnreadableError(f"{NPZ}: images.npy has format version {version}")
    return read(stream)


_READERS = {"png": _png_samples, "tar": _tar_samples, "npz": _npz_samples}


def stored_samples(folder: Path, fmt: str, indices: range, records: dict | None = None) -> Iterator[Stored]:
    """Samples ``indices`` of the ``fmt`` folder ``folder``, in order, as it stores them.

    ``records``: the folder's verified record (path -> (sha256, size)), for the PNG files' digests.

    Raises
    ------
    UnreadableError
        A file does not hold what its format says (one line naming it).
    """
    return _READERS[fmt](Path(folder), indices, records or {})

