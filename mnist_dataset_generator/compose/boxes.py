"""Boxes tight to the visible ink: each digit's box holds exactly the pixels it would darken on its own.

A pixel is ink of a digit when that digit alone, rendered where it stands, makes it at least
half an 8-bit step darker than the paper (:data:`VISIBLE`): what decides whether it shows in
an 8-bit image (``rint(255 * value) < 255``), applied to float images too. The faint tails of
blurred, rotated or resampled strokes (values like 0.99998 on white) are not ink.

:func:`.layout.digit_boxes` gives each digit's *reach*: every pixel its ink touches at all
through the resamplings, a box that can only be too large. :func:`visible_boxes` shrinks those
to the visible ink. Where a column lies in one digit's reach only, the finished strip shows that
digit alone, so its visible pixels are read there; the few columns two reaches share (a
resampling's tails, overlapping digits) are rendered again for groups of digits whose reaches
never meet (every other digit, for strips without overlaps). A pixel that only the sum of two
digits' faint tails makes visible belongs to neither; it lies next to both boxes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["VISIBLE", "groups", "label_dtype", "visible", "visible_boxes", "visible_ink", "visible_labels"]

VISIBLE = np.float32(0.5 / 255)  # ink at least half an 8-bit step: a pixel that shows


def groups(boxes: np.ndarray) -> np.ndarray:
    """Group numbers ``(B, n)`` such that boxes of one group never share a column.

    Boxes (``[x0, y0, x1, y1]``, ends exclusive) that are empty belong to no group (-1).
    Every other digit when each box ends where the one after the next starts (strips
    without overlaps); otherwise the fewest groups a left-to-right sweep finds.

    Examples
    --------
    >>> groups(np.array([[[0, 0, 10, 5], [8, 0, 20, 5], [18, 0, 30, 5]]])).tolist()
    [[0, 1, 0]]
    >>> groups(np.array([[[0, 0, 10, 5], [2, 0, 12, 5], [4, 0, 14, 5], [0, 0, 0, 0]]])).tolist()
    [[0, 1, 2, -1]]
    """
    x0, x1 = boxes[..., 0], boxes[..., 2]
    live = x1 > x0
    out = np.where(live, np.arange(boxes.shape[1]) % 2, -1)
    # Parity works when each live box ends before every live box from the next but one on starts.
    start = np.where(live, x0, np.iinfo(np.int64).max)
    ok = np.ones(len(boxes), bool)
    if boxes.shape[1] > 2:
        later = np.minimum.accumulate(start[:, ::-1], axis=1)[:, ::-1]  # leftmost start from i on
        ok = (np.where(live[:, :-2], x1[:, :-2], -1) <= later[:, 2:]).all(axis=1)
    for b in np.flatnonzero(~ok).tolist():
        ends: list[int] = []  # each group's rightmost end so far
        for i in sorted(np.flatnonzero(live[b]).tolist(), key=lambda i: x0[b, i]):
            g = next((g for g, end in enumerate(ends) if end <= x0[b, i]), len(ends))
            if g == len(ends):
                ends.append(0)
            ends[g] = max(ends[g], int(x1[b, i]))
            out[b, i] = g
    return out


def visible(images: np.ndarray, background: str = "white") -> np.ndarray:
    """Which pixels of finished ``images`` show ink: at least :data:`VISIBLE` from the paper (in 8 bits,
    any value but the paper's)."""
    if images.dtype == np.uint8:
        return images < 255 if background == "white" else images > 0
    # one comparison, no temporary: 1 - x >= t is x <= 1 - t but where float rounding decides
    return images <= np.float32(1.0) - VISIBLE if background == "white" else images >= VISIBLE


def visible_boxes(reach: np.ndarray, seen: np.ndarray,
                  render_columns: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """Each digit's box shrunk from its reach to its visible ink.

    Where a column lies in one digit's reach only, the finished strip shows that digit alone
    there (``seen``); the few columns two reaches share are rendered again, each group of
    digits whose reaches never meet (:func:`groups`) on its own (``render_columns``).

    Parameters
    ----------
    reach : (B, n, 4) ints
        Boxes that hold every pixel each digit's ink reaches (:func:`.layout.digit_boxes`);
        empty for slots that hold no digit.
    seen : (B, height, width) bool
        The finished strips' visible pixels (:func:`visible`).
    render_columns : callable
        ``render_columns(members, columns)``: ``members`` a ``(B, n)`` boolean mask,
        ``columns`` ``(B, S)`` column numbers; returns ``(B, height, S)`` float32 ink (0 on
        paper) of those digits alone at those columns of the strips.

    Returns
    -------
    numpy.ndarray of shape (B, n, 4), int32
        The rows and columns of each reach that hold visible ink of its digit; a digit with
        none gets an empty box at its reach's top-left corner.

    Examples
    --------
    >>> ink = np.zeros((1, 4, 8), np.float32); ink[0, 1:3, 2:5] = 0.5; ink[0, 0, 1] = 0.001  # a faint tail
    >>> visible_boxes(np.array([[[1, 0, 6, 4]]]), ink >= VISIBLE, lambda members, columns: None).tolist()
    [[[2, 1, 5, 3]]]
    """
    return visible_ink(reach, seen, render_columns)[0]


def label_dtype(slots: int) -> np.dtype:
    """The dtype of label images of up to ``slots`` characters: uint8 while ``slots + 1`` fits, else uint16."""
    return np.dtype(np.uint8 if slots < 255 else np.uint16)


def _owners(reach: np.ndarray, members: np.ndarray, width: int) -> np.ndarray:
    """Per column ``(B, width)``: the sum of ``i + 1`` over the ``members``' reaches that cover it (where
    one reach covers a column, that digit's ``i + 1``)."""
    owners = np.zeros((reach.shape[0], width + 1), np.int64)
    b, i = np.nonzero(members & (reach[..., 2] > reach[..., 0]))
    np.add.at(owners, (b, reach[b, i, 0]), i + 1)
    np.add.at(owners, (b, reach[b, i, 2]), -(i + 1))
    return np.cumsum(owners[:, :-1], axis=1)


def visible_labels(reach: np.ndarray, seen: np.ndarray,
                   render_columns: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """Label images ``(B, height, width)``: 0 on paper, ``i + 1`` where digit ``i``'s visible ink shows.

    The same reading as :func:`visible_boxes`, so each digit's pixels lie in its box: where a column
    lies in one digit's reach only, the visible pixels there are that digit's; in the columns two
    reaches share, each group of digits (:func:`groups`) is rendered alone, and a pixel goes to the
    digit whose ink alone is darkest there (the first, on a tie). A pixel that only the sum of two
    digits' faint tails makes visible belongs to neither: 0.

    Examples
    --------
    >>> seen = np.zeros((1, 2, 8), bool); seen[0, :, 1:3] = seen[0, 0, 5:7] = True
    >>> visible_labels(np.array([[[0, 0, 4, 2], [4, 0, 8, 2]]]), seen, None).tolist()
    [[[0, 1, 1, 0, 0, 2, 2, 0], [0, 1, 1, 0, 0, 0, 0, 0]]]
    """
    return visible_ink(reach, seen, render_columns, boxes=False, labels=True)[1]


def visible_ink(reach: np.ndarray, seen: np.ndarray, render_columns: Callable[[np.ndarray, np.ndarray], np.ndarray],
                *, boxes: bool = True, labels: bool = False) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(boxes, labels)``: :func:`visible_boxes` and :func:`visible_labels` (each ``None`` when not asked
    for) from one rendering of each digit group in the columns two reaches share."""
    reach = np.asarray(reach, np.int64)
    count, height, width = seen.shape
    live = reach[..., 2] > reach[..., 0]
    # How many reaches cover each column: +1 where one starts, -1 where it ends.
    edges = np.zeros((count, width + 1), np.int32)
    b, i = np.nonzero(live)
    np.add.at(edges, (b, reach[b, i, 0]), 1)
    np.add.at(edges, (b, reach[b, i, 2]), -1)
    covered = np.cumsum(edges[:, :-1], axis=1)
    shared = covered >= 2
    found = reach.copy() if boxes else None
    profile = _profile(seen) if boxes else None
    kind = label_dtype(reach.shape[1])
    owned = None
    if labels:  # where one reach covers a column, its visible pixels are that digit's
        owner = _owners(reach, np.ones(reach.shape[:2], bool), width)
        owned = np.where(seen & (covered == 1)[:, None, :], owner[:, None, :], 0).astype(kind)
    if not shared.any():  # the strips show each digit alone wherever it reaches
        if boxes:
            _tighten(found, profile, live)
        return (None if found is None else found.astype(np.int32)), owned
    # each strip's shared columns, padded with its first (written twice, the same value)
    number = shared.sum(axis=1)
    order = np.argsort(~shared, axis=1, kind="stable")[:, : int(number.max())]
    columns = np.where(np.arange(order.shape[1]) < number[:, None], order, order[:, :1])
    strips = np.flatnonzero(number)
    best = np.zeros((count, height, columns.shape[1]), np.float32) if labels else None
    who = np.zeros(best.shape, kind) if labels else None
    group = groups(reach)
    for g in range(int(group.max()) + 1):
        members = group == g
        ink = render_columns(members, columns)  # this group's digits alone in the shared columns
        if boxes:
            alone = _profile(ink >= VISIBLE)
            mine = tuple(p.copy() for p in profile)
            for whole, part in zip(mine, alone, strict=True):
                whole[strips[:, None], columns[strips]] = part[strips]
            _tighten(found, mine, members)
        if labels:
            ids = np.take_along_axis(_owners(reach, members, width), columns, axis=1)[:, None, :]
            # darker, or as dark and an earlier digit (groups interleave digits: 0 and 2 are one group)
            darker = (ink >= VISIBLE) & ((ink > best) | ((ink == best) & (ids < who)))
            best = np.where(darker, ink, best)
            who = np.where(darker, ids, who).astype(kind)
    if labels:
        part = owned[strips]
        at = np.broadcast_to(columns[strips][:, None, :], who[strips].shape)
        np.put_along_axis(part, at, np.where(np.take_along_axis(seen[strips], at, axis=2), who[strips], 0), axis=2)
        owned[strips] = part
    return (None if found is None else found.astype(np.int32)), owned


def _profile(seen: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column of ``seen`` (B, height, width): whether it holds a visible pixel, the first row that
    does (``height`` if none) and one past the last (0 if none)."""
    height = seen.shape[1]
    # Row numbers 1..height where visible, 0 elsewhere: a max over rows is the last (from the top for
    # the reversed numbers); five times faster than argmax along the middle axis.
    kind = np.uint8 if height < 256 else np.uint16
    number = np.arange(1, height + 1, dtype=kind)[None, :, None]
    bottom = np.max(seen.view(np.uint8) * number, axis=1)
    shown = bottom > 0
    top = np.where(shown, height - np.max(seen.view(np.uint8) * number[:, ::-1], axis=1), height)
    return shown, top, bottom


def _tighten(boxes: np.ndarray, profile: tuple[np.ndarray, np.ndarray, np.ndarray], members: np.ndarray) -> None:
    """Shrink ``boxes[members]`` in place to the visible pixels inside each, from the columns' ``profile``
    (:func:`_profile`; only its own digit's ink lies in each box's columns)."""
    b, i = np.nonzero(members)
    if not len(b):
        return
    shown, top, bottom = profile
    x0, y0, x1, y1 = (boxes[b, i, k] for k in range(4))
    span = int((x1 - x0).max())
    at = x0[:, None] + np.arange(span)
    where = (b[:, None], np.minimum(at, shown.shape[1] - 1))
    cols = shown[where] & (at < x1[:, None])
    found = cols.any(axis=1)
    c_lo, c_hi = cols.argmax(axis=1), span - cols[:, ::-1].argmax(axis=1)
    r_lo = np.where(cols, top[where], np.iinfo(np.int64).max).min(axis=1)
    r_hi = np.where(cols, bottom[where], 0).max(axis=1)
    boxes[b, i] = np.where(found[:, None], np.stack([x0 + c_lo, r_lo, x0 + c_hi, r_hi], axis=1),
                           np.stack([x0, y0, x0, y0], axis=1))
