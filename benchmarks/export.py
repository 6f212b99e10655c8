"""Dataset export throughput and peak memory, measured side by side in one run.

    python benchmarks/export.py [--count 20000] [--repeats 3] [-d DATA_DIR]

Runs ``generator.py --count N --length 8 -w 224 -s 0,10 --seed 1 --output-dir ...``
for png and npz with 1 and 2 workers, each ``--repeats`` times, and prints
the median images/s (min..max), the ratio of 2 workers to 1, and the peak
resident memory of the whole process tree (parent plus workers, sampled every
20 ms from /proc: Linux only). A last row repeats npz at 3x the count to show
that memory does not grow with N. Outputs go to /dev/shm by default: on a
disk mounted with ``discard``, deleting one run's 20,000 files stalls the next
run's writes, which measures the disk rather than the tool.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def byte_compile() -> None:
    """Byte-compile the package once, as ``pip install`` does. Where PYTHONDONTWRITEBYTECODE is
    set (this workplace sets it) every process would otherwise compile the package's modules
    from source again: 30 ms of each start-up that no installed copy pays."""
    import compileall

    compileall.compile_dir(ROOT / "mnist_dataset_generator", quiet=1)


def run_once(fmt: str, workers: int, count: int, extra: list[str], tmp: str | None = None) -> tuple[float, int, int]:
    """(images/s, peak tree RSS bytes, output bytes) of one export."""
    out = Path(tempfile.mkdtemp(prefix="mdg-bench-", dir=tmp))
    try:
        cmd = [sys.executable, str(ROOT / "generator.py"), "--count", str(count), "--length", "8", "-w", "224",
               "-s", "0,10", "--seed", "1", "--format", fmt, "--workers", str(workers), "-q",
               "--output-dir", str(out / "ds"), *extra]
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, tree_rss(proc.pid))
            time.sleep(0.02)
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"export failed: {proc.stderr.read().decode()}")
        size = sum(p.stat().st_size for p in (out / "ds").rglob("*") if p.is_file())
        return count / seconds, peak, size
    finally:
        shutil.rmtree(out, ignore_errors=True)


def verify_rates(fmt: str, count: int, extra: list[str], tmp: str | None, repeats: int) -> dict[str, list[float]]:
    """Images/s of ``--verify`` and ``--verify --deep`` (1 and 2 workers) on one export of ``count`` samples."""
    out = Path(tempfile.mkdtemp(prefix="mdg-bench-", dir=tmp))
    try:
        folder = out / "ds"
        subprocess.run([sys.executable, str(ROOT / "generator.py"), "--count", str(count), "--length", "8", "-w",
                        "224", "-s", "0,10", "--seed", "1", "--format", fmt, "-q", "--output-dir", str(folder),
                        *extra], check=True, capture_output=True)
        rates: dict[str, list[float]] = {}
        for label, more in (("verify", []), ("deep, 1 worker", ["--deep", *extra]),
                            ("deep, 2 workers", ["--deep", "--workers", "2", *extra])):
            for _ in range(repeats):
                started = time.perf_counter()
                subprocess.run([sys.executable, str(ROOT / "generator.py"), "-q", "--verify", str(folder), *more],
                               check=True, capture_output=True)
                rates.setdefault(label, []).append(count / (time.perf_counter() - started))
        return rates
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tmp", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                        help="where the outputs go (default /dev/shm: measures the tool, not the disk)")
    args, extra = parser.parse_known_args()
    byte_compile()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"output in {args.tmp or tempfile.gettempdir()}")
    print(f"{'format':6} {'workers':>7} {'count':>7} {'images/s median (min..max)':>28} {'vs 1 worker':>11} "
          f"{'peak RSS MB':>11} {'output MB':>9}")
    one = {}
    rows = [(fmt, w, args.count) for fmt in ("png", "npz") for w in (1, 2)] + [("npz", 2, 3 * args.count)]
    for fmt, workers, count in rows:
        results = [run_once(fmt, workers, count, extra, args.tmp) for _ in range(args.repeats)]
        rates = [r[0] for r in results]
        median = statistics.median(rates)
        if workers == 1:
            one[fmt] = median
        ratio = f"{median / one[fmt]:.2f}x" if workers == 2 and fmt in one else ""
        print(f"{fmt:6} {workers:>7} {count:>7} {median:>10.0f} ({min(rates):.0f}..{max(rates):.0f}){'':>8} "
              f"{ratio:>11} {max(r[1] for r in results) / 2**20:>11.0f} {results[0][2] / 2**20:>9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
