"""generator.py: the README examples, no-overwrite, and every bad input as one line with exit 2."""

from __future__ import annotations

import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest

from conftest import REPO, run_generator
from mnist_dataset_generator import mnistdata


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return mnistdata.write_test_data(tmp_path_factory.mktemp("cli-data"), 200, 50, seed=8)


def run(*args, cwd):
    return run_generator(*args, cwd=cwd, timeout=60)


@pytest.mark.parametrize("args, width", [
    (["4981278"], None),
    (["-o", "first_image.png", "-w", "360", "-s", "0,20", "-f", "distort", "498127864687234"], 360),
])
def test_readme_examples_write_grayscale_pngs(tmp_path, data_dir, args, width):
    result = run(*args, "-d", data_dir, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = tmp_path / result.stdout.strip()
    assert written.name == (args[1] if args[0] == "-o" else "mnist_numbers_sequence.png")
    img = iio.imread(written)
    assert img.dtype == np.uint8 and img.ndim == 2 and img.shape[0] == 28
    assert img.shape[1] == (width or 7 * 28)  # -s 0,0 by default: 7 digits edge to edge
    assert img.max() == 255 and img.min() < 60  # white paper, dark ink
    assert list(tmp_path.iterdir()) == [written]  # no temporary file left


def test_same_seed_same_png(tmp_path, data_dir):
    args = ["--seed", "5", "-s", "1,9", "-f", "blur:sigma=0.8,distort", "2024", "-d", data_dir]
    a = run("-o", "a.png", *args, cwd=tmp_path)
    b = run("-o", "b.png", *args, cwd=tmp_path)
    assert a.returncode == b.returncode == 0
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_never_overwrites_without_force(tmp_path, data_dir):
    (tmp_path / "out.png").write_bytes(b"precious")
    first = run("-o", "out.png", "--seed", "1", "12", "-d", data_dir, cwd=tmp_path)
    second = run("-o", "out.png", "--seed", "2", "12", "-d", data_dir, cwd=tmp_path)
    assert first.stdout.strip() == "out-1.png" and second.stdout.strip() == "out-2.png"
    assert (tmp_path / "out.png").read_bytes() == b"precious"
    forced = run("-o", "out.png", "--force", "12", "-d", data_dir, cwd=tmp_path)
    assert forced.stdout.strip() == "out.png" and iio.imread(tmp_path / "out.png").shape == (28, 56)


@pytest.mark.parametrize("args, words", [
    (["12a4"], "'a' at position 2 is not a digit"),
    ([""], "digits must not be empty"),
    (["-s", "5,2", "12"], "argument -s/--spacing: need -27 <= MIN <= MAX"),
    (["-s", "a,b", "12"], "expected MIN,MAX or N"),
    (["-s", "1,2,3", "12"], "expected MIN,MAX or N"),
    (["-s", "-28", "12"], "argument -s/--spacing"),
    (["-s", "-30,2", "12"], "argument -s/--spacing"),
    (["--height", "0", "12"], "argument --height: must be at least 1"),
    (["--background", "grey", "12"], "argument --background: invalid choice"),
    (["-s", "0,20000", "12"], "-27 <= min <= max <= 10000"),
    (["-w", "0", "12"], "must be at least 1, got 0"),
    (["-w", "-5", "12"], "argument -w/--width"),
    (["-w", "x", "12"], "expected a whole number"),
    (["-w", "3", "123456789"], "smallest width that works is 63"),
    # pad scales a too-wide strip down: the same 7 px floor, the same smallest width as stretch
    (["-w", "33", "--height", "32", "--fit", "pad", "1234567"], r"fit=pad\): .*smallest width that works is 49"),
    (["-w", "33", "--fit", "pad", "--count", "5", "--length", "7", "--output-dir", "out"],
     "smallest width that works is 49"),
    (["-f", "nosuch", "12"], "unknown filter .nosuch.; known filters: blur, crop, distort, elastic, noise, resize, "
                             "rotate, salt_pepper, scale, slant, thickness"),
    (["-f", "blur:sigma=x", "12"], "blur: sigma must be a number, got 'x'"),
    (["-f", "blur:radius=2", "12"], "bad parameter 'radius=2'"),
    (["-f", "blur:sigma=99", "12"], r"sigma must be a number in \[0, 10\], got 99"),
    (["-f", "blur,", "12"], "unknown filter ''"),
    (["-o", "missing/x.png", "12"], "output folder 'missing' does not exist"),
    (["-o", "adir", "12"], "output must be a .png file"),
    (["-o", "adir.png", "12"], "is a folder"),
    (["-o", "x.jpg", "12"], "output must be a .png file"),
    (["--seed", "-1", "12"], "argument --seed"),
    (["--split", "dev", "12"], "argument --split: invalid choice"),
    (["--mirrors", "ftp://x/", "12"], "scheme 'ftp'"),
    (["-q", "-v", "12"], "not allowed with argument"),
    (["--bogus", "12"], "unrecognized arguments"),
    ([], "the following arguments are required: digits"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, data_dir, args, words):
    (tmp_path / "adir").mkdir()
    (tmp_path / "adir.png").mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run(*args, "-d", data_dir, cwd=tmp_path) if args else run(cwd=tmp_path)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("generator.py: error: ") and __import__("re").search(words, lines[0]), lines[0]
    assert result.stdout == "" and sorted(p.name for p in tmp_path.iterdir()) == before


def test_data_problem_exits_1_with_the_hint(tmp_path):
    result = run("12", "-d", tmp_path / "empty", "--mirrors", "http://127.0.0.1:9/m/", "-q", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("generator.py: error: could not download train-images-idx3-ubyte")
    assert "GENERATOR_NUMBERS_SEQ_MNIST_MIRRORS" in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.png"))


def test_python_dash_m_and_import_from_the_repository_root(tmp_path, data_dir):
    result = subprocess.run([sys.executable, "-m", "mnist_dataset_generator", "-o", str(tmp_path / "m.png"),
                             "-d", str(data_dir), "77"], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 0 and (tmp_path / "m.png").is_file(), result.stderr
    code = (f"import generator; img = generator.generate_numbers_sequence('42', (1, 3), 80, "
            f"data_home={str(data_dir)!r}, fltrs=[generator.filters.blur(1.0)], rng=0); print(img.shape)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.stdout.strip() == "(28, 80)", result.stderr


def test_verbose_run_logs_the_seed_for_repeating_the_image(tmp_path, data_dir):
    result = run("-v", "12", "-d", data_dir, cwd=tmp_path)
    assert result.returncode == 0 and "pass --seed" in result.stderr


def test_negative_spacing_height_and_background_on_the_command_line(tmp_path, data_dir):
    result = run("-s", "-5,-2", "--height", "32", "--background", "black", "--seed", "1", "-o", "x.png", "4981",
                 "-d", data_dir, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    img = iio.imread(tmp_path / "x.png")
    assert img.shape[0] == 32 and img[0].max() == 0 and img.max() > 200  # white ink on black


def test_list_filters_shows_every_filter_with_parameters_and_purpose(tmp_path):
    from mnist_dataset_generator.filters import FILTERS

    result = run("--list-filters", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    for name in FILTERS:
        line = next(line for line in lines if line.split()[0] == name)
        assert len(line.split()) >= 4  # name, parameters, a description
    assert "elastic" in result.stdout and "alpha=34.0 sigma=4.0" in result.stdout
    assert "module.path:factory" in result.stdout


def test_filter_specs_with_parameters_in_order(tmp_path, data_dir):
    result = run("-f", "crop,elastic:alpha=30:sigma=4,blur:sigma=0.7", "--seed", "2", "-o", "f.png", "4981", "-d",
                 data_dir, cwd=tmp_path)
    assert result.returncode == 0, result.stderr


USER_FILTERS = """
import functools

def _thicken(img, *, amount):
    import numpy as np
    return np.clip(img * amount, 0, 1)

def thicken(amount=2.0):
    if amount <= 0:
        raise ValueError(f"thicken: amount must be positive, got {amount!r}")
    return functools.partial(_thicken, amount=amount)

def broken():
    return 42
"""


def test_users_own_filter_by_import_path_with_the_same_parameter_syntax(tmp_path, data_dir):
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "myfilters.py").write_text(USER_FILTERS)
    ok = run("-f", "mypkg.myfilters:thicken:amount=3,blur", "--seed", "1", "-o", "u.png", "12", "-d", data_dir,
             cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    plain = run("--seed", "1", "-o", "p.png", "12", "-d", data_dir, cwd=tmp_path)
    assert plain.returncode == 0
    assert iio.imread(tmp_path / "u.png").mean() < iio.imread(tmp_path / "p.png").mean()  # darker: it ran
    for args, words in [
        (["-f", "mypkg.myfilters:thicken:amount=-1"], "thicken: amount must be positive"),
        (["-f", "mypkg.myfilters:thicken:size=2"], "bad parameter 'size=2'; use mypkg.myfilters:thicken:KEY=VALUE"),
        (["-f", "mypkg.myfilters:nothere"], "mypkg.myfilters has no callable 'nothere'"),
        (["-f", "mypkg.myfilters:broken"], "must return a callable f(img) -> img, got 42"),
        (["-f", "nosuchmodule:thing"], "cannot import filter module 'nosuchmodule'"),
    ]:
        result = run(*args, "12", "-d", data_dir, cwd=tmp_path)
        assert result.returncode == 2 and words in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1


def test_fit_pad_and_align_on_the_command_line(tmp_path, data_dir):
    natural = run("-d", data_dir, "--seed", "4", "-o", "natural.png", "0741", cwd=tmp_path)
    padded = run("-d", data_dir, "--seed", "4", "-w", "200", "--fit", "pad", "--align", "left", "-o", "pad.png",
                 "0741", cwd=tmp_path)
    assert natural.returncode == padded.returncode == 0, natural.stderr + padded.stderr
    a, b = iio.imread(tmp_path / "natural.png"), iio.imread(tmp_path / "pad.png")
    assert a.shape == (28, 112) and b.shape == (28, 200)
    assert np.array_equal(b[:, :112], a) and (b[:, 112:] == 255).all()  # the digits keep their size


@pytest.mark.parametrize("args, words", [
    (["-w", "200", "--align", "left", "0741"], "--align left places a padded strip: it needs --fit pad"),
    (["-w", "200", "--fit", "squeeze", "0741"], "argument --fit: invalid choice: 'squeeze'"),
    (["--count", "5", "--output-dir", "out", "--align", "random", "-w", "100"], "needs --fit pad"),
])
def test_bad_fit_and_align_exit_2_and_write_nothing(tmp_path, data_dir, args, words):
    result = run("-d", data_dir, *args, cwd=tmp_path)
    assert result.returncode == 2 and words in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr
    assert list(tmp_path.iterdir()) == []
