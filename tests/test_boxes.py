"""Per-digit boxes through every door: the ink of each digit inside its box, crops read as their digit."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mnist_dataset_generator import (
    SequenceDataset,
    generate_dataset,
    generate_numbers_sequence,
    iter_dataset,
)
from mnist_dataset_generator.compose.boxes import VISIBLE
from mnist_dataset_generator.filters import blur, distort, elastic, rotate, scale
from mnist_dataset_generator.mnistdata import MnistData
from mnist_dataset_generator.sources.testdata import draw_digits

LABELS = np.arange(600) % 10
SOURCE = MnistData.from_arrays(draw_digits(LABELS, np.random.default_rng(7)), LABELS)

# (spacing, width, keywords): every layout path of the renderer
CASES = [
    ((0, 10), 200, {}),                                             # random, resampled (batch kernel)
    ((3, 3), 5 * 28 + 4 * 3, {}),                                   # natural width: nothing resampled
    ((0, 10), 150, {"evenly": True}),                               # even slots
    ((0, 6), 300, {"fit": "pad"}),                                  # padded, centred
    ((0, 6), 300, {"fit": "pad", "align": "random"}),
    ((0, 6), 90, {"fit": "pad", "align": "left"}),                  # too wide: scaled down whole
    ((0, 6), 200, {"image_height": 40}),
    ((0, 6), 260, {"fit": "pad", "image_height": 40, "align": "left"}),
    ((2, 4), 180, {"evenly": True, "fit": "pad"}),
    ((2, 4), None, {"evenly": True, "fit": "pad"}),                 # padded into no width: the natural strip
    ((0, 8), 210, {"fltrs": [blur(1.0)]}),                          # composed digit by digit
    ((0, 8), 210, {"fltrs": [distort(15.0), rotate(12.0)], "evenly": True}),
    ((0, 8), 250, {"fltrs": [scale(0.7, 1.2), elastic()], "fit": "pad", "image_height": 32}),
    ((-10, -2), 140, {}),                                           # overlapping digits
]


def union(boxes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, bool)
    for x0, y0, x1, y1 in boxes.tolist():
        mask[y0:y1, x0:x1] = True
    return mask


def assert_boxes_hold_the_ink(image: np.ndarray, boxes: np.ndarray, label: str) -> None:
    assert boxes.shape == (len(label), 4) and boxes.dtype.kind == "i"
    x0, y0, x1, y1 = boxes.T
    assert (0 <= x0).all() and (x0 < x1).all() and (x1 <= image.shape[1]).all()
    assert (0 <= y0).all() and (y0 < y1).all() and (y1 <= image.shape[0]).all()
    assert not visible(image)[~union(boxes, image.shape)].any(), "visible ink outside every box"


def visible(image: np.ndarray, background: str = "white") -> np.ndarray:
    """Pixels at least half an 8-bit step from the paper: what shows (any value but 255 in 8 bits)."""
    if image.dtype == np.uint8:
        return image != (255 if background == "white" else 0)
    ink = 1.0 - image if background == "white" else image
    return ink >= VISIBLE


def assert_tight(ink: np.ndarray, boxes: np.ndarray) -> None:
    """Each box's four edges touch visible ink (``ink``: the strip drawn ink-high on black)."""
    for x0, y0, x1, y1 in boxes.tolist():
        region = visible(ink[y0:y1, x0:x1], "black")
        assert region[0].any() and region[-1].any() and region[:, 0].any() and region[:, -1].any(), (x0, y0, x1, y1)


def normalised(ink: np.ndarray) -> np.ndarray:
    """The visible ink (> 0.25) of a crop (ink high on 0), scaled into 20 x 20 as MNIST frames its digits.

    A box holds every pixel a digit's ink reaches, a blur's faintest tail included; a reader
    looks at what is visible."""
    seen = ink > 0.25
    if seen.any():
        rows, cols = np.flatnonzero(seen.any(axis=1)), np.flatnonzero(seen.any(axis=0))
        ink = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    crop = Image.fromarray(np.clip(ink * 255, 0, 255).astype(np.uint8))
    return np.asarray(crop.resize((20, 20), Image.Resampling.BILINEAR), np.float64) / 255


def _template_reader():
    labels = np.arange(1000) % 10
    drawn = draw_digits(labels, np.random.default_rng(100)).astype(np.float64) / 255
    crops = []
    for glyph in drawn:
        rows, cols = np.flatnonzero(glyph.any(axis=1)), np.flatnonzero(glyph.any(axis=0))
        crops.append(normalised(glyph[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]).ravel())
    crops = np.array(crops)
    templates = np.stack([crops[labels == d].mean(axis=0) for d in range(10)])
    templates -= templates.mean(axis=1, keepdims=True)
    templates /= np.linalg.norm(templates, axis=1, keepdims=True)

    def read(image: np.ndarray, boxes: np.ndarray) -> list[int]:
        ink = 1.0 - image.astype(np.float64)
        flat = np.array([normalised(ink[y0:y1, x0:x1]).ravel() for x0, y0, x1, y1 in boxes.tolist()])
        return np.argmax((flat - flat.mean(axis=1, keepdims=True)) @ templates.T, axis=1).tolist()

    return read


READ = _template_reader()


@pytest.mark.parametrize(("spacing", "width", "kwargs"), CASES)
def test_every_digits_ink_lies_in_its_box_and_nothing_outside(spacing, width, kwargs):
    for seed in range(6):
        image, boxes = generate_numbers_sequence("40719", spacing, width, images=SOURCE, rng=seed,
                                                 return_boxes=True, **kwargs)
        assert_boxes_hold_the_ink(image, boxes, "40719")
        assert (np.diff(boxes[:, 0]) > 0).all(), "boxes come in reading order"
        alone = generate_numbers_sequence("40719", spacing, width, images=SOURCE, rng=seed, **kwargs)
        assert np.array_equal(alone, image), "asking for boxes changes nothing in the image"
        if spacing[0] >= 0:  # apart, each box is tight around its own ink
            dark, dark_boxes = generate_numbers_sequence("40719", spacing, width, images=SOURCE, rng=seed,
                                                         return_boxes=True, background="black", **kwargs)
            assert np.array_equal(dark_boxes, boxes)
            assert_tight(dark, boxes)


@pytest.mark.parametrize(("spacing", "width", "kwargs"), [c for c in CASES if c[0][0] >= 0 and "fltrs" not in c[2]])
def test_crops_read_as_their_digit(spacing, width, kwargs):
    right = wrong = total = 0
    for seed in range(20):
        label = "".join(str(d) for d in np.random.default_rng(seed).integers(0, 10, 5))
        image, boxes = generate_numbers_sequence(label, spacing, width, images=SOURCE, rng=seed, return_boxes=True,
                                                 **kwargs)
        digits = [int(c) for c in label]
        read = READ(image, boxes)
        right += sum(a == b for a, b in zip(read, digits, strict=True))
        wrong += sum(a == b for a, b in zip(READ(image, np.roll(boxes, 1, axis=0)), digits, strict=True))
        total += len(digits)
    # Measured: 95-100 % read right through their own boxes; a box of the neighbour reads right
    # only by chance (about one in ten).
    assert right / total >= 0.85, right / total
    assert wrong / total <= 0.35, wrong / total


def test_filtered_crops_read_as_their_digit():
    right = total = 0
    for seed in range(20):
        label = "".join(str(d) for d in np.random.default_rng(seed).integers(0, 10, 5))
        image, boxes = generate_numbers_sequence(label, (0, 8), 220, images=SOURCE, rng=seed, return_boxes=True,
                                                 fltrs=[rotate(8.0), blur(0.6)])
        right += sum(a == int(b) for a, b in zip(READ(image, boxes), label, strict=True))
        total += len(label)
    assert right / total >= 0.8, right / total


@pytest.mark.parametrize("kwargs", [{}, {"fit": "pad", "align": "random"}, {"fltrs": [distort()]},
                                    {"evenly": True, "image_height": 32}, {"dtype": "uint8"}])
def test_dataset_doors_agree_on_boxes(kwargs):
    args = (60, (2, 6), (0, 8), 200)
    images, labels, boxes = generate_dataset(*args, seed=4, images=SOURCE, return_boxes=True, **kwargs)
    plain, plain_labels = generate_dataset(*args, seed=4, images=SOURCE, **kwargs)
    assert np.array_equal(plain, images) and plain_labels == labels
    two = generate_dataset(*args, seed=4, images=SOURCE, return_boxes=True, workers=2, **kwargs)
    assert np.array_equal(two[0], images) and all(np.array_equal(a, b) for a, b in zip(two[2], boxes, strict=True))
    streamed = list(iter_dataset(*args, seed=4, images=SOURCE, return_boxes=True, **kwargs))
    ds = SequenceDataset(*args, seed=4, images=SOURCE, return_boxes=True, **kwargs)
    for i, (image, label, box) in enumerate(streamed):
        assert label == labels[i] and np.array_equal(image, images[i]) and np.array_equal(box, boxes[i])
        item = ds[i]
        assert item[1] == label and np.array_equal(item[0], image) and np.array_equal(item[2], box)
        assert_boxes_hold_the_ink(image, box, label)


def test_pad_keeps_digits_their_size():
    # "050" stays three 28 px digits: the padded strip is the natural strip, moved, paper around it
    natural = generate_numbers_sequence("050", (0, 0), None, images=SOURCE, rng=3)
    assert natural.shape == (28, 84)
    left = generate_numbers_sequence("050", (0, 0), 200, images=SOURCE, rng=3, fit="pad", align="left")
    centre = generate_numbers_sequence("050", (0, 0), 200, images=SOURCE, rng=3, fit="pad")
    assert np.array_equal(left[:, :84], natural) and (left[:, 84:] == 1).all()
    assert np.array_equal(centre[:, 58:142], natural) and (centre[:, :58] == 1).all() and (centre[:, 142:] == 1).all()
    starts = set()
    for seed in range(30):
        image = generate_numbers_sequence("050", (0, 0), 200, images=SOURCE, rng=seed, fit="pad", align="random")
        ink = np.flatnonzero((image < 1).any(axis=0))
        same = generate_numbers_sequence("050", (0, 0), None, images=SOURCE, rng=seed)
        x = next(x for x in range(117) if np.array_equal(image[:, x : x + 84], same))
        assert (np.delete(image, np.s_[x : x + 84], axis=1) == 1).all() and ink[0] >= x
        starts.add(x)
    assert len(starts) > 10, starts  # the placement is drawn, over the whole slack


def test_pad_scales_a_wide_strip_down_whole():
    image, boxes = generate_numbers_sequence("12345678", (4, 4), 112, images=SOURCE, rng=1, fit="pad",
                                             return_boxes=True)
    # natural 252 px into 112: scaled by 112 / 252 both ways, 12 px high, centred down
    assert image.shape == (28, 112)
    rows = np.flatnonzero((image < 1).any(axis=1))
    assert rows[0] >= 8 and rows[-1] < 20
    assert (boxes[:, 3] - boxes[:, 1] <= 13).all() and (boxes[:, 2] - boxes[:, 0] <= 14).all()


def test_pad_dataset_of_varying_lengths_is_not_stretched():
    images, labels, boxes = generate_dataset(40, (1, 6), (0, 0), 200, seed=2, images=SOURCE, fit="pad",
                                             align="left", return_boxes=True)
    for image, label, box in zip(images, labels, boxes, strict=True):
        natural = len(label) * 28
        assert (image[:, natural:] == 1).all()  # nothing stretched into the rest
        assert box[-1, 2] <= natural
        assert_boxes_hold_the_ink(image, box, label)


def test_pad_boxes_of_lengths_200_to_10000_need_no_table_of_every_width():
    # Issue 19, item 7: boxes of padded strips looked their ink up in a table of every natural width
    # between the batch's shortest and longest strip, padded to the longest: for (200, 2000) digits
    # 105 s and 22.5 GB; for these three, 615 GB ("Unable to allocate").
    labels = ["3" * 200, "1" * 2000, "7" * 10000]
    images, got, boxes = generate_dataset(None, seed=3, images=SOURCE, image_width=70000, fit="pad", labels=labels,
                                          return_boxes=True)  # 7 px a digit: the legibility floor
    assert images.shape == (3, 28, 70000) and got == labels
    for image, label, box in zip(images, labels, boxes, strict=True):
        assert_boxes_hold_the_ink(image, box, label)
        assert (np.diff(box[:, 0]) >= 0).all()  # digits stay in order, left to right


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"fit": "squeeze"}, "fit must be one of stretch, pad, got 'squeeze'"),
    ({"fit": "pad", "align": "middle"}, "align must be one of left, center, random, got 'middle'"),
    ({"return_boxes": "yes"}, "return_boxes must be True or False, got 'yes'"),
    ({"align": "left"}, "align='left' places a padded strip: it needs fit='pad', got fit='stretch'"),
])
def test_bad_fit_align_and_boxes_are_named(kwargs, words):
    with pytest.raises(ValueError, match=words):
        generate_numbers_sequence("12", (0, 0), 100, images=SOURCE, **kwargs)
    with pytest.raises(ValueError, match=words):
        generate_dataset(3, 2, (0, 0), 100, seed=1, images=SOURCE, **kwargs)
    with pytest.raises(ValueError, match=words):
        SequenceDataset(3, 2, (0, 0), 100, seed=1, images=SOURCE, **kwargs)


def test_unknown_option_is_named_with_the_door():
    with pytest.raises(TypeError, match=r"generate_dataset\(\) got an unexpected keyword argument 'return_box'"):
        generate_dataset(3, 2, (0, 0), 100, seed=1, images=SOURCE, return_box=True)
    with pytest.raises(TypeError, match=r"SequenceDataset\(\) got an unexpected keyword argument 'fitt'"):
        SequenceDataset(3, 2, (0, 0), 100, seed=1, images=SOURCE, fitt="pad")


def test_a_digit_widened_past_32767_px_by_a_filter_gets_its_true_box():
    def widen(img):  # a filter may return any width: ink at columns 39990..39994 of 40,000
        out = np.zeros((28, 40_000), np.float32)
        out[3:20, 39_990:39_995] = 1.0
        return out

    image, boxes = generate_numbers_sequence("12", (0, 0), None, images=SOURCE, fltrs=[widen], rng=0,
                                             return_boxes=True)
    assert image.shape == (28, 80_000)
    assert boxes.tolist() == [[39_990, 3, 39_995, 20], [79_990, 3, 79_995, 20]]
    assert_boxes_hold_the_ink(image, boxes, "12")
