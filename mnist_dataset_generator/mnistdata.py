"""The MNIST files: table, mirrors, cache folder, and the public ``load``.

Layout of a cache folder (default ``~/generator_numbers_seq_mnist``)::

    train-images-idx3-ubyte.gz   as downloaded
    train-images-idx3-ubyte      verified uncompressed copy, memory-mapped by load()
    ...
    .verified.json               which files were verified (keyed by size, mtime, ctime, inode)
    .lock                        held while anything in the folder is written

Every file is checked against :data:`FILES` (SHA-256 of the *decompressed*
bytes) before use, unless the folder's ``SHA256SUMS`` declares it (custom or
test data, checked over the stored bytes as ``sha256sum -c`` does). A file
that matches neither is moved aside, never deleted, and fetched again.
Downloads go to a temporary name in the folder, are verified, then renamed,
all under a :class:`filelock.FileLock`, so a killed process or two cold
starts never leave an unverified file under a final name. Each file's
download has a deadline (``deadline=``, else
``$GENERATOR_NUMBERS_SEQ_MNIST_DEADLINE``, else 600 s) over all mirrors and
retries, and a mirror that trickles (below 1 KiB/s over 30 s), sends more
than the file can be, or serves a gzip inflating past it, is left for the
next one. The mechanics live in :mod:`.sources.cache`, :mod:`.sources.verified` and
:mod:`.sources.download`, the glyph source :class:`MnistData` in :mod:`.sources.glyphs`; this module
holds the MNIST specifics and the public API.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from ._progress import ProgressArg, check_progress
from .sources.cache import (
    ENV_DATA_HOME,
    ENV_DEADLINE,
    ENV_MIRRORS,
    DownloadError,
    ensure,
)
from .sources.glyphs import MnistData
from .sources.idx import IdxFormatError
from .sources.sets import MNIST, SETS, FileSpec, GlyphSet, glyph_set, read_split
from .sources.testdata import write_test_data
from .sources.verified import ChecksumError

__all__ = [
    "DEFAULT_DATA_HOME",
    "ENV_DATA_HOME",
    "ENV_DEADLINE",
    "ENV_MIRRORS",
    "FILES",
    "MIRRORS",
    "SETS",
    "SPLITS",
    "ChecksumError",
    "DownloadError",
    "FileSpec",
    "HTTPDownloader",  # noqa: F822 - provided lazily by the module __getattr__
    "IdxFormatError",
    "MnistData",
    "fetch",
    "get_data_home",
    "load",
    "source_home",
    "write_test_data",
]

log = logging.getLogger(__name__)


def __getattr__(name: str):
    # HTTPDownloader pulls in urllib and http.client; load it only when asked for.
    if name == "HTTPDownloader":
        from .sources.http import HTTPDownloader

        return HTTPDownloader
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

Downloader = Callable[[str, object, Callable], object]

DEFAULT_DATA_HOME = "~/generator_numbers_seq_mnist"

# MNIST's, as earlier versions named them (the module's own: its loads read these names)
MIRRORS = MNIST.mirrors
FILES: dict[str, FileSpec] = MNIST.files
SPLITS: dict[str, tuple[str, str]] = MNIST.splits


# ---------------------------------------------------------------- arguments


def get_data_home(data_home: str | os.PathLike | None = None) -> Path:
    """The cache folder: ``data_home``, else ``$GENERATOR_NUMBERS_SEQ_MNIST_DIR``,
    else ``~/generator_numbers_seq_mnist``; ``~`` and ``$VARS`` expanded.

    The folder is not created here.

    Examples
    --------
    >>> get_data_home("/tmp/mnist-cache")
    PosixPath('/tmp/mnist-cache')
    """
    raw = data_home if data_home is not None else (os.environ.get(ENV_DATA_HOME) or DEFAULT_DATA_HOME)
    text = os.path.expandvars(os.path.expanduser(os.fspath(raw)))
    if not text.strip():
        raise ValueError("data_home must name a folder, got an empty string")
    return Path(text).absolute()


def _mirror_list(mirrors: str | Sequence[str] | None, glyphs: GlyphSet = MNIST) -> list[str]:
    """Base URLs from ``mirrors``, else (MNIST) the env var, else the set's own (:data:`MIRRORS` for MNIST).

    A comma-separated string is split; a plain folder path becomes ``file://``.
    """
    if mirrors is None:
        mirrors = (os.environ.get(ENV_MIRRORS) or MIRRORS) if glyphs is MNIST else glyphs.mirrors
    if isinstance(mirrors, str):
        mirrors = mirrors.split(",")
    bases = []
    for entry in mirrors:
        entry = os.fspath(entry).strip()
        if not entry:
            continue
        scheme = urlsplit(entry).scheme.lower()
        if len(scheme) <= 1:  # no scheme (or a Windows drive letter): a local folder
            entry = Path(os.path.expanduser(entry)).absolute().as_uri()
        elif scheme not in ("https", "http", "file"):
            raise ValueError(
                f"mirrors: {entry!r} has scheme {scheme!r}; use https://, http:// or file:// "
                "base URLs, or a folder path"
            )
        bases.append(entry if entry.endswith("/") else entry + "/")
    if not bases:
        raise ValueError(f"mirrors: no mirror given (got {mirrors!r})")
    return bases


def _check_deadline(deadline: float | None) -> float | None:
    """Seconds allowed per file: ``deadline``, else ``$GENERATOR_NUMBERS_SEQ_MNIST_DEADLINE``, else
    ``None`` (the store's default, 600 s).

    Examples
    --------
    >>> _check_deadline(90)
    90.0
    """
    if deadline is not None:
        if isinstance(deadline, bool) or not isinstance(deadline, numbers.Real) or not (
                math.isfinite(deadline) and deadline > 0):
            raise ValueError(f"deadline must be a positive finite number of seconds, in (0, inf), got {deadline!r}")
        return float(deadline)
    text = os.environ.get(ENV_DEADLINE, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{ENV_DEADLINE} must be a positive finite number of seconds, in (0, inf), got {text!r}")
    return value


def source_home(data_home: str | os.PathLike | None, glyphs: GlyphSet) -> Path:
    """The folder of a glyph set's files: ``data_home`` as given, else the cache folder
    (:func:`get_data_home`), or its subfolder named after the set (all but MNIST).

    Examples
    --------
    >>> source_home(None, SETS["fashion"]) == get_data_home() / "fashion"
    True
    >>> source_home("/data/fashion-mnist", SETS["fashion"])
    PosixPath('/data/fashion-mnist')
    """
    folder = get_data_home(data_home)
    return folder / glyphs.subfolder if data_home is None and glyphs.subfolder else folder


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    return split


# ------------------------------------------------------------------- load


_LOADED: dict[tuple[str, str], MnistData] = {}
_LOAD_LOCK = threading.Lock()


def fetch(
    splits: Sequence[str] = ("train", "test"),
    data_home: str | os.PathLike | None = None,
    mirrors: str | Sequence[str] | None = None,
    progress: ProgressArg = None,
    *,
    downloader: Downloader | None = None,
    deadline: float | None = None,
    source: str = "mnist",
) -> Path:
    """Make sure the files of ``splits`` are in the cache and verified.

    Useful to warm a shared cache before starting many jobs.

    Parameters
    ----------
    splits : sequence of {"train", "test"}
    data_home, mirrors, progress, downloader, deadline, source
        As for :func:`load`.

    Returns
    -------
    pathlib.Path
        The cache folder.

    Raises
    ------
    DownloadError
        No mirror delivered a verified copy (in time).
    PermissionError
        The folder cannot be written and a file is missing there.
    ValueError
        Bad ``splits``, ``mirrors`` or ``deadline`` (or its environment variable).
    """
    glyphs = glyph_set(source)
    if isinstance(splits, str):
        splits = (splits,)
    names = list(dict.fromkeys(name for split in splits for name in glyphs.splits[_check_split(split)]))
    seconds = _check_deadline(deadline)
    folder = source_home(data_home, glyphs)
    _ensure(folder, names, mirrors, True, progress, downloader, seconds, glyphs)
    return folder


def _ensure(folder, names, mirrors, download, progress, downloader, deadline, glyphs: GlyphSet = MNIST
            ) -> dict[str, Path]:
    """Validate the arguments, then have the store produce verified files for ``names``."""
    bases = _mirror_list(mirrors, glyphs)
    check_progress(progress)
    foreign = {digest: f"{other.name}'s {spec.name}" for other in SETS.values() if other is not glyphs
               for spec in other.files.values() for digest in (spec.sha256, spec.gz_sha256) if digest}
    # ... another set's files are never moved aside as damaged: refused
    return ensure(
        folder, {name: (FILES if glyphs is MNIST else glyphs.files)[name] for name in names}, mirrors=bases,
        download=download,
        progress=progress, downloader=downloader, deadline=deadline, foreign=foreign,
    )


def load(
    split: str = "train",
    data_home: str | os.PathLike | None = None,
    mirrors: str | Sequence[str] | None = None,
    download: bool = True,
    progress: ProgressArg = None,
    *,
    downloader: Downloader | None = None,
    deadline: float | None = None,
    source: str = "mnist",
) -> MnistData:
    """Load one split of a glyph set (MNIST by default), downloading and verifying it on first use.

    Parameters
    ----------
    split : {"train", "test"}
    data_home : str or os.PathLike, optional
        The folder holding the files; default ``$GENERATOR_NUMBERS_SEQ_MNIST_DIR``
        or ``~/generator_numbers_seq_mnist`` (for another set, its subfolder there, e.g.
        ``fashion``). A folder with a ``SHA256SUMS`` file may hold custom IDX data (see
        :func:`write_test_data`).
    mirrors : str or sequence of str, optional
        Base URLs tried in order (comma-separated in a string; ``https://``,
        ``http://``, ``file://`` or a folder path). Default
        ``$GENERATOR_NUMBERS_SEQ_MNIST_MIRRORS`` or :data:`MIRRORS` (for another set, its own).
    download : bool
        ``False`` raises :class:`FileNotFoundError` instead of downloading.
    progress : None, bool or callable
        ``None``: a tqdm bar on stderr when it is a terminal; ``False``: none;
        a callable receives ``(done_bytes, total_bytes_or_None)`` per file.
    downloader : callable, optional
        ``downloader(url, dest, report)`` writing the body to ``dest``;
        default :class:`HTTPDownloader` (10 s connect, 30 s read timeouts).
    deadline : float, in (0, inf), optional
        Seconds allowed to download each file, all mirrors and retries
        together; default ``$GENERATOR_NUMBERS_SEQ_MNIST_DEADLINE`` or 600.
        Checked as bytes arrive, so a silent connection may overrun it by the
        read timeout. Whatever the deadline, a mirror slower than 1024
        bytes/s over 30 s, or sending more bytes than the file can be, is
        left for the next.
    source : str, default "mnist"
        The glyph set: one of :data:`.sources.sets.SETS` (``mnist``, ``fashion``), or a folder of
        your own glyphs (:mod:`.sources.folder`; then without ``data_home``).

    Returns
    -------
    MnistData
        Read-only arrays; plain cached files are memory-mapped. The result is
        kept for the life of the process, so a second call is free.

    Raises
    ------
    ValueError
        Bad ``split``, ``mirrors`` or ``deadline`` (or its environment variable).
    DownloadError
        No mirror delivered a verified copy in time (message lists each URL and why).
    FileNotFoundError
        ``download=False`` and a file is missing.
    ChecksumError
        A file listed in the folder's ``SHA256SUMS`` does not match it.
    IdxFormatError
        A verified file is nonetheless not usable MNIST data (custom data).

    Examples
    --------
    >>> import tempfile
    >>> folder = write_test_data(tempfile.mkdtemp(), count_train=50, count_test=20)
    >>> data = load("test", data_home=folder)
    >>> data.images.shape, data.images.dtype.name
    ((20, 28, 28), 'uint8')
    """
    from .sources.folder import is_glyph_folder, load_folder, resolve

    source = resolve(source)
    _check_split(split)
    if is_glyph_folder(source):
        if data_home is not None:
            raise ValueError(f"give data_home (a folder of a built-in set's files) or a glyph folder as source, not "
                             f"both (got {os.fspath(data_home)!r} and {source!r})")
        from .sources.folder import folder_alphabet

        with _LOAD_LOCK:
            key = (source, split, folder_alphabet(source))  # classes renamed since: loaded again
            if (data := _LOADED.get(key)) is None:
                data = _LOADED[key] = load_folder(source, split)
            return data
    glyphs = glyph_set(source)
    seconds = _check_deadline(deadline)
    folder = source_home(data_home, glyphs)
    key = (os.fspath(folder), split, glyphs.name)
    with _LOAD_LOCK:
        if (data := _LOADED.get(key)) is not None:
            return data
        started = time.perf_counter()
        images_name, labels_name = glyphs.splits[split]
        paths = _ensure(folder, tuple(dict.fromkeys((images_name, labels_name))), mirrors, download, progress,
                        downloader, seconds, glyphs)
        images, labels = read_split(glyphs, paths, split)
        data = MnistData(images, labels, split=split, source=os.fspath(folder), alphabet=glyphs.alphabet)
        _LOADED[key] = data
        log.debug("loaded %s split from %s in %.3f s", split, folder, time.perf_counter() - started)
        return data

