"""Moving MNIST sequences per second: ``generate_videos`` against the original generator's loop.

    python benchmarks/video.py [-d DATA_DIR] [--count N] [--repeats R] [--memory N,N...]

The baseline is the shape of the original (``data_handler.py`` of emansim/unsupervised-videos,
re-enacted here): per sequence a trajectory loop over frames with a per-digit bounce test,
then per frame and digit ``np.maximum`` of the float32 digit (``/ 255``) into the canvas. Both
make 20 frames of 64 x 64 with 2 digits from the real MNIST training split (the baseline also with
uint8 frames, like for like); figures are sequences per second, medians of the repeats with
(min..max), and their ratio to the float32 baseline; ``generate_videos`` with 2 workers is also
compared with 1 worker in the same run.

``--memory``: the peak resident memory of ``generator.py --preset moving-mnist --format npz`` writing
each count of sequences (one process each, one worker), to show it is bounded by the chunk, not
the count.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mnist_dataset_generator import generate_videos, mnistdata


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-d", "--data-dir")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--memory", type=lambda text: [int(n) for n in text.split(",")], default=[],
                        metavar="N,N...", help="counts of sequences whose npz export's peak memory is measured")
    args = parser.parse_args()
    data = mnistdata.load("train", data_home=args.data_dir)
    rows = {
        "original loop": lambda: original(data.images, args.count, np.random.default_rng(0)),
        "original loop, uint8": lambda: original(data.images, args.count, np.random.default_rng(0), dtype=np.uint8),
        "generate_videos": lambda: generate_videos(args.count, seed=0, data_home=args.data_dir),
        "generate_videos, boxes": lambda: generate_videos(args.count, seed=0, data_home=args.data_dir,
                                                          return_boxes=True),
        "generate_videos, 2 workers": lambda: generate_videos(args.count, seed=0, data_home=args.data_dir,
                                                              workers=2),
    }
    rates = {}
    for name, make in rows.items():
        make()  # warm: the split mapped, the code paths compiled
        seconds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            make()
            seconds.append(time.perf_counter() - start)
        rates[name] = [args.count / s for s in seconds]
    base = statistics.median(rates["original loop"])
    print(f"Moving MNIST, {args.count} sequences of 20 frames 64 x 64, 2 digits, {args.repeats} repeats")
    for name, values in rates.items():
        median = statistics.median(values)
        print(f"{name:<28} {median:>10,.0f} seq/s ({min(values):,.0f}..{max(values):,.0f})  {median / base:5.2f}x")
    two = statistics.median(rates["generate_videos, 2 workers"]) / statistics.median(rates["generate_videos"])
    print(f"2 workers / 1 worker: {two:.2f}x")
    for count in args.memory:
        print(f"npz export of {count:>6} sequences: peak {peak_rss(count, args.data_dir) / 2**20:7.1f} MiB resident")
    return 0


_EXPORT = """
import resource, sys
from mnist_dataset_generator.cli import generator_main
status = generator_main(sys.argv[1:])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
sys.exit(status)
"""


def peak_rss(count: int, data_dir: str | None) -> int:
    """Bytes resident at most in a process exporting ``count`` Moving MNIST sequences to npz."""
    with tempfile.TemporaryDirectory() as tmp:
        args = ["--preset", "moving-mnist", "--count", str(count), "--seed", "1", "--format", "npz",
                "--output-dir", str(Path(tmp) / "out"), "-q", *(["-d", data_dir] if data_dir else [])]
        done = subprocess.run([sys.executable, "-c", _EXPORT, *args], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).resolve().parent.parent)
    return int(done.stdout.split()[-1]) * 1024  # ru_maxrss: KiB on Linux


if __name__ == "__main__":
    sys.exit(main())
