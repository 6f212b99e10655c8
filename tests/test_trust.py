"""Trust, round two: nothing run that was not asked for, nothing mislabeled, --verify vouches only for what it checked."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import edit_manifest, one_line, rewrite_record, run_generator
from mnist_dataset_generator import mnistdata
from mnist_dataset_generator.compose.filterspec import check_spec, imported_modules
from mnist_dataset_generator.recipe import Recipe

DATASET = ["--count", "40", "--length", "2-4", "-w", "100", "-s", "0,5", "--seed", "9", "-q"]

EVIL = (
    "import pathlib\n"
    "pathlib.Path(__file__).with_name('MARKER').write_text('imported')\n"
    "def factory(**kwargs):\n"
    "    return lambda img: img\n"
)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return mnistdata.write_test_data(tmp_path_factory.mktemp("trust-data"), 200, 40, seed=5)


@pytest.fixture(scope="module")
def finished(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("trust-finished")
    result = run_generator(*DATASET, "--format", "png", "--output-dir", root / "png", "-d", data_dir, cwd=root)
    assert result.returncode == 0, result.stderr
    return root / "png"


# ----------------------------------------------------------- no code from folders


@pytest.mark.parametrize("spec", ["evilmod:factory", "evilmod:factory:x=1", "blur,evilmod:factory"])
@pytest.mark.parametrize("action", ["--verify", "--resume", "--force"])
def test_a_manifest_naming_a_module_never_makes_us_import_it(tmp_path, data_dir, finished, spec, action):
    (tmp_path / "evilmod.py").write_text(EVIL)
    folder = tmp_path / "out"
    shutil.copytree(finished, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["dataset"]["recipe"]["filters"] = spec
    manifest["dataset"]["filters"] = spec
    (folder / "manifest.json").write_text(json.dumps(manifest))
    if action == "--verify":
        result = run_generator("--verify", folder, cwd=tmp_path)
    else:
        result = run_generator(*DATASET, "--format", "png", "--output-dir", folder, "-d", data_dir, action,
                               cwd=tmp_path)
    assert not (tmp_path / "MARKER").exists(), (action, result.stderr)
    assert "Traceback" not in result.stderr
    if action == "--resume":  # compared as text: another dataset
        assert result.returncode == 2 and "differs in" in result.stderr


def test_a_manifest_naming_os_exit_does_not_end_the_run_silently(tmp_path, data_dir, finished):
    folder = tmp_path / "out"
    shutil.copytree(finished, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["dataset"]["recipe"]["filters"] = "os:_exit:status=0"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    result = run_generator(*DATASET, "--format", "png", "--output-dir", folder, "-d", data_dir, "--resume",
                           cwd=tmp_path)
    assert result.returncode == 2 and "differs in: recipe" in result.stderr, result.stderr


def test_recipe_from_json_imports_only_when_asked(tmp_path, monkeypatch):
    (tmp_path / "evilmod.py").write_text(EVIL)
    monkeypatch.syspath_prepend(str(tmp_path))
    data = {"recipe": 1, "filters": "blur,evilmod:factory"}
    with pytest.raises(ValueError, match="import module evilmod"):
        Recipe.from_json(data)
    with pytest.raises(ValueError, match="import module evilmod"):
        Recipe.from_json(json.dumps(data))
    assert not (tmp_path / "MARKER").exists()
    recipe = Recipe.from_json(data, imports=True)  # the caller's own recipe: their choice
    assert (tmp_path / "MARKER").exists() and len(recipe.prepared) == 2


def test_check_spec_checks_built_ins_and_the_form_of_imports_without_importing(tmp_path, monkeypatch):
    (tmp_path / "evilmod.py").write_text(EVIL)
    monkeypatch.syspath_prepend(str(tmp_path))
    check_spec("crop,evilmod:factory:amount=2,blur:sigma=0.5")
    assert imported_modules("crop,evilmod:factory,a.b:c") == ["evilmod", "a.b"]
    for bad in ("blur:sigma=-1", "nosuch", "evilmod:factory:amount=x", "evil-mod:factory", "evilmod:fac tory"):
        with pytest.raises(ValueError):
            check_spec(bad)
    assert not (tmp_path / "MARKER").exists()


# ------------------------------------------- --verify vouches only for what it checked


def _garbage_image(folder):
    (folder / "images" / "00000003.png").write_bytes(b"not a png at all")


@pytest.mark.parametrize("change", [
    lambda m: m.pop("checksums"),
    lambda m: (m.pop("checksums"), m.update(version="0.3.5")),
    lambda m: (m.pop("checksums"), m.update(version="0.2.0")),
    lambda m: m.update(version="99.0.0"),
    lambda m: m.update(version="banana"),
], ids=["no-checksums", "no-checksums-other-version", "no-checksums-0.2.0", "newer", "not-a-version"])
def test_verify_fails_when_the_record_is_absent_and_names_each_unchecked_file(tmp_path, finished, change):
    folder = tmp_path / "out"
    shutil.copytree(finished, folder)
    _garbage_image(folder)
    edit_manifest(folder, change)
    result = run_generator("--verify", folder, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "every file matches" not in result.stderr
    assert "images/00000003.png: FAILED (not checked" in result.stdout
    assert "images/00000017.png: FAILED (not checked" in result.stdout


def test_verify_names_files_that_are_not_ours_anywhere_in_the_folder(tmp_path, finished):
    folder = tmp_path / "out"
    shutil.copytree(finished, folder)
    (folder / "extra.txt").write_text("x")
    (folder / "images" / "notes.txt").write_text("x")
    (folder / "sub").mkdir()
    (folder / "sub" / "deeper.bin").write_bytes(b"x")
    (folder / "link.png").symlink_to(folder / "images" / "00000000.png")
    result = run_generator("--verify", folder, cwd=tmp_path)
    assert result.returncode == 1
    for rel in ("extra.txt", "images/notes.txt", "sub/deeper.bin", "link.png"):
        assert f"{rel}: FAILED (not part of this dataset)" in result.stdout, result.stdout
    assert result.stdout.count("FAILED") == 4


def test_verify_refuses_a_record_with_lines_it_cannot_read_even_when_the_manifest_vouches_for_it(tmp_path,
                                                                                                  finished):
    import hashlib

    for extra in ("garbage\n", "0" * 64 + "  ../outside.txt\n", "0" * 64 + "  images/00000001.png\n"):
        folder = tmp_path / f"out{len(extra)}"
        shutil.copytree(finished, folder)
        sums = (folder / "SHA256SUMS").read_bytes() + extra.encode()
        (folder / "SHA256SUMS").write_bytes(sums)
        edit_manifest(folder, lambda m: m["checksums"].update(sha256=hashlib.sha256(sums).hexdigest()))
        result = run_generator("--verify", folder, cwd=tmp_path)
        assert result.returncode == 1 and "SHA256SUMS: FAILED (line" in result.stdout, result.stdout


def test_verify_refuses_a_record_whose_count_disagrees_with_the_manifest(tmp_path, finished):
    folder = tmp_path / "out"
    shutil.copytree(finished, folder)
    edit_manifest(folder, lambda m: m["checksums"].update(files=m["checksums"]["files"] + 1))
    result = run_generator("--verify", folder, cwd=tmp_path)
    assert result.returncode == 1 and "SHA256SUMS: FAILED (holds" in result.stdout, result.stdout


def test_verify_still_passes_an_intact_folder(tmp_path, finished):
    result = run_generator("--verify", finished, cwd=tmp_path)
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


# ------------------------------------------------------------ reading order


def _source():
    from mnist_dataset_generator.mnistdata import MnistData
    from mnist_dataset_generator.sources.testdata import draw_digits

    labels = np.arange(300) % 10
    return MnistData.from_arrays(draw_digits(labels, np.random.default_rng(7)), labels)


def _solid_blocks(img, *, rng):
    """A user's filter that narrows (or widens) a digit to a solid block of random width."""
    return np.ones((28, int(rng.integers(1, 40))), np.float32)


@pytest.mark.parametrize("seed", range(25))
def test_every_digit_starts_right_of_the_previous_ones_start_whatever_a_filter_does(seed):
    from mnist_dataset_generator import generate_numbers_sequence

    rng = np.random.default_rng(seed)
    digits = "".join(map(str, rng.integers(0, 10, int(rng.integers(2, 12)))))
    low = int(rng.integers(-27, 3))
    image, boxes = generate_numbers_sequence(digits, (low, low + int(rng.integers(0, 4))), None, images=_source(),
                                             fltrs=[_solid_blocks], rng=seed, return_boxes=True)
    # a solid block's box is the block: its left edge is where the digit starts
    assert (np.diff(boxes[:, 0]) >= 1).all(), boxes[:, 0]


@pytest.mark.parametrize("spec, spacing", [("resize:width=10,crop:margin=0", (-22, -22)), ("crop", (-20, -10)),
                                           ("scale:min=0.3:max=0.5,crop", (-27, -5)), ("crop:margin=0", (-27, -27))])
def test_narrowed_digits_with_overlaps_keep_their_label_order_in_datasets(spec, spacing):
    from mnist_dataset_generator import from_spec, generate_dataset

    images, labels, boxes = generate_dataset(200, (2, 6), spacing, 120, images=_source(), seed=1,
                                             fltrs=from_spec(spec), return_boxes=True)
    for label, box in zip(labels, boxes, strict=True):
        # crop leaves the ink at the glyph's edge (plus the margin), so a box's left edge follows the
        # digit's start through the resampling (which keeps order)
        assert (np.diff(box[: len(label), 0]) >= 0).all(), (label, box[: len(label)])


# ------------------------------------------------------ boxes tight to the visible ink


def _visible_8bit(image):
    return image != 255


def _check_tight_and_complete(image, boxes):
    """Each edge of each box touches visible ink; visible ink outside every box lies within 1 px of one
    (a pixel only the sum of two digits' faint tails makes visible belongs to neither)."""
    seen = _visible_8bit(image)
    covered = np.zeros(seen.shape, bool)
    near = np.zeros(seen.shape, bool)
    for x0, y0, x1, y1 in boxes.tolist():
        region = seen[y0:y1, x0:x1]
        assert region[0].any() and region[-1].any() and region[:, 0].any() and region[:, -1].any(), (x0, y0, x1, y1)
        covered[y0:y1, x0:x1] = True
        near[max(y0 - 1, 0) : y1 + 1, max(x0 - 1, 0) : x1 + 1] = True
    assert not (seen & ~near).any(), "visible ink far from every box"
    return int((seen & ~covered).sum())


@pytest.mark.parametrize("spec", ["blur", "blur:sigma=2", "rotate", "elastic", "slant", "distort",
                                  "elastic,slant,rotate,blur:sigma=0.6", "scale", "thickness",
                                  "crop,elastic,slant,thickness,blur:sigma=0.6", "rotate:p=0.5,elastic:p=0.3"])
def test_boxes_of_filtered_8bit_strips_are_tight_to_the_visible_ink(spec):
    from mnist_dataset_generator import from_spec, generate_dataset

    images, labels, boxes = generate_dataset(60, 5, (0, 4), 200, seed=3, images=_source(), dtype="uint8",
                                             fltrs=from_spec(spec), return_boxes=True)
    stray = sum(_check_tight_and_complete(image, box) for image, box in zip(images, boxes, strict=True))
    assert stray <= 4, stray


def test_boxes_in_an_export_are_tight_to_the_visible_ink_of_its_pngs(tmp_path, data_dir):
    from PIL import Image

    result = run_generator("--count", "30", "--length", "4", "-w", "160", "-s", "0,3", "--seed", "2", "-q",
                           "-f", "rotate,blur:sigma=0.8", "--height", "40", "--output-dir", tmp_path / "out",
                           "-d", data_dir, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for line in (tmp_path / "out" / "metadata.jsonl").read_text().splitlines():
        row = json.loads(line)
        image = np.asarray(Image.open(tmp_path / "out" / row["file_name"]))
        _check_tight_and_complete(image, np.array(row["boxes"]))


def test_a_folder_with_the_boxes_of_0_4_0_is_not_resumed(tmp_path, data_dir, finished):
    folder = tmp_path / "out"
    shutil.copytree(finished, folder)
    edit_manifest(folder, lambda m: (m["dataset"].update(folder_layout="boxes-v1"), m.update(complete=False)))
    result = run_generator(*DATASET, "--format", "png", "--output-dir", folder, "-d", data_dir, "--resume",
                           cwd=tmp_path)
    assert result.returncode == 2
    assert "made with folder layout 'boxes-v1'" in result.stderr and "visible ink" in result.stderr


# ------------------------------------------------------------------ --verify --deep


@pytest.fixture(scope="module")
def finished_formats(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("trust-formats")
    for fmt, count in (("npz", "40"), ("tar", "1100")):
        result = run_generator(*DATASET, "--count", count, "-f", "blur:sigma=0.7", "--format", fmt,
                               "--output-dir", root / fmt, "-d", data_dir, cwd=root)
        assert result.returncode == 0, result.stderr
    return root


def _deep(folder, data_dir, *more):
    return run_generator("--verify", folder, "--deep", "-d", data_dir, *more, cwd=folder.parent)


def test_deep_passes_intact_folders_of_every_format(tmp_path, data_dir, finished, finished_formats):
    for folder in (finished, finished_formats / "npz", finished_formats / "tar"):
        result = _deep(folder, data_dir, "--workers", "2")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "every sample is what its recipe and seed make" in result.stderr


def test_deep_names_two_swapped_images_whose_checksums_were_rewritten(tmp_path, data_dir, finished):
    folder = tmp_path / "out"
    shutil.copytree(finished, folder)
    a, b = folder / "images" / "00000003.png", folder / "images" / "00000007.png"
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)
    rewrite_record(folder)
    assert run_generator("--verify", folder, cwd=tmp_path).returncode == 0  # the checksums are fooled
    result = _deep(folder, data_dir)
    assert result.returncode == 1
    failed = [line for line in result.stdout.splitlines() if "FAILED" in line]
    assert [line.split(":")[0] for line in failed] == ["images/00000003.png", "images/00000007.png"], failed


def test_deep_names_an_edited_label_and_an_edited_seed(tmp_path, data_dir, finished):
    folder = tmp_path / "label"
    shutil.copytree(finished, folder)
    rows = (folder / "metadata.jsonl").read_text().splitlines()
    row = json.loads(rows[5])
    row["text"] = row["text"][::-1] + "1"
    rows[5] = json.dumps(row)
    (folder / "metadata.jsonl").write_text("\n".join(rows) + "\n")
    rewrite_record(folder)
    result = _deep(folder, data_dir)
    assert result.returncode == 1
    assert result.stdout.count("FAILED") == 1 and f"images/00000005.png: FAILED (labelled '{row['text']}'" \
        in result.stdout, result.stdout

    folder = tmp_path / "seed"
    shutil.copytree(finished, folder)
    edit_manifest(folder, lambda m: m["dataset"].update(seed=m["dataset"]["seed"] + 1))
    result = _deep(folder, data_dir)
    assert result.returncode == 1 and result.stdout.count("FAILED") >= 30, result.stdout  # nearly every sample


def test_deep_names_an_edited_count(tmp_path, data_dir, finished):
    folder = tmp_path / "count"
    shutil.copytree(finished, folder)
    edit_manifest(folder, lambda m: m["dataset"].update(count=80))
    result = _deep(folder, data_dir)
    assert result.returncode == 1 and "manifest.json: FAILED (not checked deeply: its count 80" in result.stdout


def test_deep_catches_swapped_samples_inside_tar_shards_and_npz(tmp_path, data_dir, finished_formats):
    import io
    import tarfile

    folder = tmp_path / "tar"
    shutil.copytree(finished_formats / "tar", folder)
    shard = folder / "shard-000001.tar"
    with tarfile.open(shard) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    names = [m.name for m, _ in members]
    i, j = names.index("00001010.png"), names.index("00001020.png")
    members[i], members[j] = (members[i][0], members[j][1]), (members[j][0], members[i][1])
    with tarfile.open(shard, "w", format=tarfile.PAX_FORMAT) as tar:
        for member, data in members:
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    rewrite_record(folder)
    result = _deep(folder, data_dir)
    assert result.returncode == 1
    assert [line.split(" ")[0] for line in result.stdout.splitlines()] == [
        "shard-000001.tar:00001010:", "shard-000001.tar:00001020:"], result.stdout

    folder = tmp_path / "npz"
    shutil.copytree(finished_formats / "npz", folder)
    with np.load(folder / "dataset.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["images"][[2, 9]] = arrays["images"][[9, 2]]
    np.savez(folder / "dataset.npz", **arrays)
    rewrite_record(folder)
    result = _deep(folder, data_dir)
    assert result.returncode == 1
    assert [line.split(" ")[0] for line in result.stdout.splitlines()] == [
        "dataset.npz:00000002:", "dataset.npz:00000009:"], result.stdout


def test_deep_never_runs_a_module_a_manifest_names(tmp_path, data_dir, finished):
    (tmp_path / "evilmod.py").write_text(EVIL)
    folder = tmp_path / "out"
    shutil.copytree(finished, folder)
    edit_manifest(folder, lambda m: m["dataset"]["recipe"].update(filters="evilmod:factory"))
    result = run_generator("--verify", folder, "--deep", "-d", data_dir, cwd=tmp_path)
    assert result.returncode == 1 and "import module 'evilmod'" in result.stdout
    assert not (tmp_path / "MARKER").exists()


@pytest.mark.parametrize(("args", "words"), [
    (["--deep"], "--deep applies to --verify DIR only"),
    (["--verify", "X", "--count", "3"], "takes no other option but --deep"),
    (["--verify", "X", "--workers", "2"], "takes no other option but --deep"),
])
def test_deep_option_errors_are_one_line(tmp_path, args, words):
    result = run_generator(*args, cwd=tmp_path)
    assert result.returncode == 2 and words in one_line(result)


def test_deep_compares_pixels_when_another_png_encoder_made_other_bytes(tmp_path, data_dir, finished):
    from PIL import Image

    folder = tmp_path / "out"
    shutil.copytree(finished, folder)
    path = folder / "images" / "00000004.png"
    before = path.read_bytes()
    Image.open(path).save(path, format="PNG", compress_level=1)  # the same pixels, other bytes
    assert path.read_bytes() != before
    rewrite_record(folder)
    result = _deep(folder, data_dir)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("spacing, spec", [((-24, -16), ""), ((-20, -10), "blur"), ((-9, -5), "resize:width=10"),
                                           ((-12, -4), "scale:min=0.5:max=0.8"), ((0, 4), "rotate,blur:sigma=0.6")])
def test_each_box_is_its_digits_own_visible_ink_even_under_overlaps(spacing, spec):
    """The truth: the same strip drawn with every other class blanked shows one digit alone."""
    from mnist_dataset_generator import from_spec, generate_numbers_sequence
    from mnist_dataset_generator.mnistdata import MnistData

    source = _source()
    first = np.array([np.flatnonzero(source.labels == d)[0] for d in range(10)])
    glyphs = source.images[first]
    one = MnistData.from_arrays(glyphs, np.arange(10))
    for seed in range(6):
        digits = "".join(map(str, np.random.default_rng(seed).permutation(10)[:5]))
        kw = dict(rng=seed, fltrs=from_spec(spec) if spec else None)
        _, boxes = generate_numbers_sequence(digits, spacing, None, images=one, return_boxes=True, **kw)
        for k, d in enumerate(digits):
            alone = MnistData.from_arrays(np.where((np.arange(10) == int(d))[:, None, None], glyphs, 0), np.arange(10))
            ys, xs = np.nonzero(generate_numbers_sequence(digits, spacing, None, images=alone, **kw) < 1 - 0.5 / 255)
            assert boxes[k].tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], (seed, digits, k)


# ------------------------------------------- a folder is untrusted input (review of --deep)


def test_files_recorded_beyond_the_manifests_samples_are_named_even_when_resealed(tmp_path, finished):
    folder = tmp_path / "out"
    shutil.copytree(finished, folder)
    first = (folder / "images" / "00000000.png").read_bytes()
    for i in range(10, 40):  # the count cut to 10, the rest replaced and kept "on the record"
        (folder / "images" / f"{i:08d}.png").write_bytes(first)
    edit_manifest(folder, lambda m: (m["dataset"].update(count=10, indices=[0, 10]),
                                      m["arguments"].update(count=10)))
    rewrite_record(folder)
    result = run_generator("--verify", folder, cwd=tmp_path)
    assert result.returncode == 1
    assert "images/00000010.png: FAILED (recorded, but not part of the dataset its manifest describes)" \
        in result.stdout, result.stdout


@pytest.mark.parametrize("tamper", ["csv-row", "jsonl-row", "bad-utf8"])
def test_deep_names_rows_past_the_last_sample_and_text_that_is_not_utf8(tmp_path, data_dir, finished, tamper):
    folder = tmp_path / "out"
    shutil.copytree(finished, folder)
    name = "labels.csv" if tamper != "jsonl-row" else "metadata.jsonl"
    data = (folder / name).read_bytes()
    extra = {"csv-row": b"images/00000040.png,31337\n", "jsonl-row": b'{"file_name": "x", "text": "1"}\n',
             "bad-utf8": b"\xff\xfe,1\n"}[tamper]
    (folder / name).write_bytes(data + extra if tamper != "bad-utf8" else data.replace(b"\n", b"\n" + extra, 1))
    rewrite_record(folder)
    result = _deep(folder, data_dir)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stdout.startswith(f"{name}: FAILED ("), result.stdout


def test_deep_names_a_member_appended_to_a_shard_and_an_array_added_to_the_npz(tmp_path, data_dir,
                                                                              finished_formats):
    import io
    import tarfile

    folder = tmp_path / "tar"
    shutil.copytree(finished_formats / "tar", folder)
    with tarfile.open(folder / "shard-000001.tar", "a") as tar:
        info = tarfile.TarInfo("evil.sh")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"x\n"))
    rewrite_record(folder)
    result = _deep(folder, data_dir)
    assert result.returncode == 1 and "shard-000001.tar: FAILED ('evil.sh' follows its last sample)" \
        in result.stdout, result.stdout

    folder = tmp_path / "npz"
    shutil.copytree(finished_formats / "npz", folder)
    with np.load(folder / "dataset.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    np.savez(folder / "dataset.npz", extra=np.zeros(3), **arrays)
    rewrite_record(folder)
    result = _deep(folder, data_dir)
    assert result.returncode == 1 and "dataset.npz: FAILED (holds extra.npy" in result.stdout, result.stdout


def test_deep_never_decodes_an_image_of_another_size_nor_reads_an_array_larger_than_the_dataset(
        tmp_path, data_dir, finished, finished_formats):
    from PIL import Image

    for side, words in ((14000, "FAILED (not a readable PNG"), (500, "FAILED (500 x 500 px, not the dataset's")):
        folder = tmp_path / f"png{side}"
        shutil.copytree(finished, folder)
        Image.new("L", (side, side), 255).save(folder / "images" / "00000002.png")  # decompression bombs
        rewrite_record(folder)
        result = _deep(folder, data_dir)
        assert result.returncode == 1 and "Traceback" not in result.stderr and "Warning" not in result.stderr
        assert f"images/00000002.png: {words}" in one_line_out(result)

    folder = tmp_path / "npz"
    shutil.copytree(finished_formats / "npz", folder)
    with np.load(folder / "dataset.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["labels"] = np.zeros(10**6, "<U4")  # declares far more rows than the dataset has
    np.savez_compressed(folder / "dataset.npz", **arrays)
    rewrite_record(folder)
    result = _deep(folder, data_dir)
    assert result.returncode == 1 and "dataset.npz: FAILED (labels.npy is <U4 (1000000,)" in result.stdout


def test_deep_on_a_folder_of_0_4_0_names_its_version_and_layout(tmp_path, data_dir, finished):
    folder = tmp_path / "old"
    shutil.copytree(finished, folder)
    edit_manifest(folder, lambda m: (m["dataset"].update(folder_layout="boxes-v1"), m.update(version="0.4.0")))
    result = _deep(folder, data_dir)
    assert result.returncode == 1
    assert "made by version 0.4.0 of this tool, with folder layout 'boxes-v1'" in one_line_out(result)


def one_line_out(result):
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    return lines[0]


def test_an_unfinished_folder_is_one_problem_and_empty_folders_of_yours_are_named(tmp_path, finished):
    folder = tmp_path / "out"
    shutil.copytree(finished, folder)
    edit_manifest(folder, lambda m: m.update(complete=False))
    result = run_generator("--verify", folder, cwd=tmp_path)
    assert result.returncode == 1 and "did not finish" in one_line_out(result)

    folder = tmp_path / "empty"
    shutil.copytree(finished, folder)
    (folder / "mine").mkdir()
    result = run_generator("--verify", folder, cwd=tmp_path)
    assert result.returncode == 1 and "mine/: FAILED (not part of this dataset)" in one_line_out(result)
