"""Augmentation speed: ours against albumentations, against an earlier version, and across workers.

    python benchmarks/augment.py [-d DATA_DIR] [--base CHECKOUT] [--quick]

Needs the real MNIST files and ``pip install ".[bench]"`` (albumentations). Every figure is
the median of several runs (min..max), each run in its own process pinned to one BLAS
and OpenCV thread, the contenders' runs interleaved so a busy machine slows them alike:

* albumentations: ``Compose([ElasticTransform(alpha=34, sigma=4), Affine(shear=(-16.7, 16.7)),
  Rotate(limit=10), GaussianBlur(sigma_limit=0.6)])`` on each 28 x 28 MNIST digit (uint8),
  against ours, ``generate_dataset`` with ``elastic,slant,rotate,blur:sigma=0.6`` (8 digits
  a strip, width 224, gaps 0..10, one worker), per digit, composition of the strips included.
* ``crop,elastic,slant,thickness,blur:sigma=0.6``: strips per second, 1 and 2 workers.
* every built-in filter alone, per digit (strips as above), and plain strips (single, batch,
  overlapping): with ``--base``, the same figures from that checkout of the package (an
  earlier version, e.g. ``git worktree add /tmp/base v0.5.0``), measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILTERS = ["blur", "crop", "distort", "elastic", "noise", "resize:width=20", "rotate", "salt_pepper", "scale",
           "slant", "thickness"]
CHAIN = "elastic,slant,rotate,blur:sigma=0.6"
FIVE = "crop,elastic,slant,thickness,blur:sigma=0.6"
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _measure(job: dict) -> float:
    """One run of ``job`` in this process: its rate (digits, strips or images per second)."""
    import numpy as np

    from mnist_dataset_generator import mnistdata
    from mnist_dataset_generator.generator import generate_dataset, generate_numbers_sequence

    data = mnistdata.load("train", data_home=job["data"])
    kind, count = job["kind"], job["count"]
    if kind == "albumentations":
        import albumentations as A
        import cv2

        cv2.setNumThreads(1)
        pipeline = A.Compose([A.ElasticTransform(alpha=34, sigma=4, p=1), A.Affine(shear=(-16.7, 16.7), p=1),
                              A.Rotate(limit=10, p=1), A.GaussianBlur(sigma_limit=(0.6, 0.6), blur_limit=0, p=1)],
                             seed=0)
        digits = data.images[:count]
        pipeline(image=digits[0])  # warm
        start = time.perf_counter()
        for digit in digits:
            pipeline(image=digit)
        return count / (time.perf_counter() - start)
    if kind == "single":
        rng = np.random.default_rng(0)
        strings = [rng.integers(0, 10, 8) for _ in range(count)]
        generate_numbers_sequence(strings[0], (0, 10), 224, images=data, rng=rng)
        start = time.perf_counter()
        for s in strings:
            generate_numbers_sequence(s, (0, 10), 224, images=data, rng=rng)
        return count / (time.perf_counter() - start)
    spacing = tuple(job.get("spacing", (0, 10)))
    args = (count, 8, spacing, 224)
    options = dict(seed=1, images=data, workers=job.get("workers", 1), fltrs=job.get("spec"))
    generate_dataset(256, 8, spacing, 224, **{**options, "workers": 1})  # warm: imports, tables
    start = time.perf_counter()
    generate_dataset(*args, **options)
    seconds = time.perf_counter() - start
    return count * (8 if job.get("per_digit") else 1) / seconds


def _run(root: Path, job: dict) -> float:
    env = {**os.environ, **ONE_THREAD, "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, __file__, "--job", json.dumps(job)], env=env, cwd=root,
                         capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


def _rates(roots: dict, job: dict, repeats: int) -> dict:
    rates = {name: [] for name in roots}
    for _ in range(repeats):  # interleaved: a busy spell slows every contender alike
        for name, root in roots.items():
            rates[name].append(_run(root, job))
    return {name: (statistics.median(r), min(r), max(r)) for name, r in rates.items()}


def _fmt(r) -> str:
    return f"{r[0]:>10,.0f} ({r[1]:,.0f}..{r[2]:,.0f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-d", "--data-dir", help="MNIST folder (default: the cache)")
    parser.add_argument("--base", type=Path, help="a checkout of an earlier version, measured beside this one")
    parser.add_argument("--quick", action="store_true", help="fewer and smaller runs (a smoke run)")
    parser.add_argument("--repeats", type=int, help="runs per figure (default 5; 2 with --quick)")
    parser.add_argument("--strips", type=int, help="strips a run (default 2000; 300 with --quick)")
    parser.add_argument("--job", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.job:
        print(_measure(json.loads(args.job)))
        return 0
    began = time.perf_counter()
    repeats, strips = (2, 300) if args.quick else (5, 2000)
    repeats, strips = args.repeats or repeats, args.strips or strips
    data = args.data_dir
    ours = {"ours": ROOT}
    both = {**ours, **({"base": args.base.resolve()} if args.base else {})}
    import numpy as np

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"numpy {np.__version__}; one BLAS/OpenCV thread per process; base: {args.base or '-'}")
    table = []

    album = _rates({"albumentations": ROOT}, {"kind": "albumentations", "count": strips * 2, "data": data},
                   repeats)["albumentations"]
    chain = _rates(both, {"kind": "dataset", "count": strips, "spec": CHAIN, "per_digit": True, "data": data},
                   repeats)
    table.append((f"1. {CHAIN} per digit: ours", chain["ours"], f"{chain['ours'][0] / album[0]:.1f}x albumentations"
                  + (f", {chain['ours'][0] / chain['base'][0]:.1f}x base" if "base" in chain else "")))
    if "base" in chain:
        table.append(("   the same, base", chain["base"], f"{chain['base'][0] / album[0]:.2f}x albumentations"))
    table.append(("   albumentations 2.0.8 per digit (one thread)", album, ""))

    # 3x the strips: each run starts its pool of workers, which a short run does not repay
    one = _rates(both, {"kind": "dataset", "count": strips * 3, "spec": FIVE, "data": data, "workers": 1}, repeats)
    two = _rates(both, {"kind": "dataset", "count": strips * 3, "spec": FIVE, "data": data, "workers": 2}, repeats)
    for name in both:
        table.append((f"2. {FIVE} strips/s, 1 worker, {name}", one[name], ""))
        table.append((f"   2 workers, {name}", two[name], f"{two[name][0] / one[name][0]:.2f}x 1 worker"))

    table.append(("3. each filter alone, digits/s (strips of 8, with composition)", (0, 0, 0), ""))
    for spec in FILTERS:
        r = _rates(both, {"kind": "dataset", "count": strips, "spec": spec, "per_digit": True, "data": data},
                   repeats)
        us = 1e6 / r["ours"][0]
        note = f"{us:.0f} us a digit" + (f", base {1e6 / r['base'][0]:.0f} us: {r['ours'][0] / r['base'][0]:.1f}x"
                                         if "base" in r else "")
        table.append((f"   {spec}", r["ours"], note))

    if "base" in both:
        for label, job in (("4. plain batch, strips/s", {"kind": "dataset", "count": strips * 5}),
                           ("   overlapping batch (gaps -6..4), strips/s",
                            {"kind": "dataset", "count": strips, "spacing": (-6, 4)}),
                           ("   single strips, strips/s", {"kind": "single", "count": strips // 2})):
            r = _rates(both, {**job, "data": data}, repeats)
            table.append((label, r["ours"], f"{r['ours'][0] / r['base'][0]:.2f}x base ({_fmt(r['base']).strip()})"))

    width = max(len(r[0]) for r in table)
    print(f"\n{'':<{width}}  {'per second, median (min..max)':>32}  notes")
    for label, r, note in table:
        print(f"{label:<{width}}  {_fmt(r) if r[0] else '':>32}  {note}")
    print(f"\ntable made in {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
