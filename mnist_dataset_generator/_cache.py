"""A folder of verified files: check, remember, repair, download, lock.

The store knows files only through their specs (name, decompressed size and
SHA-256): :mod:`.mnistdata` owns the MNIST table and the public API.

* A file is verified against its spec (SHA-256 of the decompressed content),
  or, when the folder's ``SHA256SUMS`` lists it, against that sum over its
  stored bytes, as ``sha256sum -c`` does (custom and test data).
* A success is remembered in ``.verified.json`` keyed by size, mtime, ctime
  and inode, so warm loads hash nothing and take no lock.
* A file that matches neither is moved aside (``NAME.damaged-<time>``), never
  deleted, and fetched again.
* Everything that writes happens under ``filelock.FileLock(folder/.lock)``;
  downloads go to a temporary name, are verified, then renamed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from pathlib import Path
from collections.abc import Callable, Mapping

from ._files import atomic_write, commit, new_temp, remove_partials
from ._progress import ProgressArg, Reporter
from .idx import GZIP_MAGIC

__all__ = ["ChecksumError", "DownloadError", "ENV_DATA_HOME", "ENV_MIRRORS", "ensure"]

log = logging.getLogger(__name__)

Downloader = Callable[[str, object, Callable], object]

ENV_DATA_HOME = "GENERATOR_NUMBERS_SEQ_MNIST_DIR"
ENV_MIRRORS = "GENERATOR_NUMBERS_SEQ_MNIST_MIRRORS"

# Seconds to wait before the single retry of a mirror after a transient failure.
RETRY_DELAY = 1.0

SUMS_NAME = "SHA256SUMS"
_STAMPS_NAME = ".verified.json"
_LOCK_NAME = ".lock"
_CHUNK = 1 << 20


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
        lines.append(
            f"set {ENV_MIRRORS} (file:// works) or put the files in {folder}"
        )
        super().__init__("\n".join(lines))

    def __reduce__(self):  # keep it picklable across worker processes
        return (type(self), (self.name, self.attempts, self.folder))


class ChecksumError(ValueError):
    """A file listed in a folder's ``SHA256SUMS`` does not match its sum.

    Such a file is custom data the user vouched for, so it is neither used
    nor replaced by a download: the user must restore it or fix the sums.
    """


def _content_digest(path: Path, copy_to=None) -> str | None:
    """SHA-256 of the file's content, decompressed when it is gzip.

    With ``copy_to`` (an open binary file), the content is also written there,
    so verifying a gzip and unpacking it cost one pass. ``None`` when the gzip
    is damaged.
    """
    import gzip  # hashing happens on cold paths only: keep warm starts light
    import hashlib
    import zlib

    sha = hashlib.sha256()
    with open(path, "rb") as raw:
        is_gzip = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if is_gzip else raw
        try:
            while chunk := stream.read(_CHUNK):
                sha.update(chunk)
                if copy_to is not None:
                    copy_to.write(chunk)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            log.debug("%s: damaged gzip (%s)", path, exc)
            return None
    return sha.hexdigest()


def _stored_digest(path: Path) -> str:
    import hashlib

    sha = hashlib.sha256()
    with open(path, "rb") as raw:
        while chunk := raw.read(_CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


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
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
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

    def __init__(self, path: Path, specs: Mapping) -> None:
        self.path = path
        self.specs = specs
        self.sums = _read_sums(path)
        self.stamps = _read_stamps(path)
        self.dirty = False

    def expected(self, fname: str, name: str) -> tuple[str, bool]:
        """``(sha256, over_stored_bytes)`` that ``fname`` must match."""
        if fname in self.sums:
            return self.sums[fname], True
        return self.specs[name].sha256, False

    def stamped(self, name: str) -> Path | None:
        """A file for ``name`` whose verification is remembered, or ``None``; no hashing.

        An official gzip without its plain copy does not count: the locked
        path must unpack it first.
        """
        for fname in (name, name + ".gz"):
            if fname.endswith(".gz") and fname not in self.sums:
                continue
            try:
                st = (self.path / fname).stat()
            except OSError:
                continue
            if self.stamps.get(fname) == _stamp(st, self.expected(fname, name)[0]):
                return self.path / fname
        return None

    def remember(self, path: Path, expected: str) -> None:
        self.stamps[path.name] = _stamp(path.stat(), expected)
        self.dirty = True

    def remember_official(self, name: str) -> Path:
        """Remember a freshly verified plain copy and, if kept, its gzip; return the plain copy."""
        raw = self.path / name
        self.remember(raw, self.specs[name].sha256)
        if (gz := self.path / (name + ".gz")).exists():
            self.remember(gz, self.specs[name].sha256)
        return raw

    def verify(self, name: str, *, writable: bool) -> Path | None:
        """A verified file for ``name``, hashing what is not stamped.

        Damaged files are moved aside when ``writable``; otherwise a damaged
        file raises. An official gzip is unpacked beside itself on first use
        (when ``writable``), so later loads memory-map the plain copy.
        """
        if (found := self.stamped(name)) is not None:
            return found
        for fname in (name, name + ".gz"):
            path = self.path / fname
            if not path.is_file():
                continue
            want, over_stored = self.expected(fname, name)
            if over_stored:
                got = _stored_digest(path)
                if got != want:
                    raise ChecksumError(
                        f"{path} does not match {self.path / SUMS_NAME}: sha256 {got}, "
                        f"listed {want}; restore the file or update {SUMS_NAME}"
                    )
                log.info("%s: custom data, verified by %s", path, SUMS_NAME)
                if writable:
                    self.remember(path, want)
                return path
            if fname.endswith(".gz") and writable:
                if (raw := self.unpack(path)) is not None:
                    return raw
                why = "content does not match the MNIST table"
            else:
                got = _content_digest(path)
                if got == want:
                    if writable:
                        self.remember(path, want)
                    return path
                why = "not gzip-readable" if got is None else f"sha256 {got[:12]}..., expected {want[:12]}..."
            if not writable:
                raise PermissionError(
                    f"{path} is damaged ({why}) and its folder {self.path} is not writable; "
                    f"replace it or use another data_home"
                )
            _move_aside(path, why)
        return None

    def unpack(self, gz_path: Path) -> Path | None:
        """Decompress an official ``NAME.gz`` to a verified ``NAME``; ``None`` if it does not verify."""
        name = gz_path.name.removesuffix(".gz")
        want = self.specs[name].sha256
        raw = self.path / name
        try:
            with atomic_write(raw) as out:
                if (digest := _content_digest(gz_path, copy_to=out)) != want:
                    raise _Mismatch(digest)
        except _Mismatch:
            return None
        return self.remember_official(name)


# --------------------------------------------------------------- download


def _fetch_one(folder: Path, spec, mirrors: list[str], downloader: Downloader | None, progress: ProgressArg) -> Path:
    """Download ``spec.name`` from the first mirror that delivers verified bytes; return the plain copy.

    ``downloader=None`` means :class:`._http.HTTPDownloader` (imported only now:
    a warm start never pays for urllib).
    """
    from . import _http

    downloader = downloader or _http.HTTPDownloader()
    attempts: list[tuple[str, str]] = []
    for base in mirrors:
        url = base + spec.name + ".gz"
        for attempt in (1, 2):
            try:
                path = _download_verified(folder, spec, url, downloader, progress)
                log.info("downloaded %s from %s", spec.name, url)
                return path
            except _LocalWriteError as exc:
                raise exc.__cause__ from None  # the disk, not the mirror: stop here
            except _Mismatch as exc:
                reason = "not a readable gzip file" if exc.digest is None else (
                    f"checksum mismatch (sha256 {exc.digest[:12]}..., expected {spec.sha256[:12]}...)"
                )
                retry = False
            except Exception as exc:  # noqa: BLE001 - any downloader fault is recorded
                reason = _http.describe(exc, downloader)
                retry = attempt == 1 and _http.is_transient(exc)
            attempts.append((url, reason))
            log.warning("%s: %s%s", url, reason, "; retrying" if retry else "")
            if not retry:
                break
            time.sleep(RETRY_DELAY)
    raise DownloadError(spec.name, attempts, folder)


class _Mismatch(Exception):
    """Bytes arrived but are not the expected content (``digest`` None: not readable gzip)."""

    def __init__(self, digest: str | None) -> None:
        super().__init__(digest)
        self.digest = digest


class _LocalWriteError(Exception):
    """Writing in the cache folder failed: a local disk fault, not the mirror's."""


@contextlib.contextmanager
def _local():
    try:
        yield
    except OSError as exc:
        raise _LocalWriteError() from exc


class _Sink:
    """The file a downloader writes to; tags local write errors as such."""

    def __init__(self, out) -> None:
        self._out = out

    def write(self, data) -> int:
        with _local():
            return self._out.write(data)


def _download_verified(folder: Path, spec, url: str, downloader: Downloader, progress) -> Path:
    """One attempt: download to a temporary file, unpack and verify, then rename.

    Returns the verified plain copy; raises :class:`_Mismatch` when the bytes
    arrived but are wrong. Nothing appears under a final name unless verified.
    """
    with _local():
        gz_tmp, gz_out = new_temp(folder, spec.name + ".gz")
    report = Reporter(progress, desc=spec.name)
    raw = folder / spec.name
    try:
        with gz_out:
            downloader(url, _Sink(gz_out), report)  # mirror faults surface here
            report.close()
            with _local():
                gz_out.flush()
                with atomic_write(raw) as raw_out:
                    digest = _content_digest(gz_tmp, copy_to=raw_out)
                    if digest != spec.sha256:
                        raise _Mismatch(digest)
                with open(gz_tmp, "rb") as check:
                    was_gzip = check.read(2) == GZIP_MAGIC
                if was_gzip:  # keep the download as it came, beside the plain copy
                    commit(gz_tmp, gz_out, folder / (spec.name + ".gz"))
        return raw
    finally:
        report.close()
        gz_tmp.unlink(missing_ok=True)


def ensure(
    folder: Path,
    specs: Mapping,
    *,
    mirrors: list[str],
    download: bool,
    progress: ProgressArg,
    downloader: Downloader | None,
) -> dict[str, Path]:
    """Verified paths for every spec in ``specs`` (name -> spec), fetching what is missing or damaged.

    ``mirrors`` are validated base URLs; the file URL is ``base + name + ".gz"``.
    """
    names = list(specs)
    state = _Folder(folder, specs)
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
        return _ensure_read_only(folder, specs, exc)
    with lock:
        remove_partials(folder)
        state = _Folder(folder, specs)  # another process may have done the work meanwhile
        paths = {}
        for name in names:
            path = state.verify(name, writable=True)
            if path is None:
                if not download:
                    raise FileNotFoundError(
                        f"{name} in {folder} was damaged and moved aside, and download=False"
                    )
                _fetch_one(folder, specs[name], mirrors, downloader, progress)
                path = state.remember_official(name)
            paths[name] = path
        if state.dirty:
            _write_stamps(folder, state.stamps)
    return paths


def _lock(folder: Path):
    from filelock import FileLock, Timeout

    lock = FileLock(os.fspath(folder / _LOCK_NAME))
    try:
        return lock.acquire(timeout=0)  # a context manager that releases on exit
    except Timeout:
        log.info("waiting for another process to finish with %s", folder)
        return lock.acquire()


def _ensure_read_only(folder: Path, specs: Mapping, cause: OSError) -> dict[str, Path]:
    """Verify in place, writing nothing, when ``folder`` cannot be written."""
    if not folder.is_dir():  # same error class as the cause: missing parent, no permission...
        raise type(cause)(
            f"cannot create the MNIST folder {folder} ({cause.strerror or cause}); "
            f"set {ENV_DATA_HOME} or data_home to a writable folder"
        ) from cause
    log.debug("%s is not writable (%s); verifying in place", folder, cause)
    state = _Folder(folder, specs)
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
