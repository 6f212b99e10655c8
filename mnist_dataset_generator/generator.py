"""Compose random MNIST samples of the requested digits into one image strip.

Everything is validated before any data is loaded; then the digits are
picked, filtered, laid out and (if asked) resampled to the requested width.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from . import layout
from .filters import Filter, apply_filters, prepare_filters
from .mnistdata import SPLITS, MnistData, load

__all__ = [
    "MAX_DIGITS",
    "MAX_SPACING",
    "MAX_WIDTH",
    "Plan",
    "check_request",
    "compose",
    "generate_dataset",
    "generate_numbers_sequence",
    "iter_dataset",
    "plan_dataset",
    "sample_rng",
]

log = logging.getLogger(__name__)

MAX_DIGITS = 10_000
MAX_SPACING = 10_000
MAX_WIDTH = 1_000_000  # px; a float32 strip of 28 x 1e6 is 112 MB


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_digits(digits) -> np.ndarray:
    """Digits as an int array of 0..9 (values of 10 and more reduced modulo 10).

    A string must hold only the characters 0-9; a list-like must hold
    non-negative integers. The error names the first offending item.
    """
    if isinstance(digits, str):
        for i, char in enumerate(digits):
            if char not in "0123456789":
                raise ValueError(f"digits: {char!r} at position {i} is not a digit 0-9 (in {digits!r})")
        items = [int(char) for char in digits]
    elif isinstance(digits, (bytes, bytearray, dict, set, frozenset)) or not isinstance(digits, Iterable):
        raise ValueError(
            f"digits must be a string of 0-9 or a list of non-negative integers, got {type(digits).__name__}"
        )
    else:
        items = list(np.asarray(digits).ravel()) if isinstance(digits, np.ndarray) else list(digits)
        for i, item in enumerate(items):
            if not _is_int(item):
                raise ValueError(f"digits[{i}] must be a non-negative integer, got {item!r}")
            if item < 0:
                raise ValueError(f"digits[{i}] must be non-negative, got {item}")
    if not items:
        raise ValueError("digits must not be empty")
    if len(items) > MAX_DIGITS:
        raise ValueError(f"digits: at most {MAX_DIGITS} digits, got {len(items)}")
    return np.array([int(item) % 10 for item in items], dtype=np.int64)


def check_spacing(spacing_range) -> tuple[int, int]:
    """``(min, max)`` integers with ``0 <= min <= max <= MAX_SPACING``."""
    try:
        low, high = spacing_range
    except (TypeError, ValueError):
        raise ValueError(f"spacing_range must be a (min, max) pair of integers, got {spacing_range!r}") from None
    if not (_is_int(low) and _is_int(high)):
        raise ValueError(f"spacing_range must be a (min, max) pair of integers, got {spacing_range!r}")
    if not 0 <= low <= high <= MAX_SPACING:
        raise ValueError(f"spacing_range must satisfy 0 <= min <= max <= {MAX_SPACING}, got ({low}, {high})")
    return int(low), int(high)


def check_width(image_width, n: int, spacing: tuple[int, int], evenly: bool) -> int | None:
    """``None`` or a width in ``min_width..MAX_WIDTH`` (the error states the smallest that works)."""
    if image_width is None:
        if layout.DIGIT * n + (n - 1) * spacing[1] > MAX_WIDTH:
            raise ValueError(f"the natural width of {n} digits with spacing up to {spacing[1]} exceeds {MAX_WIDTH} px")
        return None
    if not _is_int(image_width) or image_width < 1:
        raise ValueError(f"image_width must be a positive integer or None, got {image_width!r}")
    if image_width > MAX_WIDTH:
        raise ValueError(f"image_width must be at most {MAX_WIDTH}, got {image_width}")
    smallest = layout.min_width(n, spacing, evenly)
    if image_width < smallest:
        mode = "even" if evenly else "random"
        raise ValueError(
            f"image_width {image_width} is too small for {n} digit(s) with spacing {spacing[0]}..{spacing[1]} "
            f"({mode} layout): digits would be under {layout.MIN_DIGIT_WIDTH} px wide; "
            f"the smallest width that works is {smallest}"
        )
    return int(image_width)


def _rng(rng) -> np.random.Generator:
    try:
        return np.random.default_rng(rng)
    except (TypeError, ValueError):
        raise ValueError(
            f"rng must be None, a non-negative integer seed or a numpy.random.Generator, got {rng!r}"
        ) from None


def resolve_source(images, data_home, split: str) -> MnistData:
    """The digit source: ``images`` (a MnistData or an (images, labels) pair), else the MNIST files."""
    if images is None:
        return load(split, data_home=data_home)
    if data_home is not None:
        raise ValueError("give either images (a digit source) or data_home (a folder of files), not both")
    if isinstance(images, MnistData):
        return images
    try:
        pixels, labels = images
    except (TypeError, ValueError):
        raise ValueError(
            "images must be what mnistdata.load returns or an (images, labels) pair of arrays"
        ) from None
    return MnistData.from_arrays(pixels, labels, name="images")


def generate_numbers_sequence(
    digits: str | Sequence[int],
    spacing_range: tuple[int, int],
    image_width: int | None,
    data_home: str | os.PathLike | None = None,
    images: MnistData | tuple[np.ndarray, np.ndarray] | None = None,
    evenly: bool = False,
    fltrs: Sequence[Filter] | None = None,
    *,
    rng: np.random.Generator | int | None = None,
    split: str = "train",
) -> np.ndarray:
    """An image of the given digits written with random MNIST samples.

    Parameters
    ----------
    digits : str or sequence of int
        ``"4981278"`` or ``[4, 9, 8]``; values of 10 and more are reduced
        modulo 10. Each digit is a uniformly random MNIST sample of that label.
    spacing_range : (int, int)
        ``(min, max)`` gap between digits in pixels, ``0 <= min <= max <= 10000``.
    image_width : int or None
        Width of the result. Random layout: the strip is resampled to it
        (antialiased when shrinking). Even layout: slots and gaps are fitted to
        it exactly. ``None`` keeps the natural width. Too small a width (digits
        under 7 px) raises, stating the smallest that works.
    data_home : str or os.PathLike, optional
        Where the MNIST files live (see :func:`mnistdata.load`).
    images : MnistData or (images, labels), optional
        A digit source used instead of the MNIST files: what
        :func:`mnistdata.load` returns, or ``(N, 28, 28)`` images (ink high on
        0) with ``N`` labels. For repeated calls pass a :class:`MnistData`
        (``MnistData.from_arrays``) so it is indexed once.
    evenly : bool
        Even layout: equal digit slots and equal gaps (within 1 px), no
        randomness in the layout; the gap chosen from the range keeps digits
        closest to 28 px. With ``image_width=None``: 28 px digits and gaps
        at the middle of the range.
    fltrs : list of callables, optional
        Applied to each digit, in order, before layout: ``f(img) -> img`` on
        float32 ink 1.0 on 0.0, height 28 (see :mod:`.filters`). Filters with
        an ``rng`` keyword receive this call's generator.
    rng : None, int or numpy.random.Generator
        The same seed gives the same image, bit for bit. No global state is used.
    split : {"train", "test"}
        Which MNIST split the samples come from (ignored with ``images``).

    Returns
    -------
    numpy.ndarray
        C-contiguous float32, shape ``(28, width)``, values in [0, 1]: dark
        digits on a white background (exactly 1.0).

    Raises
    ------
    ValueError
        Any bad argument, named with the accepted values; a digit with no
        samples in the source; a filter that changes the height.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> source = (rng.integers(0, 256, (20, 28, 28)), np.arange(20) % 10)
    >>> img = generate_numbers_sequence("4981", (2, 6), 120, images=source, rng=1)
    >>> img.shape, img.dtype.name
    ((28, 120), 'float32')
    """
    request = check_request(digits, spacing_range, image_width, evenly, fltrs, split)
    rng = _rng(rng)
    source = resolve_source(images, data_home, split)
    return compose(request, source, rng)


@dataclass(frozen=True)
class Request:
    """Validated arguments of one strip (see :func:`check_request`)."""

    digits: np.ndarray
    spacing: tuple[int, int]
    width: int | None
    evenly: bool
    prepared: list


def check_request(digits, spacing_range, image_width, evenly=False, fltrs=None, split="train") -> Request:
    """Check every argument of :func:`generate_numbers_sequence` that needs no data.

    The command line calls it before loading anything, so bad input never
    starts a download.
    """
    digits = check_digits(digits)
    spacing = check_spacing(spacing_range)
    if not isinstance(evenly, (bool, np.bool_)):
        raise ValueError(f"evenly must be True or False, got {evenly!r}")
    width = check_width(image_width, len(digits), spacing, bool(evenly))
    prepared = prepare_filters(fltrs)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    return Request(digits, spacing, width, bool(evenly), prepared)


def compose(
    request: Request, source: MnistData, rng: np.random.Generator, filter_rng: np.random.Generator | None = None
) -> np.ndarray:
    """Draw and lay out the strip of a validated request (see :func:`generate_numbers_sequence`).

    ``rng`` picks the samples and gaps; ``filter_rng`` (default ``rng``) is
    handed to the filters, so datasets can give filters their own stream.
    """
    digits, width, prepared = request.digits, request.width, request.prepared
    n = len(digits)
    available = np.array([len(group) for group in source.digit_indices])
    if (missing := sorted({int(d) for d in digits if available[d] == 0})):
        raise ValueError(f"no samples of digit(s) {missing} in {source.source}")

    # Draw order is fixed (samples, gaps, then filters), so adding a filter
    # does not change which samples or gaps a seed gives.
    picks = rng.integers(0, available[digits])
    index = [source.digit_indices[d][k] for d, k in zip(digits, picks, strict=True)]
    gaps = None if request.evenly else layout.random_gaps(n - 1, request.spacing, rng)
    glyphs = source.images[index].astype(np.float32) * np.float32(1 / 255)
    if prepared:
        glyphs = [apply_filters(g, prepared, rng if filter_rng is None else filter_rng) for g in glyphs]
    else:
        glyphs = list(glyphs)
    if request.evenly:
        slots, gaps = layout.even_layout(n, request.spacing, width)
        glyphs = [layout.resample(g, int(s)) for g, s in zip(glyphs, slots, strict=True)]

    total = sum(g.shape[1] for g in glyphs) + int(gaps.sum())
    strip = np.zeros((layout.DIGIT, total), dtype=np.float32)
    x = 0
    for i, glyph in enumerate(glyphs):
        w = glyph.shape[1]
        strip[:, x : x + w] = glyph
        x += w + (int(gaps[i]) if i < n - 1 else 0)
    if width is not None and total != width:
        strip = layout.resample(strip, width)
    out = np.subtract(np.float32(1.0), strip, dtype=np.float32)  # ink on paper: background 1.0
    np.clip(out, 0.0, 1.0, out=out)
    return np.ascontiguousarray(out)


# ------------------------------------------------------------------ datasets

MAX_COUNT = 100_000_000
CHUNK = 256  # samples per worker task: large enough to amortise the hand-off, small enough to stream
PURPOSE_SAMPLE, PURPOSE_FILTERS = 0, 1


def sample_rng(entropy: int, index: int, purpose: int) -> np.random.Generator:
    """The generator of sample ``index`` for ``purpose`` (0: label, samples, gaps; 1: filters).

    ``SeedSequence(entropy, spawn_key=(index, purpose))`` is the child a
    ``SeedSequence(entropy)`` would spawn there, built in O(1): sample ``i``
    is a pure function of ``(seed, i)``, whichever process computes it, and
    no two samples share a stream.
    """
    return np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(index, purpose)))


@dataclass(frozen=True)
class Plan:
    """Validated arguments of a dataset; every sample is ``make_sample(plan, source, i)``."""

    count: int
    lengths: tuple[int, int]
    spacing: tuple[int, int]
    width: int
    evenly: bool
    prepared: list
    dtype: str
    entropy: int
    split: str
    labels: tuple[str, ...] | None = None

    def request(self, digits: np.ndarray) -> Request:
        return Request(digits, self.spacing, self.width, self.evenly, self.prepared)


def _check_length(length) -> tuple[int, int]:
    if _is_int(length):
        low = high = int(length)
    else:
        try:
            low, high = length
        except (TypeError, ValueError):
            raise ValueError(f"length must be an integer or a (min, max) pair, got {length!r}") from None
        if not (_is_int(low) and _is_int(high)):
            raise ValueError(f"length must be an integer or a (min, max) pair of integers, got {length!r}")
    if not 1 <= low <= high <= MAX_DIGITS:
        raise ValueError(f"length must satisfy 1 <= min <= max <= {MAX_DIGITS}, got {length!r}")
    return int(low), int(high)


def _entropy(seed) -> int:
    if isinstance(seed, np.random.SeedSequence):
        return seed.entropy
    if seed is not None and (not _is_int(seed) or seed < 0):
        raise ValueError(f"seed must be None or a non-negative integer, got {seed!r}")
    return np.random.SeedSequence(None if seed is None else int(seed)).entropy


def plan_dataset(
    count: int,
    length,
    spacing_range,
    image_width: int | None,
    *,
    seed,
    split: str = "train",
    evenly: bool = False,
    fltrs=None,
    dtype: str = "float32",
    labels: Sequence[str] | None = None,
) -> Plan:
    """Check a dataset's arguments (no data is touched) and fix its seed; see :func:`generate_dataset`."""
    if labels is not None:
        if isinstance(labels, str):
            raise ValueError("labels must be a list of digit strings, got a single string")
        labels = tuple(labels)
        for i, label in enumerate(labels):
            if not isinstance(label, str) or not label or not label.isascii() or not label.isdigit():
                raise ValueError(f"labels[{i}] must be a non-empty string of digits 0-9, got {label!r}")
        if count is None:
            count = len(labels)
        elif count != len(labels):
            raise ValueError(f"count {count} differs from the number of labels {len(labels)}")
        lengths = (min(map(len, labels)), max(map(len, labels))) if labels else (1, 1)
    else:
        lengths = _check_length(length)
    if not _is_int(count) or not 0 <= count <= MAX_COUNT:
        raise ValueError(f"count must be an integer in 0..{MAX_COUNT}, got {count!r}")
    if dtype not in ("float32", "uint8"):
        raise ValueError(f"dtype must be 'float32' or 'uint8', got {dtype!r}")
    spacing = check_spacing(spacing_range)
    if image_width is None:
        if lengths[0] != lengths[1] or (not evenly and spacing[0] != spacing[1]):
            raise ValueError(
                "image_width is required when lengths or spacing vary: every image of a dataset has one width"
            )
        n = lengths[0]
        slots, gaps = layout.even_layout(n, spacing, None) if evenly else (np.full(n, 28), np.full(n - 1, spacing[0]))
        image_width = int(slots.sum() + gaps.sum())
    request = check_request("0" * lengths[1], spacing, image_width, evenly, fltrs, split)  # widest case
    if lengths[0] != lengths[1]:
        check_width(image_width, lengths[0], spacing, bool(evenly))
    return Plan(int(count), lengths, spacing, request.width, request.evenly, request.prepared, dtype,
                _entropy(seed), split, labels)


def _digits(plan: Plan, rng: np.random.Generator, index: int) -> np.ndarray:
    """The digit string of sample ``index``: the first draws of its stream (or the given label)."""
    if plan.labels is not None:
        return np.frombuffer(plan.labels[index].encode(), np.uint8).astype(np.int64) - 48
    low, high = plan.lengths
    return rng.integers(0, 10, size=int(rng.integers(low, high + 1)) if low != high else low)


def sample_label(plan: Plan, index: int) -> str:
    """The label of sample ``index`` without drawing its image (microseconds, for resuming exports)."""
    return "".join(map(str, _digits(plan, sample_rng(plan.entropy, index, PURPOSE_SAMPLE), index).tolist()))


def make_sample(plan: Plan, source: MnistData, index: int) -> tuple[np.ndarray, str]:
    """Sample ``index`` of ``plan``: ``(image, label)``, a pure function of ``(plan, index)``."""
    rng = sample_rng(plan.entropy, index, PURPOSE_SAMPLE)
    digits = _digits(plan, rng, index)
    frng = sample_rng(plan.entropy, index, PURPOSE_FILTERS) if plan.prepared else None
    image = compose(plan.request(digits), source, rng, frng)
    if plan.dtype == "uint8":
        image = np.rint(image * 255).astype(np.uint8)
    return image, "".join(map(str, digits.tolist()))


def _make_chunk(plan: Plan, source: MnistData, start: int, stop: int, encode=None, encode_chunk=None):
    """``(start, images, labels)``; ``images`` is ``[encode(image), ...]`` with ``encode``,
    ``encode_chunk(images)`` with ``encode_chunk``.

    Encoding where the images are made (PNG bytes, deflated pieces) keeps that
    work in the workers and out of the parent, which then only writes.
    """
    images = np.empty((stop - start, layout.DIGIT, plan.width), dtype=plan.dtype) if encode is None else []
    labels = []
    for row, index in enumerate(range(start, stop)):
        image, label = make_sample(plan, source, index)
        if encode is None:
            images[row] = image
        else:
            images.append(encode(image))
        labels.append(label)
    return start, (images if encode_chunk is None else encode_chunk(images)), labels


_WORKER: dict = {}


def _init_worker(plan: Plan, source: MnistData | None, data_home, encode, encode_chunk) -> None:
    # Runs once per worker: the digit source arrives here (inherited under
    # fork, memory-mapped again under spawn), never with each task.
    _WORKER["plan"] = plan
    _WORKER["source"] = source if source is not None else load(plan.split, data_home=data_home, download=False)
    _WORKER["encode"], _WORKER["encode_chunk"] = encode, encode_chunk


def _worker_chunk(start: int, stop: int):
    w = _WORKER
    return _make_chunk(w["plan"], w["source"], start, stop, w["encode"], w["encode_chunk"])


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
    """``indices`` cut into ``(start, stop)`` pieces of at most :data:`CHUNK` samples."""
    return [(a, min(a + CHUNK, indices.stop)) for a in range(indices.start, indices.stop, CHUNK)]


def iter_chunks(plan: Plan, source: MnistData, bounds: list[tuple[int, int]], workers: int = 1, *,
                from_files: bool = False, data_home=None, encode=None, encode_chunk=None):
    """Yield ``(start, images, labels)`` for each ``(start, stop)`` in ``bounds``, in order.

    With ``workers > 1`` the chunks are made in worker processes, at most
    ``2 * workers`` in flight, so memory stays bounded however many samples
    there are. ``from_files``: workers memory-map the MNIST files themselves
    instead of receiving ``source``. ``encode`` (a picklable function of one
    image) and ``encode_chunk`` (of a chunk's images) run where the images are made.
    """
    workers = _workers(workers)
    if workers == 1 or len(bounds) <= 1:
        for a, b in bounds:
            yield _make_chunk(plan, source, a, b, encode, encode_chunk)
        return
    import multiprocessing
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    if context.get_start_method() != "fork":
        _check_picklable(plan, None if from_files else source)
    with ProcessPoolExecutor(max_workers=min(workers, len(bounds)), mp_context=context,
                             initializer=_init_worker,
                             initargs=(plan, None if from_files else source, data_home, encode,
                                       encode_chunk)) as pool:
        pending = deque()
        todo = iter(bounds)
        for a, b in todo:
            pending.append(pool.submit(_worker_chunk, a, b))
            if len(pending) >= 2 * workers:
                break
        while pending:
            yield pending.popleft().result()
            nxt = next(todo, None)
            if nxt is not None:
                pending.append(pool.submit(_worker_chunk, *nxt))


def _dataset_source(plan: Plan, images, data_home) -> tuple[MnistData, bool]:
    """The digit source, and whether workers may reload it from the files themselves."""
    return resolve_source(images, data_home, plan.split), images is None


def generate_dataset(
    count: int,
    length,
    spacing_range,
    image_width: int | None,
    *,
    seed,
    split: str = "train",
    evenly: bool = False,
    fltrs=None,
    images=None,
    data_home=None,
    workers: int = 1,
    dtype: str = "float32",
    labels: Sequence[str] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Many strips at once: ``(images, labels)``.

    Parameters
    ----------
    count : int
        Number of samples (may be ``None`` when ``labels`` is given).
    length : int or (int, int)
        Digits per sample, or an inclusive ``(min, max)`` range drawn uniformly.
    spacing_range, evenly, fltrs, images, data_home, split
        As for :func:`generate_numbers_sequence`.
    image_width : int or None
        One width for all samples; ``None`` only when every sample has the
        same natural width (fixed length and spacing, or even layout).
    seed : None, int or numpy.random.SeedSequence
        Sample ``i`` is a pure function of ``(seed, i)``: the same seed gives
        bit-identical data for any ``workers``, and ``generate_dataset(...)[0][17]``
        equals ``SequenceDataset(...)[17][0]``. ``None`` draws fresh entropy.
    workers : int
        Processes to use; 0 means all cores.
    dtype : {"float32", "uint8"}
        ``uint8`` holds 0..255 (``rint(x * 255)``) in a quarter of the memory.
    labels : list of str, optional
        The digit strings to draw, instead of random ones.

    Returns
    -------
    images : numpy.ndarray
        Shape ``(count, 28, width)``, dark digits on white.
    labels : list of str
        The digit string of each image.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> source = (rng.integers(0, 256, (20, 28, 28)), np.arange(20) % 10)
    >>> x, y = generate_dataset(4, (2, 3), (0, 4), 90, seed=1, images=source)
    >>> x.shape, [len(s) in (2, 3) for s in y]
    ((4, 28, 90), [True, True, True, True])
    """
    plan = plan_dataset(count, length, spacing_range, image_width, seed=seed, split=split, evenly=evenly,
                        fltrs=fltrs, dtype=dtype, labels=labels)
    n_workers = _workers(workers)
    source, from_files = _dataset_source(plan, images, data_home)
    out = np.empty((plan.count, layout.DIGIT, plan.width), dtype=plan.dtype)
    names: list[str] = [""] * plan.count
    for start, chunk, chunk_labels in iter_chunks(plan, source, chunk_bounds(range(plan.count)), n_workers,
                                                  from_files=from_files, data_home=data_home):
        out[start : start + len(chunk)] = chunk
        names[start : start + len(chunk)] = chunk_labels
    return out, names


def iter_dataset(
    count: int,
    length,
    spacing_range,
    image_width: int | None,
    *,
    seed,
    split: str = "train",
    evenly: bool = False,
    fltrs=None,
    images=None,
    data_home=None,
    workers: int = 1,
    dtype: str = "float32",
    labels: Sequence[str] | None = None,
):
    """Yield ``(image, label)`` pairs of :func:`generate_dataset`, in order, with bounded memory.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> source = (rng.integers(0, 256, (20, 28, 28)), np.arange(20) % 10)
    >>> [label for _, label in iter_dataset(3, 2, (1, 1), None, seed=5, images=source)]
    ['62', '38', '94']
    """
    plan = plan_dataset(count, length, spacing_range, image_width, seed=seed, split=split, evenly=evenly,
                        fltrs=fltrs, dtype=dtype, labels=labels)
    n_workers = _workers(workers)
    source, from_files = _dataset_source(plan, images, data_home)
    for _, chunk, chunk_labels in iter_chunks(plan, source, chunk_bounds(range(plan.count)), n_workers,
                                              from_files=from_files, data_home=data_home):
        yield from zip(chunk, chunk_labels, strict=True)
