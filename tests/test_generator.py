"""generate_numbers_sequence: shape, range, layout, order of digits, seeds, sources, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import template_classifier
from mnist_dataset_generator import mnistdata
from mnist_dataset_generator.filters import blur, distort
from mnist_dataset_generator.generator import generate_numbers_sequence as gen
from mnist_dataset_generator.mnistdata import MnistData


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    folder = mnistdata.write_test_data(tmp_path_factory.mktemp("drawn"), 500, 50, seed=11)
    data = mnistdata.load("train", data_home=folder)
    return MnistData.from_arrays(np.array(data.images), np.array(data.labels))  # keep it past cache clears


@pytest.fixture(scope="module")
def blocks():
    """Solid 28x28 ink squares for every digit: gaps show as white runs between black blocks."""
    return MnistData.from_arrays(np.full((10, 28, 28), 255, np.uint8), np.arange(10))


def runs(row):
    """Lengths of alternating runs (ink, white, ink, ...) along a row that starts with ink."""
    change = np.flatnonzero(np.diff(row) != 0) + 1
    return np.diff(np.concatenate([[0], change, [len(row)]]))


def test_contract_shape_dtype_range_background(drawn):
    img = gen("4981278", (0, 10), 224, images=drawn, rng=0)
    assert img.shape == (28, 224) and img.dtype == np.float32 and img.flags.c_contiguous
    assert 0 <= img.min() and img.max() <= 1
    assert img.min() < 0.1  # dark ink
    assert (img[0] == 1.0).all() and (img[-1] == 1.0).all()  # MNIST's empty top/bottom rows: exactly white


@settings(max_examples=150, deadline=None)
@given(st.text("0123456789", min_size=1, max_size=12), st.integers(0, 15), st.integers(0, 15),
       st.booleans(), st.integers(0, 600), st.integers(0, 2**32))
def test_exact_width_for_any_arguments(drawn, digits, a, b, evenly, extra, seed):
    from mnist_dataset_generator.compose.layout import min_width

    low, high = sorted((a, b))
    width = min_width(len(digits), (low, high), evenly) + extra
    img = gen(digits, (low, high), width, images=drawn, evenly=evenly, rng=seed)
    assert img.shape == (28, width) and 0 <= img.min() and img.max() <= 1


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 9), st.integers(1, 12), st.integers(1, 12), st.integers(0, 2**32))
def test_random_gaps_lie_in_the_range(blocks, n, a, b, seed):
    low, high = sorted((a, b))  # >= 1: a zero gap would merge two solid blocks into one run
    row = gen("7" * n, (low, high), None, images=blocks, rng=seed)[14]
    lengths = runs(row)
    assert row[0] == 0 and list(lengths[0::2]) == [28] * n  # digits stay 28 px, in n blocks
    gaps = lengths[1::2]
    assert len(gaps) == n - 1 and all(low <= g <= high for g in gaps)
    assert row.shape[0] == 28 * n + sum(gaps)


def test_zero_spacing_puts_digits_edge_to_edge(blocks):
    assert (gen("12345", (0, 0), None, images=blocks, rng=0) == 0).all()


def test_gaps_are_uniform_over_the_range(blocks):
    row_gaps = [runs(gen("55", (3, 6), None, images=blocks, rng=s)[14])[1] for s in range(800)]
    counts = np.bincount(row_gaps, minlength=7)[3:7]
    assert counts.min() > 150  # 200 expected each; > 150 fails with probability < 1e-4


@pytest.mark.parametrize("n, spacing, width",
                         [(5, (2, 9), 200), (7, (1, 4), 150), (3, (10, 10), 64), (4, (1, 30), 500)])
def test_even_mode_has_equal_slots_and_equal_gaps(blocks, n, spacing, width):
    row = gen("1" * n, spacing, width, images=blocks, evenly=True, rng=0)[14]
    lengths = runs(np.where(row < 0.5, 0.0, 1.0))
    slots, gaps = lengths[0::2], lengths[1::2]
    assert len(slots) == n and sum(lengths) == width
    assert slots.max() - slots.min() <= 1 and gaps.max() - gaps.min() <= 1
    assert spacing[0] <= gaps.min() and gaps.max() <= spacing[1]


def test_even_mode_without_width_uses_28_px_digits_and_middle_gaps(blocks):
    row = gen("123", (2, 6), None, images=blocks, evenly=True, rng=0)[14]
    assert runs(row).tolist() == [28, 4, 28, 4, 28]


def test_even_layout_does_not_depend_on_the_seed(blocks):
    a = gen("123", (0, 9), 120, images=blocks, evenly=True, rng=1)
    b = gen("123", (0, 9), 120, images=blocks, evenly=True, rng=2)
    np.testing.assert_array_equal(a, b)  # identical blocks: only the layout could differ


def test_each_slot_holds_a_real_sample_of_its_digit_in_order(drawn):
    # No filters, natural width, even 28 px slots: every slot must be exactly
    # one source image of the requested label.
    digits = "90817263544536271809"
    img = gen(digits, (3, 3), None, images=drawn, evenly=True, rng=4)
    pool = 1 - drawn.images.astype(np.float32) / 255
    for i, d in enumerate(digits):
        slot = img[:, i * 31 : i * 31 + 28]
        match = np.flatnonzero(np.abs(pool - slot).reshape(len(pool), -1).max(axis=1) < 1e-6)
        assert match.size and (drawn.labels[match] == int(d)).all(), (i, d)


def test_filtered_digits_still_best_match_their_own_template(drawn):
    # Each 28 px slot of blurred and distorted strips, classified by the plain
    # class-mean template judge. Measured over these 400 digits: 93.2 % with no
    # filters, 91.2 % with blur(0.7) + distort(10).
    classify = template_classifier(drawn.images, drawn.labels)
    rng = np.random.default_rng(0)
    hits = total = 0
    for _ in range(20):
        digits = "".join(map(str, rng.integers(0, 10, 20)))
        img = gen(digits, (2, 2), None, images=drawn, evenly=True, fltrs=[blur(0.7), distort(10)], rng=rng)
        slots = np.stack([1 - img[:, i * 30 : i * 30 + 28] for i in range(20)])
        hits += int((classify(slots) == np.array([int(c) for c in digits])).sum())
        total += 20
    assert hits / total >= 0.88, hits / total


def test_same_seed_same_bits_other_seed_other_image_and_no_global_state(drawn):
    state = np.random.get_state()[1].copy()
    a = gen("31415", (0, 8), 150, images=drawn, fltrs=[distort()], rng=42)
    b = gen("31415", (0, 8), 150, images=drawn, fltrs=[distort()], rng=np.random.default_rng(42))
    c = gen("31415", (0, 8), 150, images=drawn, fltrs=[distort()], rng=43)
    assert a.tobytes() == b.tobytes() and a.tobytes() != c.tobytes()
    assert (np.random.get_state()[1] == state).all()


def test_filters_do_not_change_which_samples_a_seed_picks(drawn):
    plain = gen("2468", (5, 5), None, images=drawn, evenly=True, rng=9)
    seen = []

    def spy(img):
        seen.append(img.copy())
        return img

    gen("2468", (5, 5), None, images=drawn, evenly=True, fltrs=[spy], rng=9)
    for i, glyph in enumerate(seen):
        np.testing.assert_array_equal(1 - glyph, plain[:, i * 33 : i * 33 + 28])


def test_digit_values_forms_and_modulo(drawn):
    a = gen("405", (1, 1), None, images=drawn, rng=3)
    for form in ([4, 0, 5], (14, 10, 25), np.array([4, 0, 5]), [np.int64(4), 0, 5]):
        np.testing.assert_array_equal(gen(form, (1, 1), None, images=drawn, rng=3), a)


def test_unsigned_digits_past_the_int64_range_are_reduced_modulo_10_not_wrapped(drawn):
    from mnist_dataset_generator.compose.checks import check_digits

    big = np.array([2**64 - 1, 2**63, 2**63 + 7], np.uint64)  # 5, 8 and 5 modulo 10
    assert check_digits(big).tolist() == [5, 8, 5]
    np.testing.assert_array_equal(gen(big, (1, 1), None, images=drawn, rng=3),
                                  gen("585", (1, 1), None, images=drawn, rng=3))


def test_pair_of_arrays_is_a_source(drawn):
    a = gen("77", (0, 0), None, images=(drawn.images, drawn.labels), rng=1)
    b = gen("77", (0, 0), None, images=drawn, rng=1)
    np.testing.assert_array_equal(a, b)


def test_loads_from_data_home(tmp_path):
    folder = mnistdata.write_test_data(tmp_path, 30, 10, seed=2)
    assert gen("0", (0, 0), None, data_home=folder, split="test", rng=0).shape == (28, 28)


@pytest.mark.parametrize("kwargs, words", [
    ({"digits": ""}, "digits must not be empty"),
    ({"digits": "12a4"}, "digits: 'a' at position 2 is not a digit 0-9"),
    ({"digits": [1, -2]}, r"digits\[1\] must be non-negative, got -2"),
    ({"digits": [1, 2.0]}, r"digits\[1\] must be a non-negative integer, got 2.0"),
    ({"digits": [True]}, r"digits\[0\] must be a non-negative integer, got True"),
    ({"digits": 42}, "digits must be a string of 0-9 or a list"),
    ({"spacing_range": (5, 2)}, r"-27 <= min <= max <= 10000, got \(5, 2\)"),
    ({"spacing_range": (-28, 2)}, r"got \(-28, 2\)"),
    ({"spacing_range": (1, 2, 3)}, "must be a \\(min, max\\) pair of integers"),
    ({"spacing_range": ("a", "b")}, "must be a \\(min, max\\) pair of integers"),
    ({"image_width": 0}, "image_width must be a positive integer or None, got 0"),
    ({"image_width": -5}, "got -5"),
    ({"image_width": 2.5}, "got 2.5"),
    ({"image_width": 20},
     "image_width 20 is too small for 4 digit\\(s\\) with spacing 0..10 .*smallest width that works is 36"),
    ({"image_width": 100, "evenly": "yes"}, "evenly must be True or False"),
    ({"image_width": 100, "fltrs": blur()}, "wrap a single filter"),
    ({"image_width": 100, "split": "dev"}, "split must be one of"),
    ({"image_width": 100, "rng": "seed"}, "rng must be None, a non-negative integer seed"),
    ({"image_width": 100, "rng": -3}, "rng must be None"),
])
def test_bad_arguments_raise_value_error_naming_them(drawn, kwargs, words):
    args = {"digits": "1234", "spacing_range": (0, 10), "image_width": 100, "images": drawn} | kwargs
    with pytest.raises(ValueError, match=words):
        gen(**args)


def test_smallest_width_stated_is_the_smallest_that_works(drawn):
    for evenly, smallest in ((False, 36), (True, 28)):
        gen("1234", (0, 10), smallest, images=drawn, evenly=evenly, rng=0)
        with pytest.raises(ValueError, match=f"smallest width that works is {smallest}"):
            gen("1234", (0, 10), smallest - 1, images=drawn, evenly=evenly, rng=0)


@pytest.mark.parametrize("evenly, smallest", [(False, 52), (True, 51)])  # natural: 196 + 12 or 196 + 6 px
def test_pad_keeps_digits_at_least_7_px_wide_at_every_door(drawn, evenly, smallest):
    from mnist_dataset_generator.compose.layout import DIGIT, MIN_DIGIT_WIDTH, pad_placement
    from mnist_dataset_generator.generator import generate_dataset
    from mnist_dataset_generator.recipe import Recipe

    args = {"images": drawn, "evenly": evenly, "fit": "pad", "image_height": 32, "rng": 0}
    image = gen("1234567", (0, 2), smallest, **args)
    assert image.shape == (32, smallest)
    natural = 196 + (6 if evenly else 12)  # the widest strip the gaps can give
    x, w, y, h = pad_placement(np.array([natural]), smallest, 32, "center")[0]
    assert DIGIT * w / natural >= MIN_DIGIT_WIDTH  # 28 px glyphs scaled by the strip's factor
    message = f"image_width {smallest - 1} is too small .*fit=pad.*smallest width that works is {smallest}"
    with pytest.raises(ValueError, match=message):
        gen("1234567", (0, 2), smallest - 1, **args)
    with pytest.raises(ValueError, match=message):
        Recipe(length=(3, 7), spacing_range=(0, 2), image_width=smallest - 1, evenly=evenly, fit="pad",
               image_height=32)
    with pytest.raises(ValueError, match=message):
        generate_dataset(5, 7, (0, 2), smallest - 1, seed=1, evenly=evenly, fit="pad", image_height=32,
                         images=drawn)
    Recipe(length=(3, 7), spacing_range=(0, 2), image_width=smallest, evenly=evenly, fit="pad", image_height=32)


def test_filter_text_is_taken_and_a_list_of_text_refused_naming_from_spec_at_every_door(drawn):
    from mnist_dataset_generator import Recipe, SequenceDataset, from_spec, generate_dataset, iter_dataset

    text = "blur:sigma=0.8,scale"
    single = {"digits": "12", "spacing_range": (0, 4), "image_width": None, "images": drawn, "rng": 3}
    assert np.array_equal(gen(**single, fltrs=text), gen(**single, fltrs=from_spec(text)))
    many = {"count": 3, "length": 2, "spacing_range": (1, 1), "image_width": None, "seed": 5, "images": drawn}
    made = generate_dataset(**many, fltrs=from_spec(text))[0]
    assert np.array_equal(generate_dataset(**many, fltrs=text)[0], made)
    assert np.array_equal(np.stack([image for image, _ in iter_dataset(**many, fltrs=text)]), made)
    assert np.array_equal(SequenceDataset(**many, fltrs=text)[2][0], made[2])
    assert Recipe(fltrs=text).fltrs == text
    doors = [lambda f: gen(**single, fltrs=f), lambda f: generate_dataset(**many, fltrs=f),
             lambda f: iter_dataset(**many, fltrs=f), lambda f: SequenceDataset(**many, fltrs=f),
             lambda f: Recipe(fltrs=f)]
    for door in doors:
        with pytest.raises(ValueError, match=r"fltrs\[0\] is text, not a filter: .*fltrs='blur' \(read by from_spec\)"):
            door(["blur"])
        with pytest.raises(ValueError, match="unknown filter 'nosuch'"):
            door("nosuch")


def test_bad_arguments_are_rejected_before_any_data_is_loaded(tmp_path):
    with pytest.raises(ValueError, match="image_width 3 is too small"):
        gen("123456789", (0, 0), 3, data_home=tmp_path / "never-created")
    assert not (tmp_path / "never-created").exists()


def test_missing_digit_in_source_and_both_sources(drawn):
    only_ones = MnistData.from_arrays(np.zeros((2, 28, 28), np.uint8), [1, 1])
    with pytest.raises(ValueError, match=r"no samples of digit\(s\) \[2\]"):
        gen("12", (0, 0), None, images=only_ones)
    with pytest.raises(ValueError, match="not both"):
        gen("1", (0, 0), None, images=drawn, data_home="/tmp")


def test_negative_spacing_overlaps_digits_and_ink_wins(blocks):
    img = gen("123", (-10, -10), None, images=blocks, rng=0)
    assert img.shape == (28, 3 * 28 - 2 * 10)
    assert (img == 0).all()  # solid blocks overlap: no gap, no double-darkening beyond full ink
    half = MnistData.from_arrays(np.full((10, 28, 28), 128, np.uint8), np.arange(10))
    row = gen("45", (-8, -8), None, images=half, rng=0)[14]
    overlap = row[20:28]
    np.testing.assert_allclose(overlap, 1 - 128 / 255, atol=1e-6)  # maximum, not sum, of the two inks


def test_overlap_larger_than_a_cropped_digit_keeps_every_digit_inside(drawn):
    from mnist_dataset_generator.filters import crop

    img = gen("1111", (-27, -27), None, images=drawn, fltrs=[crop(0)], rng=2)
    assert img.shape[0] == 28 and img.shape[1] >= 1 and img.min() < 0.5


@pytest.mark.parametrize("n, spacing, width", [(5, (-10, -3), 90), (3, (-27, 0), 40), (6, (-6, 4), 200)])
def test_even_layout_with_overlaps_fills_the_width_and_keeps_order(n, spacing, width):
    from mnist_dataset_generator.compose import layout

    slots, gaps = layout.even_layout(n, spacing, width)
    assert slots.sum() + gaps.sum() == width and slots.min() >= 7
    assert spacing[0] <= gaps.min() and gaps.max() <= spacing[1]
    assert (slots[:-1] + gaps >= 1).all()  # each digit starts after the previous one


def test_image_height_keeps_the_aspect_ratio_unless_width_is_given(drawn):
    assert gen("123", (2, 2), None, images=drawn, rng=0, image_height=32).shape == (32, round(88 * 32 / 28))
    assert gen("123", (2, 2), 150, images=drawn, rng=0, image_height=32).shape == (32, 150)
    img = gen("123", (2, 2), None, images=drawn, rng=0, image_height=14)
    assert img.shape == (14, 44) and img.min() >= 0 and img.max() <= 1


def test_black_background_is_the_mnist_polarity_of_the_same_image(drawn):
    white = gen("907", (1, 5), 100, images=drawn, rng=4)
    black = gen("907", (1, 5), 100, images=drawn, rng=4, background="black")
    np.testing.assert_allclose(black, 1 - white, atol=1e-6)
    assert (black[0] == 0).all()
    with pytest.raises(ValueError, match="background must be one of white, black, got 'grey'"):
        gen("9", (0, 0), None, images=drawn, background="grey")
    with pytest.raises(ValueError, match="image_height must be an integer in 1..4096"):
        gen("9", (0, 0), None, images=drawn, image_height=0)


BUDGET = "GENERATOR_NUMBERS_SEQ_MEMORY_BUDGET"


def test_a_strip_beyond_the_memory_budget_is_refused_before_anything_is_drawn(drawn, monkeypatch):
    from mnist_dataset_generator.compose import strip

    monkeypatch.setenv(BUDGET, str(50 * 10**6))
    assert gen("12", (0, 0), 1000, images=drawn, rng=0, image_height=32).shape == (32, 1000)  # within it: made

    def never(*args):
        raise AssertionError("the strip was drawn")

    monkeypatch.setattr(strip, "lay_out", never)
    with pytest.raises(ValueError) as info:
        gen("12", (0, 0), 1_000_000, images=drawn, rng=0, image_height=64)  # 256 MB of pixels alone
    assert str(info.value) == (
        "generate_numbers_sequence: the image and the renderer's working copies would take 1.5 GB (64 x 1000000 x "
        "4 bytes = 256.0 MB for the image), more than the memory budget of 50.0 MB (set by "
        f"{BUDGET}); use a smaller image_width or image_height")


def test_the_command_lines_check_refuses_a_16_gb_strip_before_loading(monkeypatch):
    # generator.py -w 1000000 --height 4096 calls check_request before anything is loaded.
    from mnist_dataset_generator.compose.checks import check_request

    monkeypatch.setenv(BUDGET, str(8 * 10**9))
    with pytest.raises(ValueError, match=r"would take 82.1 GB \(4096 x 1000000 x 4 bytes = 16.4 GB for the image\)"):
        check_request("4981278", (0, 10), 1_000_000, image_height=4096)
    # at its natural width, scaled to 4096 rows, it is wider still
    with pytest.raises(ValueError, match=r"4096 x 819200 x 4 bytes = 13.4 GB for the image"):
        check_request("1" * 200, (0, 0), None, image_height=4096, background="black")
