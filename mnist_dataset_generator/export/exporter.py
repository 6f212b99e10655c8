"""Write a dataset to a folder: png + csv + jsonl, npz, or WebDataset tar shards; manifest, preview, checksums.

Every file goes to a temporary name, is recorded (path, size, SHA-256) in the
folder's journal, then renamed into place, so a killed export leaves only
complete, recorded files, and ``resume=True`` re-hashes what it keeps and
finishes with output identical to an uninterrupted run (samples are pure
functions of ``(seed, index)``). One run at a time holds the folder's lock.
Memory stays bounded whatever the count: images stream from the generator to
the files chunk by chunk. Every format carries each digit's box. :mod:`.writers`
holds the formats (one :class:`.writers.Writer` each), :mod:`.datasetfolder` the lock,
the manifest, the record and the verification.

Folder layout::

    manifest.json        tool version, arguments, seed, split, count, created, SHA-256 of SHA256SUMS
    SHA256SUMS           SHA-256 of every other file (``sha256sum -c SHA256SUMS`` works here)
    labels.csv           filename,label (png) or key,label (npz, tar), in index order
    preview.png          the first samples with their labels, for a quick look
    images/00000000.png  png format
    metadata.jsonl       png format: {"file_name", "text", "boxes"} per image (Hugging Face imagefolder)
    dataset.npz          npz format: images (N, H, W), labels, boxes (N, max_len, 4) and lengths
    shard-000000.tar     tar format: KEY.png + KEY.txt + KEY.json per sample, 1000 samples per shard
"""

from __future__ import annotations

import contextlib
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
from ..dataset import (
    MAX_COUNT,
    SAMPLING,
    Plan,
    check_memory,
    chunk_bounds,
    iter_chunks,
    make_sample,
    sample_labels,
)
from ..mnistdata import ChecksumError, IdxFormatError, MnistData
from ..records import Batch
from .folder import (
    IMAGES,
    JOURNAL,
    LABELS,
    LOCK,
    MANIFEST,
    PREVIEW,
    SUMS,
    FolderLock,
    Journal,
    ManifestError,
    check_no_links,
    owned_records,
    read_manifest,
    refuse_foreign,
    remove_leftovers,
    remove_recorded,
    write_manifest,
)
from .writers import FOLDER_LAYOUT, SAMPLES_PER_TAR, WRITERS, Writer, png_bytes, units

__all__ = ["FORMATS", "SAMPLES_PER_TAR", "check_folder", "export_dataset", "png_bytes", "shard_range", "write_png"]

log = logging.getLogger(__name__)

FORMATS = tuple(WRITERS)  # ("png", "npz", "tar")
PREVIEW_SAMPLES = 16


def shard_range(count: int, shard: tuple[int, int] | None, fmt: str) -> range:
    """The indices machine ``I`` of ``N`` makes: disjoint, contiguous, together ``range(count)``.

    The split falls at multiples of the format's ``machine_unit`` (tar: whole shard
    files), so every machine writes complete files, identical to a single machine's.

    Examples
    --------
    >>> [shard_range(10, (i, 3), "png") for i in range(3)]
    [range(0, 3), range(3, 6), range(6, 10)]
    >>> shard_range(2500, (1, 2), "tar")
    range(1000, 2500)
    """
    if shard is None:
        return range(count)
    i, n = shard
    if not 0 <= i < n:
        raise ValueError(f"shard must be I/N with 0 <= I < N, got {i}/{n}")
    if fmt not in WRITERS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    unit = WRITERS[fmt].machine_unit
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


# ------------------------------------------------------------------ folder


def _dataset_key(manifest: dict) -> dict:
    return manifest.get("dataset", {})


def expected_files(manifest: dict) -> list[str]:
    """Every file a finished export of ``manifest`` holds besides the manifest and ``SHA256SUMS``."""
    dataset = manifest["dataset"]
    try:
        start, stop = dataset["indices"]
        count, fmt = dataset["count"], dataset["format"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, stop, count)):
            raise TypeError
    except (KeyError, TypeError, ValueError):
        raise ManifestError("manifest.json is damaged: no \"indices\" [start, stop], \"count\" and "
                            "\"format\"") from None
    if not 0 <= start <= stop <= count <= MAX_COUNT:
        raise ManifestError(f"manifest.json is damaged: indices {[start, stop]} do not lie in 0..count {count} "
                            f"(at most {MAX_COUNT})")
    writer = WRITERS.get(fmt) if isinstance(fmt, str) else None
    if writer is None:
        raise ManifestError(f"manifest.json is damaged: unknown format {fmt!r}")
    indices = range(start, stop)
    return [*writer.expected(indices), *([PREVIEW] if len(indices) else [])]


def check_folder(folder: str | os.PathLike, *, resume: bool, force: bool, dataset: dict | None = None) -> None:
    """Refuse early (before any data is loaded) what :func:`prepare_folder` would refuse.

    ``dataset`` (from :func:`dataset_key`) lets a resume of a different dataset be refused now
    too; only the digit source cannot be compared before it is loaded.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"output folder {folder} exists and is not a folder")
    if not folder.exists():
        parent = next((p for p in folder.absolute().parents if p.exists()), None)
        if parent is not None and not os.access(parent, os.W_OK | os.X_OK):
            raise ValueError(f"cannot create output folder {folder}: {parent} is not writable")
        return
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"output folder {folder} is not writable")
    if (folder / LOCK).exists():
        with FolderLock(folder, record_owner=False):  # a run writing here now is named, whatever else is wrong
            pass
    _refusals(folder, dataset, resume=resume, force=force)


def _busy(folder: Path) -> bool:
    return any(not p.name.startswith(".") for p in folder.iterdir())


def _refusals(folder: Path, dataset: dict | None, *, resume: bool, force: bool) -> tuple[dict | None, dict]:
    """``(old manifest, records of what this tool wrote)``, or the one-line refusal of this folder.

    ``dataset=None`` skips the comparison with a resumed run's dataset; a key missing from
    ``dataset`` (the digit source, before it is loaded) is not compared.
    """
    check_no_links(folder)
    old = read_manifest(folder)  # a manifest that is not ours is an error now, not a traceback later
    busy = _busy(folder)
    if resume and old is not None and dataset is not None:
        theirs = _dataset_key(old)
        if theirs.get("folder_layout") != dataset.get("folder_layout"):
            made = (f"by an older version of this tool ({old.get('version')}, before boxes)"
                    if "folder_layout" not in theirs else f"with folder layout {theirs['folder_layout']!r}")
            raise ValueError(  # its kept files would lack what this version writes beside them: never mixed
                f"{folder} was made {made}; this version writes folder layout {FOLDER_LAYOUT!r} (per-digit "
                "boxes in every format), so it is not resumed: use --force or another folder"
            )
        diff = sorted(k for k in set(theirs) | set(dataset)
                      if (k in dataset or k != "digits") and theirs.get(k) != dataset.get(k))
        if diff:
            raise ValueError(
                f"{folder} holds a different dataset (differs in: {', '.join(diff)}); "
                "resume with the same arguments and digits, or use another folder"
            )
    if busy and not resume and not force:
        raise ValueError(
            f"output folder {folder} is not empty; use --resume to continue the run recorded in its "
            f"{MANIFEST}, --force to replace its dataset files, or another folder"
        )
    if busy and old is None and resume:
        raise ValueError(f"{folder} is not empty and has no {MANIFEST} to resume; use another folder")
    records = owned_records(folder, old)
    refuse_foreign(folder, records, old)
    return old, records


def prepare_folder(folder: Path, manifest: dict, *, resume: bool, force: bool) -> dict | None:
    """Make ``folder`` ready (call under its lock); return the records to keep when resuming, else ``None``.

    Refuses a non-empty folder unless ``resume`` (same dataset only: never
    mixes two manifests) or ``force`` (deletes the files its record lists).
    Either way a file at one of this tool's names that the record does not
    list is refused, never replaced.
    """
    old, records = _refusals(folder, manifest["dataset"], resume=resume, force=force)
    remove_leftovers(folder)
    if resume and old is not None:
        return records
    if force:
        remove_recorded(folder, [*records, SUMS])
    write_manifest(folder, manifest)
    return None


def _preview(plan: Plan, source: MnistData, indices: range) -> bytes | None:
    """The preview sheet as PNG bytes: the first samples of ``indices`` with their labels."""
    from PIL import Image, ImageDraw

    shown = list(indices[:PREVIEW_SAMPLES])
    if not shown:
        return None
    samples = [make_sample(plan, source, i) for i in shown]
    text_width = 8 + 7 * max(len(label) for _, label in samples) + 70
    row = plan.height + 6
    canvas = Image.new("L", (plan.width + text_width, row * len(samples) + 4), 255)
    draw = ImageDraw.Draw(canvas)
    for k, ((image, label), index) in enumerate(zip(samples, shown, strict=True)):
        canvas.paste(Image.fromarray(to_uint8(image)), (2, 4 + k * row))
        draw.text((plan.width + 8, 4 + k * row + plan.height // 2 - 6), f"{index:>6}  {label}", fill=0)
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


def export_dataset(
    folder: str | os.PathLike,
    plan: Plan,
    source: MnistData,
    *,
    fmt: str = "png",
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
    fmt : {"png", "npz", "tar"}
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

    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    folder = Path(folder)
    indices = range(plan.count) if indices is None else indices
    check_memory(plan, door="export_dataset", workers=workers, bounds=chunk_bounds(indices))  # before the folder
    dataset = {**dataset_key(plan, fmt, indices, description), "digits": digits_sha256(source)}
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
                return _write_all(folder, plan, source, fmt, indices, workers, manifest, kept_records or {}, preview,
                                  progress=progress, from_files=from_files, data_home=data_home)
            except (ChecksumError, IdxFormatError):
                raise  # the digit files, not the request: an environment fault, resumable
            except ValueError:
                # A bad request found late (a filter returning NaN at sample 5,000) fails the same
                # way every time: nothing of this run stays behind to block or confuse the next one.
                if kept_records is None:
                    _roll_back(folder)
                raise
    except ValueError:
        _remove_empty(created)  # the folders this run created, if nothing but our lock is left there
        raise


def dataset_key(plan: Plan, fmt: str, indices: range, description: dict | None = None) -> dict:
    """What identifies a dataset in its manifest (``resume`` needs the same), but for its digit source."""
    import hashlib

    dataset = {
        "count": plan.count, "length": list(plan.lengths), "spacing": list(plan.spacing),
        "image_width": plan.width, "image_height": plan.height, "background": plan.background,
        "evenly": plan.evenly, "fit": plan.fit, "align": plan.align, "split": plan.split,
        "seed": plan.entropy, "epoch": plan.epoch, "sampling": SAMPLING, "folder_layout": FOLDER_LAYOUT,
        "format": fmt, "indices": [indices.start, indices.stop],
        "labels": None if plan.labels is None else hashlib.sha256("\n".join(plan.labels).encode()).hexdigest(),
        **WRITERS[fmt].key(plan),  # the format's own: dtype, samples per shard
        **(description or {}),
    }
    return dataset


def digits_sha256(source: MnistData) -> str:
    """SHA-256 of the digit source's images and labels, so a resume never mixes two sources."""
    import hashlib

    sha = hashlib.sha256()
    for arr in (source.images, source.labels):
        sha.update(memoryview(np.ascontiguousarray(arr)).cast("B"))
    return sha.hexdigest()


def _remove_empty(created: list[Path]) -> None:
    """Remove the folders this run created (deepest first) while they hold nothing but our lock file."""
    for path in created:
        try:
            if {p.name for p in path.iterdir()} <= {LOCK}:
                (path / LOCK).unlink(missing_ok=True)
                path.rmdir()
        except OSError:
            return


def _create(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return those created, as absolute paths, deepest first."""
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"output folder {folder} exists and is not a folder")
    absolute = folder.absolute()
    missing = [p for p in [absolute, *absolute.parents] if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    return missing


def _roll_back(folder: Path) -> None:
    """Remove what a failed fresh run wrote: its recorded files, manifest and journal."""
    records = owned_records(folder, read_manifest(folder))  # the manifest this run wrote: its journal is ours
    remove_recorded(folder, [*records, SUMS, MANIFEST])
    (folder / JOURNAL).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        (folder / IMAGES).rmdir()  # only when empty
    log.info("removed the files of the failed run from %s", folder)


def _write_all(folder: Path, plan: Plan, source: MnistData, fmt: str, indices: range, workers: int,
               manifest: dict, kept_records: dict, preview: bytes | None, *, progress, from_files: bool,
               data_home) -> dict:
    """The export proper, under the folder's lock: keep what verifies, make the rest, record every file."""
    started = time.perf_counter()
    writer = WRITERS[fmt](folder, plan, indices)
    pieces = units(indices, writer.unit)
    # Complete pieces of an interrupted run, re-hashed against their record; anything else is made again.
    keep = [bool(kept_records) and writer.verify(kept_records, u) for u in pieces]
    kept_count = sum(len(u) for u, kept in zip(pieces, keep, strict=True) if kept)
    kept = {rel: kept_records[rel] for u, k in zip(pieces, keep, strict=True) if k for rel in writer.files(u)}
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
    written = len(indices) - kept_count
    seconds = time.perf_counter() - started
    log.info("wrote %d samples (%d kept from before) to %s in %.1f s", written, kept_count, folder, seconds)
    return {**manifest, "written": written, "seconds": seconds}


def _discard_images(images) -> None:
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
        chunks = iter_chunks(plan, source, bounds, workers, from_files=from_files, data_home=data_home,
                             encode=None if kept else writer.encode,
                             encode_chunk=_discard_images if kept else writer.encode_chunk, boxes=True)
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
