"""Control over the strings: ``--labels-file`` (issue 22, content control)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import one_line, run_generator
from mnist_dataset_generator import generate_dataset, mnistdata


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return mnistdata.write_test_data(tmp_path_factory.mktemp("content-data"), 300, 60, seed=47)


LABELS = ["0123", "555", "98765432", "7", "000000"]


def export(tmp_path, data_dir, *args, name="out"):
    return run_generator("-d", data_dir, "-w", 200, "-s", "0,4", "--seed", 5, "--format", "npz", "-q",
                         "--output-dir", tmp_path / name, *args, cwd=tmp_path)


def test_labels_file_gives_each_image_its_line_in_order(tmp_path, data_dir):
    # A BOM, Windows line ends and no newline after the last line: what editors write.
    (tmp_path / "labels.txt").write_bytes(b"\xef\xbb\xbf" + "\r\n".join(LABELS).encode())
    result = export(tmp_path, data_dir, "--labels-file", "labels.txt")
    assert result.returncode == 0, result.stderr
    with np.load(tmp_path / "out" / "dataset.npz") as npz:
        assert npz["labels"].tolist() == LABELS
        images = npz["images"]
    # The same images as the library makes from the same labels and seed, byte for byte.
    expected, labels = generate_dataset(None, seed=5, labels=LABELS, spacing_range=(0, 4), image_width=200,
                                        data_home=data_dir, dtype="uint8")
    assert labels == LABELS
    np.testing.assert_array_equal(images, expected)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["dataset"]["count"] == len(LABELS)


def test_count_takes_the_first_labels_of_the_file(tmp_path, data_dir):
    (tmp_path / "labels.txt").write_text("\n".join(LABELS) + "\n")
    assert export(tmp_path, data_dir, "--labels-file", "labels.txt", "--count", 3).returncode == 0
    with np.load(tmp_path / "out" / "dataset.npz") as npz:
        assert npz["labels"].tolist() == LABELS[:3]


@pytest.mark.parametrize(("content", "args", "message"), [
    (b"12\n\n3\n", (), "labels.txt line 2: empty (one label per line)"),
    (b"12\n3a\n", (), "labels.txt line 2: 'a' is not in the alphabet '0123456789' ('3a')"),
    (b"12\n 3\n", (), "labels.txt line 2: ' ' is not in the alphabet '0123456789'"),
    (b"", (), "labels.txt: holds no labels"),
    (b"\xff\xfe1\n", (), "labels.txt: not UTF-8 text"),
    (b"12\n34\n", ("--count", "3"), "--count 3 but --labels-file labels.txt holds 2 labels"),
    (b"12\n", ("--length", "3"), "--length does not apply with --labels-file"),
])
def test_a_bad_labels_file_is_one_line_and_nothing_is_written(tmp_path, data_dir, content, args, message):
    (tmp_path / "labels.txt").write_bytes(content)
    result = export(tmp_path, data_dir, "--labels-file", "labels.txt", *args)
    assert result.returncode == 2 and message in one_line(result)
    assert not (tmp_path / "out").exists()


def test_a_missing_labels_file_and_digits_with_it_are_refused(tmp_path, data_dir):
    result = export(tmp_path, data_dir, "--labels-file", "nope.txt")
    assert result.returncode == 2 and "nope.txt: cannot read it" in one_line(result)
    (tmp_path / "labels.txt").write_text("12\n")
    both = run_generator("--labels-file", "labels.txt", "123", cwd=tmp_path)
    assert both.returncode == 2 and "not both" in one_line(both)
    assert not (tmp_path / "out").exists()


def test_resume_with_another_labels_file_is_refused(tmp_path, data_dir):
    (tmp_path / "a.txt").write_text("\n".join(LABELS) + "\n")
    (tmp_path / "b.txt").write_text("\n".join(LABELS[:-1] + ["000001"]) + "\n")
    assert export(tmp_path, data_dir, "--labels-file", "a.txt").returncode == 0
    before = (tmp_path / "out" / "dataset.npz").read_bytes()
    other = export(tmp_path, data_dir, "--labels-file", "b.txt", "--resume")
    assert other.returncode == 2 and "differs in: labels" in one_line(other)
    assert export(tmp_path, data_dir, "--labels-file", "a.txt", "--resume").returncode == 0
    assert (tmp_path / "out" / "dataset.npz").read_bytes() == before
