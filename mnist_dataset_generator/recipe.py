"""What a sample looks like, in one object: :class:`Recipe`.

A recipe is validated once, when it is made, and every door takes one: the command line
builds one, :func:`.generator.generate_dataset`, :func:`.generator.iter_dataset`,
:class:`.dataset.SequenceDataset` and exports accept ``recipe=``, and their keyword
arguments are a shorthand for its fields. It goes to and from JSON (an export's manifest
holds it), so a new option is one field here.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .compose import layout
from .mnistdata import SPLITS

__all__ = ["FIELDS", "RECIPE_VERSION", "Recipe"]

RECIPE_VERSION = 1  # of the JSON form: a reader refuses a newer one rather than guess
DTYPES = ("float32", "uint8")
LAYOUTS = ("strip", "lines", "video", "scene")
VIDEO_CANVAS = 64  # the canvas of layout="video" when no size is given (Moving MNIST's)
VIDEO_DIGITS = 2  # glyphs per video when no length is given (Moving MNIST's)
VIDEO_FRAMES = 20  # frames per video when none are given (Moving MNIST's)
VIDEO_SPEED = 0.1  # a glyph's move per frame, a share of the range it moves over (Moving MNIST's)
MAX_FRAMES = 10_000
SCALES = (0.25, 16.0)  # a scene's glyph scale: 7 to 448 px a side
MAX_CLUTTER = 256
MAX_SCENE_GLYPHS = 256  # placing a glyph checks it against every one placed: quadratic in the count
COMBINES = ("max", "sum")
PAGE_LINES = 3  # lines per page when none are given
MAX_LINES = 256


@dataclass(frozen=True)
class Recipe:
    """What every sample of a dataset looks like (not how many, nor their seed).

    Parameters
    ----------
    length : int or (int, int), default 8
        Digits per sample, or an inclusive ``(min, max)`` range drawn uniformly (not with
        ``labels``: their lengths are the lengths).
    spacing_range : (int, int)
        Gaps between digits, ``-27 <= min <= max <= 10000`` px.
    image_width : int or None
        One width for all samples; ``None``: the natural width (one for all samples only
        when lengths and gaps are fixed, or the layout is even).
    image_height : int or None
        Height (1..4096); ``None`` is 28.
    evenly : bool
        Even layout: equal slots and gaps.
    fit : {"stretch", "pad"}
        ``"pad"``: digits keep their size, the strip is placed in the width (see
        :func:`.generator.generate_numbers_sequence`).
    align : {"left", "center", "random"}
        Where a padded strip sits across the width.
    fltrs : str, list of callables, or None
        Filters per digit: spec text such as ``"blur:sigma=0.8,distort"`` (see
        :func:`.filterspec.from_spec`; the form a recipe keeps in JSON) or callables.
    background : {"white", "black", "noise"}
        ``"noise"`` (``layout="scene"`` only): ink high on a dark paper whose every pixel is drawn uniformly
        in 0..63 (the scene's own stream); a glyph's pixels darker than the paper are not its mask's.
    split : {"train", "test"}
        The MNIST split the glyphs come from.
    dtype : {"float32", "uint8"}
        Pixel type of the images made in memory.
    labels : list of str, optional
        The digit strings to draw, instead of random ones (``length`` is then theirs).
    pattern : str, optional
        What every label looks like: ``d`` any digit, ``a`` any letter of the source, a literal
        character otherwise (``"ddd-dddd"``, ``"+dd (ddd) ddd-dddd"``; ``\\d`` is a literal d, for a
        source with letters); the separators ``- . ( ) + / :`` are
        drawn with a pen like the glyphs', a space is a gap (see :mod:`.content`). Its length is
        the length.
    unique : bool
        No two samples share a label: sample ``i`` gets string ``P(i)`` of every string the
        length (or the pattern) allows, ``P`` a permutation keyed by the seed, so each string is
        equally likely (a range of lengths draws mostly the longest). A count larger than the
        number of strings is refused.
    separators : {"pen", "gap"}
        How a pattern's separators look: drawn with a pen as wide as the glyphs' strokes, or
        left blank (a gap, as a space always is); each has its box either way.
    source : str, default "mnist"
        The glyph set (:data:`.sources.sets.SETS`): ``"mnist"`` or ``"fashion"`` (Fashion-MNIST,
        whose classes are written "0".."9"), or a folder of your own glyphs (see
        :mod:`.sources.folder`; kept as its absolute path); labels are strings over its alphabet.
    layout : {"strip", "lines", "video", "scene"}
        What a sample is: ``"strip"``, a line of glyphs (``(height, width)``); ``"lines"``, a page of
        ``lines`` strips (see ``lines``); ``"video"``, Moving
        MNIST's moving glyphs (``(frames, height, width)``, see :mod:`.compose.video`): ``length``
        glyphs (default 2) of a canvas ``image_height x image_width`` (default 64 x 64, at least
        28 x 28) each start anywhere, move in a direction drawn uniformly in ``[0, 2 pi)`` at a
        constant speed, bounce off the walls and are combined by their maximum; a box per glyph
        per frame. The strip's options (``spacing_range``, ``evenly``, ``fit``, ``align``) do not
        apply to it.
    frames : int, optional
        Frames per video, 1..10000 (default 20; ``layout="video"`` only).
    speed : float or (float, float), optional
        A glyph's move per frame as a share of the range it moves over (``image_height - 28``
        down, ``image_width - 28`` across), in [0, 1]; a ``(min, max)`` range is drawn uniformly
        per glyph (default 0.1, Moving MNIST's 3.6 px on its 64 px canvas; ``layout="video"`` only).
    scale : float or (float, float), optional
        ``layout="scene"`` (a canvas ``image_height x image_width``, default 64 x 64, holding ``length``
        glyphs at random places; see :mod:`.compose.scene`): each glyph's size as a multiple of 28 px,
        drawn uniformly per glyph from a ``(min, max)`` range in [0.25, 16] (default 1: 28 px).
    max_iou : float, optional
        ``layout="scene"``: the largest intersection over union two glyphs' squares may have, in
        [0, 1]; 0 is no overlap at all, 1 (the default) places glyphs independently.
    clutter : (int, int), optional
        ``layout="scene"``: ``(count, size)``, that many ``size x size`` pieces cut from random glyphs
        of the split, strewn under the glyphs as in cluttered MNIST (default none).
    combine : {"max", "sum"}, optional
        ``layout="scene"``: how ink that meets is combined: the maximum (default), or the sum,
        clipped (MultiMNIST's).
    lines : int or (int, int), optional
        ``layout="lines"``: lines per page, or a ``(min, max)`` range drawn per page (default 3; with
        ``labels``, their own: a label's lines are parted by ``"\\n"``). Each line is a strip of ``length``
        glyphs with ``spacing_range``, ``evenly``, ``fltrs`` and a pattern as a strip's, 28 px high and
        padded into the page's width (``fit`` does not apply: a line wider than the page is scaled down
        whole); ``align`` places each line across the page and the block of lines down it (``"left"``: at
        the top). The page is ``image_height x image_width``, by default just tall enough for the most
        lines and their widest gaps, and as wide as the widest line. The label holds the lines parted by
        ``"\\n"``, whose box is -1 and which has no mask value; :func:`.records.line_boxes` gives each
        line's box.
    line_gap : int or (int, int), optional
        ``layout="lines"``: pixels between two lines, or a ``(min, max)`` range drawn per gap (default 0).
    distinct : bool
        No character twice in a label: each label's characters are the first of a uniformly random
        order of the alphabet (MultiMNIST's two different classes); the length may not exceed the
        alphabet, and labels, patterns and unique labels say their own characters.

    Examples
    --------
    >>> r = Recipe(length=(3, 5), spacing_range=(0, 6), image_width=160, fit="pad", fltrs="blur:sigma=0.8")
    >>> Recipe.from_json(r.to_json()) == r
    True
    >>> Recipe(fit="squeeze")
    Traceback (most recent call last):
    ValueError: fit must be one of stretch, pad, got 'squeeze'
    """

    length: int | tuple[int, int] | None = None
    spacing_range: tuple[int, int] = (0, 0)
    image_width: int | None = None
    image_height: int | None = None
    evenly: bool = False
    fit: str = "stretch"
    align: str = "center"
    fltrs: Any = None
    background: str = "white"
    split: str = "train"
    dtype: str = "float32"
    labels: tuple[str, ...] | None = None
    pattern: str | None = None
    unique: bool = False
    separators: str = "pen"
    source: str = "mnist"
    layout: str = "strip"
    frames: int | None = None
    speed: float | tuple[float, float] | None = None
    scale: float | tuple[float, float] | None = None
    max_iou: float | None = None
    clutter: tuple[int, int] | None = None
    combine: str | None = None
    distinct: bool = False
    lines: int | tuple[int, int] | None = None
    line_gap: int | tuple[int, int] | None = None
    prepared: list = field(init=False, repr=False, compare=False)
    glyphs: str = field(init=False, repr=False, compare=False)  # the source's alphabet, read once
    space: Any = field(init=False, repr=False, compare=False)  # a content.LabelSpace, or None
    line_recipe: Any = field(init=False, repr=False, compare=False)  # layout="lines": the recipe of one line
    derived: frozenset = field(init=False, repr=False, compare=False)  # the sizes not given, but worked out

    def __post_init__(self) -> None:
        from .compose.checks import (
            check_align,
            check_background,
            check_fit,
            check_flag,
            check_height,
            check_spacing,
            choice,
        )

        put = object.__setattr__  # frozen: normalised once, here
        put(self, "derived", frozenset(name for name in ("image_width", "image_height") if getattr(self, name) is None))
        from .sources.folder import alphabet_of, resolve

        put(self, "source", resolve(self.source))  # first: the labels and the pattern are read in its alphabet
        choice("layout", self.layout, LAYOUTS)
        video = self.layout == "video"
        scene = self.layout == "scene"
        page = self.layout == "lines"
        put(self, "glyphs", alphabet_of(self.source))
        labels = _check_labels(self.labels, self.alphabet, lines=page)
        put(self, "labels", labels)
        if labels is not None and self.length is not None:
            raise ValueError(f"give labels or length, not both (got length={self.length!r}): the labels' lengths "
                             "are the lengths")
        slots = self._check_content(labels)
        if slots is not None:
            put(self, "length", (len(slots), len(slots)))
        else:
            default = VIDEO_DIGITS if video or scene else 8
            lengths = [len(line) for label in labels for line in label.split("\n")] if labels else [1]
            put(self, "length", _check_length(default if self.length is None else self.length, 0 if scene else 1)
                if labels is None else (min(lengths), max(lengths)))
        if self.distinct and self.length[1] > len(self.glyphs):
            raise ValueError(f"distinct=True: labels of up to {self.length[1]} characters cannot avoid repeats in an "
                             f"alphabet of {len(self.glyphs)}")
        from .content import LabelSpace

        put(self, "space", None if slots is None and not self.unique
            else LabelSpace(self.alphabet, slots=slots, lengths=self.length))
        put(self, "spacing_range", check_spacing(self.spacing_range))
        put(self, "evenly", check_flag("evenly", self.evenly))
        put(self, "fit", check_fit(self.fit))
        put(self, "align", check_align(self.align))
        put(self, "image_height", check_height(self.image_height))
        if self.background == "noise" and self.layout != "scene":
            raise ValueError("background='noise' applies with layout='scene' only")
        put(self, "background", self.background if self.background == "noise" else check_background(self.background))
        choice("split", self.split, tuple(sorted(SPLITS)))
        choice("dtype", self.dtype, DTYPES)
        from .compose.filterspec import expand, prepare

        fltrs = self.fltrs
        if isinstance(fltrs, Iterable) and not isinstance(fltrs, (str, bytes, bytearray)) and not callable(fltrs):
            fltrs = tuple(fltrs) or None  # a list given: kept as a tuple (compared, read twice)
            put(self, "fltrs", fltrs)
        if isinstance(fltrs, str) and fltrs.strip():
            fltrs = expand(fltrs)  # presets written out: the recipe (and a manifest) says which filters run
            put(self, "fltrs", fltrs)
        put(self, "prepared", prepare(fltrs))  # the rule of every door: text, or a list of callables
        for name, kind in (("frames", "video"), ("speed", "video"), ("scale", "scene"), ("max_iou", "scene"),
                           ("clutter", "scene"), ("combine", "scene"), ("lines", "lines"), ("line_gap", "lines")):
            if getattr(self, name) is not None and self.layout != kind:
                raise ValueError(f"{name} applies with layout='{kind}' only, got {name}={getattr(self, name)!r}")
        if video or scene:
            self._check_canvas()
        if video:
            self._check_video()
        elif scene:
            self._check_scene()
        else:
            put(self, "line_recipe", self._check_page() if page else None)
            if not page:
                put(self, "image_width", self._check_width())

    def _check_page(self) -> Recipe:
        """``layout="lines"``: lines and line gaps normalised, the page's size checked (its natural size when
        not given); returns the recipe of one line, a padded strip as wide as the page."""
        from .compose.checks import MAX_DIGITS, MAX_HEIGHT, int_pair

        put = object.__setattr__
        if self.unique:
            raise ValueError("unique applies to strips, videos and scenes, not layout='lines'")
        if self.fit != "stretch":
            raise ValueError(f"fit applies to strips, not layout='lines' (got fit={self.fit!r}): lines keep their "
                             "glyphs' size")
        if self.labels is not None:
            if self.lines is not None:
                raise ValueError(f"give labels or lines, not both (got lines={self.lines!r}): the labels' lines "
                                 "are the lines")
            counts = [label.count("\n") + 1 for label in self.labels] or [1]
            low, high = min(counts), max(counts)
            for i, label in enumerate(self.labels):
                if counts[i] > MAX_LINES or len(label) > MAX_DIGITS:
                    raise ValueError(f"labels[{i}] has {counts[i]} line(s) and {len(label)} characters; a page holds "
                                     f"at most {MAX_LINES} lines and {MAX_DIGITS} characters")
        else:
            low, high = int_pair("lines", PAGE_LINES if self.lines is None else self.lines,
                                 "an integer or a (min, max) pair of integers")
        if not 1 <= low <= high <= MAX_LINES:
            raise ValueError(f"lines must satisfy 1 <= min <= max <= {MAX_LINES}, got {self.lines!r}")
        put(self, "lines", (low, high))
        longest = high * self.length[1] + high - 1  # every line as long as it may be, and the newlines
        if self.labels is None and longest > MAX_DIGITS:
            raise ValueError(f"pages of up to {high} lines of {self.length[1]} characters have labels of up to "
                             f"{longest} characters (the newlines counted), more than {MAX_DIGITS}: use fewer or "
                             "shorter lines")
        gap_low, gap_high = int_pair("line_gap", 0 if self.line_gap is None else self.line_gap,
                                     "an integer or a (min, max) pair of integers")
        if not 0 <= gap_low <= gap_high <= MAX_HEIGHT:
            raise ValueError(f"line_gap must satisfy 0 <= min <= max <= {MAX_HEIGHT} px, got {self.line_gap!r}")
        put(self, "line_gap", (gap_low, gap_high))
        need = high * layout.DIGIT + (high - 1) * gap_high  # the tallest block of lines
        if self.image_height is None and need > MAX_HEIGHT:
            raise ValueError(f"a page of {high} lines of {layout.DIGIT} px with gaps of up to {gap_high} px is {need} "
                             f"px high, more than {MAX_HEIGHT}: use fewer lines or smaller gaps")
        if self.image_height is not None and self.image_height < need:
            fits = (self.image_height + gap_high) // (layout.DIGIT + gap_high)
            raise ValueError(f"a page {self.image_height} px high holds {fits} lines of {layout.DIGIT} px with gaps "
                             f"of up to {gap_high} px, not {high} (it needs {need} px): use a taller page, fewer "
                             "lines or smaller gaps")
        put(self, "image_height", need if self.image_height is None else self.image_height)
        width = self.image_width
        if width is None:  # the widest line the recipe can draw
            n, spacing_high = self.length[1], self.spacing_range[1]
            slots, gaps = (layout.even_layout(n, self.spacing_range, None) if self.evenly
                           else (np.full(n, layout.DIGIT), np.full(n - 1, max(spacing_high, 0))))
            width = int(slots.sum() + gaps.sum())
        contents: dict[str, Any] = {"length": self.length}
        if self.labels is not None:  # line j of page i is label i * most + j of the lines' recipe
            contents = {"labels": tuple(_line_slots(self.labels, high))}
        elif self.pattern is not None:
            contents = {"pattern": self.pattern, "separators": self.separators}
        line = Recipe(**contents, spacing_range=self.spacing_range, image_width=width, evenly=self.evenly, fit="pad",
                      align=self.align, fltrs=self.fltrs, background=self.background, split=self.split,
                      dtype=self.dtype, source=self.source, distinct=self.distinct)
        put(self, "image_width", line.image_width)
        return line

    @property
    def label_length(self) -> tuple[int, int]:
        """The shortest and longest label, in characters: :attr:`length`, but for ``layout="lines"``, whose
        labels hold their lines and the ``"\\n"`` between them."""
        if self.layout != "lines":
            return self.length
        if self.labels is not None:
            return (min(map(len, self.labels)), max(map(len, self.labels))) if self.labels else (1, 1)
        (low, high), (short, long) = self.lines, self.length
        return low * short + low - 1, high * long + high - 1

    def _check_canvas(self) -> None:
        """A video's or a scene's canvas (default 64 x 64); the strip's options refused."""
        from .compose.checks import is_int

        put = object.__setattr__
        for name, default in (("spacing_range", (0, 0)), ("evenly", False), ("fit", "stretch"), ("align", "center")):
            if getattr(self, name) != default:
                raise ValueError(f"{name} applies to strips, not layout={self.layout!r} "
                                 f"(got {name}={getattr(self, name)!r})")
        smallest = layout.DIGIT if self.layout == "video" else 1
        for name in ("image_height", "image_width"):
            size = VIDEO_CANVAS if getattr(self, name) is None else getattr(self, name)
            if not is_int(size) or not smallest <= size <= 4096:
                held = (f" (the canvas holds a {layout.DIGIT} x {layout.DIGIT} glyph)" if self.layout == "video"
                        else "")
                raise ValueError(f"{name} of a {self.layout} must be an integer in {smallest}..4096{held}, "
                                 f"got {size!r}")
            put(self, name, int(size))

    def _check_scene(self) -> None:
        """``layout="scene"``: scale, overlap rule, clutter and combination, normalised; glyphs that cannot
        fit the canvas refused."""
        from .compose.checks import choice, int_pair

        put = object.__setattr__
        low, high = _check_range("scale", 1.0 if self.scale is None else self.scale, *SCALES,
                                 "a multiple of the 28 px glyph")
        put(self, "scale", (low, high))
        iou = 1.0 if self.max_iou is None else self.max_iou
        if isinstance(iou, (bool, np.bool_)) or not isinstance(iou, (int, float, np.integer, np.floating)) \
                or not 0 <= float(iou) <= 1:
            raise ValueError(f"max_iou must be a number in [0, 1] (0: no overlap), got {iou!r}")
        put(self, "max_iou", float(iou))
        count, size = int_pair("clutter", (0, 0) if self.clutter is None else self.clutter,
                               "a (count, size) pair of integers")
        if not (0 <= count <= MAX_CLUTTER and (count == 0 or 1 <= size <= layout.DIGIT)):
            raise ValueError(f"clutter must be (count, size) with count in 0..{MAX_CLUTTER} and size in "
                             f"1..{layout.DIGIT} px, got {self.clutter!r}")
        if count and size > min(self.image_height, self.image_width):
            raise ValueError(f"clutter pieces of {size} px do not fit the {self.image_height} x {self.image_width} "
                             "canvas: use smaller pieces or a larger canvas")
        if self.length[1] > MAX_SCENE_GLYPHS:
            raise ValueError(f"a scene holds at most {MAX_SCENE_GLYPHS} glyphs, got length {self.length!r}")
        put(self, "clutter", (count, size if count else 0))
        choice("combine", "max" if self.combine is None else self.combine, COMBINES)
        put(self, "combine", "max" if self.combine is None else self.combine)
        from .compose.scene import check_fit

        check_fit(self.length, (low, high), self.image_height, self.image_width, self.max_iou)

    def _check_video(self) -> None:
        """``layout="video"``: frames and speed, normalised (the canvas by :meth:`_check_canvas`)."""
        from .compose.checks import is_int

        put = object.__setattr__
        frames = VIDEO_FRAMES if self.frames is None else self.frames
        if not is_int(frames) or not 1 <= frames <= MAX_FRAMES:
            raise ValueError(f"frames must be an integer in 1..{MAX_FRAMES}, got {frames!r}")
        put(self, "frames", int(frames))
        put(self, "speed", _check_speed(VIDEO_SPEED if self.speed is None else self.speed))

    def _check_content(self, labels) -> tuple[str, ...] | None:
        """The pattern's slots (:func:`.content.parse_pattern`), after the content options are checked."""
        from .compose.checks import check_flag, choice
        from .content import parse_pattern
        from .sources.pen import STYLES

        object.__setattr__(self, "unique", check_flag("unique", self.unique))
        object.__setattr__(self, "distinct", check_flag("distinct", self.distinct))
        if self.distinct and (labels is not None or self.pattern is not None or self.unique):
            raise ValueError("distinct=True draws the characters; give it without labels, a pattern or unique")
        choice("separators", self.separators, STYLES)
        if self.pattern is None:
            if self.separators != "pen":
                raise ValueError(f"separators={self.separators!r} applies with a pattern only (its separators)")
            if self.unique and labels is not None:
                raise ValueError("give labels or unique=True, not both: given labels are drawn as they are")
            return None
        if labels is not None or self.length is not None:
            raise ValueError(f"give a pattern or {'labels' if labels is not None else 'a length'}, not both: "
                             f"the pattern {self.pattern!r} sets the length")
        return parse_pattern(self.pattern, self.glyphs)

    @property
    def alphabet(self) -> str:
        """The characters of the labels, in class order: the glyph set's, then the separators
        when the pattern draws any (:data:`.sources.pen.SEPARATORS`)."""
        from .sources.pen import SEPARATORS

        if self.pattern is not None and any(c in SEPARATORS and c not in self.glyphs for c in self.pattern):
            return self.glyphs + "".join(c for c in SEPARATORS if c not in self.glyphs)  # drawn by the tool
        return self.glyphs

    def _check_width(self) -> int | None:
        from .compose.checks import check_request, check_width

        low, high = self.length
        width = self.image_width
        if width is None:
            if low != high or (not self.evenly and self.spacing_range[0] != self.spacing_range[1]):
                raise ValueError(
                    "image_width is required when lengths or spacing vary: every image of a dataset has one width"
                )
            slots, gaps = (layout.even_layout(low, self.spacing_range, None) if self.evenly
                           else (np.full(low, layout.DIGIT), np.full(low - 1, self.spacing_range[0])))
            width = int(slots.sum() + gaps.sum())
        request = check_request("0" * high, self.spacing_range, width, self.evenly, None, self.split,  # widest case
                                image_height=self.image_height, fit=self.fit, align=self.align, door=None)
        if low != high:
            check_width(width, low, self.spacing_range, self.evenly, self.fit)
        return request.width

    @property
    def height(self) -> int:
        """The images' height in pixels."""
        return self.image_height or layout.DIGIT

    @property
    def shape(self) -> tuple[int, ...]:
        """One sample's array shape: ``(height, width)``, or ``(frames, height, width)`` for a video."""
        return (self.frames, self.height, self.image_width) if self.layout == "video" else (self.height,
                                                                                            self.image_width)

    @classmethod
    def preset(cls, name: str, **changes) -> Recipe:
        """The recipe of a standard benchmark (:data:`.presets.PRESETS`), with any field changed.

        Examples
        --------
        >>> r = Recipe.preset("moving-mnist", frames=10)
        >>> r.layout, r.shape, r.length, r.background
        ('video', (10, 64, 64), (2, 2), 'black')
        """
        from .presets import check_preset

        fields = check_preset(name)
        unknown = sorted(set(changes) - set(FIELDS))
        if unknown:
            raise TypeError(f"Recipe has no field {unknown[0]!r}; the fields are {', '.join(FIELDS)}")
        if "labels" in changes or "pattern" in changes:
            fields.pop("length", None)  # the labels' or the pattern's own
        if "labels" in changes or "pattern" in changes or changes.get("unique"):
            fields.pop("distinct", None)  # they say their own characters
        return cls(**{**fields, **changes})

    def replace(self, **changes) -> Recipe:
        """A copy with ``changes``, validated again. A size the recipe worked out (not given) is worked out
        again for the changes, as a field the labels set is.

        Examples
        --------
        >>> Recipe(image_width=120).replace(fit="pad").fit
        'pad'
        >>> Recipe(length=3).replace(length=4).image_width, Recipe(layout="lines").replace(lines=5).image_height
        (112, 140)
        """
        unknown = sorted(set(changes) - set(FIELDS))
        if unknown:
            raise TypeError(f"Recipe has no field {unknown[0]!r}; the fields are {', '.join(FIELDS)}")
        if "length" not in changes and (self.labels is not None or self.pattern is not None):
            changes = {"length": None, **changes}  # the length was theirs, not given: made again from them
        if "lines" not in changes and self.labels is not None and self.layout == "lines":
            changes = {"lines": None, **changes}
        changes = {**dict.fromkeys(self.derived), **changes}  # sizes worked out: worked out again
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict:
        """The recipe as a JSON object: a ``dict`` of plain values, not text (``json.dumps``
        it, or keep it in a manifest; :meth:`from_json` takes either).

        Filters given as spec text are kept as text; callables cannot be written, and are
        recorded by name under ``"filters"`` as ``{"callables": [...]}`` (:meth:`from_json`
        refuses those, naming them).

        Returns
        -------
        dict
            ``{"recipe": 1, "length": [8, 8], ...}``: every field, tuples as lists.

        Examples
        --------
        >>> data = Recipe(length=3, fltrs="blur").to_json()
        >>> type(data).__name__, data["length"], data["filters"]
        ('dict', [3, 3], 'blur')
        """
        from .filters import _name

        data: dict[str, Any] = {"recipe": RECIPE_VERSION}
        for name in FIELDS:
            value = getattr(self, name)
            if name == "fltrs":
                if value is None:
                    value = None
                elif not isinstance(value, str):
                    value = {"callables": [_name(f) for f, _ in self.prepared]}
                data["filters"] = value
                continue
            data[name] = list(value) if isinstance(value, tuple) else value
        if self.labels is not None or self.pattern is not None:
            data["length"] = None  # the labels' or the pattern's own
        if self.labels is not None and self.layout == "lines":
            data["lines"] = None  # the labels' own
        for name, default in (("pattern", None), ("unique", False), ("separators", "pen"), ("source", "mnist"),
                              ("layout", "strip"), ("frames", None), ("speed", None), ("scale", None),
                              ("max_iou", None), ("clutter", None), ("combine", None), ("distinct", False),
                              ("lines", None), ("line_gap", None)):
            if data[name] == default:
                del data[name]  # the JSON of recipes without them stays what earlier versions wrote
        return data

    @classmethod
    def from_json(cls, data: dict | str, *, imports: bool = False) -> Recipe:
        """A recipe from :meth:`to_json`'s object (or its JSON text).

        Parameters
        ----------
        data : dict or str
        imports : bool, default False
            Whether filters named by import path (``"mypkg.filters:thicken"``) may be
            built, which imports and runs that module. Off by default: JSON from a file
            must not make this program run code; pass ``True`` only for recipes you wrote.

        Raises
        ------
        ValueError
            Not a recipe object, a newer version than this one reads, an unknown field,
            filters recorded as callables, filters that would import a module without
            ``imports=True``, or any value the fields refuse.

        Examples
        --------
        >>> Recipe.from_json({"recipe": 1, "filters": "os:_exit:status=0"})
        Traceback (most recent call last):
        ValueError: recipe: its filters import module os ('os:_exit:status=0'); a recipe read from JSON runs no code unless from_json(..., imports=True) is given
        """
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError as exc:
                raise ValueError(f"recipe: not JSON ({exc})") from None
            except RecursionError:  # json's decoder recurses per bracket
                raise ValueError("recipe: not JSON (nested too deeply)") from None
        if not isinstance(data, dict) or "recipe" not in data:
            raise ValueError(f"recipe: expected a JSON object with a \"recipe\" version, got {type(data).__name__}")
        version = data["recipe"]
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ValueError(f"recipe: version must be a positive integer, got {version!r}")
        if version > RECIPE_VERSION:
            raise ValueError(f"recipe: version {version} is newer than this tool reads ({RECIPE_VERSION}); "
                             "upgrade mnist_dataset_generator")
        known = {*(name for name in FIELDS if name != "fltrs"), "filters", "recipe"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"recipe: unknown field {unknown[0]!r}; the fields are "
                             f"{', '.join(sorted(known - {'recipe'}))}")
        fields = {name: data[name] for name in FIELDS if name in data and name != "fltrs"}
        filters = data.get("filters")
        if isinstance(filters, dict):
            names = filters.get("callables", [])
            names = ", ".join(map(str, names)) if isinstance(names, list) else repr(names)  # a hand-edited 5
            raise ValueError(f"recipe: its filters were Python callables ({names})"
                             " and cannot be rebuilt from JSON; give filters as text, e.g. \"blur:sigma=1\"")
        if filters is not None and not isinstance(filters, str):
            raise ValueError(f"recipe: filters must be text such as \"blur:sigma=1\", got {filters!r}")
        if filters is not None and not imports:
            from .compose.filterspec import imported_modules

            modules = imported_modules(filters)
            if modules:
                raise ValueError(f"recipe: its filters import module {', '.join(modules)} ({filters!r}); a recipe read "
                                 "from JSON runs no code unless from_json(..., imports=True) is given")
        for name in ("length", "spacing_range", "speed", "scale", "clutter", "lines", "line_gap"):
            if isinstance(fields.get(name), list):
                fields[name] = tuple(fields[name])
        return cls(fltrs=filters, **fields)


FIELDS = tuple(f.name for f in dataclasses.fields(Recipe) if f.init)


def _check_length(length, least: int = 1) -> tuple[int, int]:
    """``length`` as a ``(min, max)`` range; ``least`` is 0 for scenes (an empty canvas is a sample there)."""
    from .compose.checks import MAX_DIGITS, int_pair

    low, high = int_pair("length", length, "an integer or a (min, max) pair of integers")
    if not least <= low <= high <= MAX_DIGITS or high < 1:
        raise ValueError(f"length must satisfy {least} <= min <= max <= {MAX_DIGITS}, got {length!r}")
    return low, high


def _check_range(name: str, value, low_end: float, high_end: float, what: str) -> tuple[float, float]:
    """``value`` (a number, or a ``(min, max)`` pair, NumPy's too) as a range in ``[low_end, high_end]``."""
    values = None
    if not isinstance(value, (bool, np.bool_, str, bytes)):
        try:
            values = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            values = None
    if values is not None and (np.asarray(value).dtype.kind not in "iuf" or values.shape not in ((), (2,))):
        values = None
    ok = values is not None and bool(np.isfinite(values).all()) and bool((values >= low_end).all()) \
        and bool((values <= high_end).all()) and not (values.shape and values[0] > values[1])
    if not ok:
        raise ValueError(f"{name} must be in [{low_end:g}, {high_end:g}] ({what}) or a (min, max) pair there, "
                         f"got {value!r}")
    return (float(values.min()), float(values.max())) if values.shape else (float(values), float(values))


def _check_speed(speed) -> tuple[float, float]:
    """``speed`` (a number, or a ``(min, max)`` pair, NumPy's too) as a range in [0, 1]."""
    return _check_range("speed", speed, 0, 1, "a share of the range per frame")


def _line_slots(labels: tuple[str, ...], most: int) -> list[str]:
    """Pages' labels as ``most`` line labels each; a page of fewer lines repeats its first (never drawn)."""
    slots = []
    for label in labels:
        lines = label.split("\n")
        slots += lines + lines[:1] * (most - len(lines))
    return slots


def _check_labels(labels: Sequence[str] | None, alphabet: str, *, lines: bool = False) -> tuple[str, ...] | None:
    """``labels`` as a tuple of non-empty strings over ``alphabet``; with ``lines`` (a page's), ``"\\n"``
    separates non-empty lines."""
    from .sources.glyphs import encode_text

    if labels is None:
        return None
    if isinstance(labels, str):
        raise ValueError("labels must be a list of strings, got a single string")
    labels = tuple(labels)
    allowed = set(alphabet) | ({"\n"} if lines else set())
    for i, label in enumerate(labels):
        if not isinstance(label, str) or not label:
            raise ValueError(f"labels[{i}] must be a non-empty string, got {label!r}")
        if lines and "" in label.split("\n"):
            raise ValueError(f"labels[{i}] has an empty line ({label!r}): a page's lines hold a character or more")
        if not set(label) <= allowed:
            try:
                encode_text(label, alphabet)  # the labels' one codec names the character
            except ValueError as exc:
                raise ValueError(f"labels[{i}]: {exc} ({label!r})") from None
    return labels
