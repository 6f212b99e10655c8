"""Layout arithmetic: even slots and gaps, minimum widths, the resampler."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_dataset_generator.compose import layout, render


@given(st.integers(0, 10_000), st.integers(1, 500))
def test_spread_sums_exactly_and_differs_by_at_most_one(total, parts):
    parts_ = layout.spread(total, parts)
    assert parts_.sum() == total and len(parts_) == parts
    assert parts_.max() - parts_.min() <= 1


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 30), st.integers(0, 40), st.integers(0, 40), st.integers(0, 2000))
def test_even_layout_fills_width_exactly_with_equal_slots_and_gaps(n, a, b, extra):
    low, high = sorted((a, b))
    width = layout.min_width(n, (low, high), evenly=True) + extra
    slots, gaps = layout.even_layout(n, (low, high), width)
    assert slots.sum() + gaps.sum() == width
    assert len(slots) == n and len(gaps) == n - 1
    assert slots.min() >= layout.MIN_DIGIT_WIDTH and slots.max() - slots.min() <= 1
    if n > 1:
        assert low <= gaps.min() and gaps.max() <= high and gaps.max() - gaps.min() <= 1
    # optimal: no other feasible total digit width is closer to 28 n
    feasible = [d for d in range(layout.MIN_DIGIT_WIDTH * n, width + 1)
                if (n - 1) * low <= width - d <= (n - 1) * high]
    best = min(abs(d - 28 * n) for d in feasible)
    assert abs(slots.sum() - 28 * n) == best


def test_even_layout_without_width_uses_native_digits_and_the_midpoint():
    slots, gaps = layout.even_layout(5, (2, 7), None)
    assert slots.tolist() == [28] * 5
    assert gaps.mean() == 4.5 and set(gaps.tolist()) == {4, 5}


def test_min_width_random_mode_covers_the_widest_strip():
    # 3 digits, gaps up to 10: widest strip 104 px; 104 * 7 / 28 = 26
    assert layout.min_width(3, (0, 10), evenly=False) == 26
    assert layout.min_width(1, (0, 0), evenly=False) == 7


@pytest.mark.parametrize("src, dst", [(30, 31), (30, 45), (10, 300), (3, 7)])
def test_enlarging_is_linear_interpolation(src, dst):
    img = np.random.default_rng(0).random((28, src)).astype(np.float32)
    centres = (np.arange(dst) + 0.5) * src / dst - 0.5
    expected = np.stack([np.interp(centres, np.arange(src), row) for row in img])
    np.testing.assert_allclose(render.resample(img, dst), expected, atol=1e-6)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 400), st.integers(1, 400))
def test_resampling_keeps_range_constants_and_exact_width(src, dst):
    img = np.random.default_rng(src).random((28, src)).astype(np.float32)
    out = render.resample(img, dst)
    assert out.shape == (28, dst) and out.dtype == np.float32 and out.flags.c_contiguous
    assert out.min() >= 0 and out.max() <= 1
    np.testing.assert_allclose(render.resample(np.full((28, src), 0.25, np.float32), dst), 0.25, atol=1e-6)


def test_shrinking_is_antialiased():
    # alternating columns 0,1,0,1...: point sampling at half width would give all 0 or all 1
    img = np.tile(np.array([0.0, 1.0], np.float32), (28, 50))
    out = render.resample(img, 50)
    assert np.abs(out[:, 2:-2] - 0.5).max() < 0.01
