"""Nothing mislabeled, nothing lost: one writer per folder, verified resumes, --force and --verify, rollbacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import REPO, one_line, run_generator, tree
from mnist_dataset_generator import mnistdata
from mnist_dataset_generator.dataset import plan_dataset
from mnist_dataset_generator.export.exporter import export_dataset
from mnist_dataset_generator.export.folder import (
    OWNER,
    FolderBusyError,
    FolderLock,
)
from mnist_dataset_generator.export.verify import verify_dataset


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return mnistdata.write_test_data(tmp_path_factory.mktemp("safety-data"), 200, 40, seed=5)


run = run_generator


DATASET = ["--count", "600", "--length", "2-4", "-w", "100", "-s", "0,5", "--seed", "9", "-q"]




@pytest.fixture(scope="module")
def finished(tmp_path_factory, data_dir):
    """A finished export of each format, to copy from."""
    root = tmp_path_factory.mktemp("finished")
    for fmt in ("png", "npz", "tar"):
        result = run(*DATASET, "--count", "1300" if fmt == "tar" else "600", "--format", fmt,
                     "--output-dir", root / fmt, "-d", data_dir, cwd=root)
        assert result.returncode == 0, result.stderr
    return root


def copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


# ----------------------------------------------------------------- one writer


def test_a_second_run_on_a_folder_in_use_stops_naming_the_folder_and_the_other_run(tmp_path, data_dir):
    # The first run holds the folder until the test lets it go: its filter waits for a file.
    go = tmp_path / "go"
    (tmp_path / "gatefilters.py").write_text(
        "import os, time\n"
        "def gate():\n"
        "    calls = []\n"
        "    def f(img):\n"
        "        calls.append(1)  # the preview's 16 samples pass: it is made before the lock is taken\n"
        "        while len(calls) > 100 and not os.path.exists(os.environ['GATE']):\n"
        "            time.sleep(0.01)\n"
        "        return img\n"
        "    return f\n")
    out = tmp_path / "ds"
    first = subprocess.Popen([sys.executable, str(REPO / "generator.py"), *DATASET, "-f", "gatefilters:gate",
                              "--output-dir", str(out), "-d", str(data_dir)], cwd=tmp_path,
                             env={**os.environ, "PYTHONPATH": str(tmp_path), "GATE": str(go)},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (out / OWNER).exists():
            assert first.poll() is None and time.monotonic() < deadline, "the first run did not start"
            time.sleep(0.01)
        other_seed = [a if a != "9" else "10" for a in DATASET]
        for extra in ([], ["--force"], ["--resume"]):
            second = run(*other_seed, *extra, "--output-dir", out, "-d", data_dir, cwd=tmp_path)
            assert second.returncode == 1, second.stderr
            line = one_line(second)
            assert f"output folder {out} is in use by another run (pid {first.pid}" in line and "gatefilters" in line
    finally:
        go.write_text("")
    assert first.wait(60) == 0, first.stderr.read()
    assert run("--verify", out, cwd=tmp_path).returncode == 0  # the first run's files and labels, untouched
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] and manifest["dataset"]["seed"] == 9


def test_library_export_refuses_a_folder_whose_lock_is_held(tmp_path, data_dir):
    out = tmp_path / "held"
    out.mkdir()
    plan = plan_dataset(10, 2, (0, 0), None, seed=1)
    source = mnistdata.load("train", data_home=data_dir)
    with FolderLock(out), pytest.raises(FolderBusyError, match="in use by another run"):
        export_dataset(out, plan, source, progress=False)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == []


# ---------------------------------------------------------- resume verifies


def _damage(folder, fmt):
    """Truncate one file, change bytes of another (same size), as a disk or a careless user would."""
    if fmt == "png":
        a, b = folder / "images" / "00000017.png", folder / "images" / "00000300.png"
        a.write_bytes(a.read_bytes()[:40])
        data = bytearray(b.read_bytes())
        data[60] ^= 0xFF
        b.write_bytes(bytes(data))
        return ["images/00000017.png", "images/00000300.png"]
    name = "dataset.npz" if fmt == "npz" else "shard-000001.tar"
    data = bytearray((folder / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / name).write_bytes(bytes(data))
    return [name]


@pytest.mark.parametrize("fmt", ["png", "npz", "tar"])
def test_resume_remakes_truncated_and_changed_files_and_ends_byte_identical(tmp_path, data_dir, finished, fmt):
    reference = tree(finished / fmt)
    out = copy(finished / fmt, tmp_path / fmt)
    damaged = _damage(out, fmt)
    assert tree(out) != reference
    if fmt == "png":
        (out / "metadata.jsonl").write_text("")  # an index file is made again whole, whatever it holds
    count = "1300" if fmt == "tar" else "600"
    result = run(*DATASET[:-1], "--count", count, "--format", fmt, "-v", "--resume", "--output-dir", out,
                 "-d", data_dir, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert any(f"{damaged[0]}: truncated or changed; it is made again" in line
               for line in result.stderr.splitlines()), result.stderr
    assert tree(out) == reference
    assert verify_dataset(out) == []


def test_resume_after_a_kill_between_record_and_rename_remakes_the_file(tmp_path, data_dir, finished):
    # The journal names a file before it is renamed into place: a file that is missing (or still
    # the old one) is made again; no file of ours is ever unrecorded.
    out = copy(finished / "png", tmp_path / "png")
    reference = tree(finished / "png")
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["complete"] = False
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / "images" / "00000599.png").unlink()
    (out / "labels.csv").unlink()
    result = run(*DATASET, "--resume", "--output-dir", out, "-d", data_dir, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert tree(out) == reference


# ------------------------------------------------------------------ verify


def test_verify_passes_a_finished_folder_and_names_every_damaged_missing_or_extra_file(tmp_path, finished):
    ok = run("--verify", finished / "png", cwd=tmp_path)
    assert ok.returncode == 0 and ok.stdout == "" and "every file matches" in ok.stderr
    out = copy(finished / "png", tmp_path / "png")
    damaged = _damage(out, "png")
    (out / "images" / "00000005.png").unlink()
    (out / "images" / "00099999.png").write_bytes(b"not ours")
    bad = run("--verify", out, cwd=tmp_path)
    assert bad.returncode == 1
    failed = {line.split(":")[0]: line for line in bad.stdout.splitlines()}
    assert set(failed) == {*damaged, "images/00000005.png", "images/00099999.png"}
    assert "FAILED (sha256" in failed[damaged[1]] and "missing" in failed["images/00000005.png"]
    assert "not part of this dataset" in failed["images/00099999.png"]
    for fmt in ("npz", "tar"):
        out = copy(finished / fmt, tmp_path / f"v-{fmt}")
        assert run("--verify", out, cwd=tmp_path).returncode == 0
        [name] = _damage(out, fmt)
        bad = run("--verify", out, cwd=tmp_path)
        assert bad.returncode == 1 and bad.stdout.startswith(f"{name}: FAILED"), bad.stdout


def test_verify_catches_a_relabelled_dataset_and_an_unfinished_one(tmp_path, finished):
    out = copy(finished / "png", tmp_path / "png")
    rows = (out / "labels.csv").read_text().splitlines()
    rows[1], rows[2] = rows[1].split(",")[0] + "," + rows[2].split(",")[1], rows[2].split(",")[0] + "," + rows[1].split(",")[1]
    (out / "labels.csv").write_text("\n".join(rows) + "\n")
    bad = run("--verify", out, cwd=tmp_path)
    assert bad.returncode == 1 and bad.stdout.startswith("labels.csv: FAILED")
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["complete"] = False
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert "manifest.json: FAILED (the export did not finish" in run("--verify", out, cwd=tmp_path).stdout


@pytest.mark.parametrize("content, words", [
    (None, "has no manifest.json"),
    ("[1, 2]", "is not a manifest of mnist_dataset_generator"),
    ('{"tool": "someone-else"}', "is not a manifest of mnist_dataset_generator"),
    ("{not json", "is not valid JSON"),
    ('{"tool": "mnist_dataset_generator"}', "is damaged"),
])
def test_verify_of_a_folder_without_a_manifest_of_ours_is_one_line_exit_2(tmp_path, content, words):
    folder = tmp_path / "f"
    folder.mkdir()
    if content is not None:
        (folder / "manifest.json").write_text(content)
    result = run("--verify", folder, cwd=tmp_path)
    assert result.returncode == 2 and words in one_line(result)


# ------------------------------------------------------- bad manifests (4)


@pytest.mark.parametrize("content", ["[1, 2]", '"a string"', "{not json", '{"tool": "mnist_dataset_generator"}',
                                     '{"tool": "other", "dataset": {}}',
                                     '{"tool": "mnist_dataset_generator", "dataset": {}, "complete": true, '
                                     '"checksums": "x"}'])
@pytest.mark.parametrize("mode", ["--resume", "--force"])
def test_a_manifest_that_is_not_ours_is_one_line_exit_2_and_left_alone(tmp_path, data_dir, content, mode):
    out = tmp_path / "ds"
    out.mkdir()
    (out / "manifest.json").write_text(content)
    result = run(*DATASET, mode, "--output-dir", out, "-d", data_dir, cwd=tmp_path)
    assert result.returncode == 2 and "manifest.json" in one_line(result)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json"]
    assert (out / "manifest.json").read_text() == content


# --------------------------------------------------------------- force (3)


@pytest.mark.parametrize("name", ["labels.csv", "metadata.jsonl", "images/00099999.png", "preview.png", "SHA256SUMS",
                                  "manifest.json"])
def test_force_refuses_files_of_our_names_that_this_tool_did_not_write(tmp_path, data_dir, finished, name):
    # In a folder of the user's, and beside a finished export of ours (whose record does not list it).
    for folder in (tmp_path / "plain", copy(finished / "png", tmp_path / "ours")):
        if folder.name == "ours" and name != "images/00099999.png":
            continue  # the others are recorded there, so they are ours to replace
        (folder / "images").mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"the user's own")
        before = tree(folder)
        result = run(*DATASET, "--force", "--output-dir", folder, "-d", data_dir, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        line = one_line(result)
        assert ("is not valid JSON" if name == "manifest.json" else "holds files this tool did not write") in line
        assert name in line
        assert tree(folder) == before


def test_force_replaces_exactly_the_recorded_files_and_removes_stale_ones(tmp_path, data_dir, finished):
    out = copy(finished / "png", tmp_path / "png")
    (out / "notes.txt").write_text("mine")
    (out / "images" / "README").write_text("mine too")
    result = run(*[a if a != "600" else "250" for a in DATASET], "--force", "--output-dir", out, "-d", data_dir,
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (out / "images").iterdir()) == [*(f"{i:08d}.png" for i in range(250)), "README"]
    assert (out / "notes.txt").read_text() == "mine"
    # kept, and named by --verify as not part of the dataset: the folder holds more than we vouch for
    assert [(p.path, p.reason) for p in verify_dataset(out)] == [
        ("images/README", "not part of this dataset"), ("notes.txt", "not part of this dataset")]


def test_an_images_folder_that_links_elsewhere_is_refused_and_nothing_outside_is_touched(tmp_path, data_dir,
                                                                                         finished):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "00000000.png").write_bytes(b"precious")
    (outside / ".00000001.png.0123456789ab.part").write_bytes(b"also precious")
    for mode in ([], ["--force"], ["--resume"]):
        out = tmp_path / f"ds{len(mode)}{''.join(mode)}"
        if mode == ["--resume"]:
            copy(finished / "png", out)
            import shutil

            shutil.rmtree(out / "images")
        else:
            out.mkdir()
        (out / "images").symlink_to(outside, target_is_directory=True)
        result = run(*DATASET, *mode, "--output-dir", out, "-d", data_dir, cwd=tmp_path)
        assert result.returncode == 2 and "is a symbolic link" in one_line(result)
        assert sorted(p.name for p in outside.iterdir()) == [".00000001.png.0123456789ab.part", "00000000.png"]
        assert (outside / "00000000.png").read_bytes() == b"precious"


def test_a_tampered_record_cannot_make_force_delete_outside_the_folder(tmp_path, data_dir, finished):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    out = copy(finished / "png", tmp_path / "png")
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["complete"] = False
    (out / "manifest.json").write_text(json.dumps(manifest))
    digest = "0" * 64
    (out / ".mnist-export.journal").write_text(f"{digest} 7 ../victim.txt\n{digest} 7 {victim}\n"
                                               f"{digest} 7 images/../../victim.txt\n")
    result = run(*DATASET, "--force", "--output-dir", out, "-d", data_dir, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert victim.read_text() == "keep me"


# -------------------------------------------------- late bad requests (5)


def test_a_bad_request_found_late_leaves_nothing_behind(tmp_path, data_dir):
    (tmp_path / "nanfilters.py").write_text(
        "import numpy as np\n"
        "def late_nan(after=0):\n"
        "    def f(img, *, rng):\n"
        "        return img * np.nan if rng.random() < after else img\n"
        "    return f\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    out, existing = tmp_path / "new" / "deeper", tmp_path / "existing"
    existing.mkdir()
    for folder in (out, existing):
        result = subprocess.run([sys.executable, str(REPO / "generator.py"), *DATASET, "-f",
                                 "nanfilters:late_nan:after=0.01", "--output-dir", str(folder), "-d", str(data_dir)],
                                capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
        assert result.returncode == 2 and "NaN" in one_line(result)
    assert not (tmp_path / "new").exists()
    assert [p.name for p in existing.iterdir() if not p.name.startswith(".")] == []
    assert run(*DATASET, "--output-dir", existing, "-d", data_dir, cwd=tmp_path).returncode == 0  # not refused


def test_running_out_of_memory_mid_run_leaves_a_folder_the_next_run_accepts(tmp_path, data_dir, monkeypatch):
    # Issue 19, item 7: "Unable to allocate 218 GiB" at a late chunk left a manifest and a journal
    # that refused the next plain run; it is rolled back like a late bad request.
    from mnist_dataset_generator import making

    real = making.make_images

    def fails_late(plan, source, indices, out, **kwargs):
        if indices[0] >= 256:  # the preview and the first chunk are made: files are on disk
            raise MemoryError("Unable to allocate 218. GiB for an array with shape (274401, 280000)")
        return real(plan, source, indices, out, **kwargs)

    plan = plan_dataset(600, (2, 4), (0, 5), 100, seed=9)
    source = mnistdata.load("train", data_home=data_dir)
    existing = tmp_path / "existing"
    existing.mkdir()
    monkeypatch.setattr(making, "make_images", fails_late)
    for folder in (tmp_path / "new" / "deeper", existing):
        with pytest.raises(MemoryError, match="Unable to allocate"):
            export_dataset(folder, plan, source, progress=False)
    assert not (tmp_path / "new").exists()
    assert [p.name for p in existing.iterdir() if not p.name.startswith(".")] == []
    monkeypatch.setattr(making, "make_images", real)
    assert export_dataset(existing, plan, source, progress=False)["complete"]  # no resume, no force: accepted
    assert verify_dataset(existing) == []


def test_a_long_padded_dataset_beyond_the_budget_is_refused_before_the_folder(tmp_path, data_dir, monkeypatch):
    # --length 1-10000 padded into 70000 px (7 px a digit): its digits, more than its pixels, take the memory.
    monkeypatch.setenv("GENERATOR_NUMBERS_SEQ_MEMORY_BUDGET", str(100 * 10**6))
    out = tmp_path / "long"
    result = run("--count", "20", "--length", "1-10000", "-w", "70000", "--fit", "pad", "--seed", "1", "-q",
                 "--output-dir", out, "-d", data_dir, cwd=tmp_path)
    assert result.returncode == 2
    assert one_line(result) == (
        "generator.py: error: export: one sample and the renderer's working copies would take 253.8 MB (28 x 70000 x "
        "4 bytes = 7.8 MB for the image, 10000 digits x 16.0 kB = 160.0 MB for the digits), more than the memory "
        "budget of 100.0 MB (set by GENERATOR_NUMBERS_SEQ_MEMORY_BUDGET); use fewer digits, or a smaller -w or "
        "--height")
    assert not out.exists()


def test_npz_scratch_space_stays_inside_the_output_folder(tmp_path, data_dir, monkeypatch):
    import tempfile

    made = []
    real = tempfile.TemporaryFile

    def spy(*args, **kwargs):
        made.append(kwargs.get("dir"))
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "TemporaryFile", spy)
    plan = plan_dataset(300, 3, (1, 1), None, seed=2, dtype="uint8")
    export_dataset(tmp_path / "npz", plan, mnistdata.load("train", data_home=data_dir), fmt="npz", progress=False)
    assert made and all(d is not None and os.path.samefile(d, tmp_path / "npz") for d in made)
    with np.load(tmp_path / "npz" / "dataset.npz") as npz:
        assert npz["labels"].shape == (300,)


def test_a_resume_killed_again_still_owns_every_file_it_had(tmp_path, data_dir, finished):
    # A fresh run is killed after two pieces (no SHA256SUMS yet: the journal is the only record);
    # a resume re-checks them, finds one damaged and is killed before remaking it. The files of
    # that piece must still be recorded as ours, so the next resume remakes them instead of refusing them.
    from mnist_dataset_generator.export.writers import PngWriter

    out = tmp_path / "png"
    reference = tree(finished / "png")
    plan = plan_dataset(600, (2, 4), (0, 5), 100, seed=9, dtype="uint8")
    source = mnistdata.load("train", data_home=data_dir)
    real, calls = PngWriter.write, []

    def killed_after(n):
        def write(self, *args):
            calls.append(1)
            if len(calls) > n:
                raise KeyboardInterrupt
            return real(self, *args)
        return write

    for resume, n in ((False, 2), (True, 0)):
        calls.clear()
        PngWriter.write = killed_after(n)
        try:
            with pytest.raises(KeyboardInterrupt):
                export_dataset(out, plan, source, resume=resume, progress=False, description={"filters": ""})
        finally:
            PngWriter.write = real
        if not resume:
            assert not (out / "SHA256SUMS").exists() and len(list((out / "images").iterdir())) == 512
            _damage(out, "png")  # pieces 0 and 1 each lose a good file
    result = run(*DATASET, "--resume", "--output-dir", out, "-d", data_dir, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert tree(out) == reference


# ------------------------------------------------------- review findings


@pytest.mark.parametrize("mode", ["--verify", "--resume", "--force"])
def test_a_deeply_nested_manifest_is_one_line_not_a_recursion_traceback(tmp_path, data_dir, mode):
    out = tmp_path / "ds"
    out.mkdir()
    (out / "manifest.json").write_text("[" * 200_000 + "]" * 200_000)
    args = ["--verify", out] if mode == "--verify" else [*DATASET, mode, "--output-dir", out, "-d", data_dir]
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert f"{out / 'manifest.json'} is not valid JSON (nested too deeply)" in one_line(result)


def test_a_deeply_nested_owner_record_still_names_the_folder_in_use(tmp_path, data_dir):
    out = tmp_path / "ds"
    out.mkdir()
    with FolderLock(out):
        (out / OWNER).write_text("[" * 4096)  # what _owner reads of it
        result = run(*DATASET, "--output-dir", out, "-d", data_dir, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert f"output folder {out} is in use by another run (its owner is not recorded)" in one_line(result)



def test_a_fifo_at_one_of_our_names_never_hangs_verify_resume_or_force(tmp_path, data_dir, finished):
    out = copy(finished / "png", tmp_path / "png")
    (out / "images" / "00000003.png").unlink()
    os.mkfifo(out / "images" / "00000003.png")
    bad = run("--verify", out, cwd=tmp_path)  # would block forever opening the FIFO
    assert bad.returncode == 1 and "images/00000003.png: FAILED (not a regular file)" in bad.stdout
    for mode in ("--resume", "--force"):
        refused = run(*DATASET, mode, "--output-dir", out, "-d", data_dir, cwd=tmp_path)
        assert refused.returncode == 2 and "images/00000003.png" in one_line(refused)
    other = copy(finished / "png", tmp_path / "sums")
    (other / "SHA256SUMS").unlink()
    os.mkfifo(other / "SHA256SUMS")
    assert run(*DATASET, "--force", "--output-dir", other, "-d", data_dir, cwd=tmp_path).returncode == 2


def test_a_failed_run_removes_only_the_folders_it_created_given_a_relative_path(tmp_path, data_dir):
    (tmp_path / "nanfilters.py").write_text(
        "import numpy as np\n"
        "def nan():\n"
        "    return lambda img: img * np.nan\n")
    (tmp_path / "userdir").mkdir()
    result = subprocess.run([sys.executable, str(REPO / "generator.py"), *DATASET, "-f", "nanfilters:nan",
                             "--output-dir", "userdir/new/deeper", "-d", str(data_dir)], capture_output=True,
                            text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)}, timeout=120)
    assert result.returncode == 2 and "NaN" in one_line(result)
    assert (tmp_path / "userdir").is_dir() and list((tmp_path / "userdir").iterdir()) == []


def test_force_with_a_filter_that_fails_at_once_leaves_the_old_dataset_whole(tmp_path, data_dir, finished):
    (tmp_path / "nanfilters.py").write_text(
        "import numpy as np\n"
        "def nan():\n"
        "    return lambda img: img * np.nan\n")
    out = copy(finished / "png", tmp_path / "png")
    result = subprocess.run([sys.executable, str(REPO / "generator.py"), *DATASET, "-f", "nanfilters:nan", "--force",
                             "--output-dir", str(out), "-d", str(data_dir)], capture_output=True, text=True,
                            cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)}, timeout=120)
    assert result.returncode == 2
    assert tree(out) == tree(finished / "png") and verify_dataset(out) == []


def test_resume_with_other_digits_is_refused_not_mixed(tmp_path, data_dir, finished):
    other = mnistdata.write_test_data(tmp_path / "other-digits", 200, 40, seed=6)
    out = copy(finished / "png", tmp_path / "png")
    for i in range(10):
        (out / "images" / f"{i:08d}.png").unlink()
    result = run(*DATASET, "--resume", "--output-dir", out, "-d", other, cwd=tmp_path)
    assert result.returncode == 2 and "differs in: digits" in one_line(result)


def test_verify_writes_nothing_and_two_can_run_at_once(tmp_path, finished):
    out = copy(finished / "png", tmp_path / "png")
    before = sorted(p.name for p in out.iterdir())
    procs = [subprocess.Popen([sys.executable, str(REPO / "generator.py"), "--verify", str(out)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    assert [p.wait(60) for p in procs] == [0, 0]
    assert sorted(p.name for p in out.iterdir()) == before


def test_refusals_come_before_the_digits_are_loaded(tmp_path, finished):
    # No digits anywhere and no mirror: a refusal must still be the answer, not a download error.
    out = tmp_path / "mine"
    out.mkdir()
    (out / "labels.csv").write_text("my own")
    empty = tmp_path / "no-digits"
    empty.mkdir()
    result = run(*DATASET, "--force", "--output-dir", out, "-d", empty, "--mirrors", "http://127.0.0.1:9/",
                 cwd=tmp_path)
    assert result.returncode == 2 and "holds files this tool did not write: labels.csv" in one_line(result)
    other = run(*[a if a != "9" else "10" for a in DATASET], "--resume", "--output-dir", finished / "png", "-d",
                empty, "--mirrors", "http://127.0.0.1:9/", cwd=tmp_path)
    assert other.returncode == 2 and "differs in: seed" in one_line(other)


def test_a_missing_record_is_named_as_such(tmp_path, data_dir, finished):
    out = copy(finished / "png", tmp_path / "png")
    (out / "SHA256SUMS").unlink()
    result = run(*DATASET, "--force", "--output-dir", out, "-d", data_dir, cwd=tmp_path)
    assert result.returncode == 2
    assert "SHA256SUMS, the record of which files this tool wrote there, is missing" in one_line(result)


def test_a_kill_right_after_a_rename_in_a_fresh_run_is_resumed(tmp_path, data_dir, finished, monkeypatch):
    # Only the journal records a fresh run's files; it names each before its rename, so a file
    # renamed into place just before the kill is ours to remake, never a stranger to refuse.
    import mnist_dataset_generator._files as files

    out = tmp_path / "png"
    plan = plan_dataset(600, (2, 4), (0, 5), 100, seed=9, dtype="uint8")
    source = mnistdata.load("train", data_home=data_dir)
    real, renames = os.replace, []

    def replace_then_die(src, dst):
        real(src, dst)
        if str(dst).endswith(".png") and "images" in str(dst):
            renames.append(dst)
            if len(renames) == 300:
                raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "replace", replace_then_die)
    with pytest.raises(KeyboardInterrupt):
        export_dataset(out, plan, source, progress=False, description={"filters": ""})
    monkeypatch.setattr(files.os, "replace", real)
    assert not (out / "SHA256SUMS").exists() and (out / "images" / "00000299.png").exists()
    result = run(*DATASET, "--resume", "--output-dir", out, "-d", data_dir, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert tree(out) == tree(finished / "png")


def test_a_worker_that_dies_is_one_line_exit_1(tmp_path, data_dir):
    (tmp_path / "dyingfilters.py").write_text(
        "import multiprocessing, os\n"
        "def die():\n"
        "    def f(img):\n"
        "        if multiprocessing.parent_process() is not None:\n"
        "            os._exit(9)  # as the kernel's OOM killer would end it\n"
        "        return img\n"
        "    return f\n")
    result = subprocess.run([sys.executable, str(REPO / "generator.py"), *DATASET, "-f", "dyingfilters:die",
                             "--workers", "2", "--output-dir", str(tmp_path / "ds"), "-d", str(data_dir)],
                            capture_output=True, text=True, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(tmp_path)}, timeout=120)
    assert result.returncode == 1 and "a worker process died" in one_line(result)


def test_a_manifest_with_absurd_indices_is_refused_by_verify(tmp_path, finished):
    out = copy(finished / "png", tmp_path / "png")
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["dataset"]["indices"] = [0, 10**12]
    (out / "manifest.json").write_text(json.dumps(manifest))
    result = run("--verify", out, cwd=tmp_path)
    assert result.returncode == 2 and "indices" in one_line(result)


def test_second_review_null_checksums_fifo_owner_and_odd_journal(tmp_path, data_dir, finished):
    out = copy(finished / "png", tmp_path / "null")
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["checksums"] = None
    (out / "manifest.json").write_text(json.dumps(manifest))
    for args in (["--verify", out], [*DATASET, "--resume", "--output-dir", out, "-d", data_dir]):
        result = run(*args, cwd=tmp_path)
        assert result.returncode == 2 and '"checksums"' in one_line(result)
    out = copy(finished / "png", tmp_path / "owner")
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["complete"] = False
    (out / "manifest.json").write_text(json.dumps(manifest))
    os.mkfifo(out / ".mnist-export.owner")  # as a killed run leaves it, but a FIFO: must not block
    result = run("--verify", out, cwd=tmp_path)
    assert result.returncode == 1 and "its owner is not recorded" in result.stdout
    out = copy(finished / "png", tmp_path / "journal")
    (out / ".mnist-export.journal").mkdir()
    before = tree(out)
    result = run(*DATASET, "--force", "--output-dir", out, "-d", data_dir, cwd=tmp_path)
    assert result.returncode == 2 and ".mnist-export.journal is not a regular file" in one_line(result)
    assert tree(out) == before  # refused before the old dataset was touched


def test_a_folder_named_like_an_argument_is_not_rewritten_as_a_flag(tmp_path, data_dir):
    (tmp_path / "image_width").write_text("a file")
    result = run(*DATASET, "--output-dir", "image_width", "-d", data_dir, cwd=tmp_path)
    assert result.returncode == 2 and "output folder image_width exists" in one_line(result)


def test_the_manifest_holds_the_recipe_and_one_that_does_not_parse_is_not_resumed(tmp_path, data_dir, finished):
    import json

    from mnist_dataset_generator.recipe import Recipe

    folder = copy(finished / "png", tmp_path / "ours")
    manifest = json.loads((folder / "manifest.json").read_text())
    recipe = Recipe.from_json(manifest["dataset"]["recipe"])
    assert recipe == Recipe(length=(2, 4), spacing_range=(0, 5), image_width=100, dtype="uint8")
    manifest["dataset"]["recipe"]["fit"] = "squeeze"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    before = tree(folder)
    result = run(*DATASET, "--resume", "--output-dir", folder, "-d", data_dir, cwd=tmp_path)
    line = one_line(result)
    assert result.returncode == 2 and "manifest.json's recipe does not parse" in line and "squeeze" in line, line
    assert tree(folder) == before
