"""One strip: its glyph source, its draws and its composition.

``compose`` draws the samples, then the gaps, then the filters (so adding a filter never
changes which samples a seed picks) and lays the strip out: unfiltered strips without
overlaps through :mod:`.render` (the path batches take too), the rest through
:mod:`.augment` and :mod:`.sheet`, as a batch of one. The checks of its arguments are
:mod:`.checks`'.
"""

from __future__ import annotations

import logging

import numpy as np

from ..mnistdata import MnistData, load
from . import augment, layout, programs, render, sheet
from .boxes import visible, visible_boxes
from .checks import Request

__all__ = ["check_available", "compose", "fusable", "lay_out", "resolve_source", "to_uint8"]

log = logging.getLogger(__name__)


def resolve_source(images, data_home, split: str, source: str = "mnist") -> MnistData:
    """The digit source: ``images`` (a MnistData or an (images, labels) pair), else the files of the glyph
    set ``source``; given images must have its alphabet."""
    if images is None:
        return load(split, data_home=data_home, source=source)
    from ..sources.folder import alphabet_of

    if isinstance(images, MnistData) and images.alphabet != (expected := alphabet_of(source)):
        raise ValueError(f"images have the alphabet {images.alphabet!r}, not {source}'s {expected!r}")
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


def to_uint8(image: np.ndarray) -> np.ndarray:
    """A strip as 8-bit pixels: ``rint(x * 255)`` for floats in [0, 1], unchanged if already uint8."""
    return image if image.dtype == np.uint8 else np.rint(image * 255).astype(np.uint8)


def compose(request: Request, source: MnistData, rng: np.random.Generator,
            filter_rng: np.random.Generator | None = None, *, boxes: bool = False):
    """Draw and lay out the strip of a validated request (see :func:`.generator.generate_numbers_sequence`).

    ``rng`` picks the samples and gaps (and where ``align="random"`` puts a padded strip);
    ``filter_rng`` (default ``rng``) is handed to the filters, so datasets can give filters
    their own stream. With ``boxes``: ``(image, boxes)``.
    """
    digits = request.digits
    check_available(source, digits)
    # Draw order is fixed (samples, gaps, placement, then filters), so adding a filter
    # does not change which samples or gaps a seed gives.
    n = len(digits)
    u = rng.random(n if request.evenly else 2 * n - 1)  # one call (a third of the cost of two)
    index = source.pick(digits, u[:n])
    gaps = None if request.evenly else layout.random_gaps(request.spacing, u[n:])
    where = rng.random(1) if request.padded and request.align == "random" else None
    return lay_out(request, source, index, gaps, rng if filter_rng is None else filter_rng, where=where, boxes=boxes)


def check_available(source: MnistData, digits: np.ndarray) -> None:
    if not source.counts[digits].all():
        missing = sorted({int(d) for d in np.unique(digits) if source.counts[d] == 0})
        raise ValueError(f"no samples of digit(s) {missing} in {source.source}")


def fusable(request: Request) -> bool:
    """Whether :mod:`.render` can make this strip: no filters and no overlapping digits."""
    if request.prepared or request.spacing[0] < 0:
        return False
    # Even layout at its natural width, then scaled to a height, is a whole-strip resize: per strip.
    return not (request.evenly and request.width is None and request.height not in (None, layout.DIGIT))


def lay_out(request: Request, source: MnistData, index: np.ndarray, gaps: np.ndarray | None,
            filter_rng: np.random.Generator, *, where: np.ndarray | None = None, boxes: bool = False):
    """The strip of samples ``index`` with ``gaps`` (``None``: even layout), filters drawing from
    ``filter_rng``; ``where``: the draw placing a padded strip (``align="random"``).
    With ``boxes``: ``(image, boxes)``, boxes ``(n, 4)`` int32 (see :func:`.layout.digit_boxes`)."""
    if not fusable(request):
        return _compose_by_digit(request, source, index, gaps, filter_rng, where, boxes)
    n, height = len(index), request.height or layout.DIGIT
    glyphs = source.images[index]
    if not request.evenly and not request.padded:  # the common single strip: its own short path
        image = render.render_strip(glyphs, gaps, request.width, height=height, background=request.background)
        if not boxes:
            return image
        plan = programs.lay_out(np.array([n]), gaps[None], evenly=False, spacing=request.spacing,
                                width=image.shape[1], height=height)
    else:
        plan = programs.lay_out(np.array([n]), None if gaps is None else gaps[None], evenly=request.evenly,
                              spacing=request.spacing, width=request.width, height=height, fit=request.fit,
                              align=request.align, u=where)
        image = render.render(glyphs[None], plan.ids, plan.weights, height=height,
                              background=request.background, rows=plan.rows)[0]
        if not boxes:
            return image
    # one strip of n digits: the plan's arrays are (1, n) already
    reach = layout.digit_boxes(source.ink_of(index)[None], plan.starts, plan.slot, plan.natural, plan.placement)
    return image, visible_boxes(reach, visible(image[None], request.background),
                                render.column_renderer(glyphs[None], plan, height))[0]


def _compose_by_digit(request: Request, source: MnistData, index: np.ndarray, gaps: np.ndarray | None,
                      filter_rng: np.random.Generator, where: np.ndarray | None = None, boxes: bool = False):
    """Through :mod:`.sheet`: filters may change a digit's width, and overlapping strokes are composited."""
    plan = augment.stages(request.prepared)
    (_, _, glyphs), = augment.augment_batches(plan, [len(index)], lambda _: source.images[index],
                                             [filter_rng] if plan else None, batch=len(index))
    made = sheet.compose(glyphs, np.array([len(index)]), None if gaps is None else gaps[None],
                         spacing=request.spacing, evenly=request.evenly, width=request.width,
                         height=request.height or layout.DIGIT, fit=request.fit, align=request.align, where=where,
                         background=request.background, boxes=boxes)
    return (made[0][0], made[1][0]) if boxes else made[0]
