"""Worker processes end with their parent, however it dies (Linux: they are found through /proc)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import REPO, alive, wait_until
from mnist_dataset_generator import mnistdata

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux's /proc")


def children(pid: int) -> set[int]:
    """The child processes of ``pid``, from every one of its threads."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.update(int(p) for p in (task / "children").read_text().split())
        except OSError:  # the thread ended meanwhile
            pass
    return found


def kill_leftovers(pids) -> None:
    for pid in pids:  # only the processes this test started, should they have outlived their parent
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return mnistdata.write_test_data(tmp_path_factory.mktemp("orphans"), 200, 20, seed=5)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_workers_end_within_seconds_when_the_export_is_killed(tmp_path, data_dir, sig):
    # Far more samples than are made before the signal: the export is busy when it arrives.
    proc = subprocess.Popen([sys.executable, str(REPO / "generator.py"), "--count", "1000000", "--length", "3",
                             "-s", "0,4", "-w", "100", "--seed", "1", "--workers", "2", "--format", "npz", "-q",
                             "--output-dir", str(tmp_path / "out"), "-d", str(data_dir)],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    try:
        assert wait_until(lambda: len(children(proc.pid)) >= 2, 60), "the export never started its workers"
        workers = children(proc.pid)
        proc.send_signal(sig)
        proc.wait(timeout=10)
        assert wait_until(lambda: not any(map(alive, workers)), 5), \
            f"workers {sorted(filter(alive, workers))} outlived their parent"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_leftovers(workers)


WATCHED_CHILD = textwrap.dedent("""
    import os, sys, time
    from mnist_dataset_generator._limits import end_with_parent

    parent = os.getpid()
    if os.fork() == 0:
        end_with_parent(parent, pdeathsig=False)  # the portable watcher alone, no prctl
        print(os.getpid(), flush=True)
        while True:
            time.sleep(1)
    time.sleep(120)
""")


def test_the_parent_watcher_alone_ends_an_orphaned_child():
    proc = subprocess.Popen([sys.executable, "-c", WATCHED_CHILD], cwd=REPO, stdout=subprocess.PIPE, text=True)
    grandchild = None
    try:
        line = proc.stdout.readline()
        assert line.strip().isdigit(), f"the child did not start: {line!r}"
        grandchild = int(line)
        assert alive(grandchild)
        proc.kill()
        proc.wait(timeout=10)
        assert wait_until(lambda: not alive(grandchild), 5), f"process {grandchild} outlived its parent"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        kill_leftovers([grandchild] if grandchild else [])


def test_a_worker_whose_parent_is_already_gone_exits_at_once():
    # The parent may die between the fork and the arming: the pid it recorded is then not our parent's.
    code = ("import os\nfrom mnist_dataset_generator._limits import end_with_parent\n"
            "end_with_parent(os.getppid() + 1)\nprint('still running')\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (1, "", ""), result  # no traceback: os._exit
