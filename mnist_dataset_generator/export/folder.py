"""A dataset folder as a place: this tool's names in it, one writer at a time, leftovers, removals.

* **One writer.** An export holds ``.mnist-export.lock`` (a
  :class:`filelock.FileLock`) for its whole run and says who it is in
  ``.mnist-export.owner``; a second run on the same folder stops at once,
  naming the folder and the run that holds it.
* **Our names only.** Every file this tool writes has one of the names that
  its formats declare (:func:`declare`, :func:`our_names`); files are read only when they are regular files, nothing
  is followed through a symbolic link, and only regular files at our names
  are ever deleted, so nothing outside the folder is ever written or deleted.
* **Leftovers.** A killed export leaves temporary ``.NAME.<random>.part``
  files beside complete ones; :func:`remove_leftovers` clears them.

Which files at our names are this tool's is for the folder's record to say
(:mod:`.record`); checking a finished folder is :mod:`.verify`'s job.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
import socket
import stat
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .._files import atomic_write

__all__ = ["FolderBusyError", "FolderLock", "check_no_links", "data_folders", "declare", "existing_names",
           "is_ours", "our_names", "remove_leftovers", "remove_recorded"]

log = logging.getLogger(__name__)


TOOL = "mnist_dataset_generator"
MANIFEST, LABELS, PREVIEW, SUMS = "manifest.json", "labels.csv", "preview.png", "SHA256SUMS"
LOCK, OWNER, JOURNAL = ".mnist-export.lock", ".mnist-export.owner", ".mnist-export.journal"


# ------------------------------------------------------------------ registry

# Names every export writes; each format declares its own (see :func:`declare`).
_patterns: list[str] = [re.escape(name) for name in (MANIFEST, LABELS, PREVIEW, SUMS)]
_folders: list[str] = []
_compiled: re.Pattern | None = None


def declare(patterns: Iterable[str], folders: Iterable[str] = ()) -> None:
    """Add a format's names: ``patterns`` (regular expressions of relative POSIX paths) of every file it
    writes, and the sub-``folders`` it writes them in (one level deep).

    Called by :func:`.writers.register` for each format: no other module lists a format's files.
    """
    global _compiled
    folders, patterns = list(folders), list(patterns)
    for folder in folders:
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", folder) or folder in (".", ".."):
            raise ValueError(f"a format's folder must be one plain name, got {folder!r}")
    for pattern in patterns:
        head, sep, tail = pattern.partition("/")
        if sep and (head not in (*_folders, *folders) or "/" in tail):
            raise ValueError(f"pattern {pattern!r} names a path outside the folder and its declared sub-folders "
                             f"({', '.join((*_folders, *folders)) or 'none'}): declare the sub-folder in folders")
        re.compile(pattern)
    _patterns.extend(p for p in patterns if p not in _patterns)
    _folders.extend(f for f in folders if f not in _folders)
    _compiled = None


def our_names() -> re.Pattern:
    """Every name this tool writes in a dataset folder (a recorded path must match it), as declared."""
    global _compiled
    if _compiled is None:
        _compiled = re.compile("|".join(f"(?:{p})" for p in _patterns))
    return _compiled


def is_ours(rel: str) -> bool:
    """Whether ``rel`` (relative, POSIX) is one of the names this tool writes: it matches a declared
    pattern and lies in the folder itself or in one of the declared sub-folders, never deeper."""
    head, sep, tail = rel.partition("/")
    if sep and (head not in _folders or "/" in tail):
        return False
    return our_names().fullmatch(rel) is not None


def data_folders() -> tuple[str, ...]:
    """The sub-folders formats write in (``images``, ``labels``, ...)."""
    return tuple(_folders)


class FolderBusyError(OSError):
    """Another run holds the dataset folder's lock."""


# ------------------------------------------------------------------- names


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _open_regular(path: Path):
    """``path`` opened for reading only if it is a regular file: never through a symbolic link, and
    never blocking on a FIFO or device put at one of our names (``OSError`` otherwise)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{path} is not a regular file")
    return os.fdopen(fd, "rb")


def existing_names(folder: Path) -> list[str]:
    """Paths (relative, POSIX) in ``folder`` that have one of our names, whatever they are (links too)."""
    found = []
    names = our_names()
    for prefix in ("", *(name + "/" for name in data_folders())):
        st = _lstat(folder / prefix)
        if st is None or not stat.S_ISDIR(st.st_mode) or (prefix and stat.S_ISLNK(st.st_mode)):
            continue
        with os.scandir(folder / prefix) as entries:
            found += [prefix + e.name for e in entries if names.fullmatch(prefix + e.name)]
    return sorted(found)


# ------------------------------------------------------------------- lock


@dataclass
class FolderLock:
    """The folder's lock for one run: ``FolderBusyError`` names the run already holding it."""

    folder: Path
    record_owner: bool = True  # False for a mere probe: nothing is written
    _lock: object = field(default=None, repr=False)

    def __enter__(self) -> FolderLock:
        from filelock import FileLock, Timeout

        if (st := _lstat(self.folder / LOCK)) is not None and not stat.S_ISREG(st.st_mode):
            raise FolderBusyError(f"{self.folder / LOCK} is not a regular file; remove it or use another folder")
        lock = FileLock(os.fspath(self.folder / LOCK))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise FolderBusyError(
                f"output folder {self.folder} is in use by another run ({_owner(self.folder)}); "
                "wait for it to finish, or use another folder"
            ) from None
        self._lock = lock
        if not self.record_owner:
            return self
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv),
                 "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
        try:
            with atomic_write(self.folder / OWNER, durable=False) as out:
                out.write(json.dumps(owner).encode())
        except BaseException:
            lock.release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self.record_owner:
                (self.folder / OWNER).unlink(missing_ok=True)
        finally:
            self._lock.release()


def _owner(folder: Path) -> str:
    try:
        with _open_regular(folder / OWNER) as f:  # never a FIFO or a link to /dev/zero
            owner = json.loads(f.read(4096))
        return f"pid {owner['pid']} on {owner['host']}, started {owner['started']}: {owner['command']}"
    except (OSError, ValueError, KeyError, TypeError, RecursionError):  # RecursionError: "[[[[..." nested deep
        return "its owner is not recorded"


# ------------------------------------------------------- links and leftovers


def check_no_links(folder: Path) -> None:
    """Refuse a data folder (``images``, ...) or lock that is a symbolic link: writing through it would leave
    the folder."""
    folders = data_folders()
    for name in (*folders, LOCK, OWNER, JOURNAL):
        st = _lstat(folder / name)
        if st is not None and stat.S_ISLNK(st.st_mode):
            raise ValueError(f"{folder / name} is a symbolic link; refusing to write through it (use another folder)")
        if st is None:
            continue
        if name in folders and not stat.S_ISDIR(st.st_mode):
            raise ValueError(f"{folder / name} exists and is not a folder; use another folder")
        if name not in folders and not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{folder / name} is not a regular file; remove it or use another folder")


def remove_recorded(folder: Path, records: Iterable[str]) -> None:
    """Delete recorded files (regular files at our names only, never through a link)."""
    for rel in records:
        if not is_ours(rel):
            continue
        st = _lstat(folder / rel)
        if st is not None and stat.S_ISREG(st.st_mode):
            os.unlink(folder / rel)


_PARTIAL = re.compile(r"\.(.+)\.[0-9a-f]{12}\.part")  # atomic_write's temporary name of NAME
_OWN_TEMPORARY = (OWNER, JOURNAL)  # atomic_write names them "..mnist-export.owner.<random>.part"


def remove_leftovers(folder: Path) -> None:
    """Temporary files of a killed export (``.NAME.<random>.part``, NAME one of ours) go; complete files stay."""
    for prefix in ("", *(name + "/" for name in data_folders())):
        st = _lstat(folder / prefix)
        if st is None or not stat.S_ISDIR(st.st_mode) or (prefix and stat.S_ISLNK(st.st_mode)):
            continue
        with os.scandir(folder / prefix) as entries:
            for e in entries:
                m = _PARTIAL.fullmatch(e.name)
                if m and (is_ours(prefix + m[1]) or (not prefix and m[1] in _OWN_TEMPORARY)) \
                        and e.is_file(follow_symlinks=False):
                    log.info("removing %s left by an interrupted run", e.path)
                    os.unlink(e.path)
