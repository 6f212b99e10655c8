"""The formats of a dataset folder, one :class:`Writer` each: png, npz and WebDataset tar.

A format is one class, registered with :func:`register`: it declares its name, the files it
writes (patterns and folders, from which the folder's checks and the CLI's choices derive) and
how it writes them. An export drives every format the same way (see
:func:`.exporter.export_dataset`)::

    writer = WRITERS[fmt](folder, plan, indices, options)
    remake = [writer.remake(records, u) for u in units(indices, writer.unit(options))]  # on resume
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

import contextlib
import io
import itertools
import json
import logging
import re
import tarfile
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .._files import atomic_write, new_temp
from ..compose.strip import to_uint8
from ..dataset import Plan
from ..making import mask_dtype
from ..records import NO_BOX, Batch
from ..sampling import CHUNK
from .annotations import ANNOTATIONS, FileSink, make_annotations
from .folder import LABELS, declare
from .record import Journal, Streamed, file_digest, unverified
from .zipstream import ZipStreamWriter, deflate_piece

__all__ = ["FOLDER_LAYOUT", "SAMPLES_PER_TAR", "WRITERS", "LmdbWriter", "NpzWriter", "Options", "PngWriter",
           "TarWriter", "Writer", "csv_field", "lmdb_key", "mask_png_bytes", "png_bytes", "register", "units"]

log = logging.getLogger(__name__)

# Recorded in manifests: a folder written with another layout (before boxes: none recorded) is
# never resumed, since its kept files would lack what this version writes beside them.
# boxes-v2: boxes tight to the visible ink, and filtered digits in reading order (0.5.0).
FOLDER_LAYOUT = "boxes-v2"
SAMPLES_PER_TAR = 1000  # the default shard size: shard files never depend on the number of machines
INT16_MAX = 32767
IMAGES, METADATA, NPZ, LMDB_DATA, MASKS = "images", "metadata.jsonl", "dataset.npz", "data.mdb", "masks"


@dataclass(frozen=True)
class Options:
    """How an export lays out its files beyond the samples themselves (recorded in the manifest).

    Parameters
    ----------
    shard_size : int
        Samples per tar shard (tar only; every shard but the last holds that many).
    annotations : tuple of str
        Annotation files written beside the samples (:data:`.annotations.ANNOTATIONS`: coco,
        yolo, gt), kept sorted.
    masks : bool
        Write each sample's label image (0 on paper, ``i + 1`` on character ``i``'s visible ink)
        beside it: npz only so far (``masks``, of the images' shape).
    """

    shard_size: int = SAMPLES_PER_TAR
    annotations: tuple[str, ...] = ()
    masks: bool = False

    def __post_init__(self) -> None:
        if not (isinstance(self.shard_size, int) and not isinstance(self.shard_size, bool)
                and 1 <= self.shard_size <= MAX_SHARD_SIZE):
            raise ValueError(f"shard_size must be an integer in 1..{MAX_SHARD_SIZE}, got {self.shard_size!r}")
        names = self.annotations
        if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"annotations must be a list of names ({', '.join(ANNOTATIONS)}), got {names!r}")
        unknown = [n for n in names if n not in ANNOTATIONS]
        if unknown:
            raise ValueError(f"unknown annotation {unknown[0]!r}; choose from {', '.join(ANNOTATIONS)}")
        object.__setattr__(self, "annotations", tuple(sorted(set(names))))  # one order: the key compares them
        if not isinstance(self.masks, bool):
            raise ValueError(f"masks must be True or False, got {self.masks!r}")

    @classmethod
    def from_key(cls, dataset: dict) -> Options:
        """The options a manifest's ``dataset`` records (:meth:`Writer.key`); defaults where it is silent."""
        return cls(shard_size=dataset.get("samples_per_shard", SAMPLES_PER_TAR),
                   annotations=dataset.get("annotations", ()),  # a list of names, or a one-line ValueError
                   masks=dataset.get("masks", False))


MAX_SHARD_SIZE = 10_000_000


def png_bytes(image: np.ndarray, compress_level: int = 6) -> bytes:
    """8-bit grayscale PNG of a float (0..1) or uint8 image (a video's frames side by side:
    :func:`.compose.video.picture`).

    Pillow (imageio's PNG backend) is called directly: 173 us per 28x224 image
    against 286 us through imageio's plugin layer (measured on 1,000 strips),
    the same bytes, and about 30 ms less at start-up (imageio's import and its
    loading of every Pillow plugin).
    """
    from PIL import Image

    from ..compose.video import picture

    buffer = io.BytesIO()
    Image.fromarray(to_uint8(picture(image))).save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def mask_png_bytes(mask: np.ndarray) -> bytes:
    """A label image as a grayscale PNG, 8-bit (uint8) or 16-bit (uint16; a video's frames side by side).

    Examples
    --------
    >>> from PIL import Image
    >>> image = Image.open(io.BytesIO(mask_png_bytes(np.array([[0, 1], [2, 0]], np.uint8))))
    >>> image.mode, np.asarray(image).tolist()
    ('L', [[0, 1], [2, 0]])
    """
    from PIL import Image

    from ..compose.video import picture

    pixels = picture(mask)
    buffer = io.BytesIO()
    # uint8 arrays become mode "L", uint16 ones "I;16": PNG's 8- and 16-bit grayscale
    Image.fromarray(np.ascontiguousarray(pixels, np.uint8 if pixels.dtype == np.uint8 else np.uint16)).save(
        buffer, format="PNG")
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


def csv_field(label: str) -> str:
    """``label`` as a field of ``labels.csv``: as it is, or quoted as RFC 4180 says when it holds a newline
    (a page's lines), a comma or a quote, so the ``csv`` module and pandas read it back.

    Examples
    --------
    >>> csv_field("0741"), csv_field("12\\n34")
    ('0741', '"12\\n34"')
    """
    if any(c in label for c in '\n\r,"'):
        return '"' + label.replace('"', '""') + '"'
    return label


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))  # compact: one line per sample, a few bytes per box


class Writer(ABC):
    """One format of a dataset folder: its files, how they are made, resumed and listed.

    Every format writes ``labels.csv`` (``COLUMN,label`` in index order) besides its own
    files; a format adds per-sample index files in :attr:`index_files`. Index files are
    made again in full by every run (kept samples included); data files (:meth:`files`)
    are made, or kept whole, unit by unit. :func:`register` makes a subclass a format.

    Attributes
    ----------
    format : str
        Its name (``--format NAME``, the manifest's ``format``).
    summary : str
        One line for ``--help``: what the folder holds.
    patterns : tuple of str
        Regular expressions of every path (relative, POSIX) it writes, index and data files;
        nothing else is ever recorded, replaced or deleted in a dataset folder.
    folders : tuple of str
        The sub-folders it writes in (one level deep).
    tolerated : tuple of str
        Files its readers may leave beside its data (LMDB's ``lock.mdb``): never ours, no error.
    dtypes : tuple of str
        The pixel types it stores (``--dtype``); the first is the default.
    takes : tuple of str
        The fields of :class:`Options` it uses (others given are refused by the CLI).
    requires : tuple of (str, str) or None
        ``(module, extra)`` it imports to write: checked before anything is made.
    encode : callable or None
        ``encode(image) -> bytes``, run in the workers: a batch's ``images`` are its results.
    encode_chunk : callable or None
        ``encode_chunk(images)``, or ``encode_chunk(images, masks)`` when masks are asked for, run in the
        workers: a batch's ``payload`` is its result (the masks then reach the writer only through it).
    column : str
        The first column of ``labels.csv`` (what :meth:`name` gives).
    index_files : tuple of str
        Files beside ``labels.csv`` holding every sample (e.g. ``metadata.jsonl``).
    kept_boxes : bool
        Whether :meth:`keep` needs the boxes of kept samples; the export then renders them
        again (without encoding) on resume. ``False``: kept batches carry labels only.
    """

    format: ClassVar[str]
    summary: ClassVar[str]
    patterns: ClassVar[tuple[str, ...]]
    folders: ClassVar[tuple[str, ...]] = ()
    tolerated: ClassVar[tuple[str, ...]] = ()
    dtypes: ClassVar[tuple[str, ...]] = ("uint8",)
    takes: ClassVar[tuple[str, ...]] = ()
    requires: ClassVar[tuple[str, str] | None] = None
    encode: ClassVar[Callable[[np.ndarray], bytes] | None] = None
    encode_chunk: ClassVar[Callable[[np.ndarray, np.ndarray | None], Any] | None] = None
    column: ClassVar[str] = "key"
    index_files: ClassVar[tuple[str, ...]] = ()
    kept_boxes: ClassVar[bool] = False
    holds_masks: ClassVar[bool] = False
    holds_line_boxes: ClassVar[bool] = False  # a page's line boxes, beside its characters'
    mask_patterns: ClassVar[tuple[str, ...]] = ()  # its files of masks, and their folders: made only with masks
    mask_folders: ClassVar[tuple[str, ...]] = ()

    def __init__(self, folder: Path, plan: Plan, indices: range, options: Options | None = None) -> None:
        self.folder, self.plan, self.indices = folder, plan, indices
        self.options = Options() if options is None else options
        self.journal: Journal | None = None  # set by open()
        self._streams: dict[str, Streamed] = {}
        for name in (*self.folders, *(self.mask_folders if self.options.masks else ())):
            (folder / name).mkdir(exist_ok=True)
        self.annotations = make_annotations(self.options.annotations if len(indices) else (), plan, indices,
                                            self.name)
        for annotation in self.annotations:
            for name in annotation.folders:
                (folder / name).mkdir(exist_ok=True)
        self.kept_boxes = type(self).kept_boxes or bool(self.annotations)  # annotations hold kept samples' boxes

    # ------------------------------------------------------------- layout

    @classmethod
    def unit(cls, options: Options) -> int | None:
        """Samples per resumable piece (``None``: the whole range is one piece). A piece whose files
        all verify is kept; otherwise it is made again, and :meth:`remake` says which of its files
        are written (the others stay as they are)."""
        return None

    @classmethod
    def machine_unit(cls, options: Options) -> int:
        """``--shard I/N`` splits the indices at multiples of it, so that each machine writes whole
        files (see :func:`.exporter.shard_range`)."""
        return 1

    @classmethod
    def name(cls, index: int) -> str:
        """Sample ``index``'s name in ``labels.csv`` (its file, or its key)."""
        return f"{index:08d}"

    @classmethod
    @abstractmethod
    def files(cls, indices: range, options: Options) -> list[str]:
        """The data files holding samples ``indices`` (one unit, or a whole export's range)."""

    @classmethod
    def key(cls, plan: Plan, options: Options) -> dict[str, Any]:
        """What identifies the files of this format in a manifest's ``dataset`` (a resume needs the same)."""
        return {"dtype": "uint8"}  # png and tar hold 8-bit PNGs whatever the plan's dtype

    @classmethod
    def expected(cls, indices: range, options: Options) -> list[str]:
        """Every file this format writes for ``indices``: ``labels.csv``, its index files, its data files
        and its annotations."""
        return [LABELS, *cls.index_files, *cls.files(indices, options),
                *(rel for name in options.annotations for rel in ANNOTATIONS[name].files(indices))]

    @classmethod
    def check_options(cls, options: Options) -> None:
        """Refuse (one line) what ``options`` asks that this format cannot do."""
        if options.masks and not cls.holds_masks:
            holders = [name for name, writer in WRITERS.items() if writer.holds_masks]
            raise ValueError(f"--format {cls.format} has no place for masks yet: they go with --format "
                             f"{', '.join(holders[:-1])} or {holders[-1]}")
        for name in options.annotations:
            formats = ANNOTATIONS[name].formats
            if formats is not None and cls.format not in formats:
                raise ValueError(f"{name} annotations name image files: they go with --format "
                                 f"{' or '.join(formats)}, not {cls.format}")

    # ------------------------------------------------------------- protocol

    def remake(self, records: dict[str, tuple[str, int | None]], indices: range) -> list[str]:
        """The files of the unit ``indices`` a resume writes again (each damaged one is logged).

        A damaged file (not recorded, missing, or not matching its record) is made again; here,
        whole units, since a file holds many samples. ``[]``: the unit is kept.
        """
        files = self.files(indices, self.options)
        return files if unverified(self.folder, records, files) else []

    def open(self, journal: Journal) -> None:
        """Start a run recording into ``journal``: the index files are opened (temporary names)."""
        self.journal = journal
        self._open_stream(LABELS).out.write(f"{self.column},label\n".encode())
        for annotation in self.annotations:
            annotation.open(FileSink(self.folder, journal))

    def write(self, batch: Batch) -> None:
        """Samples made now (encoded as :attr:`encode` / :attr:`encode_chunk` say): their files and index lines."""
        self._put(batch)
        self._describe(batch)
        for annotation in self.annotations:
            annotation.describe(batch)

    def keep(self, batch: Batch) -> None:
        """Samples whose files are kept: only their index lines (``batch`` has no images;
        boxes only with :attr:`kept_boxes`)."""
        self._describe(batch)
        for annotation in self.annotations:
            annotation.describe(batch)

    def commit(self) -> None:
        """Finish the data files, then the annotations and index files; each is recorded, then renamed into place."""
        self._finish()
        while self.annotations:
            annotation = self.annotations.pop(0)  # out of the list first: an abort never finishes it twice
            try:
                annotation.commit()
            except BaseException:
                annotation.abort()
                raise
        for rel in list(self._streams):
            stream = self._streams.pop(rel)
            try:
                stream.commit()
            except BaseException:
                stream.abort()
                raise

    def abort(self) -> None:
        """Drop what is not yet renamed into place (every file under a final name is whole and recorded)."""
        try:
            self._discard()
        finally:
            for annotation in self.annotations:
                annotation.abort()
            self.annotations.clear()
            for stream in self._streams.values():
                stream.abort()
            self._streams.clear()

    # ---------------------------------------------------------------- hooks

    def _open_stream(self, rel: str) -> Streamed:
        self._streams[rel] = stream = Streamed(self.folder, rel, self.journal)
        return stream

    @abstractmethod
    def _put(self, batch: Batch) -> None:
        """Write the data of samples made now."""

    def _describe(self, batch: Batch) -> None:
        """Append the index lines of ``batch`` (in order: batches arrive in index order)."""
        name = self.name
        self._streams[LABELS].out.write("".join(f"{name(i)},{csv_field(label)}\n"
                                                for i, label in enumerate(batch.labels, batch.start)).encode())

    def _finish(self) -> None:
        """Complete the data files still open (called once, after the last batch)."""

    def _discard(self) -> None:
        """Drop the data files still open."""


WRITERS: dict[str, type[Writer]] = {}
"""Every format by name, in the order registered (png, tar, npz, ...)."""


def register(cls: type[Writer]) -> type[Writer]:
    r"""Make ``cls`` a format: ``--format`` offers it, and the folder's checks know its files.

    Examples
    --------
    >>> @register                                                    # doctest: +SKIP
    ... class JsonlWriter(Writer):
    ...     format, summary, patterns = "jsonl", "samples.jsonl", (r"samples\.jsonl",)
    ...     ...
    """
    name = getattr(cls, "format", None)
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
        raise ValueError(f"{cls.__name__}.format must be a lower-case name, got {name!r}")
    if name in WRITERS and WRITERS[name] is not cls:
        raise ValueError(f"format {name!r} is already registered by {WRITERS[name].__name__}")
    for rel in cls.index_files:
        if not any(re.fullmatch(pattern, rel) for pattern in cls.patterns):
            raise ValueError(f"{cls.__name__}: index file {rel!r} matches none of its patterns")
    declare((*cls.patterns, *cls.mask_patterns), (*cls.folders, *cls.mask_folders))
    WRITERS[name] = cls
    return cls


@register
class PngWriter(Writer):
    """``images/00000000.png`` per sample; ``metadata.jsonl`` lists each with its label and boxes; with masks,
    ``masks/00000000.png``, the sample's label image (8-bit, or 16-bit past 254 characters)."""

    format = "png"
    summary = "images/*.png + metadata.jsonl (Hugging Face imagefolder)"
    patterns = (r"images/\d{8}\.png", re.escape(METADATA))
    folders = (IMAGES,)
    encode = staticmethod(png_bytes)  # runs in the workers: the parent only writes
    column = "filename"
    index_files = (METADATA,)
    kept_boxes = True  # metadata.jsonl holds every image's boxes, kept images too
    holds_masks = holds_line_boxes = True
    mask_patterns = (r"masks/\d{8}\.png",)
    mask_folders = (MASKS,)

    @classmethod
    def unit(cls, options: Options) -> int:
        return CHUNK

    @classmethod
    def name(cls, index: int) -> str:
        return f"{IMAGES}/{index:08d}.png"

    @staticmethod
    def mask_name(index: int) -> str:
        return f"{MASKS}/{index:08d}.png"

    @classmethod
    def files(cls, indices: range, options: Options) -> list[str]:
        return [cls.name(i) for i in indices] + ([cls.mask_name(i) for i in indices] if options.masks else [])

    def remake(self, records: dict[str, tuple[str, int | None]], indices: range) -> list[str]:
        """Only the damaged images: one file per sample, so the intact ones stay (same inode)."""
        files = self.files(indices, self.options)
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
        if self.options.masks and batch.masks is None:
            raise RuntimeError(f"{MASKS} needs the masks of samples {batch.start}..{batch.stop}")
        for record in batch.records():
            for rel, data in ((self.name(record.index), lambda r=record: r.image),
                              *(((self.mask_name(record.index), lambda r=record: mask_png_bytes(r.mask)),)
                                if self.options.masks else ())):
                if rel in self._kept:
                    continue
                data = data()
                self.journal.add_bytes(rel, data)
                with atomic_write(self.folder / rel, durable=False) as out:
                    out.write(data)

    def _describe(self, batch: Batch) -> None:
        super()._describe(batch)
        if batch.boxes is None:
            raise RuntimeError(f"{METADATA} needs the boxes of samples {batch.start}..{batch.stop}")
        lines = self.plan.layout == "lines"
        self._streams[METADATA].out.write("".join(
            _json({"file_name": self.name(r.index), "text": r.label, "boxes": r.boxes.tolist(),
                   **({"line_boxes": r.line_boxes.tolist()} if lines else {})}) + "\n"
            for r in batch.records()).encode())


@register
class TarWriter(Writer):
    """WebDataset shards: ``KEY.png``, ``KEY.txt`` and ``KEY.json`` per sample (and with masks ``KEY.mask.png``,
    its label image: WebDataset's ``sample["mask.png"]``), fixed tar metadata.

    Shard ``b`` (``shard-00000b.tar``) holds samples ``b * shard_size`` to ``(b + 1) * shard_size``.
    """

    format = "tar"
    summary = "WebDataset shards shard-NNNNNN.tar of KEY.png, KEY.txt, KEY.json (--shard-size)"
    patterns = (r"shard-\d{6,8}\.tar",)  # up to MAX_COUNT shards of one sample
    takes = ("shard_size",)
    encode = staticmethod(png_bytes)
    holds_masks = holds_line_boxes = True

    def __init__(self, folder: Path, plan: Plan, indices: range, options: Options | None = None) -> None:
        super().__init__(folder, plan, indices, options)
        self._file: Streamed | None = None
        self._tar: tarfile.TarFile | None = None
        self._block: int | None = None

    @classmethod
    def unit(cls, options: Options) -> int:
        return options.shard_size

    machine_unit = unit

    @classmethod
    def key(cls, plan: Plan, options: Options) -> dict[str, Any]:
        return {**super().key(plan, options), "samples_per_shard": options.shard_size}

    @staticmethod
    def shard(block: int) -> str:
        """The file name of shard ``block``."""
        return f"shard-{block:06d}.tar"

    @staticmethod
    def blocks(indices: range, options: Options) -> range:
        """The shard numbers holding samples ``indices`` (none for an empty range)."""
        size = options.shard_size
        return range(indices.start // size, (indices.stop - 1) // size + 1) if len(indices) else range(0)

    @classmethod
    def files(cls, indices: range, options: Options) -> list[str]:
        return [cls.shard(b) for b in cls.blocks(indices, options)]

    def _put(self, batch: Batch) -> None:
        size = self.options.shard_size
        for record in batch.records():
            block = record.index // size
            if block != self._block:
                self._finish()
                self._file = Streamed(self.folder, self.shard(block), self.journal)
                self._tar = tarfile.open(fileobj=self._file.out, mode="w",  # noqa: SIM115 - closed by _finish
                                         format=tarfile.PAX_FORMAT)
                self._block = block
            key = self.name(record.index)
            meta = _json({"text": record.label, "boxes": record.boxes.tolist(),
                          **({"line_boxes": record.line_boxes.tolist()} if self.plan.layout == "lines" else {})
                          }).encode()
            if self.options.masks and record.mask is None:
                raise RuntimeError(f"{self.shard(block)} needs the mask of sample {record.index}")
            mask = ((".mask.png", mask_png_bytes(record.mask)),) if self.options.masks else ()
            for suffix, data in ((".png", record.image), (".txt", record.label.encode()), (".json", meta), *mask):
                info = tarfile.TarInfo(key + suffix)
                info.size, info.mode, info.mtime = len(data), 0o644, 0  # fixed metadata: reproducible bytes
                self._tar.addfile(info, io.BytesIO(data))
            if (record.index + 1) % size == 0 or record.index + 1 == self.indices.stop:
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


def _deflate_images(images: np.ndarray, masks: np.ndarray | None = None) -> tuple[tuple, tuple | None]:
    """A chunk's pixels as one deflated piece of ``images.npy``, and its label images as one of ``masks.npy``
    (``None`` without them): runs in a worker (picklable), so the parent only writes."""
    return (deflate_piece(memoryview(np.ascontiguousarray(images)).cast("B")),
            None if masks is None else deflate_piece(memoryview(np.ascontiguousarray(masks)).cast("B")))


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
        self._pieces: list[tuple[int, int, int]] = []  # (crc, length, deflated bytes) of pieces deflated elsewhere

    def append(self, rows: np.ndarray) -> None:
        self._file.write(np.ascontiguousarray(rows, self.dtype).tobytes())
        self.rows += len(rows)

    def append_piece(self, rows: int, piece: tuple[int, int, bytes]) -> None:
        """``rows`` rows already deflated by :func:`.zipstream.deflate_piece` (in a worker): kept as they are.
        A column takes either pieces or :meth:`append`'s rows, not both."""
        crc, length, compressed = piece
        self._file.write(compressed)
        self._pieces.append((crc, length, len(compressed)))
        self.rows += rows

    def copy_into(self, zw: ZipStreamWriter) -> None:
        zw.begin(f"{self.name}.npy")
        zw.write(_npy_header(self.dtype, (self.rows, *self.row_shape)))
        self._file.seek(0)
        if self._pieces:
            for crc, length, size in self._pieces:
                zw.write_piece(crc, length, self._file.read(size))
        else:
            while block := self._file.read(1 << 20):
                zw.write(block)
        zw.end()

    def close(self) -> None:
        self._file.close()


@register
class NpzWriter(Writer):
    """``dataset.npz``: ``images`` ``(N, H, W)``, ``labels`` ``(N,)`` fixed-width strings,
    ``boxes`` ``(N, max_len, 4)`` padded with -1 and ``lengths`` ``(N,)`` int16; videos hold
    ``images`` ``(N, T, H, W)`` and ``boxes`` ``(N, T, max_len, 4)``, each frame's. With masks,
    ``masks`` of the images' shape: uint8 (uint16 past 254 characters) label images, 0 on paper
    and ``i + 1`` on character ``i``'s visible ink.

    ``boxes`` is int16 (coordinates reach the image's width and height, ends exclusive),
    int32 when the width or height exceeds 32767. ``boxes[i, :lengths[i]]`` are sample
    ``i``'s boxes. Pages (``layout="lines"``) also hold ``line_boxes`` ``(N, max_lines, 4)``, each
    line's box (:func:`.records.line_boxes`), padded with -1. Pixels are deflated by the workers; labels,
    boxes and lengths stream to scratch files in the folder, so memory stays flat whatever the count.
    """

    format = "npz"
    summary = "dataset.npz: images, labels, boxes, lengths (np.load; --dtype)"
    patterns = (re.escape(NPZ),)
    dtypes = ("uint8", "float32")
    encode_chunk = staticmethod(_deflate_images)
    holds_masks = holds_line_boxes = True

    def __init__(self, folder: Path, plan: Plan, indices: range, options: Options | None = None) -> None:
        super().__init__(folder, plan, indices, options)
        self._file: Streamed | None = None
        self._zip: ZipStreamWriter | None = None
        self._columns: list[_Column] = []

    @classmethod
    def key(cls, plan: Plan, options: Options) -> dict[str, Any]:
        return {"dtype": plan.dtype}

    @classmethod
    def files(cls, indices: range, options: Options) -> list[str]:
        return [NPZ] if len(indices) else []

    @staticmethod
    def box_dtype(plan: Plan) -> np.dtype:
        """int16, or int32 when the image's width or height exceeds 32767."""
        return np.dtype(np.int16 if max(plan.width, plan.height) <= INT16_MAX else np.int32)

    def _start(self) -> None:
        plan = self.plan
        self._file = Streamed(self.folder, NPZ, self.journal)
        self._zip = ZipStreamWriter(self._file.out)
        self._zip.begin("images.npy")
        self._zip.write(_npy_header(np.dtype(plan.dtype), (len(self.indices), *plan.shape)))
        longest = plan.lengths[1]  # known from the plan: fixed-width rows, written as they come
        self._columns = [_Column(self.folder, "labels", f"<U{longest}"),
                         _Column(self.folder, "boxes", self.box_dtype(plan), (*plan.shape[:-2], longest, 4)),
                         _Column(self.folder, "lengths", np.int16)]  # at most MAX_DIGITS (10,000) digits
        if self.options.masks:
            self._columns.append(_Column(self.folder, "masks", mask_dtype(plan), plan.shape))
        if plan.layout == "lines":
            self._columns.append(_Column(self.folder, "line_boxes", self.box_dtype(plan), (plan.recipe.lines[1], 4)))

    def _put(self, batch: Batch) -> None:
        if self._zip is None:  # first batch: nothing is written when a resume finds the file whole
            self._start()
        pixels, owners = batch.payload  # deflated by the worker that made them
        self._zip.write_piece(*pixels)
        labels, boxes, lengths = self._columns[:3]
        rows = np.full((len(batch), *boxes.row_shape), NO_BOX, boxes.dtype)
        width = min(boxes.row_shape[-2], batch.boxes.shape[-2])
        rows[..., :width, :] = batch.boxes[..., :width, :]
        labels.append(np.array(batch.labels, dtype=labels.dtype))
        boxes.append(rows)
        lengths.append(np.fromiter(map(len, batch.labels), np.int16, len(batch)))
        if self.options.masks:
            if owners is None:
                raise RuntimeError(f"{NPZ} needs the masks of samples {batch.start}..{batch.stop}")
            self._columns[3].append_piece(len(batch), owners)
        if self.plan.layout == "lines":
            column = self._columns[-1]
            rows = np.full((len(batch), *column.row_shape), NO_BOX, column.dtype)
            for k, record in enumerate(batch.records()):
                found = record.line_boxes
                rows[k, : len(found)] = found
            column.append(rows)

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





@contextlib.contextmanager
def _lmdb_errors():
    """LMDB's errors as this tool's: a disk or memory fault is an ``OSError`` or ``MemoryError`` (one line)."""
    import lmdb

    try:
        yield
    except lmdb.MemoryError as exc:
        raise MemoryError(f"LMDB: {exc}") from None
    except lmdb.Error as exc:
        raise OSError(f"{LMDB_DATA}: {exc}") from None


def lmdb_key(kind: str, number: int) -> bytes:
    """The LMDB key of sample ``number`` (from 1 in each database): ``image-000000001``, ``label-...``."""
    return b"%s-%09d" % (kind.encode(), number)


@register
class LmdbWriter(Writer):
    """``data.mdb``, the LMDB layout OCR trainers read (clovaai deep-text-recognition-benchmark,
    PARSeq, ABINet): ``num-samples``, then ``image-%09d`` (PNG bytes), ``label-%09d`` (UTF-8) and
    ``boxes-%09d`` (JSON ``[[x0, y0, x1, y1], ...]``) numbered from 1; with masks, ``mask-%09d`` (the
    label image, a PNG).

    The folder is itself the LMDB environment: ``lmdb.open(folder, readonly=True, lock=False)``.
    Sample ``i`` of an export of ``indices`` is number ``i - indices.start + 1``. The database is
    written under a temporary name and renamed into place whole, so a killed run leaves no
    ``data.mdb``; its bytes depend only on the samples (same seed, same file).
    """

    format = "lmdb"
    summary = "data.mdb: LMDB of image-%09d PNGs and label-%09d texts, as OCR trainers read (needs lmdb)"
    patterns = (re.escape(LMDB_DATA),)
    tolerated = ("lock.mdb",)  # made by readers that open the environment with locking
    requires = ("lmdb", "lmdb")
    encode = staticmethod(png_bytes)
    holds_masks = True

    def __init__(self, folder: Path, plan: Plan, indices: range, options: Options | None = None) -> None:
        super().__init__(folder, plan, indices, options)
        self._env = None
        self._tmp: Path | None = None

    @classmethod
    def files(cls, indices: range, options: Options) -> list[str]:
        return [LMDB_DATA] if len(indices) else []

    def _map_size(self) -> int:
        """Room to start with: a quarter of the raw pixels (PNG strips compress well); doubled as it fills."""
        return max(1 << 20, len(self.indices) * (int(np.prod(self.plan.shape)) // 4 + 256))

    def _start(self) -> None:
        import lmdb

        self._tmp, out = new_temp(self.folder, LMDB_DATA)
        out.close()
        # One file (subdir=False) and no lock file: the folder's lock already keeps other writers out.
        with _lmdb_errors():
            self._env = lmdb.open(str(self._tmp), subdir=False, lock=False, map_size=self._map_size(), sync=False,
                                  metasync=False, meminit=True, max_dbs=0)

    def _write_rows(self, rows: list[tuple[bytes, bytes]]) -> None:
        """Put ``rows`` in one transaction, growing the map (and writing them again) while it is full."""
        import lmdb

        with _lmdb_errors():
            while True:
                try:
                    with self._env.begin(write=True) as txn:
                        for key, value in rows:
                            txn.put(key, value)
                    return
                except lmdb.MapFullError:  # the transaction was aborted: grow and write it again
                    self._env.set_mapsize(2 * self._env.info()["map_size"])

    def _put(self, batch: Batch) -> None:
        if self._env is None:
            self._start()
        first = self.indices.start - 1
        if self.options.masks and batch.masks is None:
            raise RuntimeError(f"{LMDB_DATA} needs the masks of samples {batch.start}..{batch.stop}")
        self._write_rows([(lmdb_key(kind, r.index - first), value) for r in batch.records()
                          for kind, value in (("image", r.image), ("label", r.label.encode()),
                                              ("boxes", _json(r.boxes.tolist()).encode()),
                                              *((("mask", mask_png_bytes(r.mask)),) if self.options.masks else ()))])

    def _finish(self) -> None:
        if self._env is None:
            return
        self._write_rows([(b"num-samples", str(len(self.indices)).encode())])
        with _lmdb_errors():
            self._env.sync(True)
            self._env.close()
        self._env = None
        size, sha = file_digest(self._tmp)
        self.journal.add(LMDB_DATA, sha, size)  # recorded before it is renamed into place
        self._tmp.replace(self.folder / LMDB_DATA)
        self._tmp = None

    def _discard(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None
