"""layout="scene" (issue 23): glyphs of several sizes on a canvas, the overlap rule, clutter, presets, doors, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import drawn_source, fixture_source, one_line, run_generator
from mnist_dataset_generator import (
    Recipe,
    SequenceDataset,
    generate_dataset,
    iter_dataset,
)
from mnist_dataset_generator.compose.boxes import visible
from mnist_dataset_generator.compose.scene import fits, glyph_sides, resize_matrix
from mnist_dataset_generator.mnistdata import MnistData
from mnist_dataset_generator.sources.testdata import draw_digits

CLASSES = np.arange(300) % 10
SOURCE = drawn_source()
# glyphs whose ink reaches their square's top-left pixel: the box's corner is the square's
CORNERED = draw_digits(CLASSES, np.random.default_rng(5))
CORNERED[:, 0, 0] = 255
CORNER_SOURCE = MnistData.from_arrays(CORNERED, CLASSES)
SCENE = Recipe(layout="scene", length=(1, 4), image_height=90, image_width=110, scale=(0.6, 1.6), max_iou=0.2,
               dtype="uint8", background="black")


def _iou(a, b) -> float:
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_a_scene_recipe_is_checked_and_normalised():
    r = Recipe(layout="scene")
    assert (r.shape, r.length, r.scale, r.max_iou, r.clutter, r.combine) == ((64, 64), (2, 2), (1.0, 1.0), 1.0,
                                                                            (0, 0), "max")
    assert Recipe.from_json(json.dumps(SCENE.to_json())) == SCENE
    for kwargs, message in [
        ({"scale": 20}, "scale must be in [0.25, 16] (a multiple of the 28 px glyph)"),
        ({"scale": (2, 1)}, "scale must be in [0.25, 16]"),
        ({"max_iou": 1.5}, "max_iou must be a number in [0, 1] (0: no overlap), got 1.5"),
        ({"clutter": (4, 40)}, "clutter must be (count, size) with count in 0..256 and size in 1..28 px"),
        ({"combine": "mean"}, "combine must be one of max, sum, got 'mean'"),
        ({"scale": 3, "image_height": 60}, "a glyph of scale 3 is 84 px a side, larger than the 60 x 64 canvas"),
        ({"length": 5, "max_iou": 0}, ("5 glyphs of up to 28 px may not fit a 64 x 64 canvas with no overlap: "
                                       "4 surely fit")),
        ({"spacing_range": (0, 4)}, "spacing_range applies to strips, not layout='scene'"),
        ({"frames": 3}, "frames applies with layout='video' only"),
        ({"clutter": (2, 20), "image_height": 10, "image_width": 40, "scale": 0.25},
         "clutter pieces of 20 px do not fit the 10 x 40 canvas"),
        ({"length": 300, "scale": 0.25, "image_width": 4000, "image_height": 4000},
         "a scene holds at most 256 glyphs, got length (300, 300)"),
    ]:
        with pytest.raises(ValueError) as error:
            Recipe(**{"layout": "scene", **kwargs})
        assert message in str(error.value), (kwargs, str(error.value))
    with pytest.raises(ValueError, match="scale applies with layout='scene' only"):
        Recipe(scale=2)
    with pytest.raises(ValueError, match="length must satisfy 1 <= min"):
        Recipe(length=(0, 3), image_width=100)  # an empty sample is a scene's only


def test_resizing_keeps_the_ink_and_sides_follow_the_scale():
    assert glyph_sides(np.array([0.25, 1.0, 16.0])).tolist() == [7, 28, 448]
    for size in (7, 15, 28, 41, 100):
        matrix = resize_matrix(size)
        np.testing.assert_allclose(matrix.sum(axis=1), 1, rtol=1e-6)
        # a uniform glyph stays uniform; total ink scales with the area
        glyph = np.full((28, 28), 100.0, np.float32)
        np.testing.assert_allclose(matrix @ glyph @ matrix.T, 100, rtol=1e-5)
    assert fits(28, 60, 60, 0.0) == 4 and fits(28, 64, 64, 1.0) == -1


@pytest.mark.parametrize("recipe", [
    SCENE,
    SCENE.replace(max_iou=0.0, length=(2, 4), scale=(0.5, 1.0)),
    Recipe(layout="scene", length=4, image_height=60, image_width=60, max_iou=0.0, dtype="uint8"),  # packed full
    SCENE.replace(clutter=(6, 8), combine="sum", background="white", dtype="float32"),
])
def test_scenes_keep_the_overlap_rule_and_each_glyph_is_in_its_box_and_mask(recipe):
    images, labels, boxes, masks = generate_dataset(120, seed=2, images=CORNER_SOURCE, recipe=recipe,
                                                    return_boxes=True, return_masks=True)
    assert images.shape == (120, *recipe.shape) and masks.shape == images.shape
    low, high = recipe.length
    ink = visible(images, recipe.background)
    for image_ink, label, box, mask in zip(ink, labels, boxes, masks, strict=True):
        assert low <= len(label) <= high and len(box) == len(label)
        sides = box[:, 2:] - box[:, :2]
        assert ((sides >= 1) & (sides <= glyph_sides(np.array(recipe.scale[1])))).all()
        # the squares' reading order: a cornered glyph's box starts at its square's top-left corner
        corners = [(int(y0), int(x0)) for x0, y0, _, _ in box]
        assert corners == sorted(corners)
        for i, a in enumerate(box):
            if recipe.max_iou == 0:  # boxes inside disjoint squares (other rules: see the test below)
                assert all(_iou(a, b) == 0 for b in box[i + 1:])
            rows, cols = np.nonzero(mask == i + 1)
            assert len(rows) and a[1] <= rows.min() and rows.max() < a[3] and a[0] <= cols.min() and cols.max() < a[2]
        assert not mask[~image_ink].any()
        if recipe.clutter == (0, 0):  # every ink pixel is some glyph's, inside its box
            inside = np.zeros_like(image_ink)
            for x0, y0, x1, y1 in box:
                inside[y0:y1, x0:x1] = True
            assert not (image_ink & ~inside).any()


def test_a_doubled_glyph_is_rounded_half_up_exactly():
    # doubling weighs neighbours by quarters: many values are exact halves, which float products may land
    # on either side of; the same bytes on any machine need them rounded one way, exactly
    from mnist_dataset_generator.compose.scene import render_scenes

    glyphs = np.asarray(SOURCE.images[:6]).reshape(6, 1, 28, 28)
    quarters = np.rint(resize_matrix(56) * 4).astype(np.int64)  # 3/4, 1/4 (and 1 at the edges), times 4
    assert np.allclose(quarters / 4, resize_matrix(56))
    frames = np.empty((6, 56, 56), np.uint8)
    render_scenes(glyphs, np.full((6, 1), 56), np.zeros((6, 1, 2), np.int64), np.ones((6, 1), bool), 56, 56,
                  out=frames)
    sixteenths = quarters @ glyphs[:, 0].astype(np.int64) @ quarters.T
    expected = (sixteenths + 8) // 16
    assert ((sixteenths % 16) == 8).any()  # halves are there to round
    np.testing.assert_array_equal(frames, expected)


def test_no_overlap_means_disjoint_squares():
    # scale 1 and cornered glyphs whose ink fills a 28 px square's corner to corner: the boxes are the squares
    full = CORNERED.copy()
    full[:, 27, 27] = 255
    source = MnistData.from_arrays(full, CLASSES)
    recipe = Recipe(layout="scene", length=(2, 4), image_height=70, image_width=80, max_iou=0.0, dtype="uint8")
    _, _, boxes = generate_dataset(300, seed=4, images=source, recipe=recipe, return_boxes=True)
    for box in boxes:
        assert ((box[:, 2:] - box[:, :2]) == 28).all()
        assert all(_iou(a, b) == 0 for i, a in enumerate(box) for b in box[i + 1:])
    iou_recipe = recipe.replace(max_iou=0.3, length=5)
    _, _, boxes = generate_dataset(300, seed=4, images=source, recipe=iou_recipe, return_boxes=True)
    worst = max(_iou(a, b) for box in boxes for i, a in enumerate(box) for b in box[i + 1:])
    assert 0.05 < worst <= 0.3  # overlaps happen, up to the rule


def test_a_glyph_of_scale_one_is_the_labelled_glyph_unresampled():
    recipe = Recipe(layout="scene", length=3, image_height=80, image_width=80, max_iou=0.0, dtype="uint8",
                    background="black")
    images, labels, boxes = generate_dataset(40, seed=6, images=SOURCE, recipe=recipe, return_boxes=True)
    for image, label, box in zip(images, labels, boxes, strict=True):
        for char, (x0, y0, x1, y1) in zip(label, box.tolist(), strict=True):
            positions = np.flatnonzero(SOURCE.labels == int(char))
            crops = [SOURCE.images[p][r0:r1, c0:c1] for p, (c0, c1, r0, r1) in
                     zip(positions, SOURCE.ink_of(positions).tolist(), strict=True)]
            assert any(c.shape == (y1 - y0, x1 - x0) and np.array_equal(image[y0:y1, x0:x1], c) for c in crops)


def test_every_door_serves_the_same_scenes_for_any_worker_count():
    args = {"count": 300, "seed": 8, "images": SOURCE, "recipe": SCENE.replace(clutter=(3, 6))}
    images, labels, boxes, masks = generate_dataset(**args, return_boxes=True, return_masks=True)
    two = generate_dataset(**args, return_boxes=True, return_masks=True, workers=2)
    np.testing.assert_array_equal(two[0], images)
    assert two[1] == labels and all(np.array_equal(a, b) for a, b in zip(two[2], boxes, strict=True))
    np.testing.assert_array_equal(two[3], masks)
    for k, (image, label) in enumerate(iter_dataset(**args, workers=2)):
        assert label == labels[k] and np.array_equal(image, images[k])
    ds = SequenceDataset(**args, return_boxes=True)
    for k, item in zip([299, 3, 128], ds.__getitems__([299, 3, 128]), strict=True):
        assert np.array_equal(item[0], images[k]) and item[1] == labels[k] and np.array_equal(item[2], boxes[k])
    ds.set_epoch(1)
    assert ds[5][1] == labels[5] and not np.array_equal(ds[5][0], images[5])  # new places, the same label


def test_clutter_beside_a_pattern_with_drawn_separators():
    recipe = Recipe(layout="scene", pattern="d-d", clutter=(3, 8), max_iou=0.2, image_height=80, image_width=80)
    _, labels, boxes, masks = generate_dataset(30, seed=1, images=SOURCE, recipe=recipe, return_boxes=True,
                                                    return_masks=True)
    assert all(len(label) == 3 and label[1] == "-" for label in labels)
    assert all(len(box) == 3 for box in boxes) and masks.max() <= 3


def test_distinct_labels_never_repeat_a_character_and_stay_uniform():
    _, labels = generate_dataset(3000, 10, (0, 0), None, seed=3, images=SOURCE, distinct=True)
    assert all(sorted(label) == list("0123456789") for label in labels)
    _, firsts = generate_dataset(5000, 2, (0, 0), None, seed=3, images=SOURCE, distinct=True)
    counts = np.bincount([int(label[0]) for label in firsts], minlength=10)
    assert counts.min() > 0.8 * counts.mean()  # each class as likely first
    for kwargs, message in [({"length": 11, "image_width": 400}, "labels of up to 11 characters cannot avoid repeats"),
                            ({"labels": ["12"], "image_width": 60}, "give it without labels, a pattern or unique")]:
        with pytest.raises(ValueError, match=message):
            Recipe(distinct=True, **kwargs)


def test_given_labels_replace_a_presets_distinct_draws(tmp_path, fixture_dir):
    assert Recipe.preset("multi-mnist", pattern="dd").distinct is False
    assert Recipe.preset("multi-mnist", labels=["11", "22"]).labels == ("11", "22")
    assert Recipe.preset("multi-mnist", unique=True).distinct is False
    result = run_generator("--preset", "multi-mnist", "--pattern", "dd", "--count", "3", "--output-dir",
                           tmp_path / "out", "-q", "-d", fixture_dir, cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_sum_combines_overlapping_ink_clipped():
    flat = np.full((2, 28, 28), 200, np.uint8)
    source = MnistData.from_arrays(flat, [0, 1])
    recipe = Recipe(layout="scene", labels=["01"] * 3, image_height=28, image_width=28, combine="sum",
                    dtype="uint8", background="black")
    images, _ = generate_dataset(3, seed=0, images=source, recipe=recipe)
    assert (images == 255).all()
    images, _ = generate_dataset(3, seed=0, images=source, recipe=recipe.replace(combine="max"))
    assert (images == 200).all()


@pytest.mark.parametrize("name, shape, lengths, side", [
    ("cluttered-mnist", (60, 60), {1}, 28), ("cluttered-mnist-100", (100, 100), {1}, 28),
    ("multi-mnist", (36, 36), {2}, 28), ("double-mnist", (64, 64), {2}, 28), ("air", (50, 50), {0, 1, 2}, 25),
])
def test_the_scene_presets_have_their_stated_parameters(name, shape, lengths, side):
    recipe = Recipe.preset(name, dtype="uint8")
    images, labels, boxes = generate_dataset(400, seed=1, images=CORNER_SOURCE, recipe=recipe, return_boxes=True)
    corners = np.concatenate([b[:, :2] for b in boxes if len(b)])  # cornered glyphs: their squares' corners
    least = int(glyph_sides(np.array(recipe.scale[0])))
    assert corners.min() == 0 and corners.max() <= max(shape) - least  # anywhere on the canvas, and only there
    if least == side:
        assert corners.max() == max(shape) - side
    assert images.shape == (400, *shape) and recipe.background == "black"
    assert {len(label) for label in labels} == lengths
    cluttered = 0
    for image, box in zip(images, boxes, strict=True):
        if len(box):
            assert (box[:, 2:] - box[:, :2]).max() <= side
        if name.startswith("cluttered"):  # ink outside the digit's box: the clutter
            outside = image.copy()
            outside[box[0, 1]:box[0, 3], box[0, 0]:box[0, 2]] = 0
            cluttered += bool(outside.any())
        if name == "double-mnist":
            assert _iou(box[0], box[1]) == 0
    if name.startswith("cluttered"):  # a piece cut from a glyph's empty corner, or hidden under it, shows nothing
        assert cluttered > 0.8 * len(images)
    if name == "air":  # shrunk around 28 / 1.3: sides of 18..25 px (glyphs of solid ink show them), each as often
        solid = MnistData.from_arrays(np.full((10, 28, 28), 255, np.uint8), np.arange(10))
        _, _, solid_boxes = generate_dataset(400, seed=1, images=solid, recipe=recipe, return_boxes=True)
        sizes = np.concatenate([(b[:, 2:] - b[:, :2]).ravel() for b in solid_boxes if len(b)])
        counts = np.bincount(sizes, minlength=26)[18:]
        assert sizes.min() == 18 and sizes.max() == 25 and counts.min() > 0.5 * counts.mean()
        assert abs(sizes.mean() - 28 / 1.3) < 0.5 and recipe.combine == "sum"
        assert abs(np.mean([len(label) for label in labels]) - 1) < 0.15  # 0, 1 or 2 digits, uniform
    if name == "multi-mnist":  # shifted up to 4 px each way from the centre: corners 0..8, each about as often
        counts = np.bincount(corners.ravel(), minlength=9)
        assert len(counts) == 9 and counts.min() > 0.6 * counts.mean()
        assert all(a != b for a, b in labels) and len(set(labels)) >= 85  # two different classes; of 90 pairs, 400
        # draws miss about one


def test_the_cli_makes_a_preset_and_refuses_what_a_scene_cannot_be(tmp_path, fixture_dir):
    out = tmp_path / "out"
    result = run_generator("--preset", "cluttered-mnist", "--count", "20", "--seed", "3", "--format", "npz",
                           "--masks", "--output-dir", out, "-q", "-d", fixture_dir, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    source = fixture_source(fixture_dir)
    images, labels, masks = generate_dataset(20, seed=3, images=source, return_masks=True,
                                             recipe=Recipe.preset("cluttered-mnist", dtype="uint8"))
    with np.load(out / "dataset.npz") as npz:
        np.testing.assert_array_equal(npz["images"], images)
        np.testing.assert_array_equal(npz["masks"], masks)
        assert npz["labels"].tolist() == labels
    assert run_generator("--verify", out, "--deep", "-d", fixture_dir, cwd=tmp_path).returncode == 0
    # another layout than the preset's: its scene options do not follow (a video of its 60 x 60 canvas)
    result = run_generator("--preset", "cluttered-mnist", "--layout", "video", "--frames", "3", "--count", "4",
                           "--format", "npz", "--output-dir", tmp_path / "video", "-q", "-d", fixture_dir, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with np.load(tmp_path / "video" / "dataset.npz") as npz:
        assert npz["images"].shape == (4, 3, 60, 60)
    for args, message in [
        (["--layout", "scene", "--length", "12", "--max-iou", "none"],
         "12 glyphs of up to 28 px may not fit a 64 x 64 canvas with no overlap: 4 surely fit"),
        (["--scale", "2"], "--scale applies with --layout scene only"),
        (["--layout", "scene", "--scale", "0.1"], "scale must be in [0.25, 16]"),
        (["--layout", "scene", "--max-iou", "2"], "argument --max-iou: expected a number in [0, 1] or 'none'"),
        (["--layout", "scene", "-s", "0,4"], "-s/--spacing applies to strips, not --layout scene"),
        (["--preset", "cluttered"], "argument --preset: invalid choice: 'cluttered'"),
        (["--preset", "cluttered-mnist", "--combine", "mean"], "argument --combine: invalid choice: 'mean'"),
    ]:
        result = run_generator("--count", "5", "--output-dir", tmp_path / "no", "-d", fixture_dir, *args,
                               cwd=tmp_path)
        assert result.returncode == 2 and message in one_line(result), (args, result.stderr)
        assert not (tmp_path / "no").exists()


def test_filters_apply_to_each_glyph_before_it_is_resized_and_placed():
    from test_video_layout import ONE_EACH, _filtered_crops

    recipe = Recipe(layout="scene", length=1, image_height=60, image_width=70, dtype="uint8", background="black",
                    fltrs="resize:width=14")
    images, labels, boxes = generate_dataset(20, seed=4, images=ONE_EACH, recipe=recipe, return_boxes=True)
    for image, box, crop in zip(images, boxes, _filtered_crops(labels, ONE_EACH, "resize:width=14"), strict=True):
        x0, y0, x1, y1 = box[0].tolist()
        np.testing.assert_array_equal(image[y0:y1, x0:x1], crop)  # scale 1: the filtered glyph as it is
        assert not image.sum() - image[y0:y1, x0:x1].sum()
    many = SCENE.replace(fltrs="rotate,slant,blur:sigma=0.6", clutter=(2, 6))
    made = generate_dataset(60, seed=5, images=SOURCE, recipe=many, return_boxes=True, return_masks=True)
    two = generate_dataset(60, seed=5, images=SOURCE, recipe=many, return_boxes=True, return_masks=True, workers=2)
    np.testing.assert_array_equal(made[0], two[0])
    np.testing.assert_array_equal(made[3], two[3])
    assert made[1] == two[1] == generate_dataset(60, seed=5, images=SOURCE, recipe=SCENE)[1]
    for mask, box in zip(made[3], made[2], strict=True):
        for i, (x0, y0, x1, y1) in enumerate(box.tolist()):
            rows, cols = np.nonzero(mask == i + 1)
            if len(rows):
                assert x0 <= cols.min() and cols.max() < x1 and y0 <= rows.min() and rows.max() < y1


def test_noise_paper_lies_under_the_ink_and_takes_no_mask():
    noisy = SCENE.replace(background="noise", clutter=(3, 6))
    images, labels, boxes, masks = generate_dataset(80, seed=6, images=SOURCE, recipe=noisy, return_boxes=True,
                                                    return_masks=True)
    plain = generate_dataset(80, seed=6, images=SOURCE, recipe=noisy.replace(background="black"), return_boxes=True,
                             return_masks=True)
    assert labels == plain[1] and all(np.array_equal(a, b) for a, b in zip(boxes, plain[2], strict=True))
    changed = images != plain[0]  # the paper shows where it is brighter than the ink there: max(paper, ink)
    assert (images[changed] < 64).all() and (plain[0][changed] < images[changed]).all()
    paper = images[plain[0] == 0]
    assert np.bincount(paper, minlength=64).min() > 0 and paper.max() == 63 and abs(paper.mean() - 31.5) < 0.5
    assert not masks[changed].any()  # a glyph's pixel under brighter paper is not its own
    assert not (masks > 0)[plain[3] == 0].any() and (masks == plain[3])[plain[0] >= 64].all()
    again = generate_dataset(80, seed=6, images=SOURCE, recipe=noisy, return_masks=True, workers=2)
    np.testing.assert_array_equal(again[0], images)
    np.testing.assert_array_equal(again[2], masks)
    floats = generate_dataset(80, seed=6, images=SOURCE, recipe=noisy.replace(dtype="float32"))[0]
    np.testing.assert_array_equal(floats, images / np.float32(255))
    for recipe, message in [({"background": "noise"}, "background='noise' applies with layout='scene' only"),
                            ({"background": "noise", "layout": "video"}, "applies with layout='scene' only")]:
        with pytest.raises(ValueError, match=message):
            Recipe(**recipe)
