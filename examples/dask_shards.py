"""Make one dataset as N shard tasks on a Dask cluster; the parts together equal a single run.

    python examples/dask_shards.py --shards 8 --output-dir out --count 20000 -w 224 -s 0,10 --seed 1
    python examples/dask_shards.py --scheduler tcp://10.0.0.5:8786 --shards 64 --output-dir /shared/out ...

Every option other than --shards, --scheduler and --output-dir is passed to
``generator.py`` unchanged (give --seed: all tasks must agree on it). Task I
runs ``generator.py ... --shard I/N --output-dir OUT/part-I``; afterwards
OUT/labels.csv lists every sample in index order, each png path relative to
OUT (``part-0003/images/00001234.png``), so it resolves from there. For png, each part's
metadata.jsonl (labels and boxes) stays beside its images: Hugging Face's
``load_dataset("imagefolder", data_dir=OUT)`` reads them all as one dataset (a merged copy
in OUT would make it read every image twice). Workers need this package
and the MNIST files (their cache, -d, or --mirrors). Without --scheduler a
LocalCluster with one process per core is started. Needs ``pip install
"mnist_dataset_generator[dask]"``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def make_part(index: int, shards: int, output_dir: str, options: list[str]) -> str:
    """One Dask task: shard ``index`` of ``shards``, into its own folder."""
    from mnist_dataset_generator.cli import generator_main

    part = str(Path(output_dir) / f"part-{index:04d}")
    # --resume lets a re-run finish or repair each part; with --force the parts start over instead.
    again = [] if "--force" in options else ["--resume"]
    status = generator_main([*options, "--shard", f"{index}/{shards}", "--output-dir", part, *again, "-q"])
    if status != 0:
        raise RuntimeError(f"shard {index}/{shards} failed with exit status {status}")
    return part


def merge_labels(output_dir: Path, parts: list[str]) -> Path:
    """Concatenate the parts' labels.csv (contiguous index ranges, in order) into one file.

    A part's png paths are relative to the part; in the merged file they are
    relative to ``output_dir``. Keys (npz, tar) name samples, not files, and stay.
    """
    merged = output_dir / "labels.csv"
    with open(merged, "w", encoding="utf-8") as out:
        for number, part in enumerate(parts):
            header, *rows = (Path(part) / "labels.csv").read_text(encoding="utf-8").splitlines(keepends=True)
            if number == 0:
                out.write(header)
            prefix = Path(part).relative_to(output_dir).as_posix() + "/" if header.startswith("filename,") else ""
            out.writelines(prefix + row for row in rows)
    return merged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shards", type=int, required=True, help="number of tasks (N)")
    parser.add_argument("--output-dir", required=True, help="parts go to OUTPUT_DIR/part-I")
    parser.add_argument("--scheduler", help="address of a running Dask scheduler (default: a LocalCluster)")
    parser.add_argument("--local-workers", type=int, default=None, help="LocalCluster processes (default: cores)")
    args, options = parser.parse_known_args(argv)
    if args.shards < 1:
        parser.error("--shards must be at least 1")
    if "--seed" not in options:
        parser.error("give --seed: every task must make the same dataset")

    from dask.distributed import Client, LocalCluster

    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    cluster = None if args.scheduler else LocalCluster(n_workers=args.local_workers, threads_per_worker=1,
                                                        processes=True)
    with Client(args.scheduler or cluster) as client:
        futures = client.map(make_part, range(args.shards), shards=args.shards, output_dir=str(output_dir),
                             options=options, pure=False)
        parts = client.gather(futures)
    if cluster is not None:
        cluster.close()
    print(merge_labels(output_dir, parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
