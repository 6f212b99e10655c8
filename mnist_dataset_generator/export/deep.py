"""The deep check of a dataset folder: every sample made again from the manifest's recipe and seed.

A sample is a pure function of ``(recipe, seed, epoch, index)``, so a folder's samples can be
made again and compared with what it holds: pixels, every label it gives each sample, and
boxes. This catches what checksums cannot, once someone has rewritten them: an image swapped
with another valid one, labels that belong to other images, an edited seed. Nothing in the
folder is ever run: a recipe whose filters name a module to import is not made again.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np

from .._progress import ProgressArg, Reporter
from ..sources.sets import SETS
from .folder import LABELS, MANIFEST
from .readers import UnreadableError, decode_png, stored_labels, stored_samples
from .record import Problem
from .writers import WRITERS, png_bytes

__all__ = ["deep_problems"]

log = logging.getLogger(__name__)


def _plan(manifest: dict, labels: list[str] | None = None, glyphs_folder=None):
    """``(plan, fmt, indices, options)`` of a manifest, or the reason it cannot be made again.

    ``labels``: a dataset made from given labels is made again from the labels its folder holds
    (:func:`_given_labels`), which must be the ones whose digest the manifest keeps. ``glyphs_folder``
    (``-d DIR``): where the glyph folder of a dataset made from one is now (its glyphs' digest must
    still be the manifest's)."""
    from ..compose.filterspec import imported_modules
    from ..dataset import plan_dataset
    from ..recipe import Recipe
    from .exporter import dataset_key
    from .writers import FOLDER_LAYOUT, WRITERS, Options

    dataset = manifest["dataset"]
    if dataset.get("folder_layout") != FOLDER_LAYOUT:
        return (f"it was made by version {manifest.get('version')} of this tool, with folder layout "
                f"{dataset.get('folder_layout')!r}; this version makes {FOLDER_LAYOUT!r} (other boxes), so its "
                "samples are not compared")
    if not isinstance(manifest.get("arguments"), dict):
        return f"{MANIFEST} has no \"arguments\" object (damaged?)"
    recipe = dataset.get("recipe")
    if not isinstance(recipe, dict):
        return f"{MANIFEST} holds no recipe (made before 0.4.0?), so its samples cannot be made again"
    filters = recipe.get("filters")
    if isinstance(filters, dict):
        return "its filters were Python callables, which a manifest cannot hold; its samples cannot be made again"
    try:
        modules = imported_modules(filters) if isinstance(filters, str) else []
    except ValueError as exc:
        return f"its filters do not parse ({exc})"
    if modules:
        return (f"its filters import module {', '.join(map(repr, modules))}; a folder never "
                "makes this "
                "tool run code, so its samples were not made again")
    source = recipe.get("source", "mnist")
    moved = False
    if not isinstance(source, str) or source not in SETS:
        if not isinstance(source, str) or not os.path.isabs(source):
            return f"its source {source!r} is neither a known set nor an absolute folder path (edited by hand?)"
        if glyphs_folder is not None:
            recipe, moved = {**recipe, "source": os.fspath(glyphs_folder)}, True
    if dataset.get("labels") is not None:
        if labels is None:
            return "it was made from given labels, which a manifest does not hold; its samples cannot be made again"
        if recipe.get("labels") is not None:
            return f"{MANIFEST}: its recipe holds labels beside their digest (edited by hand?)"
        recipe = {**recipe, "length": None, "labels": labels}  # the manifest keeps only their lengths
    try:
        seed, epoch, count = dataset["seed"], dataset.get("epoch", 0), dataset["count"]
        start, stop = dataset["indices"]
        plan = plan_dataset(count, recipe=Recipe.from_json(recipe), seed=seed, epoch=epoch)
    except (KeyError, TypeError, ValueError) as exc:
        return f"its recipe, seed, epoch or count cannot be read ({exc})"
    fmt, indices = dataset.get("format"), range(start, stop)
    # The flat fields of the key must say what the recipe says: one edited without the other is no dataset
    # this tool made.
    if fmt not in WRITERS:
        return f"its format {fmt!r} is not one this version writes"
    try:
        options = Options.from_key(dataset)
        WRITERS[fmt].check_options(options)  # masks recorded for a format that has no place for them
    except ValueError as exc:
        return f"its layout cannot be read ({exc})"
    made = dataset_key(plan, fmt, indices, {"filters": dataset.get("filters")}, options)
    partial = labels is not None and indices != range(count)  # stand-ins beside its own labels: their digest
    differ = sorted(k for k in made if k != "recipe" and not (partial and k == "labels")
                    and not (moved and k == "source") and made[k] != dataset.get(k))
    if differ:
        return f"its dataset fields disagree with its recipe ({', '.join(differ)}): edited by hand?"
    arguments = manifest["arguments"]
    if arguments.get("count") is not None and arguments["count"] != count:
        return f"its count {count} is not the count it was made with ({arguments['count']})"
    if "shard" in arguments and arguments["shard"] is None and indices != range(count):
        return f"it holds samples {start}..{stop} of {count} but was made whole, not as a shard"
    return plan, fmt, indices, options


def deep_problems(folder: str | Path, manifest: dict, *, workers: int = 1, progress: ProgressArg = None,
                  data_home=None, mirrors=None, deadline: float | None = None, records: dict | None = None
                  ) -> list[Problem]:
    """Make every sample of ``folder`` again and compare it with what the folder holds.

    Parameters
    ----------
    folder : path
        A dataset folder whose files match their record (see :func:`.verify.verify_dataset`).
    manifest : dict
        Its manifest.
    workers : int
        Processes making the samples (0: all cores), as for exports.
    progress : None, bool or callable
        ``report(done, total)`` in samples.
    data_home, mirrors, deadline
        Where the digit files are, and how long a download may take (see :func:`.mnistdata.load`).
    records : dict, optional
        The folder's verified record (path -> (sha256, size)): a PNG made again whose SHA-256 is
        the recorded one needs no reading (another Pillow may compress the same pixels to other
        bytes: those are decoded and compared pixel by pixel).

    Returns
    -------
    list of Problem
        One per sample whose pixels, labels or boxes differ (named by its file, or
        ``FILE:KEY`` inside a shard or the npz), or one saying why the samples could not
        be made again (the digit source differs, the recipe imports code, ...).
    """
    from ..export.exporter import digits_sha256
    from ..making import chunk_bounds
    from ..mnistdata import load
    from ..workers import iter_chunks

    folder = Path(folder)
    try:
        labels = _given_labels(folder, manifest)
    except UnreadableError as exc:
        where, _, why = str(exc).partition(": ")
        return [Problem(where, why or str(exc))]
    if isinstance(labels, Problem):
        return [labels]
    recipe = (manifest.get("dataset") or {}).get("recipe")
    folder_source = isinstance(recipe, dict) and isinstance(recipe.get("source", "mnist"), str) \
        and recipe.get("source", "mnist") not in SETS
    planned = _plan(manifest, labels, data_home if folder_source else None)
    if isinstance(planned, str):
        return [Problem(MANIFEST, f"not checked deeply: {planned}")]
    plan, fmt, indices, options = planned
    source = load(plan.split, data_home=None if folder_source else data_home, mirrors=mirrors, progress=False,
                  deadline=deadline, source=plan.source)
    if digits_sha256(source) != manifest["dataset"].get("digits"):
        return [Problem(MANIFEST, f"not checked deeply: these {plan.source} files are not the glyphs it was made "
                                  "from (give the folder it was made with: -d DIR)")]
    problems: list[Problem] = []
    annotations = _annotations(plan, fmt, indices, options)
    report = Reporter(progress, desc="samples", unit="img")
    stored = stored_samples(folder, fmt, indices, plan.shape, records, options)
    encode = None if fmt == "npz" else png_bytes  # in the workers, as the export encodes them
    chunks = iter_chunks(plan, source, chunk_bounds(indices), workers, from_files=True,
                         data_home=None if folder_source else data_home,
                         boxes=True, masks=options.masks, encode=encode)
    done = 0
    lines = plan.layout == "lines" and WRITERS[fmt].holds_line_boxes
    # the rows the npz pads each sample's boxes and line boxes to (-1 past its own)
    padded = (plan.lengths[1], plan.recipe.lines[1] if lines else 0) if fmt == "npz" else None
    try:
        for batch in chunks:
            for record in batch.records():
                problems += _compare(record, next(stored), lines, padded)
            for annotation in annotations:
                annotation.describe(batch)
            done += len(batch)
            report(done, len(indices))
        next(stored, None)  # past the last sample: nothing may follow it
        problems += _compare_annotations(annotations, records or {})
    except UnreadableError as exc:
        where, _, why = str(exc).partition(": ")
        problems.append(Problem(where, why or str(exc)))
    finally:
        report.close()
        chunks.close()
    log.info("made %d samples again and compared them: %d differ", done, len(problems))
    return problems


def _given_labels(folder: Path, manifest: dict) -> list[str] | Problem | None:
    """The labels a dataset was made from, read from its own ``labels.csv`` (checked against the
    manifest's digest of them); ``None`` for a dataset of drawn labels; a problem for labels that
    are not the digest's, or for a shard (it holds only its own labels; the digest is of all)."""
    dataset = manifest.get("dataset")
    digest = dataset.get("labels") if isinstance(dataset, dict) else None
    if digest is None:
        return None
    from ..dataset import MAX_COUNT

    try:
        count, (start, stop), fmt = dataset["count"], dataset["indices"], dataset["format"]
        whole = start == 0 and stop == count and isinstance(count, int) and 0 <= count <= MAX_COUNT
    except (KeyError, TypeError, ValueError):
        return None  # _plan names what is wrong with the key
    if fmt not in WRITERS:
        return None
    if not whole:
        return _part_labels(folder, dataset, fmt, count, start, stop)
    from .exporter import labels_sha256

    labels = stored_labels(folder, fmt, range(count))
    if labels_sha256(labels) != digest:
        return Problem(LABELS, "its labels are not the labels the manifest's digest names: the dataset was made "
                               "from other labels")
    return labels


def _part_labels(folder: Path, dataset: dict, fmt: str, count: int, start: int, stop: int) -> list[str] | Problem:
    """The labels of a part (``--shard``) of a labels dataset: its own, checked against the manifest's digest
    of them, and stand-ins elsewhere. A sample's draws depend on its own label and on the shortest and
    longest labels of all (the recipe's lengths), so the stand-ins keep those two."""
    part = dataset.get("labels_part")
    if not isinstance(part, str):
        return Problem(MANIFEST, f"not checked deeply: it holds samples {start}..{stop} of {count} made from given "
                                 "labels, and its manifest keeps no digest of its own labels (made before 0.8.0)")
    recipe = dataset.get("recipe")
    if isinstance(recipe, dict) and recipe.get("layout") == "lines":
        return Problem(MANIFEST, f"not checked deeply: it holds pages {start}..{stop} of {count} made from given "
                                 "labels, whose draws depend on the lines of every page; check the whole dataset")
    try:
        low, high = recipe["length"]
        from ..sources.folder import alphabet_of, resolve

        filler = alphabet_of(resolve(recipe.get("source", "mnist")))[0]
        if not (isinstance(low, int) and isinstance(high, int) and 1 <= low <= high):
            raise ValueError(low, high)
    except (KeyError, TypeError, ValueError):
        return None  # _plan names what is wrong with the key
    from .exporter import labels_sha256

    own = stored_labels(folder, fmt, range(start, stop))
    if labels_sha256(own) != part:
        return Problem(LABELS, "its labels are not the labels the manifest's digest names: the dataset was made "
                               "from other labels")
    lengths = {len(label) for label in own}
    missing = [n for n in (low, high) if n not in lengths and not any(len(x) < low or len(x) > high for x in own)]
    others = count - (stop - start)
    if any(len(x) < low or len(x) > high for x in own) or len(set(missing)) > others:
        return Problem(LABELS, "its labels do not fit the lengths its recipe records")
    fill = [filler * n for n in dict.fromkeys(missing)]
    fill += [filler * low] * (others - len(fill))
    return fill[:start] + own + fill[start:]


def _annotations(plan, fmt: str, indices: range, options) -> list:
    """The annotations of the export, made again into digests as the samples are made again."""
    from .annotations import DigestSink, make_annotations
    from .writers import WRITERS

    made = make_annotations(options.annotations if len(indices) else (), plan, indices, WRITERS[fmt].name)
    for annotation in made:
        annotation.open(DigestSink())
    return made


def _compare_annotations(annotations: list, records: dict) -> list[Problem]:
    """A problem for each annotation file whose bytes are not what the samples make."""
    problems = []
    for annotation in annotations:
        sink = annotation.sink
        annotation.commit()
        for rel, digest in sorted(sink.digests.items()):
            record = records.get(rel)
            if record is None or record[0] != digest:
                problems.append(Problem(rel, f"its {annotation.name} annotations are not what the samples make"))
    return problems


def _padded(boxes: np.ndarray, rows: int | None) -> np.ndarray:
    """``boxes`` (``(..., n, 4)``) padded with -1 to ``rows`` rows (``None``: as they are)."""
    if rows is None:
        return boxes
    out = np.full((*boxes.shape[:-2], rows, 4), -1, np.int64)
    out[..., : boxes.shape[-2], :] = boxes
    return out


def _compare(record, stored, lines: bool = False, padded: tuple[int, int] | None = None) -> list[Problem]:
    """The problem of one sample, if what is stored is not what its seed makes (``record.image``: the
    PNG bytes of formats that hold PNGs, else the pixels; ``lines``: the format holds a page's line boxes;
    ``padded``: the rows the format pads boxes and line boxes to, and records the label's length)."""
    why = []
    if isinstance(record.image, bytes):
        same = stored.digest == hashlib.sha256(record.image).hexdigest()
        made = None if same else decode_png(record.image, stored.where)
    else:
        same, made = False, record.image
    if not same:
        try:
            image = stored.pixels()
        except UnreadableError as exc:  # this sample's file alone: the next ones are still compared
            why.append(str(exc).partition(": ")[2] or str(exc))
        else:
            if image.dtype != made.dtype or image.shape != made.shape or not np.array_equal(image, made):
                why.append("its pixels are not the image its seed makes")
    wrong = sorted({label for label in stored.labels if label != record.label}, key=str)
    if wrong:
        why.append(f"labelled {', '.join(map(repr, wrong))}, its seed makes {record.label!r}")
    box_rows, line_rows = padded or (None, None)
    # a video's: every frame's (the JSON formats hold them as one list)
    found, made_boxes = stored.boxes.reshape(-1, 4), _padded(record.boxes, box_rows).reshape(-1, 4)
    if found.shape != made_boxes.shape or not np.array_equal(found, made_boxes):
        why.append("its boxes are not the digits' boxes")
    if stored.length is not None and stored.length != len(record.label):
        why.append(f"its length is {stored.length}, its label's {len(record.label)}")
    if lines:  # a page's, where the format holds them
        made_lines = _padded(record.line_boxes, line_rows)
        if stored.line_boxes is None:
            why.append("its line boxes are missing")
        elif stored.line_boxes.shape != made_lines.shape or not np.array_equal(stored.line_boxes, made_lines):
            why.append("its line boxes are not the lines' boxes")
    elif stored.line_boxes is not None:
        why.append("it holds line boxes, but only a page has lines")
    problems = [Problem(stored.where, "; ".join(why))] if why else []
    if record.mask is not None:
        from ..compose.video import picture

        # a video's label image is stored as one picture (frames side by side) by the PNG formats
        made_mask = picture(record.mask)
        try:
            mask = None if stored.mask is None else picture(stored.mask())
        except UnreadableError as exc:
            where, _, why_not = str(exc).partition(": ")
            return [*problems, Problem(where, why_not or str(exc))]
        if mask is None or mask.dtype != made_mask.dtype or mask.shape != made_mask.shape \
                or not np.array_equal(mask, made_mask):
            problems.append(Problem(stored.mask_where or stored.where, "its mask is not the label image its seed makes"))
    return problems
