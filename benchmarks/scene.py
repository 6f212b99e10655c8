"""Detection scenes per second: ``layout="scene"`` against the public detection-MNIST scripts' loop.

    python benchmarks/scene.py [-d DATA_DIR] [--count N] [--repeats R]

The baseline is the shape of the public detection-MNIST scripts, re-enacted here: per scene, per
digit a random training image, a random side, ``skimage.transform.resize`` to it, then corners
drawn until the square's IoU with every square placed is under the limit (up to 100 tries, then
the scene starts again), and ``np.maximum`` into a float canvas; boxes are the squares. Two cases:
64 x 64 with 2 digits of 28 px (any overlap), and 300 x 300 with 10 digits of 15-100 px and IoU
under 0.25. Ours makes the same scenes through ``generate_dataset`` (uint8, white on black, with
boxes tight to the ink), one worker and two. Figures are scenes per second, medians of the
repeats (interleaved) with (min..max), and ratios to the baseline of the same case.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mnist_dataset_generator import Recipe, generate_dataset, mnistdata

WARM_UP_BYTES = 2 * 2**30
CASES = {
    "64 x 64, 2 digits": {"size": 64, "digits": 2, "sides": (28, 28), "iou": 1.0},
    "300 x 300, 10 digits of 15-100 px, IoU < 0.25": {"size": 300, "digits": 10, "sides": (15, 100), "iou": 0.25},
}


def _iou(a, b) -> float:
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def baseline(images: np.ndarray, labels: np.ndarray, count: int, rng: np.random.Generator, size: int, digits: int,
             sides: tuple[int, int], iou: float) -> tuple[list, list]:
    """The scripts' loop: scikit-image resize per digit, rejection sampling per square."""
    from skimage.transform import resize

    scenes, annotations = [], []
    while len(scenes) < count:
        canvas = np.zeros((size, size), np.float32)
        boxes = []
        for _ in range(digits):
            k = rng.integers(len(images))
            side = int(rng.integers(sides[0], sides[1] + 1))
            glyph = resize(images[k], (side, side), anti_aliasing=True, preserve_range=True).astype(np.float32)
            for _ in range(100):
                y, x = int(rng.integers(size - side + 1)), int(rng.integers(size - side + 1))
                box = (x, y, x + side, y + side)
                if all(_iou(box, b) <= iou for b in boxes):
                    break
            else:
                break  # no place: the scene starts again
            canvas[y : y + side, x : x + side] = np.maximum(canvas[y : y + side, x : x + side], glyph / 255)
            boxes.append((*box, int(labels[k])))
        if len(boxes) == digits:
            scenes.append(canvas)
            annotations.append(boxes)
    return scenes, annotations


def rows(images: np.ndarray, labels: np.ndarray, data_dir: str | None, count: int, repeats: int, baseline_count: int
         ) -> list[tuple[str, list[float], str]]:
    """``(label, rates, note)`` of each row: scenes per second of each repeat."""
    makers = {}
    for name, case in CASES.items():
        recipe = Recipe(layout="scene", length=case["digits"], image_height=case["size"], image_width=case["size"],
                        scale=(case["sides"][0] / 28, case["sides"][1] / 28), max_iou=case["iou"], dtype="uint8",
                        background="black")
        makers[f"{name}: baseline (skimage, rejection)"] = (baseline_count, lambda case=case: baseline(
            images, labels, baseline_count, np.random.default_rng(0), case["size"], case["digits"], case["sides"],
            case["iou"]))
        for workers in (1, 2):
            makers[f"{name}: ours, {workers} worker{'s' if workers > 1 else ''}"] = (
                count, lambda recipe=recipe, workers=workers: generate_dataset(
                    count, seed=0, data_home=data_dir, recipe=recipe, return_boxes=True, workers=workers))
    rates: dict[str, list[float]] = {name: [] for name in makers}
    for _, make in makers.values():
        make()  # warm
    for _ in range(repeats):
        for name, (n, make) in makers.items():
            start = time.perf_counter()
            make()
            rates[name].append(n / (time.perf_counter() - start))
    table = []
    for name, values in rates.items():
        case = name.split(": ")[0]
        base = statistics.median(rates[f"{case}: baseline (skimage, rejection)"])
        note = "" if "baseline" in name else f"{statistics.median(values) / base:.1f}x the baseline"
        if "2 workers" in name:
            note += f", {statistics.median(values) / statistics.median(rates[f'{case}: ours, 1 worker']):.2f}x 1 worker"
        table.append((name, values, note))
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-d", "--data-dir")
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--baseline-count", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    np.ones(WARM_UP_BYTES // 4, np.float32)  # a virtual machine's host backs memory on first use: once, here
    data = mnistdata.load("train", data_home=args.data_dir)
    print(f"scenes: ours {args.count} a run, the baseline {args.baseline_count}; {args.repeats} repeats")
    for name, values, note in rows(np.asarray(data.images), np.asarray(data.labels), args.data_dir, args.count,
                                   args.repeats, args.baseline_count):
        median = statistics.median(values)
        print(f"{name:<66} {median:>10,.0f} ({min(values):,.0f}..{max(values):,.0f})  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
