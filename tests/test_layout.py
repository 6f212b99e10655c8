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


def _spans_by_reach(lo, hi, src, dst):
    """``map_spans`` one element at a time, straight from the full ``reach`` of its sizes."""
    out_lo, out_hi = [], []
    for a, b, s, d in zip(lo.tolist(), hi.tolist(), src.tolist(), dst.tolist(), strict=True):
        if s == d:
            out_lo.append(a), out_hi.append(b)
            continue
        first, last = layout.reach(s, d)
        a, b = min(max(a, 0), s - 1), min(max(b, 0), s)
        out_lo.append(int(first[a]))
        out_hi.append(int(last[b - 1]) + 1 if b > a else int(first[a]))
    return out_lo, out_hi


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 3000), st.integers(1, 3000), st.floats(-0.1, 1.1), st.floats(-0.1, 1.1)),
                min_size=1, max_size=12))
def test_map_spans_is_reach_element_by_element(rows):
    src = np.array([s for s, _, _, _ in rows])
    dst = np.array([d for _, d, _, _ in rows])
    lo = np.array([int(s * f) for s, _, f, _ in rows])  # past either end too: map_spans clips them
    hi = np.array([int(s * f) for s, _, _, f in rows])
    got = layout.map_spans(lo, hi, src, dst)
    assert [g.tolist() for g in got] == list(_spans_by_reach(lo, hi, src, dst))


def test_map_spans_every_position_of_small_sizes_is_reach():
    for s in range(1, 50):
        for d in range(1, 50):
            pos = np.arange(s)
            lo, hi = layout.map_spans(pos, pos + 1, s, d)
            first, last = layout.reach(s, d)
            assert lo.tolist() == first.tolist() and (hi - 1).tolist() == last.tolist(), (s, d)


def test_map_spans_of_sizes_far_apart_builds_no_table_between_them():
    # One table row per size from 5 to 1,000,000, padded to 1,000,000, was 16 TB: refused or swapped to death.
    src = np.array([5, 1_000_000, 1_000_000, 999_999])
    lo, hi = np.array([1, 0, 123_456, 999_990]), np.array([4, 1_000_000, 123_457, 999_999])
    got = layout.map_spans(lo, hi, src, 1000)
    assert [g.tolist() for g in got] == list(_spans_by_reach(lo, hi, src, np.full(4, 1000)))
