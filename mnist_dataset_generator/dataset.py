"""Datasets: seeding by blocks of samples, the batch machinery, and ``SequenceDataset``.

Sample ``i`` is a pure function of ``(seed, i)``. Its label, samples and gaps
are row ``i % size`` of the draws of block ``i // size``, made as arrays by
``SeedSequence(entropy, spawn_key=(block, 2))`` (``size`` is 256 samples, fewer
for long strings: a constant of the format, never of the worker count); its
filters draw from ``SeedSequence(entropy, spawn_key=(i, 1))``. So a sample is
the same in any process, in any order, for any number of workers, and no two
samples share a filter stream: the forked-worker duplicate-augmentation bug
cannot happen. Workers receive the plan and index ranges, never a generator,
and end with their parent however it dies. What a request would hold in
memory (one sample, the whole array, the chunks in flight) is checked against
the memory budget before anything is allocated (:func:`check_memory`).
``SequenceDataset`` works with ``torch.utils.data.DataLoader`` without
importing torch.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import threading
from dataclasses import dataclass

import numpy as np

from ._limits import check_bytes, end_with_parent, format_bytes, memory_budget
from .compose import layout, programs, render
from .compose.strip import (
    Request,
    _is_int,
    check_available,
    check_flag,
    fusable,
    lay_out,
    resolve_source,
    strip_bytes,
    to_uint8,
)
from .mnistdata import MnistData, load
from .recipe import FIELDS, Recipe
from .records import NO_BOX, Batch

__all__ = [
    "CHUNK",
    "SAMPLING",
    "Plan",
    "SequenceDataset",
    "block_size",
    "check_memory",
    "chunk_bounds",
    "dataset_chunks",
    "iter_chunks",
    "make_images",
    "make_sample",
    "plan_dataset",
    "sample_label",
    "sample_labels",
    "sample_rng",
]

log = logging.getLogger(__name__)

MAX_COUNT = 100_000_000
CHUNK = 256  # samples per worker task: large enough to amortise the hand-off, small enough to stream
# Purpose keys of SeedSequence children: 1, a sample's filters; 2, a block's draws. (0 held each
# sample's draws before blocks; it is left unused so no stream of that scheme comes back.)
PURPOSE_FILTERS, PURPOSE_BLOCK, PURPOSE_PLACE = 1, 2, 3
SAMPLING = "blocks-v1"  # recorded in manifests: exports made under another scheme are not resumed
_BLOCK_DIGITS = 4096  # digits drawn per block at most, so one sample's draws stay cheap


def sample_rng(entropy: int, index: int, purpose: int, epoch: int = 0) -> np.random.Generator:
    """``SeedSequence(entropy, spawn_key=(index, purpose))``: 1, sample ``index``'s filters; 2, block
    ``index``'s draws; 3, block ``index``'s placements (``align="random"``). Epoch ``e > 0`` appends
    ``e`` to the key: a stream of its own, while epoch 0 keeps the streams of earlier versions.

    It is the child a ``SeedSequence(entropy)`` would spawn there, built in
    O(1): whichever process computes it gets the same stream, and no two
    samples (or blocks, or epochs) share one.
    """
    key = (index, purpose) if epoch == 0 else (index, purpose, epoch)
    return np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=key))


def block_size(plan: Plan) -> int:
    """Samples whose draws are made together: 256, halved until a block holds at most 4096 digits.

    A power of two, so blocks never straddle a :data:`CHUNK` boundary.
    """
    size = CHUNK
    while size > 1 and size * plan.lengths[1] > _BLOCK_DIGITS:
        size //= 2
    return size


# Plan attribute -> Recipe field
_RECIPE_NAMES = {"lengths": "length", "spacing": "spacing_range", "width": "image_width", "height": "height",
                 **{name: name for name in ("evenly", "prepared", "dtype", "split", "labels", "background", "fit",
                                            "align")}}


@dataclass(frozen=True)
class Plan:
    """A dataset: ``count`` samples of ``recipe``, seeded by ``entropy``, at ``epoch``; every sample
    is ``make_sample(plan, source, i)``. The recipe's fields are read through as attributes."""

    count: int
    recipe: Recipe
    entropy: int
    epoch: int = 0

    def __getattr__(self, name: str):
        """The recipe's fields, by the names the batch machinery reads (``plan.width``, ...)."""
        field = _RECIPE_NAMES.get(name)
        if field is None:
            raise AttributeError(f"Plan has no attribute {name!r}")
        return getattr(self.recipe, field)

    def request(self, digits: np.ndarray) -> Request:
        return Request(digits, self.spacing, self.width, self.evenly, self.prepared, self.height, self.background,
                       self.fit, self.align)

    @property
    def padded(self) -> bool:
        return self.fit == "pad"


def _entropy(seed) -> int:
    if isinstance(seed, np.random.SeedSequence):
        return seed.entropy
    if seed is not None and (not _is_int(seed) or seed < 0):
        raise ValueError(f"seed must be None or a non-negative integer, got {seed!r}")
    return np.random.SeedSequence(None if seed is None else int(seed)).entropy


def plan_dataset(count: int | None, length=None, spacing_range=None, image_width=None, *, seed,
                 recipe: Recipe | None = None, epoch: int = 0, **options) -> Plan:
    """Check a dataset's arguments (no data is touched) and fix its seed; see :func:`.generator.generate_dataset`.

    ``recipe``, or the recipe's fields as arguments (``length``, ``spacing_range``,
    ``image_width`` and the keyword ``options``), not both. Every sample is made at exactly
    the plan's width (and height), whatever filters change the width of single digits.

    Examples
    --------
    >>> plan = plan_dataset(10, 3, (0, 4), 100, seed=1, fit="pad")
    >>> plan.recipe.fit, plan.lengths, plan.width
    ('pad', (3, 3), 100)
    """
    if recipe is None:
        given = {"length": length, "spacing_range": spacing_range, "image_width": image_width}
        recipe = Recipe(**{k: v for k, v in given.items() if v is not None}, **options)
    elif not isinstance(recipe, Recipe):
        raise ValueError(f"recipe must be a Recipe, got {type(recipe).__name__}")
    elif length is not None or spacing_range is not None or image_width is not None or options:
        named = [k for k, v in (("length", length), ("spacing_range", spacing_range), ("image_width", image_width))
                 if v is not None] + sorted(options)
        raise ValueError(f"give a recipe or its fields, not both (got recipe and {named[0]}); "
                         f"use recipe.replace({named[0]}=...)")
    if recipe.labels is not None:
        if count is None:
            count = len(recipe.labels)
        elif count != len(recipe.labels):
            raise ValueError(f"count {count} differs from the number of labels {len(recipe.labels)}")
    if not _is_int(count) or not 0 <= count <= MAX_COUNT:
        raise ValueError(f"count must be an integer in 0..{MAX_COUNT}, got {count!r}")
    return Plan(int(count), recipe, _entropy(seed), check_epoch(epoch))


def check_epoch(epoch) -> int:
    """A non-negative integer epoch."""
    if not _is_int(epoch) or epoch < 0:
        raise ValueError(f"epoch must be a non-negative integer, got {epoch!r}")
    return int(epoch)


@functools.lru_cache(maxsize=256)
def _block_draws(entropy: int, lengths: tuple[int, int], spacing: tuple[int, int], evenly: bool, size: int,
                 block: int, epoch: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """``(lengths, digits, u, gaps)`` of every sample of ``block``, always drawn in this order, in full.

    Labels (``lengths``, ``digits``) always come from epoch 0's stream, so an index keeps its
    label in every epoch; epoch ``e > 0`` draws the samples and gaps (``u``, ``gaps``) from its own.
    Cached for many blocks: a shuffled DataLoader asks for indices of all of them in turn.
    """
    rng = sample_rng(entropy, block, PURPOSE_BLOCK)
    low, high = lengths
    drawn = [rng.integers(low, high + 1, size=size), rng.integers(0, 10, size=(size, high))]
    if epoch:
        rng = sample_rng(entropy, block, PURPOSE_BLOCK, epoch)
    drawn += [rng.random((size, high)),  # which sample of each digit: see MnistData.pick
              None if evenly else rng.integers(spacing[0], spacing[1] + 1, size=(size, high - 1))]
    for arr in drawn:
        if arr is not None:
            arr.flags.writeable = False
    return tuple(drawn)


@functools.lru_cache(maxsize=256)
def _block_places(entropy: int, size: int, block: int, epoch: int) -> np.ndarray:
    """Uniform draws placing the padded strips of ``block`` (``align="random"``): a stream of their own,
    so the other draws are those of every other alignment."""
    u = sample_rng(entropy, block, PURPOSE_PLACE, epoch).random(size)
    u.flags.writeable = False
    return u


def _draws(plan: Plan, indices: np.ndarray):
    """``(lengths, digits, u, gaps, where)`` of samples ``indices``: rows of their blocks' draws
    (``where``: the placements of ``align="random"``, else ``None``)."""
    size = block_size(plan)
    blocks, rows = np.divmod(indices, size)
    high = plan.lengths[1]
    lengths = np.empty(len(indices), np.int64)
    digits = np.empty((len(indices), high), np.int64)
    u = np.empty((len(indices), high))
    gaps = None if plan.evenly else np.empty((len(indices), high - 1), np.int64)
    where = np.empty(len(indices)) if plan.padded and plan.align == "random" else None
    key = (plan.entropy, plan.lengths, plan.spacing, plan.evenly, size)
    if bool((blocks[1:] >= blocks[:-1]).all()):  # a range (or sorted): one slice per block
        for block in range(int(blocks[0]), int(blocks[-1]) + 1):
            take = slice(*np.searchsorted(blocks, [block, block + 1]).tolist())
            drawn = _block_draws(*key, block, plan.epoch)
            r = rows[take]
            lengths[take], digits[take], u[take] = drawn[0][r], drawn[1][r], drawn[2][r]
            if gaps is not None:
                gaps[take] = drawn[3][r]
            if where is not None:
                where[take] = _block_places(plan.entropy, size, block, plan.epoch)[r]
    else:  # a shuffled batch: most rows from a block of their own, row by row is cheapest
        for k, (block, r) in enumerate(zip(blocks.tolist(), rows.tolist(), strict=True)):
            drawn = _block_draws(*key, block, plan.epoch)
            lengths[k], digits[k], u[k] = drawn[0][r], drawn[1][r], drawn[2][r]
            if gaps is not None:
                gaps[k] = drawn[3][r]
            if where is not None:
                where[k] = _block_places(plan.entropy, size, block, plan.epoch)[r]
    if plan.labels is not None:  # the given strings replace the drawn ones; the rest stays
        chosen = [plan.labels[i] for i in indices.tolist()]
        lengths = np.array([len(label) for label in chosen], np.int64)
        digits[:] = 0
        for r, label in enumerate(chosen):
            digits[r, : len(label)] = np.frombuffer(label.encode(), np.uint8) - 48
    return lengths, digits, u, gaps, where


def _labels(lengths: np.ndarray, digits: np.ndarray) -> list[str]:
    chars = (digits + 48).astype(np.uint8)
    return [chars[r, :n].tobytes().decode() for r, n in enumerate(lengths.tolist())]


def sample_labels(plan: Plan, start: int, stop: int) -> list[str]:
    """Labels of samples ``start..stop`` without drawing their images (for resuming exports)."""
    if stop <= start:
        return []
    lengths, digits, *_ = _draws(plan, np.arange(start, stop))
    return _labels(lengths, digits)


def sample_label(plan: Plan, index: int) -> str:
    """The label of sample ``index`` without drawing its image."""
    return sample_labels(plan, index, index + 1)[0]


def make_images(plan: Plan, source: MnistData, indices, out: np.ndarray, *, boxes: bool = False
                ) -> tuple[list[str], np.ndarray | None]:
    """Write samples ``indices`` (a range or ints, any order) into ``out`` (``(len, height, width)``).

    Returns their labels, and with ``boxes`` their digits' boxes, ``(len, longest, 4)`` int32
    padded with -1 (see :mod:`.records`). Unfiltered strips without overlaps are rendered
    together by :func:`.render.render`, :func:`.render.batch_rows` at a time; the others one by
    one, each with its own filter stream.
    """
    indices = np.asarray(indices, np.int64)
    if not len(indices):
        return [], (np.zeros((0, plan.lengths[1], 4), np.int32) if boxes else None)
    fused = _fused(plan)
    gap = _regular_gap(plan) if fused else None
    lengths, digits, u, gaps, where = _draws(plan, indices)
    present = np.arange(digits.shape[1]) < lengths[:, None]
    check_available(source, digits[present])
    index = np.zeros(digits.shape, np.intp)
    index[present] = source.pick(digits[present], u[present])
    labels = _labels(lengths, digits)
    found = np.full((len(indices), digits.shape[1], 4), NO_BOX, np.int32) if boxes else None
    if fused:
        step = len(indices) if gap is not None else render.batch_rows(_widest(plan), plan.height)
        for a in range(0, len(indices), step):
            rows = slice(a, a + step)
            if gap is not None:  # one regular layout at the natural width: written in place
                render.place(source.images[index[rows]], gap, background=plan.background, out=out[rows])
                strips = programs.random_geometry(lengths[rows], np.full((len(out[rows]), digits.shape[1] - 1), gap),
                                                plan.width, plan.height, digits.shape[1]) if boxes else None
            else:
                strips = programs.lay_out(lengths[rows], None if gaps is None else gaps[rows], evenly=plan.evenly,
                                        spacing=plan.spacing, width=plan.width, height=plan.height, fit=plan.fit,
                                        align=plan.align, u=None if where is None else where[rows],
                                        slots=digits.shape[1])
                render.render(source.images[index[rows]], strips.ids, strips.weights, height=plan.height,
                              background=plan.background, out=out[rows], rows=strips.rows)
            if boxes:
                ink = source.ink[index[rows]].astype(np.int64)
                found[rows] = layout.digit_boxes((ink[..., 0], ink[..., 1]), (ink[..., 2], ink[..., 3]),
                                                 strips.starts, strips.slot, strips.natural, strips.placement)
    else:
        for r, n in enumerate(lengths.tolist()):
            frng = sample_rng(plan.entropy, int(indices[r]), PURPOSE_FILTERS, plan.epoch)
            made = lay_out(plan.request(digits[r, :n]), source, index[r, :n],
                           None if gaps is None else gaps[r, : n - 1], frng,
                           where=None if where is None else where[r : r + 1], boxes=boxes)
            image, box = made if boxes else (made, None)
            out[r] = to_uint8(image) if plan.dtype == "uint8" else image
            if boxes:
                found[r, :n] = box
    if boxes:
        found[~present] = NO_BOX
    return labels, found


def _widest(plan: Plan) -> int:
    """The widest strip ``plan`` can make, before any change of height."""
    if plan.width is not None:
        return plan.width
    n, high = plan.lengths[1], max(plan.spacing[1], 0)
    return n * layout.DIGIT + (n - 1) * high


def _regular_gap(plan: Plan) -> int | None:
    """The one gap of every strip when all hold the same number of digits, evenly spaced at their
    natural width (nothing to resample): :func:`.render.place` writes them. Else ``None``."""
    (n, longest), (low, high) = plan.lengths, plan.spacing
    if n != longest or low != high or low < 0 or plan.height != layout.DIGIT:
        return None
    if plan.evenly:
        slots, gaps = layout.even_layout(n, plan.spacing, plan.width)
        regular = bool((slots == layout.DIGIT).all() and (gaps == low).all())
    else:
        regular = plan.width == n * layout.DIGIT + (n - 1) * low
    return low if regular else None


def make_sample(plan: Plan, source: MnistData, index: int, *, boxes: bool = False):
    """Sample ``index`` of ``plan``: ``(image, label)``, with ``boxes`` ``(image, label, boxes)``;
    a pure function of ``(plan, index)``."""
    check_memory(plan, door="make_sample")
    image = np.empty((1, plan.height, plan.width), plan.dtype)
    labels, found = make_images(plan, source, range(index, index + 1), image, boxes=boxes)
    if boxes:
        return image[0], labels[0], found[0, : len(labels[0])]
    return image[0], labels[0]


def _make_chunk(plan: Plan, source: MnistData, start: int, stop: int, encode=None, encode_chunk=None, out=None,
                boxes: bool = False) -> Batch:
    """Samples ``start..stop`` as a :class:`.records.Batch`: ``images`` is ``[encode(image), ...]`` with
    ``encode``, ``None`` with ``encode_chunk`` (then ``payload`` is ``encode_chunk(images)``) or when
    written into ``out`` (the whole dataset).

    Encoding where the images are made (PNG bytes, deflated pieces) keeps that
    work in the workers and out of the parent, which then only writes.
    """
    images = out[start:stop] if out is not None else np.empty((stop - start, plan.height, plan.width), plan.dtype)
    labels, found = make_images(plan, source, range(start, stop), images, boxes=boxes)
    if out is not None:
        return Batch(start, labels, found)
    if encode_chunk is not None:
        return Batch(start, labels, found, payload=encode_chunk(images))
    return Batch(start, labels, found, [encode(image) for image in images] if encode is not None else images)


_WORKER: dict = {}


def _init_worker(plan: Plan, source: MnistData | None, data_home, encode, encode_chunk, out, boxes: bool,
                 parent_pid: int, pdeathsig: bool) -> None:
    # Runs once per worker: the digit source arrives here (inherited under
    # fork, memory-mapped again under spawn), never with each task; so does
    # the shared output array, under fork only. First of all, the worker is
    # tied to its parent: killed, the parent can no longer stop it.
    end_with_parent(parent_pid, pdeathsig=pdeathsig)
    _WORKER["plan"] = plan
    _WORKER["source"] = source if source is not None else load(plan.split, data_home=data_home, download=False)
    _WORKER["encode"], _WORKER["encode_chunk"], _WORKER["out"], _WORKER["boxes"] = encode, encode_chunk, out, boxes


def _worker_chunk(start: int, stop: int) -> Batch:
    w = _WORKER
    return _make_chunk(w["plan"], w["source"], start, stop, w["encode"], w["encode_chunk"], w["out"], w["boxes"])


def _check_picklable(plan: Plan, source) -> None:
    """Spawned workers receive the plan (filters included) by pickle: say so clearly if that fails."""
    import pickle

    for f, _ in plan.prepared:
        try:
            pickle.dumps(f)
        except Exception as exc:  # noqa: BLE001 - pickle raises several types
            raise ValueError(
                f"filter {f!r} cannot be sent to worker processes here ({exc}); use a module-level function "
                "or functools.partial, or workers=1"
            ) from None
    pickle.dumps(source)


def _workers(workers) -> int:
    if not _is_int(workers) or workers < 0:
        raise ValueError(f"workers must be a non-negative integer (0: all cores), got {workers!r}")
    return int(workers) or (os.cpu_count() or 1)


def chunk_bounds(indices: range) -> list[tuple[int, int]]:
    """``indices`` cut into ``(start, stop)`` pieces of at most :data:`CHUNK` samples, at multiples of it.

    Examples
    --------
    >>> chunk_bounds(range(250, 600))
    [(250, 256), (256, 512), (512, 600)]
    """
    edges = [indices.start, *range((indices.start // CHUNK + 1) * CHUNK, indices.stop, CHUNK), indices.stop]
    return [(a, b) for a, b in zip(edges, edges[1:], strict=False) if a < b]


def _context():
    import multiprocessing

    return multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")


def shared_array(shape: tuple[int, ...], dtype: str, workers: int, *, threads: bool = False
                 ) -> tuple[np.ndarray, bool]:
    """``(array, shared)``: the output of a whole dataset; for forked worker processes an anonymous
    mapping they share.

    Otherwise (one worker, or threads) a plain NumPy array: NumPy asks the
    kernel for huge pages on large arrays, and on the 2-core machine of the
    README 20,000 float32 strips then get their memory in 0.02 s, against
    0.14 s made up front in 4 KiB pages (``MAP_POPULATE``) and 0.15-0.4 s of
    4 KiB faults. The first large array of a process is the exception there
    (about 1 s, the virtual machine's host backing fresh memory; 0.3-0.8 s
    up front), and the figures in the README are medians of repeated runs.
    """
    import mmap

    shared = workers > 1 and not threads and _context().get_start_method() == "fork"
    if not shared or int(np.prod(shape)) == 0:
        return np.empty(shape, dtype), False
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    mapping = mmap.mmap(-1, nbytes, flags=mmap.MAP_SHARED | getattr(mmap, "MAP_ANONYMOUS", 0))
    return np.frombuffer(mapping, dtype).reshape(shape), True


def _fused(plan: Plan) -> bool:
    """Whether the plan's images come from :mod:`.render` alone: NumPy and SciPy kernels that release
    the GIL, so workers can be threads writing straight into the output (1.6-1.9x with two, measured)."""
    return fusable(plan.request(np.zeros(plan.lengths[1], np.int64)))


def _in_flight(workers: int, bounds: list[tuple[int, int]]) -> int:
    """Chunks held at once by :func:`iter_chunks`: one at a time alone, else up to two per worker."""
    return min(len(bounds), 1 if workers == 1 else 2 * workers)


def check_memory(plan: Plan, *, door: str, workers: int | None = None, whole: bool = False,
                 bounds: list[tuple[int, int]] | None = None) -> None:
    """Refuse, before anything is allocated, a dataset whose making would pass the memory budget.

    Always checked: one sample made alone, with the renderer's working copies
    (:func:`.strip.strip_memory`). With ``whole``, the array of all the
    images; else, with ``workers`` (0: all cores), the chunks of ``bounds``
    (default: the whole dataset's) that :func:`iter_chunks` holds at once for
    that many workers. The budget is :func:`._limits.memory_budget`.

    Raises
    ------
    ValueError
        One line naming ``door``, the size and the budget, e.g. ``generate_dataset: the images would
        take 2.5 TB (count 100000000 x 28 x 224 x 4 bytes), more than the memory budget of ...``.
    """
    if plan.count == 0:
        return  # nothing is made
    pixels = plan.height * plan.width
    itemsize = 1 if plan.dtype == "uint8" else 4
    height, width, working = strip_bytes(plan.lengths[1], plan.spacing[1], plan.width, plan.height)
    sample = working + pixels * itemsize
    if not whole and workers is None and sample <= memory_budget()[0]:
        return  # the common case of make_sample, kept cheap: no message is built
    check_bytes(door, "one sample and the renderer's working copies", sample,
                 f"{height} x {width} x 4 bytes = {format_bytes(4 * height * width)} for the image",
                 "use a smaller image_width or image_height")
    uint8 = [] if plan.dtype == "uint8" else ['dtype="uint8"']
    if whole:
        check_bytes(door, "the images", plan.count * pixels * itemsize,
                     f"count {plan.count} x {plan.height} x {plan.width} x {itemsize} bytes",
                     "use " + _either(["iter_dataset or an export", "a smaller count", *uint8]))
    elif workers is not None:
        workers = _workers(workers)
        bounds = chunk_bounds(range(plan.count)) if bounds is None else bounds
        if not bounds:
            return
        held, chunk = _in_flight(workers, bounds), max(b - a for a, b in bounds)
        per_worker = "" if workers == 1 else f": 2 per worker, {workers} workers"
        check_bytes(door, "the chunks in flight", held * chunk * pixels * itemsize,
                     f"{held} x {chunk} samples x {plan.height} x {plan.width} x {itemsize} bytes{per_worker}",
                     "use " + _either(["fewer workers"] * (workers > 1) + ["a smaller image_width or image_height",
                                                                          *uint8]))


def _either(choices: list[str]) -> str:
    """``"a, b, or c"``; ``"a, or b"`` (a choice may hold an "or" itself); ``"a"``."""
    return choices[0] if len(choices) == 1 else ", ".join(choices[:-1]) + ", or " + choices[-1]


def iter_chunks(plan: Plan, source: MnistData, bounds: list[tuple[int, int]], workers: int = 1, *,
                from_files: bool = False, data_home=None, encode=None, encode_chunk=None, out=None,
                shared: bool = False, threads: bool = False, boxes: bool = False):
    """An iterator of :class:`.records.Batch` for each ``(start, stop)`` in ``bounds``, in order.

    With ``workers > 1`` the chunks are made in worker processes, at most
    ``2 * workers`` in flight, so memory stays bounded however many samples
    there are. ``from_files``: workers memory-map the MNIST files themselves
    instead of receiving ``source``. ``encode`` (a picklable function of one
    image) and ``encode_chunk`` (of a chunk's images) run where the images are made.
    ``out`` (the whole dataset, from :func:`shared_array`): images are written
    there and ``images`` is ``None``; forked workers write into it when it is
    ``shared``, others send their images to be copied in. ``threads``: the
    workers are threads of this process (only for :func:`_fused` plans).

    The arguments and the memory the chunks in flight take (without ``out``:
    see :func:`check_memory`) are checked now, before anything is made; the
    workers start on the first ``next``. Worker processes end with this one,
    however it ends.
    """
    workers = _workers(workers)
    if out is None:
        check_memory(plan, door="iter_chunks", workers=workers, bounds=bounds)
    return _iter_chunks(plan, source, bounds, workers, from_files, data_home, encode, encode_chunk, out, shared,
                        threads, boxes)


def _iter_chunks(plan: Plan, source: MnistData, bounds: list[tuple[int, int]], workers: int, from_files: bool,
                 data_home, encode, encode_chunk, out, shared: bool, threads: bool, boxes: bool):
    if workers == 1 or len(bounds) <= 1:
        for a, b in bounds:
            yield _make_chunk(plan, source, a, b, encode, encode_chunk, out, boxes)
        return
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

    if threads:
        pool = ThreadPoolExecutor(max_workers=min(workers, len(bounds)))

        def submit(a, b):
            return pool.submit(_make_chunk, plan, source, a, b, encode, encode_chunk, out, boxes)
    else:
        context = _context()
        forked = context.get_start_method() == "fork"
        if not forked:
            _check_picklable(plan, None if from_files else source)
        # The processes start in this thread, at the first submissions below. The kernel's
        # parent-death signal follows the thread that started a process, so it is only
        # asked for from the main thread, which lasts as long as this process.
        main_thread = threading.current_thread() is threading.main_thread()
        pool = ProcessPoolExecutor(max_workers=min(workers, len(bounds)), mp_context=context,
                                   initializer=_init_worker,
                                   initargs=(plan, None if from_files else source, data_home, encode,
                                             encode_chunk, out if forked and shared else None, boxes, os.getpid(),
                                             main_thread))

        def submit(a, b):
            return pool.submit(_worker_chunk, a, b)
    with pool:
        pending = deque()
        todo = iter(bounds)
        for a, b in todo:
            pending.append(submit(a, b))
            if len(pending) >= 2 * workers:
                break
        while pending:
            batch = pending.popleft().result()
            if out is not None and batch.images is not None:  # not shared: the parent copies it in
                out[batch.start : batch.stop] = batch.images
                batch = Batch(batch.start, batch.labels, batch.boxes)
            yield batch
            nxt = next(todo, None)
            if nxt is not None:
                pending.append(submit(*nxt))


def dataset_chunks(plan: Plan, *, images=None, data_home=None, workers=1, whole: bool = False,
                   boxes: bool = False):
    """``(chunks, out)``: an iterator of the plan's :class:`.records.Batch` in order, and with ``whole``
    the array of all images that the batches fill in (their ``images`` are then ``None``).

    The MNIST files (``images=None``) are memory-mapped again by each worker
    instead of being sent to it.
    """
    n_workers = _workers(workers)
    bounds = chunk_bounds(range(plan.count))
    check_memory(plan, door="generate_dataset" if whole else "iter_dataset", workers=n_workers, whole=whole,
                 bounds=bounds)
    source = resolve_source(images, data_home, plan.split)
    shape = (plan.count, plan.height, plan.width)
    threads = whole and _fused(plan)  # an array in this process: threads, when the GIL allows them
    out, shared = (shared_array(shape, plan.dtype, min(n_workers, len(bounds)), threads=threads) if whole
                   else (None, False))
    chunks = iter_chunks(plan, source, bounds, n_workers, from_files=images is None, data_home=data_home, out=out,
                         shared=shared, threads=threads, boxes=boxes)
    return chunks, out


_OPTIONS = (*(name for name in FIELDS if name not in ("length", "spacing_range", "image_width")), "recipe", "epoch")


def plan_options(door: str, count, length, spacing_range, image_width, seed, options: dict) -> Plan:
    """:func:`plan_dataset` of a door's keyword ``options``; an unknown one is refused naming ``door``."""
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise TypeError(f"{door}() got an unexpected keyword argument {unknown[0]!r}; "
                        f"the options are {', '.join(_OPTIONS)}")
    return plan_dataset(count, length, spacing_range, image_width, seed=seed, **options)


class SequenceDataset:
    """Random digit strings written with MNIST samples, indexable like a list.

    Parameters
    ----------
    count, length, spacing_range, image_width, seed, images, data_home, **options
        As for :func:`.generator.generate_dataset`. ``seed=None`` fixes fresh
        entropy now, so every worker still agrees; it is kept in ``entropy``.
        ``epoch`` (an option, default 0) is the first epoch; see :meth:`set_epoch`.
    transform : callable, optional
        Applied to each image before it is returned (e.g. a tensor conversion).
    return_boxes : bool
        Items are ``(image, label, boxes)`` instead of ``(image, label)``.

    Notes
    -----
    **Epochs.** The label of index ``i`` never changes; its samples, gaps and filter draws are
    a pure function of ``(seed, epoch, i)``, so every epoch shows new handwriting and new
    augmentation and any epoch can be replayed. Call ``set_epoch(e)`` before iterating epoch
    ``e`` (as with ``DistributedSampler.set_epoch``). With ``DataLoader(num_workers > 0)`` and
    the default ``persistent_workers=False``, the workers are started anew for each epoch with a
    copy of the dataset, so ``set_epoch`` in the main process reaches them. With
    ``persistent_workers=True`` the workers keep the copy they got at the first epoch, and
    ``set_epoch`` in the main process does not reach them: every epoch would repeat the first.
    Use persistent workers only without epochs, or build a new DataLoader after ``set_epoch``.

    **Batches.** ``DataLoader`` calls :meth:`__getitems__` with a batch's indices when a dataset
    has it: the batch is rendered together, much faster than item by item, identical bytes.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> source = (rng.integers(0, 256, (20, 28, 28)), np.arange(20) % 10)
    >>> ds = SequenceDataset(100, (2, 4), (0, 6), 128, seed=3, images=source)
    >>> image, label = ds[17]
    >>> len(ds), image.shape, label == ds[17][1]
    (100, (28, 128), True)
    >>> ds.set_epoch(1); ds[17][1] == label and not np.array_equal(ds[17][0], image)
    True
    """

    def __init__(
        self,
        count: int | None,
        length=None,
        spacing_range=None,
        image_width: int | None = None,
        *,
        seed,
        images=None,
        data_home: str | os.PathLike | None = None,
        transform=None,
        return_boxes: bool = False,
        **options,
    ) -> None:
        self.plan: Plan = plan_options("SequenceDataset", count, length, spacing_range, image_width, seed, options)
        if transform is not None and not callable(transform):
            raise ValueError(f"transform must be callable, got {transform!r}")
        self.return_boxes = check_flag("return_boxes", return_boxes)
        check_memory(self.plan, door="SequenceDataset")  # it makes one sample at a time
        self.transform = transform
        self.data_home = data_home
        # A user's arrays must travel with the dataset; MNIST files are
        # memory-mapped again in each worker instead of being pickled.
        self._images = images
        self._loaded: MnistData | None = None

    @property
    def entropy(self) -> int:
        """The root entropy: pass it as ``seed`` to rebuild this exact dataset."""
        return self.plan.entropy

    @property
    def epoch(self) -> int:
        return self.plan.epoch

    def set_epoch(self, epoch: int) -> None:
        """Draw the samples, gaps and filters of ``epoch`` from now on (labels stay)."""
        self.plan = dataclasses.replace(self.plan, epoch=check_epoch(epoch))

    def __len__(self) -> int:
        return self.plan.count

    def _index(self, index) -> int:
        if not isinstance(index, (int, np.integer)) or isinstance(index, (bool, np.bool_)):
            raise TypeError(f"SequenceDataset indices must be integers, got {type(index).__name__}")
        if index < 0:
            index += self.plan.count
        if not 0 <= index < self.plan.count:
            raise IndexError(f"index out of range for a dataset of {self.plan.count} samples")
        return int(index)

    def _source(self) -> MnistData:
        if self._loaded is None:
            self._loaded = resolve_source(self._images, self.data_home, self.plan.split)
        return self._loaded

    def __getitem__(self, index: int):
        return self.__getitems__([index])[0]

    def __getitems__(self, indices) -> list[tuple]:
        """The items of ``indices`` (any order, repeats allowed), rendered together as one batch:
        what ``torch.utils.data.DataLoader`` calls for a batch; each item is exactly ``self[i]``."""
        at = np.array([self._index(i) for i in indices], np.int64)
        if len(at) > 1:
            check_memory(self.plan, door="SequenceDataset", workers=1, bounds=[(0, len(at))])
        images = np.empty((len(at), self.plan.height, self.plan.width), self.plan.dtype)
        labels, boxes = make_images(self.plan, self._source(), at, images, boxes=self.return_boxes)
        items = []
        for k, label in enumerate(labels):
            image = images[k] if self.transform is None else self.transform(images[k])
            items.append((image, label, boxes[k, : len(label)]) if self.return_boxes else (image, label))
        return items

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_loaded"] = None  # reloaded (memory-mapped) on first use in each process
        return state

    def __repr__(self) -> str:
        p = self.plan
        return (f"SequenceDataset(count={p.count}, length={p.lengths}, spacing_range={p.spacing}, "
                f"image_width={p.width}, split={p.split!r}, epoch={p.epoch}, entropy={p.entropy})")
