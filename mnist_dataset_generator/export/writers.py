"""The formats of a dataset folder, one :class:`Writer` each: png, npz and WebDataset tar.

An export drives every format the same way (see :func:`.exporter.export_dataset`)::

    writer = WRITERS[fmt](folder, plan, indices)
    remake = [writer.remake(records, u) for u in units(indices, writer.unit)]  # on resume
    writer.open(journal)             # journal: the records of the files kept
    for batch, kept in batches:      # every sample of indices once, in index order
        writer.keep(batch) if kept else writer.write(batch)
    writer.commit()                  # abort() instead, on any error

Every format carries each digit's box, ``[x0, y0, x1, y1]`` in image pixels, ends
exclusive, in reading order (see :mod:`.records`): png in ``metadata.jsonl`` (Hugging Face
imagefolder's layout), tar in ``KEY.json``, npz in its ``boxes`` and ``lengths`` arrays.
Labels travel as JSON strings, so leading zeros survive.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import tarfile
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .._files import atomic_write
from ..compose.strip import to_uint8
from ..dataset import Plan
from ..records import NO_BOX, Batch
from ..sampling import CHUNK
from .folder import IMAGES, LABELS, METADATA, NPZ
from .record import HashingFile, Journal, unverified
from .zipstream import ZipStreamWriter, deflate_piece

__all__ = ["FOLDER_LAYOUT", "SAMPLES_PER_TAR", "WRITERS", "NpzWriter", "PngWriter", "TarWriter", "Writer",
           "png_bytes", "units"]

log = logging.getLogger(__name__)

# Recorded in manifests: a folder written with another layout (before boxes: none recorded) is
# never resumed, since its kept files would lack what this version writes beside them.
# boxes-v2: boxes tight to the visible ink, and filtered digits in reading order (0.5.0).
FOLDER_LAYOUT = "boxes-v2"
SAMPLES_PER_TAR = 1000  # a constant of the format: shard files never depend on the number of machines
INT16_MAX = 32767


def png_bytes(image: np.ndarray, compress_level: int = 6) -> bytes:
    """8-bit grayscale PNG of a float (0..1) or uint8 image.

    Pillow (imageio's PNG backend) is called directly: 173 us per 28x224 image
    against 286 us through imageio's plugin layer (measured on 1,000 strips),
    the same bytes, and about 30 ms less at start-up (imageio's import and its
    loading of every Pillow plugin).
    """
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(to_uint8(image)).save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def units(indices: range, unit: int | None) -> list[range]:
    """Split ``indices`` at multiples of ``unit`` (a format's resumable pieces; ``None``: one piece).

    Examples
    --------
    >>> units(range(250, 600), 256)
    [range(250, 256), range(256, 512), range(512, 600)]
    """
    if unit is None or not len(indices):
        return [indices] if len(indices) else []
    edges = sorted({indices.start, indices.stop, *range((indices.start // unit + 1) * unit, indices.stop, unit)})
    return [range(a, b) for a, b in itertools.pairwise(edges)]


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))  # compact: one line per sample, a few bytes per box


class _Streamed:
    """A file written in pieces to a temporary name, recorded, then renamed into place."""

    def __init__(self, folder: Path, rel: str, journal: Journal) -> None:
        self.rel, self.journal = rel, journal
        self._context = atomic_write(folder / rel, durable=False)
        self.out = HashingFile(self._context.__enter__())

    def commit(self) -> None:
        self.out.flush()
        self.journal.add(self.rel, self.out.hexdigest(), self.out.size)
        self._context.__exit__(None, None, None)

    def abort(self) -> None:
        self._context.__exit__(RuntimeError, RuntimeError("aborted"), None)


class Writer(ABC):
    """One format of a dataset folder: its files, how they are made, resumed and listed.

    Every format writes ``labels.csv`` (``COLUMN,label`` in index order) besides its own
    files; a format adds per-sample index files in :attr:`index_files`. Index files are
    made again in full by every run (kept samples included); data files (:meth:`files`)
    are made, or kept whole, unit by unit.

    Attributes
    ----------
    unit : int or None
        Samples per resumable piece (``None``: the whole range is one piece). A piece whose
        files all verify is kept; otherwise it is made again, and :meth:`remake` says which
        of its files are written (the others stay as they are).
    encode : callable or None
        ``encode(image) -> bytes``, run in the workers: a batch's ``images`` are its results.
    encode_chunk : callable or None
        ``encode_chunk(images)``, run in the workers: a batch's ``payload`` is its result.
    column : str
        The first column of ``labels.csv`` (what :meth:`name` gives).
    index_files : tuple of str
        Files beside ``labels.csv`` holding every sample (e.g. ``metadata.jsonl``).
    kept_boxes : bool
        Whether :meth:`keep` needs the boxes of kept samples; the export then renders them
        again (without encoding) on resume. ``False``: kept batches carry labels only.
    machine_unit : int
        ``--shard I/N`` splits the indices at multiples of it, so that each machine writes
        whole files (see :func:`.exporter.shard_range`).
    """

    unit: ClassVar[int | None]
    encode: ClassVar[Callable[[np.ndarray], bytes] | None] = None
    encode_chunk: ClassVar[Callable[[np.ndarray], Any] | None] = None
    column: ClassVar[str] = "key"
    index_files: ClassVar[tuple[str, ...]] = ()
    kept_boxes: ClassVar[bool] = False
    machine_unit: ClassVar[int] = 1

    def __init__(self, folder: Path, plan: Plan, indices: range) -> None:
        self.folder, self.plan, self.indices = folder, plan, indices
        self.journal: Journal | None = None  # set by open()
        self._streams: dict[str, _Streamed] = {}

    # ------------------------------------------------------------- naming

    @classmethod
    def name(cls, index: int) -> str:
        """Sample ``index``'s name in ``labels.csv`` (its file, or its key)."""
        return f"{index:08d}"

    @classmethod
    @abstractmethod
    def files(cls, indices: range) -> list[str]:
        """The data files holding samples ``indices`` (one unit, or a whole export's range)."""

    @classmethod
    def key(cls, plan: Plan) -> dict[str, Any]:
        """What identifies the files of this format in a manifest's ``dataset`` (a resume needs the same)."""
        return {"dtype": "uint8"}  # png and tar hold 8-bit PNGs whatever the plan's dtype

    @classmethod
    def expected(cls, indices: range) -> list[str]:
        """Every file this format writes for ``indices``: ``labels.csv``, its index files, its data files."""
        return [LABELS, *cls.index_files, *cls.files(indices)]

    # ------------------------------------------------------------- protocol

    def remake(self, records: dict[str, tuple[str, int | None]], indices: range) -> list[str]:
        """The files of the unit ``indices`` a resume writes again (each damaged one is logged).

        A damaged file (not recorded, missing, or not matching its record) is made again; here,
        whole units, since a file holds many samples. ``[]``: the unit is kept.
        """
        files = self.files(indices)
        return files if unverified(self.folder, records, files) else []

    def open(self, journal: Journal) -> None:
        """Start a run recording into ``journal``: the index files are opened (temporary names)."""
        self.journal = journal
        self._open_stream(LABELS).out.write(f"{self.column},label\n".encode())

    def write(self, batch: Batch) -> None:
        """Samples made now (encoded as :attr:`encode` / :attr:`encode_chunk` say): their files and index lines."""
        self._put(batch)
        self._describe(batch)

    def keep(self, batch: Batch) -> None:
        """Samples whose files are kept: only their index lines (``batch`` has no images;
        boxes only with :attr:`kept_boxes`)."""
        self._describe(batch)

    def commit(self) -> None:
        """Finish the data files, then the index files; each is recorded, then renamed into place."""
        self._finish()
        for rel in list(self._streams):
            self._streams.pop(rel).commit()  # out of the list first: an abort never closes it twice

    def abort(self) -> None:
        """Drop what is not yet renamed into place (every file under a final name is whole and recorded)."""
        try:
            self._discard()
        finally:
            for stream in self._streams.values():
                stream.abort()
            self._streams.clear()

    # ---------------------------------------------------------------- hooks

    def _open_stream(self, rel: str) -> _Streamed:
        self._streams[rel] = stream = _Streamed(self.folder, rel, self.journal)
        return stream

    @abstractmethod
    def _put(self, batch: Batch) -> None:
        """Write the data of samples made now."""

    def _describe(self, batch: Batch) -> None:
        """Append the index lines of ``batch`` (in order: batches arrive in index order)."""
        name = self.name
        self._streams[LABELS].out.write("".join(f"{name(i)},{label}\n"
                                                for i, label in enumerate(batch.labels, batch.start)).encode())

    def _finish(self) -> None:
        """Complete the data files still open (called once, after the last batch)."""

    def _discard(self) -> None:
        """Drop the data files still open."""


class PngWriter(Writer):
    """``images/00000000.png`` per sample; ``metadata.jsonl`` lists each with its label and boxes."""

    unit = CHUNK
    encode = staticmethod(png_bytes)  # runs in the workers: the parent only writes
    column = "filename"
    index_files = (METADATA,)
    kept_boxes = True  # metadata.jsonl holds every image's boxes, kept images too

    def __init__(self, folder: Path, plan: Plan, indices: range) -> None:
        super().__init__(folder, plan, indices)
        (folder / IMAGES).mkdir(exist_ok=True)

    @classmethod
    def name(cls, index: int) -> str:
        return f"{IMAGES}/{index:08d}.png"

    @classmethod
    def files(cls, indices: range) -> list[str]:
        return [cls.name(i) for i in indices]

    def remake(self, records: dict[str, tuple[str, int | None]], indices: range) -> list[str]:
        """Only the damaged images: one file per sample, so the intact ones stay (same inode)."""
        files = self.files(indices)
        if not any(rel in records for rel in files):  # not reached by the run resumed: one line, not 256
            log.info("%s to %s: not written before; they are made now", files[0], files[-1])
            return files
        return unverified(self.folder, records, files)

    def open(self, journal: Journal) -> None:
        super().open(journal)
        self._open_stream(METADATA)
        # the journal starts with the files kept: in a unit made again for a few damaged
        # images, the others are left as they are
        self._kept = frozenset(journal.records)

    def _put(self, batch: Batch) -> None:
        for record in batch.records():
            rel = self.name(record.index)
            if rel in self._kept:
                continue
            self.journal.add_bytes(rel, record.image)
            with atomic_write(self.folder / rel, durable=False) as out:
                out.write(record.image)

    def _describe(self, batch: Batch) -> None:
        super()._describe(batch)
        if batch.boxes is None:
            raise RuntimeError(f"{METADATA} needs the boxes of samples {batch.start}..{batch.stop}")
        self._streams[METADATA].out.write("".join(
            _json({"file_name": self.name(r.index), "text": r.label, "boxes": r.boxes.tolist()}) + "\n"
            for r in batch.records()).encode())


class TarWriter(Writer):
    """WebDataset shards: ``KEY.png``, ``KEY.txt`` and ``KEY.json`` per sample, fixed tar metadata."""

    unit = machine_unit = SAMPLES_PER_TAR
    encode = staticmethod(png_bytes)

    def __init__(self, folder: Path, plan: Plan, indices: range) -> None:
        super().__init__(folder, plan, indices)
        self._file: _Streamed | None = None
        self._tar: tarfile.TarFile | None = None
        self._block: int | None = None

    @classmethod
    def key(cls, plan: Plan) -> dict[str, Any]:
        return {**super().key(plan), "samples_per_shard": SAMPLES_PER_TAR}

    @classmethod
    def files(cls, indices: range) -> list[str]:
        if not len(indices):
            return []
        return [f"shard-{b:06d}.tar" for b in range(indices.start // SAMPLES_PER_TAR,
                                                    (indices.stop - 1) // SAMPLES_PER_TAR + 1)]

    def _put(self, batch: Batch) -> None:
        for record in batch.records():
            block = record.index // SAMPLES_PER_TAR
            if block != self._block:
                self._finish()
                self._file = _Streamed(self.folder, f"shard-{block:06d}.tar", self.journal)
                self._tar = tarfile.open(fileobj=self._file.out, mode="w",  # noqa: SIM115 - closed by _finish
                                         format=tarfile.PAX_FORMAT)
                self._block = block
            key = self.name(record.index)
            meta = _json({"text": record.label, "boxes": record.boxes.tolist()}).encode()
            for suffix, data in ((".png", record.image), (".txt", record.label.encode()), (".json", meta)):
                info = tarfile.TarInfo(key + suffix)
                info.size, info.mode, info.mtime = len(data), 0o644, 0  # fixed metadata: reproducible bytes
                self._tar.addfile(info, io.BytesIO(data))
            if (record.index + 1) % SAMPLES_PER_TAR == 0 or record.index + 1 == self.indices.stop:
                self._finish()  # a whole shard is renamed into place now: a kill from here on keeps it

    def _finish(self) -> None:
        if self._tar is not None:
            self._tar.close()
            self._file.commit()
            self._file = self._tar = self._block = None

    def _discard(self) -> None:
        if self._file is not None:
            self._file.abort()
            self._file = self._tar = self._block = None


def _deflate_images(images: np.ndarray) -> tuple[int, int, bytes]:
    """A chunk's pixels as one deflated piece of ``images.npy`` (runs in a worker; picklable)."""
    return deflate_piece(memoryview(np.ascontiguousarray(images)).cast("B"))


def _npy_header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    header = io.BytesIO()
    np.lib.format.write_array_header_2_0(header, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                                  "fortran_order": False, "shape": shape})
    return header.getvalue()


class _Column:
    """One array of the npz, streamed row by row to a scratch file, then copied into its member.

    The scratch file lives in the output folder (never elsewhere) and vanishes when closed,
    so memory stays flat however many rows.
    """

    def __init__(self, folder: Path, name: str, dtype: str | np.dtype, row_shape: tuple[int, ...] = ()) -> None:
        self.name, self.dtype, self.row_shape = name, np.dtype(dtype), row_shape
        self.rows = 0
        self._file = tempfile.TemporaryFile(dir=folder)  # noqa: SIM115 - closed by close()

    def append(self, rows: np.ndarray) -> None:
        self._file.write(np.ascontiguousarray(rows, self.dtype).tobytes())
        self.rows += len(rows)

    def copy_into(self, zw: ZipStreamWriter) -> None:
        zw.begin(f"{self.name}.npy")
        zw.write(_npy_header(self.dtype, (self.rows, *self.row_shape)))
        self._file.seek(0)
        while block := self._file.read(1 << 20):
            zw.write(block)
        zw.end()

    def close(self) -> None:
        self._file.close()


class NpzWriter(Writer):
    """``dataset.npz``: ``images`` ``(N, H, W)``, ``labels`` ``(N,)`` fixed-width strings,
    ``boxes`` ``(N, max_len, 4)`` padded with -1 and ``lengths`` ``(N,)`` int16.

    ``boxes`` is int16 (coordinates reach the image's width and height, ends exclusive),
    int32 when the width or height exceeds 32767. ``boxes[i, :lengths[i]]`` are sample
    ``i``'s boxes. Pixels are deflated by the workers; labels, boxes and lengths stream to
    scratch files in the folder, so memory stays flat whatever the count.
    """

    unit = None  # the whole range is one file
    encode_chunk = staticmethod(_deflate_images)

    def __init__(self, folder: Path, plan: Plan, indices: range) -> None:
        super().__init__(folder, plan, indices)
        self._file: _Streamed | None = None
        self._zip: ZipStreamWriter | None = None
        self._columns: list[_Column] = []

    @classmethod
    def key(cls, plan: Plan) -> dict[str, Any]:
        return {"dtype": plan.dtype}

    @classmethod
    def files(cls, indices: range) -> list[str]:
        return [NPZ] if len(indices) else []

    @staticmethod
    def box_dtype(plan: Plan) -> np.dtype:
        """int16, or int32 when the image's width or height exceeds 32767."""
        return np.dtype(np.int16 if max(plan.width, plan.height) <= INT16_MAX else np.int32)

    def _start(self) -> None:
        plan = self.plan
        self._file = _Streamed(self.folder, NPZ, self.journal)
        self._zip = ZipStreamWriter(self._file.out)
        self._zip.begin("images.npy")
        self._zip.write(_npy_header(np.dtype(plan.dtype), (len(self.indices), plan.height, plan.width)))
        longest = plan.lengths[1]  # known from the plan: fixed-width rows, written as they come
        self._columns = [_Column(self.folder, "labels", f"<U{longest}"),
                         _Column(self.folder, "boxes", self.box_dtype(plan), (longest, 4)),
                         _Column(self.folder, "lengths", np.int16)]  # at most MAX_DIGITS (10,000) digits

    def _put(self, batch: Batch) -> None:
        if self._zip is None:  # first batch: nothing is written when a resume finds the file whole
            self._start()
        self._zip.write_piece(*batch.payload)  # deflated by the worker that made the images
        labels, boxes, lengths = self._columns
        longest = self.plan.lengths[1]
        rows = np.full((len(batch), longest, 4), NO_BOX, boxes.dtype)
        width = min(longest, batch.boxes.shape[1])
        rows[:, :width] = batch.boxes[:, :width]
        labels.append(np.array(batch.labels, dtype=labels.dtype))
        boxes.append(rows)
        lengths.append(np.fromiter(map(len, batch.labels), np.int16, len(batch)))

    def _finish(self) -> None:
        if self._zip is None:
            return
        self._zip.end()
        for column in self._columns:
            column.copy_into(self._zip)
        self._close_columns()
        self._zip.close()
        self._file.commit()
        self._zip = self._file = None

    def _close_columns(self) -> None:
        for column in self._columns:
            column.close()
        self._columns = []

    def _discard(self) -> None:
        self._close_columns()
        if self._file is not None:
            self._file.abort()
            self._zip = self._file = None


WRITERS: dict[str, type[Writer]] = {"png": PngWriter, "npz": NpzWriter, "tar": TarWriter}
