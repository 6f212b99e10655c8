"""The batch renderer: the digit-by-digit composition, bit for bit alone or in any batch.

Large batches are summed by SciPy's public sparse product, small ones and single strips by
NumPy; a probe keeps SciPy out where it rounds differently, so a strip is the same bytes
alone or in any batch, and these tests say so exactly. The digit-by-digit composition sums
in its own order; against it the tests allow 1e-6 (about 16 float32 steps at 1.0).
"""

from __future__ import annotations

import logging
import platform
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_dataset_generator.compose import layout, programs, render, sums
from mnist_dataset_generator.compose.layout import min_width
from mnist_dataset_generator.compose.checks import check_request
from mnist_dataset_generator.compose.strip import _compose_by_digit
from mnist_dataset_generator.generator import generate_dataset
from mnist_dataset_generator.mnistdata import MnistData

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
    ids, weights = (programs.even_program(lengths, spacing, width, high) if evenly
                    else programs.random_program(lengths, gaps, width))
    batch = render.render(SOURCE.images[index], ids, weights, height=height, background=background)
    as_uint8 = render.render(SOURCE.images[index], ids, weights, height=height, background=background,
                             dtype="uint8")
    assert np.array_equal(as_uint8, np.rint(batch * 255).astype(np.uint8))
    for r, n in enumerate(lengths.tolist()):
        one = render.render(SOURCE.images[index[r : r + 1]], *(programs.even_program(lengths[r : r + 1], spacing, width,
                                                                                   high) if evenly else
                                                              programs.random_program(lengths[r : r + 1],
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
            assert alone.tobytes() == batch[r].tobytes()  # NumPy's or SciPy's sums: one order


def sparse_here() -> bool:
    """The renderer's own probe: does SciPy's product give NumPy's bytes on this machine?"""
    with sums._KERNEL_LOCK:
        return sums._sparse_agrees()


@pytest.fixture(params=["numpy", "sparse"])
def kernel(request, monkeypatch):
    """Large batches summed by NumPy's blocks, or by SciPy's product; yields the rows of each product."""
    if request.param == "sparse" and not sparse_here():
        pytest.skip("SciPy's product rounds differently here: NumPy sums every batch")
    monkeypatch.setitem(sums._KERNEL, "sparse", request.param == "sparse")
    products, real = [], sums._sparse_rows

    def spy(sheet, index, weight):
        products.append(len(index))
        return real(sheet, index, weight)

    monkeypatch.setattr(sums, "_sparse_rows", spy)
    return products


def test_x86_64_scipy_adds_as_numpy_does():
    # Else the sparse product is never used here, and the tests of it skip.
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("SciPy may fuse multiply and add on this machine")
    assert sparse_here()


@pytest.mark.parametrize("rows, taps, columns", [(1, 1, 2), (9, 2, 30), (2048, 3, 500), (2049, 5, 97),
                                                 (4100, 8, 6000)])
def test_numpy_and_sparse_kernels_give_the_same_bytes(rows, taps, columns):
    if not sparse_here():
        pytest.skip("SciPy's product rounds differently here: NumPy sums every batch")
    rng = np.random.default_rng(rows * 10 + taps)
    sheet = rng.random((columns, 28), dtype=np.float32)
    sheet[-1] = 0.0  # paper
    index = rng.integers(-1, columns, (rows, taps))  # -1: PAPER, the last column
    weight = (rng.random((rows, taps)) * rng.choice([1e-3, 0.5, 1.0, 3.0], (rows, 1))).astype(np.float32)
    weight[rng.random(weight.shape) < 0.2] = 0.0  # padded taps
    numpy = sums._numpy_rows(sheet, index, weight, np.empty((rows, 28), np.float32))
    sparse = sums._sparse_rows(sheet, index, weight)
    assert sparse.dtype == np.float32 and sparse.tobytes() == numpy.tobytes()
    spread = np.repeat(np.ascontiguousarray(weight.T)[:, :, None], 28, axis=2)  # single strips' form
    assert sums._spread_rows(sheet, np.ascontiguousarray(index.T), spread).tobytes() == numpy.tobytes()


def test_a_strip_is_the_same_bytes_alone_and_in_a_large_batch(kernel):
    # 256 strips: SciPy's product or NumPy's blocks; one strip: NumPy's tap-major form.
    count, widths = 256, [(224, 28), (300, 32), (90, 28)]
    lengths, gaps = np.full(count, 8), RNG.integers(0, 11, (count, 7))
    glyphs = SOURCE.images[RNG.integers(0, 40, (count, 8))]
    for width, height in widths:
        ids, weights = programs.random_program(lengths, gaps, width)
        assert ids.shape[2] > 1  # really resampled
        batch = render.render(glyphs, ids, weights, height=height)
        for r in (0, 17, 100, 255):
            alone = render.render_strip(glyphs[r], gaps[r], width, height=height)
            assert alone.tobytes() == batch[r].tobytes()
    assert kernel == ([count * w for w, _ in widths] if sums._KERNEL["sparse"] else [])


def test_a_dataset_item_is_row_i_of_a_large_batch(kernel):
    from mnist_dataset_generator.dataset import SequenceDataset

    ds = SequenceDataset(256, 8, (0, 10), 224, seed=7, images=SOURCE)
    batch = ds.__getitems__(list(range(256)))
    for i in (0, 17, 255):
        assert ds[i][0].tobytes() == batch[i][0].tobytes() and ds[i][1] == batch[i][1]
    assert bool(kernel) == sums._KERNEL["sparse"]


@pytest.mark.parametrize("evenly", [False, True])
def test_programs_of_either_layout_give_one_strips_bytes_in_a_batch(kernel, evenly):
    count, width = 40, 150
    lengths, gaps = RNG.integers(3, 7, count), RNG.integers(0, 8, (count, 5))
    glyphs = SOURCE.images[RNG.integers(0, 40, (count, 6))]
    program = ((lambda rows: programs.even_program(lengths[rows], (0, 7), width, 6)) if evenly
               else (lambda rows: programs.random_program(lengths[rows], gaps[rows], width)))
    batch = render.render(glyphs, *program(slice(None)))
    for r in range(0, count, 7):
        assert render.render(glyphs[r : r + 1], *program(slice(r, r + 1)))[0].tobytes() == batch[r].tobytes()
    assert bool(kernel) == sums._KERNEL["sparse"]


@pytest.mark.parametrize("width, height", [(224, 28), (300, 28), (90, 32), (None, 28), (None, 20)])
def test_single_strips_match_one_strip_batches(width, height):
    lengths, gaps = np.full(5, 8), RNG.integers(0, 11, (5, 7))
    glyphs = SOURCE.images[RNG.integers(0, 40, (5, 8))]
    for r in range(5):
        natural = 8 * 28 + int(gaps[r].sum())
        target = width or (natural if height == 28 else max(1, round(natural * height / 28)))
        ids, weights = programs.random_program(lengths[r : r + 1], gaps[r : r + 1], target)
        batch = render.render(glyphs[r : r + 1], ids, weights, height=height)[0]
        alone = render.render_strip(glyphs[r], gaps[r], width, height=height)
        assert alone.tobytes() == batch.tobytes()  # NumPy's two forms: one order of sums


def test_a_probe_that_sees_other_rounding_keeps_numpy_for_every_batch(monkeypatch, caplog):
    # A SciPy that fuses multiply and add: its sums differ in the last bit.
    products, real = [], sums._sparse_rows

    def fused(sheet, index, weight):
        products.append(len(index))
        return np.nextafter(real(sheet, index, weight), np.float32(2))

    monkeypatch.setattr(sums, "_sparse_rows", fused)
    monkeypatch.setitem(sums._KERNEL, "sparse", None)
    monkeypatch.setitem(sums._KERNEL, "rows", sums._SPARSE_AFTER)  # NumPy's share is done
    count = 40
    lengths, gaps = np.full(count, 8), RNG.integers(0, 11, (count, 7))
    glyphs = SOURCE.images[RNG.integers(0, 40, (count, 8))]
    ids, weights = programs.random_program(lengths, gaps, 224)
    with caplog.at_level(logging.DEBUG, logger="mnist_dataset_generator.compose.sums"):
        batch = render.render(glyphs, ids, weights)
        again = render.render(glyphs, ids, weights)
    assert sums._KERNEL["sparse"] is False and len(products) == 1  # the probe's, then NumPy only
    assert "rounds differently" in caplog.text
    assert again.tobytes() == batch.tobytes()
    for r in (0, 17, 39):
        assert render.render_strip(glyphs[r], gaps[r], 224).tobytes() == batch[r].tobytes()


def test_threads_decide_on_the_kernel_once(monkeypatch):
    count = 40
    lengths, gaps = np.full(count, 8), RNG.integers(0, 11, (count, 7))
    glyphs = SOURCE.images[RNG.integers(0, 40, (count, 8))]
    ids, weights = programs.random_program(lengths, gaps, 224)
    monkeypatch.setitem(sums._KERNEL, "sparse", False)
    expected = render.render(glyphs, ids, weights).copy()
    monkeypatch.setitem(sums._KERNEL, "sparse", None)
    monkeypatch.setitem(sums._KERNEL, "rows", sums._SPARSE_AFTER)
    asked, real = [], sums._sparse_agrees

    def slow():
        asked.append(threading.get_ident())
        time.sleep(0.05)  # the other thread arrives meanwhile
        return real()

    monkeypatch.setattr(sums, "_sparse_agrees", slow)
    start, results = threading.Barrier(2), []

    def work():
        start.wait()
        results.append(render.render(glyphs, ids, weights))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(asked) == 1 and len(results) == 2
    assert all(r.tobytes() == expected.tobytes() for r in results)


def run_python(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.splitlines()


def test_one_strip_and_short_runs_do_not_import_scipy_sparse():
    # import scipy.sparse costs ~0.1 s: more than a short run's sums save.
    code = ("import sys, numpy as np\n"
            "import mnist_dataset_generator\n"
            "from mnist_dataset_generator import generator\n"
            "print('scipy.sparse' in sys.modules)\n"
            "rng = np.random.default_rng(0)\n"
            "images = (rng.integers(0, 256, (40, 28, 28)).astype(np.uint8), np.arange(40) % 10)\n"
            "strip = generator.generate_numbers_sequence('123', (0, 5), 100, images=images)\n"
            "print(strip.shape, 'scipy.sparse' in sys.modules)\n"
            "generator.generate_dataset(300, 8, (0, 10), 224, seed=1, images=images)\n"
            "print('scipy.sparse' in sys.modules)\n")
    assert run_python(code) == ["False", "(28, 100) False", "False"]


def test_long_runs_import_scipy_sparse_the_usual_way():
    # The old kernel was loaded from its file alone: scipy.sparse._sparsetools without scipy.sparse.
    code = ("import sys, platform, numpy as np\n"
            "from mnist_dataset_generator.compose import programs, render, sums\n"
            "rng = np.random.default_rng(0)\n"
            "lengths, gaps = np.full(334, 8), rng.integers(0, 11, (334, 7))\n"
            "glyphs = rng.integers(0, 256, (334, 8, 28, 28)).astype(np.uint8)\n"
            "ids, weights = programs.random_program(lengths, gaps, 224)\n"
            "first = render.render(glyphs, ids, weights).copy()\n"
            "print([m for m in sys.modules if m.startswith('scipy')])\n"
            "while sums._KERNEL['sparse'] is None:\n"
            "    render.render(glyphs, ids, weights)\n"
            "last = render.render(glyphs, ids, weights)\n"
            "x86 = platform.machine().lower() in ('x86_64', 'amd64')\n"
            "print(sums._KERNEL['sparse'] or not x86, 'scipy.sparse' in sys.modules, first.tobytes() == last.tobytes())\n"
            "print([m for m in sys.modules if m.startswith('scipy.') and m.rsplit('.', 1)[0] not in sys.modules])\n"
            "import scipy.sparse\n"
            "import scipy.sparse._sparsetools as tools\n"
            "print(tools is scipy.sparse._sparsetools, scipy.sparse.csr_array((2, 2)).shape)\n")
    assert run_python(code) == ["[]", "True True True", "[]", "True (2, 2)"]


def test_natural_width_programs_copy_columns_unweighted():
    ids, weights = programs.random_program(np.array([3, 3]), np.array([[0, 4], [2, 2]]), None)
    assert ids.shape == (2, 88, 1) and np.all(weights == 1)
    assert ids[0, 28:32, 0].tolist() == [28, 29, 30, 31] and ids[0, 56:60, 0].tolist() == [-1] * 4
    assert ids[1, 28:30, 0].tolist() == [-1, -1] and ids[1, 30, 0] == 3 * 28 + 28  # strip 1's digit 1


def test_shrinking_weights_are_the_antialiased_filter_with_zero_taps_dropped():
    def dense(index, weight, src):
        matrix = np.zeros((len(index), src), np.float32)
        np.add.at(matrix, (np.arange(len(index))[:, None], index), weight)
        return matrix

    for src, dst in [(294, 224), (224, 300), (28, 9), (70, 70)]:
        index, weight = programs.tap_table(src, dst)
        full = layout.resample_weights(src, dst) if src != dst else (np.arange(dst)[:, None], np.ones((dst, 1)))
        assert np.array_equal(dense(index, weight, src), dense(*full, src))
        assert index.shape[1] < full[0].shape[1] or src == dst
    assert programs.tap_table(294, 224)[0].shape[1] == 3  # a 1.31x shrink touches at most 3 columns


def test_plain_batches_are_identical_for_one_and_two_workers():
    # Two workers write into one shared mapping; the result must not depend on it.
    for dtype in ("float32", "uint8"):
        one = generate_dataset(600, (2, 6), (0, 8), 160, seed=9, images=SOURCE, dtype=dtype, workers=1)
        two = generate_dataset(600, (2, 6), (0, 8), 160, seed=9, images=SOURCE, dtype=dtype, workers=2)
        assert one[0].dtype == two[0].dtype == np.dtype(dtype)
        assert one[0].tobytes() == two[0].tobytes() and one[1] == two[1]


def test_unfiltered_batches_run_their_workers_as_threads(monkeypatch):
    # The renderer's kernels release the GIL: no process pool, no shared mapping, no pickling.
    from mnist_dataset_generator import workers

    def no_processes():
        raise AssertionError("a worker process was started for an unfiltered batch")

    monkeypatch.setattr(workers, "_context", no_processes)
    images, labels = generate_dataset(700, (2, 6), (0, 8), 160, seed=9, images=SOURCE, workers=2)
    assert images.shape == (700, 28, 160) and len(labels) == 700


def test_wide_ranges_of_natural_widths_use_tables_per_width():
    # Natural widths 28..1200 in one batch: too wide a range for one cached table.
    lengths, gaps = np.array([1, 30, 12]), np.zeros((3, 29), np.int64)
    gaps[1] = 12
    ids, weights = programs.random_program(lengths, gaps, 300)
    glyphs = SOURCE.images[RNG.integers(0, 40, (3, 30))]
    batch = render.render(glyphs, ids, weights)
    for r, n in enumerate(lengths.tolist()):
        alone = render.render(glyphs[r : r + 1], *programs.random_program(lengths[r : r + 1], gaps[r : r + 1], 300))
        assert alone[0].tobytes() == batch[r].tobytes()
        np.testing.assert_allclose(render.render_strip(glyphs[r, :n], gaps[r, : n - 1], 300), batch[r], atol=1e-6)


def test_strips_of_one_layout_are_placed_bit_for_bit_as_rendered(monkeypatch):
    # Fixed length and spacing at the natural width: digits are written straight into place.
    from mnist_dataset_generator import dataset, making

    cases = [dict(length=4, spacing_range=(0, 0), image_width=112), dict(length=3, spacing_range=(5, 5),
                                                                         image_width=None),
             dict(length=5, spacing_range=(2, 2), image_width=None, evenly=True), dict(length=1, spacing_range=(3, 3),
                                                                                        image_width=None)]
    for case in cases:
        for background in ("white", "black"):
            for dtype in ("float32", "uint8"):
                kwargs = dict(seed=4, images=SOURCE, background=background, dtype=dtype, **case)
                plan = dataset.plan_dataset(300, **{k: v for k, v in kwargs.items() if k != "images"})
                assert making._regular_gap(plan) == case["spacing_range"][0]
                placed = generate_dataset(300, **kwargs)
                with monkeypatch.context() as m:
                    m.setattr(making, "_regular_gap", lambda plan: None)
                    rendered = generate_dataset(300, **kwargs)
                assert placed[0].tobytes() == rendered[0].tobytes() and placed[1] == rendered[1]


def test_only_one_layout_at_the_natural_width_is_placed():
    from mnist_dataset_generator import dataset, making

    for kwargs in [dict(length=(3, 4), spacing_range=(0, 0), image_width=112),  # lengths differ
                   dict(length=4, spacing_range=(0, 2), image_width=120),  # gaps differ
                   dict(length=4, spacing_range=(0, 0), image_width=100),  # resampled
                   dict(length=4, spacing_range=(0, 0), image_width=None, image_height=32)]:
        assert making._regular_gap(dataset.plan_dataset(10, seed=1, **kwargs)) is None, kwargs


def test_a_long_run_settles_the_kernel_before_its_first_batch():
    # Forked workers inherit the decision and the import instead of each summing 2M rows the slow way.
    code = ("import sys, numpy as np\n"
            "from mnist_dataset_generator import iter_dataset\n"
            "from mnist_dataset_generator.compose import sums\n"
            "rng = np.random.default_rng(0)\n"
            "images = (rng.integers(0, 256, (40, 28, 28)).astype(np.uint8), np.arange(40) % 10)\n"
            "short = iter_dataset(300, 8, (0, 10), 224, seed=1, images=images)\n"
            "next(short)\n"
            "print(sums._KERNEL['sparse'], 'scipy.sparse' in sys.modules)\n"
            "long = iter_dataset(10_000, 8, (0, 10), 224, seed=1, images=images)\n"
            "next(long)\n"
            "print(sums._KERNEL['sparse'] is not None, 'scipy.sparse' in sys.modules)\n")
    assert run_python(code) == ["None False", "True True"]
