"""layout="video" through every door (issue 23): recipe, datasets, workers, epochs, writers, verify, CLI, preset."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from conftest import drawn_source, fixture_source, one_line, run_generator
from mnist_dataset_generator import (
    Recipe,
    SequenceDataset,
    generate_dataset,
    generate_videos,
    iter_dataset,
)
from mnist_dataset_generator.compose.video import picture

SOURCE = drawn_source()
VIDEO = Recipe(layout="video", length=(1, 3), frames=6, image_height=48, image_width=56, speed=(0.05, 0.3),
               dtype="uint8", background="black")


def _glyph_at(frame: np.ndarray, box, label_char: str) -> bool:
    """Whether some glyph of class ``label_char`` sits in ``frame`` with its ink exactly at ``box``."""
    positions = np.flatnonzero(SOURCE.labels == int(label_char))
    x0, y0 = box[:2]
    for glyph, (col_lo, _, row_lo, _) in zip(SOURCE.images[positions], SOURCE.ink_of(positions).tolist(),
                                             strict=True):
        y, x = y0 - row_lo, x0 - col_lo
        if 0 <= y <= frame.shape[0] - 28 and 0 <= x <= frame.shape[1] - 28 and \
                (frame[y:y + 28, x:x + 28] >= glyph).all():
            return True
    return False


def test_a_video_recipe_is_checked_and_normalised():
    r = Recipe(layout="video")
    assert (r.shape, r.length, r.speed, r.image_width, r.image_height) == ((20, 64, 64), (2, 2), (0.1, 0.1), 64, 64)
    assert Recipe.from_json(json.dumps(VIDEO.to_json())) == VIDEO
    for kwargs, message in [
        ({"frames": 0}, "frames must be an integer in 1..10000, got 0"),
        ({"speed": 1.5}, "speed must be in [0, 1]"),
        ({"image_width": 20}, "image_width of a video must be an integer in 28..4096 (the canvas holds a 28 x 28"),
        ({"spacing_range": (0, 4), "image_width": 100}, "spacing_range applies to strips, not layout='video'"),
        ({"layout": "scroll"}, "layout must be one of strip, lines, video, scene, got 'scroll'"),
    ]:
        with pytest.raises(ValueError) as error:
            Recipe(**{"layout": "video", **kwargs})
        assert message in str(error.value), (kwargs, str(error.value))
    with pytest.raises(ValueError, match="frames applies with layout='video' only, got frames=5"):
        Recipe(frames=5)


def test_every_door_serves_the_same_videos_for_any_worker_count():
    images, labels, boxes = generate_dataset(300, recipe=VIDEO, seed=7, images=SOURCE, return_boxes=True)
    assert images.shape == (300, 6, 48, 56) and images.dtype == np.uint8
    two, two_labels = generate_dataset(300, recipe=VIDEO, seed=7, images=SOURCE, workers=2)
    np.testing.assert_array_equal(two, images)
    assert two_labels == labels
    ds = SequenceDataset(300, recipe=VIDEO, seed=7, images=SOURCE, return_boxes=True)
    for i in (0, 17, 299):
        image, label, box = ds[i]
        np.testing.assert_array_equal(image, images[i])
        assert label == labels[i] and np.array_equal(box, boxes[i])
    batch = ds.__getitems__([299, 3, 3])
    np.testing.assert_array_equal(batch[0][0], images[299])
    np.testing.assert_array_equal(batch[2][0], images[3])
    streamed = list(iter_dataset(300, recipe=VIDEO, seed=7, images=SOURCE, workers=2, return_boxes=True))
    assert all(np.array_equal(v, images[i]) and b.shape == boxes[i].shape for i, (v, _, b) in enumerate(streamed))
    assert {len(label) for label in labels} == {1, 2, 3}


def test_each_glyph_of_the_label_is_in_its_box_in_every_frame_and_nothing_else_is_drawn():
    images, labels, boxes = generate_dataset(40, recipe=VIDEO, seed=3, images=SOURCE, return_boxes=True)
    for video, label, box in zip(images, labels, boxes, strict=True):
        assert box.shape == (6, len(label), 4)
        for t in range(6):
            inside = np.zeros(video.shape[1:], bool)
            for j, char in enumerate(label):
                x0, y0, x1, y1 = box[t, j]
                inside[y0:y1, x0:x1] = True
                assert video[t, y0:y1, x0:x1].any()
                assert _glyph_at(video[t], box[t, j], char), (label, t, j)
            assert not video[t][~inside].any()  # black paper outside every box: absent slots drew nothing


def test_float32_white_and_uint8_black_videos_are_the_same_pixels():
    black, _ = generate_dataset(20, recipe=VIDEO, seed=2, images=SOURCE)
    white, _ = generate_dataset(20, recipe=VIDEO.replace(dtype="float32", background="white"), seed=2, images=SOURCE)
    assert white.dtype == np.float32
    np.testing.assert_array_equal(np.rint(white * 255).astype(np.uint8), 255 - black)


def test_an_epoch_keeps_the_labels_and_moves_new_glyphs():
    ds = SequenceDataset(50, recipe=VIDEO, seed=4, images=SOURCE)
    first = [ds[i] for i in range(50)]
    ds.set_epoch(1)
    again = [ds[i] for i in range(50)]
    assert [label for _, label in first] == [label for _, label in again]
    assert sum(not np.array_equal(a[0], b[0]) for a, b in zip(first, again, strict=True)) >= 45


def test_given_labels_and_patterns_are_what_the_videos_show():
    recipe = Recipe(layout="video", labels=["7", "12", "345"], frames=3, dtype="uint8", background="black")
    images, labels, boxes = generate_dataset(None, recipe=recipe, seed=1, images=SOURCE, return_boxes=True)
    assert labels == ["7", "12", "345"]
    for video, label, box in zip(images, labels, boxes, strict=True):
        for t in range(3):
            assert all(_glyph_at(video[t], box[t, j], c) for j, c in enumerate(label))
    _, drawn = generate_dataset(30, recipe=Recipe(layout="video", pattern="d5d", frames=2), seed=1, images=SOURCE)
    assert all(len(s) == 3 and s[1] == "5" for s in drawn)


def test_generate_videos_is_the_video_recipe():
    videos, labels, boxes = generate_videos(30, frames=5, digits=3, size=(40, 50), step=(0.1, 0.2), seed=8,
                                            images=SOURCE, return_boxes=True)
    recipe = Recipe(layout="video", length=3, frames=5, image_height=40, image_width=50, speed=(0.1, 0.2),
                    dtype="uint8", background="black")
    same, same_labels, same_boxes = generate_dataset(30, recipe=recipe, seed=8, images=SOURCE, return_boxes=True)
    np.testing.assert_array_equal(videos, same)
    assert labels == same_labels and np.array_equal(boxes, np.stack(same_boxes))
    np.testing.assert_array_equal(generate_videos(30, frames=5, digits=3, size=(40, 50), step=(0.1, 0.2), seed=8,
                                                  images=SOURCE, workers=2)[0], videos)


def test_the_moving_mnist_preset_has_its_stated_parameters():
    recipe = Recipe.preset("moving-mnist")
    assert (recipe.layout, recipe.shape, recipe.length, recipe.split, recipe.background) == \
        ("video", (20, 64, 64), (2, 2), "train", "black")
    _, _, boxes = generate_dataset(300, recipe=recipe.replace(dtype="uint8"), seed=1, images=SOURCE,
                                   return_boxes=True)
    corners = np.stack(boxes)[..., :2].astype(float)
    moves = np.linalg.norm(np.diff(corners, axis=1), axis=-1)
    assert 3.0 < np.median(moves) < 4.2  # 0.1 of the 36 px range a frame, floored to whole pixels
    found = np.stack(boxes)
    # the whole canvas is reached: glyph windows at 0 and at 36 put the ink near both walls, each way
    assert found[..., 0].min() < 10 and found[..., 1].min() < 10 and found[..., 2].max() > 54 \
        and found[..., 3].max() > 54
    assert Recipe.preset("moving-mnist", frames=4, length=3).shape == (4, 64, 64)
    with pytest.raises(ValueError, match="unknown preset 'moving'; the presets are moving-mnist"):
        Recipe.preset("moving")


# ------------------------------------------------------------------ writers and verify


def _export(tmp_path, fmt, *extra, data_dir, count=12):
    out = tmp_path / fmt
    result = run_generator("--preset", "moving-mnist", "--frames", "4", "--length", "1-3", "--count", count,
                           "--seed", "3", "--format", fmt, "--output-dir", out, "-d", data_dir, "-q", *extra,
                           cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return out


def _expected(fixture_dir, count=12):
    from mnist_dataset_generator import mnistdata

    source = mnistdata.load("train", data_home=fixture_dir, download=False)
    recipe = Recipe.preset("moving-mnist", frames=4, length=(1, 3), dtype="uint8")
    return generate_dataset(count, recipe=recipe, seed=3, images=source, return_boxes=True)


def test_npz_holds_the_videos_and_their_boxes_per_frame(tmp_path, fixture_dir):
    out = _export(tmp_path, "npz", data_dir=fixture_dir)
    images, labels, boxes = _expected(fixture_dir)
    with np.load(out / "dataset.npz") as npz:
        np.testing.assert_array_equal(npz["images"], images)
        assert npz["labels"].tolist() == labels
        assert npz["boxes"].shape == (12, 4, 3, 4)
        for i, b in enumerate(boxes):
            n = npz["lengths"][i]
            np.testing.assert_array_equal(npz["boxes"][i, :, :n], b)
            assert (npz["boxes"][i, :, n:] == -1).all()


@pytest.mark.parametrize("fmt", ["png", "tar"])
def test_png_formats_store_the_frames_side_by_side(tmp_path, fixture_dir, fmt):
    out = _export(tmp_path, fmt, data_dir=fixture_dir)
    images, labels, boxes = _expected(fixture_dir)
    if fmt == "png":
        rows = [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]
        for i, row in enumerate(rows):
            pixels = np.asarray(Image.open(out / row["file_name"]))
            assert pixels.shape == (64, 4 * 64)
            np.testing.assert_array_equal(pixels, picture(images[i]))
            np.testing.assert_array_equal(np.split(pixels, 4, axis=1), images[i])  # how a reader gets the frames
            assert row["text"] == labels[i] and np.array_equal(row["boxes"], boxes[i])
    else:
        import tarfile

        with tarfile.open(out / "shard-000000.tar") as tar:
            png = tar.extractfile("00000005.png").read()
            meta = json.loads(tar.extractfile("00000005.json").read())
        import io

        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png))), picture(images[5]))
        assert np.array_equal(meta["boxes"], boxes[5])


@pytest.mark.parametrize("fmt", ["npz", "png"])
def test_deep_verify_checks_every_frame(tmp_path, fixture_dir, fmt):
    out = _export(tmp_path, fmt, data_dir=fixture_dir)
    result = run_generator("--verify", out, "--deep", "-d", fixture_dir, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    # one frame's pixel changed, and the files' record made to agree: only the deep check can tell
    if fmt == "npz":
        with np.load(out / "dataset.npz") as npz:
            arrays = dict(npz)
        arrays["images"][3, 2, 10, 10] ^= 0xFF
        np.savez(out / "dataset.npz", **arrays)
    else:
        pixels = np.asarray(Image.open(out / "images/00000003.png")).copy()
        pixels[10, 64 * 2 + 10] ^= 0xFF
        Image.fromarray(pixels).save(out / "images/00000003.png")
    from conftest import rewrite_record

    rewrite_record(out)
    result = run_generator("--verify", out, "--deep", "-d", fixture_dir, cwd=tmp_path)
    assert result.returncode == 1 and "its pixels are not the image its seed makes" in result.stdout, result.stdout


def test_the_cli_refuses_what_a_video_cannot_be(tmp_path, fixture_dir):
    cases = [
        (["--preset", "moving"], "invalid choice: 'moving'"),
        (["--frames", "5"], "--frames applies with --layout video only"),
        (["--layout", "video", "-s", "0,4", "-w", "100"], "-s/--spacing applies to strips, not --layout video"),
        (["--layout", "video", "--speed", "1.5"], "expected S or MIN,MAX with 0 <= MIN <= MAX <= 1, got '1.5'"),
        (["--layout", "video", "-w", "20"], "-w of a video must be an integer in 28..4096"),
        (["--preset", "moving-mnist", "--format", "npz", "--annotations", "coco"],
         "coco annotations of videos describe the picture png, tar and lmdb store"),
    ]
    for args, message in cases:
        out = tmp_path / "out"
        result = run_generator(*args, "--count", "3", "--output-dir", out, "-d", fixture_dir, cwd=tmp_path)
        assert result.returncode == 2 and message in one_line(result), (args, result.stderr)
        assert not out.exists()


def test_the_preset_on_the_command_line_is_the_library_preset_and_options_override_it(tmp_path, fixture_dir):
    out = tmp_path / "out"
    result = run_generator("--preset", "moving-mnist", "--frames", "3", "--background", "white", "--count", "5",
                           "--seed", "2", "--format", "npz", "--output-dir", out, "-d", fixture_dir, "-q",
                           cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    from mnist_dataset_generator import mnistdata

    source = mnistdata.load("train", data_home=fixture_dir, download=False)
    images, _ = generate_dataset(5, recipe=Recipe.preset("moving-mnist", frames=3, background="white",
                                                         dtype="uint8"), seed=2, images=source)
    with np.load(out / "dataset.npz") as npz:
        np.testing.assert_array_equal(npz["images"], images)
    recipe = json.loads((out / "manifest.json").read_text())["dataset"]["recipe"]
    assert (recipe["layout"], recipe["frames"], recipe["speed"], recipe["background"]) == \
        ("video", 3, [0.1, 0.1], "white")


def _filtered_crops(labels, source, spec):
    """Each label's glyph through ``spec``, made by the strip renderer (an oracle of its own), as 8-bit ink
    cropped to its extent: what a video or a scene of one glyph must show in the glyph's box."""
    from mnist_dataset_generator import generate_numbers_sequence
    from mnist_dataset_generator.compose.filterspec import from_spec

    crops = []
    for label in labels:
        strip = generate_numbers_sequence(label, (0, 0), None, images=source, fltrs=from_spec(spec),
                                          background="black")
        cell = np.rint(np.clip(strip, 0, 1) * 255).astype(np.uint8)
        rows, cols = np.nonzero(cell)
        crops.append(cell[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1])
    return crops


ONE_EACH = (drawn_source(10).images, np.arange(10))  # one glyph per class: the label names the image


def test_filters_apply_to_each_glyph_once_before_it_moves():
    videos, labels, boxes = generate_videos(20, frames=4, digits=1, seed=2, images=ONE_EACH, fltrs="resize:width=14",
                                            return_boxes=True)
    for video, box, crop in zip(videos, boxes, _filtered_crops(labels, ONE_EACH, "resize:width=14"), strict=True):
        for frame, (x0, y0, x1, y1) in zip(video, box[:, 0].tolist(), strict=True):
            np.testing.assert_array_equal(frame[y0:y1, x0:x1], crop)  # the filtered glyph, whole, in its box
            assert not frame.sum() - frame[y0:y1, x0:x1].sum()  # and nothing else
    # random filters: one draw per glyph (rigid from frame to frame), the sequence's own stream for any workers
    args = {"count": 30, "frames": 5, "seed": 3, "images": SOURCE, "fltrs": "rotate,thickness", "return_boxes": True,
            "return_masks": True}
    videos, labels, boxes, masks = generate_videos(**args, digits=1)
    again = generate_videos(**args, digits=1, workers=2)
    assert all(np.array_equal(a, b) for a, b in zip(again[::2], (videos, boxes), strict=True))
    plain = generate_videos(**{**args, "fltrs": None}, digits=1)
    assert plain[1] == labels and not np.array_equal(plain[0], videos)
    for video, box, mask in zip(videos, boxes, masks, strict=True):
        first = None
        for frame, frame_mask, (x0, y0, x1, y1) in zip(video, mask, box[:, 0].tolist(), strict=True):
            rows, cols = np.nonzero(frame)
            assert (x0, y0, x1, y1) == (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)  # tight
            np.testing.assert_array_equal(frame_mask > 0, frame > 0)
            first = frame[y0:y1, x0:x1] if first is None else first
            np.testing.assert_array_equal(frame[y0:y1, x0:x1], first)


def test_coco_yolo_and_gt_annotate_every_glyph_in_every_frame_of_the_stored_picture(tmp_path, fixture_dir):
    mask_api = pytest.importorskip("pycocotools.mask")
    from pycocotools.coco import COCO

    out = tmp_path / "out"
    result = run_generator("--preset", "moving-mnist", "--frames", "5", "--length", "3", "--count", "12", "--seed", "4",
                           "--masks", "--annotations", "coco,yolo,gt", "--output-dir", out, "-q", "-d", fixture_dir,
                           cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    _, labels, boxes, masks = generate_dataset(12, seed=4, images=fixture_source(fixture_dir),
                                               recipe=Recipe.preset("moving-mnist", frames=5, length=3),
                                               return_boxes=True, return_masks=True)
    coco = COCO(str(out / "coco.json"))
    assert (out / "gt.txt").read_text() == "".join(f"images/{i:08d}.png\t{label}\n" for i, label in enumerate(labels))
    for i, (label, box, mask) in enumerate(zip(labels, boxes, masks, strict=True)):
        assert coco.loadImgs(i)[0]["width"] == 5 * 64 and coco.loadImgs(i)[0]["height"] == 64
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[i]))
        expected = []
        for t in range(5):
            for j, (x0, y0, x1, y1) in enumerate(box[t].tolist()):
                if (mask[t] == j + 1).any():  # a glyph hidden whole under brighter ink is no object
                    expected.append((t, j, int(label[j]) + 1, [x0 + 64 * t, y0, x1 - x0, y1 - y0]))
        assert [(a["frame"], a["track_id"], a["category_id"], a["bbox"]) for a in anns] == expected
        for a in anns:  # its mask: the glyph's ink in its frame's columns of the picture
            ink = np.zeros((64, 5 * 64), bool)
            ink[:, 64 * a["frame"] : 64 * (a["frame"] + 1)] = mask[a["frame"]] == a["track_id"] + 1
            np.testing.assert_array_equal(mask_api.decode(a["segmentation"]).astype(bool), ink)
        rows = [line.split() for line in (out / f"labels/{i:08d}.txt").read_text().splitlines()]
        assert len(rows) == sum(1 for t in range(5) for j in range(3) if box[t, j, 2] > box[t, j, 0])
        cls, cx = int(rows[0][0]), float(rows[0][1])
        x0, _, x1, _ = box[0, 0].tolist()
        assert cls == int(label[0]) and abs(cx - (x0 + x1) / 2 / (5 * 64)) < 1e-6
    assert run_generator("--verify", out, "--deep", "-d", fixture_dir, cwd=tmp_path).returncode == 0
