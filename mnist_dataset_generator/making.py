"""Making samples: a plan's images, labels and boxes for any indices, and what that takes in memory.

Unfiltered strips without overlaps are rendered together by the batch renderer
(:func:`.compose.render.render`); the others are augmented together, each sample with its
own filter stream (:func:`.compose.augment.augment_batches`), and composed a batch at a time
(:func:`.compose.sheet.compose`). What a request would hold in memory (one sample, the whole
array, the chunks in flight) is checked against the memory budget before anything is
allocated (:func:`check_memory`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from ._limits import check_bytes, format_bytes, memory_budget
from .compose import augment, layout, programs, render, sheet
from .compose.boxes import label_dtype, visible, visible_ink
from .compose.checks import is_int, strip_bytes, strip_detail
from .compose.strip import check_available, fusable
from .records import NO_BOX, Batch
from .sampling import CHUNK, PURPOSE_FILTERS, PURPOSE_NOISE, draws, labels_of, sample_rng

if TYPE_CHECKING:
    from .dataset import Plan
    from .sources.glyphs import MnistData

__all__ = ["check_memory", "chunk_bounds", "make_images", "make_sample", "mask_dtype", "threadable"]


def make_images(plan: Plan, source: MnistData, indices, out: np.ndarray, *, boxes: bool = False,
                masks: np.ndarray | None = None) -> tuple[list[str], np.ndarray | None]:
    """Write samples ``indices`` (a range or ints, any order) into ``out`` (``(len, *plan.shape)``), and
    with ``masks`` (an array of that shape, of :func:`mask_dtype`) their label images into it: 0 on
    paper, ``i + 1`` where character ``i``'s visible ink shows (:func:`.compose.boxes.visible_ink`).

    Returns their labels, and with ``boxes`` their digits' boxes, ``(len, longest, 4)`` int32
    padded with -1 (see :mod:`.records`). Unfiltered strips without overlaps are rendered
    together by :func:`.render.render`, :func:`.render.batch_rows` at a time; the others one by
    one, each with its own filter stream.
    """
    indices = np.asarray(indices, np.int64)
    if not len(indices):
        return [], (np.zeros((0, plan.lengths[1], 4), np.int32) if boxes else None)
    if plan.alphabet != source.alphabet:  # a pattern's separators: drawn by the tool, past the source's classes
        from .sources.pen import with_separators

        if plan.glyphs != source.alphabet:
            raise ValueError(f"the glyphs' alphabet {source.alphabet!r} is not the recipe's source's "
                             f"{plan.glyphs!r}: give images of that source")
        source = with_separators(source, plan.separators)
    if plan.layout == "video":
        return _make_videos(plan, source, indices, out, boxes, masks)
    if plan.layout == "scene":
        return _make_scenes(plan, source, indices, out, boxes, masks)
    if plan.layout == "lines":
        return _make_pages(plan, source, indices, out, boxes, masks)
    fused = _fused(plan)
    gap = _regular_gap(plan) if fused else None
    lengths, digits, u, gaps, where = draws(plan, indices)
    present, index, labels = _picked(plan, source, lengths, digits, u)
    found = np.full((len(indices), digits.shape[1], 4), NO_BOX, np.int32) if boxes else None
    if fused:
        step = len(indices) if gap is not None else render.batch_rows(_widest(plan), plan.height, digits.shape[1])
        for a in range(0, len(indices), step):
            rows = slice(a, a + step)
            if gap is not None:  # one regular layout at the natural width: written in place
                render.place(source.images[index[rows]], gap, background=plan.background, out=out[rows])
                strips = programs.random_geometry(lengths[rows], np.full((len(out[rows]), digits.shape[1] - 1), gap),
                                                plan.width, plan.height, digits.shape[1]) \
                    if boxes or masks is not None else None
            else:
                strips = programs.lay_out(lengths[rows], None if gaps is None else gaps[rows], evenly=plan.evenly,
                                        spacing=plan.spacing, width=plan.width, height=plan.height, fit=plan.fit,
                                        align=plan.align, u=None if where is None else where[rows],
                                        slots=digits.shape[1])
                glyphs = source.images[index[rows]]
                render.render(glyphs, strips.ids, strips.weights, height=plan.height,
                              background=plan.background, out=out[rows], rows=strips.rows)
            if boxes or masks is not None:
                reach = layout.digit_boxes(source.ink_of(index[rows]), strips.starts, strips.slot,
                                           strips.natural, strips.placement)
                reach[~present[rows]] = 0  # slots past a strip's length hold no digit
                # Placed in rows unresampled (gaps of 0 or more), the digits share no column, and every
                # 8-bit ink value shows: the reach is the visible ink, and only masks read the pixels.
                tight = boxes and gap is None
                if tight or masks is not None:
                    columns = _no_shared_columns if gap is not None else render.column_renderer(glyphs, strips,
                                                                                                plan.height)
                    made, owned = visible_ink(reach, visible(out[rows], plan.background), columns, boxes=tight,
                                              labels=masks is not None)
                    if tight:
                        found[rows] = made
                    if masks is not None:
                        masks[rows] = owned
                if boxes and gap is not None:
                    found[rows] = reach
    else:
        stages = augment.stages(plan.prepared)
        rngs = [sample_rng(plan.entropy, int(i), PURPOSE_FILTERS, plan.epoch) for i in indices.tolist()] \
            if stages else None  # each sample's filter stream
        sizes = lengths.tolist()
        most = render.batch_rows(_widest(plan), plan.height, digits.shape[1])  # the strips' memory, as for fused ones
        for a, b, glyphs in augment.augment_batches(stages, sizes, lambda r: source.images[index[r, : sizes[r]]], rngs,
                                                    samples=most):
            made = sheet.compose(glyphs, lengths[a:b], None if gaps is None else gaps[a:b], spacing=plan.spacing,
                                 evenly=plan.evenly, width=plan.width, height=plan.height, fit=plan.fit,
                                 align=plan.align, where=None if where is None else where[a:b],
                                 background=plan.background, dtype=plan.dtype, out=out[a:b], boxes=boxes,
                                 masks=None if masks is None else masks[a:b])
            if boxes:
                found[a:b, : made[1].shape[1]] = made[1]
    if boxes:
        found[~present] = NO_BOX
    return labels, found


def _picked(plan: Plan, source: MnistData, lengths: np.ndarray, digits: np.ndarray, u: np.ndarray):
    """``(present, index, labels)`` of drawn samples, every layout's: which slots hold a glyph, the source
    image of each, and the label strings."""
    present = np.arange(digits.shape[1]) < lengths[:, None]
    check_available(source, digits[present])
    index = np.zeros(digits.shape, np.intp)
    index[present] = source.pick(digits[present], u[present])
    return present, index, labels_of(lengths, digits, plan.alphabet)


def _cells(plan: Plan, source: MnistData, indices: np.ndarray, index: np.ndarray, present: np.ndarray
           ) -> np.ndarray | None:
    """The glyphs of a video's or a scene's slots through the recipe's filters, each sample with its own
    filter stream (as a strip's digits), in ``28 x 28`` uint8 cells (:meth:`.stacks.Glyphs.squares`);
    ``None`` without filters (the source's images are the glyphs)."""
    stages = augment.stages(plan.prepared)
    if not stages:
        return None
    rngs = [sample_rng(plan.entropy, int(i), PURPOSE_FILTERS, plan.epoch) for i in indices.tolist()]
    sizes = present.sum(axis=1).tolist()
    cells = np.zeros((*index.shape, layout.DIGIT, layout.DIGIT), np.uint8)
    for a, b, glyphs in augment.augment_batches(stages, sizes, lambda r: source.images[index[r, : sizes[r]]], rngs):
        cells[a:b][present[a:b]] = glyphs.squares()  # row by row, slot by slot: the order they were taken in
    return cells


def _finish(plan: Plan, made: np.ndarray, out: np.ndarray) -> None:
    """8-bit canvases painted ink high on 0 (``made``) as the plan's images: white paper turns them over;
    ``out``, when another array than ``made``, gets them copied (uint8) or scaled to 0..1 (float32)."""
    if plan.background == "white":
        np.subtract(255, made, out=made)
    if out is not made:
        if plan.dtype == "uint8":
            out[...] = made
        else:
            np.divide(made, np.float32(255), out=out, casting="unsafe")


def _no_shared_columns(members: np.ndarray, columns: np.ndarray) -> np.ndarray:
    raise AssertionError("strips of a regular gap share no columns")


def mask_dtype(plan: Plan) -> np.dtype:
    """The dtype of the plan's label images: uint8, or uint16 past 254 characters."""
    return label_dtype(plan.lengths[1])


def video_rows(plan: Plan) -> int:
    """Videos rendered together by :func:`_make_videos`: at most 4096 glyphs, and 256 videos, at once."""
    return max(1, min(CHUNK, 4096 // plan.lengths[1]))


def _make_videos(plan: Plan, source: MnistData, indices: np.ndarray, out: np.ndarray, boxes: bool,
                 masks: np.ndarray | None = None) -> tuple[list[str], np.ndarray | None]:
    """:func:`make_images` of ``layout="video"``: labels and glyph draws as a strip's, the motion from
    :func:`.sampling.motion`, the boxes from :func:`.compose.video.glyph_boxes`, a pass of
    :func:`video_rows` videos at a time; the frames painted by :func:`.compose.video.paint` and
    finished (white paper, float32) a cache-sized block at a time."""
    from .compose.video import cache_rows, glyph_boxes, paint, trajectories
    from .sampling import motion

    lengths, digits, u, _, _ = draws(plan, indices)
    present, index, labels = _picked(plan, source, lengths, digits, u)
    start, theta, speed = motion(plan, indices)
    frames, height, width = plan.shape
    k = digits.shape[1]
    ranges = np.array([height - layout.DIGIT, width - layout.DIGIT])
    found = np.full((len(indices), frames, k, 4), NO_BOX, np.int32) if boxes else None
    direct = plan.dtype == "uint8" and out.flags.c_contiguous  # else painted in 8 bits, then copied or scaled
    block = cache_rows(plan.shape)
    scratch = None if direct else np.empty((min(block, len(indices)), *plan.shape), np.uint8)
    labels_direct = masks is None or masks.flags.c_contiguous
    label_scratch = None if labels_direct else np.empty((min(block, len(indices)), *plan.shape), masks.dtype)
    step = video_rows(plan)
    for a in range(0, len(indices), step):
        rows = slice(a, a + step)
        n = len(indices[rows])
        paths = trajectories(start[rows].reshape(-1, 2), theta[rows].ravel(), speed[rows].ravel(), frames)
        corners = (paths * ranges).astype(np.intp).reshape(frames, n, k, 2).transpose(1, 0, 2, 3)
        cells = _cells(plan, source, indices[rows], index[rows], present[rows])  # a pass's glyphs filtered
        glyphs = source.images[index[rows]] if cells is None else cells
        glyphs[~present[rows]] = 0  # slots past a video's length: no ink
        for b in range(0, n, block):
            here = slice(a + b, a + min(b + block, n))
            made = out[here] if direct else scratch[: here.stop - here.start]
            owners = (None if masks is None else masks[here] if labels_direct
                      else label_scratch[: here.stop - here.start])
            paint(made, glyphs[b : b + block], corners[b : b + block], owners)
            if not labels_direct:
                masks[here] = owners
            _finish(plan, made, made if direct else out[here])
        if boxes:
            ink = source.ink_of(index[rows]) if cells is None else \
                layout.ink_extents(glyphs.reshape(-1, layout.DIGIT, layout.DIGIT)).reshape(*glyphs.shape[:2], 4)
            placed = glyph_boxes(corners, ink)
            placed[~np.broadcast_to(present[rows, None, :], placed.shape[:-1])] = NO_BOX
            found[rows] = placed
    return labels, found


NOISE = 64  # background="noise": each paper pixel uniform in 0..NOISE-1, a quarter of the ink's range


def scene_rows(plan: Plan) -> int:
    """Scenes painted together by :func:`_make_scenes`: 256, fewer for large canvases (about 4 MiB of 8-bit
    pixels a pass)."""
    return max(1, min(CHUNK, (4 << 20) // (plan.height * plan.width)))


def _make_scenes(plan: Plan, source: MnistData, indices: np.ndarray, out: np.ndarray, boxes: bool,
                 masks: np.ndarray | None = None) -> tuple[list[str], np.ndarray | None]:
    """:func:`make_images` of ``layout="scene"``: labels and glyph draws as a strip's, the sizes, places and
    clutter from :func:`.sampling.scene_draws`, placed by :func:`.compose.scene.place` (the label's
    characters in the squares' reading order) and painted by :func:`.compose.scene.render_scenes`."""
    from .compose.scene import glyph_sides, place, render_scenes
    from .sampling import PURPOSE_GRID, scene_draws

    recipe = plan.recipe
    lengths, digits, u, _, _ = draws(plan, indices)
    present, index, labels = _picked(plan, source, lengths, digits, u)
    scale, candidates, clutter_glyph, clutter_crop, clutter_at = scene_draws(plan, indices)
    height, width = plan.shape
    sides = glyph_sides(scale)

    def grid_order(b: int, cells: np.ndarray) -> np.ndarray:  # the scene's own stream: any batch, the same
        return cells[sample_rng(plan.entropy, int(indices[b]), PURPOSE_GRID, plan.epoch).permutation(len(cells))]

    corners = place(sides, present, candidates, height, width, recipe.max_iou, grid_order)
    # reading order: character i of the label goes to the i-th square, top to bottom, then left to right
    key = np.where(present, corners[..., 0] * (width + 1) + corners[..., 1], np.iinfo(np.int64).max)
    order = np.argsort(key, axis=1, kind="stable")
    sides, corners = np.take_along_axis(sides, order, axis=1), np.take_along_axis(corners, order[..., None], axis=1)
    count, size = recipe.clutter
    found = np.full((len(indices), digits.shape[1], 4), NO_BOX, np.int32) if boxes else None
    step = scene_rows(plan)
    direct = plan.dtype == "uint8" and out.flags.c_contiguous
    for a in range(0, len(indices), step):
        rows = slice(a, a + step)
        n = len(indices[rows])
        cells = _cells(plan, source, indices[rows], index[rows], present[rows])  # a pass's glyphs filtered
        glyphs = source.images[index[rows]] if cells is None else cells
        clutter = None
        if count:
            picked = np.minimum((clutter_glyph[rows] * len(source)).astype(np.intp), len(source) - 1)
            cut = (clutter_crop[rows] * (layout.DIGIT - size + 1)).astype(np.intp)
            ys = cut[..., 0].reshape(-1, 1, 1) + np.arange(size)[:, None]
            xs = cut[..., 1].reshape(-1, 1, 1) + np.arange(size)[None, :]
            whole = np.asarray(source.images[picked.ravel()])  # one index array: any source's images take it
            pieces = whole[np.arange(len(whole))[:, None, None], ys, xs].reshape(*picked.shape, size, size)
            spots = (clutter_at[rows] * [height - size + 1, width - size + 1]).astype(np.intp)
            clutter = (pieces, spots)
        made = out[rows] if direct else np.empty((n, height, width), np.uint8)
        paper = None if recipe.background != "noise" else np.stack([  # each scene's own stream
            sample_rng(plan.entropy, int(i), PURPOSE_NOISE, plan.epoch).integers(0, NOISE, (height, width), np.uint8)
            for i in indices[rows].tolist()])
        placed = render_scenes(glyphs, sides[rows], corners[rows], present[rows], height, width, clutter=clutter,
                               combine=recipe.combine, out=made, labels=None if masks is None else masks[rows],
                               paper=paper)
        _finish(plan, made, made if direct else out[rows])
        if boxes:
            placed[~present[rows]] = NO_BOX
            found[rows] = placed
    return labels, found


LINE_BYTES = 16 << 20  # the lines _make_pages makes together: about this many bytes of pixels and labels (a page's
# lines at least)


def line_pass(plan: Plan) -> int:
    """Lines made together by :func:`_make_pages`: their pixels and label images about :data:`LINE_BYTES`, all
    of a page's lines at least."""
    return max(plan.recipe.lines[1], LINE_BYTES // _line_bytes(plan))


def _line_bytes(plan: Plan) -> int:
    """Bytes a line takes while a pass of lines is made: its pixels and label image, and the renderer's
    float32 sums and copies of it (a regular-gap pass is rendered whole, in one step)."""
    return layout.DIGIT * plan.width * ((1 if plan.dtype == "uint8" else 4) + mask_dtype(plan).itemsize + 16)


def _make_pages(plan: Plan, source: MnistData, indices: np.ndarray, out: np.ndarray, boxes: bool,
                masks: np.ndarray | None = None) -> tuple[list[str], np.ndarray | None]:
    """:func:`make_images` of ``layout="lines"``: each page's lines are strips of
    :func:`.sampling.line_plan` (any filters, patterns and boxes as theirs), stacked down the page with the
    gaps of :func:`.sampling.page_draws`, the block of lines placed by the recipe's ``align`` (left: at the
    top). The label joins the lines with ``"\\n"``, which has no box (-1) and no mask value."""
    from .sampling import line_indices, line_plan, page_draws

    recipe = plan.recipe
    lines, gaps, where = page_draws(plan, indices)
    inner = line_plan(plan)
    height, width = plan.shape
    # each line's top: the gaps above it, then the block's place in the spare height
    tops = np.zeros((len(indices), recipe.lines[1]), np.int64)
    tops[:, 1:] = np.cumsum(layout.DIGIT + gaps, axis=1)
    below = np.where(np.arange(recipe.lines[1] - 1) < lines[:, None] - 1, gaps, 0).sum(axis=1)
    spare = height - (lines * layout.DIGIT + below)
    if recipe.align == "center":
        tops += (spare // 2)[:, None]
    elif recipe.align == "random":
        tops += np.minimum((where * (spare + 1)).astype(np.int64), spare)[:, None]
    paper = 0 if plan.background == "black" else (255 if plan.dtype == "uint8" else 1.0)
    labels: list[str] = []
    found = np.full((len(indices), plan.lengths[1], 4), NO_BOX, np.int32) if boxes else None
    most = line_pass(plan)
    pages = np.split(np.arange(len(indices)), np.searchsorted(np.cumsum(lines), np.arange(
        most, int(lines.sum()), most), side="right"))  # passes of about line_pass lines
    for rows in pages:
        if not len(rows):
            continue
        flat = line_indices(plan, indices[rows], lines[rows])
        strips = np.empty((len(flat), layout.DIGIT, width), plan.dtype)
        owners = np.empty((len(flat), layout.DIGIT, width), mask_dtype(inner)) if masks is not None else None
        texts, placed = make_images(inner, source, flat, strips, boxes=boxes, masks=owners)
        k = 0
        for r in rows.tolist():
            out[r] = paper
            if masks is not None:
                masks[r] = 0
            at = 0  # the line's first character in the page's label
            for j in range(int(lines[r])):
                top, text = int(tops[r, j]), texts[k]
                out[r, top : top + layout.DIGIT] = strips[k]
                if masks is not None:
                    line = owners[k]
                    masks[r, top : top + layout.DIGIT] = np.where(line > 0, line.astype(masks.dtype) + at, 0)
                if boxes:
                    box = placed[k, : len(text)].copy()
                    box[box[:, 0] != NO_BOX, 1::2] += top
                    found[r, at : at + len(text)] = box
                at += len(text) + 1
                k += 1
            labels.append("\n".join(texts[k - int(lines[r]) : k]))
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


def make_sample(plan: Plan, source: MnistData, index: int, *, boxes: bool = False, masks: bool = False):
    """Sample ``index`` of ``plan``: ``(image, label)``, then its ``boxes`` and its label image (``masks``)
    when asked for; a pure function of ``(plan, index)``."""
    check_memory(plan, door="make_sample")
    image = np.empty((1, *plan.shape), plan.dtype)
    mask = np.empty((1, *plan.shape), mask_dtype(plan)) if masks else None
    labels, found = make_images(plan, source, range(index, index + 1), image, boxes=boxes, masks=mask)
    return (image[0], labels[0], *([found[0, ..., : len(labels[0]), :]] if boxes else []),
            *([mask[0]] if masks else []))


def _make_chunk(plan: Plan, source: MnistData, start: int, stop: int, encode=None, encode_chunk=None, out=None,
                boxes: bool = False, masks: bool | str = False) -> Batch:
    """Samples ``start..stop`` as a :class:`.records.Batch`: ``images`` is ``[encode(image), ...]`` with
    ``encode``, ``None`` with ``encode_chunk`` (then ``payload`` is ``encode_chunk(images)``, or
    ``encode_chunk(images, masks)`` with masks) or when written into ``out`` (the whole dataset). ``masks``:
    the label images in the batch (``True``), or only in what ``encode_chunk`` makes of them (``"payload"``:
    the writer holds them, and nothing else in the parent reads them).

    Encoding where the images are made (PNG bytes, deflated pieces) keeps that
    work in the workers and out of the parent, which then only writes.
    """
    images = out[start:stop] if out is not None else np.empty((stop - start, *plan.shape), plan.dtype)
    owners = np.empty((stop - start, *plan.shape), mask_dtype(plan)) if masks else None
    labels, found = make_images(plan, source, range(start, stop), images, boxes=boxes, masks=owners)
    if out is not None:
        return Batch(start, labels, found, masks=owners)
    if encode_chunk is not None:
        payload = encode_chunk(images) if owners is None else encode_chunk(images, owners)
        return Batch(start, labels, found, payload=payload, masks=owners if masks is True else None)
    return Batch(start, labels, found, [encode(image) for image in images] if encode is not None else images,
                 masks=owners)


def _workers(workers) -> int:
    if not is_int(workers) or workers < 0:
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


def _fused(plan: Plan) -> bool:
    """Whether the plan's images come from :mod:`.render` alone: NumPy and SciPy kernels that release
    the GIL, so workers can be threads writing straight into the output (1.6-1.9x with two, measured)."""
    return plan.layout == "strip" and fusable(plan.request(np.zeros(plan.lengths[1], np.int64)))


def threadable(plan: Plan) -> bool:
    """Whether workers making the whole array can be threads of this process: the plan's images come
    from NumPy and SciPy kernels that release the GIL (a fused strip, or a video, which takes no filters),
    so threads write straight into the output, with neither a shared mapping nor a process to start."""
    return _fused(plan) or (plan.layout == "video" and not plan.recipe.fltrs)


def _in_flight(workers: int, bounds: list[tuple[int, int]]) -> int:
    """Chunks held at once by :func:`iter_chunks`: one at a time alone, else up to two per worker."""
    return min(len(bounds), 1 if workers == 1 else 2 * workers)


def check_memory(plan: Plan, *, door: str, workers: int | None = None, whole: bool = False,
                 bounds: list[tuple[int, int]] | None = None, masks: bool = False) -> None:
    """Refuse, before anything is allocated, a dataset whose making would pass the memory budget.

    Always checked: one sample made alone, with the renderer's working copies
    (:func:`.compose.checks.strip_memory`). With ``whole``, the array of all the
    images; else, with ``workers`` (0: all cores), the chunks of ``bounds``
    (default: the whole dataset's) that :func:`iter_chunks` holds at once for
    that many workers; with ``masks``, each sample's label image beside its pixels. The budget
    is :func:`._limits.memory_budget`.

    Raises
    ------
    ValueError
        One line naming ``door``, the size and the budget, e.g. ``generate_dataset: the images would
        take 2.5 TB (count 100000000 x 28 x 224 x 4 bytes), more than the memory budget of ...``.
    """
    if plan.count == 0:
        return  # nothing is made
    pixels = int(np.prod(plan.shape))
    itemsize = (1 if plan.dtype == "uint8" else 4) + (mask_dtype(plan).itemsize if masks else 0)
    video = plan.layout == "video"
    canvas = plan.layout in ("video", "scene", "lines")
    if canvas:
        working = _video_working(plan, 1) if video else _scene_working(plan, 1) if plan.layout == "scene" \
            else _page_working(plan, 1)
    else:
        height, width, working = strip_bytes(plan.lengths[1], plan.spacing[1], plan.width, plan.height)
    sample = working + pixels * itemsize
    if not whole and workers is None and sample <= memory_budget()[0]:
        return  # the common case of make_sample, kept cheap: no message is built
    if plan.layout == "lines":
        check_bytes(door, "one page and the renderer's working set", sample,
                    f"{plan.height} x {plan.width} px, {plan.recipe.lines[1]} lines of {plan.recipe.length[1]} glyphs, "
                    f"{format_bytes(working)} of working set", "use a smaller page, or fewer or shorter lines")
    elif canvas:
        check_bytes(door, f"one {plan.layout} and the renderer's working set", sample,
                    f"{plan.frames if video else 1} frames of {plan.height} x {plan.width}, {plan.lengths[1]} glyphs, "
                    f"{format_bytes(working)} of working set", "use a smaller canvas, or fewer or smaller glyphs")
    else:
        check_bytes(door, "one sample and the renderer's working copies", sample,
                    *strip_detail(plan.lengths[1], height, width))
    uint8 = [] if plan.dtype == "uint8" else ['dtype="uint8"']
    # Whoever makes samples holds the working copies of one (a video pass) while the images are held too.
    working = _video_working(plan, video_rows(plan)) if video else \
        _scene_working(plan, scene_rows(plan)) if plan.layout == "scene" else \
        _page_working(plan, min(CHUNK, plan.count)) if plan.layout == "lines" else working
    makers = 1 if workers is None else _workers(workers)
    making = f", and {makers} x {format_bytes(working)} of working copies while samples are made"
    if whole:
        check_bytes(door, "the videos" if video else "the images", plan.count * pixels * itemsize + makers * working,
                     f"count {plan.count} x {' x '.join(map(str, plan.shape))} x {itemsize} bytes"
                     f"{' (pixel and mask)' if masks else ''}{making}",
                     "use " + _either(["iter_dataset or an export", "a smaller count", *uint8]))
    elif workers is not None:
        workers = makers
        bounds = chunk_bounds(range(plan.count)) if bounds is None else bounds
        if not bounds:
            return
        held, chunk = _in_flight(workers, bounds), max(b - a for a, b in bounds)
        per_worker = "" if workers == 1 else f": 2 per worker, {workers} workers"
        check_bytes(door, "the chunks in flight", held * chunk * pixels * itemsize + makers * working,
                     f"{held} x {chunk} samples x {' x '.join(map(str, plan.shape))} x {itemsize} bytes"
                     f"{' (pixel and mask)' if masks else ''}{per_worker}"
                     f"{making}",
                     "use " + _either(["fewer workers"] * (workers > 1) + ["a smaller image_width or image_height",
                                                                          *uint8]))


def _video_working(plan: Plan, rows: int) -> int:
    """Bytes :func:`_make_videos` holds besides the output, for a pass of ``rows`` videos: the
    glyphs, trajectories and corners, one slot's windows, the boxes and their intermediates, and the
    8-bit frames of a float32 output, and the draws of a block."""
    frames, height, width = plan.shape
    k = plan.lengths[1]
    filtered = k * 784 * 4 * 4 if plan.prepared else 0  # the glyphs through the filters: float32 stacks
    return rows * (k * (784 + 56) + k * frames * (16 + 16 + 80) + frames * 784 + frames * height * width + filtered)


def _scene_working(plan: Plan, rows: int) -> int:
    """Bytes :func:`_make_scenes` holds besides the output, for a pass of ``rows`` scenes: the 8-bit canvas
    of a float32 output, the glyphs, their resized copies (float32 while resizing) and the draws."""
    from .sampling import SCENE_TRIES

    k, side = plan.lengths[1], int(np.rint(plan.recipe.scale[1] * layout.DIGIT))
    count, size = plan.recipe.clutter
    # placing glyph j checks SCENE_TRIES corners against the j placed: a few (rows, tries, k) arrays
    paper = 3 if plan.recipe.background == "noise" else 2  # the 8-bit canvas, the noise and its draws
    filtered = k * 784 * 4 * 4 if plan.prepared else 0  # the glyphs through the filters: float32 stacks
    return rows * (plan.height * plan.width * paper + k * (784 * 5 + side * side * 9 + SCENE_TRIES * 16 + 64)
                   + count * (size * size + 48) + SCENE_TRIES * k * 8 * 6 + filtered)


def _page_working(plan: Plan, rows: int) -> int:
    """Bytes :func:`_make_pages` holds besides the output, for ``rows`` pages: a pass of lines (their
    pixels and label images, :func:`line_pass`), the working copies of one line's strip and the renderer's
    float32 sums of a batch of lines (and their copies), the boxes and the draws."""
    recipe = plan.recipe
    most = recipe.lines[1]
    lines = min(rows * most, line_pass(plan))
    strip = strip_bytes(recipe.length[1], recipe.spacing_range[1], plan.width, layout.DIGIT)[2]
    boxes = recipe.length[1] * 16 * 3  # a line's boxes, their copy and the page's
    sums = 3 * render.BATCH_BYTES
    return strip + sums + lines * (_line_bytes(plan) + boxes) + rows * most * 32


def _either(choices: list[str]) -> str:
    """``"a, b, or c"``; ``"a, or b"`` (a choice may hold an "or" itself); ``"a"``."""
    return choices[0] if len(choices) == 1 else ", ".join(choices[:-1]) + ", or " + choices[-1]
