"""Seeding: every sample's draws are a pure function of ``(seed, epoch, index)``.

Sample ``i``'s label, samples and gaps are row ``i % size`` of the draws of block
``i // size``, made as arrays by ``SeedSequence(entropy, spawn_key=(block, 2))`` (``size`` is
256 samples, fewer for long strings: a constant of the format, never of the worker count);
its filters draw from ``SeedSequence(entropy, spawn_key=(i, 1))``; an epoch ``e > 0``
appends ``e`` to the keys of the samples, gaps, placements and filters, never of the
labels. So a sample is the same in any process, in any order, for any number of workers,
and no two samples share a filter stream: the forked-worker duplicate-augmentation bug
cannot happen.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING

import numpy as np

from .content import PURPOSE_UNIQUE
from .sources.glyphs import DIGITS, decode_rows, encode_text

if TYPE_CHECKING:
    from .dataset import Plan

__all__ = ["CHUNK", "PURPOSE_FILTERS", "PURPOSE_NOISE", "PURPOSE_PATTERN", "PURPOSE_UNIQUE", "PURPOSE_VIDEO", "SAMPLING", "SCENE_TRIES", "block_size", "draws", "labels_of", "line_indices", "line_plan", "motion", "page_draws",
           "sample_label", "sample_labels", "sample_labels_at", "sample_rng", "scene_draws"]


CHUNK = 256  # samples per worker task: large enough to amortise the hand-off, small enough to stream
# Purpose keys of SeedSequence children: 1, a sample's filters; 2, a block's draws. (0 held each
# sample's draws before blocks; it is left unused so no stream of that scheme comes back.)
PURPOSE_FILTERS, PURPOSE_BLOCK, PURPOSE_PLACE, PURPOSE_PATTERN, PURPOSE_VIDEO = 1, 2, 3, 4, 6
PURPOSE_SCENE, PURPOSE_GRID = 7, 8  # a block's scene draws; a scene's own grid order, when its tries all fail
PURPOSE_DISTINCT = 9  # a block's classes drawn without repeats (distinct=True): a stream of their own
PURPOSE_PAGE, PURPOSE_LINES = 10, 11  # a block's page draws; the entropy of the lines of pages (layout="lines")
PURPOSE_NOISE = 12  # a scene's noisy paper (background="noise")
SCENE_TRIES = 24  # candidate corners drawn per glyph of a scene
# 5: the keys of unique labels' permutation, held by content.py (which draws them)
# recorded in manifests: exports made under another scheme are not resumed. v2: filters draw per
# sample for all its digits, filter by filter, and consecutive geometric filters share one warp.
SAMPLING = "blocks-v2"


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


@functools.lru_cache(maxsize=256)
def _block_draws(entropy: int, lengths: tuple[int, int], spacing: tuple[int, int], evenly: bool, size: int,
                 block: int, epoch: int = 0, classes: int = 10
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """``(lengths, digits, u, gaps)`` of every sample of ``block``, always drawn in this order, in full.

    Labels (``lengths``, ``digits``) always come from epoch 0's stream, so an index keeps its
    label in every epoch; epoch ``e > 0`` draws the samples and gaps (``u``, ``gaps``) from its own.
    Cached for many blocks: a shuffled DataLoader asks for indices of all of them in turn.
    """
    rng = sample_rng(entropy, block, PURPOSE_BLOCK)
    low, high = lengths
    drawn = [rng.integers(low, high + 1, size=size), rng.integers(0, classes, size=(size, high))]
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


def draws(plan: Plan, indices: np.ndarray):
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
            drawn = _block_draws(*key, block, plan.epoch, len(plan.glyphs))
            r = rows[take]
            lengths[take], digits[take], u[take] = drawn[0][r], drawn[1][r], drawn[2][r]
            if gaps is not None:
                gaps[take] = drawn[3][r]
            if where is not None:
                where[take] = _block_places(plan.entropy, size, block, plan.epoch)[r]
    else:  # a shuffled batch: most rows from a block of their own, row by row is cheapest
        for k, (block, r) in enumerate(zip(blocks.tolist(), rows.tolist(), strict=True)):
            drawn = _block_draws(*key, block, plan.epoch, len(plan.glyphs))
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
            digits[r, : len(label)] = encode_text(label, plan.alphabet)
    elif plan.space is not None:  # so do the strings of a pattern, or unique ones
        lengths, digits = _content(plan, indices, size)
    elif plan.recipe.distinct:  # no class twice in a label: the first classes of a random order of them all
        for block in np.unique(blocks).tolist():
            take = blocks == block
            digits[take] = _block_distinct(plan.entropy, size, high, len(plan.glyphs), block)[rows[take]]
    return lengths, digits, u, gaps, where


@functools.lru_cache(maxsize=64)
def _block_distinct(entropy: int, size: int, high: int, classes: int, block: int) -> np.ndarray:
    """Classes ``(size, high)`` of ``block``, no class twice in a row: each row the first ``high`` of a
    uniformly random order of the classes (epoch 0's stream, as every label's)."""
    order = np.argsort(sample_rng(entropy, block, PURPOSE_DISTINCT).random((size, classes)), axis=1)[:, :high]
    order.flags.writeable = False
    return order


def _content(plan: Plan, indices: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(lengths, classes)`` of samples ``indices`` under a pattern or ``unique``: string ``P(i)`` of the
    label space (:func:`.content.unique_indices`), or a pattern's positions drawn per block."""
    from .content import unique_indices

    space, high = plan.space, plan.lengths[1]
    if plan.unique:
        return space.classes(unique_indices(indices, space.size, plan.entropy), high)
    blocks, rows = np.divmod(indices, size)
    u = np.empty((len(indices), high))
    for block in np.unique(blocks).tolist():
        take = blocks == block
        u[take] = _block_pattern(plan.entropy, size, high, block)[rows[take]]
    classes = np.empty((len(indices), high), np.int64)
    for j, slot in enumerate(space.slots):
        choices = np.asarray(slot, np.int64)
        classes[:, j] = choices[np.minimum((u[:, j] * len(choices)).astype(np.int64), len(choices) - 1)]
    return np.full(len(indices), high, np.int64), classes


@functools.lru_cache(maxsize=256)
def _block_pattern(entropy: int, size: int, positions: int, block: int) -> np.ndarray:
    """Uniform draws choosing the characters of a pattern's positions for ``block``: a stream of their
    own (never the epoch's: an index keeps its label), so the other draws are those of any recipe."""
    u = sample_rng(entropy, block, PURPOSE_PATTERN).random((size, positions))
    u.flags.writeable = False
    return u


def motion(plan: Plan, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(start, theta, speed)`` of the glyphs of videos ``indices``: each glyph's start ``(n, k, 2)``
    (``y, x`` uniform in the unit square), direction ``(n, k)`` (uniform in ``[0, 2 pi)``) and move per
    frame ``(n, k)`` (uniform in the recipe's speed range), rows of their blocks' draws (stream
    ``(block, 6)``, the epoch's for ``e > 0``), ``k`` the longest length."""
    size = block_size(plan)
    blocks, rows = np.divmod(np.asarray(indices, np.int64), size)
    high = plan.lengths[1]
    start, theta, speed = np.empty((len(rows), high, 2)), np.empty((len(rows), high)), np.empty((len(rows), high))
    for block in np.unique(blocks).tolist():
        take = blocks == block
        drawn = _block_motion(plan.entropy, size, high, tuple(plan.speed), block, plan.epoch)
        start[take], theta[take], speed[take] = (arr[rows[take]] for arr in drawn)
    return start, theta, speed


@functools.lru_cache(maxsize=256)
def _block_motion(entropy: int, size: int, high: int, speed: tuple[float, float], block: int, epoch: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The motion draws of ``block``, always in this order, in full (a constant range draws nothing)."""
    rng = sample_rng(entropy, block, PURPOSE_VIDEO, epoch)
    low, top = speed
    drawn = (rng.random((size, high, 2)), rng.random((size, high)) * (2 * np.pi),
             rng.uniform(low, top, (size, high)) if top > low else np.full((size, high), low))
    for arr in drawn:
        arr.flags.writeable = False
    return drawn


def scene_draws(plan: Plan, indices: np.ndarray) -> tuple[np.ndarray, ...]:
    """``(scale, candidates, clutter_glyph, clutter_crop, clutter_at)`` of scenes ``indices``, rows of
    their blocks' draws (stream ``(block, 7)``, the epoch's for ``e > 0``): each glyph's scale
    ``(n, k)`` (uniform in the recipe's range), :data:`SCENE_TRIES` candidate corners ``(n, k, tries, 2)``,
    and for each clutter piece a glyph ``(n, m)``, where it is cut ``(n, m, 2)`` and where it lands
    ``(n, m, 2)``, all uniform in [0, 1)."""
    size = block_size(plan)
    blocks, rows = np.divmod(np.asarray(indices, np.int64), size)
    count = plan.recipe.clutter[0]
    shapes = ((plan.lengths[1],), (plan.lengths[1], SCENE_TRIES, 2), (count,), (count, 2), (count, 2))
    out = tuple(np.empty((len(rows), *shape)) for shape in shapes)
    for block in np.unique(blocks).tolist():
        take = blocks == block
        drawn = _block_scene(plan.entropy, size, shapes, tuple(plan.recipe.scale), block, plan.epoch)
        for arr, made in zip(out, drawn, strict=True):
            arr[take] = made[rows[take]]
    return out


@functools.lru_cache(maxsize=8)  # a block's draws can be large (256 glyphs, or 256 pieces of clutter): few kept
def _block_scene(entropy: int, size: int, shapes: tuple, scale: tuple[float, float], block: int, epoch: int
                 ) -> tuple[np.ndarray, ...]:
    """The scene draws of ``block``, always in this order, in full (a constant scale draws nothing)."""
    rng = sample_rng(entropy, block, PURPOSE_SCENE, epoch)
    low, high = scale
    drawn = (rng.uniform(low, high, (size, *shapes[0])) if high > low else np.full((size, *shapes[0]), low),
             *(rng.random((size, *shape)) for shape in shapes[1:]))
    for arr in drawn:
        arr.flags.writeable = False
    return drawn


def page_draws(plan: Plan, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(lines, gaps, where)`` of pages ``indices`` (``layout="lines"``): each page's number of lines ``(n,)``
    (uniform in the recipe's range, from epoch 0's stream as every label; a given label's own), the gaps
    below its lines ``(n, most - 1)`` and a uniform draw placing its block of lines down the page ``(n,)``,
    rows of their blocks' draws (stream ``(block, 10)``, the epoch's for ``e > 0``)."""
    recipe = plan.recipe
    size = block_size(plan)
    blocks, rows = np.divmod(np.asarray(indices, np.int64), size)
    most = recipe.lines[1]
    lines, gaps, where = np.empty(len(rows), np.int64), np.empty((len(rows), most - 1), np.int64), np.empty(len(rows))
    for block in np.unique(blocks).tolist():
        take = blocks == block
        drawn = _block_page(plan.entropy, size, recipe.lines, recipe.line_gap, block, plan.epoch)
        lines[take], gaps[take], where[take] = (arr[rows[take]] for arr in drawn)
    if plan.labels is not None:
        lines = np.array([plan.labels[i].count("\n") + 1 for i in np.asarray(indices).tolist()], np.int64)
    return lines, gaps, where


@functools.lru_cache(maxsize=64)
def _block_page(entropy: int, size: int, lines: tuple[int, int], gap: tuple[int, int], block: int, epoch: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The page draws of ``block``, always in this order, in full."""
    rng = sample_rng(entropy, block, PURPOSE_PAGE)
    drawn = [rng.integers(lines[0], lines[1] + 1, size)]
    if epoch:
        rng = sample_rng(entropy, block, PURPOSE_PAGE, epoch)
    drawn += [rng.integers(gap[0], gap[1] + 1, (size, lines[1] - 1)), rng.random(size)]
    for arr in drawn:
        arr.flags.writeable = False
    return tuple(drawn)


def line_plan(plan: Plan) -> Plan:
    """The plan of the lines of ``plan``'s pages: line ``j`` of page ``i`` is strip ``i * most + j`` of the
    recipe's :attr:`.recipe.Recipe.line_recipe`, keyed by an entropy of their own."""
    most = plan.recipe.lines[1]
    state = np.random.SeedSequence(plan.entropy, spawn_key=(PURPOSE_LINES,)).generate_state(2, np.uint64)
    return dataclasses.replace(plan, count=plan.count * most, recipe=plan.recipe.line_recipe,
                               entropy=int(state[0]) << 64 | int(state[1]))


def line_indices(plan: Plan, indices: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """The indices in :func:`line_plan` of the lines of pages ``indices`` holding ``lines`` each, page by page."""
    most = plan.recipe.lines[1]
    flat = np.asarray(indices, np.int64)[:, None] * most + np.arange(most)
    return flat[np.arange(most) < np.asarray(lines)[:, None]]


def labels_of(lengths: np.ndarray, digits: np.ndarray, alphabet: str = DIGITS) -> list[str]:
    """The label strings of drawn classes (see :func:`.sources.glyphs.decode_rows`)."""
    return decode_rows(digits, lengths, alphabet)


def sample_labels(plan: Plan, start: int, stop: int) -> list[str]:
    """Labels of samples ``start..stop`` without drawing their images (for resuming exports)."""
    if stop <= start:
        return []
    if plan.layout == "lines":
        lines = page_draws(plan, np.arange(start, stop))[0]
        made = iter(sample_labels_at(line_plan(plan), line_indices(plan, np.arange(start, stop), lines)))
        return ["\n".join(next(made) for _ in range(n)) for n in lines.tolist()]
    return sample_labels_at(plan, np.arange(start, stop))


def sample_labels_at(plan: Plan, indices: np.ndarray) -> list[str]:
    """Labels of samples ``indices`` of a strip, video or scene plan, without drawing their images."""
    lengths, digits, *_ = draws(plan, indices)
    return labels_of(lengths, digits, plan.alphabet)


def sample_label(plan: Plan, index: int) -> str:
    """The label of sample ``index`` without drawing its image."""
    return sample_labels(plan, index, index + 1)[0]
