"""The performance table: every figure next to its baselines, measured in the same run.

    python benchmarks/run.py [-d DATA_DIR] [--quick]

Needs the real MNIST files (the cache, ``-d``, or $GENERATOR_NUMBERS_SEQ_MNIST_MIRRORS) and
``pip install ".[bench]"`` (scikit-image, for the baselines' resize). Every figure is a median
of several runs with (min..max). Baselines, re-enacted here:

* A, the seed's approach: per digit a random index from the ``random`` module, seek and read
  784 bytes of the raw IDX file, ``np.array(list(bytes))``, invert and normalise with two
  ``np.vectorize`` lambdas, concatenate a white gap; filters on the whole strip, then
  ``skimage.transform.resize(strip, (28, width), mode="wrap")``.
* B, straightforward in-memory: arrays loaded once; per digit a random sample, ``1 - img/255``,
  ``np.hstack`` with gap arrays, ``skimage.transform.resize(..., anti_aliasing=True)``.
* The copy limit: ``np.copyto`` of the same number of output bytes from a prepared array;
  for context also into a fresh array each time, as a batch must get its output.

Before anything, 2 GB of memory is touched once: on a virtual machine the host backs guest
memory on first use, which made the first batch rows of a fresh VM up to 3x slower and their
medians a lottery. The package is byte-compiled first, as ``pip install`` does.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import scene  # noqa: E402 - section 7, the scenes' rows
import video  # noqa: E402 - section 6, the Moving MNIST rows
from export import byte_compile, run_once, verify_rates  # noqa: E402 - the export rows' measurement

from mnist_dataset_generator import mnistdata  # noqa: E402
from mnist_dataset_generator.dataset import SequenceDataset  # noqa: E402
from mnist_dataset_generator.filters import blur, distort  # noqa: E402
from mnist_dataset_generator.generator import (  # noqa: E402
    generate_dataset,
    generate_numbers_sequence,
)

DIGITS, WIDTH, SPACING = 8, 224, (0, 10)
WARM_UP_BYTES = 2 * 2**30


def timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def rate(count: int, seconds: list[float]) -> tuple[float, float, float]:
    rates = [count / s for s in seconds]
    return statistics.median(rates), min(rates), max(rates)


def fmt(r) -> str:
    return f"{r[0]:>10,.0f} ({r[1]:,.0f}..{r[2]:,.0f})"


class BaselineA:
    """The seed's approach, per digit from the raw file."""

    def __init__(self, folder: Path, data) -> None:
        self.images = open(folder / "train-images-idx3-ubyte", "rb")  # noqa: SIM115 - kept open for the run
        self.by_label = [list(map(int, idx)) for idx in data.digit_indices]
        self.invert = np.vectorize(lambda v: 255 - v)
        self.normalise = np.vectorize(lambda v: v / 255.0)

    def strip(self, digits, fltrs=()):
        from skimage.transform import resize

        parts = []
        for i, d in enumerate(digits):
            index = random.choice(self.by_label[d])
            self.images.seek(16 + 784 * index)
            pixels = np.array(list(self.images.read(784))).reshape(28, 28)
            parts.append(self.normalise(self.invert(pixels)))
            if i < len(digits) - 1:
                parts.append(np.ones((28, random.randint(*SPACING))))
        strip = np.concatenate(parts, axis=1)
        for f in fltrs:
            strip = f(strip)
        return resize(strip, (28, WIDTH), mode="wrap")


def baseline_b(data, digits, rng, fltrs=()):
    from skimage.transform import resize

    parts = []
    for i, d in enumerate(digits):
        img = 1 - data.images[rng.choice(data.digit_indices[d])] / 255
        for f in fltrs:  # the same filters as ours, on each digit (ink polarity)
            img = 1 - f(1 - img)
        parts.append(img)
        if i < len(digits) - 1:
            parts.append(np.ones((28, int(rng.integers(SPACING[0], SPACING[1] + 1)))))
    return resize(np.hstack(parts), (28, WIDTH), anti_aliasing=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-d", "--data-dir", help="MNIST folder (default: the cache)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and smaller batches (a smoke run)")
    args = parser.parse_args()
    repeats = 3 if args.quick else 5
    batch = 4000 if args.quick else 20000
    began = time.perf_counter()
    byte_compile()  # the start-up, load and export rows run fresh processes
    # A virtual machine's host backs guest memory on first use: the first 500 MB a fresh VM's
    # processes touch can take a second, later ones 0.08 s. Touch it once here, so batch rows
    # measure the generator and the kernel's page faults, not the host's first touch.
    start = time.perf_counter()
    np.ones(WARM_UP_BYTES // 4, np.float32)
    warm_up = time.perf_counter() - start
    data = mnistdata.load("train", data_home=args.data_dir)
    folder = Path(data.source)
    if not (folder / "train-images-idx3-ubyte").is_file():
        raise SystemExit(f"baseline A needs the plain train-images file in {folder}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"numpy {np.__version__}; real MNIST from {folder}; {WARM_UP_BYTES / 2**30:.0f} GB of memory "
          f"touched first in {warm_up:.1f} s")
    rng = np.random.default_rng(0)
    random.seed(0)
    strings = [rng.integers(0, 10, DIGITS) for _ in range(400)]
    a = BaselineA(folder, data)
    filtered = [blur(1.0), distort()]
    table = []

    # 1. single strips
    n_a = 60 if args.quick else 150
    ours = rate(len(strings), timed(lambda: [generate_numbers_sequence(s, SPACING, WIDTH, images=data, rng=rng)
                                             for s in strings], repeats))
    base_a = rate(n_a, timed(lambda: [a.strip(s) for s in strings[:n_a]], repeats))
    base_b = rate(len(strings), timed(lambda: [baseline_b(data, s, rng) for s in strings], repeats))
    table.append(("1. single strip, plain: ours", ours, f"{ours[0] / base_a[0]:.0f}x A, {ours[0] / base_b[0]:.1f}x B"))
    table.append(("   baseline A (seed's approach)", base_a, ""))
    table.append(("   baseline B (in-memory + skimage)", base_b, ""))
    ours_f = rate(len(strings), timed(lambda: [generate_numbers_sequence(s, SPACING, WIDTH, images=data,
                                                                         fltrs=filtered, rng=rng)
                                               for s in strings], repeats))
    same_filters = [blur(1.0), lambda im: distort()(im, rng=rng)]
    base_bf = rate(len(strings), timed(lambda: [baseline_b(data, s, rng, same_filters) for s in strings], repeats))
    table.append(("   with blur,distort: ours", ours_f, f"{ours_f[0] / base_bf[0]:.1f}x B with the same filters"))
    table.append(("   baseline B with blur,distort", base_bf, ""))

    # 2. batches, against the copy limit
    out = np.empty((batch, 28, WIDTH), np.float32)
    src = np.random.default_rng(1).random((batch, 28, WIDTH), dtype=np.float32)
    copy = rate(batch, timed(lambda: np.copyto(out, src), repeats))
    rows = [(f"{dtype}, {w} worker{'s' if w > 1 else ''}", dict(dtype=dtype, workers=w))
            for dtype in ("float32", "uint8") for w in (1, 2)]
    one = None
    for label, kw in rows:
        r = rate(batch, timed(lambda kw=kw: generate_dataset(batch, DIGITS, SPACING, WIDTH, seed=1,
                                                             data_home=args.data_dir, **kw), repeats))
        one = r if kw["workers"] == 1 else one
        note = f"{r[0] / base_b[0]:.1f}x B per strip, copy limit / {copy[0] / r[0]:,.1f}"
        if kw["workers"] == 2:
            note += f", {r[0] / one[0]:.2f}x 1 worker"
        table.append((f"2. batch {batch:,} {label}", r, note))
    for w in (1, 2):
        r = rate(batch, timed(lambda w=w: generate_dataset(batch, DIGITS, (0, 0), WIDTH, seed=1, workers=w,
                                                           data_home=args.data_dir), repeats))
        table.append((f"   batch {batch:,}, spacing 0,0 (no resampling), {w} worker{'s' if w > 1 else ''}", r,
                      f"copy limit / {copy[0] / r[0]:,.1f}"))
    # DataLoader's batch path: shuffled batches of 64 from a dataset of the batch's size
    ds = SequenceDataset(batch, DIGITS, SPACING, WIDTH, seed=1, images=data)
    order = np.random.default_rng(2).permutation(batch)
    shuffled = rate(batch, timed(lambda: [ds.__getitems__(order[k : k + 64]) for k in range(0, batch, 64)], repeats))
    table.append(("   SequenceDataset.__getitems__, shuffled batches of 64", shuffled,
                  f"{shuffled[0] / one[0]:.2f}x generate_dataset per strip (1 worker)"))
    items = max(1000, batch // 10)
    by_item = rate(items, timed(lambda: [ds[int(i)] for i in order[:items]], repeats))
    table.append(("   SequenceDataset[i], one at a time", by_item, f"{by_item[0] / one[0]:.2f}x generate_dataset"))
    boxed = rate(batch, timed(lambda: generate_dataset(batch, DIGITS, SPACING, WIDTH, seed=1, images=data,
                                                       return_boxes=True), repeats))
    table.append(("   generate_dataset(..., return_boxes=True), 1 worker", boxed,
                  f"{boxed[0] / one[0]:.2f}x without boxes"))
    table.append((f"   copy limit: np.copyto of {batch:,} float32 28x224", copy, ""))
    fresh = rate(batch, timed(lambda: np.copyto(np.empty_like(src), src), repeats))
    table.append(("   the same into a fresh array each time", fresh,
                  "what a batch pays to get its output's memory, for context"))

    # 3. exports (separate processes, outputs in /dev/shm when there is one)
    tmp = "/dev/shm" if os.path.isdir("/dev/shm") else None
    extra = [] if args.data_dir is None else ["-d", args.data_dir]
    for fmt_name in ("png", "npz"):
        results = {}
        for workers in (1, 2):
            runs = [run_once(fmt_name, workers, batch, extra, tmp) for _ in range(max(2, repeats - 2))]
            results[workers] = runs
            r = (statistics.median(x[0] for x in runs), min(x[0] for x in runs), max(x[0] for x in runs))
            note = f"peak RSS {max(x[1] for x in runs) / 2**20:.0f} MB, output {runs[0][2] / 2**20:.1f} MB"
            if workers == 2:
                note += f", {r[0] / statistics.median(x[0] for x in results[1]):.2f}x 1 worker"
            table.append((f"3. export {fmt_name} {batch:,}, {workers} worker(s)", r, note))
        if fmt_name == "png":  # checking a folder, against making it
            made = statistics.median(x[0] for x in results[1])
            for label, rates in verify_rates("png", batch, extra, tmp, max(2, repeats - 2)).items():
                r = (statistics.median(rates), min(rates), max(rates))
                table.append((f"   --verify png {batch:,}, {label}", r, f"{r[0] / made:.2f}x the export (1 worker)"))
    big = 10 * batch
    runs = run_once("npz", 2, big, extra, tmp)
    small = max(x[1] for x in results[2])
    table.append((f"   export npz {big:,}, 2 workers", (runs[0], runs[0], runs[0]),
                  f"peak RSS {runs[1] / 2**20:.0f} MB = {runs[1] / small:.2f}x the {batch:,} run"))

    # 4. start-up and 5. load, in fresh processes
    env = dict(os.environ)
    if args.data_dir:
        env["GENERATOR_NUMBERS_SEQ_MNIST_DIR"] = args.data_dir
    with tempfile.TemporaryDirectory() as scratch:
        def run(cmd):
            start = time.perf_counter()
            subprocess.run(cmd, check=True, env=env, cwd=scratch, capture_output=True)
            return time.perf_counter() - start

        gen = [run([sys.executable, str(ROOT / "generator.py"), "-q", "--force", "-o", "x.png", "4981278"])
               for _ in range(repeats + 2)]
        bare = [run([sys.executable, "-c", "import numpy, imageio"]) for _ in range(repeats + 2)]
    gm, bm = statistics.median(gen), statistics.median(bare)
    table.append(("4. start-up: generator.py -q 4981278 (s)", (gm, min(gen), max(gen)),
                  f"{gm / bm:.2f}x the bare import"))
    table.append(("   python -c 'import numpy, imageio' (s)", (bm, min(bare), max(bare)), ""))
    code = ("import time; t0 = time.perf_counter(); from mnist_dataset_generator import mnistdata; "
            "t1 = time.perf_counter(); d = mnistdata.load('train', download=False); "
            "print(time.perf_counter() - t1, t1 - t0, len(d))")
    runs = [subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True, text=True,
                           cwd=ROOT).stdout.split() for _ in range(repeats)]
    loads, imports = [1000 * float(r[0]) for r in runs], [1000 * float(r[1]) for r in runs]
    table.append(("5. load(), train split, fresh process, warm (ms)",
                  (statistics.median(loads), min(loads), max(loads)),
                  f"after importing the package and NumPy: {statistics.median(imports):.0f} ms"))

    # 6. Moving MNIST and 7. scenes (benchmarks/video.py and benchmarks/scene.py), each against its baseline
    for section, rows in (("6.", video.rows(data.images, args.data_dir, 1000 if args.quick else 5000, repeats)),
                          ("7.", scene.rows(np.asarray(data.images), np.asarray(data.labels), args.data_dir,
                                            1000 if args.quick else 5000, repeats, 100 if args.quick else 300))):
        for k, (label, values, note) in enumerate(rows):
            table.append((f"{section if k == 0 else '  '} {label}", (statistics.median(values), min(values),
                                                                      max(values)), note))

    width = max(len(r[0]) for r in table)
    print(f"\n{'':<{width}}  {'per second / value, median (min..max)':>38}  notes")
    for label, r, note in table:
        value = f"{r[0]:>10.3f} ({r[1]:.3f}..{r[2]:.3f})" if r[0] < 100 else fmt(r)
        print(f"{label:<{width}}  {value:>38}  {note}")
    print(f"\ntable made in {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
