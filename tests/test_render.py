"""The batch renderer: the digit-by-digit composition, bit for bit alone or in any batch.

Batches and single strips run SciPy's sparse kernel (NumPy where it is missing),
per-digit composition NumPy. Here all three agree bit for bit; a compiler that fuses a
multiply and an add (clang on arm64 may) rounds differently, so across
kernels the tests allow 1e-6 (about 16 float32 steps at 1.0). Within the
batch kernel, where datasets need it, equality is exact.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_dataset_generator import layout, render
from mnist_dataset_generator.generator import generate_dataset
from mnist_dataset_generator.layout import min_width
from mnist_dataset_generator.mnistdata import MnistData
from mnist_dataset_generator.strip import _compose_by_digit, check_request

RNG = np.random.default_rng(5)
SOURCE = MnistData.from_arrays(RNG.integers(0, 256, (40, 28, 28)), np.arange(40) % 10)


@st.composite
def batches(draw):
    count = draw(st.integers(1, 6))
    high = draw(st.integers(1, 7))
    low = draw(st.integers(1, high))
    spacing = tuple(sorted(draw(st.tuples(st.integers(0, 12), st.integers(0, 12)))))
    evenly = draw(st.booleans())
    width = draw(st.integers(min_width(high, spacing, evenly), 400))
    height = draw(st.sampled_from([28, 32, 16, 9]))
    seed = draw(st.integers(0, 2**32 - 1))
    return count, (low, high), spacing, evenly, width, height, draw(st.sampled_from(["white", "black"])), seed


@settings(max_examples=150, deadline=None)
@given(batches())
def test_batch_equals_each_strip_composed_digit_by_digit(case):
    count, (low, high), spacing, evenly, width, height, background, seed = case
    if evenly and low != high:
        width = max(width, min_width(low, spacing, True))
    rng = np.random.default_rng(seed)
    lengths = rng.integers(low, high + 1, count)
    digits = rng.integers(0, 10, (count, high))
    index = SOURCE.pick(digits, rng.random((count, high)))
    gaps = rng.integers(spacing[0], spacing[1] + 1, (count, high - 1))
    ids, weights = (render.even_program(lengths, spacing, width, high) if evenly
                    else render.random_program(lengths, gaps, width))
    batch = render.render(SOURCE.images[index], ids, weights, height=height, background=background)
    as_uint8 = render.render(SOURCE.images[index], ids, weights, height=height, background=background,
                             dtype="uint8")
    assert np.array_equal(as_uint8, np.rint(batch * 255).astype(np.uint8))
    for r, n in enumerate(lengths.tolist()):
        one = render.render(SOURCE.images[index[r : r + 1]], *(render.even_program(lengths[r : r + 1], spacing, width,
                                                                                   high) if evenly else
                                                              render.random_program(lengths[r : r + 1],
                                                                                    gaps[r : r + 1], width)),
                            height=height, background=background)
        assert one[0].tobytes() == batch[r].tobytes()  # a strip does not depend on its batch
        request = check_request(digits[r, :n], spacing, width, evenly, image_height=height, background=background)
        row_gaps = None if evenly else gaps[r, : n - 1]
        expected = _compose_by_digit(request, SOURCE, index[r, :n], row_gaps, None)
        np.testing.assert_allclose(batch[r], expected, rtol=0, atol=1e-6)
        if not evenly:
            alone = render.render_strip(SOURCE.images[index[r, :n]], row_gaps, width, height=height,
                                        background=background)
            np.testing.assert_allclose(alone, expected, rtol=0, atol=1e-6)


def test_public_sparse_product_gives_the_same_bytes(monkeypatch):
    # Should SciPy rename its CSR kernel, render falls back to the public product: same sums, same order.
    lengths, gaps = np.array([8, 5, 8]), RNG.integers(0, 11, (3, 7))
    glyphs = SOURCE.images[RNG.integers(0, 40, (3, 8))]
    ids, weights = render.random_program(lengths, gaps, 224)
    direct = render.render(glyphs, ids, weights).copy()
    monkeypatch.setattr(render, "_csr_matvecs", lambda: None)
    assert render.render(glyphs, ids, weights).tobytes() == direct.tobytes()
    assert render._taps(8 * 28 + int(gaps[0].sum()), 224)[0].shape[1] > 1  # really resampled


@pytest.mark.parametrize("kernel", [True, False])
def test_single_strips_match_the_batch_kernel_on_either_path(monkeypatch, kernel):
    if not kernel:  # SciPy's kernel not found: NumPy's take, multiply and add
        monkeypatch.setattr(render, "_csr_matvecs", lambda: None)
    lengths, gaps = np.full(5, 8), RNG.integers(0, 11, (5, 7))
    glyphs = SOURCE.images[RNG.integers(0, 40, (5, 8))]
    for width, height in [(224, 28), (300, 28), (90, 32), (None, 28), (None, 20)]:
        for r in range(5):
            natural = 8 * 28 + int(gaps[r].sum())
            target = width or (natural if height == 28 else max(1, round(natural * height / 28)))
            ids, weights = render.random_program(lengths[r : r + 1], gaps[r : r + 1], target)
            batch = render.render(glyphs[r : r + 1], ids, weights, height=height)[0]
            alone = render.render_strip(glyphs[r], gaps[r], width, height=height)
            if kernel:
                assert alone.tobytes() == batch.tobytes()  # one kernel, one order of sums
            else:
                np.testing.assert_allclose(alone, batch, rtol=0, atol=1e-6)


def test_the_kernel_loads_without_importing_scipy_packages():
    # import scipy.sparse costs ~0.1 s; its compiled kernel alone 0.3 ms. Later imports find it loaded.
    code = ("import sys, numpy as np; from mnist_dataset_generator import render; "
            "img = render.render_strip(np.full((3, 28, 28), 200, np.uint8), np.array([4, 0]), 61); "
            "print(img.shape, [m for m in sys.modules if m.startswith('scipy')]); "
            "import scipy.sparse._sparsetools as st; print(st.csr_matvecs is render._csr_matvecs())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["(28,", "61)", "['scipy.sparse._sparsetools']", "True"]


def test_a_kernel_that_cannot_be_loaded_alone_is_imported_the_usual_way(monkeypatch):
    def fail(name):
        raise ImportError(f"pretend {name} needs its package")

    monkeypatch.setattr(render, "_extension", fail)
    render._csr_matvecs.cache_clear()
    try:
        from scipy.sparse._sparsetools import csr_matvecs

        assert render._csr_matvecs() is csr_matvecs
    finally:
        render._csr_matvecs.cache_clear()


def test_natural_width_programs_copy_columns_unweighted():
    ids, weights = render.random_program(np.array([3, 3]), np.array([[0, 4], [2, 2]]), None)
    assert ids.shape == (2, 88, 1) and np.all(weights == 1)
    assert ids[0, 28:32, 0].tolist() == [28, 29, 30, 31] and ids[0, 56:60, 0].tolist() == [-1] * 4
    assert ids[1, 28:30, 0].tolist() == [-1, -1] and ids[1, 30, 0] == 3 * 28 + 28  # strip 1's digit 1


def test_shrinking_weights_are_the_antialiased_filter_with_zero_taps_dropped():
    def dense(index, weight, src):
        matrix = np.zeros((len(index), src), np.float32)
        np.add.at(matrix, (np.arange(len(index))[:, None], index), weight)
        return matrix

    for src, dst in [(294, 224), (224, 300), (28, 9), (70, 70)]:
        index, weight = render._taps(src, dst)
        full = layout.resample_weights(src, dst) if src != dst else (np.arange(dst)[:, None], np.ones((dst, 1)))
        assert np.array_equal(dense(index, weight, src), dense(*full, src))
        assert index.shape[1] < full[0].shape[1] or src == dst
    assert render._taps(294, 224)[0].shape[1] == 3  # a 1.31x shrink touches at most 3 columns


def test_plain_batches_are_identical_for_one_and_two_workers():
    # Two workers write into one shared mapping; the result must not depend on it.
    for dtype in ("float32", "uint8"):
        one = generate_dataset(600, (2, 6), (0, 8), 160, seed=9, images=SOURCE, dtype=dtype, workers=1)
        two = generate_dataset(600, (2, 6), (0, 8), 160, seed=9, images=SOURCE, dtype=dtype, workers=2)
        assert one[0].dtype == two[0].dtype == np.dtype(dtype)
        assert one[0].tobytes() == two[0].tobytes() and one[1] == two[1]


def test_unfiltered_batches_run_their_workers_as_threads(monkeypatch):
    # The renderer's kernels release the GIL: no process pool, no shared mapping, no pickling.
    from mnist_dataset_generator import dataset

    def no_processes():
        raise AssertionError("a worker process was started for an unfiltered batch")

    monkeypatch.setattr(dataset, "_context", no_processes)
    images, labels = generate_dataset(700, (2, 6), (0, 8), 160, seed=9, images=SOURCE, workers=2)
    assert images.shape == (700, 28, 160) and len(labels) == 700


def test_wide_ranges_of_natural_widths_use_tables_per_width():
    # Natural widths 28..1200 in one batch: too wide a range for one cached table.
    lengths, gaps = np.array([1, 30, 12]), np.zeros((3, 29), np.int64)
    gaps[1] = 12
    ids, weights = render.random_program(lengths, gaps, 300)
    glyphs = SOURCE.images[RNG.integers(0, 40, (3, 30))]
    batch = render.render(glyphs, ids, weights)
    for r, n in enumerate(lengths.tolist()):
        alone = render.render(glyphs[r : r + 1], *render.random_program(lengths[r : r + 1], gaps[r : r + 1], 300))
        assert alone[0].tobytes() == batch[r].tobytes()
        np.testing.assert_allclose(render.render_strip(glyphs[r, :n], gaps[r, : n - 1], 300), batch[r], atol=1e-6)


def test_strips_of_one_layout_are_placed_bit_for_bit_as_rendered(monkeypatch):
    # Fixed length and spacing at the natural width: digits are written straight into place.
    from mnist_dataset_generator import dataset

    cases = [dict(length=4, spacing_range=(0, 0), image_width=112), dict(length=3, spacing_range=(5, 5),
                                                                         image_width=None),
             dict(length=5, spacing_range=(2, 2), image_width=None, evenly=True), dict(length=1, spacing_range=(3, 3),
                                                                                        image_width=None)]
    for case in cases:
        for background in ("white", "black"):
            for dtype in ("float32", "uint8"):
                kwargs = dict(seed=4, images=SOURCE, background=background, dtype=dtype, **case)
                plan = dataset.plan_dataset(300, **{k: v for k, v in kwargs.items() if k != "images"})
                assert dataset._regular_gap(plan) == case["spacing_range"][0]
                placed = generate_dataset(300, **kwargs)
                with monkeypatch.context() as m:
                    m.setattr(dataset, "_regular_gap", lambda plan: None)
                    rendered = generate_dataset(300, **kwargs)
                assert placed[0].tobytes() == rendered[0].tobytes() and placed[1] == rendered[1]


def test_only_one_layout_at_the_natural_width_is_placed():
    from mnist_dataset_generator import dataset

    for kwargs in [dict(length=(3, 4), spacing_range=(0, 0), image_width=112),  # lengths differ
                   dict(length=4, spacing_range=(0, 2), image_width=120),  # gaps differ
                   dict(length=4, spacing_range=(0, 0), image_width=100),  # resampled
                   dict(length=4, spacing_range=(0, 0), image_width=None, image_height=32)]:
        assert dataset._regular_gap(dataset.plan_dataset(10, seed=1, **kwargs)) is None, kwargs
