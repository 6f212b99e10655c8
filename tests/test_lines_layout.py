"""Pages of lines (issue 23, layout="lines"): each line a padded strip, the label's lines parted by "\\n",
a box per character and per line, masks, every door, every writer, --verify --deep and the CLI."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from conftest import (
    drawn_source,
    fixture_source,
    one_line,
    rewrite_record,
    run_generator,
)
from mnist_dataset_generator import (
    Recipe,
    SequenceDataset,
    generate_dataset,
    iter_dataset,
)
from mnist_dataset_generator.compose.boxes import visible
from mnist_dataset_generator.dataset import plan_dataset
from mnist_dataset_generator.making import make_sample
from mnist_dataset_generator.records import line_boxes
from mnist_dataset_generator.sampling import line_plan, page_draws

SOURCE = drawn_source()
PAGE = Recipe(layout="lines", length=(2, 6), spacing_range=(0, 8), lines=(1, 4), line_gap=(0, 10), align="random")


def test_a_page_recipe_is_checked_and_normalised():
    r = Recipe(layout="lines", length=4, spacing_range=(2, 2))
    # three lines by default, no gaps, the widest line's width, the lines' height
    assert (r.lines, r.line_gap, r.shape, r.label_length) == ((3, 3), (0, 0), (84, 4 * 28 + 3 * 2), (14, 14))
    assert Recipe(layout="lines", length=(2, 5), lines=(1, 3)).label_length == (2, 17)
    assert Recipe.from_json(json.dumps(PAGE.to_json())) == PAGE
    given = Recipe(layout="lines", labels=["12\n345", "6"])
    assert (given.lines, given.length, given.label_length) == ((1, 2), (1, 3), (1, 6))
    assert Recipe.from_json(given.to_json()) == given and given.replace(dtype="uint8").lines == (1, 2)
    # a size the recipe worked out is worked out again by replace; a size given (or read from JSON) is kept
    assert r.replace(lines=5).shape == (140, 118) and r.replace(length=6).shape == (84, 6 * 28 + 5 * 2)
    assert Recipe(layout="lines", image_height=150).replace(lines=5).image_height == 150
    assert Recipe.from_json(r.to_json()).replace(length=2).shape == (84, 118)
    for kwargs, message in [
        ({"lines": 5, "image_height": 100},
         "a page 100 px high holds 3 lines of 28 px with gaps of up to 0 px, not 5 (it needs 140 px)"),
        ({"lines": (2, 3), "line_gap": (0, 8), "image_height": 70}, "holds 2 lines of 28 px with gaps of up to 8 px"),
        ({"lines": 0}, "lines must satisfy 1 <= min <= max <= 256"),
        ({"lines": (3, 2)}, "lines must satisfy 1 <= min <= max"),
        ({"line_gap": -1}, "line_gap must satisfy 0 <= min <= max <= 4096 px"),
        ({"lines": 200}, "a page of 200 lines of 28 px with gaps of up to 0 px is 5600 px high, more than 4096"),
        ({"unique": True}, "unique applies to strips, videos and scenes, not layout='lines'"),
        ({"labels": ["12\n\n3"]}, "labels[0] has an empty line ('12\\n\\n3')"),
        ({"labels": ["12\n"]}, "has an empty line"),
        ({"labels": ["12"], "lines": 2}, "give labels or lines, not both"),
        ({"length": 6, "image_width": 20}, "image_width 20 is too small for 6 digit(s)"),
        ({"lines": 100, "length": 120}, "labels of up to 12099 characters (the newlines counted), more than 10000"),
        ({"labels": ["1\n" * 300 + "1"]}, "labels[0] has 301 line(s) and 601 characters; a page holds at most 256"),
        ({"labels": ["1", "12" * 6000]}, "labels[1] has 1 line(s) and 12000 characters"),
        ({"fit": "pad"}, "fit applies to strips, not layout='lines'"),
    ]:
        with pytest.raises(ValueError) as error:
            Recipe(**{"layout": "lines", **kwargs})
        assert message in str(error.value), (kwargs, str(error.value))
    for kwargs, message in [({"lines": 2}, "lines applies with layout='lines' only"),
                            ({"labels": ["1\n2"]}, "labels[0]: ")]:
        with pytest.raises(ValueError, match=message.replace("[", r"\[")):
            Recipe(**kwargs)


def _tops(recipe, count, seed):
    """Each page's line count and each line's top, from the page draws (what the pages must show)."""
    plan = plan_dataset(count, seed=seed, recipe=recipe)
    lines, gaps, where = page_draws(plan, np.arange(count))
    return plan, lines, gaps, where


@pytest.mark.parametrize("align", ["left", "center", "random"])
def test_each_line_is_its_strip_placed_on_paper_where_the_draws_say(align):
    recipe = PAGE.replace(align=align, image_height=160, fltrs="blur:sigma=0.7")
    images, labels = generate_dataset(40, seed=3, images=SOURCE, recipe=recipe)
    plan, lines, gaps, where = _tops(recipe, 40, 3)
    inner, most = line_plan(plan), recipe.lines[1]
    assert sorted(set(lines.tolist())) == [1, 2, 3, 4]
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        n = int(lines[i])
        block = n * 28 + int(gaps[i, : n - 1].sum())
        spare = 160 - block
        first = {"left": 0, "center": spare // 2, "random": min(int(where[i] * (spare + 1)), spare)}[align]
        assert 0 <= first <= spare
        top, texts, paper = first, [], np.ones_like(image, bool)
        for j in range(n):
            strip, text = make_sample(inner, SOURCE, i * most + j)  # the line's own strip, filters and all
            np.testing.assert_array_equal(image[top : top + 28], strip)
            paper[top : top + 28] = False
            texts.append(text)
            top += 28 + (int(gaps[i, j]) if j < n - 1 else 0)
        assert label == "\n".join(texts)
        assert (image[paper] == 1).all()  # white paper above, between and below the lines
        assert all(recipe.line_gap[0] <= g <= recipe.line_gap[1] for g in gaps[i, : n - 1].tolist())


def test_boxes_and_masks_of_a_page_hold_each_characters_ink_and_lines_their_characters():
    images, labels, boxes, masks = generate_dataset(60, seed=5, images=SOURCE, recipe=PAGE.replace(dtype="uint8"),
                                                    return_boxes=True, return_masks=True)
    seen = visible(images, "white")
    np.testing.assert_array_equal(masks > 0, seen)  # lines never overlap: every visible pixel is a character's
    for image, label, box, mask in zip(images, labels, boxes, masks, strict=True):
        assert box.shape == (len(label), 4)
        for i, (char, (x0, y0, x1, y1)) in enumerate(zip(label, box.tolist(), strict=True)):
            rows, cols = np.nonzero(mask == i + 1)
            if char == "\n":  # the newline has no box and no ink
                assert (x0, y0, x1, y1) == (-1, -1, -1, -1) and not len(rows)
                continue
            # tight: the box is exactly the extent of the character's labelled ink
            assert (x0, y0, x1, y1) == (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
        found = line_boxes(label, box)
        assert len(found) == label.count("\n") + 1
        at = 0
        for (x0, y0, x1, y1), line in zip(found.tolist(), label.split("\n"), strict=True):
            rows, cols = np.nonzero((mask > at) & (mask <= at + len(line)))
            assert (x0, y0, x1, y1) == (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
            assert y1 - y0 <= 28  # one line's band
            at += len(line) + 1
        assert (found[1:, 1] >= found[:-1, 3]).all()  # lines read top to bottom, never overlapping


def test_every_door_serves_the_same_pages_for_any_worker_count_and_epochs_keep_labels():
    args = {"count": 300, "seed": 8, "images": SOURCE, "recipe": PAGE}
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
    changed = [k for k in range(20) if not np.array_equal(ds[k][0], images[k])]
    assert all(ds[k][1] == labels[k] for k in range(20)) and len(changed) >= 15  # new gaps, glyphs; same labels


def test_given_pages_and_patterns_are_drawn_line_by_line():
    pages = ["12\n345\n6", "7", "89\n0"]
    images, labels, boxes = generate_dataset(None, seed=1, images=SOURCE, return_boxes=True,
                                             recipe=Recipe(layout="lines", labels=pages, line_gap=4))
    assert labels == pages and images.shape == (3, 3 * 28 + 2 * 4, 3 * 28)
    assert [len(line_boxes(label, box)) for label, box in zip(labels, boxes, strict=True)] == [3, 1, 2]
    _, labels = generate_dataset(50, seed=2, images=SOURCE, recipe=Recipe(layout="lines", pattern="dd-d", lines=2))
    assert all(len(line) == 4 and line[2] == "-" and (line[:2] + line[3]).isdigit()
               for label in labels for line in label.split("\n"))
    _, labels = generate_dataset(50, seed=2, images=SOURCE, recipe=Recipe(layout="lines", length=5, distinct=True))
    assert all(len(set(line)) == 5 for label in labels for line in label.split("\n"))


def test_line_counts_are_uniform_over_the_range():
    plan = plan_dataset(4000, seed=9, recipe=PAGE)
    lines = page_draws(plan, np.arange(4000))[0]
    counts = np.bincount(lines, minlength=5)[1:]
    assert counts.sum() == 4000 and counts.min() > 0.85 * 1000 and counts.max() < 1.15 * 1000


def _export(tmp_path, name, *args, data_dir):
    out = tmp_path / name
    result = run_generator("--count", "24", "--seed", "2", "--output-dir", out, "-q", "-d", data_dir, "--layout",
                           "lines", "--length", "2-5", "-s", "0,6", "--lines", "1-3", "--line-gap", "0,6",
                           "--align", "random", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return out


def _made(fixture_dir, count=24, seed=2):
    recipe = Recipe(layout="lines", length=(2, 5), spacing_range=(0, 6), lines=(1, 3), line_gap=(0, 6),
                    align="random", dtype="uint8")
    return generate_dataset(count, seed=seed, images=fixture_source(fixture_dir), recipe=recipe, return_boxes=True,
                            return_masks=True)


def test_png_export_with_coco_and_yolo_holds_characters_and_lines(tmp_path, fixture_dir):
    mask_api = pytest.importorskip("pycocotools.mask")
    from pycocotools.coco import COCO

    out = _export(tmp_path, "png", "--masks", "--annotations", "coco,yolo", data_dir=fixture_dir)
    _, labels, boxes, masks = _made(fixture_dir)
    with open(out / "labels.csv", newline="") as handle:  # quoted: the csv module reads the lines back
        assert [row[1] for row in csv.reader(handle)][1:] == labels
    rows = [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]
    for row, label, box in zip(rows, labels, boxes, strict=True):
        assert row["text"] == label and row["boxes"] == box.tolist()
        assert row["line_boxes"] == line_boxes(label, box).tolist()
    coco = COCO(str(out / "coco.json"))
    assert coco.loadCats(11)[0]["name"] == "line"
    for i, (label, box, mask) in enumerate(zip(labels, boxes, masks, strict=True)):
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[i]))
        lines = [a for a in anns if a["category_id"] == 11]
        expected = line_boxes(label, box)
        assert [a["bbox"] for a in lines] == [[x0, y0, x1 - x0, y1 - y0] for x0, y0, x1, y1 in expected.tolist()]
        at = 0
        for a, line in zip(lines, label.split("\n"), strict=True):
            ink = (mask > at) & (mask <= at + len(line))
            np.testing.assert_array_equal(mask_api.decode(a["segmentation"]).astype(bool), ink)
            assert a["area"] == int(ink.sum())
            at += len(line) + 1
        assert len(anns) - len(lines) == len(label.replace("\n", ""))  # one object per character
        yolo = (out / f"labels/{i:08d}.txt").read_text().splitlines()
        assert [int(line.split()[0]) for line in yolo].count(10) == len(expected)
    assert "nc: 11" in (out / "data.yaml").read_text() and '"line"]' in (out / "data.yaml").read_text()
    assert run_generator("--verify", out, "--deep", "-d", fixture_dir, cwd=tmp_path).returncode == 0
    # a line box moved, its record made to agree: the deep check names it
    rows[3]["line_boxes"][0][0] += 1
    (out / "metadata.jsonl").write_text("".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows))
    rewrite_record(out)
    result = run_generator("--verify", out, "--deep", "-d", fixture_dir, cwd=tmp_path)
    assert result.returncode == 1 and "its line boxes are not the lines' boxes" in result.stdout, result.stdout


def test_npz_and_tar_exports_hold_the_pages_and_deep_checks_their_line_boxes(tmp_path, fixture_dir):
    images, labels, boxes, masks = _made(fixture_dir)
    out = _export(tmp_path, "npz", "--format", "npz", "--masks", data_dir=fixture_dir)
    with np.load(out / "dataset.npz") as npz:
        np.testing.assert_array_equal(npz["images"], images)
        np.testing.assert_array_equal(npz["masks"], masks)
        assert npz["labels"].tolist() == labels
        assert npz["line_boxes"].shape == (24, 3, 4)
        for k, (label, box) in enumerate(zip(labels, boxes, strict=True)):
            n = label.count("\n") + 1
            np.testing.assert_array_equal(npz["line_boxes"][k, :n], line_boxes(label, box))
            assert (npz["line_boxes"][k, n:] == -1).all()
            np.testing.assert_array_equal(npz["boxes"][k, : len(label)], box)
    tar = _export(tmp_path, "tar", "--format", "tar", "--shard-size", "10", data_dir=fixture_dir)
    for folder in (out, tar):
        assert run_generator("--verify", folder, "--deep", "-d", fixture_dir, cwd=tmp_path).returncode == 0
    # the npz's line boxes rewritten (a box, a padding row, extra rows), its record made to agree
    with np.load(out / "dataset.npz") as npz:
        arrays = {name: npz[name] for name in npz.files}
    short = next(k for k, label in enumerate(labels) if label.count("\n") < 2)
    for change in (lambda a: a["line_boxes"][5, 0].__setitem__(1, a["line_boxes"][5, 0, 1] + 1),
                   lambda a: a["line_boxes"][short].__setitem__(2, [1, 2, 30, 40]),
                   lambda a: a.__setitem__("line_boxes", np.pad(a["line_boxes"], ((0, 0), (0, 2), (0, 0)),
                                                                constant_values=-1)),
                   lambda a: a["boxes"][short].__setitem__(len(labels[short]), [1, 2, 3, 4])):
        tampered = {name: array.copy() for name, array in arrays.items()}
        change(tampered)
        np.savez(out / "dataset.npz", **tampered)
        rewrite_record(out)
        result = run_generator("--verify", out, "--deep", "-d", fixture_dir, cwd=tmp_path)
        assert result.returncode == 1 and "FAILED (its" in result.stdout, result.stdout


def test_webdataset_reads_the_pages_of_tar_shards(tmp_path, fixture_dir):
    webdataset = pytest.importorskip("webdataset")
    out = _export(tmp_path, "tar", "--format", "tar", "--shard-size", "10", data_dir=fixture_dir)
    images, labels, boxes, _ = _made(fixture_dir)
    shards = [str(p) for p in sorted(out.glob("shard-*.tar"))]
    samples = list(webdataset.WebDataset(shards, shardshuffle=False).decode("l8"))
    for k, sample in enumerate(samples):
        assert sample["txt"] == labels[k] and sample["json"]["line_boxes"] == line_boxes(labels[k], boxes[k]).tolist()
        np.testing.assert_array_equal(sample["png"], images[k])


def test_the_cli_reads_pages_from_a_labels_file_and_refuses_what_a_page_cannot_be(tmp_path, fixture_dir):
    (tmp_path / "pages.txt").write_text("12\n345\n\n\n6\n78\n")
    out = tmp_path / "pages"
    result = run_generator("--layout", "lines", "--labels-file", "pages.txt", "--output-dir", out, "--format", "npz",
                           "-q", "-d", fixture_dir, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with np.load(out / "dataset.npz") as npz:
        assert npz["labels"].tolist() == ["12\n345", "6\n78"] and npz["images"].shape == (2, 56, 84)
    assert run_generator("--verify", out, "--deep", "-d", fixture_dir, cwd=tmp_path).returncode == 0
    for args, message in [
        (["--layout", "lines", "--lines", "4", "--height", "100"], "a page 100 px high holds 3 lines of 28 px"),
        (["--lines", "2"], "--lines applies with --layout lines only"),
        (["--layout", "scene", "--line-gap", "2"], "--line-gap applies with --layout lines only"),
        (["--layout", "lines", "--line-gap", "-2"], "argument --line-gap: expected G or MIN,MAX"),
        (["--layout", "lines", "--fit", "pad"], "--fit applies to strips, not --layout lines"),
        (["--layout", "lines", "--annotations", "gt"], "gt annotations hold one line of text per image"),
        (["--layout", "lines", "--unique"], "unique applies to strips, videos and scenes, not layout='lines'"),
        (["--layout", "lines", "--labels-file", "pages.txt", "--count", "3"], "holds 2 pages (parted by empty lines)"),
        (["--layout", "lines", "--labels-file", "pages.txt", "--lines", "2", "--count", "2"],
         "give labels or lines, not both"),
        (["--layout", "lines", "--lines", "100", "--length", "120"], "more than 10000: use fewer or shorter lines"),
    ]:
        result = run_generator("--count", "5", "--output-dir", tmp_path / "no", "-d", fixture_dir, *args,
                               cwd=tmp_path)
        assert result.returncode == 2 and message in one_line(result), (args, result.stderr)
        assert not (tmp_path / "no").exists()


def test_hugging_face_datasets_reads_the_pages_back(tmp_path, fixture_dir):
    datasets = pytest.importorskip("datasets")
    out = _export(tmp_path, "png", data_dir=fixture_dir)
    images, labels, boxes, _ = _made(fixture_dir)
    features = datasets.Features({"filename": datasets.Value("string"), "label": datasets.Value("string")})
    table = datasets.load_dataset("csv", data_files=str(out / "labels.csv"), split="train", features=features,
                                  cache_dir=str(tmp_path / "cache"))
    assert table["label"] == labels
    folder = datasets.load_dataset("imagefolder", data_dir=str(out), split="train", cache_dir=str(tmp_path / "cache"))
    assert folder["text"] == labels
    assert folder["line_boxes"] == [line_boxes(label, box).tolist() for label, box in zip(labels, boxes, strict=True)]
    np.testing.assert_array_equal(np.asarray(folder[5]["image"]), images[5])


def test_collates_serve_pages_to_torch():
    pytest.importorskip("torch")
    from mnist_dataset_generator.collate import collate_ctc, collate_detection

    ds = SequenceDataset(8, seed=1, images=SOURCE, recipe=PAGE, return_boxes=True)
    items = [ds[k] for k in range(8)]
    images, targets = collate_detection(items)
    assert images.shape == (8, 1, *PAGE.shape)
    for (_, label, boxes), target in zip(items, targets, strict=True):
        shown = [k for k, c in enumerate(label) if c != "\n" and boxes[k, 2] > boxes[k, 0]]
        assert target["boxes"].tolist() == boxes[shown].astype(np.float32).tolist()
        assert target["labels"].tolist() == [int(label[k]) + 1 for k in shown]
    # a reader of whole pages keeps the line breaks as a class of their own
    _, targets, lengths = collate_ctc([item[:2] for item in items], alphabet="0123456789\n")
    assert lengths.tolist() == [len(item[1]) for item in items] and int(targets.max()) <= 11
    assert (targets == 11).sum().item() == sum(item[1].count("\n") for item in items)
    with pytest.raises(ValueError, match="which is not in the alphabet"):
        collate_ctc([item[:2] for item in items])


def test_pages_moved_between_lines_are_other_labels_to_resume_and_verify(tmp_path, fixture_dir):
    from mnist_dataset_generator.export.exporter import labels_sha256

    assert labels_sha256(["1\n2", "3"]) != labels_sha256(["1", "2\n3"])
    assert labels_sha256(["12", "3"]) == __import__("hashlib").sha256(b"12\n3").hexdigest()  # strips' as before
    (tmp_path / "a.txt").write_text("1234\n5678\n\n90\n")
    (tmp_path / "b.txt").write_text("1234\n\n5678\n90\n")  # the same lines, the page break moved
    out = tmp_path / "out"
    args = ["--layout", "lines", "--output-dir", out, "-q", "-d", fixture_dir]
    assert run_generator("--labels-file", "a.txt", *args, cwd=tmp_path).returncode == 0
    before = (out / "labels.csv").read_bytes()
    result = run_generator("--labels-file", "b.txt", "--resume", *args, cwd=tmp_path)
    assert result.returncode != 0 and (out / "labels.csv").read_bytes() == before, result.stderr


def test_a_shard_of_given_pages_says_it_cannot_be_checked_alone(tmp_path, fixture_dir):
    (tmp_path / "pages.txt").write_text("".join(f"{i}{i}\n{i}\n\n" for i in range(10)))
    out = tmp_path / "part"
    result = run_generator("--layout", "lines", "--labels-file", "pages.txt", "--shard", "1/2", "--format", "npz",
                           "--output-dir", out, "-q", "-d", fixture_dir, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    result = run_generator("--verify", out, "--deep", "-d", fixture_dir, cwd=tmp_path)
    assert result.returncode == 1 and "not checked deeply" in result.stdout and "FAILED (its" not in result.stdout


def test_the_memory_check_of_pages_and_filtered_canvases_follows_what_they_hold(monkeypatch):
    from mnist_dataset_generator.making import (
        _page_working,
        _video_working,
        check_memory,
        video_rows,
    )

    monkeypatch.setenv("GENERATOR_NUMBERS_SEQ_MEMORY_BUDGET", str(10**9))
    wide = plan_dataset(2, seed=1, recipe=Recipe(layout="lines", lines=1, length=4000))
    check_memory(wide, door="export", workers=2)  # one 112,000 px line a page: a few MB, not GB
    assert _page_working(wide, 256) < 256 * 2**20  # a pass of one line, and the strip renderer's own working set
    video = Recipe(layout="video", length=400, frames=1)
    plain, blurred = (plan_dataset(256, seed=1, recipe=r) for r in (video, video.replace(fltrs="blur")))
    assert _video_working(blurred, video_rows(blurred)) > _video_working(plain, video_rows(plain)) + 4 * 2**20
