"""Annotations beside a dataset's images, for the trainers that read them: COCO, YOLO and ``gt.txt``.

An annotation is one class, registered with :func:`register`: it declares its name, its files
and the formats it can annotate, and is fed every sample's label and boxes in index order
(those of samples kept by a resume too), like a format's index files. Each character becomes
one object of class ``alphabet.index(char)``; a character with no visible ink (its box is
empty) is not an object.

* ``coco``: ``coco.json``, loadable by ``pycocotools.coco.COCO`` and torchvision's
  ``CocoDetection``. ``images`` name each sample as ``labels.csv`` does (``file_name``, with
  ``width`` and ``height``; ``id`` is its index); one annotation per character with ``bbox``
  ``[x, y, w, h]``, ``area`` and ``iscrowd`` 0; ``categories`` named by the characters, ids from 1.
  With masks, each annotation's ``segmentation`` is its character's mask as COCO's compressed RLE
  (``{"size": [h, w], "counts": "..."}``, what ``pycocotools.mask.encode`` writes) and its ``area``
  the mask's pixels; a character whose every pixel shows darker ink of another has no mask, and
  is no object there.
* ``yolo``: ``labels/00000000.txt`` beside ``images/00000000.png`` (``class cx cy w h``,
  normalised to the image), and ``data.yaml`` with the class names, the Ultralytics layout.
* ``gt``: ``gt.txt``, ``images/00000000.png<TAB>label`` per line (PaddleOCR, MMOCR); not for pages,
  whose labels hold newlines.

Pages (``layout="lines"``) add one object per line that shows ink, of class ``line`` after the
characters' (:func:`.records.line_boxes`; in COCO its segmentation is the ink of its characters).
Videos are annotated in the picture the formats store (:func:`.compose.video.picture`, the frames side
by side): each glyph in each frame is an object, frame ``t``'s boxes shifted by ``t`` frame widths,
COCO's with ``frame`` and ``track_id`` (the glyph's place in the label).
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np

from .._files import atomic_write
from ..records import Batch, line_boxes, line_ranges
from ..sources.glyphs import DIGITS
from .folder import declare
from .record import Journal, Streamed

__all__ = ["ANNOTATIONS", "Annotation", "CocoAnnotation", "DigestSink", "FileSink", "GtAnnotation",
           "YoloAnnotation", "make_annotations", "register", "rle_string"]

COCO, GT, YAML, LABEL_FOLDER = "coco.json", "gt.txt", "data.yaml", "labels"
LINE = "line"  # the class of a page's lines, after the characters' (layout="lines")


# ------------------------------------------------------------------- sinks


class FileSink:
    """Where an export's annotations go: files in the dataset folder, each recorded in its journal and
    then renamed into place; scratch space in the folder too."""

    def __init__(self, folder: Path, journal: Journal) -> None:
        self.folder, self.journal = folder, journal

    def stream(self, rel: str) -> Streamed:
        """A file written in pieces (``.out.write``), then ``commit()`` or ``abort()``."""
        return Streamed(self.folder, rel, self.journal)

    def whole(self, rel: str, data: bytes) -> None:
        """A small file written at once."""
        self.journal.add_bytes(rel, data)
        with atomic_write(self.folder / rel, durable=False) as out:
            out.write(data)

    def scratch(self):
        return tempfile.TemporaryFile(dir=self.folder)


class _Digest:
    """A stream that keeps only the SHA-256 of what it is given."""

    def __init__(self, sink: DigestSink, rel: str) -> None:
        self.sink, self.rel, self._sha = sink, rel, hashlib.sha256()
        self.out = self

    def write(self, data) -> int:
        self._sha.update(data)
        return len(data)

    def commit(self) -> None:
        self.sink.digests[self.rel] = self._sha.hexdigest()

    def abort(self) -> None:
        pass


class DigestSink:
    """The SHA-256 each annotation file would have (``digests``), with nothing written: for
    ``--verify --deep``, which makes the annotations of the samples it makes again and compares."""

    def __init__(self) -> None:
        self.digests: dict[str, str] = {}

    def stream(self, rel: str) -> _Digest:
        return _Digest(self, rel)

    def whole(self, rel: str, data: bytes) -> None:
        self.digests[rel] = hashlib.sha256(data).hexdigest()

    def scratch(self):
        return tempfile.TemporaryFile()  # anonymous: never in the folder verified


# ------------------------------------------------------------- annotations


class Annotation(ABC):
    """One kind of annotation file: what it writes for the samples of an export.

    Attributes
    ----------
    name : str
        ``--annotations NAME``.
    summary : str
        One line for ``--help``.
    patterns, folders : tuple of str
        Its files and sub-folders, as for a format (:class:`.writers.Writer`).
    formats : tuple of str or None
        The formats whose samples it can name (``None``: any).
    reads_masks : bool
        Whether it writes what the masks say (COCO's segmentation): a resume then makes the masks of
        the samples it keeps again, as their boxes.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    patterns: ClassVar[tuple[str, ...]]
    folders: ClassVar[tuple[str, ...]] = ()
    formats: ClassVar[tuple[str, ...] | None] = None
    reads_masks: ClassVar[bool] = False

    def __init__(self, shape: tuple[int, int], indices: range, sample_name: Callable[[int], str],
                 alphabet: str = DIGITS, *, lines: bool = False, frames: int = 0) -> None:
        """``shape``: the picture of a sample, as the formats store it (a video's ``frames`` side by side,
        :func:`.compose.video.picture`); ``lines``: a page's lines are objects too."""
        self.indices, self.sample_name, self.alphabet, self.lines = indices, sample_name, alphabet, lines
        self.height, self.width = shape
        self.frames = frames
        self.sink: FileSink | DigestSink | None = None

    @classmethod
    @abstractmethod
    def files(cls, indices: range) -> list[str]:
        """Every file it writes for samples ``indices``."""

    def open(self, sink: FileSink | DigestSink) -> None:
        """Start writing into ``sink`` (the folder's :class:`FileSink`, or a :class:`DigestSink`)."""
        self.sink = sink

    @abstractmethod
    def describe(self, batch: Batch) -> None:
        """Annotate the samples of ``batch`` (batches arrive in index order)."""

    def commit(self) -> None:
        """Finish its files (each recorded, then renamed into place)."""

    def abort(self) -> None:
        """Drop what is not yet in place."""

    def objects(self, label: str, boxes: np.ndarray):
        """``((start, stop), frame, (class, x0, y0, x1, y1))`` of each object of a sample, in its picture's
        coordinates: each character with visible ink (``class`` its place in the alphabet), and a video's in
        each ``frame`` (its boxes shifted by ``frame`` frame widths; ``None`` for other layouts); then each
        line of a page that shows ink (``class`` ``len(alphabet)``, :func:`.records.line_boxes`). Its ink is
        where the sample's label image holds ``start + 1 .. stop``."""
        frames = [(None, boxes)] if boxes.ndim == 2 else enumerate(boxes)
        step = self.width // self.frames if self.frames else 0
        for t, these in frames:
            shift = 0 if t is None else t * step
            for i, (char, (x0, y0, x1, y1)) in enumerate(zip(label, these.tolist(), strict=True)):
                if x1 > x0 and y1 > y0:
                    yield (i, i + 1), t, (self.alphabet.index(char), x0 + shift, y0, x1 + shift, y1)
        if self.lines:
            for span, (x0, y0, x1, y1) in zip(line_ranges(label), line_boxes(label, boxes).tolist(), strict=True):
                if x1 > x0 and y1 > y0:
                    yield span, None, (len(self.alphabet), x0, y0, x1, y1)

    def ink(self, mask: np.ndarray, span: tuple[int, int], frame: int | None) -> np.ndarray:
        """Where an object of :meth:`objects` shows in the sample's picture: ``mask`` (its label image) holds
        ``span``'s values there (in ``frame``'s columns only, for a video)."""
        start, stop = span
        if frame is None:
            return mask == stop if stop == start + 1 else (mask > start) & (mask <= stop)
        mine = np.zeros((self.height, self.width), bool)
        step = self.width // self.frames
        mine[:, frame * step : (frame + 1) * step] = mask[frame] == stop
        return mine


ANNOTATIONS: dict[str, type[Annotation]] = {}
"""Every annotation by name."""


def register(cls: type[Annotation]) -> type[Annotation]:
    """Make ``cls`` an annotation: ``--annotations`` offers it, and the folder's checks know its files."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
        raise ValueError(f"{cls.__name__}.name must be a lower-case name, got {name!r}")
    if name in ANNOTATIONS and ANNOTATIONS[name] is not cls:
        raise ValueError(f"annotation {name!r} is already registered by {ANNOTATIONS[name].__name__}")
    declare(cls.patterns, cls.folders)
    ANNOTATIONS[name] = cls
    return cls


def make_annotations(names, plan, indices: range, sample_name: Callable[[int], str]) -> list[Annotation]:
    """The annotations ``names`` of ``plan``'s samples ``indices``: a sample's picture as the formats store it
    (:func:`.compose.video.picture_shape`), a page's lines, a video's frames."""
    from ..compose.video import picture_shape

    return [ANNOTATIONS[name](picture_shape(plan.shape), indices, sample_name, plan.alphabet,
                              lines=plan.layout == "lines", frames=plan.frames if plan.layout == "video" else 0)
            for name in names]


def _json(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def rle_string(mask: np.ndarray) -> str:
    """COCO's compressed run-length encoding of a boolean ``mask`` (runs down the columns, the first of
    background; each run as a difference from the one two before, 5 bits a character from ``"0"``): the
    ``counts`` ``pycocotools.mask.encode`` writes.

    Examples
    --------
    >>> rle_string(np.array([[0, 1], [1, 1]], bool))
    '13'
    """
    flat = np.asfortranarray(mask, bool).ravel(order="F")
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
    if flat.size and flat[0]:
        runs = [0, *runs]  # the first run counts background
    out = []
    for i, run in enumerate(runs):
        x = run - runs[i - 2] if i > 2 else run
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            out.append(chr(c + 48 + (0x20 if more else 0)))
    return "".join(out)


class _OneFile(Annotation):
    """An annotation streamed into one file, :attr:`file` (none for an empty range)."""

    file: ClassVar[str]

    @classmethod
    def files(cls, indices: range) -> list[str]:
        return [cls.file] if len(indices) else []

    def open(self, sink: FileSink | DigestSink) -> None:
        super().open(sink)
        self._out = sink.stream(self.file)

    def commit(self) -> None:
        self._out.commit()
        self._out = None

    def abort(self) -> None:
        if getattr(self, "_out", None) is not None:
            self._out.abort()
            self._out = None


@register
class CocoAnnotation(_OneFile):
    """``coco.json``: images, one annotation per visible character, categories named by the characters.

    Streamed: images go to the file as they come, annotations to a scratch file in the folder
    that is copied in at the end, so memory stays flat whatever the count.
    """

    name, file = "coco", COCO
    reads_masks = True
    summary = "coco.json (pycocotools, torchvision CocoDetection)"
    patterns = (re.escape(COCO),)

    def open(self, sink: FileSink | DigestSink) -> None:
        super().open(sink)
        self._objects = sink.scratch()  # closed by commit() or abort()
        self._next_id, self._images = 1, 0
        categories = [{"id": k + 1, "name": char, "supercategory": "character"} for k, char in enumerate(self.alphabet)]
        if self.lines:
            categories.append({"id": len(self.alphabet) + 1, "name": LINE, "supercategory": LINE})
        self._out.out.write(('{"info":{"description":"synthetic strings of handwritten characters, '
                             'mnist_dataset_generator"},"licenses":[],'
                             f'"categories":{_json(categories)},"images":[').encode())

    def describe(self, batch: Batch) -> None:
        images, objects = [], []
        for record in batch.records():
            images.append(_json({"id": record.index, "file_name": self.sample_name(record.index),
                                 "width": self.width, "height": self.height}))
            for span, frame, (cls, x0, y0, x1, y1) in self.objects(record.label, record.boxes):
                item = {"id": self._next_id, "image_id": record.index, "category_id": cls + 1,
                        "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0), "iscrowd": 0,
                        **({} if frame is None else {"frame": frame, "track_id": span[0]})}
                if record.mask is not None:  # the ink of characters start..stop (a line's, or one character's)
                    mine = self.ink(record.mask, span, frame)
                    area = int(mine.sum())
                    if not area:  # hidden whole under darker ink: no segment to match, so no object
                        continue
                    item["segmentation"] = {"size": list(mine.shape), "counts": rle_string(mine)}
                    item["area"] = area
                objects.append(_json(item))
                self._next_id += 1
        if images:
            self._out.out.write((("," if self._images else "") + ",".join(images)).encode())
            self._images += len(images)
        if objects:
            self._objects.write((("," if self._objects.tell() else "") + ",".join(objects)).encode())

    def commit(self) -> None:
        out = self._out.out
        out.write(b'],"annotations":[')
        self._objects.seek(0)
        while block := self._objects.read(1 << 20):
            out.write(block)
        out.write(b"]}\n")
        self._objects.close()
        super().commit()

    def abort(self) -> None:
        if getattr(self, "_out", None) is not None:
            self._objects.close()
        super().abort()


@register
class YoloAnnotation(Annotation):
    """``labels/00000000.txt`` per image (``class cx cy w h``, normalised) and ``data.yaml``: Ultralytics'
    layout, where each image's labels sit at its path with ``images`` replaced by ``labels``."""

    name = "yolo"
    summary = "labels/*.txt + data.yaml (Ultralytics YOLO; png only)"
    patterns = (r"labels/\d{8}\.txt", re.escape(YAML))
    folders = (LABEL_FOLDER,)
    formats = ("png",)

    @classmethod
    def files(cls, indices: range) -> list[str]:
        return [*(f"{LABEL_FOLDER}/{i:08d}.txt" for i in indices), *([YAML] if len(indices) else [])]

    def describe(self, batch: Batch) -> None:
        for record in batch.records():
            found = (box for _, _, box in self.objects(record.label, record.boxes))
            lines = "".join(f"{cls} {(x0 + x1) / 2 / self.width:.6f} {(y0 + y1) / 2 / self.height:.6f} "
                            f"{(x1 - x0) / self.width:.6f} {(y1 - y0) / self.height:.6f}\n"
                            for cls, x0, y0, x1, y1 in found)
            self.sink.whole(f"{LABEL_FOLDER}/{record.index:08d}.txt", lines.encode())

    def commit(self) -> None:
        classes = [*self.alphabet, *([LINE] if self.lines else [])]
        names = ", ".join(json.dumps(name) for name in classes)
        data = ("# Ultralytics YOLO dataset written by mnist_dataset_generator: images/ and their labels/\n"
                "# (class cx cy w h, normalised); give this file's path to YOLO(...).train(data=...)\n"
                f"train: images\nval: images\nnc: {len(classes)}\nnames: [{names}]\n").encode()
        self.sink.whole(YAML, data)


@register
class GtAnnotation(_OneFile):
    """``gt.txt``: ``images/00000000.png<TAB>label`` per line, in index order (PaddleOCR, MMOCR)."""

    name, file = "gt", GT
    summary = "gt.txt of path<TAB>label lines (PaddleOCR, MMOCR; png only)"
    patterns = (re.escape(GT),)
    formats = ("png",)

    def describe(self, batch: Batch) -> None:
        self._out.out.write("".join(f"{self.sample_name(r.index)}\t{r.label}\n" for r in batch.records()).encode())
