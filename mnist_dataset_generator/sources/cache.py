"""A folder of verified files: fetch what is missing or damaged, under the folder's lock.

The store knows files only through their specs (name, decompressed size and
SHA-256): :mod:`mnist_dataset_generator.mnistdata` owns the MNIST table and the public API.
:mod:`.verified` checks each file and remembers what it verified; this module
makes sure every file asked for is there and verified:

* Everything that writes happens under ``filelock.FileLock(folder/.lock)``;
  downloads go to a temporary name, are verified, then renamed. A process
  kept waiting for the lock says so (WARNING after
  :data:`LOCK_NOTICE_AFTER` s, then every :data:`LOCK_NOTICE_EVERY` s).
* Fetching a missing or damaged file is :mod:`.download`'s job (bounded by
  size, inflation, a minimum rate and a per-file deadline); :func:`ensure`
  imports it only then, so a warm load never loads it, nor urllib.
* A folder that cannot be written is verified in place, writing nothing.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from .._files import remove_partials
from .._progress import ProgressArg
from .verified import _Folder, _write_stamps

__all__ = ["DownloadError", "ENV_DATA_HOME", "ENV_DEADLINE", "ENV_MIRRORS", "ensure"]

log = logging.getLogger(__name__)

Downloader = Callable[[str, object, Callable], object]

ENV_DATA_HOME = "GENERATOR_NUMBERS_SEQ_MNIST_DIR"
ENV_MIRRORS = "GENERATOR_NUMBERS_SEQ_MNIST_MIRRORS"
ENV_DEADLINE = "GENERATOR_NUMBERS_SEQ_MNIST_DEADLINE"

# Waiting for the folder's lock: a WARNING after LOCK_NOTICE_AFTER seconds,
# then one every LOCK_NOTICE_EVERY seconds, so a stuck job says why it waits.
LOCK_NOTICE_AFTER = 2.0
LOCK_NOTICE_EVERY = 10.0

_LOCK_NAME = ".lock"
_SPENT = "deadline exceeded"  # how an attempt cut short by the deadline begins its reason (after "not tried: ")


class DownloadError(OSError):
    """No mirror delivered a verified copy of a file.

    Attributes
    ----------
    name : str
        The file that could not be fetched.
    attempts : list of (url, reason)
        Every attempt, in order, retries included.
    folder : pathlib.Path
        The cache folder the file was meant for.
    """

    def __init__(self, name: str, attempts: list[tuple[str, str]], folder: Path) -> None:
        self.name = name
        self.attempts = list(attempts)
        self.folder = folder
        by_url: dict[str, list[str]] = {}
        for url, reason in attempts:
            by_url.setdefault(url, []).append(reason)
        lines = [f"could not download {name} (tried {len(by_url)} mirror(s)):"]
        for url, reasons in by_url.items():
            tries = f" ({len(reasons)} attempts)" if len(reasons) > 1 else ""
            lines.append(f"  {url}: {reasons[-1]}{tries}")
        if any(_SPENT in reason for _, reason in attempts):
            lines.append(f"allow more time with deadline= or {ENV_DEADLINE} (seconds), or")
        lines.append(
            f"set {ENV_MIRRORS} (file:// works) or put the files in {folder}"
        )
        super().__init__("\n".join(lines))

    def __reduce__(self):  # keep it picklable across worker processes
        return (type(self), (self.name, self.attempts, self.folder))


def ensure(
    folder: Path,
    specs: Mapping,
    *,
    mirrors: list[str],
    download: bool,
    progress: ProgressArg,
    downloader: Downloader | None,
    deadline: float | None = None,
    foreign: Mapping[str, str] | None = None,
) -> dict[str, Path]:
    """Verified paths for every spec in ``specs`` (name -> spec), fetching what is missing or damaged.

    ``mirrors`` are validated base URLs; the file URL is ``base + name + ".gz"``.
    ``deadline``: validated seconds allowed per file fetched (default :data:`.download.DEADLINE`).
    What is missing or damaged is fetched by :func:`.download._fetch_one`. ``foreign``: the
    SHA-256 of other sets' files (-> what each is): such a file is refused, never moved aside.
    """
    names = list(specs)
    state = _Folder(folder, specs, foreign)
    found = {name: state.stamped(name) for name in names}
    if all(found.values()):  # warm cache: a few stat() calls, no lock, no hashing
        return found  # type: ignore[return-value]
    present = lambda name: any((folder / f).is_file() for f in (name, name + ".gz"))  # noqa: E731
    if not download and not all(present(name) for name in names):
        missing = ", ".join(name for name in names if not present(name))
        raise FileNotFoundError(
            f"{missing} not found in {folder} and download=False; allow downloads, "
            f"or put the files (.gz or plain) there"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = _lock(folder)
    except OSError as exc:
        return _ensure_read_only(folder, specs, exc, foreign)
    with lock:
        remove_partials(folder)
        state = _Folder(folder, specs, foreign)  # another process may have done the work meanwhile
        paths = {}
        for name in names:
            path = state.verify(name, writable=True)
            if path is None:
                if not download:
                    raise FileNotFoundError(
                        f"{name} in {folder} was damaged and moved aside, and download=False"
                    )
                # imported only now: a warm start never loads the download code
                from . import download as _download

                written = _download._fetch_one(folder, specs[name], mirrors, downloader, progress,
                                               _download.DEADLINE if deadline is None else deadline)
                state.remember_official(name, written)
                # stamped just now, so no hashing, unless the file changed since it was written
                if (path := state.verify(name, writable=True)) is None:
                    raise OSError(
                        f"{folder / name} was downloaded and verified, then changed before it could be "
                        f"used; is another program writing in {folder}?"
                    )
            paths[name] = path
        if state.dirty:
            _write_stamps(folder, state.stamps)
    return paths


def _lock(folder: Path):
    """Hold ``folder/.lock``; while another process holds it, say so, with the seconds waited."""
    from filelock import FileLock, Timeout

    path = folder / _LOCK_NAME
    lock = FileLock(os.fspath(path))
    try:
        return lock.acquire(timeout=0)  # a context manager that releases on exit
    except Timeout:
        pass
    started = time.monotonic()
    log.info("waiting for another process to finish with %s (lock %s held)", folder, path)
    notice = LOCK_NOTICE_AFTER
    while True:
        try:
            return lock.acquire(timeout=max(0.0, started + notice - time.monotonic()))
        except Timeout:
            log.warning(
                "waiting for another process to finish with %s (lock %s held); waited %.1f s",
                folder, path, time.monotonic() - started,
            )
            notice += LOCK_NOTICE_EVERY


def _ensure_read_only(folder: Path, specs: Mapping, cause: OSError, foreign: Mapping[str, str] | None = None
                      ) -> dict[str, Path]:
    """Verify in place, writing nothing, when ``folder`` cannot be written."""
    if not folder.is_dir():  # same error class as the cause: missing parent, no permission...
        raise type(cause)(
            f"cannot create the MNIST folder {folder} ({cause.strerror or cause}); "
            f"set {ENV_DATA_HOME} or data_home to a writable folder"
        ) from cause
    log.debug("%s is not writable (%s); verifying in place", folder, cause)
    state = _Folder(folder, specs, foreign)
    paths = {}
    for name in specs:
        path = state.verify(name, writable=False)
        if path is None:
            raise PermissionError(
                f"{name} is missing from {folder}, which is not writable "
                f"({cause.strerror or cause}); set {ENV_DATA_HOME} or data_home to a writable folder"
            ) from cause
        paths[name] = path
    return paths
