"""IDX bytes <-> NumPy arrays.

The IDX format (LeCun et al., the MNIST distribution) is a 4-byte magic number
(two zero bytes, a type code, the number of dimensions), one big-endian
``uint32`` per dimension, then the payload in C order, big-endian.

This module knows nothing of networks or caches: it turns bytes or a file
(plain or gzip) into an array and back, and raises :class:`IdxFormatError`
naming the file and what is wrong for anything malformed.
"""

from __future__ import annotations

import logging
import os
from typing import BinaryIO, Union

import numpy as np

from .._limits import ENV_MEMORY_BUDGET, format_bytes, memory_budget

__all__ = ["IdxFormatError", "decode_idx", "encode_idx", "read_idx", "write_idx"]

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]

# type code -> big-endian dtype, as listed in the MNIST page's format section.
_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in _DTYPES.items()}

GZIP_MAGIC = b"\x1f\x8b"
# DEFLATE cannot expand data by more than ~1032:1, so a gzip whose header
# declares more than this many bytes per compressed byte is lying; refusing it
# up front keeps a tiny hostile file from making us read (and allocate) gigabytes.
_MAX_DEFLATE_RATIO = 1032
_CHUNK = 1 << 20


class IdxFormatError(ValueError):
    """A file or buffer that is not well-formed IDX data.

    The message names the file (when known) and what is wrong with it.
    """


def _where(name: str | None) -> str:
    return f"{name}: " if name else ""


def _parse_header(head: bytes, name: str | None) -> tuple[np.dtype, tuple[int, ...], int]:
    """Return ``(dtype, shape, header_length)`` from the first bytes of an IDX file.

    ``head`` must hold at least the 4 magic bytes; when it is too short for the
    dimensions the error says so.
    """
    where = _where(name)
    if len(head) < 4:
        raise IdxFormatError(f"{where}truncated IDX header: {len(head)} bytes, need at least 4")
    if head[0] != 0 or head[1] != 0:
        raise IdxFormatError(
            f"{where}not an IDX file: magic must start with two zero bytes, "
            f"got {head[:4].hex()}"
        )
    code, ndim = head[2], head[3]
    if code not in _DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _DTYPES)
        raise IdxFormatError(f"{where}unknown IDX type code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise IdxFormatError(f"{where}IDX header declares 0 dimensions")
    header_len = 4 + 4 * ndim
    if len(head) < header_len:
        raise IdxFormatError(
            f"{where}truncated IDX header: {ndim} dimensions need {header_len} bytes, "
            f"got {len(head)}"
        )
    shape = tuple(int.from_bytes(head[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return _DTYPES[code], shape, header_len


def _payload_size(dtype: np.dtype, shape: tuple[int, ...]) -> int:
    size = dtype.itemsize
    for dim in shape:  # Python ints: no overflow for absurd headers
        size *= dim
    return size


def _check_length(
    dtype: np.dtype, shape: tuple[int, ...], found: int, name: str | None, at_least: bool = False
) -> None:
    """Raise unless exactly the declared payload follows the header."""
    expected = _payload_size(dtype, shape)
    if found != expected:
        amount = f"more than {expected}" if at_least else str(found)
        raise IdxFormatError(
            f"{_where(name)}IDX header declares shape {shape} of {dtype.name} "
            f"({expected} payload bytes) but {amount} bytes follow the header"
        )


def _check_budget(dtype: np.dtype, shape: tuple[int, ...], name: str | None) -> None:
    """Refuse, before it is read, a payload beyond the memory budget (see :func:`._limits.memory_budget`).

    Checksums over stored bytes (a folder's SHA256SUMS) vouch for a gzip file
    before it is decompressed: a small file may still declare gigabytes.
    """
    expected = _payload_size(dtype, shape)
    budget, why = memory_budget()
    if expected > budget:
        if not why.startswith("set by"):
            why += f"; set {ENV_MEMORY_BUDGET} to read larger files"
        raise IdxFormatError(
            f"{_where(name)}IDX header declares shape {shape} of {dtype.name}: {format_bytes(expected)} "
            f"to read, more than the memory budget of {format_bytes(budget)} ({why})"
        )


def _to_array(payload, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.frombuffer(payload, dtype=dtype).reshape(shape)
    if dtype.byteorder == ">":  # hand callers native-endian numbers
        arr = arr.astype(dtype.newbyteorder("="))
    return arr


def decode_idx(data: bytes | bytearray | memoryview, name: str | None = None) -> np.ndarray:
    """Decode IDX bytes (not gzip) into an array.

    Parameters
    ----------
    data : bytes-like
        The whole IDX file content.
    name : str, optional
        Shown in error messages.

    Returns
    -------
    numpy.ndarray
        Shaped as the header declares, native byte order. For ``uint8``
        data the array is a read-only view of ``data`` (no copy).

    Raises
    ------
    IdxFormatError
        Bad magic, unknown type, or a payload whose length disagrees with the
        header; checked before anything is allocated.

    Examples
    --------
    >>> arr = decode_idx(encode_idx(np.arange(6, dtype=np.uint8).reshape(2, 3)))
    >>> arr.shape, arr.dtype.name
    ((2, 3), 'uint8')
    """
    view = memoryview(data).cast("B")
    dtype, shape, header_len = _parse_header(bytes(view[: 4 + 4 * 255]), name)
    _check_length(dtype, shape, len(view) - header_len, name)
    return _to_array(view[header_len:], dtype, shape)


def _read_exact(stream: BinaryIO, size: int) -> bytes:
    """Read up to ``size`` bytes, in chunks, so memory grows only with real data."""
    chunks = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(min(remaining, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_idx(path: PathLike, *, mmap: bool = False) -> np.ndarray:
    """Read an IDX file, plain or gzip-compressed (detected by content).

    Parameters
    ----------
    path : str or os.PathLike
        File to read.
    mmap : bool
        Memory-map a plain (not gzip) file of single-byte values instead of
        reading it: near-instant, and worker processes share the pages. The
        array is read-only. Ignored for gzip or multi-byte data.

    Returns
    -------
    numpy.ndarray
        Shaped as the file's header declares, native byte order.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    IdxFormatError
        The file is not valid IDX (or not valid gzip). Declared sizes are
        checked against what the file can hold, and (for what is read, not
        memory-mapped) against the memory budget, before the payload is read.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x-idx1-ubyte.gz"
    >>> write_idx(p, np.array([3, 1, 4], dtype=np.uint8))
    >>> read_idx(p).tolist()
    [3, 1, 4]
    """
    import gzip  # here, not at the top: memory-mapped plain files (warm starts) never need it
    import zlib

    name = os.fspath(path)
    with open(path, "rb") as raw:
        magic = raw.read(2)
        raw.seek(0)
        stored = os.fstat(raw.fileno()).st_size
        if magic != GZIP_MAGIC:
            head = raw.read(4)
            head += raw.read(4 * head[3]) if len(head) == 4 else b""
            dtype, shape, header_len = _parse_header(head, name)
            if mmap and dtype.itemsize == 1:  # mapped, not read: no memory of ours to budget
                _check_length(dtype, shape, stored - header_len, name)
                if _payload_size(dtype, shape) == 0:
                    return np.zeros(shape, dtype)
                # np.asarray drops the memmap subclass; the mapping lives on in .base
                return np.asarray(
                    np.memmap(raw, dtype=dtype, mode="r", offset=header_len, shape=shape)
                )
            _check_budget(dtype, shape, name)
            raw.seek(0)
            return decode_idx(raw.read(), name)
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                head = gz.read(4)
                if len(head) == 4:
                    head += gz.read(4 * head[3])
                dtype, shape, header_len = _parse_header(head, name)
                expected = _payload_size(dtype, shape)
                if expected > _MAX_DEFLATE_RATIO * stored:
                    raise IdxFormatError(
                        f"{name}: IDX header declares shape {shape} ({expected} payload "
                        f"bytes), more than a {stored}-byte gzip file can hold"
                    )
                _check_budget(dtype, shape, name)
                payload = _read_exact(gz, expected + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise IdxFormatError(f"{name}: damaged gzip data ({exc})") from exc
    _check_length(dtype, shape, len(payload), name, at_least=len(payload) > expected)
    return _to_array(payload, dtype, shape)


def encode_idx(array: np.ndarray) -> bytes:
    """Encode an array as IDX bytes (not compressed).

    Parameters
    ----------
    array : numpy.ndarray
        1 to 255 dimensions, each below 2**32; dtype one of uint8, int8,
        int16, int32, float32, float64.

    Returns
    -------
    bytes

    Examples
    --------
    >>> encode_idx(np.array([7, 2], dtype=np.uint8)).hex()
    '00000801000000020702'
    """
    arr = np.asarray(array)
    native = arr.dtype.newbyteorder("=")
    if native not in _CODES:
        raise ValueError(
            f"encode_idx: dtype must be one of uint8, int8, int16, int32, float32, "
            f"float64, got {arr.dtype}"
        )
    if not 1 <= arr.ndim <= 255 or any(d >= 2**32 for d in arr.shape):
        raise ValueError(f"encode_idx: shape must have 1..255 dims each < 2**32, got {arr.shape}")
    code = _CODES[native]
    header = bytes([0, 0, code, arr.ndim]) + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    return header + np.ascontiguousarray(arr, dtype=_DTYPES[code]).tobytes()


def write_idx(path: PathLike | BinaryIO, array: np.ndarray, *, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file; gzip when ``path`` ends in ``.gz``.

    The gzip header carries no timestamp or file name, so the same array
    always gives the same bytes (stable checksums). The file is written in
    place: callers that need atomicity write to a temporary name and rename.

    Parameters
    ----------
    path : str, os.PathLike or binary file object
    array : numpy.ndarray
        See :func:`encode_idx`.
    compress : bool, optional
        Force gzip on or off; default from the ``.gz`` suffix (off for a
        file object).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "y-idx1-ubyte"
    >>> write_idx(p, np.array([1, 2], dtype=np.uint8))
    >>> p.stat().st_size
    10
    """
    data = encode_idx(array)
    if hasattr(path, "write"):
        _write_to(path, data, bool(compress))
        return
    if compress is None:
        compress = os.fspath(path).endswith(".gz")
    with open(path, "wb") as out:
        _write_to(out, data, compress)


def _write_to(out: BinaryIO, data: bytes, compress: bool) -> None:
    import gzip

    if compress:
        with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
            gz.write(data)
    else:
        out.write(data)
