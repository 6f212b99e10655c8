"""What a cache folder knows to be verified: file hashing, ``SHA256SUMS``, stamps, per-file verdicts.

* A file is verified against its spec (SHA-256 of the decompressed content),
  or, when the folder's ``SHA256SUMS`` lists it, against that sum over its
  stored bytes, as ``sha256sum -c`` does (custom and test data).
* A success is remembered in ``.verified.json`` keyed by size, mtime, ctime
  and inode, so warm loads hash nothing and take no lock. The key is the
  file's identity taken (``os.fstat``) *before* its first byte was read or
  as it was written; a file whose identity changed while it was hashed, or
  whose path now names another inode, is hashed again, never stamped.
* A file that matches neither is moved aside (``NAME.damaged-<time>``), never
  deleted, and fetched again (by :func:`.cache.ensure`, under the folder's lock).

:class:`_Folder` holds one folder's sums and stamps and gives each file its
verdict; the hashing helpers (:func:`_content_digest`, :func:`_verdict`,
:func:`_written`, ...) are shared with :mod:`.download`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from .._files import atomic_write
from .idx import GZIP_MAGIC

__all__ = ["SUMS_NAME", "ChecksumError", "ForeignFileError", "read_sums"]

log = logging.getLogger(__name__)

# How many times a file that changes while it is hashed is hashed again.
_CHECKS = 3

SUMS_NAME = "SHA256SUMS"
_STAMPS_NAME = ".verified.json"
_CHUNK = 1 << 20


class ChecksumError(ValueError):
    """A file listed in a folder's ``SHA256SUMS`` does not match its sum.

    Such a file is custom data the user vouched for, so it is neither used
    nor replaced by a download: the user must restore it or fix the sums.
    """


class _Hashed(NamedTuple):
    """What hashing a file found, and the file it was found in."""

    digest: str | None  # None: the content could not be read to its end (see problem)
    stat: os.stat_result  # the open file before its first byte was read
    problem: str | None = None


class _Changed(OSError):
    """A file changed, or its path was pointed at another file, while it was hashed or put in place."""

    def __init__(self, path: Path, message: str | None = None) -> None:
        super().__init__(message or f"{path} changed while it was being verified")
        self.path = path


class _Oversized(Exception):
    """The content runs past the bytes allowed for it."""


class _Mismatch(Exception):
    """Bytes arrived (or were cached) but are not the expected content; ``why`` says how."""

    def __init__(self, why: str, digest: str | None = None) -> None:
        super().__init__(why)
        self.why, self.digest = why, digest


class ForeignFileError(ValueError):
    """A file of the folder is a known file of another glyph set: the wrong folder was given, and the
    file is left where it is (moving it aside would take it from the set it belongs to)."""


def _identity(st: os.stat_result) -> tuple[int, int, int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def _check_unchanged(path: Path, handle, before: os.stat_result) -> None:
    """Raise :class:`_Changed` unless ``handle`` and ``path`` are still the file ``before`` described."""
    try:
        now = (os.fstat(handle.fileno()), os.stat(path))
    except OSError:  # the path was removed meanwhile
        raise _Changed(path) from None
    if any(_identity(st) != _identity(before) for st in now):
        raise _Changed(path)


def _digest_stream(stream, copy_to=None, limit: int | None = None) -> str:
    """SHA-256 of what ``stream`` yields, also written to ``copy_to``: the one loop that hashes.

    At most ``limit + 1`` bytes are read, and :class:`_Oversized` is raised
    when there are more than ``limit``, so a gzip bomb is never inflated (nor
    copied) past its expected size.
    """
    import hashlib  # hashing happens on cold paths only: keep warm starts light

    sha = hashlib.sha256()
    done = 0
    while chunk := stream.read(_CHUNK if limit is None else min(_CHUNK, limit + 1 - done)):
        done += len(chunk)
        if limit is not None and done > limit:
            raise _Oversized(limit)
        sha.update(chunk)
        if copy_to is not None:
            copy_to.write(chunk)
    return sha.hexdigest()


def _content_digest(path: Path, copy_to=None, limit: int | None = None) -> _Hashed:
    """SHA-256 of the file's content, decompressed when it is gzip, with the file's identity.

    With ``copy_to`` (an open binary file), the content is also written there,
    so verifying a gzip and unpacking it cost one pass. ``digest`` is
    ``None`` when the gzip is damaged or the content exceeds ``limit`` bytes
    (``problem`` says which). Raises :class:`_Changed` when the file changed
    while it was read.
    """
    import gzip
    import zlib

    problem = None
    with open(path, "rb") as raw:
        before = os.fstat(raw.fileno())
        is_gzip = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if is_gzip else raw
        try:
            digest = _digest_stream(stream, copy_to, limit)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            log.debug("%s: damaged gzip (%s)", path, exc)
            digest, problem = None, "not a readable gzip file"
        except _Oversized:
            digest = None
            problem = f"{'inflates' if is_gzip else 'runs'} beyond the {limit} bytes expected"
        _check_unchanged(path, raw, before)  # a change while reading makes a gzip error or a digest meaningless
    return _Hashed(digest, before, problem)


def _stored_digest(path: Path) -> _Hashed:
    """SHA-256 of the file's stored bytes, with its identity; :class:`_Changed` as for :func:`_content_digest`."""
    with open(path, "rb") as raw:
        before = os.fstat(raw.fileno())
        digest = _digest_stream(raw)
        _check_unchanged(path, raw, before)
    return _Hashed(digest, before)


def _written(out) -> os.stat_result:
    """The identity of a file we wrote, once all of it is written (call before it is renamed)."""
    out.flush()
    return os.fstat(out.fileno())


def _settled(path: Path, written: os.stat_result) -> os.stat_result | None:
    """``path``'s stat if it is still the file we wrote as ``written``, renamed into place; else ``None``.

    A rename changes only the ctime, so size, mtime, inode and device must be
    as they were written; the stat returned carries the ctime a stamp needs.
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    keys = lambda s: (s.st_size, s.st_mtime_ns, s.st_ino, s.st_dev)  # noqa: E731
    return st if keys(st) == keys(written) else None


def _verdict(hashed: _Hashed, expected: str) -> str | None:
    """Why ``hashed`` is not the expected content, or ``None`` when it is."""
    if hashed.digest == expected:
        return None
    return hashed.problem or f"checksum mismatch (sha256 {hashed.digest[:12]}..., expected {expected[:12]}...)"


def read_sums(folder: Path) -> dict[str, str]:
    """``{file name: sha256}`` from ``folder``'s ``SHA256SUMS`` (``sha256sum`` format; ``{}`` without one)."""
    return _read_sums(folder)


def _read_sums(folder: Path) -> dict[str, str]:
    """``{file name: sha256}`` from the folder's ``SHA256SUMS`` (``sha256sum`` format)."""
    path = folder / SUMS_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):  # no sums, or no folder at all (yet)
        return {}
    sums = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        digest, _, name = line.partition(" ")
        name = name.lstrip(" *")  # " name" (text mode) or "*name" (binary mode)
        if len(digest) != 64 or not name or any(c not in "0123456789abcdefABCDEF" for c in digest):
            log.warning("%s line %d is not '<sha256>  <file>'; ignored", path, number)
            continue
        sums[name.removeprefix("./")] = digest.lower()
    return sums


def _stamp(st: os.stat_result, expected: str) -> list:
    # ctime and inode change whenever the file is rewritten or replaced, even
    # if its mtime is set back, so a stale stamp cannot vouch for new bytes.
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, expected]


def _read_stamps(folder: Path) -> dict[str, list]:
    try:
        data = json.loads((folder / _STAMPS_NAME).read_text(encoding="utf-8"))
        return dict(data["files"]) if data.get("version") == 1 else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):  # deep "[[[[...": no stamps
        return {}


def _write_stamps(folder: Path, stamps: dict[str, list]) -> None:
    with atomic_write(folder / _STAMPS_NAME) as out:
        out.write(json.dumps({"version": 1, "files": stamps}, indent=1).encode())


def _move_aside(path: Path, why: str) -> Path:
    import datetime

    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
        n += 1
    os.rename(path, target)
    log.warning("%s is damaged (%s); moved aside to %s", path, why, target.name)
    return target


class _Folder:
    """Verification state of one cache folder: its sums, its stamps."""

    def __init__(self, path: Path, specs: Mapping, foreign: Mapping[str, str] | None = None) -> None:
        self.path = path
        self.specs = specs
        self.foreign = foreign or {}  # sha256 -> what that file is, in another set
        self.sums = _read_sums(path)
        self.stamps = _read_stamps(path)
        self.dirty = False

    def expected(self, fname: str, name: str) -> tuple[str, bool]:
        """``(sha256, over_stored_bytes)`` that ``fname`` must match."""
        if fname in self.sums:
            return self.sums[fname], True
        spec = self.specs[name]
        return spec.sha256, getattr(spec, "stored", False)  # stored: the digest of the file's bytes as kept

    def stamped(self, name: str) -> Path | None:
        """A file for ``name`` whose verification is remembered, or ``None``; no hashing.

        An official gzip without its plain copy does not count: the locked
        path must unpack it first.
        """
        stored = getattr(self.specs[name], "stored", False)
        for fname in (name,) if stored else (name, name + ".gz"):
            if fname.endswith(".gz") and fname not in self.sums and not stored:
                continue
            try:
                st = (self.path / fname).stat()
            except OSError:
                continue
            if self.stamps.get(fname) == _stamp(st, self.expected(fname, name)[0]):
                return self.path / fname
        return None

    def remember(self, path: Path, expected: str, st: os.stat_result | None) -> None:
        """Stamp ``path`` as verified, keyed by ``st``: the identity it had when hashed or written.

        ``st=None`` (the file changed since) stamps nothing and drops an older stamp.
        """
        if st is None:
            log.warning("%s changed after it was verified; it will be checked again", path)
            self.stamps.pop(path.name, None)
        else:
            self.stamps[path.name] = _stamp(st, expected)
        self.dirty = True

    def remember_official(self, name: str, written: Mapping[Path, os.stat_result]) -> None:
        """Remember freshly written official files (``{path: identity as written}``) still as written."""
        for path, st in written.items():
            self.remember(path, self.specs[name].sha256, _settled(path, st))

    def verify(self, name: str, *, writable: bool) -> Path | None:
        """A verified file for ``name``, hashing what is not stamped.

        Damaged files are moved aside when ``writable``; otherwise a damaged
        file raises. An official gzip is unpacked beside itself on first use
        (when ``writable``), so later loads memory-map the plain copy. A file
        that changes while it is hashed is hashed again (:data:`_CHECKS`
        times in all), never stamped on the strength of bytes it no longer holds.
        """
        for _ in range(_CHECKS):
            if (found := self.stamped(name)) is not None:
                return found
            try:
                return self._verify_unstamped(name, writable=writable)
            except _Changed as exc:
                changed = exc.path
                log.warning("%s changed while it was being verified; checking it again", changed)
        raise _Changed(
            changed,
            f"{changed} kept changing while it was being verified ({_CHECKS} tries); "
            f"another program is writing to it: stop it, or use another data_home",
        )

    def _verify_unstamped(self, name: str, *, writable: bool) -> Path | None:
        stored = getattr(self.specs[name], "stored", False)
        for fname in (name,) if stored else (name, name + ".gz"):
            path = self.path / fname
            if not path.is_file():
                continue
            want, over_stored = self.expected(fname, name)
            if over_stored:
                hashed = _stored_digest(path)
                if hashed.digest == want:
                    if fname in self.sums:
                        log.info("%s: custom data, verified by %s", path, SUMS_NAME)
                    if writable:
                        self.remember(path, want, hashed.stat)
                    return path
                if fname in self.sums:
                    raise ChecksumError(
                        f"{path} does not match {self.path / SUMS_NAME}: sha256 {hashed.digest}, "
                        f"listed {want}; restore the file or update {SUMS_NAME}"
                    )
                why = _verdict(hashed, want)  # an archive kept as published: damaged, fetched again
                digest = hashed.digest
            elif fname.endswith(".gz") and writable:
                try:
                    return self.unpack(path)
                except _Mismatch as exc:
                    why, digest = exc.why, exc.digest
            else:
                hashed = _content_digest(path, limit=self.specs[name].size)
                if (why := _verdict(hashed, want)) is None:
                    if writable:
                        self.remember(path, want, hashed.stat)
                    return path
                digest = hashed.digest
            if (what := self._foreign_of(path, digest)) is not None:
                raise ForeignFileError(f"{path} is {what}, not the file asked for: {self.path} is "
                                       "another set's folder (left as it is); give the folder of this set's files")
            if not writable:
                raise PermissionError(
                    f"{path} is damaged ({why}) and its folder {self.path} is not writable; "
                    f"replace it or use another data_home"
                )
            _move_aside(path, why)
        return None

    def _foreign_of(self, path: Path, digest: str | None) -> str | None:
        """What ``path`` is in another set, if its stored bytes or (a gzip) its content are a known file of
        one (``digest``: the one already computed). Only when some are known: a cold path."""
        if not self.foreign:
            return None
        if digest in self.foreign:
            return self.foreign[digest]
        for hashed in (_stored_digest(path), _content_digest(path)):
            if hashed.digest in self.foreign:
                return self.foreign[hashed.digest]
        return None

    def unpack(self, gz_path: Path) -> Path:
        """Decompress an official ``NAME.gz`` to a verified, stamped ``NAME``.

        Raises :class:`_Mismatch` when the content is not the expected one (no
        more than its expected size is ever written), :class:`_Changed` when
        either file changed meanwhile.
        """
        name = gz_path.name.removesuffix(".gz")
        spec = self.specs[name]
        raw = self.path / name
        with atomic_write(raw) as out:
            hashed = _content_digest(gz_path, copy_to=out, limit=spec.size)
            if (why := _verdict(hashed, spec.sha256)) is not None:
                raise _Mismatch(why, hashed.digest)
            written = _written(out)
        self.remember(gz_path, spec.sha256, hashed.stat)
        if (st := _settled(raw, written)) is None:
            raise _Changed(raw)
        self.remember(raw, spec.sha256, st)
        return raw

