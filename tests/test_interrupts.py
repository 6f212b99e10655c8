"""Ctrl-C ends an export within seconds, workers included, and leaves a folder ``--resume`` finishes.

The signals go to the export's whole process group, as a terminal sends them. No test waits a
fixed time for the export to reach a state: a filter module written into ``tmp_path`` makes the
workers wait on a gate (a file the test creates only for the runs that must finish) and leave a
marker file named by their pid once they wait, and the test signals only when every worker has
left one. What is asserted is that the run ends (a generous bound) and its workers are gone.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from conftest import REPO, alive, tree, wait_until
from mnist_dataset_generator import mnistdata

pytestmark = pytest.mark.skipif(not hasattr(os, "killpg") or "fork" not in multiprocessing.get_all_start_methods(),
                                reason="needs POSIX process groups and fork")

ENDS_WITHIN = 60  # seconds: a bound for a busy machine, not a measure of speed

# Filters that pass every digit unchanged, so all runs make the same files whichever is named.
# Past the first chunk each worker makes, a digit waits for the gate: `gate` polls for it and
# goes on when Ctrl-C reaches it (a worker busy in code that does not stop for it: before the
# fix, such a worker kept the interrupted export waiting for it), `stuck` blocks for good (a
# worker stuck in a user's filter).
GATE_FILTERS = textwrap.dedent("""
    import multiprocessing, os, threading, time

    PAST = 3 * (16 + 256 + 100)  # digits: the preview's 16 samples, a whole chunk, part of the next

    def _waiting(calls):
        calls.append(1)
        if len(calls) <= PAST or os.path.exists(os.environ["GATE"]) or multiprocessing.parent_process() is None:
            return False
        open(os.path.join(os.environ["MARKS"], str(os.getpid())), "w").close()
        return True

    def gate():
        calls = []
        def f(img):
            while True:
                try:
                    if not _waiting(calls):
                        return img
                    time.sleep(0.01)
                except KeyboardInterrupt:  # as compiled code busy for minutes would: Ctrl-C does not stop it
                    pass
        return f

    def stuck():
        calls = []
        def f(img):
            if _waiting(calls):
                threading.Event().wait()  # never set
            return img
        return f
""")

DATASET = ["--count", "2000", "--length", "3", "-w", "100", "-s", "0,4", "--seed", "11", "-q"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return mnistdata.write_test_data(tmp_path_factory.mktemp("interrupts-data"), 200, 20, seed=5)


def generator(cwd: Path, *args, **popen) -> subprocess.Popen:
    """``generator.py ARGS`` in a session of its own (its group gets the signals), the gate filters importable."""
    env = {**os.environ, "PYTHONPATH": str(cwd), "GATE": str(cwd / "gate"), "MARKS": str(cwd / "marks")}
    return subprocess.Popen([sys.executable, str(REPO / "generator.py"), *map(str, args)], cwd=cwd, env=env,
                            start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **popen)


def finish(cwd: Path, *args) -> subprocess.CompletedProcess:
    (cwd / "gate").touch()  # the filters wait no more
    proc = generator(cwd, *args)
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def setup(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "gatefilters.py").write_text(GATE_FILTERS)
    (folder / "marks").mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, data_dir):
    """Each format's dataset, made in one run (one worker, the gate open)."""
    root = setup(tmp_path_factory.mktemp("uninterrupted"))
    for fmt in ("png", "npz"):
        result = finish(root, *DATASET, "-f", "gatefilters:gate", "--workers", "1", "--format", fmt,
                        "--output-dir", root / fmt, "-d", data_dir)
        assert result.returncode == 0, result.stderr
    return root


def interrupt(cwd: Path, args: list, signals: int, written=lambda: True
              ) -> tuple[subprocess.CompletedProcess, list[int]]:
    """Start an export, wait until both its workers wait at the gate (and ``written()``), send
    ``signals`` SIGINTs to its process group; return how it ended and its workers' pids."""
    proc = generator(cwd, *args)
    marks = cwd / "marks"
    workers: list[int] = []
    try:
        ready = wait_until(lambda: (len(list(marks.iterdir())) >= 2 and written()) or proc.poll() is not None, 120)
        workers = [int(p.name) for p in marks.iterdir()]
        assert ready and proc.poll() is None and len(workers) == 2, \
            f"the export ended or stalled before its workers reached the gate: {proc.poll()}, {workers}"
        os.killpg(proc.pid, signal.SIGINT)
        for _ in range(signals - 1):
            time.sleep(0.2)  # "shortly after": wherever it lands, the outcome must be the same
            with contextlib.suppress(ProcessLookupError):  # the whole group has ended already
                os.killpg(proc.pid, signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=ENDS_WITHIN)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the export did not end within {ENDS_WITHIN} s of Ctrl-C")
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), workers
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
        for pid in workers:  # only this test's processes, should they have outlived it
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def pngs(folder: Path) -> int:
    return len(list((folder / "images").glob("*.png")))


def assert_ended_by_ctrl_c(result: subprocess.CompletedProcess, workers: list[int]) -> None:
    assert (result.returncode, result.stderr) == (130, "generator.py: interrupted\n"), result.stderr
    assert wait_until(lambda: not any(map(alive, workers)), 10), \
        f"workers {[p for p in workers if alive(p)]} outlived the interrupted export"


def assert_resume_finishes_it(cwd: Path, args: list, folder: Path, reference: Path) -> None:
    resumed = finish(cwd, *args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert (folder / "SHA256SUMS").read_bytes() == (reference / "SHA256SUMS").read_bytes()
    assert tree(folder) == tree(reference)


@pytest.mark.parametrize("fmt", ["png", "npz"])
def test_two_ctrl_c_end_a_two_worker_export_and_resume_finishes_it(tmp_path, data_dir, uninterrupted, fmt):
    cwd = setup(tmp_path)
    folder = tmp_path / "ds"
    args = [*DATASET, "-f", "gatefilters:gate", "--workers", "2", "--format", fmt, "--output-dir", folder,
            "-d", data_dir]
    # png: the two chunks made before the gate are written first, so the resume keeps files too.
    first_chunks = 512 if fmt == "png" else 0
    result, workers = interrupt(cwd, args, signals=2, written=lambda: pngs(folder) >= first_chunks)
    assert_ended_by_ctrl_c(result, workers)
    assert pngs(folder) >= first_chunks
    assert_resume_finishes_it(cwd, args, folder, uninterrupted / fmt)


def test_one_ctrl_c_ends_an_export_whose_filter_blocks_forever_in_a_worker(tmp_path, data_dir, uninterrupted):
    cwd = setup(tmp_path)
    folder = tmp_path / "ds"
    args = [*DATASET, "-f", "gatefilters:stuck", "--workers", "2", "--output-dir", folder, "-d", data_dir]
    result, workers = interrupt(cwd, args, signals=1)
    assert_ended_by_ctrl_c(result, workers)
    assert_resume_finishes_it(cwd, args, folder, uninterrupted / "png")


SECOND_CTRL_C_IN_CLEAN_UP = textwrap.dedent("""
    import os, signal, sys, time
    from mnist_dataset_generator.cli.common import _console, _run

    def work(args):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            while True:  # until the first Ctrl-C arrives
                time.sleep(0.01)
        finally:
            os.kill(os.getpid(), signal.SIGINT)  # the second, in the clean-up
            for _ in range(20):
                time.sleep(0.01)
            print("clean-up finished", flush=True)

    _console(lambda prog: _run(prog, work, None), "tool")
""")


def test_a_second_ctrl_c_during_the_clean_up_is_ignored_by_the_command_line_tools():
    result = subprocess.run([sys.executable, "-c", SECOND_CTRL_C_IN_CLEAN_UP], cwd=REPO, capture_output=True,
                            text=True, timeout=ENDS_WITHIN)
    assert (result.returncode, result.stdout, result.stderr) == (130, "clean-up finished\n", "tool: interrupted\n")


# ------------------------------------------------------------- the pool itself


def _wait_for_good_after_the_first(i: int) -> int:
    if i > 0:
        threading.Event().wait()
    return i


def _fail_on_three(i: int) -> int:
    time.sleep(0.01 * (i % 2))  # uneven: results arrive out of order
    if i == 3:
        raise KeyError(f"bad {i}")
    return i * i


def test_closing_the_calls_early_ends_workers_blocked_in_a_call():
    from mnist_dataset_generator._pool import ordered_calls

    calls = ordered_calls(_wait_for_good_after_the_first, [(i,) for i in range(6)], processes=2, window=4,
                          context=multiprocessing.get_context("fork"))
    assert next(calls) == 0
    workers = [p for p in multiprocessing.active_children() if p.name == "mnist-worker"]
    assert len(workers) == 2
    closing = threading.Thread(target=calls.close, daemon=True)
    closing.start()
    closing.join(ENDS_WITHIN)
    assert not closing.is_alive(), "close() waited for calls that never return"
    assert not [p for p in multiprocessing.active_children() if p.name == "mnist-worker"]


def test_calls_come_back_in_order_and_an_error_keeps_its_type_and_remote_traceback():
    from mnist_dataset_generator._pool import ordered_calls

    calls = ordered_calls(_fail_on_three, [(i,) for i in range(8)], processes=2, window=4,
                          context=multiprocessing.get_context("fork"))
    assert [next(calls) for _ in range(3)] == [0, 1, 4]
    with pytest.raises(KeyError, match="bad 3") as info:
        next(calls)
    assert "_fail_on_three" in str(info.value.__cause__)
    assert not [p for p in multiprocessing.active_children() if p.name == "mnist-worker"]


def test_workers_that_set_sigterm_aside_share_one_grace_before_they_are_killed(monkeypatch):
    # A filter may ignore SIGTERM: each such worker used to get its own 2 s grace, one after the other.
    from types import SimpleNamespace

    from mnist_dataset_generator import _pool

    clock = [0.0]
    monkeypatch.setattr(_pool, "time", SimpleNamespace(monotonic=lambda: clock[0]))

    class Stubborn:  # ends only when killed; time passes only while it is waited for
        exitcode, pid = None, 12345

        def terminate(self):
            pass

        def join(self, timeout=None):
            if self.exitcode is None and timeout is not None:
                clock[0] += timeout

        def kill(self):
            self.exitcode = -9

        def close(self):
            pass

    workers = [SimpleNamespace(process=Stubborn(), conn=SimpleNamespace(close=lambda: None)) for _ in range(6)]
    _pool._end(workers)
    assert clock[0] == pytest.approx(_pool.TERMINATE_GRACE)  # one grace in all, not six
    assert all(w.process.exitcode == -9 for w in workers)
