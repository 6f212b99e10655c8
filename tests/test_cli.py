"""mnistdata.py: writes test data, fetches, and turns every bad input into one line and exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO
from mnist_dataset_generator.cli import mnistdata_main
from mnist_dataset_generator.sources.testdata import FILE_NAMES


def run(*args, cwd=None):
    return subprocess.run([sys.executable, str(REPO / "mnistdata.py"), *args], capture_output=True,
                          text=True, cwd=cwd, timeout=60)


def test_writes_test_data_and_prints_the_folder(tmp_path):
    result = run(str(tmp_path / "td"), "--count-train", "30", "--count-test", "10", "--seed", "4")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "td") and result.stderr == ""
    assert sorted(p.name for p in (tmp_path / "td").iterdir()) == sorted([*FILE_NAMES, "SHA256SUMS"])
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=tmp_path / "td", capture_output=True)
    assert check.returncode == 0


def test_existing_files_are_kept_without_force_and_replaced_with_it(tmp_path):
    assert run(str(tmp_path), "--count-train", "10", "--count-test", "10").returncode == 0
    before = (tmp_path / FILE_NAMES[0]).read_bytes()
    refused = run(str(tmp_path), "--count-train", "10", "--count-test", "10", "--seed", "9")
    assert refused.returncode == 2 and "use --force" in refused.stderr
    assert (tmp_path / FILE_NAMES[0]).read_bytes() == before
    forced = run(str(tmp_path), "--count-train", "10", "--count-test", "10", "--seed", "9", "--force")
    assert forced.returncode == 0 and (tmp_path / FILE_NAMES[0]).read_bytes() != before


@pytest.mark.parametrize("args", [
    [],
    ["--count-train", "0", "{out}"],
    ["--count-train", "-5", "{out}"],
    ["--count-train", "abc", "{out}"],
    ["--count-test", "1.5", "{out}"],
    ["--count-test", "1000001", "{out}"],
    ["--seed", "-1", "{out}"],
    ["--seed", "x", "{out}"],
    ["{file}"],
    ["{out}", "--fetch"],
    ["{out}", "--mirrors", "file:///x"],
    ["--fetch", "--mirrors", "ftp://example.org/"],
    ["--fetch", "--deadline", "0"],
    ["--fetch", "--deadline", "soon"],
    ["{out}", "--deadline", "5"],
    ["--nosuch", "{out}"],
    ["-q", "-v", "{out}"],
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, args):
    (tmp_path / "a-file").write_text("keep")
    args = [a.format(out=tmp_path / "out", file=tmp_path / "a-file") for a in args]
    result = run(*args)
    assert result.returncode == 2, result
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("mnistdata.py: error: ")
    assert result.stdout == ""
    assert not (tmp_path / "out").exists() and (tmp_path / "a-file").read_text() == "keep"


def test_fetch_with_all_mirrors_down_exits_1_with_the_urls(tmp_path, capsys):
    status = mnistdata_main(["--fetch", "-d", str(tmp_path / "c"), "--mirrors", "http://127.0.0.1:9/m/", "-q"])
    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith("mnistdata.py: error: could not download train-images-idx3-ubyte")
    assert "http://127.0.0.1:9/m/train-images-idx3-ubyte.gz" in err and "Traceback" not in err


def test_in_process_main_leaves_the_package_logger_as_it_found_it(tmp_path, capsys):
    import logging

    logger = logging.getLogger("mnist_dataset_generator")
    before = logger.handlers[:], logger.level, logger.propagate
    mnistdata_main(["--fetch", "-d", str(tmp_path / "c"), "--mirrors", "http://127.0.0.1:9/m/", "-v"])
    assert (logger.handlers[:], logger.level, logger.propagate) == before


def test_fetch_through_a_folder_mirror(tmp_path, capsys, fixture_table, mirror_dir):
    status = mnistdata_main(["--fetch", "-d", str(tmp_path / "c"), "--mirrors", str(mirror_dir)])
    assert status == 0 and capsys.readouterr().out.strip() == str(tmp_path / "c")
    assert (tmp_path / "c" / "train-images-idx3-ubyte").is_file()


def test_fetch_deadline_flag_reaches_the_download(tmp_path, capsys, fixture_table, mirror_dir, make_mirror):
    import time

    slow = make_mirror(mirror_dir)

    def trickle(handler, data):
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        for i in range(40):
            handler.wfile.write(data[i:i + 1])
            handler.wfile.flush()
            time.sleep(0.05)

    slow.faults["*"] = trickle
    status = mnistdata_main(["--fetch", "-d", str(tmp_path / "c"), "--mirrors", slow.url, "--deadline", "0.5", "-q"])
    err = capsys.readouterr().err
    # the deadline ended it (the trickle's own end, after 2 s, would be a short body instead)
    assert status == 1 and "deadline exceeded (0.5 s for all mirrors and retries of this file)" in err, err


def test_version_and_help():
    assert run("--version").stdout.startswith("mnistdata.py ")
    assert "--count-train" in run("--help").stdout


def test_repository_root_module_exposes_the_data_layer():
    code = "import mnistdata; print(callable(mnistdata.load), callable(mnistdata.write_test_data))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.stdout.split() == ["True", "True"], result.stderr
