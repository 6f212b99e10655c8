"""The test-data tool: deterministic, sha256sum-compatible, and digits that look like their labels."""

from __future__ import annotations

import gzip
import hashlib

import numpy as np
import pytest

from conftest import template_classifier
from mnist_dataset_generator.sources.idx import read_idx
from mnist_dataset_generator.sources.testdata import (
    FILE_NAMES,
    draw_digits,
    write_test_data,
)


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a = write_test_data(tmp_path / "a", 40, 20, seed=5)
    b = write_test_data(tmp_path / "b", 40, 20, seed=5)
    c = write_test_data(tmp_path / "c", 40, 20, seed=6)
    for name in (*FILE_NAMES, "SHA256SUMS"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert (a / FILE_NAMES[0]).read_bytes() != (c / FILE_NAMES[0]).read_bytes()


def test_test_count_does_not_change_training_files(tmp_path):
    a = write_test_data(tmp_path / "a", 30, 10, seed=1)
    b = write_test_data(tmp_path / "b", 30, 99, seed=1)
    assert (a / FILE_NAMES[0]).read_bytes() == (b / FILE_NAMES[0]).read_bytes()


def test_sha256sums_checks_like_sha256sum(fixture_dir):
    lines = (fixture_dir / "SHA256SUMS").read_text().splitlines()
    assert [line.split("  ")[1] for line in lines] == list(FILE_NAMES)
    for line in lines:
        digest, name = line.split("  ")
        assert hashlib.sha256((fixture_dir / name).read_bytes()).hexdigest() == digest


def test_files_have_mnist_layout_and_balanced_labels(fixture_dir):
    images = read_idx(fixture_dir / "train-images-idx3-ubyte.gz")
    labels = read_idx(fixture_dir / "train-labels-idx1-ubyte.gz")
    assert images.shape == (200, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == [20] * 10
    assert gzip.decompress((fixture_dir / "t10k-labels-idx1-ubyte.gz").read_bytes())[:4] == b"\x00\x00\x08\x01"
    # not blank frames: every image has real ink, and a dark border like MNIST
    assert (images.reshape(200, -1).max(axis=1) > 200).all()
    assert images[:, :2, :].max() == 0 and images[:, :, :1].max() == 0


def test_drawn_digits_best_match_their_own_class_template():
    # Templates (class means) from one seed, nearest-template classification of a
    # fresh sample from another: each digit must look like its label, not merely
    # be non-blank. Measured 95.2 % (misses are 3/5/8, whose mean shapes overlap).
    labels = np.repeat(np.arange(10), 50)
    classify = template_classifier(draw_digits(labels, np.random.default_rng(100)), labels)
    test_labels = np.random.default_rng(7).integers(0, 10, 500)
    accuracy = (classify(draw_digits(test_labels, np.random.default_rng(200))) == test_labels).mean()
    assert accuracy >= 0.93, accuracy


def test_refuses_existing_files_unless_overwrite(tmp_path):
    folder = write_test_data(tmp_path, 10, 10, seed=0)
    before = (folder / FILE_NAMES[0]).read_bytes()
    with pytest.raises(FileExistsError, match="already holds"):
        write_test_data(folder, 10, 10, seed=1)
    assert (folder / FILE_NAMES[0]).read_bytes() == before
    write_test_data(folder, 10, 10, seed=1, overwrite=True)
    assert (folder / FILE_NAMES[0]).read_bytes() != before


def test_no_temporary_files_left(tmp_path):
    write_test_data(tmp_path, 10, 10)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*FILE_NAMES, "SHA256SUMS"])


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"count_train": 0}, "count_train must be an integer in 1..1000000, got 0"),
        ({"count_test": 2.5}, "count_test must be an integer"),
        ({"count_train": True}, "count_train must be an integer"),
        ({"seed": -1}, "seed must be a non-negative integer or None, got -1"),
    ],
)
def test_bad_arguments_name_the_argument_and_range(tmp_path, kwargs, words):
    with pytest.raises(ValueError, match=words.replace(".", r"\.")):
        write_test_data(tmp_path / "x", **kwargs)
    assert not (tmp_path / "x").exists()


def test_target_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "file"
    target.write_text("keep me")
    with pytest.raises(NotADirectoryError):
        write_test_data(target, 10, 10)
    assert target.read_text() == "keep me"


def test_a_glyph_source_says_what_the_renderer_reads_and_labels_convert_one_way():
    from mnist_dataset_generator.sources.glyphs import (
        DIGITS,
        GlyphSource,
        MnistData,
        decode_rows,
        encode_text,
    )

    data = MnistData.from_arrays(np.zeros((3, 28, 28), np.uint8), [1, 2, 3])
    assert isinstance(data, GlyphSource) and data.alphabet == DIGITS and data.glyph_shape == (28, 28)
    classes = np.array([[0, 7, 4, 1], [4, 2, 9, 9]])
    assert decode_rows(classes, np.array([4, 2])) == ["0741", "42"]
    assert encode_text("0741").tolist() == [0, 7, 4, 1]
    assert decode_rows(classes % 3, np.array([4, 4]), "abc") == ["abbb", "bcaa"]  # another alphabet
    assert decode_rows(np.array([[1, 0]]), np.array([2]), "αβ") == ["βα"] and encode_text("βα", "αβ").tolist() == [1, 0]
    with pytest.raises(ValueError, match="'x' is not in the alphabet '0123456789'"):
        encode_text("12x")
