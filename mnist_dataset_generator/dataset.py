"""``SequenceDataset``: a map-style dataset of digit strips for training loops.

Sample ``i`` is a pure function of ``(seed, i)`` (see
:func:`.generator.sample_rng`), so it is the same in any process, in any
order, for any number of DataLoader workers, and no two samples share a
random stream: the forked-worker duplicate-augmentation bug cannot happen.
Torch is not imported; ``torch.utils.data.DataLoader`` accepts the dataset as
it is (it only needs ``__len__`` and ``__getitem__``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from .generator import Plan, make_sample, plan_dataset, resolve_source
from .mnistdata import MnistData

__all__ = ["SequenceDataset"]


class SequenceDataset:
    """Random digit strings written with MNIST samples, indexable like a list.

    Parameters
    ----------
    count, length, spacing_range, image_width, seed, split, evenly, fltrs, images, data_home, dtype, labels
        As for :func:`.generator.generate_dataset`. ``seed=None`` fixes fresh
        entropy now, so every worker still agrees; it is kept in ``entropy``.
    transform : callable, optional
        Applied to each image before it is returned (e.g. a tensor conversion).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> source = (rng.integers(0, 256, (20, 28, 28)), np.arange(20) % 10)
    >>> ds = SequenceDataset(100, (2, 4), (0, 6), 128, seed=3, images=source)
    >>> image, label = ds[17]
    >>> len(ds), image.shape, label == ds[17][1]
    (100, (28, 128), True)
    """

    def __init__(
        self,
        count: int,
        length=8,
        spacing_range=(0, 0),
        image_width: int | None = None,
        *,
        seed,
        split: str = "train",
        evenly: bool = False,
        fltrs=None,
        images=None,
        data_home: str | os.PathLike | None = None,
        dtype: str = "float32",
        labels: Sequence[str] | None = None,
        transform=None,
    ) -> None:
        self.plan: Plan = plan_dataset(count, length, spacing_range, image_width, seed=seed, split=split,
                                       evenly=evenly, fltrs=fltrs, dtype=dtype, labels=labels)
        if transform is not None and not callable(transform):
            raise ValueError(f"transform must be callable, got {transform!r}")
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

    def __len__(self) -> int:
        return self.plan.count

    def __getitem__(self, index: int):
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
            raise TypeError(f"SequenceDataset indices must be integers, got {type(index).__name__}")
        if index < 0:
            index += self.plan.count
        if not 0 <= index < self.plan.count:
            raise IndexError(f"index out of range for a dataset of {self.plan.count} samples")
        if self._loaded is None:
            self._loaded = resolve_source(self._images, self.data_home, self.plan.split)
        image, label = make_sample(self.plan, self._loaded, int(index))
        if self.transform is not None:
            image = self.transform(image)
        return image, label

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_loaded"] = None  # reloaded (memory-mapped) on first use in each process
        return state

    def __repr__(self) -> str:
        p = self.plan
        return (f"SequenceDataset(count={p.count}, length={p.lengths}, spacing_range={p.spacing}, "
                f"image_width={p.width}, split={p.split!r}, entropy={p.entropy})")
