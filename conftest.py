"""Root conftest: the docstring examples run as doctests with ``np`` available; the system's
temporary folder (``tempfile.mkdtemp()`` in the examples, scratch files of libraries and of
the tools' subprocesses) is one under pytest's own temporary folder."""

import tempfile

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _doctest_numpy(doctest_namespace):
    doctest_namespace["np"] = np


@pytest.fixture(scope="session")
def _scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("tempfile")


@pytest.fixture(autouse=True)
def _temporary_folder(monkeypatch, _scratch):
    monkeypatch.setattr(tempfile, "tempdir", str(_scratch))
    monkeypatch.setenv("TMPDIR", str(_scratch))
