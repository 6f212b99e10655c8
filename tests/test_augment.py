"""Augmentation over stacks: draws per digit, one warp for all geometry, p per filter, stacked user filters."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import one_line, run_generator
from mnist_dataset_generator.compose import augment, warp
from mnist_dataset_generator.compose.filterspec import from_spec, prepare
from mnist_dataset_generator.compose.stacks import Glyphs, frames
from mnist_dataset_generator.filters import Sometimes, blur, rotate, stacked
from mnist_dataset_generator.generator import generate_dataset, generate_numbers_sequence
from mnist_dataset_generator import mnistdata
from mnist_dataset_generator.mnistdata import MnistData
from mnist_dataset_generator.sources.testdata import draw_digits

FIVE = "crop,elastic,slant,thickness,blur:sigma=0.6"
GEOMETRY = "elastic,slant,rotate,scale,distort,blur:sigma=0.6"


@pytest.fixture(scope="module")
def source():
    labels = np.arange(200) % 10
    return MnistData.from_arrays(draw_digits(labels, np.random.default_rng(7)), labels)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return mnistdata.write_test_data(tmp_path_factory.mktemp("augment-data"), 100, 20, seed=5)


def _samples(count, seed=0):
    rng = np.random.default_rng(seed)
    return [draw_digits(rng.integers(0, 10, int(n)), rng) for n in rng.integers(1, 9, count)]


def _run(spec, samples, seeds, batch=augment.GROUP):
    plan = augment.stages(prepare(spec))
    rngs = [np.random.default_rng(s) for s in seeds]
    out = []
    for a, b, glyphs in augment.augment_batches(plan, [len(x) for x in samples], samples.__getitem__, rngs,
                                                batch=batch):
        digits = glyphs.to_list()
        at = 0
        for s in range(a, b):
            out.append(digits[at : at + len(samples[s])])
            at += len(samples[s])
    return out


@pytest.mark.parametrize("spec", [FIVE, GEOMETRY, "noise,salt_pepper:amount=0.1,resize:width=20", "distort,scale,rotate",
                                  "rotate:p=0.5,elastic:p=0.3,thickness:p=0.5"])
def test_a_digits_augmentation_does_not_depend_on_its_batch_neighbours(spec):
    samples = _samples(12)
    together = _run(spec, samples, range(12))
    for batch in (1, 9, 40):
        assert all(a.tobytes() == b.tobytes() and a.shape == b.shape
                   for x, y in zip(together, _run(spec, samples, range(12), batch=batch), strict=True)
                   for a, b in zip(x, y, strict=True))
    for s in (0, 5, 11):  # a sample alone, with none of the others
        alone, = _run(spec, [samples[s]], [s])
        assert all(a.tobytes() == b.tobytes() for a, b in zip(alone, together[s], strict=True))


def test_a_long_sample_is_augmented_in_groups_of_slots_whatever_the_batch():
    sample = draw_digits(np.arange(1100) % 10, np.random.default_rng(1))
    one, = _run("rotate,noise:std=0.05", [sample], [3], batch=augment.GROUP)
    again, = _run("rotate,noise:std=0.05", [sample], [3], batch=7)
    assert len(one) == 1100 and all(a.tobytes() == b.tobytes() for a, b in zip(one, again, strict=True))


@pytest.mark.parametrize("spec", [FIVE, GEOMETRY, "rotate:p=0.5,slant", "crop,elastic,thickness,slant",
                                  "crop,rotate,blur:sigma=0.6,rotate"])
def test_filtered_datasets_are_the_same_bytes_for_any_worker_count_and_item(source, spec):
    args = (70, (2, 7), (-4, 6), 180)
    one = generate_dataset(*args, seed=5, images=source, fltrs=spec, return_boxes=True, workers=1)
    two = generate_dataset(*args, seed=5, images=source, fltrs=spec, return_boxes=True, workers=2)
    assert one[0].tobytes() == two[0].tobytes() and one[1] == two[1]
    assert all(a.tobytes() == b.tobytes() for a, b in zip(one[2], two[2], strict=True))
    from mnist_dataset_generator.dataset import SequenceDataset

    ds = SequenceDataset(70, (2, 7), (-4, 6), 180, seed=5, images=source, fltrs=spec)
    for i in (0, 33, 69):
        image, label = ds[i]
        assert label == one[1][i] and image.tobytes() == one[0][i].tobytes()
    assert [x[0].tobytes() for x in ds.__getitems__([69, 2])] == [one[0][69].tobytes(), one[0][2].tobytes()]


def test_consecutive_geometric_filters_are_interpolated_once():
    from scipy.ndimage import affine_transform

    digit = draw_digits([8], np.random.default_rng(2))[0].astype(np.float32) / 255
    theta, shear = np.radians(8.0), 0.2
    chain = [(warp.Slant(1), np.array([shear], np.float32)), (warp.Rotate(90), np.array([theta], np.float32))]
    out = warp.warp(Glyphs.full(digit[None]), chain)
    # slant then rotate is one affine map: the input is read at S R (p - c) + c
    c, s = np.cos(theta), np.sin(theta)
    matrix = np.array([[1.0, 0.0], [shear, 1.0]]) @ np.array([[c, -s], [s, c]])
    pad = 10
    canvas = np.zeros((28, 48), np.float32)
    canvas[:, pad : pad + 28] = digit
    centre = np.array([13.5, pad + 13.5])
    once = affine_transform(canvas, matrix, offset=centre - matrix @ centre, order=1)
    (start,), (stop,) = frames(once[None], pad, 28)  # cut as every filter cuts: the frame, widened to the ink
    assert out.digit(0).shape == (28, stop - start)
    assert np.abs(out.digit(0) - once[:, start:stop]).max() < 1e-5
    # one after another, the strokes are interpolated twice: softer, a lower peak
    step = digit
    for op, angle in ((warp.Slant(1), shear), (warp.Rotate(90), theta)):
        step = warp.warp(Glyphs.full(step[None]), [(op, np.array([angle], np.float32))]).digit(0)
    top = np.sort(out.digit(0).ravel())[-40:].mean()
    assert np.sort(step.ravel())[-40:].mean() < top - 0.01


def test_the_elastic_field_has_simards_statistics():
    from scipy.ndimage import gaussian_filter

    op = warp.Elastic(34.0, 4.0)
    ours = op.prepare(op.draw(np.random.default_rng(0), 3000))
    rng = np.random.default_rng(1)
    simard = np.stack([gaussian_filter(rng.uniform(-1, 1, (28, 28)), 4.0, mode="constant") * 34 for _ in range(3000)])
    for axis in (0, 1):
        assert np.allclose(ours[:, axis].std(axis=0), simard.std(axis=0), rtol=0.12)
        near = np.corrcoef(ours[:, axis, 14, 14], ours[:, axis, 14, 17])[0, 1]
        assert abs(near - np.corrcoef(simard[:, 14, 14], simard[:, 14, 17])[0, 1]) < 0.06


def test_p_applies_a_filter_to_that_fraction_of_digits_drawn_per_digit():
    digits = draw_digits(np.arange(400) % 10, np.random.default_rng(4)).astype(np.float32) / 255
    rngs = [np.random.default_rng(9)]
    for p, low, high in ((0.0, 0, 0), (0.3, 0.22, 0.38), (1.0, 400, 400)):
        out = augment.augment(Glyphs.full(digits), [400], rngs, augment.stages(prepare(f"blur:p={p}")))
        changed = sum(not np.array_equal(out.digit(i), digits[i]) for i in range(400))
        assert (low <= changed <= high) if p in (0.0, 1.0) else (low <= changed / 400 <= high), (p, changed)
    # p=1 is the filter itself; a filter after one with p < 1 draws the same whatever the coins say
    plain = augment.augment(Glyphs.full(digits[:8]), [8], [np.random.default_rng(1)], augment.stages(prepare("rotate")))
    same = augment.augment(Glyphs.full(digits[:8]), [8], [np.random.default_rng(1)],
                           augment.stages(prepare("rotate:p=1")))
    assert all(plain.digit(i).tobytes() == same.digit(i).tobytes() for i in range(8))


@pytest.mark.parametrize("make, words", [(lambda: rotate(10, p=1.5), "rotate: p must be a number in [0, 1], got 1.5"),
                                         (lambda: from_spec("blur:p=-0.2"), "blur: p must be a number in [0, 1]"),
                                         (lambda: Sometimes(blur(), "half"), "Sometimes: p must be a number"),
                                         (lambda: from_spec("elastic:p=nan"), "elastic: p must be a number")])
def test_p_outside_0_1_is_refused_by_name(make, words):
    with pytest.raises(ValueError, match=None) as caught:
        make()
    assert words in str(caught.value)


@stacked
def _shift_right(stack, *, rngs):
    assert stack.ndim == 3 and stack.shape[1] == 28 and len(rngs) == len(stack)
    out = np.zeros((len(stack), 28, stack.shape[2] + 2), np.float32)
    out[:, :, 2:] = stack
    return out


def test_a_users_stacked_filter_gets_the_stack_and_a_generator_per_digit(source):
    image = generate_numbers_sequence("4711", (0, 0), None, images=source, rng=1, fltrs=[_shift_right])
    plain = generate_numbers_sequence("4711", (0, 0), None, images=source, rng=1)
    assert image.shape == (28, 4 * 30)  # each digit two columns wider
    assert np.array_equal(image[:, 2:30], plain[:, :28])
    seen = []

    @stacked
    def record(stack, *, rngs):
        seen.append([int(r.integers(1 << 30)) for r in rngs])
        return stack

    generate_dataset(4, 3, (0, 0), 84, seed=1, images=source, fltrs=[Sometimes(record, 1.0)])
    again = []
    seen, first = again, seen
    generate_dataset(4, 3, (0, 0), 84, seed=1, images=source, fltrs=[Sometimes(record, 1.0)])
    assert first == again and len({x for row in first for x in row}) == 12  # a stream of its own per digit


@pytest.mark.parametrize("returned, words", [
    (lambda s: s[:, :20], "must return a stack of shape (3, 28, width >= 1)"),
    (lambda s: s[:2], "must return a stack of shape (3, 28, width >= 1) for the 3 digit(s) it was given, got "
                      "shape (2, 28, 28)"),
    (lambda s: s.astype(np.complex64), "returned complex64 values"),
    (lambda s: s * np.nan, "returned NaN or infinite values"),
])
def test_a_stacked_filter_returning_the_wrong_stack_is_named_in_one_line(source, returned, words):
    @stacked
    def bad(stack, *, rngs):
        return returned(stack)

    with pytest.raises(ValueError) as caught:
        generate_numbers_sequence("123", (0, 0), None, images=source, rng=1, fltrs=[blur(), bad])
    message = str(caught.value)
    assert "\n" not in message and "bad" in message and words in message, message


def test_a_plain_filter_inside_a_stacked_pipeline_is_named(source):
    def squash(img):
        return img[:10]

    with pytest.raises(ValueError, match=r"^filter test_augment:.*squash must return a 2-D array of height 28 and "
                                         r"width >= 1, got shape \(10, 28\)$"):
        generate_dataset(5, 3, (0, 2), 100, seed=1, images=source, fltrs=[rotate(), squash, blur()])


def test_cli_refuses_a_bad_stacked_filter_in_one_line_and_writes_nothing(tmp_path, data_dir):
    (tmp_path / "myfilters.py").write_text(
        "import numpy as np\n"
        "def halve():\n"
        "    def f(stack, *, rngs):\n"
        "        return stack[: len(stack) // 2]\n"
        "    f.takes_stack = True\n"
        "    return f\n")
    result = run_generator("--count", "6", "--length", "3", "-w", "100", "--seed", "1", "-q", "-d", data_dir,
                           "-f", "rotate,myfilters:halve:p=1", "--output-dir", tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    line = one_line(result)
    assert "myfilters:" in line and "must return a stack of shape" in line, line
    assert not (tmp_path / "out").exists()


def test_cli_p_on_any_filter_and_out_of_range(tmp_path, data_dir):
    ok = run_generator("--count", "4", "--length", "3", "-w", "100", "--seed", "1", "-q", "-d", data_dir,
                       "-f", "rotate:p=0.5,elastic:p=0.3", "--output-dir", tmp_path / "ok", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    bad = run_generator("--count", "4", "--length", "3", "-w", "100", "--seed", "1", "-q", "-d", data_dir,
                        "-f", "rotate:p=1.2", "--output-dir", tmp_path / "bad", cwd=tmp_path)
    assert bad.returncode == 2 and "rotate: p must be a number in [0, 1], got 1.2" in one_line(bad)
    assert not (tmp_path / "bad").exists()


def test_p_reaches_a_users_factory_that_has_its_own(tmp_path, monkeypatch):
    (tmp_path / "ownp.py").write_text(
        "def dropout(p):\n"
        "    def f(img):\n"
        "        return img * (1 - p)\n"
        "    return f\n"
        "def plain(amount=1):\n"
        "    def f(img):\n"
        "        return img * amount\n"
        "    return f\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    own, = from_spec("ownp:dropout:p=0.25")
    assert not isinstance(own, Sometimes) and float(own(np.ones((28, 28), np.float32)).max()) == 0.75
    wrapped, = from_spec("ownp:plain:amount=1:p=0.25")
    assert isinstance(wrapped, Sometimes) and wrapped.p == 0.25
    with pytest.raises(ValueError, match=r"filter ownp:plain: p must be a number in \[0, 1\], got 2"):
        from_spec("ownp:plain:p=2")


def test_sometimes_around_a_built_in_stays_in_the_one_warp():
    plan = augment.stages(prepare([Sometimes(rotate(10), 0.5), Sometimes(blur(), 0.5)]))
    assert [type(x).__name__ for x in plan] == ["_Geometry", "_Pixels"]
    assert plan[0].ops[0][1] == 0.5 and plan[1].p == 0.5


@stacked
def _pad_two(stack, *, rngs):
    out = np.zeros((len(stack), 28, stack.shape[2] + 2), np.float32)
    out[:, :, 1:-1] = stack
    return out


def test_a_stacked_filter_gives_a_digit_the_same_whatever_its_neighbours_widths():
    # crop leaves digits of different widths; a stacked filter must see each digit at its own width
    narrow = np.zeros((1, 28, 28), np.uint8)
    narrow[0, 10:18, 13:15] = 255
    wide = np.full((1, 28, 28), 255, np.uint8)
    plan = augment.stages(prepare([from_spec("crop")[0], _pad_two]))
    rng = np.random.default_rng

    def made(samples):
        (_, _, glyphs), = augment.augment_batches(plan, [1] * len(samples), samples.__getitem__,
                                                  [rng(0) for _ in samples])
        return glyphs.to_list()

    alone, = made([narrow])
    with_wide = made([narrow, wide])[0]
    assert alone.shape == (28, 6) and with_wide.tobytes() == alone.tobytes()
