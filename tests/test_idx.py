"""The IDX codec: round trips, hand-written bytes, and every malformation named."""

from __future__ import annotations

import gzip
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_dataset_generator.sources.idx import (
    IdxFormatError,
    decode_idx,
    encode_idx,
    read_idx,
    write_idx,
)

DTYPES = ["uint8", "int8", "int16", "int32", "float32", "float64"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 28, 28), (1, 1, 1, 3)])
def test_encode_decode_round_trip(dtype, shape):
    arr = (np.arange(np.prod(shape)) - 3).astype(dtype).reshape(shape)
    out = decode_idx(encode_idx(arr))
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", ["uint8", "int32", "float64"])
def test_write_read_round_trip_plain_and_gzip(tmp_path, suffix, dtype):
    arr = np.random.default_rng(0).integers(0, 100, (7, 3, 2)).astype(dtype)
    path = tmp_path / f"x-idx3{suffix}"
    write_idx(path, arr)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")
    np.testing.assert_array_equal(read_idx(path), arr)


def test_hand_written_bytes_decode_as_mnist_describes():
    # magic 0x00000803 (ubyte, 3 dims), dims 2 x 2 x 3, then 12 pixels
    data = bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(12))
    arr = decode_idx(data)
    assert arr.shape == (2, 2, 3) and arr[1, 1, 2] == 11
    # big-endian int16: 0x0102 = 258
    arr16 = decode_idx(bytes([0, 0, 0x0B, 1, 0, 0, 0, 1, 1, 2]))
    assert arr16.tolist() == [258]


def test_gzip_output_is_reproducible(tmp_path):
    arr = np.arange(10, dtype=np.uint8)
    write_idx(tmp_path / "a.gz", arr)
    time.sleep(1.1)  # a timestamp in the gzip header would differ now
    write_idx(tmp_path / "b.gz", arr)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


def test_mmap_gives_read_only_array_equal_to_read(tmp_path):
    arr = np.random.default_rng(1).integers(0, 256, (50, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "imgs", arr)
    mapped = read_idx(tmp_path / "imgs", mmap=True)
    assert type(mapped) is np.ndarray and not mapped.flags.writeable
    np.testing.assert_array_equal(mapped, arr)


GOOD = bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(6)


@pytest.mark.parametrize(
    "data, words",
    [
        (b"", "truncated IDX header"),
        (b"\x00\x00\x08", "truncated IDX header"),
        (b"\x01\x00\x08\x01" + bytes(8), "two zero bytes"),
        (b"\x00\x00\x07\x01" + bytes(8), "unknown IDX type code 0x07"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x01", "3 dimensions need 16 bytes"),
        (GOOD[:-1], "6 payload bytes) but 5 bytes follow"),
        (GOOD + b"\x00", "6 payload bytes) but 7 bytes follow"),
        (bytes([0, 0, 8, 3]) + b"\xff\xff\xff\xff" * 3 + bytes(10), "but 10 bytes follow"),
    ],
)
def test_malformed_bytes_raise_idx_format_error_naming_the_file(data, words):
    with pytest.raises(IdxFormatError, match="labels.idx: .*" + words.replace("(", r"\(").replace(")", r"\)")):
        decode_idx(data, name="labels.idx")


def test_idx_format_error_is_a_value_error():
    assert issubclass(IdxFormatError, ValueError)


@pytest.mark.parametrize("cut", [2, 10, 14, 17])
def test_truncated_gzip_raises_idx_format_error(tmp_path, cut):
    path = tmp_path / "t.gz"
    write_idx(path, np.arange(1000, dtype=np.uint8))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * cut // 20])
    with pytest.raises(IdxFormatError, match=str(path)):
        read_idx(path)


def test_gzip_payload_longer_than_declared_is_rejected(tmp_path):
    path = tmp_path / "long.gz"
    path.write_bytes(gzip.compress(GOOD + b"extra"))
    with pytest.raises(IdxFormatError, match="more than 6 bytes follow"):
        read_idx(path)


def test_huge_declared_dims_fail_fast_without_allocating(tmp_path):
    # 2**32-1 cubed bytes declared in a tiny gzip: must fail before reading or allocating
    path = tmp_path / "bomb.gz"
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 3]) + b"\xff\xff\xff\xff" * 3 + bytes(100)))
    start = time.perf_counter()
    with pytest.raises(IdxFormatError, match="more than a .*-byte gzip file can hold"):
        read_idx(path)
    assert time.perf_counter() - start < 1.0
    plain = tmp_path / "bomb"
    plain.write_bytes(bytes([0, 0, 8, 3]) + b"\xff\xff\xff\xff" * 3 + bytes(100))
    with pytest.raises(IdxFormatError):
        read_idx(plain, mmap=True)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope")


def test_encode_rejects_unsupported_dtype():
    with pytest.raises(ValueError, match="dtype must be one of"):
        encode_idx(np.zeros(3, dtype=np.uint16))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_give_an_array_or_idx_format_error(data):
    try:
        arr = decode_idx(data)
    except IdxFormatError:
        return
    assert arr.nbytes == len(data) - 4 - 4 * data[3]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(GOOD) - 1), st.integers(0, 255), st.integers(0, len(GOOD)))
def test_mutated_and_truncated_files_never_escape_idx_format_error(tmp_path_factory, pos, value, cut):
    data = bytearray(GOOD)
    data[pos] = value
    path = tmp_path_factory.mktemp("fuzz") / "f.gz"
    path.write_bytes(gzip.compress(bytes(data[:cut])))
    for mmap_it in (False, True):
        try:
            read_idx(path, mmap=mmap_it)
        except IdxFormatError:
            pass


BUDGET = "GENERATOR_NUMBERS_SEQ_MEMORY_BUDGET"


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_a_declared_payload_beyond_the_memory_budget_is_refused_before_it_is_read(tmp_path, monkeypatch, suffix):
    # A well-formed file (random pixels: no gzip ratio gives it away) that is simply too large to read.
    from mnist_dataset_generator.sources import idx

    path = tmp_path / f"images{suffix}"
    write_idx(path, np.random.default_rng(0).integers(0, 256, (300, 28, 28), dtype=np.uint8))
    monkeypatch.setenv(BUDGET, "100000")

    def never(*args, **kwargs):
        raise AssertionError("the payload was read")

    monkeypatch.setattr(idx, "_read_exact", never)  # the gzip path's payload
    monkeypatch.setattr(idx, "decode_idx", never)  # the plain path's
    with pytest.raises(IdxFormatError, match=rf"{path}: IDX header declares shape \(300, 28, 28\) of uint8: 235.2 kB "
                                             rf"to read, more than the memory budget of 100.0 kB \(set by {BUDGET}\)"):
        read_idx(path)
    if not suffix:  # memory-mapped, nothing is read into memory: no budget applies
        assert read_idx(path, mmap=True).shape == (300, 28, 28)


def test_multi_byte_data_is_read_even_with_mmap_so_the_budget_applies(tmp_path, monkeypatch):
    path = tmp_path / "floats"
    write_idx(path, np.zeros((100, 100), np.float32))
    monkeypatch.setenv(BUDGET, "30000")
    with pytest.raises(IdxFormatError, match="40.0 kB to read, more than the memory budget of 30.0 kB"):
        read_idx(path, mmap=True)
    monkeypatch.setenv(BUDGET, "40000")
    assert read_idx(path, mmap=True).shape == (100, 100)
