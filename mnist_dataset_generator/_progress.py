"""Turn a ``progress`` argument into a ``report(done, total)`` callable.

Computation code only ever calls ``report(done, total)`` and ``close()``;
whether that draws a tqdm bar, calls the user's function or does nothing is
decided here, once. tqdm is imported only when a bar is actually drawn.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Union

ProgressArg = Union[None, bool, Callable[[int, int | None], object]]


def check_progress(progress: ProgressArg) -> None:
    """Raise ``ValueError`` unless ``progress`` is None, a bool or a callable."""
    if progress is not None and not isinstance(progress, bool) and not callable(progress):
        raise ValueError(
            f"progress must be None, True, False or a callable (done, total), got {progress!r}"
        )


class Reporter:
    """``report(done, total)`` plus ``close()``; ``total`` may be ``None`` (unknown).

    ``unit`` ``"B"`` (downloads) draws sizes in KiB, MiB...; any other unit
    counts things, drawn as plain numbers (``3000/3000 img``, not ``2.93k``).
    """

    def __init__(self, progress: ProgressArg, desc: str = "", unit: str = "B") -> None:
        check_progress(progress)
        self._callback = progress if callable(progress) else None
        self._bar = None
        self._desc = desc
        self._unit = unit
        if progress is None:
            stream = sys.stderr
            progress = bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())
        self._draw = progress is True

    def __call__(self, done: int, total: int | None) -> None:
        if self._callback is not None:
            self._callback(done, total)
        elif self._draw:
            if self._bar is None:
                from tqdm import tqdm

                scaled = self._unit == "B"
                self._bar = tqdm(
                    total=total, desc=self._desc, unit=self._unit, unit_scale=scaled,
                    unit_divisor=1024 if scaled else 1000, file=sys.stderr, leave=False,
                )
            if total is not None and self._bar.total != total:
                self._bar.total = total
            self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
