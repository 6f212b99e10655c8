"""Shared fixtures: drawn-digit data, a fixture file table, loopback HTTP mirrors."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from mnist_dataset_generator import mnistdata
from mnist_dataset_generator.mnistdata import FILES, FileSpec
from mnist_dataset_generator.sources import cache as _cache
from mnist_dataset_generator.sources import download as _download

REPO = Path(__file__).resolve().parent.parent
REAL_MNIST = Path(os.environ.get("MNIST_REAL_DATA", REPO.parent / "shared" / "data" / "mnist"))


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path_factory):
    """No test touches ~/, the internet, or another test's loaded data; retries do not sleep;
    no deadline comes from the environment."""
    monkeypatch.setenv(_cache.ENV_DATA_HOME, str(tmp_path_factory.mktemp("default-home")))
    # libraries (and the tools' subprocesses) that cache under ~/ find a temporary home instead
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("HF_HOME", str(home / ".cache" / "huggingface"))
    monkeypatch.setenv(_cache.ENV_MIRRORS, "http://127.0.0.1:9/")  # refused at once
    monkeypatch.delenv("GENERATOR_NUMBERS_SEQ_MNIST_DEADLINE", raising=False)  # spelled out: runs on older code too
    monkeypatch.setattr(_download, "RETRY_DELAY", 0.0)
    mnistdata._LOADED.clear()
    yield
    mnistdata._LOADED.clear()


@pytest.fixture(scope="session")
def fixture_dir(tmp_path_factory) -> Path:
    """Drawn digits written by the test-data tool (200 train, 50 test), read-only by convention."""
    return mnistdata.write_test_data(tmp_path_factory.mktemp("fixture"), 200, 50, seed=3)


@pytest.fixture
def fixture_table(monkeypatch, fixture_dir) -> dict:
    """Make the fixture files the 'official' ones, so the download path can be tested offline."""
    table = {}
    for name in FILES:
        gz = (fixture_dir / (name + ".gz")).read_bytes()
        raw = gzip.decompress(gz)
        table[name] = FileSpec(name, len(raw), hashlib.sha256(raw).hexdigest(), len(gz),
                               hashlib.sha256(gz).hexdigest())
    monkeypatch.setattr(mnistdata, "FILES", table)
    return table


@pytest.fixture
def mirror_dir(tmp_path, fixture_dir) -> Path:
    """A mirror folder with the fixture's gzip files and no SHA256SUMS."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    for name in FILES:
        (folder / (name + ".gz")).write_bytes((fixture_dir / (name + ".gz")).read_bytes())
    return folder


POLL_INTERVAL = 0.05  # seconds between a loopback server's checks for shutdown()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


class Mirror:
    """A loopback HTTP server over a folder, recording requests; ``faults[file] = int | callable``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        self.faults: dict[str, object] = {}
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                name = self.path.rsplit("/", 1)[-1]
                mirror.requests.append(name)
                fault = mirror.faults.get(name, mirror.faults.get("*"))
                path = mirror.root / name
                if isinstance(fault, int):
                    self.send_error(fault)
                    return
                if not path.is_file():
                    self.send_error(404)
                    return
                data = path.read_bytes()
                if callable(fault):
                    fault(self, data)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/mnist/"
        # a short poll interval: shutdown() waits up to one interval, in every test's teardown
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": POLL_INTERVAL},
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def make_mirror():
    mirrors = []

    def make(root: Path) -> Mirror:
        mirrors.append(Mirror(root))
        return mirrors[-1]

    yield make
    for mirror in mirrors:
        mirror.close()


def final_names(folder: Path) -> set[str]:
    """Files under a final (not hidden) name."""
    return {p.name for p in folder.iterdir() if not p.name.startswith(".")}


def template_classifier(images: np.ndarray, labels: np.ndarray):
    """Nearest class-mean template by correlation: a deliberately plain judge of legibility.

    Returns ``classify(batch) -> predicted labels`` for ``(N, 28, 28)`` ink-high images.
    """
    flat = images.reshape(len(images), -1).astype(np.float64)
    templates = np.stack([flat[labels == d].mean(axis=0) for d in range(10)])
    templates -= templates.mean(axis=1, keepdims=True)
    templates /= np.linalg.norm(templates, axis=1, keepdims=True)

    def classify(batch: np.ndarray) -> np.ndarray:
        x = np.asarray(batch, dtype=np.float64).reshape(len(batch), -1)
        return np.argmax((x - x.mean(axis=1, keepdims=True)) @ templates.T, axis=1)

    return classify


_LOAD_SCRIPT = (
    "import json, sys\n"
    "from mnist_dataset_generator import mnistdata\n"
    "mnistdata.FILES = {n: mnistdata.FileSpec(*v) for n, v in json.loads(sys.argv[1]).items()}\n"
    "d = mnistdata.load(sys.argv[4], data_home=sys.argv[2], mirrors=sys.argv[3], progress=False)\n"
    "print(int(d.images.sum()), len(d))\n"
)


def load_in_subprocess(table: dict, cache, mirror_url: str, split: str = "train") -> subprocess.Popen:
    """Start ``mnistdata.load`` in a fresh process that takes ``table`` as the official file table."""
    rows = {name: list(spec.__dict__.values()) for name, spec in table.items()}
    return subprocess.Popen([sys.executable, "-c", _LOAD_SCRIPT, json.dumps(rows), str(cache), mirror_url, split],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, text=True)


def run_generator(*args, cwd, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python generator.py ARGS`` in ``cwd``, as a user would run it; output captured as text."""
    return subprocess.run([sys.executable, str(REPO / "generator.py"), *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout)


def tree(folder):
    """Every file but the manifest (its 'created' time differs), as bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and not p.name.startswith(".") and p.name != "manifest.json"}


def drawn_source(count: int = 300, seed: int = 4):
    """A glyph source of ``count`` drawn digits (the test-data tool's), classes 0-9 in turn."""
    from mnist_dataset_generator.mnistdata import MnistData
    from mnist_dataset_generator.sources.testdata import draw_digits

    classes = np.arange(count) % 10
    return MnistData.from_arrays(draw_digits(classes, np.random.default_rng(seed)), classes)


def fixture_source(folder: Path):
    """The training split of a fixture folder as a glyph source, read directly: no load(), so no
    verification stamp is left in the shared folder."""
    from mnist_dataset_generator.mnistdata import MnistData
    from mnist_dataset_generator.sources.idx import read_idx

    return MnistData.from_arrays(read_idx(folder / "train-images-idx3-ubyte.gz"),
                                 read_idx(folder / "train-labels-idx1-ubyte.gz"))


def one_line(result):
    """The single line a failed command printed on stderr (and no traceback)."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs: gone, or a zombie (state Z, ended but not yet reaped), is not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(condition, timeout: float) -> bool:
    """Whether ``condition()`` holds within ``timeout`` seconds (a generous bound: it is polled)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def edit_manifest(folder, change):
    """Rewrite ``folder``'s manifest.json with ``change(manifest)`` applied (its checksum left as it was)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    change(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def rewrite_record(folder):
    """What someone covering their tracks does: SHA256SUMS and the manifest's checksum made to match."""
    lines = []
    for line in (folder / "SHA256SUMS").read_text().splitlines():
        sha, rel = line.split("  ", 1)
        lines.append(f"{hashlib.sha256((folder / rel).read_bytes()).hexdigest()}  {rel}\n")
    data = "".join(lines).encode()
    (folder / "SHA256SUMS").write_bytes(data)
    edit_manifest(folder, lambda m: m["checksums"].update(sha256=hashlib.sha256(data).hexdigest()))
