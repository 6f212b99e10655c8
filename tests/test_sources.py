"""Glyph sets beyond MNIST (issue 22): ``source=`` / ``--source``, each set's own files and folder."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REAL_MNIST, REPO, one_line, run_generator
from mnist_dataset_generator import (
    generate_dataset,
    generate_numbers_sequence,
    mnistdata,
)
from mnist_dataset_generator.recipe import Recipe
from mnist_dataset_generator.sources.sets import SETS, glyph_set
from mnist_dataset_generator.sources.testdata import write_glyph_folder
from mnist_dataset_generator.sources.verified import ForeignFileError

FASHION = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist package
needs_fashion = pytest.mark.skipif(not (FASHION / "train-images-idx3-ubyte.gz").is_file(),
                                   reason=f"Fashion-MNIST not found in {FASHION} (apt-get install dataset-fashion-mnist)")
needs_mnist = pytest.mark.skipif(not (REAL_MNIST / "t10k-images-idx3-ubyte.gz").is_file(),
                                 reason=f"real MNIST files not found in {REAL_MNIST}")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return mnistdata.write_test_data(tmp_path_factory.mktemp("sources-data"), 300, 60, seed=21)


def _copy_split(folder: Path, target: Path, split: str = "test") -> Path:
    """The gzip files of one split, copied (the originals are never written to by a test)."""
    target.mkdir()
    for name in SETS["mnist"].splits[split]:
        shutil.copyfile(folder / (name + ".gz"), target / (name + ".gz"))
    return target


def _digests(folder: Path) -> dict[str, str]:
    """The data files and their digests (the lock file the cache keeps aside)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
            if p.is_file() and p.name != ".lock"}


def test_an_unknown_source_is_named_with_the_known_ones(tmp_path, data_dir):
    known = (f"source must be one of {', '.join(SETS)}, or a folder of your glyphs; got 'kanji' (no such folder)")
    assert list(SETS) == ["mnist", "fashion", "kmnist", "qmnist", "emnist-digits", "emnist-letters", "emnist-balanced"]
    with pytest.raises(ValueError, match=re.escape(known)):
        Recipe(source="kanji")
    with pytest.raises(ValueError, match=re.escape(known)):
        mnistdata.load("train", data_home=data_dir, source="kanji")
    result = run_generator("--count", 3, "--source", "kanji", "--output-dir", tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 2 and known in one_line(result)
    assert not (tmp_path / "out").exists()


def test_each_set_has_its_own_folder_in_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENERATOR_NUMBERS_SEQ_MNIST_DIR", str(tmp_path / "cache"))
    assert mnistdata.source_home(None, SETS["mnist"]) == tmp_path / "cache"  # where earlier versions kept it
    assert mnistdata.source_home(None, SETS["fashion"]) == tmp_path / "cache" / "fashion"
    assert mnistdata.source_home(tmp_path / "mine", SETS["fashion"]) == tmp_path / "mine"  # given: in place
    assert {s.name: s.subfolder for s in SETS.values() if s.name != "mnist"} == {
        "fashion": "fashion", "kmnist": "kmnist", "qmnist": "qmnist", "emnist-digits": "emnist",
        "emnist-letters": "emnist", "emnist-balanced": "emnist"}  # EMNIST's sets share their one zip


@needs_fashion
def test_fashion_loads_from_debians_files_in_place_and_verified():
    data = mnistdata.load("test", data_home=FASHION, download=False, source="fashion")
    assert data.images.shape == (10000, 28, 28) and data.alphabet == "0123456789"
    assert np.bincount(data.labels).tolist() == [1000] * 10  # Fashion-MNIST's balanced test split
    for name in SETS["fashion"].splits["test"]:  # the content is the publisher's, whatever the gzip
        content = gzip.decompress((FASHION / (name + ".gz")).read_bytes())
        assert hashlib.sha256(content).hexdigest() == SETS["fashion"].files[name].sha256


@needs_fashion
def test_fashion_strips_use_its_glyphs_of_the_right_class_byte_for_byte():
    data = mnistdata.load("test", data_home=FASHION, download=False, source="fashion")
    images, labels = generate_dataset(12, length=6, source="fashion", split="test", data_home=FASHION,
                                      spacing_range=(0, 0), seed=8, dtype="uint8")
    assert images.shape == (12, 28, 6 * 28)
    for image, label in zip(images, labels, strict=True):
        for k, char in enumerate(label):
            glyph = 255 - image[:, 28 * k: 28 * (k + 1)]
            candidates = data.images[data.digit_indices[int(char)]]
            assert (candidates == glyph).all(axis=(1, 2)).any(), (label, k)


@needs_fashion
def test_fashion_dataset_through_the_command_line(tmp_path):
    result = run_generator("--count", 20, "--source", "fashion", "--split", "test", "-d", FASHION, "--length", 4,
                           "--seed", 3, "--format", "npz", "-q", "--output-dir", tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with np.load(tmp_path / "out" / "dataset.npz") as npz:
        images, labels = npz["images"], npz["labels"].tolist()
    expected, expected_labels = generate_dataset(20, length=4, source="fashion", split="test", data_home=FASHION,
                                                 seed=3, dtype="uint8")
    assert labels == expected_labels
    np.testing.assert_array_equal(images, expected)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["dataset"]["source"] == "fashion" and manifest["dataset"]["recipe"]["source"] == "fashion"
    deep = run_generator("--verify", tmp_path / "out", "--deep", "-d", FASHION, cwd=tmp_path)
    assert deep.returncode == 0, deep.stdout + deep.stderr


@needs_mnist
def test_another_sets_files_are_refused_and_left_where_they_are(tmp_path):
    folder = _copy_split(REAL_MNIST, tmp_path / "mnist")
    before = _digests(folder)
    with pytest.raises(ForeignFileError, match="is mnist's t10k-images-idx3-ubyte, not the file asked for"):
        mnistdata.load("test", data_home=folder, source="fashion", download=False)
    assert _digests(folder) == before  # nothing moved aside, renamed or unpacked
    result = run_generator("--source", "fashion", "--split", "test", "-d", folder, "-o", tmp_path / "x.png", "42",
                           cwd=tmp_path)
    assert result.returncode == 2 and "is mnist's t10k-images-idx3-ubyte" in one_line(result)
    assert _digests(folder) == before and not (tmp_path / "x.png").exists()


@needs_fashion
def test_mnist_refuses_fashions_files_too(tmp_path):
    folder = _copy_split(FASHION, tmp_path / "fashion")
    before = _digests(folder)
    with pytest.raises(ForeignFileError, match="is fashion's t10k-images-idx3-ubyte"):
        mnistdata.load("test", data_home=folder, download=False)
    assert _digests(folder) == before


def test_resume_with_another_source_is_refused(tmp_path, data_dir):
    # The test-data folder is custom data (its SHA256SUMS), accepted for any set of MNIST's layout.
    args = ("--count", 5, "--length", 3, "-d", data_dir, "--seed", 1, "-q", "--output-dir", tmp_path / "out")
    assert run_generator(*args, cwd=tmp_path).returncode == 0
    result = run_generator(*args, "--source", "fashion", "--resume", cwd=tmp_path)
    assert result.returncode == 2 and "differs in: recipe, source" in one_line(result)
    assert run_generator(*args, "--resume", cwd=tmp_path).returncode == 0


def test_the_test_data_tool_writes_fixtures_for_each_set(tmp_path):
    for name in SETS:
        result = subprocess.run([sys.executable, str(REPO / "mnistdata.py"), str(tmp_path / name), "--source", name,
                                 "--count-train", "30", "--count-test", "20"], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
        data = mnistdata.load("test", data_home=tmp_path / name, download=False, source=name)
        assert len(data) == 20 and data.alphabet == glyph_set(name).alphabet


def test_given_images_must_have_the_sets_alphabet():
    images = mnistdata.MnistData.from_arrays(np.zeros((10, 28, 28), np.uint8), np.arange(10))
    letters = mnistdata.MnistData(images.images, images.labels, alphabet="abcdefghij")
    with pytest.raises(ValueError, match="images have the alphabet 'abcdefghij', not mnist's '0123456789'"):
        generate_dataset(2, length=3, images=letters, spacing_range=(0, 0), seed=1)


# ------------------------------------------------------------------ a folder of your own glyphs

LETTERS = "abcdefghijklmnopqrstuvwxyz"


@pytest.fixture(scope="module")
def png_glyphs(tmp_path_factory):
    return write_glyph_folder(tmp_path_factory.mktemp("png-glyphs") / "glyphs", LETTERS, per_class=4, seed=5)


@pytest.fixture(scope="module")
def idx_glyphs(tmp_path_factory):
    return write_glyph_folder(tmp_path_factory.mktemp("idx-glyphs") / "glyphs", "0123456789ABCDEF", per_class=6,
                              seed=6, layout="idx")


def test_png_glyphs_are_drawn_byte_for_byte_in_their_class(png_glyphs):
    from PIL import Image

    pngs = {c: [np.asarray(Image.open(f)) for f in sorted((png_glyphs / c).glob("*.png"))] for c in LETTERS}
    images, labels = generate_dataset(30, length=5, source=str(png_glyphs), spacing_range=(0, 0), seed=2,
                                      dtype="uint8")
    assert all(set(label) <= set(LETTERS) for label in labels)
    assert set("".join(labels)) >= set("aeiou")  # 150 letters drawn over the alphabet
    for image, label in zip(images, labels, strict=True):
        for k, char in enumerate(label):
            slot = image[:, 28 * k: 28 * (k + 1)]  # dark on white, as the PNG itself
            assert any(np.array_equal(slot, png) for png in pngs[char]), (label, k)


def test_a_glyph_folder_takes_patterns_labels_unique_and_single_strips(png_glyphs, tmp_path):
    source = str(png_glyphs)
    labels = generate_dataset(40, pattern="aa-a", source=source, spacing_range=(0, 0), seed=3)[1]
    assert all(len(x) == 4 and x[2] == "-" and set(x[:2] + x[3]) <= set(LETTERS) for x in labels)
    unique = generate_dataset(26 ** 2, length=2, unique=True, source=source, spacing_range=(0, 0), seed=3)[1]
    assert sorted(unique) == sorted(a + b for a in LETTERS for b in LETTERS)
    image = generate_numbers_sequence("hello", (0, 0), None, source=source, rng=1)
    assert image.shape == (28, 140)
    with pytest.raises(ValueError, match="'7' at position 1 is not in the alphabet 'abcdefghijklmnopqrstuvwxyz'"):
        generate_numbers_sequence("a7", (0, 0), None, source=source, rng=1)
    (tmp_path / "words.txt").write_text("hello\nworld\n")
    result = run_generator("--source", png_glyphs, "--labels-file", "words.txt", "-w", 140, "-q", "--format", "npz",
                           "--output-dir", tmp_path / "words", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with np.load(tmp_path / "words" / "dataset.npz") as npz:
        assert npz["labels"].tolist() == ["hello", "world"]
    deep = run_generator("--verify", tmp_path / "words", "--deep", cwd=tmp_path)
    assert deep.returncode == 0, deep.stdout + deep.stderr


def test_an_idx_glyph_folder_with_its_classes_and_sums(idx_glyphs, tmp_path):
    for split, count in (("train", 96), ("test", 48)):
        data = mnistdata.load(split, source=str(idx_glyphs))
        assert data.alphabet == "0123456789ABCDEF" and len(data) == count
    labels = generate_dataset(20, pattern="dd-aa", source=str(idx_glyphs), split="test", spacing_range=(0, 0),
                              seed=1)[1]
    assert all(x[:2].isdigit() and x[3:].isalpha() and x[3:].isupper() for x in labels)
    result = run_generator("--source", idx_glyphs, "--count", 3, "--length", 2, "--split", "test", "-q",
                           "--output-dir", tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["dataset"]["source"] == str(idx_glyphs)


def _broken(tmp_path, layout, change):
    folder = write_glyph_folder(tmp_path / "glyphs", "abc", per_class=2, layout=layout)
    change(folder)
    return folder


@pytest.mark.parametrize(("layout", "change", "message", "status"), [
    ("png", lambda f: [p.unlink() for p in (f / "b").glob("*.png")], "class 'b' has no images in train", 2),
    ("png", lambda f: __import__("PIL.Image").Image.new("L", (28, 30), 255).save(f / "c" / "x.png"),
     "x.png: 28 x 30 px, not 28 x 28", 2),
    ("png", lambda f: (f / "ab").mkdir(), "sub-folder 'ab' is not named by one character", 2),
    ("idx", lambda f: (f / "SHA256SUMS").unlink(), "a glyph folder of IDX files needs SHA256SUMS", 2),
    ("idx", lambda f: (f / "classes.txt").write_text("a\nbb\nc\n"), "classes.txt line 2: 'bb' is not one character",
     2),
    ("idx", lambda f: (f / "classes.txt").write_text("a\nb\n"), "labels must be 0..1, found 2", 2),
    # A file changed since its SHA256SUMS line: a data problem, as for MNIST's files (status 1).
    ("idx", lambda f: (f / "train-images-idx3-ubyte").write_bytes(b"\0" * 100), "does not match", 1),
])
def test_a_bad_glyph_folder_is_one_line_and_nothing_is_written(tmp_path, layout, change, message, status):
    folder = _broken(tmp_path, layout, change)
    result = run_generator("--source", folder, "--count", 3, "--length", 2, "--output-dir", tmp_path / "out",
                           cwd=tmp_path)
    assert result.returncode == status and message in one_line(result), result.stderr
    assert not (tmp_path / "out").exists()


def test_a_glyph_folder_is_never_written_to_and_takes_no_data_dir(png_glyphs, tmp_path, data_dir):
    before = _digests_tree(png_glyphs)
    generate_dataset(5, length=3, source=str(png_glyphs), spacing_range=(0, 0), seed=1)
    assert _digests_tree(png_glyphs) == before
    with pytest.raises(ValueError, match="give data_home .* or a glyph folder as source, not both"):
        mnistdata.load("train", data_home=data_dir, source=str(png_glyphs))
    result = run_generator("--source", png_glyphs, "--split", "test", "-o", tmp_path / "x.png", "abc", cwd=tmp_path)
    assert result.returncode == 2 and "a PNG glyph folder has one split, train" in one_line(result)


def test_resume_into_a_folder_made_from_other_glyphs_is_refused(tmp_path):
    glyphs = write_glyph_folder(tmp_path / "glyphs", "abc", per_class=3)
    args = ("--source", glyphs, "--count", 5, "--length", 3, "--seed", 1, "-q", "--output-dir", tmp_path / "out")
    assert run_generator(*args, cwd=tmp_path).returncode == 0
    write_glyph_folder(tmp_path / "glyphs", "abc", per_class=3, seed=9)  # the same names, other glyphs
    result = run_generator(*args, "--resume", cwd=tmp_path)
    assert result.returncode == 2 and "differs in: digits" in one_line(result)


def _digests_tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_test_data_tool_writes_glyph_folders(tmp_path):
    for layout in ("png", "idx"):
        folder = tmp_path / layout
        result = subprocess.run([sys.executable, str(REPO / "mnistdata.py"), str(folder), "--glyphs", "xyz",
                                 "--layout", layout, "--count-train", "4"], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
        data = mnistdata.load("train", source=str(folder))
        assert data.alphabet == "xyz" and data.counts.tolist() == [4, 4, 4]
    again = subprocess.run([sys.executable, str(REPO / "mnistdata.py"), str(tmp_path / "png"), "--glyphs", "xyz"],
                           capture_output=True, text=True, check=False)
    assert again.returncode == 2 and "is not empty" in again.stderr



# ------------------------------------------------------------------ sets published as archives


def _official(monkeypatch, name: str, folder: Path) -> None:
    """Make ``folder``'s files the set's published ones (their digests in its table), as conftest's
    fixture_table does for MNIST, so the download path runs offline."""
    import dataclasses

    glyphs = SETS[name]
    files = {n: dataclasses.replace(spec, sha256=hashlib.sha256((folder / n).read_bytes()).hexdigest())
             for n, spec in glyphs.files.items()}
    monkeypatch.setitem(SETS, name, dataclasses.replace(glyphs, files=files))


@pytest.mark.parametrize("name", ["kmnist", "qmnist", "emnist-letters"])
def test_archives_are_fetched_verified_as_published_and_fetched_again_when_damaged(tmp_path, monkeypatch, name):
    mirror = mnistdata.write_test_data(tmp_path / "mirror", 60, 30, seed=4, source=name)
    (mirror / "SHA256SUMS").unlink()  # a mirror: the published files only
    _official(monkeypatch, name, mirror)
    cache = tmp_path / "cache"
    data = mnistdata.load("train", data_home=cache, source=name, mirrors=mirror.as_uri(), progress=False)
    assert len(data) == 60 and data.alphabet == SETS[name].alphabet
    kept = sorted(p.name for p in cache.iterdir() if not p.name.startswith("."))
    assert kept == sorted(set(SETS[name].splits["train"]))  # as published: nothing unpacked beside them
    for file in kept:
        assert (cache / file).read_bytes() == (mirror / file).read_bytes()
    mnistdata._LOADED.clear()
    (cache / kept[0]).write_bytes(b"damaged")
    again = mnistdata.load("train", data_home=cache, source=name, mirrors=mirror.as_uri(), progress=False)
    np.testing.assert_array_equal(again.images, data.images)
    assert (cache / kept[0]).read_bytes() == (mirror / kept[0]).read_bytes()
    assert [p.read_bytes() for p in cache.glob(kept[0] + ".damaged-*")] == [b"damaged"]  # moved aside, kept


def test_emnist_images_are_turned_upright_and_its_letters_count_from_a(tmp_path):
    # The same seed and counts draw the same stand-ins for every ten-class layout: EMNIST Digits' zip (images
    # stored transposed) must read back as MNIST's files do.
    mnist = mnistdata.load("train", data_home=mnistdata.write_test_data(tmp_path / "m", 50, 20, seed=6),
                           download=False)
    digits = mnistdata.load("train", data_home=mnistdata.write_test_data(tmp_path / "e", 50, 20, seed=6,
                                                                         source="emnist-digits"),
                            source="emnist-digits", download=False)
    np.testing.assert_array_equal(digits.images, mnist.images)
    np.testing.assert_array_equal(digits.labels, mnist.labels)
    assert not np.array_equal(mnist.images, mnist.images.transpose(0, 2, 1))  # the check can fail
    folder = mnistdata.write_test_data(tmp_path / "l", 52, 26, seed=6, source="emnist-letters")
    letters = mnistdata.load("test", data_home=folder, source="emnist-letters", download=False)
    assert letters.counts.tolist() == [1] * 26  # labels 1..26 in the file, classes a..z here
    images, labels = generate_dataset(10, length=4, source="emnist-letters", split="test", data_home=folder,
                                      spacing_range=(0, 0), seed=2, dtype="uint8")
    for image, label in zip(images, labels, strict=True):
        for k, char in enumerate(label):
            glyph = 255 - image[:, 28 * k: 28 * (k + 1)]
            np.testing.assert_array_equal(glyph, letters.images[letters.digit_indices[LETTERS.index(char)][0]])


# ------------------------------------------------------------------ found by the review of the glyph sources


def test_resume_refuses_a_folder_whose_classes_were_renamed(tmp_path):
    glyphs = write_glyph_folder(tmp_path / "glyphs", "ab c", per_class=3, layout="idx")
    args = ("--source", glyphs, "--count", 5, "--length", 3, "--seed", 1, "-q", "--output-dir", tmp_path / "out")
    assert run_generator(*args, cwd=tmp_path).returncode == 0
    (glyphs / "classes.txt").write_text("b\na\n \nc\n")  # the same glyphs, two characters swapped
    result = run_generator(*args, "--resume", cwd=tmp_path)
    assert result.returncode == 2 and "differs in: alphabet)" in one_line(result)


def test_images_of_another_alphabet_are_refused_not_drawn_as_separators(tmp_path):
    glyphs = write_glyph_folder(tmp_path / "glyphs", "abcdefghijkl", per_class=2)
    digits = mnistdata.MnistData.from_arrays(np.zeros((10, 28, 28), np.uint8), np.arange(10))
    with pytest.raises(ValueError, match="the glyphs' alphabet '0123456789' is not the recipe's source's"):
        generate_dataset(3, length=4, source=str(glyphs), images=(digits.images, digits.labels),
                         spacing_range=(0, 0), seed=1)


@pytest.mark.parametrize(("classes", "message"), [
    ("a\n,\n", "',' cannot name a class"), ('a\n"\n', "'\"' cannot name a class"),
    ("a\n\t\n", "'\\t' cannot name a class"), ("a\n\x00\n", "'\\x00' cannot name a class"),
])
def test_characters_the_index_files_cannot_hold_are_refused_as_classes(tmp_path, classes, message):
    glyphs = write_glyph_folder(tmp_path / "glyphs", "ab", per_class=2, layout="idx")
    (glyphs / "classes.txt").write_text(classes)
    result = run_generator("--source", glyphs, "--count", 3, "--length", 2, "--output-dir", tmp_path / "out",
                           cwd=tmp_path)
    assert result.returncode == 2 and message in one_line(result), result.stderr
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="cannot name a sub-folder"):
        write_glyph_folder(tmp_path / "other", "a/", per_class=1)
    assert not (tmp_path / "other").exists() or not any((tmp_path / "other").rglob("*.png"))


def test_ink_on_transparency_is_read_as_ink(tmp_path):
    from PIL import Image

    folder = tmp_path / "glyphs"
    (folder / "x").mkdir(parents=True)
    stroke = Image.new("RGBA", (28, 28), (0, 0, 0, 0))  # transparent paper
    for y in range(6, 22):
        stroke.putpixel((14, y), (0, 0, 0, 255))  # a black stroke
    stroke.save(folder / "x" / "0.PNG")  # the upper-case suffix counts too
    data = mnistdata.load("train", source=str(folder))
    assert len(data) == 1 and data.images[0, 6:22, 14].tolist() == [255] * 16 and data.images.sum() == 255 * 16


def test_a_folder_is_one_source_however_spelled_and_can_be_found_again_when_moved(tmp_path, monkeypatch):
    glyphs = write_glyph_folder(tmp_path / "glyphs", "abc", per_class=3)
    (tmp_path / "link").symlink_to(glyphs)
    args = ("--count", 5, "--length", 3, "--seed", 1, "-q", "--output-dir", tmp_path / "out")
    assert run_generator("--source", glyphs, *args, cwd=tmp_path).returncode == 0
    assert run_generator("--source", "link", *args, "--resume", cwd=tmp_path).returncode == 0
    assert run_generator("--source", "./sub/../glyphs", *args, "--resume", cwd=tmp_path).returncode == 0
    glyphs.rename(tmp_path / "moved")
    lost = run_generator("--verify", tmp_path / "out", "--deep", cwd=tmp_path)
    assert lost.returncode != 0 and "no such folder" in (lost.stdout + lost.stderr)
    found = run_generator("--verify", tmp_path / "out", "--deep", "-d", tmp_path / "moved", cwd=tmp_path)
    assert found.returncode == 0, found.stdout + found.stderr
    other = write_glyph_folder(tmp_path / "other", "abc", per_class=3, seed=8)
    wrong = run_generator("--verify", tmp_path / "out", "--deep", "-d", other, cwd=tmp_path)
    assert wrong.returncode == 1 and "are not the glyphs it was made from" in wrong.stdout


def test_a_folders_own_separator_is_drawn_from_it_and_named_once(tmp_path):
    glyphs = write_glyph_folder(tmp_path / "glyphs", "-ab", per_class=2)
    recipe_alphabet = Recipe(pattern="a-a.a", source=str(glyphs), spacing_range=(0, 0)).alphabet
    assert recipe_alphabet == "-ab" + "".join(c for c in "-.()+/: " if c != "-")
    images, _ = generate_dataset(6, pattern="a-a.a", source=str(glyphs), spacing_range=(0, 0), seed=1,
                                      dtype="uint8")
    data = mnistdata.load("train", source=str(glyphs))
    dashes = data.images[data.digit_indices[0]]
    for image in images:  # the dash at position 1 is one of the folder's own "-" glyphs
        assert any(np.array_equal(255 - image[:, 28:56], d) for d in dashes)


def test_a_manifest_naming_a_relative_folder_is_not_followed(tmp_path, data_dir):
    out = tmp_path / "out"
    assert run_generator("--count", 3, "--length", 2, "-d", data_dir, "-q", "--output-dir", out,
                         cwd=tmp_path).returncode == 0
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["dataset"]["recipe"]["source"] = "glyphs"
    (out / "manifest.json").write_text(json.dumps(manifest))
    from conftest import rewrite_record

    rewrite_record(out)
    result = run_generator("--verify", out, "--deep", "-d", data_dir, cwd=tmp_path)
    assert result.returncode == 1 and "is neither a known set nor an absolute folder path" in result.stdout
