"""The fault suite: more download faults, a killed download, https downgrades and other refused
redirects, fuzzed data files.

(The first fault cases live in test_mnistdata.py: 404/503, truncated, wrong and
non-gzip bodies, a stalled server, all mirrors down, a full disk, concurrent
cold starts, corruption, removal, a read-only folder.)
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import POLL_INTERVAL, final_names, load_in_subprocess
from mnist_dataset_generator import mnistdata
from mnist_dataset_generator.mnistdata import (
    ChecksumError,
    DownloadError,
    HTTPDownloader,
    load,
)
from mnist_dataset_generator.sources.idx import IdxFormatError, encode_idx, read_idx


def test_forbidden_first_mirror_is_skipped_without_retry(tmp_path, fixture_table, mirror_dir, make_mirror, caplog):
    forbidden, good = make_mirror(mirror_dir), make_mirror(mirror_dir)
    forbidden.faults["*"] = 403
    assert len(load("test", data_home=tmp_path / "c", mirrors=[forbidden.url, good.url])) == 50
    assert forbidden.requests.count("t10k-images-idx3-ubyte.gz") == 1 and "HTTP 403" in caplog.text


def test_mirror_whose_name_does_not_resolve_is_not_retried_and_the_next_is_tried(
        tmp_path, fixture_table, mirror_dir, make_mirror, monkeypatch, caplog):
    # The resolver is faked: the test asks no DNS server (offline machines and busy ones alike).
    real, asked = socket.getaddrinfo, []

    def resolve(host, *args, **kwargs):
        if host == "nonexistent.invalid":
            asked.append(host)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    bad = "http://nonexistent.invalid/mnist/"
    with pytest.raises(DownloadError, match="Name or service not known") as info:
        load("test", data_home=tmp_path / "c", mirrors=bad)
    assert len(info.value.attempts) == 1 and asked == ["nonexistent.invalid"]  # one attempt, no retry
    asked.clear()
    good = make_mirror(mirror_dir)
    assert len(load("test", data_home=tmp_path / "d", mirrors=[bad, good.url])) == 50
    assert asked == ["nonexistent.invalid"] * 2  # once per file, then the next mirror
    assert sorted(good.requests) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    assert "retrying" not in caplog.text


def test_redirect_to_another_loopback_mirror_is_followed_and_verified(tmp_path, fixture_table, mirror_dir,
                                                                     make_mirror):
    target, bouncer = make_mirror(mirror_dir), make_mirror(mirror_dir)

    def redirect(handler, data):
        handler.send_response(302)
        handler.send_header("Location", target.url + handler.path.rsplit("/", 1)[-1])
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    bouncer.faults["*"] = redirect
    cache = tmp_path / "c"
    assert len(load("test", data_home=cache, mirrors=bouncer.url)) == 50
    assert sorted(target.requests) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def _self_signed(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a loopback https mirror")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return key, cert


def test_https_mirror_redirecting_to_plain_http_is_refused(tmp_path, fixture_table, mirror_dir, make_mirror):
    key, cert = _self_signed(tmp_path)
    plain = make_mirror(mirror_dir)

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            target = plain.url if "/down/" in self.path else f"https://127.0.0.1:{port}/mnist/"
            self.send_response(302)
            self.send_header("Location", target + self.path.rsplit("/", 1)[-1])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": POLL_INTERVAL}, daemon=True).start()
    try:
        trust = ssl.create_default_context(cafile=str(cert))
        with pytest.raises(DownloadError, match="refused redirect from https to plain http") as info:
            load("test", data_home=tmp_path / "c", mirrors=f"https://127.0.0.1:{port}/down/",
                 downloader=HTTPDownloader(context=trust))
        assert plain.requests == [] and len(info.value.attempts) == 1  # not retried, nothing fetched
        # https -> https redirects are followed (to the same server here, which then 302s again
        # to itself forever: urllib gives up with a loop error, which is a failure, not a hang)
        with pytest.raises(DownloadError, match="redirect"):
            load("test", data_home=tmp_path / "d", mirrors=f"https://127.0.0.1:{port}/loop/",
                 downloader=HTTPDownloader(context=trust))
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("scheme", ["ftp", "data", "file"])
def test_redirect_to_a_scheme_other_than_https_or_http_is_refused_without_contact(
        tmp_path, fixture_table, mirror_dir, make_mirror, caplog, scheme):
    listener = socket.create_server(("127.0.0.1", 0))  # stands in for an ftp server; must never hear from us
    listener.setblocking(False)
    port = listener.getsockname()[1]
    targets = {  # data: and file: carry the real bytes, so following them would go unnoticed but for the test
        "ftp": lambda name: f"ftp://127.0.0.1:{port}/mnist/{name}",
        "data": lambda name: "data:application/gzip;base64,"
                             + base64.b64encode((mirror_dir / name).read_bytes()).decode(),
        "file": lambda name: (mirror_dir / name).as_uri(),
    }
    bouncer, good = make_mirror(mirror_dir), make_mirror(mirror_dir)

    def redirect(handler, data):
        handler.send_response(302)
        handler.send_header("Location", targets[scheme](handler.path.rsplit("/", 1)[-1]))
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    bouncer.faults["*"] = redirect
    # Short timeouts where a followed redirect would wait on the silent listener (a regression
    # fails fast); patient ones for the good mirror, which must not time out on a busy machine.
    quick, patient = HTTPDownloader(connect_timeout=1, read_timeout=1), HTTPDownloader()

    def downloader(url, dest, report):
        return (quick if url.startswith(bouncer.url) else patient)(url, dest, report)

    try:
        data = load("test", data_home=tmp_path / "c", mirrors=[bouncer.url, good.url], downloader=downloader)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    finally:
        listener.close()
    assert len(data) == 50
    assert f"{bouncer.url}t10k-images-idx3-ubyte.gz: refused redirect from http to {scheme} (" in caplog.text
    assert bouncer.requests == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]  # never retried
    assert sorted(good.requests) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def test_download_killed_part_way_is_cleaned_up_and_the_next_run_succeeds(tmp_path, fixture_table, mirror_dir,
                                                                         make_mirror):
    mirror = make_mirror(mirror_dir)
    started = threading.Event()

    def trickle(handler, data):
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data[: len(data) // 3])
        handler.wfile.flush()
        started.set()
        time.sleep(30)  # the client is killed long before this ends

    mirror.faults["*"] = trickle
    cache = tmp_path / "cache"
    proc = load_in_subprocess(fixture_table, cache, mirror.url, split="test")
    assert started.wait(30)
    deadline = time.monotonic() + 10
    while not list(cache.glob(".*.part")) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(cache.glob(".*.part")) and final_names(cache) == set()  # half a download, no final file
    mirror.faults.clear()
    data = load("test", data_home=cache, mirrors=mirror.url)  # the next run
    assert len(data) == 50 and not list(cache.glob(".*.part"))
    assert final_names(cache) == {"t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz",
                                  "t10k-labels-idx1-ubyte", "t10k-labels-idx1-ubyte.gz"}


def test_cache_folder_that_cannot_exist_is_a_clear_error_naming_it(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(OSError, match=f"cannot create the MNIST folder {blocker / 'cache'}"):
        load("train", data_home=blocker / "cache", mirrors=str(tmp_path))
    assert blocker.read_text() == "not a folder"


GOOD = encode_idx(np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, 255)), max_size=4),
       st.integers(0, len(GOOD) + 8))
def test_mutated_plain_files_through_the_memory_map_raise_only_idx_format_error(tmp_path, edits, cut):
    data = bytearray(GOOD + bytes(8))[:cut]
    for pos, value in edits:
        if pos < len(data):
            data[pos] = value
    path = tmp_path / "fuzz-idx"
    path.write_bytes(bytes(data))
    try:
        arr = read_idx(path, mmap=True)
    except IdxFormatError:
        return
    header = 4 + 4 * data[3]
    assert arr.nbytes == len(data) - header  # anything accepted is consistent with its header


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=0, max_size=200), st.binary(min_size=0, max_size=40))
def test_custom_folder_with_garbage_files_fails_cleanly(tmp_path_factory, images, labels):
    folder = tmp_path_factory.mktemp("garbage")
    for name, content in (("train-images-idx3-ubyte", images), ("train-labels-idx1-ubyte", labels)):
        (folder / name).write_bytes(content)
    (folder / "SHA256SUMS").write_text("".join(
        f"{hashlib.sha256((folder / n).read_bytes()).hexdigest()}  {n}\n"
        for n in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")))
    mnistdata._LOADED.clear()
    with pytest.raises((IdxFormatError, ChecksumError)):
        load("train", data_home=folder, download=False)
