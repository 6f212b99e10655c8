"""Datasets: a plan (count, recipe, seed, epoch) and ``SequenceDataset``, indexable like a list.

Seeding lives in :mod:`.sampling`, making samples in :mod:`.making`, the worker processes
in :mod:`.workers`. ``SequenceDataset`` works with ``torch.utils.data.DataLoader`` without
importing torch.
"""

from __future__ import annotations

import dataclasses
import operator
import os
from dataclasses import dataclass

import numpy as np

from .compose.checks import Request, check_flag, is_int
from .compose.strip import resolve_source
from .making import check_memory, make_images, mask_dtype
from .mnistdata import MnistData
from .recipe import FIELDS, Recipe

__all__ = ["MAX_COUNT", "Plan", "SequenceDataset", "check_epoch", "plan_dataset", "plan_options", "seed_entropy"]
MAX_COUNT = 100_000_000


# Plan attribute -> Recipe field
_RECIPE_NAMES = {"lengths": "label_length", "spacing": "spacing_range", "width": "image_width", "height": "height",
                 **{name: name for name in ("evenly", "prepared", "dtype", "split", "labels", "background", "fit",
                                            "align", "pattern", "unique", "separators", "source", "space", "alphabet",
                                            "glyphs", "layout", "frames", "speed", "shape")}}


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


def seed_entropy(seed) -> int:
    """The entropy every sample's streams are keyed by: ``seed``'s (a SeedSequence's own), or fresh for ``None``."""
    return _entropy(seed)


def _entropy(seed) -> int:
    if isinstance(seed, np.random.SeedSequence):
        if seed.spawn_key:  # a child (seq.spawn(n)[k]): its own entropy, not its parent's
            return int.from_bytes(seed.generate_state(8, np.uint32).tobytes(), "little")
        return seed.entropy
    if seed is not None and (not is_int(seed) or seed < 0):
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
    if not is_int(count) or not 0 <= count <= MAX_COUNT:
        raise ValueError(f"count must be an integer in 0..{MAX_COUNT}, got {count!r}")
    if recipe.unique and count > recipe.space.size:
        what = (f"the pattern {recipe.pattern!r}" if recipe.pattern is not None
                else f"length {recipe.length[0]}" if recipe.length[0] == recipe.length[1]
                else f"lengths {recipe.length[0]}-{recipe.length[1]}")
        raise ValueError(f"unique: {what} allows {recipe.space.size:,} distinct labels, fewer than count {count:,}")
    return Plan(int(count), recipe, _entropy(seed), check_epoch(epoch))


def check_epoch(epoch) -> int:
    """A non-negative integer epoch."""
    if not is_int(epoch) or epoch < 0:
        raise ValueError(f"epoch must be a non-negative integer, got {epoch!r}")
    return int(epoch)


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
    target_transform : callable, optional
        Applied to each label (a string) before it is returned, as in torchvision's datasets;
        boxes are returned as they are.
    return_boxes : bool
        Items are ``(image, label, boxes)`` instead of ``(image, label)``.
    return_masks : bool
        Items end with the sample's label image (see :func:`.generator.generate_dataset`):
        ``(image, label, mask)``, or ``(image, label, boxes, mask)`` with boxes too. Like boxes,
        masks are returned as they are, whatever ``transform`` does to the image.

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
        target_transform=None,
        return_boxes: bool = False,
        return_masks: bool = False,
        **options,
    ) -> None:
        self.plan: Plan = plan_options("SequenceDataset", count, length, spacing_range, image_width, seed, options)
        for name, value in (("transform", transform), ("target_transform", target_transform)):
            if value is not None and not callable(value):
                raise ValueError(f"{name} must be callable, got {value!r}")
        self.return_boxes = check_flag("return_boxes", return_boxes)
        self.return_masks = check_flag("return_masks", return_masks)
        check_memory(self.plan, door="SequenceDataset", masks=self.return_masks)  # one sample at a time
        self.transform, self.target_transform = transform, target_transform
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
        index = operator.index(index)  # a Python int: np.int8(-100) + count would overflow int8
        if index < 0:
            index += self.plan.count
        if not 0 <= index < self.plan.count:
            raise IndexError(f"index out of range for a dataset of {self.plan.count} samples")
        return int(index)

    def _source(self) -> MnistData:
        if self._loaded is None:
            self._loaded = resolve_source(self._images, self.data_home, self.plan.split, self.plan.source)
        return self._loaded

    def __getitem__(self, index: int):
        return self.__getitems__([index])[0]

    def __getitems__(self, indices) -> list[tuple]:
        """The items of ``indices`` (any order, repeats allowed), rendered together as one batch:
        what ``torch.utils.data.DataLoader`` calls for a batch; each item is exactly ``self[i]``."""
        at = np.array([self._index(i) for i in indices], np.int64)
        if len(at) > 1:
            check_memory(self.plan, door="SequenceDataset", workers=1, bounds=[(0, len(at))],
                         masks=self.return_masks)
        images = np.empty((len(at), *self.plan.shape), self.plan.dtype)
        masks = np.empty((len(at), *self.plan.shape), mask_dtype(self.plan)) if self.return_masks else None
        labels, boxes = make_images(self.plan, self._source(), at, images, boxes=self.return_boxes, masks=masks)
        items = []
        for k, label in enumerate(labels):
            image = images[k] if self.transform is None else self.transform(images[k])
            target = label if self.target_transform is None else self.target_transform(label)
            items.append((image, target, *([boxes[k, ..., : len(label), :]] if self.return_boxes else []),
                          *([masks[k]] if self.return_masks else [])))
        return items

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_loaded"] = None  # reloaded (memory-mapped) on first use in each process
        return state

    def __repr__(self) -> str:
        p = self.plan
        return (f"SequenceDataset(count={p.count}, length={p.lengths}, spacing_range={p.spacing}, "
                f"image_width={p.width}, split={p.split!r}, epoch={p.epoch}, entropy={p.entropy})")
