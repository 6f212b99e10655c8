"""Batches for PyTorch trainers: :func:`collate_ctc` (sequence readers) and :func:`collate_detection`.

Give either as a ``DataLoader``'s ``collate_fn`` over a :class:`.dataset.SequenceDataset` (or any
dataset of ``(image, label)`` / ``(image, label, boxes)`` items); options through
:func:`functools.partial`. torch is imported when a batch is made, never with this package, so
it stays an optional extra (``pip install 'mnist_dataset_generator[torch]'``).

Images may be NumPy arrays or tensors, ``(H, W)`` (a channel axis is added where ``channels``
says) or already ``(C, H, W)``; 8-bit images become float32 in 0..1, float images stay as they are.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from .sources.glyphs import DIGITS

__all__ = ["collate_ctc", "collate_detection", "encode_labels"]

log = logging.getLogger(__name__)

_CHANNELS = ("first", "last", None)


def _torch():
    try:
        import torch
    except ImportError:
        raise ImportError("collate_ctc and collate_detection need torch: pip install "
                          "'mnist_dataset_generator[torch]' (or pip install torch)") from None
    return torch


def encode_labels(labels: Sequence[str], alphabet: str = DIGITS) -> list[list[int]]:
    """Each label's characters as classes ``alphabet.index(c) + 1`` (0 is CTC's blank and the
    detectors' background).

    Examples
    --------
    >>> encode_labels(["07", "1"])
    [[1, 8], [2]]
    """
    if not isinstance(alphabet, str) or not alphabet or len(set(alphabet)) != len(alphabet):
        raise ValueError(f"alphabet must be a string of distinct characters, got {alphabet!r}")
    classes = {char: k + 1 for k, char in enumerate(alphabet)}
    out = []
    for n, label in enumerate(labels):
        if not isinstance(label, str):
            raise ValueError(f"item {n} of the batch: its label must be a string, got {type(label).__name__} "
                             "(a target_transform that already encodes labels needs its own collate)")
        try:
            out.append([classes[char] for char in label])
        except KeyError as exc:
            raise ValueError(f"item {n} of the batch: label {label!r} holds {exc.args[0]!r}, which is not in the "
                             f"alphabet {alphabet!r}") from None
    return out


def _channels_at(shape: tuple[int, ...], channels: str) -> bool:
    """Whether a 3-D image has its (few) channels where ``channels`` says, not a (H, W, 1) read as (C, H, W)."""
    c, *hw = shape if channels == "first" else (shape[2], *shape[:2])
    return c <= 4 < min(hw)


def _images(torch, images: list, channels: str | None):
    """The batch's images as one float32 tensor, with the channel axis where asked."""
    if channels not in _CHANNELS:
        raise ValueError(f"channels must be 'first', 'last' or None, got {channels!r}")
    arrays = []
    for n, image in enumerate(images):
        tensor = image if isinstance(image, torch.Tensor) else torch.from_numpy(np.asarray(image))
        if tensor.dtype == torch.uint8:
            tensor = tensor.to(torch.float32) / 255.0
        elif not tensor.is_floating_point():
            raise ValueError(f"item {n} of the batch: image of dtype {tensor.dtype}, expected uint8 or float")
        shape = tuple(tensor.shape)
        if tensor.ndim == 2:
            tensor = tensor if channels is None else tensor.unsqueeze(0 if channels == "first" else -1)
        elif tensor.ndim != 3 or channels is None or not _channels_at(shape, channels):
            expected = {"first": "(H, W) or (C, H, W)", "last": "(H, W) or (H, W, C)", None: "(H, W)"}[channels]
            raise ValueError(f"item {n} of the batch: image of shape {shape}, expected {expected} with "
                             f"channels={channels!r}")
        arrays.append(tensor.to(torch.float32))
    shapes = {tuple(t.shape) for t in arrays}
    if len(shapes) > 1:
        raise ValueError(f"the batch's images differ in shape ({', '.join(map(str, sorted(shapes)))}); give the "
                         "dataset an image_width, or resize them in its transform")
    return torch.stack(arrays)


def _split(batch) -> tuple[list, list[str], list | None]:
    if not len(batch):
        raise ValueError("the batch is empty")
    sizes = {len(item) for item in batch}
    if sizes - {2, 3} or len(sizes) != 1:
        raise ValueError(f"items must all be (image, label) or (image, label, boxes), got lengths {sorted(sizes)}")
    images = [item[0] for item in batch]
    labels = [item[1] for item in batch]
    boxes = [item[2] for item in batch] if sizes == {3} else None
    return images, labels, boxes


def collate_ctc(batch, *, alphabet: str = DIGITS, channels: str | None = "first"):
    """``(images, targets, lengths)`` for ``torch.nn.CTCLoss`` from ``(image, label)`` items.

    Parameters
    ----------
    batch : sequence of tuples
        ``(image, label)`` or ``(image, label, boxes)`` (boxes are not used).
    alphabet : str
        Character ``c`` becomes class ``alphabet.index(c) + 1``; 0 is the blank.
    channels : {"first", "last", None}
        Where ``(H, W)`` images get their channel axis: ``(B, 1, H, W)``, ``(B, H, W, 1)``, or
        none, ``(B, H, W)``.

    Returns
    -------
    images : torch.Tensor
        float32, 0..1 for 8-bit images. A 3-D image must already have its channels (at most 4)
        where ``channels`` says; anything else is refused, never reinterpreted.
    targets : torch.Tensor
        int64, every label's classes one after another (``CTCLoss``'s concatenated form).
    lengths : torch.Tensor
        int64, ``(B,)``: each label's length (``target_lengths``).

    Examples
    --------
    With torch installed (``log_probs`` from your model, ``(T, B, classes)``)::

        loader = DataLoader(SequenceDataset(10_000, (3, 8), (0, 8), 224, seed=0), batch_size=32,
                            collate_fn=partial(collate_ctc, channels="first"))
        images, targets, lengths = next(iter(loader))
        loss = nn.CTCLoss(blank=0)(log_probs, targets, input_lengths, lengths)
    """
    torch = _torch()
    images, labels, _ = _split(batch)
    classes = encode_labels(labels, alphabet)
    targets = torch.tensor([c for label in classes for c in label], dtype=torch.int64)
    lengths = torch.tensor([len(label) for label in classes], dtype=torch.int64)
    return _images(torch, images, channels), targets, lengths


def collate_detection(batch, *, alphabet: str = DIGITS, channels: str | None = "first", drop_empty: bool = True):
    """``(images, targets)`` for torchvision's detection models from ``(image, label, boxes)`` items.

    ``targets`` is a list (one per image, as many boxes as it has characters) of dicts with
    ``boxes`` (float32 ``(n, 4)``, ``[x0, y0, x1, y1]``, ends exclusive), ``labels`` (int64,
    ``alphabet.index(c) + 1``; 0 is the background) and ``text`` (the label). With
    ``drop_empty`` a character with no visible ink (an empty box) is left out, as those models
    refuse boxes of no area; a page's newlines (``layout="lines"``) are no objects. Make the dataset
    with ``return_boxes=True``.

    Examples
    --------
    With torch and a torchvision detection ``model``::

        loader = DataLoader(SequenceDataset(1000, 4, (0, 8), 160, seed=0, return_boxes=True),
                            batch_size=8, collate_fn=collate_detection)
        images, targets = next(iter(loader))
        losses = model(list(images), targets)
    """
    torch = _torch()
    images, labels, boxes = _split(batch)
    if boxes is None:
        raise ValueError("collate_detection needs (image, label, boxes) items: make the dataset with "
                         "return_boxes=True")
    classes = encode_labels([label.replace("\n", "") for label in labels], alphabet)  # a page's newlines: no box
    targets = []
    for n, (label, these, cls) in enumerate(zip(labels, boxes, classes, strict=True)):
        these = np.asarray(these, dtype=np.float32)
        if these.shape != (len(label), 4):
            raise ValueError(f"item {n} of the batch: boxes of shape {these.shape} for the {len(label)} "
                             f"characters of {label!r}; expected ({len(label)}, 4)")
        these = these[[c != "\n" for c in label]]
        keep = (these[:, 2] > these[:, 0]) & (these[:, 3] > these[:, 1]) if drop_empty else np.ones(len(these), bool)
        targets.append({"boxes": torch.from_numpy(these[keep].copy()),
                        "labels": torch.tensor(np.asarray(cls, np.int64)[keep], dtype=torch.int64),
                        "text": label})
    return _images(torch, images, channels), targets
