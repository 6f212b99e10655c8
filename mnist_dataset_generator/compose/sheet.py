"""Strips composed from digits of any widths, a batch at a time: overlapping strokes, filtered digits.

The digits of every strip of a batch (a :class:`.stacks.Glyphs`, strip after strip) are laid
side by side on one sheet of ink columns, each strip's at its own offset, overlapping
strokes joined by their maximum (ink wins, as on paper); the strips' column programs then
run on that sheet through the renderer (:func:`.render.run`), the one path every strip ends
on. Each digit starts at least 1 px right of the previous one's start (reading order),
whatever a filter did to its width.
"""

from __future__ import annotations

import numpy as np

from . import layout, programs, render
from .boxes import visible, visible_ink
from .stacks import Glyphs

__all__ = ["Strips", "compose"]

DIGIT = layout.DIGIT


class Strips:
    """A batch of strips laid out on one sheet: where each digit went, and the programs that render it.

    Built by :func:`compose`; ``sheet(members)`` lays out only some digits (for the boxes).
    """

    def __init__(self, glyphs: Glyphs, lengths: np.ndarray, gaps: np.ndarray | None, *, spacing, evenly: bool,
                 width: int | None, height: int, fit: str, align: str, where: np.ndarray | None) -> None:
        count, n = len(lengths), int(lengths.max())
        self.lengths, self.height = lengths, height
        self.present = np.arange(n) < lengths[:, None]
        strip_of = np.repeat(np.arange(count), lengths)
        slot_of = np.arange(len(glyphs)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        self.where = (strip_of, slot_of)
        padded = fit == "pad" and width is not None
        drawn = np.zeros((count, n), np.int64)  # each digit's width before an even layout resamples it
        drawn[self.where] = glyphs.width()
        self.drawn, self.unresampled = drawn, glyphs  # for the boxes: the ink as drawn, before an even layout
        if evenly:
            gaps = np.zeros((count, max(n - 1, 0)), np.int64)
            slots = np.zeros((count, n), np.int64)
            for m in np.unique(lengths).tolist():
                s, g = layout.even_layout(m, spacing, None if padded else width)
                slots[lengths == m, :m] = s
                gaps[lengths == m, : m - 1] = g
            glyphs = glyphs.resampled(slots[self.where])
        else:
            slots = drawn
        self.glyphs, self.slots = glyphs, slots
        placed = np.where(self.present, slots, 0)
        steps = placed[:, :-1] + np.maximum(gaps[:, : n - 1], 1 - placed[:, :-1]) if n > 1 else placed[:, :0]
        self.starts = np.concatenate([np.zeros((count, 1), np.int64), np.cumsum(steps, axis=1)], axis=1)
        self.natural = np.where(self.present, self.starts + placed, 0).max(axis=1)
        # strip b's columns on the sheet: offset[b] .. offset[b] + natural[b]; the sheet's last column is paper
        self.offset = np.concatenate([[0], np.cumsum(self.natural)[:-1]]).astype(np.int64)
        self.columns = int(self.natural.sum())
        if padded:
            self.placement = layout.pad_placement(self.natural, width, height, align, where)
            longest = int(self.natural.max())
            colmap = np.where(np.arange(longest) < self.natural[:, None], self.offset[:, None] + np.arange(longest),
                              programs.PAPER)
            self.ids, self.weights = programs.pad_program(colmap, self.natural, self.placement, width)
            self.rows = self.placement[:, 2:4]
        else:
            if width is None:  # the natural width (one strip, or strips of one natural width)
                total = int(self.natural.max())
                width = total if height == DIGIT else max(1, round(total * height / DIGIT))
            if count == 1:  # one strip: its own table (a batch's would be padded to a range of widths)
                index, weights = programs.tap_table(int(self.natural[0]), width)
                index, self.weights = index[None] + self.offset[0], weights[None]
            else:
                index, self.weights = programs.stretch_tables(self.natural, width)
                index += self.offset[:, None, None]
            self.ids, self.rows = index, None
            self.placement = np.tile(np.array([0, width, 0, height], np.int64), (count, 1))

    def sheet(self, members: np.ndarray | None = None) -> np.ndarray:
        """The ink columns ``(columns + 1, 28)`` of every digit (or of ``members``, ``(B, n)`` bool) in place,
        overlapping strokes joined by their maximum; the last column paper."""
        sheet = np.zeros((self.columns + 1, DIGIT), np.float32)
        glyphs = self.glyphs
        strip_of, slot_of = self.where
        chosen = np.ones(len(glyphs), bool) if members is None else members[self.where]
        widths = glyphs.width()
        at = self.offset[strip_of] + self.starts[strip_of, slot_of]
        order = np.argsort(slot_of, kind="stable")  # digits slot by slot: within one, no two share a column
        ends = np.searchsorted(slot_of[order], np.arange(self.present.shape[1] + 1))
        for k in range(self.present.shape[1]):
            digits = order[ends[k] : ends[k + 1]]
            digits = digits[chosen[digits]]
            if not len(digits):
                continue
            w = widths[digits]
            digit = np.repeat(digits, w)
            column = np.arange(int(w.sum())) - np.repeat(np.cumsum(w) - w, w)
            rows = at[digit] + column
            ink = glyphs.pixels[digit, :, glyphs.start[digit] + column]  # (columns, 28)
            np.maximum(sheet[rows], ink, out=ink)
            sheet[rows] = ink
        return sheet

    def render(self, background: str, dtype: str = "float32", out: np.ndarray | None = None) -> np.ndarray:
        return render.run(self.sheet(), self.ids, self.weights, height=self.height, background=background,
                          dtype=dtype, out=out, rows=self.rows)

    def boxes(self, images: np.ndarray, background: str, masks: np.ndarray | None = None) -> np.ndarray:
        """Each digit's box ``(B, n, 4)``, tight to its visible ink in ``images``; slots that hold no digit
        get empty boxes (the caller marks them with -1). ``masks``: an array the label images of
        :func:`.boxes.visible_labels` are written into."""
        ink = np.zeros((*self.present.shape, 4), np.int64)
        ink[self.where] = self.unresampled.ink_extents()
        reach = layout.digit_boxes(ink, self.starts, self.slots, self.natural, self.placement, glyph=self.drawn)
        reach[~self.present] = 0

        def render_columns(members: np.ndarray, columns: np.ndarray) -> np.ndarray:  # some digits alone
            return render.run(self.sheet(members), np.take_along_axis(self.ids, columns[:, :, None], axis=1),
                              np.take_along_axis(self.weights, columns[:, :, None], axis=1), height=self.height,
                              background="black", rows=self.rows)

        found, owned = visible_ink(reach, visible(images, background), render_columns, labels=masks is not None)
        if masks is not None:
            masks[...] = owned
        return found


def compose(glyphs: Glyphs, lengths: np.ndarray, gaps: np.ndarray | None, *, spacing, evenly: bool,
            width: int | None, height: int = DIGIT, fit: str = "stretch", align: str = "center",
            where: np.ndarray | None = None, background: str = "white", dtype: str = "float32",
            out: np.ndarray | None = None, boxes: bool = False, masks: np.ndarray | None = None):
    """The strips of ``glyphs`` (float32, ink 1.0 on 0.0; strip ``b`` holds the next ``lengths[b]``
    digits) with ``gaps`` (``(B, n - 1)``; ``None`` for an even layout), as the recipe's ``width``,
    ``height``, ``fit`` and ``align`` say (``where``: the draws of ``align="random"``).

    Returns ``images`` ``(B, height, width)``, and with ``boxes`` ``(images, boxes)``, boxes
    ``(B, n, 4)`` int32 tight to each digit's visible ink (empty slots: zeros). ``masks``: an array
    ``(B, height, width)`` that the strips' label images are written into.

    Examples
    --------
    >>> ink = np.zeros((2, 28, 10), np.float32); ink[:, 5:20, 2:8] = 1
    >>> img = compose(Glyphs.full(ink), np.array([2]), np.array([[3]]), spacing=(3, 3), evenly=False, width=None)
    >>> img.shape, img[0, 10, :14].round().tolist()  # paper, ink, paper, the 3 px gap, paper, ink
    ((1, 28, 23), [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    """
    strips = Strips(glyphs, np.asarray(lengths, np.int64), gaps, spacing=spacing, evenly=evenly, width=width,
                    height=height, fit=fit, align=align, where=where)
    images = strips.render(background, dtype, out)
    if not boxes:
        if masks is not None:
            strips.boxes(images, background, masks)
        return images
    return images, strips.boxes(images, background, masks)
