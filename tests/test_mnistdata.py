"""The data layer: download through loopback mirrors, verify, cache, repair, lock, load."""

from __future__ import annotations

import contextlib
import errno
import gzip
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, final_names, load_in_subprocess
from mnist_dataset_generator import mnistdata
from mnist_dataset_generator.mnistdata import (
    ChecksumError,
    DownloadError,
    HTTPDownloader,
    IdxFormatError,
    MnistData,
    get_data_home,
    load,
)
from mnist_dataset_generator.sources import cache as _cache
from mnist_dataset_generator.sources import download as _download
from mnist_dataset_generator.sources import verified as _verified
from mnist_dataset_generator.sources.idx import read_idx, write_idx

TRAIN = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")


def expected_arrays(fixture_dir, split="train"):
    prefix = "train" if split == "train" else "t10k"
    return (read_idx(fixture_dir / f"{prefix}-images-idx3-ubyte.gz"),
            read_idx(fixture_dir / f"{prefix}-labels-idx1-ubyte.gz"))


def reload(*args, **kwargs):
    """load() as a fresh process would: without this process's memory cache."""
    mnistdata._LOADED.clear()
    return load(*args, **kwargs)


# ------------------------------------------------------------ custom folders


def test_sha256sums_folder_is_accepted_as_custom_data(fixture_dir, tmp_path, caplog):
    # a copy without the shared fixture's stamp (.verified.json): an earlier test may have verified that one
    folder = tmp_path / "custom"
    folder.mkdir()
    for path in fixture_dir.iterdir():
        if not path.name.startswith("."):
            shutil.copy(path, folder / path.name)
    caplog.set_level(logging.INFO, "mnist_dataset_generator")
    data = load("train", data_home=folder)
    images, labels = expected_arrays(fixture_dir)
    np.testing.assert_array_equal(data.images, images)
    np.testing.assert_array_equal(data.labels, labels)
    assert "custom data, verified by SHA256SUMS" in caplog.text
    for d in range(10):
        assert (data.labels[data.digit_indices[d]] == d).all()
    assert sum(map(len, data.digit_indices)) == len(data) == 200


def test_custom_file_not_matching_its_sum_is_rejected_and_left_alone(tmp_path, fixture_dir):
    folder = mnistdata.write_test_data(tmp_path / "custom", 20, 10, seed=1)
    victim = folder / "train-labels-idx1-ubyte.gz"
    write_idx(victim, np.zeros(20, np.uint8))  # valid IDX, but not what SHA256SUMS vouches for
    tampered = victim.read_bytes()
    with pytest.raises(ChecksumError, match="train-labels-idx1-ubyte.gz does not match .*SHA256SUMS"):
        load("train", data_home=folder)
    assert victim.read_bytes() == tampered  # neither moved aside nor replaced
    assert not list(folder.glob("*.damaged-*"))


def test_custom_data_with_label_above_9_raises_idx_format_error(tmp_path):
    folder = mnistdata.write_test_data(tmp_path / "custom", 20, 10, seed=1)
    labels = np.arange(20, dtype=np.uint8) % 10
    labels[5] = 12
    write_idx(folder / "train-labels-idx1-ubyte.gz", labels)
    _rewrite_sums(folder)
    with pytest.raises(IdxFormatError, match="labels must be 0..9, found 12 .*index 5"):
        load("train", data_home=folder)


def test_custom_data_with_count_mismatch_raises_idx_format_error(tmp_path):
    folder = mnistdata.write_test_data(tmp_path / "custom", 20, 10, seed=1)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.arange(19, dtype=np.uint8) % 10)
    _rewrite_sums(folder)
    with pytest.raises(IdxFormatError, match="20 images but 19 labels"):
        load("train", data_home=folder)


def _rewrite_sums(folder):
    import hashlib

    names = sorted(p.name for p in folder.glob("*.gz"))
    (folder / "SHA256SUMS").write_text(
        "".join(f"{hashlib.sha256((folder / n).read_bytes()).hexdigest()}  {n}\n" for n in names)
    )


# ------------------------------------------------------------------ download


def test_download_over_http_verifies_caches_and_keeps_a_plain_copy(tmp_path, fixture_table, mirror_dir,
                                                                    make_mirror, fixture_dir):
    mirror = make_mirror(mirror_dir)
    cache = tmp_path / "cache"
    seen = []
    data = load("train", data_home=cache, mirrors=mirror.url, progress=lambda d, t: seen.append((d, t)))
    images, labels = expected_arrays(fixture_dir)
    np.testing.assert_array_equal(data.images, images)
    assert sorted(mirror.requests) == sorted(n + ".gz" for n in TRAIN)
    assert final_names(cache) == {*TRAIN, *(n + ".gz" for n in TRAIN)}
    assert (cache / TRAIN[0]).read_bytes() == gzip.decompress((mirror_dir / (TRAIN[0] + ".gz")).read_bytes())
    assert seen[-1][0] == seen[-1][1] and seen[-1][1] is not None  # progress reached the total
    assert not list(cache.glob(".*.part"))


def test_warm_cache_needs_no_network_no_hashing_and_no_lock(tmp_path, fixture_table, mirror_dir,
                                                           make_mirror, monkeypatch):
    mirror = make_mirror(mirror_dir)
    cache = tmp_path / "cache"
    load("train", data_home=cache, mirrors=mirror.url)
    mirror.requests.clear()

    def forbidden(*args, **kwargs):
        raise AssertionError("warm load must not hash or lock")

    monkeypatch.setattr(_verified, "_content_digest", forbidden)
    monkeypatch.setattr(_download, "_content_digest", forbidden)
    monkeypatch.setattr(_verified, "_digest_stream", forbidden)  # the one loop that hashes anything
    monkeypatch.setattr(_cache, "_lock", forbidden)
    data = reload("train", data_home=cache, mirrors=mirror.url)
    assert len(data) == 200 and mirror.requests == []
    assert load("train", data_home=cache) is data  # same process: free


def test_warm_start_does_not_import_the_http_stack(fixture_dir):
    load("train", data_home=fixture_dir)  # warm: verifications stamped
    code = ("import sys; from mnist_dataset_generator import mnistdata; "
            f"mnistdata.load('train', data_home={str(fixture_dir)!r}); "
            "print(sorted(m for m in ('urllib.request', 'http.client', 'filelock', 'tqdm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_file_url_and_plain_folder_mirrors_work(tmp_path, fixture_table, mirror_dir):
    a = load("test", data_home=tmp_path / "a", mirrors=mirror_dir.as_uri())
    b = reload("test", data_home=tmp_path / "b", mirrors=str(mirror_dir))
    np.testing.assert_array_equal(a.images, b.images)
    assert len(a) == 50


def test_env_vars_choose_folder_and_mirrors(tmp_path, fixture_table, mirror_dir, monkeypatch):
    monkeypatch.setenv("GENERATOR_NUMBERS_SEQ_MNIST_DIR", str(tmp_path / "from-env"))
    monkeypatch.setenv("GENERATOR_NUMBERS_SEQ_MNIST_MIRRORS", f"http://127.0.0.1:9/,{mirror_dir.as_uri()}")
    assert len(load("test")) == 50
    assert (tmp_path / "from-env" / "t10k-images-idx3-ubyte").is_file()


def test_removed_file_is_downloaded_again(tmp_path, fixture_table, mirror_dir, make_mirror):
    mirror = make_mirror(mirror_dir)
    cache = tmp_path / "cache"
    load("train", data_home=cache, mirrors=mirror.url)
    for name in (TRAIN[1], TRAIN[1] + ".gz"):
        (cache / name).unlink()
    mirror.requests.clear()
    data = reload("train", data_home=cache, mirrors=mirror.url)
    assert mirror.requests == [TRAIN[1] + ".gz"] and len(data) == 200


def test_removed_plain_copy_is_rebuilt_from_the_cached_gzip(tmp_path, fixture_table, mirror_dir, make_mirror):
    mirror = make_mirror(mirror_dir)
    cache = tmp_path / "cache"
    load("train", data_home=cache, mirrors=mirror.url)
    (cache / TRAIN[0]).unlink()
    mirror.requests.clear()
    reload("train", data_home=cache, mirrors=mirror.url)
    assert mirror.requests == [] and (cache / TRAIN[0]).is_file()


@pytest.mark.parametrize("victim", [TRAIN[0], TRAIN[0] + ".gz"])
def test_corrupt_cache_file_is_moved_aside_and_refetched(tmp_path, fixture_table, mirror_dir,
                                                         make_mirror, fixture_dir, victim, caplog):
    mirror = make_mirror(mirror_dir)
    cache = tmp_path / "cache"
    load("train", data_home=cache, mirrors=mirror.url)
    if victim.endswith(".gz"):
        (cache / TRAIN[0]).unlink()
    garbage = b"\x00" * (cache / victim).stat().st_size
    (cache / victim).write_bytes(garbage)  # same size: only the hash can tell
    data = reload("train", data_home=cache, mirrors=mirror.url)
    np.testing.assert_array_equal(data.images, expected_arrays(fixture_dir)[0])
    aside = list(cache.glob(victim + ".damaged-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == garbage  # kept, not deleted
    assert "is damaged" in caplog.text


def test_stale_stamp_cannot_vouch_for_rewritten_bytes(tmp_path, fixture_table, mirror_dir, make_mirror):
    mirror = make_mirror(mirror_dir)
    cache = tmp_path / "cache"
    load("train", data_home=cache, mirrors=mirror.url)
    path = cache / TRAIN[1]
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size and mtime as stamped
    reload("train", data_home=cache, mirrors=mirror.url)
    assert list(cache.glob(TRAIN[1] + ".damaged-*"))


def _rewrite(path: Path, data: bytes, how: str) -> None:
    """Give ``path`` new bytes: ``in place`` (same inode, a later mtime) or ``replaced`` (a new inode, same mtime)."""
    st = path.stat()
    if how == "replaced":
        tmp = path.with_name(path.name + ".new")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # only the inode tells
    else:
        with open(path, "r+b") as out:
            out.write(data)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a change a coarse clock cannot hide


def _inverted(path: Path) -> bytes:
    """Still valid IDX of the same size, but every pixel (or label byte) different."""
    data = bytearray(path.read_bytes())
    data[16:] = bytes(255 - b for b in data[16:])
    return bytes(data)


def _assert_stamps_vouch_for_what_is_there(cache, table):
    state = _verified._Folder(cache, table)
    for name in TRAIN:
        assert state.stamped(name) == cache / name
        assert (cache / name).read_bytes() == gzip.decompress((cache / (name + ".gz")).read_bytes())


@pytest.mark.parametrize("how", ["in place", "replaced"])
def test_file_rewritten_right_after_it_was_hashed_is_not_vouched_for(tmp_path, fixture_table, mirror_dir,
                                                                     make_mirror, fixture_dir, monkeypatch, how):
    mirror = make_mirror(mirror_dir)
    cache = tmp_path / "cache"
    load("train", data_home=cache, mirrors=mirror.url)
    (cache / ".verified.json").unlink()  # so the next load hashes the plain copies again
    victim = cache / TRAIN[0]
    wrong = _inverted(victim)
    real = _verified._content_digest

    def hash_then_rewrite(path, *args, **kwargs):
        result = real(path, *args, **kwargs)
        if Path(path) == victim and victim.read_bytes() != wrong:
            _rewrite(victim, wrong, how)  # after its bytes were hashed, before any stamp is written
        return result

    monkeypatch.setattr(_verified, "_content_digest", hash_then_rewrite)
    monkeypatch.setattr(_download, "_content_digest", hash_then_rewrite)
    reload("train", data_home=cache, mirrors=mirror.url)
    monkeypatch.setattr(_verified, "_content_digest", real)
    monkeypatch.setattr(_download, "_content_digest", real)
    data = reload("train", data_home=cache, mirrors=mirror.url)  # must not trust a stamp of other bytes
    np.testing.assert_array_equal(data.images, expected_arrays(fixture_dir)[0])
    aside = list(cache.glob(TRAIN[0] + ".damaged-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == wrong
    _assert_stamps_vouch_for_what_is_there(cache, fixture_table)


@pytest.mark.parametrize("how", ["in place", "replaced"])
@pytest.mark.parametrize("victim", [TRAIN[0], TRAIN[0] + ".gz"])
def test_file_that_changes_while_it_is_hashed_is_hashed_again_never_trusted(
        tmp_path, fixture_table, mirror_dir, make_mirror, fixture_dir, monkeypatch, caplog, victim, how):
    mirror = make_mirror(mirror_dir)
    cache = tmp_path / "cache"
    load("train", data_home=cache, mirrors=mirror.url)
    (cache / ".verified.json").unlink()
    if victim.endswith(".gz"):
        (cache / TRAIN[0]).unlink()  # so the gzip is unpacked: hashed on its way to a plain copy
    path = cache / victim
    wrong = _inverted(path) if not victim.endswith(".gz") else bytes(path.stat().st_size)
    real = _verified._digest_stream
    calls = []

    def hash_then_rewrite(*args, **kwargs):
        digest = real(*args, **kwargs)
        if not calls:  # the first file hashed is the victim; its bytes change before the hash is used
            _rewrite(path, wrong, how)
        calls.append(digest)
        return digest

    monkeypatch.setattr(_verified, "_digest_stream", hash_then_rewrite)
    data = reload("train", data_home=cache, mirrors=mirror.url)
    np.testing.assert_array_equal(data.images, expected_arrays(fixture_dir)[0])  # this very load is right
    assert f"{path} changed while it was being verified; checking it again" in caplog.text
    aside = list(cache.glob(victim + ".damaged-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == wrong
    _assert_stamps_vouch_for_what_is_there(cache, fixture_table)


def test_custom_file_that_changes_while_it_is_hashed_is_checked_again_against_its_sum(tmp_path, monkeypatch):
    folder = mnistdata.write_test_data(tmp_path / "custom", 20, 10, seed=1)
    victim = folder / (TRAIN[0] + ".gz")
    real = _verified._digest_stream
    calls = []

    def hash_then_rewrite(*args, **kwargs):
        digest = real(*args, **kwargs)
        if not calls:
            _rewrite(victim, bytes(victim.stat().st_size), "in place")
        calls.append(digest)
        return digest

    monkeypatch.setattr(_verified, "_digest_stream", hash_then_rewrite)
    with pytest.raises(ChecksumError, match=f"{victim} does not match"):
        load("train", data_home=folder)
    assert victim.name not in _verified._read_stamps(folder)


def test_deeply_nested_stamps_are_no_stamps_and_the_files_are_hashed_again(tmp_path, fixture_dir):
    folder = mnistdata.write_test_data(tmp_path / "data", 30, 10, seed=2)
    (folder / _verified._STAMPS_NAME).write_text("[" * 200_000 + "]" * 200_000)
    assert _verified._read_stamps(folder) == {}
    assert len(load("test", data_home=folder)) == 10


@pytest.mark.parametrize("when", ["downloaded", "unpacked"])
def test_file_changed_after_it_was_written_and_before_it_was_stamped_is_checked_again(
        tmp_path, fixture_table, mirror_dir, make_mirror, fixture_dir, monkeypatch, when):
    mirror = make_mirror(mirror_dir)
    cache = tmp_path / "cache"
    if when == "unpacked":
        load("train", data_home=cache, mirrors=mirror.url)
        (cache / ".verified.json").unlink()
        (cache / TRAIN[0]).unlink()
    victim = cache / TRAIN[0]
    real = _verified.atomic_write
    rewritten = []

    @contextlib.contextmanager
    def write_then_rewrite(final, **kwargs):
        with real(final, **kwargs) as out:
            yield out
        if Path(final) == victim and not rewritten:  # renamed into place; not stamped yet
            rewritten.append(_inverted(victim))
            _rewrite(victim, rewritten[0], "replaced")

    monkeypatch.setattr(_verified, "atomic_write", write_then_rewrite)  # unpacked
    monkeypatch.setattr(_download, "atomic_write", write_then_rewrite)  # downloaded
    data = reload("train", data_home=cache, mirrors=mirror.url)
    np.testing.assert_array_equal(data.images, expected_arrays(fixture_dir)[0])
    aside = list(cache.glob(TRAIN[0] + ".damaged-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == rewritten[0]
    _assert_stamps_vouch_for_what_is_there(cache, fixture_table)


def test_waiting_for_the_cache_lock_says_what_for_and_how_long(tmp_path, fixture_table, mirror_dir,
                                                               monkeypatch, caplog):
    from filelock import FileLock

    monkeypatch.setattr(_cache, "LOCK_NOTICE_AFTER", 0.2)
    monkeypatch.setattr(_cache, "LOCK_NOTICE_EVERY", 0.3)
    cache = tmp_path / "cache"
    cache.mkdir()
    lock_file = cache / ".lock"
    pattern = re.compile(rf"waiting for another process to finish with {re.escape(str(cache))} "
                         rf"\(lock {re.escape(str(lock_file))} held\); waited (\d+\.\d) s")

    def waited():
        return [float(m.group(1)) for r in caplog.records
                if r.levelno == logging.WARNING and (m := pattern.fullmatch(r.getMessage()))]

    outcome = {}

    def cold_load():
        try:
            outcome["data"] = load("test", data_home=cache, mirrors=str(mirror_dir))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = exc

    holder = FileLock(str(lock_file))
    holder.acquire()
    try:
        thread = threading.Thread(target=cold_load, daemon=True)
        thread.start()
        until = time.monotonic() + 10
        while len(waited()) < 2 and time.monotonic() < until:
            time.sleep(0.02)
        assert "data" not in outcome  # still waiting
    finally:
        holder.release()
    thread.join(10)
    assert "error" not in outcome, outcome
    assert len(outcome["data"]) == 50
    seconds = waited()
    assert len(seconds) >= 2 and seconds[0] >= 0.2 and seconds[1] >= 0.5 and seconds == sorted(seconds)


def test_first_mirror_failures_are_logged_and_the_next_mirror_used(tmp_path, fixture_table, mirror_dir,
                                                                   make_mirror, caplog):
    bad404, bad500, good = make_mirror(mirror_dir), make_mirror(mirror_dir), make_mirror(mirror_dir)
    bad404.faults["*"] = 404
    bad500.faults["*"] = 503
    load("test", data_home=tmp_path / "c", mirrors=[bad404.url, bad500.url, good.url])
    assert bad404.requests.count("t10k-images-idx3-ubyte.gz") == 1  # 404: no retry
    assert bad500.requests.count("t10k-images-idx3-ubyte.gz") == 2  # 5xx: one retry
    assert "HTTP 404" in caplog.text and "HTTP 503" in caplog.text


def _truncate(handler, data):
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data[: len(data) // 2])
    handler.close_connection = True


def _wrong_bytes(handler, data):
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(bytes(reversed(data)))


def _not_gzip(handler, data):
    body = b"\x1f\x8b" + b"not really gzip" * 10
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@pytest.mark.parametrize("fault, words", [
    (_truncate, "connection closed|announced"),
    (_wrong_bytes, "not a readable gzip|checksum mismatch"),
    (_not_gzip, "not a readable gzip"),
])
def test_bad_bodies_never_reach_a_final_name(tmp_path, fixture_table, mirror_dir, make_mirror, fault, words):
    bad = make_mirror(mirror_dir)
    bad.faults["*"] = fault
    cache = tmp_path / "c"
    with pytest.raises(DownloadError, match=words) as info:
        load("test", data_home=cache, mirrors=bad.url)
    assert final_names(cache) == set() and not list(cache.glob(".*.part"))
    assert info.value.attempts[0][0] == bad.url + "t10k-images-idx3-ubyte.gz"
    good = make_mirror(mirror_dir)
    assert len(reload("test", data_home=cache, mirrors=[bad.url, good.url])) == 50


def test_server_that_never_answers_times_out_and_next_mirror_is_used(tmp_path, fixture_table, mirror_dir,
                                                                    make_mirror, caplog):
    hang, good = make_mirror(mirror_dir), make_mirror(mirror_dir)
    release = threading.Event()
    hang.faults["*"] = lambda handler, data: release.wait(60)  # silent until the test is done
    # A short read timeout for the silent mirror; the good one gets the default, so that a busy
    # machine never makes it time out too (what is checked below counts attempts, not seconds).
    quick, patient = HTTPDownloader(connect_timeout=1, read_timeout=0.3), HTTPDownloader()

    def downloader(url, dest, report):
        return (quick if url.startswith(hang.url) else patient)(url, dest, report)

    try:
        assert len(load("test", data_home=tmp_path / "c", mirrors=[hang.url, good.url], downloader=downloader)) == 50
    finally:
        release.set()
    # each file: two attempts on the silent mirror, each ended by the read timeout, then the good one
    images, labels = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"
    assert hang.requests == [images, images, labels, labels] and sorted(good.requests) == [images, labels]
    assert [r.getMessage().split(": ", 1)[1] for r in caplog.records if r.getMessage().startswith(hang.url)] == [
        "timed out; retrying", "timed out"] * 2


def test_all_mirrors_down_raises_download_error_listing_urls_and_hint(tmp_path, fixture_table, make_mirror,
                                                                     mirror_dir):
    down = make_mirror(mirror_dir)
    down.faults["*"] = 500
    cache = tmp_path / "c"
    with pytest.raises(DownloadError) as info:
        load("test", data_home=cache, mirrors=[down.url, "http://127.0.0.1:9/x/"])
    text = str(info.value)
    assert text.startswith("could not download t10k-images-idx3-ubyte (tried 2 mirror(s)):")
    assert f"{down.url}t10k-images-idx3-ubyte.gz: HTTP 500" in text
    assert "http://127.0.0.1:9/x/t10k-images-idx3-ubyte.gz" in text
    assert f"set GENERATOR_NUMBERS_SEQ_MNIST_MIRRORS (file:// works) or put the files in {cache}" in text
    assert isinstance(info.value, OSError) and len(info.value.attempts) == 4
    assert final_names(cache) == set()


def test_leftover_partial_file_from_a_killed_run_is_removed(tmp_path, fixture_table, mirror_dir):
    cache = tmp_path / "c"
    cache.mkdir()
    leftover = cache / ".t10k-images-idx3-ubyte.gz.0123456789ab.part"
    leftover.write_bytes(b"half a download")
    load("test", data_home=cache, mirrors=str(mirror_dir))
    assert not leftover.exists()


def test_disk_fault_stops_at_once_instead_of_blaming_every_mirror(tmp_path, fixture_table, mirror_dir,
                                                                  make_mirror, monkeypatch):
    good = make_mirror(mirror_dir)
    real_new_temp = _download.new_temp

    class FullDisk:
        def __init__(self, out):
            self._out = out

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self._out, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._out.close()

    monkeypatch.setattr(_download, "new_temp", lambda folder, name: (
        lambda path, out: (path, FullDisk(out)))(*real_new_temp(folder, name)))
    cache = tmp_path / "c"
    with pytest.raises(OSError, match="No space left on device") as info:
        load("test", data_home=cache, mirrors=[good.url, good.url])
    assert not isinstance(info.value, DownloadError)
    assert good.requests == ["t10k-images-idx3-ubyte.gz"]  # no retry, no second mirror
    assert final_names(cache) == set() and not list(cache.glob(".*.part"))


def test_download_false_with_missing_files_raises_and_creates_nothing(tmp_path):
    cache = tmp_path / "nothing-here"
    with pytest.raises(FileNotFoundError, match="not found in .*nothing-here and download=False"):
        load("train", data_home=cache, download=False)
    assert not cache.exists()


def test_read_only_folder_with_verified_files_loads_and_missing_files_name_the_folder(
        tmp_path, fixture_table, mirror_dir, monkeypatch):
    cache = tmp_path / "ro"
    cache.mkdir()
    for name in TRAIN:
        (cache / (name + ".gz")).write_bytes((mirror_dir / (name + ".gz")).read_bytes())

    def no_write(folder):
        raise PermissionError(13, "Permission denied", str(folder / ".lock"))

    monkeypatch.setattr(_cache, "_lock", no_write)
    assert len(load("train", data_home=cache, mirrors=str(mirror_dir))) == 200
    assert final_names(cache) == {n + ".gz" for n in TRAIN}  # nothing written
    with pytest.raises(PermissionError, match=f"t10k-images-idx3-ubyte is missing from {cache}, which is not writable"):
        load("test", data_home=cache, mirrors=str(mirror_dir))


def test_cold_start_by_several_processes_downloads_each_file_once(tmp_path, fixture_table, mirror_dir,
                                                                  make_mirror):
    mirror = make_mirror(mirror_dir)
    slow = 0.3

    def slow_serve(handler, data):
        time.sleep(slow)  # widen the race window
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    mirror.faults["*"] = slow_serve
    cache = tmp_path / "shared-cache"
    procs = [load_in_subprocess(fixture_table, cache, mirror.url) for _ in range(4)]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert len({out for out, _ in outputs}) == 1  # identical data everywhere
    assert sorted(mirror.requests) == sorted(n + ".gz" for n in TRAIN)  # exactly one download per file


# ---------------------------------------------------------------- arguments


@pytest.mark.parametrize("mirrors, words", [
    ("ftp://example.org/mnist/", "scheme 'ftp'"),
    (" , ", "no mirror given"),
    ([], "no mirror given"),
])
def test_bad_mirrors_are_rejected_before_any_work(tmp_path, mirrors, words):
    with pytest.raises(ValueError, match=words):
        load("train", data_home=tmp_path / "c", mirrors=mirrors)
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("kwargs, words", [
    ({"split": "validation"}, "split must be one of \\['test', 'train'\\], got 'validation'"),
    ({"progress": 3}, "progress must be None, True, False or a callable"),
    ({"data_home": ""}, "data_home must name a folder"),
    ({"deadline": 0}, "deadline must be a positive finite number of seconds"),
])
def test_bad_arguments_raise_value_error_naming_them(tmp_path, kwargs, words):
    kwargs.setdefault("data_home", tmp_path)
    with pytest.raises(ValueError, match=words):
        load(**kwargs)


def test_data_home_expands_user_and_vars(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("MNISTROOT", "deep")
    assert get_data_home("~/$MNISTROOT/x") == tmp_path / "deep" / "x"
    monkeypatch.delenv("GENERATOR_NUMBERS_SEQ_MNIST_DIR")
    assert get_data_home() == tmp_path / "generator_numbers_seq_mnist"


def test_from_arrays_leaves_the_callers_arrays_writable_and_rejects_0_to_1_floats():
    images, labels = np.zeros((2, 28, 28), np.uint8), np.array([4, 2], np.uint8)
    data = MnistData.from_arrays(images, labels)
    assert images.flags.writeable and labels.flags.writeable
    assert not data.images.flags.writeable and np.shares_memory(data.images, images)
    with pytest.raises(ValueError, match="scale them to 0..255"):
        MnistData.from_arrays(np.full((2, 28, 28), 0.5), labels)
    with pytest.raises(ValueError, match="must lie in 0..255, got 0..300"):
        MnistData.from_arrays(np.linspace(0, 300, 2 * 784).reshape(2, 28, 28), labels)
    assert repr(data) == "MnistData(split='custom', samples=2, source='arrays')"


def test_from_arrays_checks_and_indexes():
    data = MnistData.from_arrays(np.full((4, 28, 28), 255.0), np.array([3, 3, 0, 9]))
    assert data.images.dtype == np.uint8 and data.digit_indices[3].tolist() == [0, 1]
    assert len(data.digit_indices[5]) == 0
    with pytest.raises(ValueError, match="labels must be integers 0..9"):
        MnistData.from_arrays(np.zeros((2, 28, 28), np.uint8), [1, 10])
    with pytest.raises(IdxFormatError, match="shape \\(N, 28, 28\\)"):
        MnistData.from_arrays(np.zeros((2, 28, 27), np.uint8), [1, 2])


def test_table_matches_the_issue():
    sizes = {n: s.size for n, s in mnistdata.FILES.items()}
    assert sizes == {"train-images-idx3-ubyte": 47040016, "train-labels-idx1-ubyte": 60008,
                     "t10k-images-idx3-ubyte": 7840016, "t10k-labels-idx1-ubyte": 10008}
    gz = {n: (s.gz_size, s.gz_sha256[:8], s.gz_sha256[-4:]) for n, s in mnistdata.FILES.items()}
    assert gz == {"train-images-idx3-ubyte": (9912422, "440fcabf", "3609"),
                  "train-labels-idx1-ubyte": (28881, "3552534a", "255c"),
                  "t10k-images-idx3-ubyte": (1648877, "8d422c7b", "c4e6"),
                  "t10k-labels-idx1-ubyte": (4542, "f7ae60f9", "aec6")}
