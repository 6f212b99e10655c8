"""A user's filter that fails in any way (raises anything, returns complex numbers, fails only after the
preview): one line naming the filter and what it did, exit 2, and nothing of the run left behind."""

from __future__ import annotations

import pytest

from conftest import one_line, run_generator
from mnist_dataset_generator import mnistdata
from mnist_dataset_generator.export.folder import JOURNAL, LOCK, MANIFEST

# Each factory's filter behaves from its ``after``-th call on; before that it returns the digit.
# With --length 1 the preview draws 16 digits in the parent, so after=40 fails in the export proper
# (in a worker process with --workers 2, whose copy of the count starts at 16).
USER_FILTERS = '''
def _failing(act, after):
    calls = [0]

    def f(img):
        calls[0] += 1
        return act(img) if calls[0] >= after else img
    return f


def _runtime(img):
    raise RuntimeError("boom")


def _type(img):
    raise TypeError("bad operand")


def _exit(img):
    raise SystemExit(0)


def _complex(img):
    return img * 1j


def runtime(after=1):
    return _failing(_runtime, after)


def type_error(after=1):
    return _failing(_type, after)


def system_exit(after=1):
    return _failing(_exit, after)


def complex_values(after=1):
    return _failing(_complex, after)
'''

DATASET = ["--count", "300", "--length", "1", "-w", "28", "--seed", "3", "-q"]  # 2 chunks: workers get work

KINDS = [("runtime", "raised RuntimeError: boom"), ("type_error", "raised TypeError: bad operand"),
         ("system_exit", "raised SystemExit(0)"), ("complex_values", "returned complex64 values")]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return mnistdata.write_test_data(tmp_path_factory.mktemp("failing-data"), 200, 40, seed=4)


def _run_failing(tmp_path, data_dir, spec, workers):
    (tmp_path / "userfilters.py").write_text(USER_FILTERS)
    out = tmp_path / "out"
    out.mkdir()
    result = run_generator(*DATASET, "--workers", workers, "-f", spec, "--output-dir", out, "-d", data_dir,
                           cwd=tmp_path, timeout=120)
    return result, out


@pytest.mark.parametrize("factory, words", KINDS)
def test_a_filter_failing_at_once_is_one_line_naming_it_and_writes_nothing(tmp_path, data_dir, factory, words):
    result, out = _run_failing(tmp_path, data_dir, f"userfilters:{factory}", 1)
    assert result.returncode == 2, result.stderr
    line = one_line(result)
    assert "filter userfilters:" in line and words in line, line
    assert list(out.iterdir()) == []  # failed in the preview, before the folder was touched


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("factory, words", KINDS)
def test_a_filter_failing_after_the_preview_is_rolled_back_and_the_next_run_is_not_refused(
        tmp_path, data_dir, factory, words, workers):
    result, out = _run_failing(tmp_path, data_dir, f"userfilters:{factory}:after=40", workers)
    assert result.returncode == 2, result.stderr
    line = one_line(result)
    assert "filter userfilters:" in line and words in line, line
    assert {p.name for p in out.iterdir()} <= {LOCK}, sorted(p.name for p in out.iterdir())
    assert not (out / MANIFEST).exists() and not (out / JOURNAL).exists() and not (out / "images").exists()
    again = run_generator(*DATASET, "--workers", workers, "--output-dir", out, "-d", data_dir, cwd=tmp_path)
    assert again.returncode == 0, again.stderr  # no --force needed: nothing of the failed run is left
    assert (out / MANIFEST).exists() and len(list((out / "images").iterdir())) == 300
