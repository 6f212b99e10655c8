"""Moving MNIST sequences per second: ``generate_videos`` against the original generator's loop.

    python benchmarks/video.py [-d DATA_DIR] [--count N] [--repeats R] [--memory N,N...]

The baseline is the shape of the original (``data_handler.py`` of emansim/unsupervised-videos,
re-enacted here): per sequence a trajectory loop over frames with a per-digit bounce test,
then per frame and digit ``np.maximum`` of the float32 digit (``/ 255``) into the canvas. Both
make 20 frames of 64 x 64 with 2 digits from the real MNIST training split (the baseline also with
uint8 frames, like for like); figures are sequences per second, medians of the repeats with
(min..max), and their ratio to the float32 baseline. ``generate_videos`` and ``iter_dataset``
with 2 workers are compared with 1 worker in the same run, beside what two cores give here to
plain Python work (the same loop in one process, then in two at once): on a shared virtual
machine that ceiling is often well under 2x.

``--memory``: the peak resident memory of ``generator.py --preset moving-mnist --format npz`` writing
each count of sequences (one process each, one worker), to show it is bounded by the chunk, not
the count. ``benchmarks/run.py`` prints the same rows in its table (section 6).
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mnist_dataset_generator import Recipe, generate_videos, iter_dataset, mnistdata

WARM_UP_BYTES = 2 * 2**30


def original(images: np.ndarray, count: int, rng: np.random.Generator, frames: int = 20, digits: int = 2,
             size: int = 64, step: float = 0.1, dtype=np.float32) -> np.ndarray:
    """The original's per-frame loop: float32 output as it returns, or uint8 (the digits' own bytes, like for
    like with ``generate_videos``)."""
    canvas = size - 28
    data = np.zeros((count, frames, size, size), dtype)
    for j in range(count):
        for _ in range(digits):
            y, x, theta = rng.random(), rng.random(), rng.random() * 2 * np.pi
            v_y, v_x = np.sin(theta), np.cos(theta)
            start_y, start_x = np.zeros(frames), np.zeros(frames)
            for i in range(frames):
                y += v_y * step
                x += v_x * step
                if x <= 0:
                    x, v_x = 0.0, -v_x
                if x >= 1.0:
                    x, v_x = 1.0, -v_x
                if y <= 0:
                    y, v_y = 0.0, -v_y
                if y >= 1.0:
                    y, v_y = 1.0, -v_y
                start_y[i], start_x[i] = y, x
            top, left = (canvas * start_y).astype(np.int32), (canvas * start_x).astype(np.int32)
            digit = images[rng.integers(len(images))]
            digit = digit.astype(np.float32) / 255 if dtype == np.float32 else digit
            for i in range(frames):
                region = data[j, i, top[i]:top[i] + 28, left[i]:left[i] + 28]
                data[j, i, top[i]:top[i] + 28, left[i]:left[i] + 28] = np.maximum(region, digit)
    return data


def _spin(_=None) -> None:
    total = 0
    for i in range(3_000_000):
        total += i


def two_cores() -> float:
    """How much faster two processes do two loops of plain Python than one process does both."""
    start = time.perf_counter()
    _spin(), _spin()
    alone = time.perf_counter() - start
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    processes = [context.Process(target=_spin) for _ in range(2)]
    start = time.perf_counter()
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    return alone / (time.perf_counter() - start)


def rows(images: np.ndarray, data_dir: str | None, count: int, repeats: int) -> list[tuple[str, list[float], str]]:
    """``(label, rates, note)`` of each row: sequences per second of each repeat (the ceiling row: ratios)."""
    recipe = Recipe.preset("moving-mnist", dtype="uint8")

    def iterate(workers: int) -> None:
        for _ in iter_dataset(count, seed=0, data_home=data_dir, recipe=recipe, workers=workers):
            pass

    makers = {
        "original loop (float32)": lambda: original(images, count, np.random.default_rng(0)),
        "original loop, uint8": lambda: original(images, count, np.random.default_rng(0), dtype=np.uint8),
        "generate_videos, 1 worker": lambda: generate_videos(count, seed=0, data_home=data_dir),
        "generate_videos, boxes": lambda: generate_videos(count, seed=0, data_home=data_dir, return_boxes=True),
        "generate_videos, 2 workers": lambda: generate_videos(count, seed=0, data_home=data_dir, workers=2),
        "iter_dataset, 1 worker": lambda: iterate(1),
        "iter_dataset, 2 workers": lambda: iterate(2),
    }
    rates: dict[str, list[float]] = {name: [] for name in makers}
    ceiling = []
    for make in makers.values():
        make()  # warm: the split mapped, the code paths compiled
    for _ in range(repeats):  # interleaved, so a slow spell of a shared machine falls on every row
        for name, make in makers.items():
            start = time.perf_counter()
            make()
            rates[name].append(count / (time.perf_counter() - start))
        ceiling.append(two_cores())
    base = statistics.median(rates["original loop (float32)"])
    table = []
    for name, values in rates.items():
        note = f"{statistics.median(values) / base:.2f}x the original loop"
        if "2 workers" in name:
            one = statistics.median(rates[name.replace("2 workers", "1 worker")])
            note += f", {statistics.median(values) / one:.2f}x 1 worker"
        table.append((name, values, note))
    table.append(("two cores on plain Python (ratio)", ceiling, "the same loops in 2 processes / in 1"))
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-d", "--data-dir")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--memory", type=lambda text: [int(n) for n in text.split(",")], default=[],
                        metavar="N,N...", help="counts of sequences whose npz export's peak memory is measured")
    args = parser.parse_args()
    np.ones(WARM_UP_BYTES // 4, np.float32)  # a virtual machine's host backs memory on first use: once, here
    data = mnistdata.load("train", data_home=args.data_dir)
    print(f"Moving MNIST, {args.count} sequences of 20 frames 64 x 64, 2 digits, {args.repeats} repeats")
    for name, values, note in rows(data.images, args.data_dir, args.count, args.repeats):
        median = statistics.median(values)
        print(f"{name:<34} {median:>10,.2f} ({min(values):,.2f}..{max(values):,.2f})  {note}" if median < 100 else
              f"{name:<34} {median:>10,.0f} ({min(values):,.0f}..{max(values):,.0f})  {note}")
    for count in args.memory:
        print(f"npz export of {count:>6} sequences: peak {peak_rss(count, args.data_dir) / 2**20:7.1f} MiB resident")
    return 0


# VmHWM, not ru_maxrss: after fork and exec, ru_maxrss can still hold the parent's peak (this one's arrays)
_EXPORT = """
import re, sys
from pathlib import Path
from mnist_dataset_generator.cli import generator_main
status = generator_main(sys.argv[1:])
print(re.search(r"VmHWM:\\s*(\\d+) kB", Path("/proc/self/status").read_text()).group(1))
sys.exit(status)
"""


def peak_rss(count: int, data_dir: str | None) -> int:
    """Bytes resident at most in a process exporting ``count`` Moving MNIST sequences to npz."""
    with tempfile.TemporaryDirectory() as tmp:
        args = ["--preset", "moving-mnist", "--count", str(count), "--seed", "1", "--format", "npz",
                "--output-dir", str(Path(tmp) / "out"), "-q", *(["-d", data_dir] if data_dir else [])]
        done = subprocess.run([sys.executable, "-c", _EXPORT, *args], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).resolve().parent.parent)
    return int(done.stdout.split()[-1]) * 1024


if __name__ == "__main__":
    sys.exit(main())
