"""Boxes in every export, read back by the clients users have; the writer protocol; resume and refusal."""

from __future__ import annotations

import json
import shutil
import tarfile

import imageio.v3 as iio
import numpy as np
import pytest

from conftest import REAL_MNIST, one_line, run_generator, tree
from mnist_dataset_generator import mnistdata
from mnist_dataset_generator.dataset import plan_dataset
from mnist_dataset_generator.export.exporter import (
    FORMATS,
    check_format,
    export_dataset,
)
from mnist_dataset_generator.export.prepare import expected_files
from mnist_dataset_generator.export.verify import verify_dataset
from mnist_dataset_generator.export.writers import (
    FOLDER_LAYOUT,
    SAMPLES_PER_TAR,
    WRITERS,
    NpzWriter,
    Writer,
)
from mnist_dataset_generator.making import make_images

run = run_generator


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return mnistdata.write_test_data(tmp_path_factory.mktemp("writers-data"), 300, 60, seed=41)


@pytest.fixture(scope="module")
def source(data_dir):
    return mnistdata.load("train", data_home=data_dir)


def make_plan(count=1100, **options):
    options = {"fit": "pad", "align": "random", "dtype": "uint8", **options}
    return plan_dataset(count, (2, 5), (0, 6), 180, seed=23, **options)


INDICES = {"png": range(37, 700), "npz": range(37, 700), "tar": range(1100),  # tar: across two shards
           "lmdb": range(37, 700)}


def _installed(fmt):
    try:
        check_format(fmt)
    except ValueError:
        return False
    return True


BUILT_IN = ("png", "tar", "npz", "lmdb")
assert set(BUILT_IN) <= set(FORMATS)
FORMATS = tuple(fmt for fmt in BUILT_IN if _installed(fmt))  # lmdb only where its package is


@pytest.fixture(scope="module")
def exported(tmp_path_factory, source):
    """One export of each format of the same plan, with what make_images says they hold."""
    root = tmp_path_factory.mktemp("exported")
    plan = make_plan()
    made = {}
    for fmt in FORMATS:
        indices = INDICES[fmt]
        export_dataset(root / fmt, plan, source, fmt=fmt, indices=indices, workers=2, progress=False)
        images = np.empty((len(indices), plan.height, plan.width), np.uint8)
        labels, boxes = make_images(plan, source, indices, images, boxes=True)
        made[fmt] = (indices, images, labels, boxes)
    return root, made




# ------------------------------------------------------- boxes as made


def test_png_metadata_lists_every_image_with_the_boxes_make_images_gives(exported):
    root, made = exported
    indices, images, labels, boxes = made["png"]
    lines = (root / "png" / "metadata.jsonl").read_text().splitlines()
    assert len(lines) == len(indices)
    for k, (i, line) in enumerate(zip(indices, lines, strict=True)):
        n = len(labels[k])
        expected = {"file_name": f"images/{i:08d}.png", "text": labels[k], "boxes": boxes[k, :n].tolist()}
        assert json.loads(line) == expected
        assert list(json.loads(line)) == ["file_name", "text", "boxes"]
    for k in (0, 1, len(indices) - 1):
        np.testing.assert_array_equal(iio.imread(root / "png" / "images" / f"{indices[k]:08d}.png"), images[k])
    assert any(label.startswith("0") for label in labels)  # the leading zeros below are really tested


def test_tar_json_per_key_holds_the_text_and_boxes_make_images_gives(exported):
    root, made = exported
    indices, images, labels, boxes = made["tar"]
    seen = []
    for shard in sorted((root / "tar").glob("shard-*.tar")):
        with tarfile.open(shard) as tar:
            members = tar.getmembers()
            assert {(m.mtime, m.mode, m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0o644, 0, 0, "", "")}
            for png, txt, meta in zip(members[::3], members[1::3], members[2::3], strict=True):
                key = png.name.removesuffix(".png")
                assert (txt.name, meta.name) == (f"{key}.txt", f"{key}.json")
                k = int(key) - indices.start
                assert tar.extractfile(txt).read().decode() == labels[k]
                assert json.loads(tar.extractfile(meta).read()) == {"text": labels[k],
                                                                     "boxes": boxes[k, : len(labels[k])].tolist()}
                seen.append(int(key))
    assert seen == list(indices)
    with tarfile.open(root / "tar" / "shard-000001.tar") as tar:
        np.testing.assert_array_equal(iio.imread(tar.extractfile(f"{SAMPLES_PER_TAR + 3:08d}.png").read()),
                                      images[SAMPLES_PER_TAR + 3])


def test_npz_boxes_and_lengths_equal_make_images(exported):
    root, made = exported
    indices, images, labels, boxes = made["npz"]
    with np.load(root / "npz" / "dataset.npz") as npz:
        assert npz.files == ["images", "labels", "boxes", "lengths"]
        assert npz["boxes"].dtype == np.int16 and npz["boxes"].shape == (len(indices), 5, 4)
        assert npz["lengths"].dtype == np.int16 and npz["lengths"].tolist() == [len(label) for label in labels]
        np.testing.assert_array_equal(npz["boxes"], boxes)  # -1 past each label's length, as made
        assert npz["labels"].tolist() == labels
        np.testing.assert_array_equal(npz["images"], images)


def test_npz_boxes_are_int32_when_the_image_is_wider_than_int16_reaches(tmp_path, source):
    plan = plan_dataset(2, 1, (0, 0), 50000, seed=4, dtype="uint8")  # one digit stretched: ink past 32767
    assert NpzWriter.box_dtype(plan) == np.int32 and NpzWriter.box_dtype(make_plan()) == np.int16
    export_dataset(tmp_path / "wide", plan, source, fmt="npz", progress=False)
    images = np.empty((2, plan.height, plan.width), np.uint8)
    _, boxes = make_images(plan, source, range(2), images, boxes=True)
    with np.load(tmp_path / "wide" / "dataset.npz") as npz:
        assert npz["boxes"].dtype == np.int32 and npz["boxes"].max() > 32767
        np.testing.assert_array_equal(npz["boxes"], boxes)


# ------------------------------------------------------------ clients


def test_hugging_face_datasets_reads_the_png_folder_with_text_and_boxes(exported, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # nothing in ~/.cache, nothing from the network
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    datasets = pytest.importorskip("datasets")
    root, made = exported
    indices, images, labels, boxes = made["png"]
    train = datasets.load_dataset("imagefolder", data_dir=str(root / "png"), cache_dir=str(tmp_path / "cache"),
                                  split="train")
    assert len(train) == len(indices)  # preview.png is not a sample: it has no metadata line
    assert train.features["text"].dtype == "string"
    assert train["text"] == labels  # strings, leading zeros kept
    assert train["boxes"] == [boxes[k, : len(label)].tolist() for k, label in enumerate(labels)]
    for k in (0, len(indices) - 1):
        np.testing.assert_array_equal(np.asarray(train[k]["image"]), images[k])


def test_webdataset_reads_the_shards_as_png_txt_and_json_per_key(exported):
    wds = pytest.importorskip("webdataset")
    root, made = exported
    indices, images, labels, boxes = made["tar"]
    shards = [str(p) for p in sorted((root / "tar").glob("shard-*.tar"))]
    samples = list(wds.WebDataset(shards, shardshuffle=False))
    assert [s["__key__"] for s in samples] == [f"{i:08d}" for i in indices]
    for k, sample in enumerate(samples):
        assert {"png", "txt", "json"} <= set(sample)
        assert sample["txt"].decode() == labels[k]
        assert json.loads(sample["json"]) == {"text": labels[k], "boxes": boxes[k, : len(labels[k])].tolist()}
    np.testing.assert_array_equal(iio.imread(samples[-1]["png"]), images[-1])


# ------------------------------------------------------- box correctness


def _check_boxes_on_pixels(image: np.ndarray, boxes: list[list[int]], *, tight: bool) -> None:
    """No ink (pixel < 255) outside every box; ink in each box; with ``tight``, each connected
    piece of ink lies in one box, and the ink in each box spans it exactly."""
    from scipy import ndimage

    height, width = image.shape
    ink = image < 255
    union = np.zeros_like(ink)
    for x0, y0, x1, y1 in boxes:
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height, boxes
        assert ink[y0:y1, x0:x1].any(), boxes  # a box for every digit drawn
        union[y0:y1, x0:x1] = True
    assert not (ink & ~union).any(), (boxes, np.argwhere(ink & ~union)[:5])
    assert [b[0] for b in boxes] == sorted(b[0] for b in boxes)  # reading order
    if not tight:
        return
    pieces, _ = ndimage.label(ink, structure=np.ones((3, 3)))
    spans = [[None] for _ in boxes]
    for piece in ndimage.find_objects(pieces):
        rows, cols = piece
        owner = [k for k, (x0, y0, x1, y1) in enumerate(boxes)
                 if x0 <= cols.start and cols.stop <= x1 and y0 <= rows.start and rows.stop <= y1]
        assert len(owner) == 1, (boxes, piece)  # inside exactly one digit's box
        span = [cols.start, rows.start, cols.stop, rows.stop]
        old = spans[owner[0]][0]
        spans[owner[0]][0] = span if old is None else [min(old[0], span[0]), min(old[1], span[1]),
                                                      max(old[2], span[2]), max(old[3], span[3])]
    assert [s[0] for s in spans] == boxes  # the ink reaches each box's every edge


@pytest.mark.parametrize("options, tight", [
    ({"fit": "pad", "align": "random"}, True),  # digits at their size, 2..6 px apart: each box is exact
    ({"fit": "stretch", "align": "center"}, False),  # resampled: the ink stays inside the boxes
])
def test_ink_lies_in_the_boxes_of_png_files_read_back(tmp_path, source, options, tight):
    spacing = (2, 6) if tight else (0, 6)
    plan = plan_dataset(300, (2, 5), spacing, 180 if tight else 120, seed=5, dtype="uint8", **options)
    out = tmp_path / "png"
    export_dataset(out, plan, source, progress=False)
    rows = [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]
    assert len(rows) == 300
    for row in rows:
        assert len(row["boxes"]) == len(row["text"])
        _check_boxes_on_pixels(iio.imread(out / row["file_name"]), row["boxes"], tight=tight)


@pytest.mark.skipif(not (REAL_MNIST / "t10k-images-idx3-ubyte.gz").is_file(), reason="real MNIST files not found")
def test_ink_lies_in_the_boxes_with_real_mnist_digits(tmp_path):
    real = mnistdata.load("test", data_home=tmp_path / "cache", mirrors=REAL_MNIST.as_uri(), progress=False)
    plan = plan_dataset(200, (3, 6), (2, 8), 230, seed=8, dtype="uint8", fit="pad", align="random", split="test")
    out = tmp_path / "real"
    export_dataset(out, plan, real, progress=False)
    for line in (out / "metadata.jsonl").read_text().splitlines():
        row = json.loads(line)
        _check_boxes_on_pixels(iio.imread(out / row["file_name"]), row["boxes"], tight=False)


# ------------------------------------------------------------ protocol


def test_each_format_is_a_writer_and_expected_files_are_exactly_the_files_written(exported):
    root, _ = exported
    for fmt in FORMATS:
        assert issubclass(WRITERS[fmt], Writer)
        manifest = json.loads((root / fmt / "manifest.json").read_text())
        on_disk = set(tree(root / fmt)) - {"SHA256SUMS"}
        assert set(expected_files(manifest)) == on_disk
        sums = {line.split("  ")[1] for line in (root / fmt / "SHA256SUMS").read_text().splitlines()}
        assert sums == on_disk  # every file recorded, the new ones too
        assert manifest["dataset"]["folder_layout"] == FOLDER_LAYOUT
        assert (manifest["dataset"]["fit"], manifest["dataset"]["align"], manifest["dataset"]["epoch"]) == (
            "pad", "random", 0)
    assert "metadata.jsonl" in expected_files(json.loads((root / "png" / "manifest.json").read_text()))


@pytest.mark.parametrize("fmt, pieces, kept", [
    ("png", 2, 512 - 37),  # two whole pieces of images are kept
    ("tar", 4, SAMPLES_PER_TAR),  # shard 0 is whole after its fourth chunk
    ("npz", 1, 0),  # one file: nothing to keep
    pytest.param("lmdb", 1, 0, marks=pytest.mark.skipif(not _installed("lmdb"), reason="needs lmdb")),
])
def test_a_killed_export_resumed_is_byte_identical_new_files_included(tmp_path, source, exported, fmt, pieces,
                                                                      kept, monkeypatch):
    root, _ = exported
    plan, out = make_plan(), tmp_path / fmt
    writer, calls = WRITERS[fmt], []
    real = writer.write

    def write_then_die(self, batch):
        calls.append(1)
        if len(calls) > pieces:
            raise KeyboardInterrupt
        return real(self, batch)

    monkeypatch.setattr(writer, "write", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        export_dataset(out, plan, source, fmt=fmt, indices=INDICES[fmt], progress=False)
    monkeypatch.setattr(writer, "write", real)
    assert not (out / "labels.csv").exists() and not (out / "metadata.jsonl").exists()
    summary = export_dataset(out, plan, source, fmt=fmt, indices=INDICES[fmt], workers=2, resume=True,
                             progress=False)
    assert summary["written"] == len(INDICES[fmt]) - kept
    assert tree(out) == tree(root / fmt)
    assert verify_dataset(out) == []


def test_png_resume_remakes_only_the_damaged_images_of_a_block_and_logs_each(tmp_path, source, exported, caplog):
    # Two damaged images in one block of 256: those two are written again, the block's other
    # images stay the very same files (inode), and each remade file gets its own log line.
    root, _ = exported
    out = tmp_path / "png"
    shutil.copytree(root / "png", out)
    truncated, changed = out / "images" / "00000300.png", out / "images" / "00000400.png"
    truncated.write_bytes(truncated.read_bytes()[:40])
    data = bytearray(changed.read_bytes())
    data[60] ^= 0xFF
    changed.write_bytes(bytes(data))
    (out / "labels.csv").unlink()  # the index files are made again whole
    inodes = {p.name: p.stat().st_ino for p in (out / "images").iterdir()}
    with caplog.at_level("INFO", logger="mnist_dataset_generator"):
        summary = export_dataset(out, make_plan(), source, fmt="png", indices=INDICES["png"], resume=True,
                                 progress=False)
    assert tree(out) == tree(root / "png")
    assert verify_dataset(out) == []
    after = {p.name: p.stat().st_ino for p in (out / "images").iterdir()}
    remade = {name for name in inodes if after[name] != inodes[name]}
    assert remade == {"00000300.png", "00000400.png"}
    lines = [r.getMessage() for r in caplog.records if "it is made again" in r.getMessage()]
    assert lines == ["images/00000300.png: truncated or changed; it is made again",
                     "images/00000400.png: truncated or changed; it is made again"]
    assert summary["written"] == 2


def test_a_late_error_rolls_back_every_file_of_every_format(tmp_path, source):
    calls = []

    def late_nan(img):
        calls.append(1)
        return img * np.nan if len(calls) > 3100 else img  # at sample ~1017: tar's shard 0 is written

    for fmt in FORMATS:
        calls.clear()
        plan = plan_dataset(1100, 3, (0, 4), 100, seed=2, dtype="uint8", fltrs=[late_nan])
        out = tmp_path / fmt
        out.mkdir()
        with pytest.raises(ValueError, match="NaN"):
            export_dataset(out, plan, source, fmt=fmt, progress=False)
        assert sorted(p.name for p in out.rglob("*") if p.name != ".mnist-export.lock") == [], fmt


# --------------------------------------------------- verify and refusals


DATASET = ["--count", "300", "--length", "2-5", "-w", "120", "-s", "0,6", "--seed", "3", "-q"]


@pytest.fixture(scope="module")
def finished_png(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("finished-png")
    result = run(*DATASET, "--output-dir", root / "png", "-d", data_dir, cwd=root)
    assert result.returncode == 0, result.stderr
    return root / "png"


def test_verify_detects_one_changed_box_in_metadata_jsonl(tmp_path, finished_png):
    out = tmp_path / "png"
    shutil.copytree(finished_png, out)
    assert run("--verify", out, cwd=tmp_path).returncode == 0
    lines = (out / "metadata.jsonl").read_text().splitlines(keepends=True)
    row = json.loads(lines[7])
    row["boxes"][0][2] += 1
    lines[7] = json.dumps(row, separators=(",", ":")) + "\n"
    (out / "metadata.jsonl").write_text("".join(lines))
    bad = run("--verify", out, cwd=tmp_path)
    assert bad.returncode == 1 and bad.stdout.splitlines() == [bad.stdout.splitlines()[0]]
    assert bad.stdout.startswith("metadata.jsonl: FAILED (sha256"), bad.stdout


def test_a_foreign_metadata_jsonl_is_refused_and_left_alone(tmp_path, data_dir):
    # In a folder of the user's, and beside a finished npz export (whose record does not list it).
    plain, npz = tmp_path / "mine", tmp_path / "npz"
    plain.mkdir()
    assert run(*DATASET, "--format", "npz", "--output-dir", npz, "-d", data_dir, cwd=tmp_path).returncode == 0
    for folder, modes in ((plain, ["--force"]), (npz, ["--force", "--resume"])):
        (folder / "metadata.jsonl").write_text("my own\n")
        before = tree(folder)
        for mode in modes:
            result = run(*DATASET, "--format", "npz", mode, "--output-dir", folder, "-d", data_dir, cwd=tmp_path)
            assert result.returncode == 2
            assert "holds files this tool did not write: metadata.jsonl" in one_line(result)
        assert tree(folder) == before


def test_a_folder_of_the_previous_layout_is_not_resumed_but_can_be_forced(tmp_path, data_dir, finished_png):
    out = tmp_path / "old"
    shutil.copytree(finished_png, out)
    manifest = json.loads((out / "manifest.json").read_text())
    for key in ("folder_layout", "fit", "align", "epoch"):  # what 0.4.0 did not record
        del manifest["dataset"][key]
    manifest["version"], manifest["complete"] = "0.4.0", False
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / "metadata.jsonl").unlink()
    before = tree(out)
    result = run(*DATASET, "--resume", "--output-dir", out, "-d", data_dir, cwd=tmp_path)
    assert result.returncode == 2
    line = one_line(result)
    assert f"{out} was made by an older version of this tool (0.4.0, before boxes)" in line
    assert f"folder layout {FOLDER_LAYOUT!r}" in line and line.endswith("use --force or another folder")
    assert tree(out) == before
    forced = run(*DATASET, "--force", "--output-dir", out, "-d", data_dir, cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert tree(out) == tree(finished_png) and verify_dataset(out) == []
