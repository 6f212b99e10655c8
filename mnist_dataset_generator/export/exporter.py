"""Write a dataset to a folder in any registered format (png, npz, tar, lmdb); manifest, preview, checksums.

Every file goes to a temporary name, is recorded (path, size, SHA-256) in the
folder's journal, then renamed into place, so a killed export leaves only
complete, recorded files, and ``resume=True`` re-hashes what it keeps and
finishes with output identical to an uninterrupted run (samples are pure
functions of ``(seed, index)``). One run at a time holds the folder's lock.
Memory stays bounded whatever the count: images stream from the generator to
the files chunk by chunk. Every format carries each digit's box. :mod:`.writers`
holds the formats (one :class:`.writers.Writer` each), :mod:`.prepare` the folder's
preparation and refusals, :mod:`.folder` the lock, :mod:`.record` the manifest and the
record of files, :mod:`.verify` the verification.

Folder layout::

    manifest.json        tool version, arguments, seed, split, count, created, SHA-256 of SHA256SUMS
    SHA256SUMS           SHA-256 of every other file (``sha256sum -c SHA256SUMS`` works here)
    labels.csv           filename,label (png) or key,label (npz, tar), in index order
    preview.png          the first samples with their labels, for a quick look
    images/00000000.png  png format
    metadata.jsonl       png format: {"file_name", "text", "boxes"} per image (Hugging Face imagefolder)
    dataset.npz          npz format: images (N, H, W), labels, boxes (N, max_len, 4) and lengths
    shard-000000.tar     tar format: KEY.png + KEY.txt + KEY.json per sample, 1000 samples per shard (shard_size)
    data.mdb             lmdb format: num-samples, image-%09d, label-%09d, boxes-%09d from 1
    coco.json            --annotations coco; labels/00000000.txt + data.yaml: yolo; gt.txt: gt
"""

from __future__ import annotations

import io
import itertools
import logging
import os
import time
from pathlib import Path

import numpy as np

from .. import __version__
from .._files import atomic_write
from .._progress import ProgressArg, Reporter
from ..compose.strip import to_uint8
from ..compose.video import picture, picture_shape
from ..dataset import Plan
from ..making import check_memory, chunk_bounds, make_sample
from ..mnistdata import ChecksumError, IdxFormatError, MnistData
from ..records import Batch
from ..sampling import SAMPLING, sample_labels
from ..workers import iter_chunks
from .folder import JOURNAL, LABELS, PREVIEW, SUMS, FolderLock
from .prepare import _create, _remove_empty, _roll_back, prepare_folder
from .record import Journal, write_manifest
from .writers import FOLDER_LAYOUT, SAMPLES_PER_TAR, WRITERS, Options, Writer, png_bytes, units

__all__ = ["FORMATS", "SAMPLES_PER_TAR", "Options", "check_format", "check_layout", "dataset_key", "digits_sha256",
           "export_dataset", "labels_sha256", "png_bytes", "shard_range", "write_png"]

log = logging.getLogger(__name__)

FORMATS = tuple(WRITERS)  # every registered format: ("png", "tar", "npz", ...)
PREVIEW_SAMPLES = 16


def check_format(fmt: str, dtype: str | None = None, options: Options | None = None) -> type[Writer]:
    """The writer of ``fmt``, once it is known to store ``dtype`` (``None``: not asked), to do what
    ``options`` ask, and what it imports is installed (one-line ``ValueError`` naming the format, the
    choices or what to install)."""
    import importlib

    writer = WRITERS.get(fmt) if isinstance(fmt, str) else None
    if writer is None:
        raise ValueError(f"format must be one of {', '.join(WRITERS)}, got {fmt!r}")
    if dtype is not None and dtype not in writer.dtypes:
        raise ValueError(f"format {fmt} stores {' or '.join(writer.dtypes)} images, not {dtype}"
                         + (" (8-bit PNGs)" if writer.dtypes == ("uint8",) and writer.encode is png_bytes else ""))
    if options is not None:
        writer.check_options(options)
    if writer.requires is not None:
        module, extra = writer.requires
        try:
            importlib.import_module(module)
        except ImportError:
            raise ValueError(f"format {fmt} needs the {module} package: pip install "
                             f"'mnist_dataset_generator[{extra}]' (or pip install {module})") from None
    return writer


def check_layout(plan: Plan, options: Options, fmt: str | None = None) -> None:
    """Refuse (one line) what ``options`` ask that the plan's layout cannot give (written as ``fmt``)."""
    if plan.layout == "video" and fmt == "npz" and options.annotations:
        raise ValueError(f"{', '.join(options.annotations)} annotations of videos describe the picture png, tar "
                         "and lmdb store (the frames side by side), which an npz does not hold: use one of those "
                         "formats, or the npz's boxes per frame")
    if plan.layout == "lines" and "gt" in options.annotations:
        raise ValueError("gt annotations hold one line of text per image, and a page's label holds several: use "
                         "labels.csv, metadata.jsonl or coco for layout='lines'")


def shard_range(count: int, shard: tuple[int, int] | None, fmt: str, options: Options | None = None) -> range:
    """The indices machine ``I`` of ``N`` makes: disjoint, contiguous, together ``range(count)``.

    The split falls at multiples of the format's ``machine_unit`` (tar: whole shard
    files), so every machine writes complete files, identical to a single machine's.

    Examples
    --------
    >>> [shard_range(10, (i, 3), "png") for i in range(3)]
    [range(0, 3), range(3, 6), range(6, 10)]
    >>> shard_range(2500, (1, 2), "tar")
    range(1000, 2500)
    >>> shard_range(2500, (1, 2), "tar", Options(shard_size=100))
    range(1200, 2500)
    """
    if shard is None:
        return range(count)
    i, n = shard
    if not 0 <= i < n:
        raise ValueError(f"shard must be I/N with 0 <= I < N, got {i}/{n}")
    if fmt not in WRITERS:
        raise ValueError(f"format must be one of {', '.join(WRITERS)}, got {fmt!r}")
    unit = WRITERS[fmt].machine_unit(Options() if options is None else options)
    blocks = -(-count // unit)
    return range(min(count, i * blocks // n * unit), min(count, (i + 1) * blocks // n * unit))


def write_png(path: str | os.PathLike, image: np.ndarray, *, overwrite: bool = False) -> Path:
    """Write one image as an 8-bit grayscale PNG, atomically; return the path written.

    Without ``overwrite`` an existing file is never replaced, even by a
    concurrent writer: the next free name (``name-1.png``, ``name-2.png``, ...)
    is taken instead.
    """
    path = Path(path)
    data = png_bytes(image)
    candidate, n = path, 0
    while True:
        try:
            with atomic_write(candidate, overwrite=overwrite) as out:
                out.write(data)
            return candidate
        except FileExistsError:
            n += 1
            candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")


def _preview(plan: Plan, source: MnistData, indices: range) -> bytes | None:
    """The preview sheet as PNG bytes: the first samples of ``indices`` with their labels."""
    from PIL import Image, ImageDraw

    shown = list(indices[:PREVIEW_SAMPLES])
    if not shown:
        return None
    samples = [make_sample(plan, source, i) for i in shown]
    text_width = 8 + 7 * max(len(label) for _, label in samples) + 70
    height, width = picture_shape(plan.shape)  # a video: its frames side by side
    row = height + 6
    canvas = Image.new("L", (width + text_width, row * len(samples) + 4), 255)
    draw = ImageDraw.Draw(canvas)
    for k, ((image, label), index) in enumerate(zip(samples, shown, strict=True)):
        canvas.paste(Image.fromarray(to_uint8(picture(image))), (2, 4 + k * row))
        draw.text((width + 8, 4 + k * row + height // 2 - 6), f"{index:>6}  {label}", fill=0)
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


def export_dataset(
    folder: str | os.PathLike,
    plan: Plan,
    source: MnistData,
    *,
    fmt: str = "png",
    options: Options | None = None,
    indices: range | None = None,
    workers: int = 1,
    arguments: dict | None = None,
    description: dict | None = None,
    resume: bool = False,
    force: bool = False,
    progress: ProgressArg = None,
    from_files: bool = False,
    data_home=None,
) -> dict:
    """Write samples ``indices`` (default all) of ``plan`` into ``folder`` as ``fmt``.

    Parameters
    ----------
    folder : path
        Created when missing. A non-empty folder is refused unless ``resume``
        (the same dataset: its manifest must agree) or ``force``.
    plan, source
        From :func:`.dataset.plan_dataset` and the digit source.
    fmt : str
        A registered format (:data:`FORMATS`: png, tar, npz, ...).
    options : Options, optional
        The layout of its files (tar: ``shard_size``).
    indices : range
        A part of the dataset (see :func:`shard_range`); file names use global indices.
    workers : int
        Processes generating images (0: all cores).
    arguments, description : dict
        Recorded in the manifest: the call's arguments as given, and what
        identifies the dataset (filters by name, ...) beyond the plan.
    progress : None, bool or callable
        ``report(done, total)`` in samples.

    Returns
    -------
    dict
        The manifest written (``"complete": true``), plus ``written`` (samples
        made now) and ``seconds``.
    """
    import datetime

    options = Options() if options is None else options
    check_format(fmt, options=options)  # no dtype: a float32 plan is written as 8-bit PNGs by png and tar
    check_layout(plan, options, fmt)
    folder = Path(folder)
    indices = range(plan.count) if indices is None else indices
    check_memory(plan, door="export_dataset", workers=workers, bounds=chunk_bounds(indices),  # before the folder
                 masks=options.masks)
    dataset = {**dataset_key(plan, fmt, indices, description, options), "digits": digits_sha256(source)}
    manifest = {
        "tool": "mnist_dataset_generator", "version": __version__, "complete": False,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "dataset": dataset, "arguments": arguments or {},
    }
    # Made before the folder is touched: a filter that fails on the first samples leaves it as it
    # was (even with force). Forked workers also inherit what rendering imports.
    preview = _preview(plan, source, indices)
    created = _create(folder)
    try:
        with FolderLock(folder):
            kept_records = prepare_folder(folder, manifest, resume=resume, force=force)
            try:
                return _write_all(folder, plan, source, WRITERS[fmt](folder, plan, indices, options), workers,
                                  manifest, kept_records or {}, preview,
                                  progress=progress, from_files=from_files, data_home=data_home)
            except (ChecksumError, IdxFormatError):
                raise  # the digit files, not the request: an environment fault, resumable
            except (ValueError, MemoryError):
                # A bad request found late (a filter returning NaN at sample 5,000), or one too large
                # for this machine (NumPy's "Unable to allocate"), fails the same way every time:
                # nothing of this run stays behind to block or confuse the next one.
                if kept_records is None:
                    _roll_back(folder)
                raise
    except (ValueError, MemoryError):
        _remove_empty(created)  # the folders this run created, if nothing but our lock is left there
        raise


def dataset_key(plan: Plan, fmt: str, indices: range, description: dict | None = None,
                options: Options | None = None) -> dict:
    """What identifies a dataset in its manifest (``resume`` needs the same), but for its digit source."""
    options = Options() if options is None else options
    dataset = {
        "count": plan.count, "length": list(plan.lengths), "spacing": list(plan.spacing),
        "image_width": plan.width, "image_height": plan.height, "background": plan.background,
        "evenly": plan.evenly, "fit": plan.fit, "align": plan.align, "split": plan.split,
        "seed": plan.entropy, "epoch": plan.epoch, "sampling": SAMPLING, "folder_layout": FOLDER_LAYOUT,
        "format": fmt, "indices": [indices.start, indices.stop],
        "labels": None if plan.labels is None else labels_sha256(plan.labels),
        # a part of a labels dataset: the digest of its own labels too, which --verify --deep can check
        **({"labels_part": labels_sha256(plan.labels[indices.start:indices.stop])}
           if plan.labels is not None and indices != range(plan.count) else {}),
        **WRITERS[fmt].key(plan, options),  # the format's own: dtype, samples per shard
        # only when asked: the keys of folders made without annotations stay what they were
        **({"annotations": list(options.annotations)} if options.annotations else {}),
        **({"masks": True} if options.masks else {}),
        **({"source": plan.source} if plan.source != "mnist" else {}),  # as the recipe: new keys only when set
        # which character each label is: a folder's classes.txt edited, or its sub-folders renamed, is not resumed
        **({"alphabet": plan.glyphs} if plan.glyphs != "0123456789" else {}),
        **(description or {}),
        "recipe": _recipe_json(plan),
    }
    return dataset


def labels_sha256(labels) -> str:
    """The SHA-256 that names a list of labels: of their lines joined by ``"\\n"`` (what the manifests of
    strips have always held), or of their JSON when a label holds a newline itself (a page's), where
    that join would name ``["1\\n2", "3"]`` and ``["1", "2\\n3"]`` alike.

    Examples
    --------
    >>> labels_sha256(["1\\n2", "3"]) == labels_sha256(["1", "2\\n3"])
    False
    """
    import hashlib
    import json

    text = json.dumps(list(labels)) if any("\n" in label for label in labels) else "\n".join(labels)
    return hashlib.sha256(text.encode()).hexdigest()


def _recipe_json(plan: Plan) -> dict:
    """The plan's recipe as JSON (:meth:`.recipe.Recipe.to_json`); given labels stand as their
    SHA-256 (the key's ``labels``) and their lengths, not a million strings in the manifest."""
    recipe = plan.recipe.to_json()
    if plan.labels is not None:
        recipe["labels"], recipe["length"] = None, list(plan.lengths)
    return recipe


def digits_sha256(source: MnistData) -> str:
    """SHA-256 of the digit source's images and labels, so a resume never mixes two sources."""
    import hashlib

    sha = hashlib.sha256()
    for arr in (source.images, source.labels):
        sha.update(memoryview(np.ascontiguousarray(arr)).cast("B"))
    return sha.hexdigest()


def _write_all(folder: Path, plan: Plan, source: MnistData, writer: Writer, workers: int,
               manifest: dict, kept_records: dict, preview: bytes | None, *, progress, from_files: bool,
               data_home) -> dict:
    """The export proper, under the folder's lock: keep what verifies, make the rest, record every file."""
    started = time.perf_counter()
    indices, options = writer.indices, writer.options
    pieces = units(indices, writer.unit(options))
    # Files of an interrupted run, re-hashed against their record: those that match are kept, a
    # piece with a damaged file is made again, writing only what the writer says (png: the damaged).
    remake = [set(writer.remake(kept_records, u)) if kept_records else None for u in pieces]  # None: all
    keep = [r is not None and not r for r in remake]
    kept_count = sum(len(u) for u, kept in zip(pieces, keep, strict=True) if kept)
    kept = {rel: kept_records[rel] for u, r in zip(pieces, remake, strict=True) if r is not None
            for rel in writer.files(u, options) if rel not in r}
    with Journal(folder, kept, carried=kept_records) as journal:
        _make_units(plan, source, writer, journal, pieces, keep, workers, kept_count, len(indices),
                    progress=progress, from_files=from_files, data_home=data_home)
        if preview is not None:
            journal.add_bytes(PREVIEW, preview)
            with atomic_write(folder / PREVIEW) as out:
                out.write(preview)
        manifest["labels_sha256"] = journal.records[LABELS][0]
        manifest["labels_file"] = LABELS
        manifest["checksums"] = {"file": SUMS, "sha256": journal.write_sums(), "files": len(journal.records)}
        manifest["complete"] = True
        write_manifest(folder, manifest)
    (folder / JOURNAL).unlink(missing_ok=True)  # SHA256SUMS holds the record now
    # samples whose files were written now: a png piece made again for a damaged image keeps the others
    kept_samples = sum(len(u) * (len(files) - len(r)) // len(files) for u, r in zip(pieces, remake, strict=True)
                       if r is not None and (files := writer.files(u, options)))
    written = len(indices) - kept_samples
    seconds = time.perf_counter() - started
    log.info("wrote %d samples (%d kept from before) to %s in %.1f s", written, kept_samples, folder, seconds)
    return {**manifest, "written": written, "seconds": seconds}


def _discard_images(images, masks=None) -> None:
    """The ``encode_chunk`` of samples rendered again for their boxes: workers send no pixels back."""


def _batches(plan: Plan, source: MnistData, writer: Writer, pieces: list[range], keep: list[bool], workers: int,
             *, from_files: bool, data_home):
    """``(batch, kept)`` for every sample of ``pieces``, in index order.

    Each run of consecutive pieces to make comes from one :func:`.dataset.iter_chunks`,
    encoded in its workers as the writer asks. Kept pieces carry their labels and, when
    the writer needs them (``kept_boxes``), their boxes: those samples are rendered again
    without encoding, the cost of a resume that keeps files. One pool of workers at a time.
    """
    for kept, run in itertools.groupby(zip(pieces, keep, strict=True), key=lambda pair: pair[1]):
        bounds = [b for piece, _ in run for b in chunk_bounds(piece)]
        if kept and not writer.kept_boxes:
            for a, b in bounds:
                yield Batch(a, sample_labels(plan, a, b), None), True
            continue
        if kept:
            log.info("rendering samples %d..%d again for their boxes (their files are kept)", bounds[0][0],
                     bounds[-1][1])
        read = any(a.reads_masks for a in writer.annotations)  # COCO's segmentation: kept samples' masks too
        masks = writer.options.masks and (read or not kept)
        if masks and not kept and not read and writer.encode_chunk is not None:
            masks = "payload"  # deflated where they are made: the raw masks stay in the workers
        chunks = iter_chunks(plan, source, bounds, workers, from_files=from_files, data_home=data_home,
                             encode=None if kept else writer.encode,
                             encode_chunk=_discard_images if kept else writer.encode_chunk, boxes=True, masks=masks)
        try:
            for batch in chunks:
                yield batch, kept
        finally:
            chunks.close()  # its workers end before the next run's start


def _make_units(plan: Plan, source: MnistData, writer: Writer, journal: Journal, pieces: list[range],
                keep: list[bool], workers: int, done: int, total: int, *, progress, from_files: bool,
                data_home) -> None:
    """Make every piece not kept, in order, and the index files (``labels.csv``, ...) of all of them."""
    report = Reporter(progress, desc="samples", unit="img")
    batches = _batches(plan, source, writer, pieces, keep, workers, from_files=from_files, data_home=data_home)
    try:
        writer.open(journal)
        for batch, kept in batches:
            if kept:
                writer.keep(batch)
                continue
            writer.write(batch)
            done += len(batch)
            report(done, total)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    finally:
        report.close()
        batches.close()
