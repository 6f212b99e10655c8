"""What the trainers people use read: formats as one class each, tar shard sizes, LMDB, annotations."""

from __future__ import annotations

import contextlib
import json
import tarfile

import numpy as np
import pytest

from conftest import one_line, run_generator, tree
from mnist_dataset_generator import mnistdata
from mnist_dataset_generator.cli import generator_main
from mnist_dataset_generator.dataset import plan_dataset
from mnist_dataset_generator.export.exporter import Options, export_dataset, shard_range
from mnist_dataset_generator.export.folder import is_ours
from mnist_dataset_generator.export.verify import verify_dataset
from mnist_dataset_generator.export.writers import WRITERS, Writer, register
from mnist_dataset_generator.making import make_images

run = run_generator


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return mnistdata.write_test_data(tmp_path_factory.mktemp("trainers-data"), 300, 60, seed=43)


@pytest.fixture(scope="module")
def source(data_dir):
    return mnistdata.load("train", data_home=data_dir)


def make_plan(count=250, **options):
    options = {"dtype": "uint8", **options}
    return plan_dataset(count, (2, 5), (0, 6), 120, seed=29, **options)


@contextlib.contextmanager
def killed_after_one_batch(monkeypatch, writer):
    """``writer`` writes its first batch, then the run is interrupted (as by Ctrl-C)."""
    real, calls = writer.write, []

    def write_then_die(self, batch):
        calls.append(1)
        if len(calls) > 1:
            raise KeyboardInterrupt
        return real(self, batch)

    monkeypatch.setattr(writer, "write", write_then_die)
    try:
        yield
    finally:
        monkeypatch.setattr(writer, "write", real)


def made(plan, source, indices):
    images = np.empty((len(indices), plan.height, plan.width), np.uint8)
    labels, boxes = make_images(plan, source, indices, images, boxes=True)
    return images, labels, boxes


# ------------------------------------------------------- a format is one class


@register
class RowsWriter(Writer):
    """A format of the tests' own: one JSON row per sample, no pixels."""

    format = "rows-test"
    summary = "rows.jsonl: one JSON row per sample"
    patterns = (r"rows\.jsonl",)
    index_files = ("rows.jsonl",)
    kept_boxes = True

    @classmethod
    def files(cls, indices, options):
        return []

    def open(self, journal):
        super().open(journal)
        self._open_stream("rows.jsonl")

    def _put(self, batch):
        pass

    def _describe(self, batch):
        super()._describe(batch)
        self._streams["rows.jsonl"].out.write("".join(
            json.dumps({"i": r.index, "text": r.label, "boxes": r.boxes.tolist()}) + "\n"
            for r in batch.records()).encode())


def test_a_format_declared_as_one_class_is_offered_written_verified_and_owned(tmp_path, data_dir, capsys):
    out = tmp_path / "rows"
    argv = ["--count", "40", "--length", "2-4", "-w", "100", "--seed", "5", "-q", "-d", str(data_dir),
            "--output-dir", str(out)]
    assert generator_main([*argv, "--format", "rows-test"]) == 0
    rows = [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()]
    assert [r["i"] for r in rows] == list(range(40))
    assert set(tree(out)) == {"SHA256SUMS", "labels.csv", "preview.png", "rows.jsonl"}
    assert verify_dataset(out) == []
    assert is_ours("rows.jsonl") and not is_ours("rows.jsonl.bak")
    # the folder's refusals and clean-up know its file as they know the built-in ones
    assert generator_main([*argv, "--format", "rows-test"]) == 2
    assert "is not empty" in capsys.readouterr().err
    (out / ".rows.jsonl.0123456789ab.part").write_text("left by a kill")
    assert generator_main([*argv, "--format", "rows-test", "--force"]) == 0
    assert not (out / ".rows.jsonl.0123456789ab.part").exists()
    assert verify_dataset(out) == []


def test_the_registry_refuses_a_format_without_a_name_or_whose_index_files_are_not_declared():
    with pytest.raises(ValueError, match="must be a lower-case name"):
        register(type("Nameless", (RowsWriter,), {"format": "Bad Name"}))
    with pytest.raises(ValueError, match="already registered by RowsWriter"):
        register(type("Again", (RowsWriter,), {}))
    with pytest.raises(ValueError, match="index file 'other.csv' matches none of its patterns"):
        register(type("Undeclared", (RowsWriter,), {"format": "undeclared-test", "index_files": ("other.csv",)}))
    assert "undeclared-test" not in WRITERS


# ----------------------------------------------------------- tar shard size


def test_shard_size_sets_the_samples_of_each_tar_shard_and_the_split_between_machines(tmp_path, source, data_dir):
    plan = make_plan()
    options = Options(shard_size=100)
    export_dataset(tmp_path / "tar", plan, source, fmt="tar", options=options, progress=False)
    shards = sorted(p.name for p in (tmp_path / "tar").glob("shard-*.tar"))
    assert shards == ["shard-000000.tar", "shard-000001.tar", "shard-000002.tar"]
    images, labels, _ = made(plan, source, range(250))
    import imageio.v3 as iio

    seen = []
    for shard in shards:
        with tarfile.open(tmp_path / "tar" / shard) as tar:
            keys = [m.name.removesuffix(".png") for m in tar.getmembers() if m.name.endswith(".png")]
            seen.append(len(keys))
            for key in keys[::37]:
                np.testing.assert_array_equal(iio.imread(tar.extractfile(key + ".png").read()), images[int(key)])
                assert tar.extractfile(key + ".txt").read().decode() == labels[int(key)]
    assert seen == [100, 100, 50]
    manifest = json.loads((tmp_path / "tar" / "manifest.json").read_text())
    assert manifest["dataset"]["samples_per_shard"] == 100
    assert verify_dataset(tmp_path / "tar") == []
    assert verify_dataset(tmp_path / "tar", deep=True, data_home=data_dir) == []
    assert [shard_range(250, (i, 2), "tar", options) for i in range(2)] == [range(0, 100), range(100, 250)]


def test_shard_size_from_the_cli_is_kept_by_a_resume_and_refused_where_it_does_not_apply(tmp_path, data_dir):
    base = ["--count", "30", "--length", "2", "-w", "60", "--seed", "3", "-q", "-d", data_dir]
    out = tmp_path / "tar"
    result = run(*base, "--format", "tar", "--shard-size", "7", "--output-dir", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(list(out.glob("shard-*.tar"))) == 5
    (out / "shard-000004.tar").unlink()
    again = run(*base, "--format", "tar", "--shard-size", "7", "--output-dir", out, "--resume", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert len(list(out.glob("shard-*.tar"))) == 5 and verify_dataset(out) == []
    other = run(*base, "--format", "tar", "--shard-size", "8", "--output-dir", out, "--resume", cwd=tmp_path)
    assert other.returncode == 2 and "differs in: samples_per_shard" in one_line(other)
    for bad, why in ((["--format", "png", "--shard-size", "7"], "--shard-size applies to --format tar only"),
                     (["--format", "tar", "--shard-size", "0"], "need 1..10000000, got '0'")):
        result = run(*base, *bad, "--output-dir", tmp_path / "never", cwd=tmp_path)
        assert result.returncode == 2 and why in one_line(result), result.stderr
        assert not (tmp_path / "never").exists()


# --------------------------------------------------------------------- LMDB



def read_lmdb_as_ocr_trainers_do(root):
    """clovaai deep-text-recognition-benchmark's LmdbDataset (PARSeq's is the same): the folder is the
    environment, num-samples, then image-%09d / label-%09d from 1."""
    import io

    import lmdb
    from PIL import Image

    env = lmdb.open(str(root), max_readers=32, readonly=True, lock=False, readahead=False, meminit=False)
    with env.begin(write=False) as txn:
        n = int(txn.get(b"num-samples"))
        samples = []
        for index in range(1, n + 1):
            label = txn.get(b"label-%09d" % index).decode("utf-8")
            image = Image.open(io.BytesIO(txn.get(b"image-%09d" % index))).convert("L")
            boxes = json.loads(txn.get(b"boxes-%09d" % index))
            samples.append((np.asarray(image), label, boxes))
    env.close()
    return samples


def test_lmdb_holds_what_the_ocr_trainers_read_numbered_from_one(tmp_path, source, data_dir):
    pytest.importorskip("lmdb")
    plan, indices = make_plan(), range(40, 250)
    out = tmp_path / "lmdb"
    export_dataset(out, plan, source, fmt="lmdb", indices=indices, workers=2, progress=False)
    images, labels, boxes = made(plan, source, indices)
    samples = read_lmdb_as_ocr_trainers_do(out)
    assert len(samples) == len(indices)
    for k, (image, label, box) in enumerate(samples):
        np.testing.assert_array_equal(image, images[k])
        assert label == labels[k] and box == boxes[k, :len(label)].tolist()
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "SHA256SUMS", "data.mdb", "labels.csv", "manifest.json", "preview.png"]
    assert verify_dataset(out) == [] and verify_dataset(out, deep=True, data_home=data_dir) == []
    # the same seed makes the same database byte for byte, whatever the workers
    export_dataset(tmp_path / "again", plan, source, fmt="lmdb", indices=indices, workers=1, progress=False)
    assert tree(tmp_path / "again") == tree(out)


def test_lmdb_a_reader_lock_file_is_tolerated_and_an_edit_is_caught(tmp_path, source, data_dir):
    lmdb = pytest.importorskip("lmdb")
    out = tmp_path / "lmdb"
    export_dataset(out, make_plan(30), source, fmt="lmdb", progress=False)
    env = lmdb.open(str(out), readonly=True)  # default locking: leaves lock.mdb beside data.mdb
    env.close()
    assert (out / "lock.mdb").is_file()
    assert verify_dataset(out) == []
    env = lmdb.open(str(out))
    with env.begin(write=True) as txn:
        txn.put(b"label-000000003", b"999")
    env.close()
    problems = verify_dataset(out)
    assert [p.path for p in problems] == ["data.mdb"] and "recorded" in problems[0].reason


def test_lmdb_killed_leaves_no_database_and_a_resume_finishes_it_identically(tmp_path, source, monkeypatch):
    pytest.importorskip("lmdb")
    from mnist_dataset_generator.export.writers import LmdbWriter

    plan, out = make_plan(600), tmp_path / "killed"  # three chunks: killed after the first
    export_dataset(tmp_path / "whole", plan, source, fmt="lmdb", progress=False)
    with killed_after_one_batch(monkeypatch, LmdbWriter), pytest.raises(KeyboardInterrupt):
        export_dataset(out, plan, source, fmt="lmdb", progress=False)
    assert not (out / "data.mdb").exists() and not list(out.glob(".data.mdb.*"))
    export_dataset(out, plan, source, fmt="lmdb", resume=True, progress=False)
    assert tree(out) == tree(tmp_path / "whole") and verify_dataset(out) == []


def test_lmdb_never_replaces_a_database_it_did_not_write(tmp_path, data_dir):
    pytest.importorskip("lmdb")
    out = tmp_path / "theirs"
    out.mkdir()
    (out / "data.mdb").write_bytes(b"someone's database")
    base = ["--count", "10", "--length", "3", "--seed", "1", "-q", "-d", data_dir, "--format", "lmdb",
            "--output-dir", out]
    for extra in ((), ("--force",)):
        result = run(*base, *extra, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert (out / "data.mdb").read_bytes() == b"someone's database"
    assert "data.mdb" in one_line(result) and "never replaced" in one_line(result)


def test_lmdb_without_the_package_is_one_line_saying_what_to_install(tmp_path, data_dir):
    import subprocess
    import sys

    code = ("import sys; sys.modules['lmdb'] = None; from mnist_dataset_generator.cli import generator_main; "
            "sys.exit(generator_main(sys.argv[1:]))")
    result = subprocess.run([sys.executable, "-c", code, "--count", "5", "--format", "lmdb", "-d", str(data_dir),
                             "--output-dir", str(tmp_path / "never")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert one_line(result).endswith("format lmdb needs the lmdb package: pip install "
                                     "'mnist_dataset_generator[lmdb]' (or pip install lmdb)")
    assert not (tmp_path / "never").exists()


# -------------------------------------------------------------- annotations


@pytest.fixture(scope="module")
def annotated(tmp_path_factory, source):
    root = tmp_path_factory.mktemp("annotated")
    plan = plan_dataset(600, (2, 5), (-6, 4), 120, seed=29, dtype="uint8", fit="pad", align="random")
    indices = range(20, 600)
    options = Options(annotations=("yolo", "gt", "coco"))
    export_dataset(root / "png", plan, source, fmt="png", options=options, indices=indices, workers=2,
                   progress=False)
    return root / "png", plan, indices, made(plan, source, indices)


def visible(boxes):
    return [b for b in boxes if b[2] > b[0] and b[3] > b[1]]


def test_coco_annotations_load_in_pycocotools_with_every_visible_character_boxed(annotated):
    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO

    out, plan, indices, (images, labels, boxes) = annotated
    coco = COCO(str(out / "coco.json"))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == list("0123456789")
    assert sorted(coco.getImgIds()) == list(indices)
    hidden = 0
    for k, i in enumerate(indices):
        info = coco.loadImgs(i)[0]
        assert (info["file_name"], info["width"], info["height"]) == (f"images/{i:08d}.png", plan.width, plan.height)
        assert (out / info["file_name"]).is_file()
        anns = coco.loadAnns(coco.getAnnIds(imgIds=i))
        expected = [(char, box) for char, box in zip(labels[k], boxes[k, :len(labels[k])].tolist(), strict=True)
                    if box[2] > box[0] and box[3] > box[1]]
        hidden += len(labels[k]) - len(expected)
        got = [(coco.loadCats(a["category_id"])[0]["name"],
                [a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]) for a in anns]
        assert got == expected
        assert all(a["area"] == a["bbox"][2] * a["bbox"][3] and a["iscrowd"] == 0 for a in anns)
    assert len({a["id"] for a in coco.dataset["annotations"]}) == len(coco.dataset["annotations"])


def test_coco_annotations_load_in_torchvision_coco_detection(annotated):
    datasets = pytest.importorskip("torchvision.datasets")
    pytest.importorskip("pycocotools")
    out, plan, indices, (images, labels, boxes) = annotated
    ds = datasets.CocoDetection(str(out), str(out / "coco.json"))
    image, target = ds[3]
    k = ds.ids[3] - indices.start
    np.testing.assert_array_equal(np.asarray(image.convert("L")), images[k])
    assert [t["bbox"][0] for t in target] == [b[0] for b in visible(boxes[k, :len(labels[k])].tolist())]


def test_yolo_labels_give_back_each_box_and_data_yaml_names_the_classes(annotated):
    yaml = pytest.importorskip("yaml")
    out, plan, indices, (images, labels, boxes) = annotated
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["names"] == list("0123456789") and data["nc"] == 10
    assert (data["train"], data["val"]) == ("images", "images")
    for k, i in enumerate(indices):
        lines = (out / "labels" / f"{i:08d}.txt").read_text().splitlines()
        expected = [(int(char), box) for char, box in zip(labels[k], boxes[k, :len(labels[k])].tolist(), strict=True)
                    if box[2] > box[0] and box[3] > box[1]]
        assert len(lines) == len(expected)
        for line, (cls, (x0, y0, x1, y1)) in zip(lines, expected, strict=True):
            c, cx, cy, w, h = line.split()
            cx, cy, w, h = float(cx) * plan.width, float(cy) * plan.height, float(w) * plan.width, float(h) * plan.height
            assert int(c) == cls
            assert [round(cx - w / 2), round(cy - h / 2), round(cx + w / 2), round(cy + h / 2)] == [x0, y0, x1, y1]


def test_gt_txt_pairs_each_image_path_with_its_label(annotated):
    out, plan, indices, (images, labels, boxes) = annotated
    rows = [line.split("\t") for line in (out / "gt.txt").read_text().splitlines()]
    assert rows == [[f"images/{i:08d}.png", label] for i, label in zip(indices, labels, strict=True)]


def test_annotated_folders_verify_and_a_killed_run_resumes_to_the_same_files(annotated, tmp_path, source, data_dir,
                                                                            monkeypatch):
    out, plan, indices, _ = annotated
    assert verify_dataset(out) == [] and verify_dataset(out, deep=True, data_home=data_dir) == []
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["dataset"]["annotations"] == ["coco", "gt", "yolo"]
    from mnist_dataset_generator.export.writers import PngWriter

    options = Options(annotations=("coco", "yolo", "gt"))
    with killed_after_one_batch(monkeypatch, PngWriter), pytest.raises(KeyboardInterrupt):
        export_dataset(tmp_path / "png", plan, source, fmt="png", options=options, indices=indices, progress=False)
    assert not (tmp_path / "png" / "coco.json").exists() and not (tmp_path / "png" / "gt.txt").exists()
    export_dataset(tmp_path / "png", plan, source, fmt="png", options=options, indices=indices, resume=True,
                   progress=False)
    assert tree(tmp_path / "png") == tree(out)
    with pytest.raises(ValueError, match="differs in: annotations"):
        export_dataset(tmp_path / "png", plan, source, fmt="png", indices=indices, resume=True, progress=False)


def test_coco_names_samples_of_other_formats_by_their_key(tmp_path, source):
    plan = make_plan(30)
    export_dataset(tmp_path / "tar", plan, source, fmt="tar", options=Options(annotations=("coco",)), progress=False)
    coco = json.loads((tmp_path / "tar" / "coco.json").read_text())
    assert [image["file_name"] for image in coco["images"]] == [f"{i:08d}" for i in range(30)]
    assert verify_dataset(tmp_path / "tar") == []


@pytest.mark.parametrize("args, message", [
    (["--format", "npz", "--annotations", "yolo"], ("yolo annotations name image files: they go with --format png, "
                                                    "not npz")),
    (["--annotations", "coco,voc"], "unknown name 'voc'; choose from coco, yolo, gt"),
    (["--format", "tar", "--annotations", "gt"], "gt annotations name image files: they go with --format png, not tar"),
])
def test_annotations_a_format_cannot_hold_are_refused_in_one_line(tmp_path, data_dir, args, message):
    result = run("--count", "5", "-d", data_dir, "--output-dir", tmp_path / "never", *args, cwd=tmp_path)
    assert result.returncode == 2 and message in one_line(result), result.stderr
    assert not (tmp_path / "never").exists()


# ------------------------------------------------------------ torch batches


def test_collate_ctc_gives_what_ctc_loss_takes_from_a_dataloader(data_dir):
    torch = pytest.importorskip("torch")
    from mnist_dataset_generator import SequenceDataset, collate_ctc

    ds = SequenceDataset(40, (2, 6), (0, 6), 140, seed=8, data_home=data_dir, dtype="uint8")
    loader = torch.utils.data.DataLoader(ds, batch_size=8, collate_fn=collate_ctc, num_workers=2)
    for b, (images, targets, lengths) in enumerate(loader):
        items = [ds[i] for i in range(8 * b, 8 * b + 8)]
        assert images.dtype == torch.float32 and tuple(images.shape) == (8, 1, 28, 140)
        np.testing.assert_array_equal(images[:, 0].numpy(), np.stack([im for im, _ in items]) / np.float32(255))
        assert lengths.tolist() == [len(label) for _, label in items]
        assert targets.tolist() == [int(c) + 1 for _, label in items for c in label]
    log_probs = torch.randn(35, 8, 11).log_softmax(2)
    loss = torch.nn.CTCLoss(blank=0)(log_probs, targets, torch.full((8,), 35), lengths)
    assert torch.isfinite(loss)


def test_collate_ctc_channels_alphabet_and_errors(data_dir):
    torch = pytest.importorskip("torch")
    from functools import partial

    from mnist_dataset_generator import SequenceDataset, collate_ctc

    ds = SequenceDataset(4, 3, (0, 4), 90, seed=2, data_home=data_dir, dtype="uint8")
    batch = [ds[i] for i in range(4)]
    assert tuple(collate_ctc(batch, channels="last")[0].shape) == (4, 28, 90, 1)
    assert tuple(collate_ctc(batch, channels=None)[0].shape) == (4, 28, 90)
    as_float = [(torch.from_numpy(im.astype(np.float32) / 255)[None], label) for im, label in batch]
    torch.testing.assert_close(collate_ctc(as_float)[0], collate_ctc(batch)[0])  # (1, H, W) tensors kept
    reversed_alphabet = partial(collate_ctc, alphabet="9876543210")
    assert reversed_alphabet(batch)[1].tolist() == [10 - int(c) for _, label in batch for c in label]
    with pytest.raises(ValueError, match=r"^item 1 of the batch: label '1a' holds 'a', which is not in the alphabet"):
        collate_ctc([batch[0], (batch[1][0], "1a")])
    with pytest.raises(ValueError, match="images differ in shape"):
        collate_ctc([batch[0], (batch[1][0][:, :50], "1")])


def test_collate_detection_keeps_each_images_boxes_as_a_list(data_dir):
    torch = pytest.importorskip("torch")
    from mnist_dataset_generator import SequenceDataset, collate_detection

    ds = SequenceDataset(6, (2, 5), (-8, 4), 120, seed=4, data_home=data_dir, return_boxes=True, fit="pad")
    images, targets = collate_detection([ds[i] for i in range(6)])
    assert tuple(images.shape) == (6, 1, 28, 120) and len(targets) == 6
    for i, target in enumerate(targets):
        _, label, boxes = ds[i]
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        np.testing.assert_array_equal(target["boxes"].numpy(), boxes[keep].astype(np.float32))
        assert target["labels"].tolist() == [int(c) + 1 for c, k in zip(label, keep, strict=True) if k]
        assert target["text"] == label and target["labels"].dtype == torch.int64
    with pytest.raises(ValueError, match="return_boxes=True"):
        collate_detection([ds[0][:2]])


def test_target_transform_applies_to_labels_only(data_dir):
    from mnist_dataset_generator import SequenceDataset

    plain = SequenceDataset(5, 4, (0, 4), 100, seed=1, data_home=data_dir, return_boxes=True)
    ds = SequenceDataset(5, 4, (0, 4), 100, seed=1, data_home=data_dir, return_boxes=True,
                         target_transform=lambda label: [int(c) for c in label])
    for (im, label, boxes), (im2, target, boxes2) in zip(ds.__getitems__(range(5)), plain.__getitems__(range(5)),
                                                        strict=True):
        np.testing.assert_array_equal(im, im2) and np.testing.assert_array_equal(boxes, boxes2)
        assert label == [int(c) for c in target]
    with pytest.raises(ValueError, match="target_transform must be callable"):
        SequenceDataset(5, 4, (0, 4), 100, seed=1, data_home=data_dir, target_transform="int")


def test_collate_without_torch_says_what_to_install():
    import subprocess
    import sys

    code = ("import sys; sys.modules['torch'] = None\nfrom mnist_dataset_generator import collate_ctc\n"
            "try:\n    collate_ctc([])\nexcept ImportError as exc:\n    print(exc)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == ("collate_ctc and collate_detection need torch: pip install "
                                     "'mnist_dataset_generator[torch]' (or pip install torch)")


# ------------------------------------------- labels that survive the readers


@pytest.fixture(scope="module")
def index_files(tmp_path_factory, source):
    """A png export with gt.txt and a tar export of labels with leading zeros, and what they hold."""
    root = tmp_path_factory.mktemp("index-files")
    plan = plan_dataset(120, (1, 4), (0, 4), 100, seed=12, dtype="uint8")
    export_dataset(root / "png", plan, source, fmt="png", options=Options(annotations=("gt", "yolo", "coco")),
                   progress=False)
    export_dataset(root / "tar", plan, source, fmt="tar", options=Options(shard_size=50), progress=False)
    export_dataset(root / "npz", plan, source, fmt="npz", progress=False)
    labels = made(plan, source, range(120))[1]
    assert sum(label.startswith("0") for label in labels) >= 5  # what the readers could lose
    return root, labels


def test_pandas_keeps_every_label_and_key_a_string_with_the_readme_recipes(index_files):
    pd = pytest.importorskip("pandas")
    root, labels = index_files
    for fmt, column, names in (("png", "filename", [f"images/{i:08d}.png" for i in range(120)]),
                               ("tar", "key", [f"{i:08d}" for i in range(120)]),
                               ("npz", "key", [f"{i:08d}" for i in range(120)])):
        table = pd.read_csv(root / fmt / "labels.csv", dtype=str)
        assert list(table.columns) == [column, "label"]
        assert table["label"].tolist() == labels and table[column].tolist() == names
    rows = pd.read_json(root / "png" / "metadata.jsonl", lines=True, dtype=False)
    assert rows["text"].tolist() == labels
    gt = pd.read_csv(root / "png" / "gt.txt", sep="\t", header=None, names=["path", "label"], dtype=str,
                     keep_default_na=False)
    assert gt["label"].tolist() == labels
    # the key column joins back to the files: tar members KEY.png, npz rows
    keys = pd.read_csv(root / "tar" / "labels.csv", dtype=str).set_index("key")["label"]
    for shard in sorted((root / "tar").glob("shard-*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                if member.name.endswith(".txt"):
                    assert keys[member.name.removesuffix(".txt")] == tar.extractfile(member).read().decode()
    with np.load(root / "npz" / "dataset.npz") as npz:
        table = pd.read_csv(root / "npz" / "labels.csv", dtype=str)
        assert npz["labels"][table["key"].astype(int)].tolist() == table["label"].tolist()


def test_hugging_face_loaders_keep_every_label_a_string_with_the_readme_recipes(index_files):
    datasets = pytest.importorskip("datasets")
    from datasets import Features, Value

    root, labels = index_files
    csv = datasets.load_dataset("csv", data_files=str(root / "tar" / "labels.csv"), split="train",
                                features=Features({"key": Value("string"), "label": Value("string")}))
    assert csv["label"] == labels and csv["key"][:2] == ["00000000", "00000001"]
    rows = datasets.load_dataset("json", data_files=str(root / "png" / "metadata.jsonl"), split="train")
    assert rows["text"] == labels
    folder = datasets.load_dataset("imagefolder", data_dir=str(root / "png"), split="train")  # annotations beside
    assert folder["text"] == labels and len(folder) == 120


# ---------------------------------------------------- the README's recipes


def readme_recipe(name):
    import re
    from pathlib import Path

    text = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    found = re.search(rf"<!-- recipe: {name} -->\n```python\n(.*?)```", text, re.S)
    assert found, f"README.md has no recipe {name!r}"
    return compile(found[1], f"README.md recipe {name}", "exec")


def test_readme_reader_recipes_keep_every_label(tmp_path, monkeypatch, data_dir, source):
    pytest.importorskip("pandas")
    pytest.importorskip("datasets")
    plan = plan_dataset(60, (1, 4), (0, 4), 100, seed=12, dtype="uint8")
    export_dataset(tmp_path / "train", plan, source, fmt="png", options=Options(annotations=("gt",)),
                   progress=False)
    labels = made(plan, source, range(60))[1]
    assert any(label.startswith("0") for label in labels)
    monkeypatch.chdir(tmp_path)
    space = {}
    exec(readme_recipe("readers"), space)  # noqa: S102 - the README's own recipe, as a reader runs it
    assert space["labels"]["label"].tolist() == labels
    assert space["rows"]["text"].tolist() == labels and space["gt"]["label"].tolist() == labels
    assert space["table"]["label"] == labels and space["jsonl"]["text"] == labels
    assert space["images"]["text"] == labels


def test_readme_dataloader_recipe_runs_two_epochs(tmp_path, monkeypatch, data_dir):
    pytest.importorskip("torch")
    from mnist_dataset_generator.mnistdata import ENV_DATA_HOME

    monkeypatch.setenv(ENV_DATA_HOME, str(data_dir))
    monkeypatch.chdir(tmp_path)
    space = {}
    exec(readme_recipe("dataloader"), space)  # noqa: S102 - the README's own recipe, as a reader runs it
    assert space["epoch"] == 1 and space["images"].shape[1:] == (1, 28, 224)
    assert space["train"].epoch == 1 and bool(space["loss"].isfinite())


def test_readme_keras_recipe_reads_an_npz_export(tmp_path, monkeypatch, source):
    pytest.importorskip("tensorflow")
    plan = plan_dataset(50, (3, 8), (-2, 8), 224, seed=5, dtype="uint8")
    export_dataset(tmp_path / "train", plan, source, fmt="npz", progress=False)
    labels = made(plan, source, range(50))[1]
    monkeypatch.chdir(tmp_path)
    space = {}
    exec(readme_recipe("keras"), space)  # noqa: S102 - the README's own recipe, as a reader runs it
    classes = space["classes"]
    assert [[int(c) - 1 for c in row if c] for row in classes] == [[int(c) for c in label] for label in labels]
    assert tuple(space["x"].shape) == (32, 28, 224, 1) and float(space["x"].numpy().max()) == 1.0


# ------------------------------------------------------------------ presets


def test_the_standard_preset_is_its_filters_written_out_everywhere(tmp_path, data_dir):
    from mnist_dataset_generator import Recipe, SequenceDataset, from_spec
    from mnist_dataset_generator.compose.filterspec import PRESETS, expand

    chain = PRESETS["standard"][0]
    assert expand("crop,standard") == f"crop,{chain}"
    assert Recipe(length=3, fltrs="standard").fltrs == chain
    assert [f.func.__name__ for f in from_spec("standard")] == [f.func.__name__ for f in from_spec(chain)]
    named = SequenceDataset(6, 4, (0, 4), 100, seed=3, data_home=data_dir, fltrs="standard")
    written = SequenceDataset(6, 4, (0, 4), 100, seed=3, data_home=data_dir, fltrs=chain)
    for i in range(6):
        np.testing.assert_array_equal(named[i][0], written[i][0])
    one = run("-f", "standard", "--seed", "4", "-d", data_dir, "-o", tmp_path / "a.png", "907", cwd=tmp_path)
    two = run("-f", chain, "--seed", "4", "-d", data_dir, "-o", tmp_path / "b.png", "907", cwd=tmp_path)
    assert one.returncode == two.returncode == 0, one.stderr + two.stderr
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    out = tmp_path / "set"
    assert run("--count", "5", "-f", "standard", "--seed", "1", "-q", "-d", data_dir, "--output-dir", out,
               cwd=tmp_path).returncode == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["dataset"]["recipe"]["filters"] == chain  # the filters that ran, not a name
    assert verify_dataset(out, deep=True, data_home=data_dir) == []
    listed = run("--list-filters", cwd=tmp_path)
    assert "standard" in listed.stdout and chain in listed.stdout
    bad = run("-f", "standard:p=0.5", "-d", data_dir, "-o", tmp_path / "c.png", "1", cwd=tmp_path)
    assert bad.returncode == 2 and "preset standard takes no parameters" in one_line(bad)


# ------------------------------------------------------ the training example


def test_train_crnn_example_trains_evaluates_reports_and_keeps_its_model(tmp_path, data_dir, source):
    pytest.importorskip("torch")
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parent.parent / "examples" / "train_crnn.py"
    plan = plan_dataset(25, (3, 5), (0, 4), 151, seed=9, dtype="uint8")  # odd: the model pads it
    export_dataset(tmp_path / "mine", plan, source, fmt="npz", progress=False)
    result = subprocess.run([sys.executable, script, "-d", data_dir, "--steps", "12", "--test-count", "30",
                             "--augment", "standard", "--eval", tmp_path / "mine" / "dataset.npz",
                             "--report", tmp_path / "report.json", "--out", tmp_path / "model", "--threads", "1"],
                            capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert list(report) == ["test", "independent", "hard", "dataset"]
    assert [report[k]["count"] for k in report] == [30, 30, 30, 25]
    for name, figures in report.items():
        assert 0 <= figures["accuracy"] <= 1 and figures["cer"] >= 0
        assert f"{name} " in result.stdout  # one line of figures per set
    assert (tmp_path / "model" / "crnn.pt").stat().st_size > 100_000
    assert json.loads((tmp_path / "model" / "crnn.json").read_text())["augment"] == "standard"
    (tmp_path / "not.npz").write_bytes(b"not a zip")
    bad = subprocess.run([sys.executable, script, "-d", data_dir, "--eval", tmp_path / "not.npz"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0
    assert "--eval" in bad.stderr and "not an npz export of strips" in bad.stderr


def test_deep_verify_makes_the_annotations_again_and_names_an_edited_one(tmp_path, annotated, data_dir):
    import hashlib
    import shutil

    out = tmp_path / "png"
    shutil.copytree(annotated[0], out)
    coco = json.loads((out / "coco.json").read_text())
    coco["annotations"][3]["bbox"][0] += 1  # one box moved by a pixel
    (out / "coco.json").write_text(json.dumps(coco))
    label = out / "labels" / "00000050.txt"
    label.write_text(label.read_text().replace("0.", "0.1", 1))
    lines = (out / "gt.txt").read_text().splitlines(keepends=True)
    (out / "gt.txt").write_text("".join(lines[1:2] + lines[:1] + lines[2:]))  # two rows swapped
    sums = "".join(f"{hashlib.sha256((out / rel).read_bytes()).hexdigest()}  {rel}\n"
                   for rel in (line.split("  ", 1)[1].strip()
                               for line in (out / "SHA256SUMS").read_text().splitlines())).encode()
    (out / "SHA256SUMS").write_bytes(sums)  # the record rewritten to match: checksums alone pass
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["checksums"]["sha256"] = hashlib.sha256(sums).hexdigest()
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert verify_dataset(out) == []
    problems = verify_dataset(out, deep=True, data_home=data_dir)
    assert [(p.path, p.reason) for p in problems] == [
        ("coco.json", "its coco annotations are not what the samples make"),
        ("gt.txt", "its gt annotations are not what the samples make"),
        ("labels/00000050.txt", "its yolo annotations are not what the samples make")]


def test_lmdb_grows_its_map_when_the_samples_need_more_room(tmp_path, source, monkeypatch):
    pytest.importorskip("lmdb")
    from mnist_dataset_generator.export.writers import LmdbWriter

    monkeypatch.setattr(LmdbWriter, "_map_size", lambda self: 64 * 1024)  # far too small: grown as it fills
    plan = make_plan(300)
    export_dataset(tmp_path / "lmdb", plan, source, fmt="lmdb", progress=False)
    images, labels, _ = made(plan, source, range(300))
    samples = read_lmdb_as_ocr_trainers_do(tmp_path / "lmdb")
    assert [label for _, label, _ in samples] == labels
    np.testing.assert_array_equal(np.stack([image for image, _, _ in samples]), images)


# ------------------------------------------------ found by the review of 0.7.0


def _rewrite_sums(folder):
    """What someone covering their tracks does: SHA256SUMS and the manifest's checksum made to match."""
    import hashlib

    lines = [line.split("  ", 1)[1] for line in (folder / "SHA256SUMS").read_text().splitlines()]
    sums = "".join(f"{hashlib.sha256((folder / rel).read_bytes()).hexdigest()}  {rel}\n" for rel in lines).encode()
    (folder / "SHA256SUMS").write_bytes(sums)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["checksums"]["sha256"] = hashlib.sha256(sums).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_a_crafted_lmdb_that_kills_its_reader_is_a_finding_of_deep_verify(tmp_path, source, data_dir, monkeypatch):
    pytest.importorskip("lmdb")
    from mnist_dataset_generator.export import readers

    out = tmp_path / "lmdb"
    export_dataset(out, make_plan(30), source, fmt="lmdb", progress=False)
    data = bytearray((out / "data.mdb").read_bytes())
    at = data.rindex(b"label-000000003") + len(b"label-000000003")  # the live leaf (older copies are free pages)
    data[at] = ord("9") if data[at] != ord("9") else ord("8")  # the label's first digit changed
    (out / "data.mdb").write_bytes(bytes(data))
    _rewrite_sums(out)
    assert verify_dataset(out) == []
    problems = verify_dataset(out, deep=True, data_home=data_dir)
    assert problems and all(p.path.startswith("data.mdb") for p in problems)
    # however the damage shows, a reader killed by a signal is reported, never this process killed
    monkeypatch.setattr(readers, "_PROBE", "import os, signal; os.kill(os.getpid(), signal.SIGBUS)")
    problems = verify_dataset(out, deep=True, data_home=data_dir)
    assert [str(p) for p in problems] == [
        f"data.mdb: FAILED (damaged: reading it killed the LMDB reader (signal {int(__import__('signal').SIGBUS)}))"]


def test_deep_verify_of_empty_lmdb_and_npz_ranges_passes(tmp_path, data_dir):
    for fmt in ("npz", "lmdb"):
        if fmt == "lmdb":
            pytest.importorskip("lmdb")
        out = tmp_path / fmt
        result = run("--count", "1", "--shard", "0/2", "--format", fmt, "-d", data_dir, "--output-dir", out, "-q",
                     cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert verify_dataset(out) == [] and verify_dataset(out, deep=True, data_home=data_dir) == []


def test_a_lock_mdb_is_tolerated_beside_an_lmdb_only(tmp_path, source):
    export_dataset(tmp_path / "png", make_plan(5), source, fmt="png", progress=False)
    (tmp_path / "png" / "lock.mdb").write_bytes(b"\0" * 8192)
    assert [p.path for p in verify_dataset(tmp_path / "png")] == ["lock.mdb"]


def test_a_manifest_whose_layout_fields_are_damaged_is_one_line(tmp_path, data_dir):
    out = tmp_path / "png"
    assert run("--count", "5", "-d", data_dir, "--output-dir", out, "-q", cwd=tmp_path).returncode == 0
    manifest = json.loads((out / "manifest.json").read_text())
    for field, value in (("annotations", None), ("annotations", {"coco": 1}), ("annotations", ["voc"]),
                         ("samples_per_shard", "x"), ("samples_per_shard", 0)):
        broken = {**manifest, "dataset": {**manifest["dataset"], field: value}}
        (out / "manifest.json").write_text(json.dumps(broken))
        result = run("--verify", out, cwd=tmp_path)
        assert result.returncode in (1, 2) and "Traceback" not in result.stderr, (field, value, result.stderr)
        assert "manifest.json is damaged" in result.stderr + result.stdout, (field, value)


def test_a_format_cannot_declare_files_outside_its_declared_folders():
    from mnist_dataset_generator.export.folder import declare

    with pytest.raises(ValueError, match="declare the sub-folder in folders"):
        register(type("Deep", (RowsWriter,), {"format": "deep-test", "index_files": (),
                                              "patterns": (r"sub/\d{8}\.bin",)}))
    with pytest.raises(ValueError, match="declare the sub-folder in folders"):
        declare([r"images/x/\d\.png"])
    with pytest.raises(ValueError, match="one plain name"):
        declare([], ["../up"])
    assert "deep-test" not in WRITERS
    assert not is_ours("sub/00000000.bin") and not is_ours("images/00000000.png/x")
    assert is_ours("images/00000000.png") and not is_ours("x/images/00000000.png")


def test_the_preset_is_written_out_in_the_manifests_filters_so_either_spelling_resumes(tmp_path, data_dir):
    from mnist_dataset_generator.compose.filterspec import PRESETS

    out = tmp_path / "set"
    base = ["--count", "5", "--seed", "2", "-q", "-d", data_dir, "--output-dir", out]
    assert run(*base, "-f", "standard", cwd=tmp_path).returncode == 0
    assert json.loads((out / "manifest.json").read_text())["dataset"]["filters"] == PRESETS["standard"][0]
    again = run(*base, "-f", PRESETS["standard"][0], "--resume", cwd=tmp_path)
    assert again.returncode == 0, again.stderr


def test_collate_refuses_an_image_whose_channels_are_not_where_it_was_told(data_dir):
    pytest.importorskip("torch")
    from mnist_dataset_generator import collate_ctc, collate_detection

    hwc = np.zeros((28, 100, 1), np.uint8)
    with pytest.raises(ValueError, match=r"shape \(28, 100, 1\), expected \(H, W\) or \(C, H, W\)"):
        collate_ctc([(hwc, "1")])
    assert tuple(collate_ctc([(hwc, "1")], channels="last")[0].shape) == (1, 28, 100, 1)
    with pytest.raises(ValueError, match=r"boxes of shape \(2, 2\) for the 1 characters"):
        collate_detection([(np.zeros((28, 100), np.uint8), "1", np.array([[1, 2], [5, 9]]))])
