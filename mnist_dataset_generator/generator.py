"""The public doors: one strip, a dataset in memory, a dataset streamed.

A sample's look is a :class:`.recipe.Recipe`; one strip is checked and composed in
:mod:`.compose.strip`, datasets are planned in :mod:`.dataset`, drawn in :mod:`.sampling`,
made in :mod:`.making` and :mod:`.workers`. These functions check their arguments, then
hand over.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import numpy as np

from .compose.checks import check_flag, check_request, check_rng
from .compose.strip import compose, resolve_source
from .dataset import plan_options
from .filters import Filter
from .making import mask_dtype
from .mnistdata import MnistData
from .workers import dataset_chunks

__all__ = ["generate_dataset", "generate_numbers_sequence", "generate_videos", "iter_dataset"]


def generate_numbers_sequence(
    digits: str | Sequence[int],
    spacing_range: tuple[int, int],
    image_width: int | None,
    data_home: str | os.PathLike | None = None,
    images: MnistData | tuple[np.ndarray, np.ndarray] | None = None,
    evenly: bool = False,
    fltrs: Sequence[Filter] | str | None = None,
    *,
    rng: np.random.Generator | int | None = None,
    split: str = "train",
    image_height: int | None = None,
    background: str = "white",
    fit: str = "stretch",
    align: str = "center",
    return_boxes: bool = False,
    source: str = "mnist",
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """An image of the given digits written with random MNIST samples.

    Parameters
    ----------
    digits : str or sequence of int
        ``"4981278"`` or ``[4, 9, 8]``; values of 10 and more are reduced
        modulo 10. Each digit is a uniformly random MNIST sample of that label.
    spacing_range : (int, int)
        ``(min, max)`` gap between digits in pixels, ``-27 <= min <= max <= 10000``.
        Negative gaps make digits touch or overlap; overlapping strokes are
        composited so that ink wins (the maximum), as on paper.
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
    fltrs : list of callables, or str, optional
        Applied to each digit, in order, before layout: ``f(img) -> img`` on
        float32 ink 1.0 on 0.0, height 28 (see :mod:`.filters`). Filters with
        an ``rng`` keyword receive this call's generator. Or ``-f`` text such
        as ``"blur:sigma=0.8,distort"`` (see :func:`.compose.filterspec.from_spec`),
        as every door takes.
    rng : None, int or numpy.random.Generator
        The same seed gives the same image, bit for bit. No global state is used.
    split : {"train", "test"}
        Which MNIST split the samples come from (ignored with ``images``).
    image_height : int, optional
        Resample the finished strip to this height (1..4096), keeping its
        aspect ratio unless ``image_width`` is given too (recognisers often
        want 32 px).
    background : {"white", "black"}
        ``"white"``: dark digits on white paper; ``"black"``: MNIST polarity
        (ink 1.0 on 0.0).
    fit : {"stretch", "pad"}
        ``"stretch"``: the strip is resampled to ``image_width``. ``"pad"``: the
        digits keep their size (scaled with ``image_height`` only) and the strip
        is placed in the width with paper around it; a strip wider than the
        width is scaled down whole, aspect kept, never squeezed. Either way a
        width that would draw digits under 7 px wide is refused, naming the
        smallest that works.
    align : {"left", "center", "random"}
        Where ``fit="pad"`` puts the strip across the width (``"random"``
        draws from ``rng``); it is always centred down.
    return_boxes : bool
        Also return where each digit's ink lies.
    source : str, default "mnist"
        The glyph set, or a folder of your glyphs (see :class:`.recipe.Recipe`); ``digits`` is then
        a string over its alphabet (or a list of its classes).

    Returns
    -------
    image : numpy.ndarray
        C-contiguous float32, shape ``(28, width)`` (or ``(image_height, ...)``),
        values in [0, 1]: by default dark digits on a white background
        (exactly 1.0).
    boxes : numpy.ndarray, with ``return_boxes``
        ``(len(digits), 4)`` int32 ``[x0, y0, x1, y1]`` per digit in reading
        order, ends exclusive: the pixels the digit's ink reaches after
        filters, layout and resampling (however faintly). Every pixel outside
        all boxes is background.

    Raises
    ------
    ValueError
        Any bad argument, named with the accepted values; a digit with no
        samples in the source; a filter that changes the height; a strip
        whose making would take more memory than the budget (half of this
        machine's, or ``GENERATOR_NUMBERS_SEQ_MEMORY_BUDGET`` bytes), refused
        before anything is allocated.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> source = (rng.integers(0, 256, (20, 28, 28)), np.arange(20) % 10)
    >>> img = generate_numbers_sequence("4981", (2, 6), 120, images=source, rng=1)
    >>> img.shape, img.dtype.name
    ((28, 120), 'float32')
    """
    from .sources.folder import alphabet_of, resolve

    source = resolve(source)
    request = check_request(digits, spacing_range, image_width, evenly, fltrs, split, image_height=image_height,
                            background=background, fit=fit, align=align, alphabet=alphabet_of(source))
    boxes = check_flag("return_boxes", return_boxes)
    rng = check_rng(rng)
    source = resolve_source(images, data_home, split, source)
    return compose(request, source, rng, boxes=boxes)


def generate_dataset(
    count: int | None,
    length=None,
    spacing_range=None,
    image_width: int | None = None,
    *,
    seed,
    workers: int = 1,
    images=None,
    data_home=None,
    return_boxes: bool = False,
    return_masks: bool = False,
    **options,
) -> tuple:
    """Many strips at once: ``(images, labels)``, then ``boxes`` with ``return_boxes`` and ``masks`` with
    ``return_masks``: ``(images, labels, boxes, masks)`` with both.

    Parameters
    ----------
    count : int
        Number of samples (may be ``None`` when ``labels`` is given).
    length : int or (int, int)
        Digits per sample, or an inclusive ``(min, max)`` range drawn uniformly.
    spacing_range, images, data_home
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
    return_boxes : bool
        Also return each sample's boxes: a list of ``(len(label), 4)`` int32
        arrays (see :func:`generate_numbers_sequence`).
    return_masks : bool
        Also return each sample's label image: an array of the images' shape,
        uint8 (uint16 past 254 characters), 0 on paper and ``i + 1`` where
        character ``i``'s visible ink shows; each character's pixels lie in
        its box. Where two characters' ink meets, a pixel goes to the darker
        (the first, on a tie); a pixel only their faint tails together make
        visible goes to neither.
    **options
        ``recipe``: a :class:`.recipe.Recipe`, saying what a sample looks like
        (then ``length``, ``spacing_range``, ``image_width`` and the recipe's
        other fields are not given). Or those fields by keyword, a shorthand
        for it: ``split``, ``evenly``, ``fltrs``, ``image_height``,
        ``background``, ``fit``, ``align`` as for
        :func:`generate_numbers_sequence`; ``dtype`` (``"float32"`` or
        ``"uint8"``: 0..255 as ``rint(x * 255)``, a quarter of the memory);
        ``labels`` (the digit strings to draw instead of random ones).
        ``epoch``: fresh samples, gaps and filter draws for the same labels
        (see :class:`.dataset.SequenceDataset`).

    Returns
    -------
    images : numpy.ndarray
        Shape ``(count, height, width)`` (height 28 unless ``image_height``).
    labels : list of str
        The digit string of each image.
    boxes : list of numpy.ndarray, with ``return_boxes``
    masks : numpy.ndarray, with ``return_masks``

    Raises
    ------
    ValueError
        Any bad argument; images that would take more memory than the budget
        (half of this machine's, or ``GENERATOR_NUMBERS_SEQ_MEMORY_BUDGET``
        bytes), refused before anything is allocated: :func:`iter_dataset`
        or an export holds only a few chunks at a time.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> source = (rng.integers(0, 256, (20, 28, 28)), np.arange(20) % 10)
    >>> x, y = generate_dataset(4, (2, 3), (0, 4), 90, seed=1, images=source)
    >>> x.shape, [len(s) in (2, 3) for s in y]
    ((4, 28, 90), [True, True, True, True])
    """
    plan, chunks, out, (boxes, masks) = _dataset(
        "generate_dataset", count, length, spacing_range, image_width, seed=seed, workers=workers, images=images,
        data_home=data_home, return_boxes=return_boxes, return_masks=return_masks, whole=True, **options)
    names: list[str] = [""] * plan.count
    found: list[np.ndarray] = []
    owners = np.empty((plan.count, *plan.shape), mask_dtype(plan)) if masks else None
    for batch in chunks:  # the images are written into out where they are made
        names[batch.start : batch.stop] = batch.labels
        if boxes:
            found += [record.boxes for record in batch.records()]
        if masks:
            owners[batch.start : batch.stop] = batch.masks
    return (out, names, *([found] if boxes else []), *([owners] if masks else []))


def _dataset(door: str, count, length, spacing_range, image_width, *, seed, workers, images, data_home,
             return_boxes, return_masks: bool = False, whole: bool = False, **options):
    """``(plan, batches, out, (boxes, masks))`` of a dataset door's arguments, checked, with ``door`` in the
    errors."""
    plan = plan_options(door, count, length, spacing_range, image_width, seed, options)
    boxes = check_flag("return_boxes", return_boxes)
    masks = check_flag("return_masks", return_masks)
    chunks, out = dataset_chunks(plan, images=images, data_home=data_home, workers=workers, whole=whole, boxes=boxes,
                                 masks=masks, door=door)
    return plan, chunks, out, (boxes, masks)


def iter_dataset(*args, **kwargs) -> Iterator[tuple[np.ndarray, str]] | Iterator[tuple[np.ndarray, str, np.ndarray]]:
    """An iterator of the ``(image, label)`` pairs of :func:`generate_dataset` (then ``boxes`` with
    ``return_boxes``, and the label image with ``return_masks``), in order, with bounded memory; its
    arguments exactly.

    The arguments, and the memory of the chunks in flight (at most two per
    worker, of 256 samples), are checked when it is called; the samples are
    made as they are taken.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> source = (rng.integers(0, 256, (20, 28, 28)), np.arange(20) % 10)
    >>> [label for _, label in iter_dataset(3, 2, (1, 1), None, seed=5, images=source)]
    ['68', '56', '81']
    """
    import inspect

    try:
        bound = inspect.signature(generate_dataset).bind(*args, **kwargs)
    except TypeError as exc:
        raise TypeError(f"iter_dataset(): {exc}") from None
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    _, chunks, _, (boxes, masks) = _dataset("iter_dataset", **arguments.pop("options"), **arguments)
    if masks:
        return ((r.image, r.label, r.boxes, r.mask) if boxes else (r.image, r.label, r.mask)
                for batch in chunks for r in batch.records())
    if boxes:
        return ((r.image, r.label, r.boxes) for batch in chunks for r in batch.records())
    return (pair for batch in chunks for pair in zip(batch.images, batch.labels, strict=True))


iter_dataset.__wrapped__ = generate_dataset  # inspect.signature and help() show the arguments it takes


def generate_videos(
    count: int,
    frames: int = 20,
    digits: int = 2,
    size: int | tuple[int, int] = 64,
    step: float | tuple[float, float] = 0.1,
    *,
    seed,
    split: str = "train",
    images=None,
    data_home=None,
    source: str = "mnist",
    background: str = "black",
    fltrs=None,
    workers: int = 1,
    return_boxes: bool = False,
    return_masks: bool = False,
):
    """Moving digits, Moving MNIST's way: ``(videos, labels)``, then the boxes with ``return_boxes`` and the
    label images with ``return_masks``.

    Each of ``count`` samples has ``digits`` glyphs of random classes moving over a canvas for
    ``frames`` frames with constant speed, bouncing off the walls, combined by their maximum as
    in the original generator (see :mod:`.compose.video`): its defaults are the benchmark's
    parameters (64 x 64, 2 digits, 20 frames, a step of 0.1 of the 36 px range, about 3.6 px).

    Parameters
    ----------
    count : int
        Number of sequences, 0..100,000,000.
    frames : int, >= 1
    digits : int, >= 1
        Glyphs per sequence.
    size : int or (int, int)
        Canvas ``height, width`` (one int: square), at least the glyph's 28 px.
    step : float or (float, float), in [0, 1]
        Move per frame as a share of the range a glyph moves over; a ``(min, max)`` range is drawn
        uniformly per glyph.
    seed : None, int or numpy.random.SeedSequence
        Sequence ``i`` is a pure function of ``(seed, i)``.
    split, images, data_home, source
        Where the glyphs come from, as for :func:`generate_dataset`.
    fltrs : str, list of callables, or None
        Filters applied to each glyph once, before it moves (a spec such as ``"rotate,blur"``, as a
        strip's), each sequence with its own stream; a glyph a filter made narrower or wider is
        centred in its 28 x 28 cell (:meth:`.compose.stacks.Glyphs.squares`).
    background : {"black", "white"}
        ``"black"``: MNIST's and the benchmark's polarity, ink high (the default here); ``"white"``:
        dark ink on white, as the strips.
    workers : int
        Processes to use; 0 means all cores (the videos are the same for any number).
    return_boxes : bool
        Also return ``(count, frames, digits, 4)`` int32 boxes ``[x0, y0, x1, y1]`` of each glyph's
        ink in each frame.
    return_masks : bool
        Also return the label images, of the videos' shape (uint8; uint16 past 254 glyphs): 0 on paper,
        ``j + 1`` where glyph ``j`` gives the pixel its value (the first, on a tie); each glyph's pixels
        lie in its box.

    Returns
    -------
    videos : numpy.ndarray
        uint8, ``(count, frames, height, width)``.
    labels : list of str
        Each sequence's characters, in glyph order.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> source = (rng.integers(0, 256, (20, 28, 28)), np.arange(20) % 10)
    >>> videos, labels = generate_videos(3, frames=5, seed=1, images=source)
    >>> videos.shape, [len(label) for label in labels]
    ((3, 5, 64, 64), [2, 2, 2])
    """
    from .compose.checks import int_pair, is_int
    from .recipe import Recipe

    if not is_int(digits) or not 1 <= digits <= 1000:
        raise ValueError(f"digits must be an integer in 1..1000, got {digits!r}")
    height, width = int_pair("size", size, "an integer or a (height, width) pair of integers")
    if not (28 <= height <= 4096 and 28 <= width <= 4096):
        raise ValueError(f"size must be 28..4096 px each way (a glyph is 28 x 28), got {size!r}")
    try:
        recipe = Recipe(layout="video", length=digits, frames=frames, speed=step, image_height=height,
                        image_width=width, split=split, source=source, background=background, dtype="uint8",
                        fltrs=fltrs)
    except ValueError as exc:
        raise ValueError(str(exc).replace("speed must", "step must")) from None
    return _videos_of(count, recipe, seed=seed, workers=workers, images=images, data_home=data_home,
                      return_boxes=return_boxes, return_masks=return_masks)


def _videos_of(count, recipe, **options):
    """:func:`generate_dataset` of a video recipe, as ``generate_videos`` returns it (boxes as one array)."""
    plan, chunks, out, (boxes, masks) = _dataset("generate_videos", count, None, None, None, recipe=recipe,
                                                 whole=True, **options)
    names: list[str] = [""] * plan.count
    found = np.full((plan.count, plan.frames, plan.lengths[1], 4), -1, np.int32) if boxes else None
    owners = np.empty((plan.count, *plan.shape), mask_dtype(plan)) if masks else None
    for batch in chunks:
        names[batch.start : batch.stop] = batch.labels
        if boxes:
            found[batch.start : batch.stop] = batch.boxes
        if masks:
            owners[batch.start : batch.stop] = batch.masks
    return (out, names, *([found] if boxes else []), *([owners] if masks else []))
