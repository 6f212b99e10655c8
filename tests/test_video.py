"""Moving digits (issue 23, first step): the bouncing rule, frames by maximum, boxes, seeds."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_dataset_generator import generate_videos
from mnist_dataset_generator.compose.video import render_frames, trajectories
from mnist_dataset_generator.mnistdata import MnistData
from mnist_dataset_generator.sources.testdata import draw_digits

CLASSES = np.arange(300) % 10
SOURCE = MnistData.from_arrays(draw_digits(CLASSES, np.random.default_rng(4)), CLASSES)


def _original(y, x, theta, step, frames):
    """The original generator's loop, written as it is, one digit at a time (emansim/unsupervised-videos)."""
    v_y, v_x = np.sin(theta), np.cos(theta)
    out = []
    for _ in range(frames):
        y += v_y * step
        x += v_x * step
        if x <= 0:
            x, v_x = 0.0, -v_x
        if x >= 1.0:
            x, v_x = 1.0, -v_x
        if y <= 0:
            y, v_y = 0.0, -v_y
        if y >= 1.0:
            y, v_y = 1.0, -v_y
        out.append((y, x))
    return np.array(out)


def test_trajectories_follow_the_original_bouncing_rule_exactly():
    rng = np.random.default_rng(1)
    start, theta, step = rng.random((50, 2)), rng.random(50) * 2 * np.pi, rng.uniform(0.05, 0.4, 50)
    ours = trajectories(start, theta, step, 60)
    bounces = 0
    for j in range(50):
        expected = _original(start[j, 0], start[j, 1], theta[j], step[j], 60)
        np.testing.assert_array_equal(ours[:, j], expected)
        bounces += int(np.isin(expected, (0.0, 1.0)).sum())
    assert bounces > 100  # walls were hit: the rule was exercised, not only straight lines


def test_between_walls_a_digit_moves_its_step_every_frame():
    rng = np.random.default_rng(2)
    theta = rng.random(200) * 2 * np.pi
    p = trajectories(rng.random((200, 2)), theta, np.full(200, 0.1), 20)
    moves = np.linalg.norm(np.diff(p, axis=0), axis=-1)
    free = ~np.isin(p[1:], (0.0, 1.0)).any(axis=-1) & ~np.isin(p[:-1], (0.0, 1.0)).any(axis=-1)
    np.testing.assert_allclose(moves[free], 0.1, rtol=1e-9)


def test_frames_are_the_maximum_of_the_placed_glyphs_and_boxes_hold_their_ink():
    rng = np.random.default_rng(3)
    glyphs = SOURCE.images[rng.integers(0, len(SOURCE), 3)]
    corners = rng.integers(0, 36, (7, 3, 2))
    frames, boxes = render_frames(glyphs, corners, 64, 64)
    for t in range(7):
        layers = np.zeros((3, 64, 64), np.uint8)
        for j in range(3):
            y, x = corners[t, j]
            layers[j, y:y + 28, x:x + 28] = glyphs[j]
            x0, y0, x1, y1 = boxes[t, j]
            inside = np.zeros((64, 64), bool)
            inside[y0:y1, x0:x1] = True
            assert layers[j][~inside].max() == 0 and layers[j][inside].any()  # the ink, all of it, tight
            assert layers[j][y0].any() and layers[j][y1 - 1].any() and layers[j][:, x0].any()
        np.testing.assert_array_equal(frames[t], layers.max(axis=0))


def test_each_sequence_shows_glyphs_of_its_labels_classes_where_its_boxes_say():
    videos, labels, boxes = generate_videos(12, frames=6, digits=1, seed=5, images=SOURCE, return_boxes=True)
    for video, label, box in zip(videos, labels, boxes, strict=True):
        candidates = SOURCE.images[SOURCE.labels == int(label)]
        ink = SOURCE.ink_of(np.flatnonzero(SOURCE.labels == int(label)))
        for t in (0, 5):
            x0, y0 = box[t, 0, :2]
            found = False
            for glyph, (col_lo, _, row_lo, _) in zip(candidates, ink.tolist(), strict=True):
                y, x = y0 - row_lo, x0 - col_lo
                if 0 <= y <= 36 and 0 <= x <= 36 and np.array_equal(video[t, y:y + 28, x:x + 28], glyph):
                    found = True
            assert found, (label, t)


def test_a_sequence_is_a_pure_function_of_seed_and_index():
    videos, labels = generate_videos(10, frames=8, seed=9, images=SOURCE)
    first, first_labels = generate_videos(3, frames=8, seed=9, images=SOURCE)
    np.testing.assert_array_equal(first, videos[:3])
    assert first_labels == labels[:3]
    other, _ = generate_videos(3, frames=8, seed=10, images=SOURCE)
    assert not np.array_equal(other, first)
    white, _ = generate_videos(3, frames=8, seed=9, images=SOURCE, background="white")
    np.testing.assert_array_equal(white, 255 - first)


def test_the_benchmark_parameters_move_about_3_6_px_a_frame_in_every_direction():
    videos, labels, boxes = generate_videos(300, seed=1, images=SOURCE, return_boxes=True)
    assert videos.shape == (300, 20, 64, 64) and all(len(label) == 2 for label in labels)
    corners = boxes[..., :2].astype(float)  # the ink's corner moves with the glyph
    moves = np.linalg.norm(np.diff(corners, axis=1), axis=-1)
    assert 3.0 < np.median(moves) < 4.2  # 0.1 of the 36 px range, floored to whole pixels
    steps = np.diff(corners[:, :2], axis=1)[:, 0]  # the first move of each digit: before any wall, mostly
    angles = np.arctan2(steps[..., 1], steps[..., 0]).ravel()
    assert abs(np.cos(angles).mean()) < 0.1 and abs(np.sin(angles).mean()) < 0.1  # no direction preferred


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"frames": 0}, "frames must be an integer in 1..10000, got 0"),
    ({"frames": 10_001}, "frames must be an integer in 1..10000, got 10001"),
    ({"size": 20}, "size must be 28..4096 px each way"),
    ({"step": 1.5}, "step must be in [0, 1]"),
    ({"step": (0.3, 0.1)}, "step must be in [0, 1]"),
    ({"digits": 0}, "digits must be an integer in 1..1000, got 0"),
    ({"background": "grey"}, "background must be one of"),
])
def test_bad_video_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError) as error:
        generate_videos(2, seed=1, images=SOURCE, **kwargs)
    assert message in str(error.value)


# ------------------------------------------------------------------ found by the review of the first step


def test_the_memory_budget_counts_boxes_and_the_working_set(monkeypatch):
    monkeypatch.setenv("GENERATOR_NUMBERS_SEQ_MEMORY_BUDGET", str(8 * 2**20))
    with pytest.raises(ValueError, match="generate_videos: the videos would take"):
        generate_videos(256, frames=20, digits=1000, size=28, seed=1, images=SOURCE)  # 4 MB of video, 600 MB made
    videos, _ = generate_videos(4, frames=5, seed=1, images=SOURCE)  # small: made
    assert videos.shape == (4, 5, 64, 64)


def test_spawned_seeds_give_their_own_sequences_in_every_door():
    from mnist_dataset_generator import generate_dataset

    a, b = np.random.SeedSequence(5).spawn(2)
    first, _ = generate_videos(3, frames=4, seed=a, images=SOURCE)
    second, _ = generate_videos(3, frames=4, seed=b, images=SOURCE)
    parent, _ = generate_videos(3, frames=4, seed=5, images=SOURCE)
    assert not np.array_equal(first, second) and not np.array_equal(first, parent)
    np.testing.assert_array_equal(first, generate_videos(3, frames=4, seed=a, images=SOURCE)[0])
    strips_a, _ = generate_dataset(5, 3, (0, 0), seed=a, images=SOURCE)
    strips_b, _ = generate_dataset(5, 3, (0, 0), seed=b, images=SOURCE)
    assert not np.array_equal(strips_a, strips_b)
    np.testing.assert_array_equal(generate_dataset(5, 3, (0, 0), seed=np.random.SeedSequence(5), images=SOURCE)[0],
                                  generate_dataset(5, 3, (0, 0), seed=5, images=SOURCE)[0])  # a root is its seed


def test_numpy_steps_are_accepted_and_the_split_is_checked():
    for step in (np.float32(0.2), np.int64(0), (np.float32(0.1), np.float32(0.2)), np.array([0.1, 0.2])):
        assert generate_videos(1, frames=2, step=step, seed=1, images=SOURCE)[0].shape == (1, 2, 64, 64)
    for step in (True, float("nan"), (0.1,), "0.1", (0.1, float("nan"))):
        with pytest.raises(ValueError, match="step must be in"):
            generate_videos(1, frames=2, step=step, seed=1, images=SOURCE)
    with pytest.raises(ValueError, match="split must be one of test, train, got 'bogus'"):
        generate_videos(1, seed=1, images=SOURCE, split="bogus")
