"""Downloading into the verified folder: one file, bounded, verified, then renamed.

:mod:`.cache` owns the folder (the lock, and with :mod:`.verified` the hashing, stamps, sums and
moving aside) and calls :func:`_fetch_one` from :func:`.cache.ensure`, under the lock, for
each file that is missing or damaged; it imports this module only then, so a
warm load never loads it. This module takes only the helpers it needs: from
:mod:`.verified` (:func:`.verified._content_digest`, :func:`.verified._verdict`,
:func:`.verified._written`), from :mod:`.cache` (:class:`.cache.DownloadError`), and
:mod:`.http` (urllib, http.client) only when the default downloader is used.

* A download goes to a temporary name in the folder, is unpacked and verified
  in one pass, then renamed: nothing appears under a final name unverified.
* Downloads are bounded: a body may not outgrow the file
  (:func:`body_limit`), nor inflate past its decompressed size; a mirror
  slower than :data:`MIN_RATE` bytes/s over :data:`RATE_WINDOW` s is left
  for the next; all mirrors and retries of one file share one deadline
  (:data:`DEADLINE` s, or ``$GENERATOR_NUMBERS_SEQ_MNIST_DEADLINE``).
* A transient fault (see :func:`.http.is_transient`) is retried once, after
  :data:`RETRY_DELAY` s; a name that does not resolve is not, the next mirror
  is tried at once; a fault writing the cache folder stops at once instead of
  blaming every mirror.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from .._files import atomic_write, commit, new_temp
from .._progress import ProgressArg, Reporter
from .cache import _SPENT, Downloader, DownloadError
from .idx import GZIP_MAGIC
from .verified import _content_digest, _Mismatch, _stored_digest, _verdict, _written

__all__ = ["DEADLINE", "MIN_RATE", "RATE_WINDOW", "RETRY_DELAY", "body_limit"]

log = logging.getLogger(__name__)

# Seconds to wait before the single retry of a mirror after a transient failure.
RETRY_DELAY = 1.0
# Seconds allowed to fetch one file, all mirrors and retries together (when
# neither the caller nor $GENERATOR_NUMBERS_SEQ_MNIST_DEADLINE says otherwise).
DEADLINE = 600.0
# A mirror that delivers fewer than MIN_RATE bytes/s on average over the last
# RATE_WINDOW seconds is abandoned for the next one (curl's --speed-limit and
# --speed-time); total silence is the read timeout's job.
MIN_RATE = 1024
RATE_WINDOW = 30.0


def body_limit(size: int) -> int:
    """The most bytes a download of a file of ``size`` decompressed bytes may take.

    A gzip of real data is smaller than its content, a plain copy as large;
    the margin covers gzip framing of incompressible data, and then some.

    Examples
    --------
    >>> body_limit(47040016)
    47840552
    """
    return size + size // 64 + (64 << 10)


def _fetch_one(folder: Path, spec, mirrors: list[str], downloader: Downloader | None, progress: ProgressArg,
               deadline: float) -> dict[Path, os.stat_result]:
    """Download ``spec.name`` from the first mirror that delivers verified bytes.

    Returns ``{final path: identity as written}`` for the plain copy and, when
    the download was gzip, the gzip kept beside it. ``deadline`` seconds cover
    all mirrors and retries; it is checked as bytes arrive and before each
    attempt, so a silent connection may overrun it by its read timeout.
    ``downloader=None`` means :class:`.http.HTTPDownloader` (imported only
    now: a warm start never pays for urllib).
    """
    from . import http as _http

    downloader = downloader or _http.HTTPDownloader()
    ends = time.monotonic() + deadline
    spent = f"{_SPENT} ({deadline:g} s for all mirrors and retries of this file)"
    attempts: list[tuple[str, str]] = []
    for base in mirrors:
        url = base + spec.name + ("" if getattr(spec, "stored", False) else ".gz")
        for attempt in (1, 2):
            if time.monotonic() >= ends:
                attempts.append((url, "not tried: " + spent))
                log.warning("%s: not tried: %s", url, spent)
                raise DownloadError(spec.name, attempts, folder)
            try:
                written = _download_verified(folder, spec, url, downloader, progress, ends)
                log.info("downloaded %s from %s", spec.name, url)
                return written
            except _LocalWriteError as exc:
                raise exc.__cause__ from None  # the disk, not the mirror: stop here
            except _DeadlineSpent:
                attempts.append((url, spent))
                log.warning("%s: %s", url, spent)
                raise DownloadError(spec.name, attempts, folder) from None
            except (_Mismatch, _Abandoned) as exc:  # the bytes, not the line: another try repeats them
                reason = exc.why
                retry = False
            except Exception as exc:  # noqa: BLE001 - any downloader fault is recorded
                reason = _http.describe(exc, downloader)
                retry = attempt == 1 and _http.is_transient(exc)
            attempts.append((url, reason))
            log.warning("%s: %s%s", url, reason, "; retrying" if retry else "")
            if not retry:
                break
            time.sleep(max(0.0, min(RETRY_DELAY, ends - time.monotonic())))
    raise DownloadError(spec.name, attempts, folder)


class _Abandoned(Exception):
    """A transfer broke a bound (size, rate): leave this mirror, untried again, for the next."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class _DeadlineSpent(Exception):
    """The time allowed for one file, over all its mirrors and retries, ran out."""


class _LocalWriteError(Exception):
    """Writing in the cache folder failed: a local disk fault, not the mirror's."""


@contextlib.contextmanager
def _local():
    try:
        yield
    except OSError as exc:
        raise _LocalWriteError() from exc


class _Sink:
    """The file a downloader writes to, bounding one attempt whatever the downloader.

    A write that would take the body past ``limit`` bytes raises
    :class:`_Abandoned` (and is not written), as does a transfer slower than
    :data:`MIN_RATE` bytes/s over the last :data:`RATE_WINDOW` seconds;
    :class:`_DeadlineSpent` once ``time.monotonic()`` passes ``ends``. Local
    write errors are tagged as such.
    """

    def __init__(self, out, *, limit: int, size: int, ends: float) -> None:
        self._out = out
        self.limit = limit
        self._size = size
        self._ends = ends
        self._min_rate, self._window = MIN_RATE, RATE_WINDOW  # read per attempt: tests shrink them
        self.done = 0
        # (time, bytes so far), thinned to ~32 per window; the oldest is at
        # least a window old once the transfer is
        self._samples = collections.deque([(time.monotonic(), 0)])

    def write(self, data) -> int:
        size = memoryview(data).nbytes
        if self.done + size > self.limit:
            raise _Abandoned(f"body exceeds {self.limit} bytes (the file is {self._size} bytes uncompressed)")
        with _local():
            written = self._out.write(data)
        self.done += size
        self._check_time()
        return written

    def guard(self, report: Callable[[int, int | None], object]) -> Callable[[int, int | None], None]:
        """``report`` that first refuses a body announced larger than ``limit``, before it is read."""

        def guarded(done: int, total: int | None) -> None:
            if total is not None and total > self.limit:
                raise _Abandoned(
                    f"body exceeds {self.limit} bytes ({total} announced; the file is {self._size} "
                    "bytes uncompressed)"
                )
            report(done, total)

        return guarded

    def _check_time(self) -> None:
        now = time.monotonic()
        if now >= self._ends:
            raise _DeadlineSpent()
        samples, window = self._samples, self._window
        if now - samples[-1][0] >= window / 32:
            samples.append((now, self.done))
        while len(samples) > 1 and samples[1][0] <= now - window:
            samples.popleft()
        since, then = samples[0]
        if since <= now - window and self.done - then < self._min_rate * window:
            raise _Abandoned(
                f"too slow: {self.done - then} bytes in the last {window:g} s, below "
                f"{self._min_rate} bytes/s"
            )


def _download_verified(folder: Path, spec, url: str, downloader: Downloader, progress,
                       ends: float) -> dict[Path, os.stat_result]:
    """One attempt: download to a temporary file, unpack and verify, then rename.

    Returns ``{final path: identity as written}`` (the plain copy, and the
    gzip if the body was one); raises :class:`_Mismatch` when the bytes
    arrived but are wrong, :class:`_Abandoned` or :class:`_DeadlineSpent`
    from the sink. Nothing appears under a final name unless verified, and
    nothing larger than the file may be is written.
    """
    if getattr(spec, "stored", False):
        return _download_stored(folder, spec, url, downloader, progress, ends)
    with _local():
        gz_tmp, gz_out = new_temp(folder, spec.name + ".gz")
    report = Reporter(progress, desc=spec.name)
    raw = folder / spec.name
    written: dict[Path, os.stat_result] = {}
    try:
        with gz_out:
            sink = _Sink(gz_out, limit=body_limit(spec.size), size=spec.size, ends=ends)
            downloader(url, sink, sink.guard(report))  # mirror faults surface here
            report.close()
            with _local():
                gz_out.flush()
                with atomic_write(raw) as raw_out:
                    hashed = _content_digest(gz_tmp, copy_to=raw_out, limit=spec.size)
                    if (why := _verdict(hashed, spec.sha256)) is not None:
                        raise _Mismatch(why)
                    written[raw] = _written(raw_out)
                with open(gz_tmp, "rb") as check:
                    was_gzip = check.read(2) == GZIP_MAGIC
                if was_gzip:  # keep the download as it came, beside the plain copy
                    gz = folder / (spec.name + ".gz")
                    commit(gz_tmp, gz_out, gz)
                    written[gz] = hashed.stat
        return written
    finally:
        report.close()
        gz_tmp.unlink(missing_ok=True)


def _download_stored(folder: Path, spec, url: str, downloader: Downloader, progress,
                     ends: float) -> dict[Path, os.stat_result]:
    """One attempt at a file kept as published (an archive whose published digest is of its bytes):
    download to a temporary file of at most ``spec.size`` bytes, verify, then rename."""
    with _local():
        tmp, out = new_temp(folder, spec.name)
    report = Reporter(progress, desc=spec.name)
    try:
        with out:
            sink = _Sink(out, limit=spec.size, size=spec.size, ends=ends)
            downloader(url, sink, sink.guard(report))  # mirror faults surface here
            report.close()
            with _local():
                out.flush()
            hashed = _stored_digest(tmp)
            if (why := _verdict(hashed, spec.sha256)) is not None:
                raise _Mismatch(why, hashed.digest)
            final = folder / spec.name
            with _local():
                written = _written(out)
                commit(tmp, out, final)
        return {final: written}
    finally:
        report.close()
        tmp.unlink(missing_ok=True)
