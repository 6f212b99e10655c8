"""Worker processes (or threads) that make a plan's chunks in order, with bounded memory.

Workers receive the plan and index ranges, never a generator, and end with their parent
however it dies. With ``workers > 1`` at most two chunks per worker are in flight; worker
processes run on :mod:`._pool`, which terminates them when a run stops early.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import TYPE_CHECKING

import numpy as np

from ._limits import end_with_parent
from ._pool import ordered_calls
from .compose import sums
from .compose.strip import resolve_source
from .making import (
    _fused,
    _make_chunk,
    _workers,
    check_memory,
    chunk_bounds,
    threadable,
)
from .mnistdata import load
from .records import Batch

if TYPE_CHECKING:
    from .dataset import Plan
    from .sources.glyphs import MnistData

__all__ = ["dataset_chunks", "iter_chunks", "shared_array"]


_WORKER: dict = {}


def _init_worker(plan: Plan, source: MnistData | None, data_home, encode, encode_chunk, out, boxes: bool,
                 masks: bool, parent_pid: int, pdeathsig: bool) -> None:
    # Runs once per worker: the digit source arrives here (inherited under
    # fork, memory-mapped again under spawn), never with each task; so does
    # the shared output array, under fork only. First of all, the worker is
    # tied to its parent: killed, the parent can no longer stop it.
    end_with_parent(parent_pid, pdeathsig=pdeathsig)
    _WORKER["plan"] = plan
    _WORKER["source"] = source if source is not None else load(plan.split, data_home=data_home, download=False,
                                                                                  source=plan.source)
    _WORKER.update(encode=encode, encode_chunk=encode_chunk, out=out, boxes=boxes, masks=masks)


def _worker_chunk(start: int, stop: int) -> Batch:
    w = _WORKER
    return _make_chunk(w["plan"], w["source"], start, stop, w["encode"], w["encode_chunk"], w["out"], w["boxes"],
                       w["masks"])


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


def iter_chunks(plan: Plan, source: MnistData, bounds: list[tuple[int, int]], workers: int = 1, *,
                from_files: bool = False, data_home=None, encode=None, encode_chunk=None, out=None,
                shared: bool = False, threads: bool = False, boxes: bool = False, masks: bool | str = False):
    """An iterator of :class:`.records.Batch` for each ``(start, stop)`` in ``bounds``, in order.

    With ``workers > 1`` the chunks are made in worker processes, at most
    ``2 * workers`` in flight, so memory stays bounded however many samples
    there are. ``from_files``: workers memory-map the MNIST files themselves
    instead of receiving ``source``. ``encode`` (a picklable function of one
    image) and ``encode_chunk`` (of a chunk's images) run where the images are made.
    ``out`` (the whole dataset, from :func:`shared_array`): images are written
    there and ``images`` is ``None``; forked workers write into it when it is
    ``shared``, others send their images to be copied in. ``threads``: the
    workers are threads of this process (only for :func:`.making.threadable` plans). ``masks``: each
    batch's label images too, or ``"payload"``: made, but handed only to ``encode_chunk``.

    The arguments and the memory the chunks in flight take (without ``out``:
    see :func:`check_memory`) are checked now, before anything is made; the
    workers start on the first ``next``. Worker processes end with this one,
    however it ends, and ignore Ctrl-C: when the iterator stops early (closed,
    an error, Ctrl-C here) they are terminated, not waited for, even if a filter
    blocks in them.
    """
    workers = _workers(workers)
    if out is None:
        check_memory(plan, door="iter_chunks", workers=workers, bounds=bounds, masks=masks)
    return _iter_chunks(plan, source, bounds, workers, from_files, data_home, encode, encode_chunk, out, shared,
                        threads, boxes, masks)


def _iter_chunks(plan: Plan, source: MnistData, bounds: list[tuple[int, int]], workers: int, from_files: bool,
                 data_home, encode, encode_chunk, out, shared: bool, threads: bool, boxes: bool, masks: bool):
    if _fused(plan):  # batches: a long run settles the renderer's kernel before any worker forks
        sums.expect(sum(b - a for a, b in bounds) * plan.width)
    if workers == 1 or len(bounds) <= 1:
        for a, b in bounds:
            yield _make_chunk(plan, source, a, b, encode, encode_chunk, out, boxes, masks)
        return
    if threads:
        made = _thread_chunks(plan, source, bounds, workers, encode, encode_chunk, out, boxes, masks)
    else:
        context = _context()
        forked = context.get_start_method() == "fork"
        if not forked:
            _check_picklable(plan, None if from_files else source)
        # The processes start in this thread, at the first next() below. The kernel's
        # parent-death signal follows the thread that started a process, so it is only
        # asked for from the main thread, which lasts as long as this process.
        main_thread = threading.current_thread() is threading.main_thread()
        # Not ProcessPoolExecutor: leaving it early waits for every submitted chunk, forever when a
        # filter blocks; these workers ignore Ctrl-C and are terminated whenever this ends (see _pool).
        made = ordered_calls(_worker_chunk, bounds, processes=min(workers, len(bounds)), window=2 * workers,
                             context=context, initializer=_init_worker,
                             initargs=(plan, None if from_files else source, data_home, encode, encode_chunk,
                                       out if forked and shared else None, boxes, masks, os.getpid(), main_thread))
    with contextlib.closing(made):  # closed with this generator, not when it is collected
        for batch in made:
            if out is not None and batch.images is not None:  # not shared: the parent copies it in
                out[batch.start : batch.stop] = batch.images
                batch = Batch(batch.start, batch.labels, batch.boxes, masks=batch.masks)
            yield batch


def _thread_chunks(plan: Plan, source: MnistData, bounds: list[tuple[int, int]], workers: int, encode,
                   encode_chunk, out, boxes: bool, masks: bool):
    """The chunks made by threads of this process, at most two per thread in flight."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=min(workers, len(bounds)))
    try:
        pending = deque()
        todo = iter(bounds)
        for a, b in todo:
            pending.append(pool.submit(_make_chunk, plan, source, a, b, encode, encode_chunk, out, boxes, masks))
            if len(pending) >= 2 * workers:
                break
        while pending:
            yield pending.popleft().result()
            nxt = next(todo, None)
            if nxt is not None:
                pending.append(pool.submit(_make_chunk, plan, source, *nxt, encode, encode_chunk, out, boxes,
                                           masks))
    finally:
        # Stopped early (Ctrl-C, an error): chunks not yet started are dropped, not made first.
        pool.shutdown(wait=True, cancel_futures=True)


def dataset_chunks(plan: Plan, *, images=None, data_home=None, workers=1, whole: bool = False,
                   boxes: bool = False, masks: bool = False, door: str | None = None):
    """``(chunks, out)``: an iterator of the plan's :class:`.records.Batch` in order, and with ``whole``
    the array of all images that the batches fill in (their ``images`` are then ``None``).

    The MNIST files (``images=None``) are memory-mapped again by each worker
    instead of being sent to it. ``door`` names the caller in a refusal.
    """
    n_workers = _workers(workers)
    bounds = chunk_bounds(range(plan.count))
    door = door or ("generate_dataset" if whole else "iter_dataset")
    check_memory(plan, door=door, workers=n_workers, whole=whole, bounds=bounds, masks=masks)
    source = resolve_source(images, data_home, plan.split, plan.source)
    shape = (plan.count, *plan.shape)
    # Threads, when the GIL allows them: into an array of this process, or for videos, whose chunks
    # (80 KB a 64 x 64 sequence of 20 frames) cost more to send back from a process than to make.
    threads = threadable(plan) and (whole or plan.layout == "video")
    out, shared = (shared_array(shape, plan.dtype, min(n_workers, len(bounds)), threads=threads) if whole
                   else (None, False))
    chunks = iter_chunks(plan, source, bounds, n_workers, from_files=images is None, data_home=data_home, out=out,
                         shared=shared, threads=threads, boxes=boxes, masks=masks)
    return chunks, out
