"""Dataset export: formats read back, manifest, shards, resume, refusal, and the CLI's dataset mode."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import tarfile
import time

import imageio.v3 as iio
import numpy as np
import pytest

from conftest import REPO, run_generator
from mnist_dataset_generator import mnistdata
from mnist_dataset_generator.dataset import plan_dataset
from mnist_dataset_generator.export.exporter import (
    SAMPLES_PER_TAR,
    export_dataset,
    shard_range,
)
from mnist_dataset_generator.generator import generate_dataset


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return mnistdata.write_test_data(tmp_path_factory.mktemp("export-data"), 300, 60, seed=31)


@pytest.fixture(scope="module")
def reference(data_dir):
    """The same dataset made in memory: what every export must contain."""
    return generate_dataset(1300, (2, 5), (0, 6), 120, seed=17, data_home=data_dir)


run = run_generator


DATASET = ["--count", "1300", "--length", "2-5", "-w", "120", "-s", "0,6", "--seed", "17", "-q"]


def read_rows(folder):
    with open(folder / "labels.csv", newline="") as f:
        return list(csv.reader(f))


@pytest.mark.parametrize("fmt", ["png", "npz", "tar"])
def test_each_format_reads_back_as_the_in_memory_dataset(tmp_path, data_dir, reference, fmt):
    images, labels = reference
    out = tmp_path / "ds"
    result = run(*DATASET, "--format", fmt, "--workers", "2", "--output-dir", out, "-d", data_dir, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    expected = np.rint(images * 255).astype(np.uint8)
    rows = read_rows(out)
    assert rows[0] == (["filename", "label"] if fmt == "png" else ["key", "label"])
    assert [r[1] for r in rows[1:]] == labels
    if fmt == "png":
        for i in (0, 17, 1299):
            assert rows[i + 1][0] == f"images/{i:08d}.png"
            np.testing.assert_array_equal(iio.imread(out / rows[i + 1][0]), expected[i])
        assert len(list((out / "images").iterdir())) == 1300
    elif fmt == "npz":
        with np.load(out / "dataset.npz") as npz:
            assert npz["images"].dtype == np.uint8 and npz["labels"].tolist() == labels
            np.testing.assert_array_equal(npz["images"], expected)
    else:
        shards = sorted(out.glob("shard-*.tar"))
        assert [s.name for s in shards] == ["shard-000000.tar", "shard-000001.tar"]
        with tarfile.open(shards[1]) as tar:
            names = tar.getnames()
            assert names[:3] == [f"{SAMPLES_PER_TAR:08d}.png", f"{SAMPLES_PER_TAR:08d}.txt",
                                 f"{SAMPLES_PER_TAR:08d}.json"]
            assert len(names) == 3 * (1300 - SAMPLES_PER_TAR)
            i = SAMPLES_PER_TAR + 5
            png = tar.extractfile(f"{i:08d}.png").read()
            np.testing.assert_array_equal(iio.imread(png), expected[i])
            assert tar.extractfile(f"{i:08d}.txt").read().decode() == labels[i]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] and manifest["dataset"]["seed"] == 17 and manifest["dataset"]["count"] == 1300
    assert manifest["dataset"]["split"] == "train" and manifest["version"] and manifest["created"]
    assert manifest["arguments"]["format"] == fmt
    import hashlib
    assert manifest["labels_sha256"] == hashlib.sha256((out / "labels.csv").read_bytes()).hexdigest()
    assert iio.imread(out / "preview.png").ndim == 2
    assert not list(out.rglob(".*.part"))


@pytest.mark.parametrize("fmt", ["png", "tar"])
def test_shards_are_disjoint_and_their_union_is_the_whole(tmp_path, data_dir, fmt):
    whole = tmp_path / "whole"
    assert run(*DATASET, "--format", fmt, "--output-dir", whole, "-d", data_dir, cwd=tmp_path).returncode == 0
    rows, files = [], {}
    for i in range(3):
        part = tmp_path / f"part{i}"
        result = run(*DATASET, "--format", fmt, "--shard", f"{i}/3", "--output-dir", part, "-d", data_dir,
                     cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        rows += read_rows(part)[1:]
        for path in part.rglob("*"):
            if path.is_file() and path.suffix in (".png", ".tar") and path.name != "preview.png":
                rel = path.relative_to(part).as_posix()
                assert rel not in files  # disjoint
                files[rel] = path.read_bytes()
    assert rows == read_rows(whole)[1:]
    expected = {p.relative_to(whole).as_posix(): p.read_bytes() for p in whole.rglob("*")
                if p.is_file() and p.suffix in (".png", ".tar") and p.name != "preview.png"}
    assert files == expected


def test_shard_ranges_cover_everything_once():
    for count in (1, 7, 999, 1000, 2501):
        for n in (1, 2, 3, 8):
            for fmt in ("png", "tar"):
                parts = [shard_range(count, (i, n), fmt) for i in range(n)]
                assert [i for p in parts for i in p] == list(range(count))


def test_refuses_a_non_empty_folder_and_a_different_manifest(tmp_path, data_dir):
    out = tmp_path / "ds"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    refused = run(*DATASET, "--output-dir", out, "-d", data_dir, cwd=tmp_path)
    assert refused.returncode == 2 and "is not empty" in refused.stderr
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]
    forced = run(*DATASET, "--output-dir", out, "--force", "-d", data_dir, cwd=tmp_path)
    assert forced.returncode == 0 and (out / "mine.txt").read_text() == "keep"  # force never touches other files
    other = run(*[a if a != "17" else "18" for a in DATASET], "--output-dir", out, "--resume", "-d", data_dir,
                cwd=tmp_path)
    assert other.returncode == 2 and "holds a different dataset (differs in: seed)" in other.stderr


def test_an_export_made_under_the_per_sample_seeding_is_not_resumed(tmp_path, data_dir):
    # 0.1.0 drew each sample from its own generator; its files cannot be completed with blocks.
    out = tmp_path / "old"
    assert run(*DATASET, "--output-dir", out, "-d", data_dir, cwd=tmp_path).returncode == 0
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["dataset"]["sampling"]
    manifest["complete"] = False
    (out / "manifest.json").write_text(json.dumps(manifest))
    result = run(*DATASET, "--output-dir", out, "--resume", "-d", data_dir, cwd=tmp_path)
    assert result.returncode == 2 and "differs in: sampling" in result.stderr


def test_resume_after_simulated_interruption_matches_an_uninterrupted_run(tmp_path, data_dir):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run(*DATASET, "--output-dir", a, "-d", data_dir, cwd=tmp_path).returncode == 0
    assert run(*DATASET, "--output-dir", b, "-d", data_dir, cwd=tmp_path).returncode == 0
    # interrupt b: some images gone, a partial file left, manifest not complete
    for i in (3, 400, 1299):
        (b / "images" / f"{i:08d}.png").unlink()
    (b / "images" / ".00000003.png.0123456789ab.part").write_bytes(b"half")
    (b / "labels.csv").unlink()
    manifest = json.loads((b / "manifest.json").read_text())
    manifest["complete"] = False
    (b / "manifest.json").write_text(json.dumps(manifest))
    result = run(*DATASET[:-3], "-q", "--output-dir", b, "--resume", "-d", data_dir, cwd=tmp_path)  # no --seed
    assert result.returncode == 0, result.stderr
    for path in a.rglob("*"):
        if path.is_file() and path.name != "manifest.json":
            assert (b / path.relative_to(a)).read_bytes() == path.read_bytes(), path
    assert not list(b.rglob(".*.part"))


def test_sigkill_at_a_random_moment_leaves_complete_files_and_resume_finishes(tmp_path, data_dir):
    args = [*DATASET[:1], "3000", *DATASET[2:], "--workers", "2"]
    out, ref = tmp_path / "killed", tmp_path / "ref"
    proc = subprocess.Popen([sys.executable, str(REPO / "generator.py"), *map(str, args), "--output-dir", str(out),
                             "-d", str(data_dir)], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(float(np.random.default_rng().uniform(0.6, 1.5)))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for png in (out / "images").glob("*.png"):
        assert iio.imread(png).shape == (28, 120)  # every file under a final name is whole
    assert run(*args, "--output-dir", out, "--resume", "-d", data_dir, cwd=tmp_path).returncode == 0
    assert run(*args, "--output-dir", ref, "-d", data_dir, cwd=tmp_path).returncode == 0
    for path in ref.rglob("*"):
        if path.is_file() and path.name != "manifest.json":
            assert (out / path.relative_to(ref)).read_bytes() == path.read_bytes(), path


def test_library_export_bounded_memory_path_and_npz_dtype(tmp_path, data_dir):
    plan = plan_dataset(600, 3, (1, 1), None, seed=2, dtype="uint8")
    source = mnistdata.load("train", data_home=data_dir)
    summary = export_dataset(tmp_path / "u8", plan, source, fmt="npz", progress=False)
    with np.load(tmp_path / "u8" / "dataset.npz") as npz:
        assert npz["images"].dtype == np.uint8 and npz["images"].shape == (600, 28, 86)
    assert summary["written"] == 600 and summary["complete"]


@pytest.mark.parametrize("args, words", [
    (["--count", "0", "--output-dir", "x"], "argument --count: must be at least 1"),
    (["--count", "-1", "--output-dir", "x"], "argument --count"),
    (["--count", "5"], "--count needs --output-dir DIR"),
    (["--count", "5", "--output-dir", "x", "123"], "not both"),
    (["--count", "5", "--output-dir", "x", "--length", "0"], "argument --length: need 0 <= MIN <= MAX and MAX >= 1"),
    (["--count", "5", "--output-dir", "x", "--length", "5-2"], "argument --length"),
    (["--count", "5", "--output-dir", "x", "--length", "a"], "expected L or MIN-MAX"),
    (["--count", "5", "--output-dir", "x", "--shard", "3/2"], "argument --shard: need I/N with 0 <= I < N"),
    (["--count", "5", "--output-dir", "x", "--shard", "1"], "argument --shard"),
    (["--count", "5", "--output-dir", "x", "--format", "zip"], "argument --format: invalid choice"),
    (["--count", "5", "--output-dir", "x", "--workers", "-1"], "argument --workers"),
    (["--count", "5", "--output-dir", "x", "--length", "3-10", "-s", "0,4"], "-w/--width is required"),  # the flag
    (["--count", "5", "--output-dir", "x", "--length", "3-10", "--width=400", "--height", "5000"],
     "--height must be an integer in 1..4096"),  # as typed, not the library's image_height
    (["--count", "5", "--output-dir", "x", "--dtype", "float32"], "--dtype float32 applies to --format npz only"),
    (["--count", "5", "--output-dir", "x", "--resume", "--force"], "not both"),
    (["--verify", "x", "--count", "5"], "--verify checks a finished folder and takes no other option"),
    (["--verify", "x", "-w", "90"], "takes no other option but --deep and, with it, -d, --mirrors, --deadline and --workers (got --"),
    (["--count", "5", "--output-dir", "x", "--dtype", "float32", "--format", "tar"], "applies to --format npz only"),
    (["--count", "5", "--output-dir", "afile"], "exists and is not a folder"),
    (["--output-dir", "x", "12"], "--output-dir applies to datasets only"),
    (["--resume", "12"], "--resume applies to datasets only"),
    (["--count", "5", "--output-dir", "x", "-o", "y.png"], "-o names a single image"),
])
def test_dataset_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, data_dir, args, words):
    (tmp_path / "afile").write_text("keep")
    result = run(*args, "-d", data_dir, cwd=tmp_path)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in result.stderr, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_end_of_run_line_reports_count_time_and_rate(tmp_path, data_dir):
    result = run("--count", "50", "--length", "3", "-s", "2", "--output-dir", tmp_path / "o", "-d", data_dir,
                 cwd=tmp_path)
    assert result.returncode == 0
    assert __import__("re").fullmatch(r"50 images in [\d.]+ s \(\d+ images/s\), 0 kept from before\n", result.stderr)


def test_export_keeps_image_height(tmp_path, data_dir):
    result = run("--count", "30", "--length", "3", "-w", "90", "--height", "32", "--format", "npz", "--output-dir",
                 tmp_path / "h", "-d", data_dir, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with np.load(tmp_path / "h" / "dataset.npz") as npz:
        assert npz["images"].shape == (30, 32, 90)
    assert json.loads((tmp_path / "h" / "manifest.json").read_text())["dataset"]["image_height"] == 32
