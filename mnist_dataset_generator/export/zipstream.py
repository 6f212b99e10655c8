"""A streaming zip64 writer for members deflated in pieces elsewhere (in worker processes).

``zipfile`` compresses in the process that writes, which makes one process
the bottleneck of a parallel export. Here each worker deflates its piece with
a *sync flush* (byte-aligned, never the final block), so pieces concatenate
into one valid deflate stream, as pigz does; the CRC-32 of the whole member is
combined from the pieces' CRCs (zlib's ``crc32_combine``, in Python). The
result is an ordinary zip file: ``zipfile``, ``np.load`` and ``unzip`` read it.
Timestamps are fixed, so the same data always gives the same bytes.
"""

from __future__ import annotations

import functools
import struct
import zlib
from typing import BinaryIO

__all__ = ["ZipStreamWriter", "crc32_combine", "deflate_piece"]

LEVEL = 1  # see export.py: twice as fast as level 6 for ~10 % more bytes
_FINAL_BLOCK = zlib.compressobj(LEVEL, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)  # empty, final
_DOS_TIME, _DOS_DATE = 0, (1980 - 1980) << 9 | 1 << 5 | 1  # 1980-01-01 00:00, reproducible
_FLAG_DATA_DESCRIPTOR = 0x08
_ZIP64 = 45


def deflate_piece(data: bytes | memoryview) -> tuple[int, int, bytes]:
    """``(crc32, length, raw deflate ending in a sync flush)`` of one piece of a member."""
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
    return zlib.crc32(data), len(data), compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)


def _gf2_times(matrix: list[int], vector: int) -> int:
    total, i = 0, 0
    while vector:
        if vector & 1:
            total ^= matrix[i]
        vector >>= 1
        i += 1
    return total


def _gf2_square(matrix: list[int]) -> list[int]:
    return [_gf2_times(matrix, row) for row in matrix]


@functools.lru_cache(maxsize=64)
def _shift_operator(length: int) -> tuple[int, ...]:
    """The GF(2) matrix that advances a CRC over ``length`` zero bytes (zlib's method)."""
    operator = [0xEDB88320] + [1 << n for n in range(31)]  # one zero bit
    for _ in range(3):  # -> one zero byte
        operator = _gf2_square(operator)
    result = [1 << n for n in range(32)]  # identity
    while length:
        if length & 1:
            result = [_gf2_times(operator, row) for row in result]
        length >>= 1
        if length:
            operator = _gf2_square(operator)
    return tuple(result)


def crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """CRC-32 of ``a + b`` from ``crc32(a)``, ``crc32(b)`` and ``len(b)``.

    Examples
    --------
    >>> a, b = b"hello ", b"world"
    >>> crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)
    True
    """
    if length2 == 0:
        return crc1
    return _gf2_times(list(_shift_operator(length2)), crc1) ^ crc2


class ZipStreamWriter:
    """Write deflated members piece by piece to a binary file, then the central directory.

    Examples
    --------
    >>> import io, zipfile
    >>> buffer = io.BytesIO()
    >>> zw = ZipStreamWriter(buffer)
    >>> zw.begin("a.txt")
    >>> for piece in (b"abc" * 100, b"xyz" * 50):
    ...     zw.write_piece(*deflate_piece(piece))
    >>> zw.end()
    >>> zw.close()
    >>> zipfile.ZipFile(buffer).read("a.txt") == b"abc" * 100 + b"xyz" * 50
    True
    """

    def __init__(self, fileobj: BinaryIO) -> None:
        self._file = fileobj
        self._position = 0
        self._entries: list[dict] = []
        self._current: dict | None = None

    def _write(self, data: bytes) -> None:
        self._file.write(data)
        self._position += len(data)

    def begin(self, name: str) -> None:
        """Start member ``name``: its local header, sizes and CRC to follow in a data descriptor."""
        encoded = name.encode("utf-8")
        extra = struct.pack("<HHQQ", 1, 16, 0, 0)  # zip64: sizes in the data descriptor
        self._current = {"name": encoded, "offset": self._position, "crc": 0, "size": 0, "csize": 0}
        self._write(struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", _ZIP64, 0, _FLAG_DATA_DESCRIPTOR, 8,
                                _DOS_TIME, _DOS_DATE, 0, 0xFFFFFFFF, 0xFFFFFFFF, len(encoded), len(extra)))
        self._write(encoded + extra)

    def write_piece(self, crc: int, length: int, compressed: bytes) -> None:
        """Append a piece made by :func:`deflate_piece` (in any process)."""
        entry = self._current
        entry["crc"] = crc32_combine(entry["crc"], crc, length)
        entry["size"] += length
        entry["csize"] += len(compressed)
        self._write(compressed)

    def write(self, data: bytes) -> None:
        """Deflate and append ``data`` here (for small parts such as headers)."""
        self.write_piece(*deflate_piece(data))

    def end(self) -> None:
        """Close the member's deflate stream and write its data descriptor."""
        entry = self._current
        self._write(_FINAL_BLOCK)
        entry["csize"] += len(_FINAL_BLOCK)
        self._write(struct.pack("<LLQQ", 0x08074B50, entry["crc"], entry["csize"], entry["size"]))
        self._entries.append(entry)
        self._current = None

    def close(self) -> None:
        """Write the central directory and the (zip64) end records."""
        start = self._position
        for e in self._entries:
            extra = struct.pack("<HHQQQ", 1, 24, e["size"], e["csize"], e["offset"])
            self._write(struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", _ZIP64, 3, _ZIP64, 0,
                                    _FLAG_DATA_DESCRIPTOR, 8, _DOS_TIME, _DOS_DATE, e["crc"], 0xFFFFFFFF,
                                    0xFFFFFFFF, len(e["name"]), len(extra), 0, 0, 0, 0o644 << 16, 0xFFFFFFFF))
            self._write(e["name"] + extra)
        end = self._position
        count = len(self._entries)
        self._write(struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, _ZIP64, _ZIP64, 0, 0, count, count,
                                end - start, start))
        self._write(struct.pack("<4sLQL", b"PK\x06\x07", 0, end, 1))
        self._write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, min(count, 0xFFFF), min(count, 0xFFFF),
                                min(end - start, 0xFFFFFFFF), min(start, 0xFFFFFFFF), 0))
