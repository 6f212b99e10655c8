"""examples/dask_shards.py on a LocalCluster: the union of the parts equals a single-process run."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import REPO
from mnist_dataset_generator import mnistdata

pytest.importorskip("distributed", reason="dask[distributed] is an optional extra: pip install '.[dask]'")


def test_dask_shards_union_equals_a_single_run(tmp_path):
    data = mnistdata.write_test_data(tmp_path / "data", 200, 20, seed=4)
    options = ["--count", "700", "--length", "2-4", "-w", "100", "-s", "0,5", "--seed", "23", "-d", str(data)]
    single = tmp_path / "single"
    one = subprocess.run([sys.executable, str(REPO / "generator.py"), *options, "-q", "--output-dir", str(single)],
                         capture_output=True, text=True, cwd=REPO, timeout=120)
    assert one.returncode == 0, one.stderr
    # the cluster's scratch folder (default: the system's temporary folder) stays in tmp_path
    env = {**os.environ, "DASK_TEMPORARY_DIRECTORY": str(tmp_path / "dask-scratch")}
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / "dask_shards.py"), "--shards", "3", "--local-workers", "2",
         "--output-dir", str(tmp_path / "dask"), *options],
        capture_output=True, text=True, cwd=REPO, timeout=300, env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    merged = (tmp_path / "dask" / "labels.csv").read_text().splitlines()
    rows = (single / "labels.csv").read_text().splitlines()
    assert merged[0] == rows[0] and len(merged) == len(rows)
    for mine, theirs in zip(merged[1:], rows[1:], strict=True):
        path, label = mine.split(",")
        assert path.startswith("part-000") and path.endswith(theirs.split(",")[0]) and label == theirs.split(",")[1]
        # every path in the merged file resolves from the output folder, to the same image
        assert (tmp_path / "dask" / path).read_bytes() == (single / theirs.split(",")[0]).read_bytes()
    pngs = {}
    for part in sorted((tmp_path / "dask").glob("part-*")):
        for png in (part / "images").glob("*.png"):
            assert png.name not in pngs  # parts are disjoint
            pngs[png.name] = png.read_bytes()
    assert pngs == {p.name: p.read_bytes() for p in (single / "images").glob("*.png")}

    datasets = pytest.importorskip("datasets")
    # an explicit cache_dir: `datasets` fixes its default (~/.cache/huggingface) when first imported
    loaded = datasets.load_dataset("imagefolder", data_dir=str(tmp_path / "dask"), cache_dir=str(tmp_path / "hf"),
                                   split="train")
    assert any((tmp_path / "hf").iterdir())  # the cache went where it was told
    # each image once, with its own label: the parts' metadata.jsonl files together
    assert sorted(loaded["text"]) == sorted(row.split(",")[1] for row in rows[1:])
