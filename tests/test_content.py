"""Control over the strings: ``--labels-file`` (issue 22, content control)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import one_line, rewrite_record, run_generator
from mnist_dataset_generator import SequenceDataset, generate_dataset, mnistdata
from mnist_dataset_generator.content import LabelSpace, parse_pattern, unique_indices
from mnist_dataset_generator.mnistdata import MnistData
from mnist_dataset_generator.sources.pen import SEPARATORS, pen_width, separator_glyphs
from mnist_dataset_generator.sources.testdata import draw_digits


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


# ------------------------------------------------------------------ --verify --deep of a labels dataset


def _deep(folder, data_dir):
    return run_generator("--verify", folder, "--deep", "-d", data_dir, cwd=folder.parent)


@pytest.fixture(scope="module")
def labelled(tmp_path_factory, data_dir):
    """A png export of LABELS (a labels dataset keeps their digest, not the labels, in its manifest)."""
    root = tmp_path_factory.mktemp("labelled")
    (root / "labels.txt").write_text("\n".join(LABELS) + "\n")
    result = run_generator("-d", data_dir, "-w", 200, "-s", "0,4", "--seed", 5, "-q", "--labels-file",
                           "labels.txt", "--output-dir", root / "png", cwd=root)
    assert result.returncode == 0, result.stderr
    return root / "png"


@pytest.mark.parametrize("fmt", ["png", "npz", "tar"])
def test_deep_makes_a_labels_dataset_again_from_the_labels_its_folder_holds(tmp_path, data_dir, fmt):
    (tmp_path / "labels.txt").write_text("\n".join(LABELS) + "\n")
    result = run_generator("-d", data_dir, "-w", 200, "-s", "0,4", "--seed", 5, "-q", "--labels-file",
                           "labels.txt", "--format", fmt, "--output-dir", tmp_path / fmt, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    result = _deep(tmp_path / fmt, data_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every sample is what its recipe and seed make" in result.stderr


def test_deep_finds_an_image_redrawn_for_another_label(tmp_path, data_dir, labelled):
    # Sample 2 relabelled everywhere the folder says its label, and its image replaced by a true-looking
    # one: the labels no longer hash to the manifest's digest.
    folder = tmp_path / "png"
    shutil.copytree(labelled, folder)
    csv = (folder / "labels.csv").read_text().replace(",98765432\n", ",98765433\n")
    (folder / "labels.csv").write_text(csv)
    meta = (folder / "metadata.jsonl").read_text().replace('"98765432"', '"98765433"')
    (folder / "metadata.jsonl").write_text(meta)
    rewrite_record(folder)
    assert run_generator("--verify", folder, cwd=tmp_path).returncode == 0  # the checksums are fooled
    result = _deep(folder, data_dir)
    assert result.returncode == 1
    assert "labels.csv: FAILED (its labels are not the labels the manifest's digest names" in result.stdout


def test_deep_finds_two_swapped_images_of_a_labels_dataset(tmp_path, data_dir, labelled):
    folder = tmp_path / "png"
    shutil.copytree(labelled, folder)
    a, b = folder / "images" / "00000000.png", folder / "images" / "00000004.png"
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)
    rewrite_record(folder)
    result = _deep(folder, data_dir)
    assert result.returncode == 1
    failed = [line.split(":")[0] for line in result.stdout.splitlines() if "FAILED" in line]
    assert failed == ["images/00000000.png", "images/00000004.png"], result.stdout


@pytest.mark.parametrize("shard", ["0/2", "1/2"])
def test_deep_makes_each_shard_of_a_labels_dataset_again_from_its_own_labels(tmp_path, data_dir, shard):
    # LABELS' lengths run 1..8: the first part holds neither the shortest label nor the longest, which the
    # draws of every sample depend on; each part is still made again as the whole run made it.
    (tmp_path / "labels.txt").write_text("\n".join(LABELS) + "\n")
    part = tmp_path / "part"
    result = run_generator("-d", data_dir, "-w", 200, "-s", "0,4", "--seed", 5, "-q", "--labels-file",
                           "labels.txt", "--shard", shard, "--output-dir", part, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    result = _deep(part, data_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    # Relabelled in every index file, checksums rewritten: its own labels' digest names it.
    rows = (part / "labels.csv").read_text().splitlines()
    key, label = rows[1].split(",")
    (part / "labels.csv").write_text("\n".join([rows[0], f"{key},{label[::-1]}1", *rows[2:]]) + "\n")
    meta = (part / "metadata.jsonl").read_text().replace(f'"{label}"', f'"{label[::-1]}1"', 1)
    (part / "metadata.jsonl").write_text(meta)
    rewrite_record(part)
    result = _deep(part, data_dir)
    assert result.returncode == 1
    assert "labels.csv: FAILED (its labels are not the labels the manifest's digest names" in result.stdout


# ------------------------------------------------------------------ unique= and pattern=

CLASSES = np.arange(300) % 10
SOURCE = MnistData.from_arrays(draw_digits(CLASSES, np.random.default_rng(3)), CLASSES)


def _labels(count, **options):
    return generate_dataset(count, images=SOURCE, spacing_range=(0, 0), seed=11, dtype="uint8", **options)[1]


@pytest.mark.parametrize("size", [1, 2, 3, 100, 1000, 4099, 2**20 + 7])
def test_unique_indices_are_a_permutation(size):
    values = unique_indices(np.arange(size), size, entropy=5)
    assert np.array_equal(np.sort(values), np.arange(size))
    if size >= 100:  # a shuffle, not the identity
        assert (values != np.arange(size)).mean() > 0.9


def test_unique_indices_past_int64_are_distinct_and_in_range():
    size = 10**30
    values = unique_indices(np.arange(2000), size, entropy=5)
    assert values.dtype == object and len(set(values.tolist())) == 2000
    assert all(0 <= v < size for v in values.tolist())
    assert unique_indices(np.arange(1990, 2000), size, entropy=5).tolist() == values[1990:].tolist()


def test_unique_labels_cover_the_whole_space_once():
    labels = _labels(1000, length=3, unique=True)
    assert sorted(labels) == [f"{n:03d}" for n in range(1000)]
    # Every string once over a range of lengths too: 10 + 100 of them.
    labels = _labels(110, length=(1, 2), unique=True, image_width=56)
    assert sorted(labels) == sorted([str(n) for n in range(10)] + [f"{n:02d}" for n in range(100)])


def test_unique_labels_are_a_pure_function_of_seed_and_index(tmp_path):
    first = _labels(1000, length=4, unique=True)
    assert len(set(first)) == 1000
    assert _labels(10, length=4, unique=True) == first[:10]  # not a function of the count
    dataset = SequenceDataset(1000, 4, (0, 0), None, images=SOURCE, seed=11, unique=True)
    assert [dataset[i][1] for i in (999, 3, 517)] == [first[999], first[3], first[517]]
    again = SequenceDataset(1000, 4, (0, 0), None, images=SOURCE, seed=11, unique=True, epoch=3)
    assert [again[i][1] for i in (999, 3, 517)] == [first[999], first[3], first[517]]  # every epoch
    assert _labels(1000, length=4, unique=True, workers=2) == first
    other = generate_dataset(1000, 4, (0, 0), images=SOURCE, seed=12, unique=True)[1]
    assert len(set(other)) == 1000 and sum(a == b for a, b in zip(other, first, strict=True)) < 10


def test_unique_strings_are_spread_over_the_space():
    # 20,000 of the 10**8 eight-digit strings: each position's digits near uniform, no two equal.
    labels = generate_dataset(20_000, length=8, unique=True, images=SOURCE, spacing_range=(0, 0), seed=1,
                              dtype="uint8")[1]
    assert len(set(labels)) == 20_000
    counts = np.array([[sum(label[j] == d for label in labels) for d in "0123456789"] for j in range(8)])
    assert counts.min() > 1800 and counts.max() < 2200, counts  # 2,000 expected, sd ~42


def test_too_many_unique_labels_are_refused_with_the_number_possible():
    with pytest.raises(ValueError, match="length 3 allows 1,000 distinct labels, fewer than count 1,001"):
        _labels(1001, length=3, unique=True)
    with pytest.raises(ValueError, match=r"the pattern 'd-d' allows 100 distinct labels"):
        _labels(101, pattern="d-d", unique=True)


@pytest.mark.parametrize(("pattern", "regex"), [
    ("ddd-dddd", r"\d{3}-\d{4}"), ("+dd (ddd) ddd-dddd", r"\+\d\d \(\d{3}\) \d{3}-\d{4}"),
    ("dd.dd.dddd", r"\d\d\.\d\d\.\d{4}"), ("dd/dd", r"\d\d/\d\d"), ("12:dd", r"12:\d\d"), ("\\1d", r"1\d"),
])
def test_pattern_labels_follow_the_pattern(pattern, regex):
    import re

    labels = _labels(300, pattern=pattern)
    assert all(re.fullmatch(regex, label) for label in labels), labels[:5]
    variable = [j for j, slot in enumerate(parse_pattern(pattern)) if len(slot) > 1]
    for j in variable:  # every digit shows up at every variable position
        assert {label[j] for label in labels} == set("0123456789")


def test_a_backslash_makes_a_class_letter_literal():
    assert parse_pattern("\\dd\\a", "0123456789abcd") == ("d", "0123456789", "a")


def test_a_pattern_with_unique_gives_every_string_once():
    labels = _labels(100, pattern="d-d", unique=True)
    assert sorted(labels) == sorted(f"{a}-{b}" for a in range(10) for b in range(10))


@pytest.mark.parametrize(("options", "message"), [
    ({"pattern": "da"}, "'a' (any letter) but the alphabet '0123456789' has no letters"),
    ({"pattern": "d#d"}, "'#' is neither in the alphabet '0123456789' nor a separator"),
    ({"pattern": "d\\"}, "ends with '\\'"),
    ({"pattern": ""}, "pattern must be a non-empty string"),
    ({"pattern": "dd", "length": 2}, "give a pattern or a length, not both"),
    ({"pattern": "dd", "labels": ["12"]}, "give a pattern or labels, not both"),
    ({"unique": True, "labels": ["12"]}, "give labels or unique=True, not both"),
    ({"unique": 1, "length": 2}, "unique must be True or False, got 1"),
    ({"pattern": "d-d", "separators": "ink"}, "separators must be one of pen, gap, got 'ink'"),
])
def test_bad_content_options_are_named(options, message):
    from mnist_dataset_generator.recipe import Recipe

    with pytest.raises(ValueError, match=None) as error:
        Recipe(spacing_range=(0, 0), **options)
    assert message in str(error.value)


def _slots(image, n):
    return [image[:, 28 * k: 28 * (k + 1)] for k in range(n)]


def test_each_character_is_a_real_glyph_of_its_class_byte_for_byte():
    # Unfiltered, natural width, no gaps: slot k of the strip is 255 minus the glyph drawn for character k,
    # a digit image of that class from the source, or a pen-drawn separator of that character.
    pattern = "+d (dd) d-d.d/d:d"
    images, labels = generate_dataset(40, images=SOURCE, pattern=pattern, spacing_range=(0, 0), seed=4, dtype="uint8")
    pens, classes = separator_glyphs(pen_width(SOURCE.images))
    for image, label in zip(images, labels, strict=True):
        for char, slot in zip(label, _slots(image, len(label)), strict=True):
            glyph = 255 - slot
            if char in SEPARATORS:
                choices = pens[classes == SEPARATORS.index(char)]
            else:
                choices = SOURCE.images[SOURCE.labels == int(char)]
            assert any(np.array_equal(glyph, c) for c in choices), (label, char)
    drawn = {c for label in labels for c in label if c in SEPARATORS}
    assert drawn == set("+ ()-./:")


def test_separators_are_drawn_in_ink_or_left_as_gaps():
    pen, labels, boxes = generate_dataset(5, images=SOURCE, pattern="d-d", spacing_range=(0, 0), seed=4,
                                          dtype="uint8", return_boxes=True)
    gap, gap_labels, gap_boxes = generate_dataset(5, images=SOURCE, pattern="d-d", separators="gap",
                                                  spacing_range=(0, 0), seed=4, dtype="uint8", return_boxes=True)
    assert gap_labels == labels
    assert (pen[:, :, 28:56] < 128).any(axis=(1, 2)).all()  # a visible stroke in every image
    assert (gap[:, :, 28:56] == 255).all()  # nothing at all
    np.testing.assert_array_equal(np.delete(gap, np.s_[28:56], axis=2), np.delete(pen, np.s_[28:56], axis=2))
    for b in boxes:  # the dash's box holds its ink, in the middle third of the height
        x0, y0, x1, y1 = b[1]
        assert 28 <= x0 < x1 <= 56 and 7 <= y0 < y1 <= 21
    for b in gap_boxes:  # a gap has no ink: an empty box, as any character whose ink does not show
        assert b[1][2] == b[1][0] and b[1][3] == b[1][1]


def test_pen_width_follows_the_source():
    thin, thick = np.zeros((2, 5, 28, 28), np.uint8)
    thin[:, 4:24, 13:15] = 255
    thick[:, 4:24, 11:17] = 255
    assert pen_width(thin) < 2.5
    assert pen_width(thick) > 4.5


def test_label_space_numbers_strings_in_order():
    space = LabelSpace("0123456789", lengths=(2, 3))
    assert space.size == 1100 and space.strings(np.array([0, 99, 100, 1099])) == ["00", "99", "000", "999"]


# ------------------------------------------------------------------ --pattern, --unique, --separators


def test_the_phone_number_dataset_in_one_command(tmp_path, data_dir):
    # The seed's challenge: unique phone-number-like strings, here with their COCO boxes and gt.txt.
    result = run_generator("--count", 50, "--pattern", "+dd (ddd) ddd-dddd", "--unique", "-w", 520, "-s", "-2,2",
                           "--seed", 9, "-d", data_dir, "-q", "--annotations", "coco,gt", "--output-dir",
                           tmp_path / "phones", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = (tmp_path / "phones" / "labels.csv").read_text().splitlines()[1:]
    labels = [row.split(",", 1)[1] for row in rows]
    assert len(set(labels)) == 50
    expected = generate_dataset(50, pattern="+dd (ddd) ddd-dddd", unique=True, image_width=520,
                                spacing_range=(-2, 2), seed=9, data_home=data_dir, dtype="uint8")[1]
    assert labels == expected
    coco = json.loads((tmp_path / "phones" / "coco.json").read_text())
    names = [c["name"] for c in coco["categories"]]
    assert names[:10] == list("0123456789") and "(" in names and "-" in names
    # Every character with ink is an object: the space is a gap, not an object.
    assert len(coco["annotations"]) == sum(len(label) - label.count(" ") for label in labels)
    deep = run_generator("--verify", tmp_path / "phones", "--deep", "-d", data_dir, cwd=tmp_path)
    assert deep.returncode == 0, deep.stdout + deep.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("--count", 1001, "--length", 3, "--unique"), "length 3 allows 1,000 distinct labels, fewer than count 1,001"),
    (("--count", 101, "--pattern", "d-d", "--unique"), "the pattern 'd-d' allows 100 distinct labels"),
    (("--count", 5, "--pattern", "ddad"), "'a' (any letter) but the alphabet '0123456789' has no letters"),
    (("--count", 5, "--pattern", "dd#"), "'#' is neither in the alphabet"),
    (("--count", 5, "--pattern", "dd", "--length", 3), "give --pattern or --length, not both"),
    (("--count", 5, "--separators", "gap"), "--separators applies with --pattern only"),
    (("--pattern", "dd", "123"), "--pattern applies to datasets only"),
])
def test_bad_content_options_are_one_line_and_nothing_is_written(tmp_path, data_dir, args, message):
    result = run_generator("-d", data_dir, "-w", 200, "--output-dir", tmp_path / "out", *args, cwd=tmp_path) \
        if "123" not in args else run_generator("-d", data_dir, *args, cwd=tmp_path)
    assert result.returncode == 2 and message in one_line(result), result.stderr
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob("*.png"))


def test_unique_with_a_labels_file_is_refused(tmp_path, data_dir):
    (tmp_path / "labels.txt").write_text("12\n")
    result = export(tmp_path, data_dir, "--labels-file", "labels.txt", "--unique")
    assert result.returncode == 2 and "--unique does not apply with --labels-file" in one_line(result)
    assert not (tmp_path / "out").exists()


def test_resume_with_another_pattern_is_refused(tmp_path, data_dir):
    assert export(tmp_path, data_dir, "--count", 5, "--pattern", "dd-dd").returncode == 0
    other = export(tmp_path, data_dir, "--count", 5, "--pattern", "dd.dd", "--resume")
    assert other.returncode == 2 and "differs in:" in one_line(other) and "recipe" in one_line(other)
    same = export(tmp_path, data_dir, "--count", 5, "--pattern", "dd-dd", "--unique", "--resume")
    assert same.returncode == 2 and "differs in:" in one_line(same)
    assert export(tmp_path, data_dir, "--count", 5, "--pattern", "dd-dd", "--resume").returncode == 0


def test_a_recipe_of_a_pattern_or_labels_can_be_replaced():
    from mnist_dataset_generator.recipe import Recipe

    assert Recipe(pattern="dd-dd", image_width=200).replace(fit="pad").length == (5, 5)
    assert Recipe(labels=["12", "345"], image_width=200).replace(fit="pad").length == (2, 3)
    assert Recipe(pattern="dd-dd", image_width=200).replace(pattern="d.d").length == (3, 3)
    with pytest.raises(ValueError, match="separators='gap' applies with a pattern only"):
        Recipe(separators="gap")


def test_separators_are_indexed_beside_the_source_not_copied_with_it():
    from mnist_dataset_generator.sources.pen import with_separators

    made = with_separators(SOURCE)
    assert made is with_separators(SOURCE) and made.images.base is SOURCE.images  # once, and no copy
    pens, _ = separator_glyphs(pen_width(SOURCE.images))
    index = np.array([3, len(SOURCE), len(SOURCE) + 17, 0])
    expected = np.stack([SOURCE.images[3], pens[0], pens[17], SOURCE.images[0]])
    np.testing.assert_array_equal(made.images[index], expected)
    assert made.ink_of(index).tolist()[0] == SOURCE.ink_of(np.array([3])).tolist()[0]


def test_unique_over_a_wide_range_of_lengths_decodes_only_the_lengths_drawn():
    space = LabelSpace("0123456789", lengths=(1, 40))
    values = unique_indices(np.arange(50), space.size, entropy=3)
    strings = space.strings(values)
    assert len(set(strings)) == 50 and all(len(s) >= 38 for s in strings)  # nearly all strings are long ones
