"""Bounded downloads: bodies no larger than the file, no gzip bombs, no trickling mirrors, one deadline per file."""

from __future__ import annotations

import contextlib
import gzip
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import final_names
from mnist_dataset_generator import mnistdata
from mnist_dataset_generator.mnistdata import DownloadError, HTTPDownloader, load
from mnist_dataset_generator.sources import cache as _cache
from mnist_dataset_generator.sources import download as _download
from mnist_dataset_generator.sources import verified as _verified
from mnist_dataset_generator.sources.idx import read_idx

IMAGES, LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"


def _trickle(every: float, seconds: float):
    """A fault sending the real body one byte every ``every`` seconds, for at most ``seconds``."""

    def fault(handler, data):
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        stop = time.monotonic() + seconds
        try:
            for i in range(len(data)):
                if time.monotonic() > stop:
                    break
                handler.wfile.write(data[i:i + 1])
                time.sleep(every)
        except OSError:  # the client hung up: what it should do
            pass
        handler.close_connection = True

    return fault


def _padded(announce: bool):
    """A fault sending the real gzip followed by zeros past the body limit (gzip readers skip such padding)."""

    def fault(handler, data):
        body = data + bytes(_download.body_limit(len(gzip.decompress(data))))
        handler.send_response(200)
        if announce:
            handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        try:
            handler.wfile.write(body)
        except OSError:  # refused after the headers
            pass
        handler.close_connection = True

    return fault


def _serve(body: bytes):
    def fault(handler, data):
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return fault


def _bomb(size: int) -> bytes:
    """A small gzip inflating to 200 times ``size`` bytes."""
    return gzip.compress(bytes(200 * size), compresslevel=9, mtime=0)


class _Counting:
    def __init__(self, out) -> None:
        self._out = out
        self.count = 0

    def write(self, data) -> int:
        self.count += len(data)
        return self._out.write(data)

    def __getattr__(self, name):
        return getattr(self._out, name)


@pytest.fixture
def plain_writes(monkeypatch) -> dict[str, int]:
    """The most bytes ever written through ``atomic_write`` to each final name (the plain copies)."""
    real = _verified.atomic_write
    most: dict[str, int] = {}

    @contextlib.contextmanager
    def counting(final, **kwargs):
        with real(final, **kwargs) as out:
            counter = _Counting(out)
            try:
                yield counter
            finally:
                name = Path(final).name
                most[name] = max(most.get(name, 0), counter.count)

    monkeypatch.setattr(_verified, "atomic_write", counting)  # unpacking a cached gzip
    monkeypatch.setattr(_download, "atomic_write", counting)  # unpacking a download
    return most


def assert_verified_and_bounded(cache: Path, table: dict, mirror_dir: Path) -> None:
    """The test split is cached as the mirror has it, stamped, and nothing in the folder is oversized."""
    state = _verified._Folder(cache, table)
    for name in (IMAGES, LABELS):
        assert state.stamped(name) == cache / name  # a warm load will trust it without hashing
        assert (cache / name).read_bytes() == gzip.decompress((mirror_dir / (name + ".gz")).read_bytes())
        assert (cache / (name + ".gz")).read_bytes() == (mirror_dir / (name + ".gz")).read_bytes()
    assert not list(cache.glob(".*.part"))
    biggest = max(_download.body_limit(spec.size) for spec in table.values())
    assert all(p.stat().st_size <= biggest for p in cache.iterdir())


# ----------------------------------------------------------------- size


@pytest.mark.parametrize("announce", [True, False], ids=["announced", "unannounced"])
def test_body_larger_than_the_file_can_be_is_cut_off_and_the_next_mirror_used(
        tmp_path, fixture_table, mirror_dir, make_mirror, caplog, announce):
    big, good = make_mirror(mirror_dir), make_mirror(mirror_dir)
    big.faults["*"] = _padded(announce)
    cache = tmp_path / "c"
    assert len(load("test", data_home=cache, mirrors=[big.url, good.url])) == 50
    limit = _download.body_limit(fixture_table[IMAGES].size)
    assert f"{big.url}{IMAGES}.gz: body exceeds {limit} bytes" in caplog.text
    assert big.requests.count(IMAGES + ".gz") == 1  # abandoned, not retried
    assert sorted(good.requests) == [IMAGES + ".gz", LABELS + ".gz"]
    assert_verified_and_bounded(cache, fixture_table, mirror_dir)


def test_sink_never_writes_past_the_limit():
    import io

    out = io.BytesIO()
    sink = _download._Sink(out, limit=10, size=8, ends=time.monotonic() + 60)
    sink.write(b"12345678")
    with pytest.raises(_download._Abandoned, match="body exceeds 10 bytes"):
        sink.write(b"abc")
    assert out.getvalue() == b"12345678"
    with pytest.raises(_download._Abandoned, match="body exceeds 10 bytes \\(11 announced"):
        sink.guard(lambda done, total: None)(0, 11)


def test_any_downloader_is_bounded_by_the_sink(tmp_path, fixture_table, mirror_dir, caplog):
    def endless(url, dest, report):  # a downloader of one's own, ignorant of any limit
        if url.startswith("http://endless.invalid/"):
            for _ in range(160):  # 10 MiB: far past the limit (and finite, should the limit fail)
                dest.write(bytes(1 << 16))
            return
        HTTPDownloader()(url, dest, report)

    cache = tmp_path / "c"
    assert len(load("test", data_home=cache, mirrors=["http://endless.invalid/", mirror_dir.as_uri()],
                    downloader=endless)) == 50
    limit = _download.body_limit(fixture_table[IMAGES].size)
    assert f"http://endless.invalid/{IMAGES}.gz: body exceeds {limit} bytes" in caplog.text
    assert_verified_and_bounded(cache, fixture_table, mirror_dir)


def test_gzip_bomb_from_a_mirror_is_not_inflated_past_the_file_and_the_next_mirror_used(
        tmp_path, fixture_table, mirror_dir, make_mirror, caplog, plain_writes):
    size = fixture_table[IMAGES].size
    bad, good = make_mirror(mirror_dir), make_mirror(mirror_dir)
    bad.faults[IMAGES + ".gz"] = _serve(_bomb(size))
    cache = tmp_path / "c"
    assert len(load("test", data_home=cache, mirrors=[bad.url, good.url])) == 50
    assert f"{bad.url}{IMAGES}.gz: inflates beyond the {size} bytes expected" in caplog.text
    assert plain_writes[IMAGES] <= size + 1  # not the 200 x size the bomb holds
    assert bad.requests.count(IMAGES + ".gz") == 1 and good.requests == [IMAGES + ".gz"]
    assert_verified_and_bounded(cache, fixture_table, mirror_dir)


def test_cached_gzip_bomb_is_not_inflated_past_the_file_but_moved_aside_and_refetched(
        tmp_path, fixture_table, mirror_dir, make_mirror, caplog, plain_writes):
    size = fixture_table[IMAGES].size
    cache = tmp_path / "c"
    cache.mkdir()
    bomb = _bomb(size)
    (cache / (IMAGES + ".gz")).write_bytes(bomb)
    good = make_mirror(mirror_dir)
    assert len(load("test", data_home=cache, mirrors=good.url)) == 50
    assert plain_writes[IMAGES] <= size + 1
    assert f"inflates beyond the {size} bytes expected" in caplog.text
    aside = list(cache.glob(IMAGES + ".gz.damaged-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == bomb  # kept as it was, never inflated on disk
    assert good.requests.count(IMAGES + ".gz") == 1
    assert_verified_and_bounded(cache, fixture_table, mirror_dir)


# ----------------------------------------------------------------- rate and deadline


def test_mirror_that_trickles_is_abandoned_for_the_next(tmp_path, fixture_table, mirror_dir, make_mirror,
                                                       monkeypatch, caplog):
    monkeypatch.setattr(_download, "RATE_WINDOW", 0.5)  # 1024 bytes/s over 0.5 s; the fault sends 10 bytes/s
    slow, good = make_mirror(mirror_dir), make_mirror(mirror_dir)
    slow.faults[IMAGES + ".gz"] = _trickle(every=0.1, seconds=10)
    cache = tmp_path / "c"
    assert len(load("test", data_home=cache, mirrors=[slow.url, good.url])) == 50
    # the rate rule left the mirror (the trickle, running out after 10 s, would end in a short body)
    assert f"{slow.url}{IMAGES}.gz: too slow: " in caplog.text and "below 1024 bytes/s" in caplog.text
    assert slow.requests.count(IMAGES + ".gz") == 1 and good.requests == [IMAGES + ".gz"]
    assert_verified_and_bounded(cache, fixture_table, mirror_dir)


def test_fast_enough_download_is_not_abandoned_by_the_rate_rule(tmp_path, fixture_table, mirror_dir, make_mirror,
                                                                monkeypatch):
    monkeypatch.setattr(_download, "RATE_WINDOW", 0.2)
    monkeypatch.setattr(_download, "MIN_RATE", 20)  # the fault sends up to 100 bytes/s, for longer than a window
    steady = make_mirror(mirror_dir)
    assert len((mirror_dir / (LABELS + ".gz")).read_bytes()) > 40
    steady.faults[LABELS + ".gz"] = _trickle(every=0.01, seconds=10)
    assert len(load("test", data_home=tmp_path / "c", mirrors=steady.url)) == 50
    assert steady.requests.count(LABELS + ".gz") == 1


@pytest.mark.parametrize("kwargs, env", [
    ({"deadline": 0.6}, None),
    ({}, "0.6"),
    ({"deadline": 0.6}, "not a number"),  # the argument wins: the variable is not even read
], ids=["argument", "environment", "argument-over-environment"])
def test_deadline_stops_the_download_with_download_error_saying_so(tmp_path, fixture_table, mirror_dir,
                                                                   make_mirror, monkeypatch, kwargs, env):
    if env is not None:
        monkeypatch.setenv(mnistdata.ENV_DEADLINE, env)
    slow, other = make_mirror(mirror_dir), make_mirror(mirror_dir)
    slow.faults[IMAGES + ".gz"] = _trickle(every=0.05, seconds=10)  # 20 bytes/s: under a 30 s window, not judged
    cache = tmp_path / "c"
    start = time.perf_counter()
    with pytest.raises(DownloadError) as info:
        load("test", data_home=cache, mirrors=[slow.url, other.url], **kwargs)
    # checked as bytes arrive: well before the trickle's 10 s (a wide margin: a busy machine is slower)
    assert time.perf_counter() - start < 8
    assert info.value.attempts == [
        (slow.url + IMAGES + ".gz", "deadline exceeded (0.6 s for all mirrors and retries of this file)")]
    assert "deadline exceeded (0.6 s" in str(info.value)
    assert "allow more time with deadline= or GENERATOR_NUMBERS_SEQ_MNIST_DEADLINE (seconds)" in str(info.value)
    assert other.requests == []  # the deadline covers every mirror, not each
    assert final_names(cache) == set() and not list(cache.glob(".*.part"))


def test_deadline_counts_retries_and_stops_before_the_next_attempt(tmp_path, fixture_table, mirror_dir,
                                                                  make_mirror, monkeypatch):
    monkeypatch.setattr(_download, "RETRY_DELAY", 0.5)
    flaky, other = make_mirror(mirror_dir), make_mirror(mirror_dir)
    flaky.faults["*"] = 503
    with pytest.raises(DownloadError) as info:
        mnistdata.fetch("test", data_home=tmp_path / "c", mirrors=[flaky.url, other.url], deadline=0.2)
    url = flaky.url + IMAGES + ".gz"
    assert info.value.attempts == [
        (url, "HTTP 503 Service Unavailable"),
        (url, "not tried: deadline exceeded (0.2 s for all mirrors and retries of this file)"),
    ]
    assert flaky.requests == [IMAGES + ".gz"] and other.requests == []


@pytest.mark.parametrize("value", [0, -1.5, float("inf"), float("nan"), "10", True])
def test_bad_deadline_argument_is_rejected_before_any_work(tmp_path, value):
    words = "deadline must be a positive finite number of seconds, in \\(0, inf\\), got"
    with pytest.raises(ValueError, match=words):
        load("test", data_home=tmp_path / "c", deadline=value)
    with pytest.raises(ValueError, match=words):
        mnistdata.fetch("test", data_home=tmp_path / "c", deadline=value)
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("text", ["soon", "0", "-5", "inf", "nan"])
def test_bad_deadline_variable_is_rejected_naming_it(tmp_path, monkeypatch, text):
    monkeypatch.setenv("GENERATOR_NUMBERS_SEQ_MNIST_DEADLINE", text)
    words = (f"GENERATOR_NUMBERS_SEQ_MNIST_DEADLINE must be a positive finite number of seconds, "
             f"in \\(0, inf\\), got '{text}'")
    with pytest.raises(ValueError, match=words):
        load("test", data_home=tmp_path / "c")
    with pytest.raises(ValueError, match=words):
        mnistdata.fetch("test", data_home=tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_deadline_names_are_exported():
    assert mnistdata.ENV_DEADLINE == _cache.ENV_DEADLINE == "GENERATOR_NUMBERS_SEQ_MNIST_DEADLINE"
    assert "ENV_DEADLINE" in mnistdata.__all__ and "ENV_DEADLINE" in _cache.__all__
    assert _download.DEADLINE == 600 and _download.MIN_RATE == 1024 and _download.RATE_WINDOW == 30


def test_generous_deadline_changes_nothing(tmp_path, fixture_table, mirror_dir, make_mirror, fixture_dir):
    mirror = make_mirror(mirror_dir)
    data = load("test", data_home=tmp_path / "c", mirrors=mirror.url, deadline=30)
    np.testing.assert_array_equal(data.labels, read_idx(fixture_dir / (LABELS + ".gz")))
