"""Instance masks (issue 23): label images of every layout, through every door, npz, --verify --deep, the CLI."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from conftest import drawn_source, fixture_source, rewrite_record, run_generator
from mnist_dataset_generator import (
    Recipe,
    SequenceDataset,
    generate_dataset,
    generate_videos,
    iter_dataset,
)
from mnist_dataset_generator.compose.boxes import visible
from mnist_dataset_generator.export.annotations import rle_string
from mnist_dataset_generator.filters import blur, distort
from mnist_dataset_generator.mnistdata import MnistData

SOURCE = drawn_source()


def _inside_boxes(masks: np.ndarray, boxes) -> None:
    """Every pixel labelled ``i + 1`` lies in box ``i`` (the frame's, for a video); no label past the length."""
    for mask, box in zip(masks, boxes, strict=True):
        frames = mask[None] if mask.ndim == 2 else mask
        per_frame = box[None] if box.ndim == 2 else box
        for frame, frame_boxes in zip(frames, per_frame, strict=True):
            assert frame.max() <= len(frame_boxes)
            for i, (x0, y0, x1, y1) in enumerate(frame_boxes.tolist()):
                rows, cols = np.nonzero(frame == i + 1)
                if len(rows):
                    assert y0 <= rows.min() and rows.max() < y1 and x0 <= cols.min() and cols.max() < x1, (i, box)


@pytest.mark.parametrize("options", [
    {"length": 4, "spacing_range": (3, 3), "image_width": 4 * 28 + 9},  # placed unresampled
    {"length": (2, 6), "spacing_range": (-10, 8), "image_width": 150},  # overlaps, resampled
    {"length": (2, 5), "spacing_range": (0, 6), "image_width": 120, "fltrs": [blur(1.0), distort()]},
    {"length": 3, "spacing_range": (2, 9), "image_width": 90, "image_height": 40, "background": "black",
     "dtype": "uint8"},
])
def test_strip_masks_are_the_visible_ink_of_each_digit_inside_its_box(options):
    images, labels, boxes, masks = generate_dataset(60, seed=5, images=SOURCE, return_boxes=True, return_masks=True,
                                                    **options)
    assert masks.shape == images.shape and masks.dtype == np.uint8
    seen = visible(images, options.get("background", "white"))
    assert not (masks[~seen]).any()  # paper is 0
    _inside_boxes(masks, boxes)
    for mask, label in zip(masks, labels, strict=True):
        assert set(np.unique(mask).tolist()) <= set(range(len(label) + 1))
    if options["spacing_range"][0] >= 0:  # digits that never overlap: every visible pixel is one digit's
        assert (masks[seen] > 0).all()
    else:  # overlapping: only pixels that the tails of two digits together make visible are left out
        assert (masks[seen] > 0).mean() > 0.995


def test_where_digits_overlap_a_pixel_goes_to_the_darker():
    ink = np.zeros((2, 28, 28), np.uint8)
    ink[0, 4:24, 2:26] = 120  # a pale block
    ink[1, 4:24, 8:26] = 250  # a dark one, 14 px on (spacing -14): its columns 22..39 cover the pale one's 22..25
    source = MnistData.from_arrays(ink, [0, 1])
    _, _, boxes, masks = generate_dataset(1, None, (-14, -14), None, seed=0, images=source, labels=["01"],
                                               return_boxes=True, return_masks=True)
    row = masks[0, 10]
    assert row[2:22].tolist() == [1] * 20 and row[22:40].tolist() == [2] * 18  # the darker wins where both are
    assert row[:2].tolist() == [0, 0] and not row[40:].any() and not masks[0, :4].any()
    assert boxes[0].tolist() == [[2, 4, 26, 24], [22, 4, 40, 24]]  # the pale one's box still holds all its ink


def test_every_door_gives_the_same_masks_for_any_worker_count():
    args = {"count": 300, "length": (2, 5), "spacing_range": (-6, 6), "image_width": 130, "seed": 9,
            "images": SOURCE}
    images, labels, boxes, masks = generate_dataset(**args, return_boxes=True, return_masks=True)
    images2, _, masks2 = generate_dataset(**args, return_masks=True, workers=2)
    np.testing.assert_array_equal(masks2, masks)
    np.testing.assert_array_equal(images2, images)
    for k, (image, label, mask) in enumerate(iter_dataset(**args, return_masks=True, workers=2)):
        assert label == labels[k] and np.array_equal(mask, masks[k])
    triples = list(iter_dataset(**args, return_boxes=True, return_masks=True))
    assert all(np.array_equal(t[2], boxes[k]) and np.array_equal(t[3], masks[k]) for k, t in enumerate(triples))
    ds = SequenceDataset(**args, return_masks=True, return_boxes=True, transform=lambda x: x * 0)
    for k, item in zip([299, 0, 17], ds.__getitems__([299, 0, 17]), strict=True):
        assert item[1] == labels[k] and np.array_equal(item[2], boxes[k]) and np.array_equal(item[3], masks[k])
        assert not item[0].any()  # the transform touched the image, not the mask


def test_a_tie_goes_to_the_earlier_digit_on_strips_as_in_videos_and_scenes():
    ink = np.zeros((3, 28, 28), np.uint8)
    ink[:, 4:28, 2:22] = 200  # three equal blocks, 14 px apart: each pair overlaps 6 columns
    source = MnistData.from_arrays(ink, [0, 1, 2])
    _, _, boxes, masks = generate_dataset(1, None, (-14, -14), None, seed=0, images=source, labels=["012"],
                                          return_boxes=True, return_masks=True)
    # digits 0 and 2 share a group (their reaches never meet): the tie between 1 and 2 still goes to 1
    assert masks[0, 10, :56].tolist() == [0, 0] + [1] * 20 + [2] * 14 + [3] * 14 + [0] * 6
    _inside_boxes(masks, boxes)


def test_masks_count_in_the_memory_budget(monkeypatch):
    monkeypatch.setenv("GENERATOR_NUMBERS_SEQ_MEMORY_BUDGET", str(12 * 10**6))
    args = {"count": 200_000, "length": 2, "spacing_range": (0, 0), "image_width": None, "seed": 0, "images": SOURCE,
            "dtype": "uint8"}
    generate_dataset(**{**args, "count": 10})  # 200,000 x 1,568 px x 1 byte: 10.0 MB, within the budget
    with pytest.raises(ValueError, match=r"generate_dataset: the images would take .* x 2 bytes \(pixel and mask\)"):
        generate_dataset(**args, return_masks=True)


def test_more_than_254_characters_take_uint16_labels():
    _, _, masks = generate_dataset(1, 300, (1, 1), None, seed=0, images=SOURCE, return_masks=True)
    assert masks.dtype == np.uint16 and int(masks.max()) == 300


def test_label_pngs_round_trip_8_and_16_bits():
    from mnist_dataset_generator.export.readers import decode_mask_png
    from mnist_dataset_generator.export.writers import mask_png_bytes

    for mask in (np.arange(12, dtype=np.uint8).reshape(3, 4), np.array([[0, 300], [65535, 2]], np.uint16),
                 np.arange(24, dtype=np.uint16).reshape(2, 3, 4) * 700):  # a video's: frames side by side
        data = mask_png_bytes(mask)
        shape = mask.shape if mask.ndim == 2 else (mask.shape[1], mask.shape[0] * mask.shape[2])
        back = decode_mask_png(data, "x", shape)
        assert back.dtype == mask.dtype
        np.testing.assert_array_equal(back, mask if mask.ndim == 2 else np.hstack(list(mask)))


def test_video_masks_label_every_ink_pixel_with_the_glyph_that_gives_its_value():
    videos, _, boxes, masks = generate_videos(40, frames=6, digits=3, size=(40, 52), seed=3, images=SOURCE,
                                                   return_boxes=True, return_masks=True)
    assert masks.shape == videos.shape and masks.dtype == np.uint8
    np.testing.assert_array_equal(masks > 0, videos > 0)
    _inside_boxes(masks, boxes)
    # the value of each labelled pixel is its glyph's: the glyph's ink at that place in the frame
    for n in range(5):
        for t in range(6):
            for j in range(boxes.shape[2]):
                mine = masks[n, t] == j + 1
                assert (videos[n, t][mine] > 0).all()
    again = generate_videos(40, frames=6, digits=3, size=(40, 52), seed=3, images=SOURCE, return_masks=True, workers=2)
    np.testing.assert_array_equal(again[2], masks)
    white = generate_dataset(40, seed=3, images=SOURCE, return_masks=True,
                             recipe=Recipe(layout="video", length=3, frames=6, image_height=40, image_width=52,
                                           background="white"))
    np.testing.assert_array_equal(white[2], masks)  # float32 on white: the same glyphs, the same labels


def _export(tmp_path, *args, data_dir):
    out = tmp_path / "out"
    result = run_generator("--count", "24", "--seed", "2", "--output-dir", out, "-q", "-d", data_dir, *args,
                           cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.parametrize("recipe_args", [
    ["--length", "2-4", "-w", "120", "-s", "-4,6"],
    ["--preset", "moving-mnist", "--frames", "4"],
])
def test_npz_holds_the_masks_and_deep_verify_checks_them(tmp_path, fixture_dir, recipe_args):
    out = _export(tmp_path, "--format", "npz", "--masks", *recipe_args, data_dir=fixture_dir)
    with np.load(out / "dataset.npz") as npz:
        arrays = dict(npz)
    assert sorted(arrays) == ["boxes", "images", "labels", "lengths", "masks"]
    assert arrays["masks"].shape == arrays["images"].shape and arrays["masks"].dtype == np.uint8
    source = fixture_source(fixture_dir)
    recipe = Recipe.preset("moving-mnist", frames=4) if "--preset" in recipe_args else \
        Recipe(length=(2, 4), spacing_range=(-4, 6), image_width=120, dtype="uint8")
    _, _, masks = generate_dataset(24, seed=2, images=source, recipe=recipe, return_masks=True)
    np.testing.assert_array_equal(arrays["masks"], masks)
    assert run_generator("--verify", out, "--deep", "-d", fixture_dir, cwd=tmp_path).returncode == 0
    # one label changed, and the files' record made to agree: only the deep check can tell
    arrays["masks"][5].flat[np.flatnonzero(arrays["masks"][5])[0]] += 1
    np.savez(out / "dataset.npz", **arrays)
    rewrite_record(out)
    result = run_generator("--verify", out, "--deep", "-d", fixture_dir, cwd=tmp_path)
    assert result.returncode == 1 and "its mask is not the label image its seed makes" in result.stdout, result.stdout
    # the same labels in another dtype are not the masks its seed makes
    arrays["masks"] = masks.astype(np.uint16)
    np.savez(out / "dataset.npz", **arrays)
    rewrite_record(out)
    result = run_generator("--verify", out, "--deep", "-d", fixture_dir, cwd=tmp_path)
    assert result.returncode == 1 and "its mask is not the label image its seed makes" in result.stdout, result.stdout
    # a masks array taken away is found too
    del arrays["masks"]
    np.savez(out / "dataset.npz", **arrays)
    rewrite_record(out)
    result = run_generator("--verify", out, "--deep", "-d", fixture_dir, cwd=tmp_path)
    assert result.returncode == 1 and "masks" in result.stdout, result.stdout


def test_masks_where_a_format_has_no_place_for_them_are_refused():
    from mnist_dataset_generator.export.writers import WRITERS, Options, Writer

    class Plain(Writer):  # a format that declares no masks: every one of ours holds them now
        format = "plain"

        @classmethod
        def files(cls, indices, options):
            return []

    with pytest.raises(ValueError, match="--format plain has no place for masks yet: they go with --format png, "
                                         "tar, npz or lmdb"):
        Plain.check_options(Options(masks=True))
    assert all(WRITERS[name].holds_masks for name in ("png", "npz", "tar", "lmdb"))  # (tests may register more)


def test_lmdb_holds_the_masks_as_pngs(tmp_path, fixture_dir):
    lmdb = pytest.importorskip("lmdb")
    out = _export(tmp_path, "--format", "lmdb", "--masks", "--length", "2-4", "-w", "120", "-s", "-4,6",
                  data_dir=fixture_dir)
    source = fixture_source(fixture_dir)
    recipe = Recipe(length=(2, 4), spacing_range=(-4, 6), image_width=120, dtype="uint8")
    _, _, masks = generate_dataset(24, seed=2, images=source, recipe=recipe, return_masks=True)
    env = lmdb.open(str(out / "data.mdb"), subdir=False, readonly=True, lock=False)
    with env.begin() as txn:
        for k in range(24):
            stored = np.asarray(Image.open(io.BytesIO(txn.get(f"mask-{k + 1:09d}".encode()))))
            np.testing.assert_array_equal(stored, masks[k])
    env.close()
    assert run_generator("--verify", out, "--deep", "-d", fixture_dir, cwd=tmp_path).returncode == 0


def test_rle_strings_are_what_pycocotools_writes():
    mask_api = pytest.importorskip("pycocotools.mask")
    rng = np.random.default_rng(0)
    for shape in [(1, 1), (3, 7), (28, 224), (64, 64)]:
        for density in (0.0, 0.02, 0.5, 1.0):
            mask = rng.random(shape) < density
            expected = mask_api.encode(np.asfortranarray(mask.astype(np.uint8)))["counts"].decode()
            assert rle_string(mask) == expected, (shape, density)


@pytest.mark.parametrize("recipe_args", [
    ["--length", "2-4", "-w", "120", "-s", "-4,6"],
    ["--layout", "scene", "--length", "0-4", "-w", "90", "--height", "80", "--scale", "0.7,1.4", "--clutter", "3,6"],
])
def test_png_exports_write_label_images_and_coco_segmentations(tmp_path, fixture_dir, recipe_args):
    coco_api = pytest.importorskip("pycocotools.coco")
    mask_api = pytest.importorskip("pycocotools.mask")
    out = _export(tmp_path, "--format", "png", "--masks", "--annotations", "coco", *recipe_args, data_dir=fixture_dir)
    source = fixture_source(fixture_dir)
    recipe = Recipe(length=(2, 4), spacing_range=(-4, 6), image_width=120, dtype="uint8") if "--layout" not in \
        recipe_args else Recipe(layout="scene", length=(0, 4), image_width=90, image_height=80, scale=(0.7, 1.4),
                                clutter=(3, 6), dtype="uint8")
    _, _, boxes, masks = generate_dataset(24, seed=2, images=source, recipe=recipe, return_boxes=True,
                                               return_masks=True)
    coco = coco_api.COCO(str(out / "coco.json"))
    for i in range(24):
        stored = np.asarray(Image.open(out / f"masks/{i:08d}.png"))
        np.testing.assert_array_equal(stored, masks[i])
        annotations = coco.loadAnns(coco.getAnnIds(imgIds=[i]))
        # an object for each character with a box and a mask: one hidden whole under darker ink has none
        drawn = [k for k, box in enumerate(boxes[i]) if box[2] > box[0] and (masks[i] == k + 1).any()]
        assert len(annotations) == len(drawn) and all(a["area"] > 0 for a in annotations)
        for k, annotation in zip(drawn, annotations, strict=True):
            decoded = coco.annToMask(annotation).astype(bool)
            np.testing.assert_array_equal(decoded, masks[i] == k + 1)
            assert annotation["area"] == int((masks[i] == k + 1).sum())
            assert mask_api.toBbox(annotation["segmentation"]).tolist() != []
    assert run_generator("--verify", out, "--deep", "-d", fixture_dir, cwd=tmp_path).returncode == 0
    # a label image changed (two characters' pixels given to the first), its record made to agree: the deep
    # check names it
    k = next(i for i in range(24) if masks[i].max() >= 2)
    pixels = np.asarray(Image.open(out / f"masks/{k:08d}.png")).copy()
    pixels[pixels > 0] = 1
    Image.fromarray(pixels).save(out / f"masks/{k:08d}.png")
    rewrite_record(out)
    result = run_generator("--verify", out, "--deep", "-d", fixture_dir, cwd=tmp_path)
    assert result.returncode == 1 and "its mask is not the label image its seed makes" in result.stdout, result.stdout


def test_a_resumed_png_export_with_masks_is_the_same_bytes(tmp_path, fixture_dir):
    args = ["--length", "3", "-w", "100", "--count", "600", "--seed", "4", "--format", "png", "--masks",
            "--annotations", "coco", "-q", "-d", fixture_dir]
    whole = tmp_path / "whole"
    assert run_generator(*args, "--output-dir", whole, cwd=tmp_path).returncode == 0
    part = tmp_path / "part"
    assert run_generator(*args, "--output-dir", part, cwd=tmp_path).returncode == 0
    (part / "masks/00000300.png").unlink()  # a lost label image, and a damaged one
    (part / "masks/00000010.png").write_bytes(b"not a png")
    assert run_generator(*args, "--output-dir", part, "--resume", cwd=tmp_path).returncode == 0
    for rel in ["masks/00000300.png", "masks/00000010.png", "coco.json", "SHA256SUMS"]:
        assert (part / rel).read_bytes() == (whole / rel).read_bytes(), rel


def test_tar_shards_carry_the_masks_webdataset_reads(tmp_path, fixture_dir):
    webdataset = pytest.importorskip("webdataset")
    out = _export(tmp_path, "--format", "tar", "--masks", "--shard-size", "10", "--layout", "scene", "--length", "1-3",
                  "-w", "80", "--height", "70", "--scale", "0.8,1.3", data_dir=fixture_dir)
    source = fixture_source(fixture_dir)
    recipe = Recipe(layout="scene", length=(1, 3), image_width=80, image_height=70, scale=(0.8, 1.3), dtype="uint8")
    images, labels, masks = generate_dataset(24, seed=2, images=source, recipe=recipe, return_masks=True)
    shards = [str(p) for p in sorted(out.glob("shard-*.tar"))]
    samples = list(webdataset.WebDataset(shards, shardshuffle=False).decode("l8"))
    assert len(samples) == 24
    for k, sample in enumerate(samples):
        assert sample["txt"] == labels[k]
        np.testing.assert_array_equal(sample["png"], images[k])
        np.testing.assert_array_equal(sample["mask.png"], masks[k])  # "l8": 8-bit grayscale, as the labels are
    assert run_generator("--verify", out, "--deep", "-d", fixture_dir, cwd=tmp_path).returncode == 0


def test_a_character_hidden_whole_under_darker_ink_is_no_coco_object():
    import json
    import tempfile

    from mnist_dataset_generator.export.annotations import CocoAnnotation
    from mnist_dataset_generator.records import Batch

    class Capture:  # a sink that keeps what is written, for reading back
        def __init__(self):
            self.files = {}

        def stream(self, rel):
            sink, buffer = self, io.BytesIO()

            class Stream:
                out = buffer

                def commit(self):
                    sink.files[rel] = buffer.getvalue()

                def abort(self):
                    pass

            return Stream()

        def scratch(self):
            return tempfile.TemporaryFile()

    ink = np.zeros((2, 28, 28), np.uint8)
    ink[0, 6:22, 7:22] = 90  # a pale block, and a dark one 1 px on (spacing -27) over every pixel of it
    ink[1, 6:22, 6:22] = 250
    source = MnistData.from_arrays(ink, [0, 1])
    images, labels, boxes, masks = generate_dataset(1, None, (-27, -27), None, seed=0, images=source, labels=["01"],
                                                    return_boxes=True, return_masks=True)
    assert boxes[0][0][2] > boxes[0][0][0] and not (masks[0] == 1).any()  # a box, no pixel of its own
    sink, coco = Capture(), CocoAnnotation(images.shape[1:], range(1), lambda i: f"images/{i:08d}.png")
    coco.open(sink)
    coco.describe(Batch(0, labels, np.asarray(boxes), masks=masks))
    coco.commit()
    objects = json.loads(sink.files["coco.json"])["annotations"]
    assert [o["category_id"] for o in objects] == [2] and objects[0]["area"] == int((masks[0] == 2).sum())


def test_deep_names_every_unreadable_image_and_mask_by_its_own_file(tmp_path, fixture_dir):
    out = _export(tmp_path, "--format", "png", "--masks", "--length", "3", "-w", "100", data_dir=fixture_dir)
    (out / "images/00000003.png").write_bytes(b"not a png")
    (out / "masks/00000007.png").write_bytes(b"not a png")
    (out / "images/00000011.png").write_bytes((out / "images/00000012.png").read_bytes())  # another sample's
    pixels = np.asarray(Image.open(out / "masks/00000015.png")).copy()
    pixels[pixels == 1] = 2
    Image.fromarray(pixels).save(out / "masks/00000015.png")
    rewrite_record(out)
    result = run_generator("--verify", out, "--deep", "-d", fixture_dir, cwd=tmp_path)
    assert result.returncode == 1
    failed = sorted(line.split(":")[0] for line in result.stdout.splitlines() if "FAILED" in line)
    # every damaged file named, each by its own path, none stopping the check of the others
    assert failed == ["images/00000003.png", "images/00000011.png", "masks/00000007.png", "masks/00000015.png"], \
        result.stdout


def test_a_resume_makes_kept_samples_masks_again_only_for_an_annotation_that_reads_them(tmp_path, fixture_dir,
                                                                                     monkeypatch):
    from mnist_dataset_generator.dataset import plan_dataset
    from mnist_dataset_generator.export import exporter
    from mnist_dataset_generator.export.writers import Options

    source = fixture_source(fixture_dir)
    plan = plan_dataset(600, 3, (0, 4), 100, seed=1, dtype="uint8")
    asked = []
    real = exporter.iter_chunks

    def spy(*args, **kwargs):
        asked.append((kwargs["encode"] is None, kwargs["masks"]))  # (kept, masks made)
        return real(*args, **kwargs)

    monkeypatch.setattr(exporter, "iter_chunks", spy)
    for names, kept_masks in ((("yolo", "gt"), False), (("coco",), True)):
        folder = tmp_path / "-".join(names)
        options = Options(annotations=names, masks=True)
        exporter.export_dataset(folder, plan, source, fmt="png", options=options)
        (folder / "images/00000400.png").unlink()
        asked.clear()
        exporter.export_dataset(folder, plan, source, fmt="png", options=options, resume=True)
        assert (True, kept_masks) in asked and (False, True) in asked, asked


def test_npz_masks_travel_deflated_and_a_one_argument_encode_chunk_still_serves():
    import zlib

    from mnist_dataset_generator.dataset import plan_dataset
    from mnist_dataset_generator.export.writers import NpzWriter
    from mnist_dataset_generator.making import _make_chunk, mask_dtype

    plan = plan_dataset(40, seed=3, recipe=Recipe(layout="scene", length=(1, 3), image_width=50, image_height=40,
                                                  dtype="uint8"))
    whole = _make_chunk(plan, SOURCE, 0, 40, encode_chunk=NpzWriter.encode_chunk, boxes=True, masks=True)
    only = _make_chunk(plan, SOURCE, 0, 40, encode_chunk=NpzWriter.encode_chunk, boxes=True, masks="payload")
    assert whole.masks is not None and only.masks is None  # the raw label images stay in the worker
    crc, length, piece = only.payload[1]
    raw = zlib.decompressobj(-15).decompress(piece)
    assert length == len(raw) and crc == zlib.crc32(raw)
    np.testing.assert_array_equal(np.frombuffer(raw, mask_dtype(plan)).reshape(whole.masks.shape), whole.masks)
    # a writer of earlier versions: encode_chunk(images) alone, when no masks are asked for
    plain = _make_chunk(plan, SOURCE, 0, 40, encode_chunk=lambda images: int(images.sum()))
    assert plain.payload == int(generate_dataset(40, seed=3, images=SOURCE, recipe=plan.recipe)[0].sum())
