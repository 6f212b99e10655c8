"""The filter contract: height kept, range, rng honoured, user one-argument filters work."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_dataset_generator.filters import FILTERS, apply_filters, blur, distort, prepare_filters, resize


@pytest.fixture
def digit():
    img = np.zeros((28, 28), np.float32)
    img[5:23, 12:16] = 1.0  # a "1"
    img[5:8, 9:12] = 0.7
    return img


def test_every_built_in_filter_keeps_height_and_range_and_changes_the_digit(digit):
    for name, factory in FILTERS.items():
        f = factory(14) if name == "resize" else factory()
        out = apply_filters(digit, prepare_filters([f]), np.random.default_rng(0))
        assert out.shape[0] == 28 and out.dtype == np.float32, name
        assert 0 <= out.min() and out.max() <= 1, name
        assert out.shape != digit.shape or not np.allclose(out, digit), f"{name} is a no-op"


@pytest.mark.parametrize("f", [blur(0), distort(0)])
def test_strength_zero_returns_the_input(digit, f):
    out = f(digit, rng=np.random.default_rng(0)) if f.__name__ != "_identity" else f(digit)
    np.testing.assert_array_equal(out, digit)


def test_distort_is_reproducible_with_a_seed_and_varies_without(digit):
    f = distort(alpha=20)
    a = f(digit, rng=np.random.default_rng(5))
    b = f(digit, rng=np.random.default_rng(5))
    c = f(digit, rng=np.random.default_rng(6))
    np.testing.assert_array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)


def test_distort_never_wraps_ink_around_and_never_cuts_it():
    img = np.zeros((28, 28), np.float32)
    img[:, 26:28] = 1.0  # ink against the right edge
    for seed in range(20):
        out = distort(alpha=30)(img, rng=np.random.default_rng(seed))
        assert out.shape[0] == 28
        assert out[:, :15].max() == 0  # shifts reach 8.4 px at most: nothing wrapped to the left
        assert np.isclose(out.sum(), img.sum(), rtol=1e-4)  # nothing lost: widened instead


def test_resize_sets_the_width():
    assert resize(40)(np.ones((28, 28), np.float32)).shape == (28, 40)


@pytest.mark.parametrize("factory, kwargs, words", [
    (blur, {"sigma": -1}, r"blur: sigma must be a number in \[0, 10\], got -1"),
    (blur, {"sigma": "x"}, "blur: sigma must be a number"),
    (distort, {"alpha": 101}, r"distort: alpha must be a number in \[0, 100\], got 101"),
    (resize, {"width": 0}, "resize: width must be an integer in 1..1000, got 0"),
])
def test_bad_parameters_name_the_factory_argument_and_range(factory, kwargs, words):
    with pytest.raises(ValueError, match=words):
        factory(**kwargs)


def test_user_one_argument_filter_works_unchanged(digit):
    from scipy.ndimage import gaussian_filter

    out = apply_filters(digit, prepare_filters([lambda img: gaussian_filter(img, sigma=1)]), np.random.default_rng(0))
    np.testing.assert_allclose(out, np.clip(gaussian_filter(digit, sigma=1), 0, 1))


def test_rng_is_passed_only_to_filters_that_accept_it(digit):
    seen = []

    def wants(img, *, rng):
        seen.append(rng)
        return img

    def plain(img):
        return img

    gen = np.random.default_rng(0)
    apply_filters(digit, prepare_filters([wants, plain]), gen)
    assert seen == [gen]


def test_height_change_or_bad_output_is_named(digit):
    def squash(img):
        return img[:20]

    with pytest.raises(ValueError, match="filter .*squash must return a 2-D array of height 28"):
        apply_filters(digit, prepare_filters([squash]), np.random.default_rng(0))
    with pytest.raises(ValueError, match="NaN"):
        apply_filters(digit, prepare_filters([lambda img: img * np.nan]), np.random.default_rng(0))


def test_results_are_cast_and_clipped(digit):
    out = apply_filters(digit, prepare_filters([lambda img: img.astype(np.float64) * 3 - 1]), np.random.default_rng(0))
    assert out.dtype == np.float32 and out.min() == 0 and out.max() == 1


def test_prepare_rejects_a_single_callable_or_non_callables():
    with pytest.raises(ValueError, match="wrap a single filter as \\[f\\]"):
        prepare_filters(blur())
    with pytest.raises(ValueError, match="fltrs\\[1\\] must be callable"):
        prepare_filters([blur(), "blur"])
