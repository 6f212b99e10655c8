"""Regenerate the README's pictures with the generator's own command line.

    python docs/make_pictures.py                     # MNIST from the default cache (downloads if needed)
    python docs/make_pictures.py -d /data/mnist      # or any option generator.py accepts
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mnist_dataset_generator.cli import generator_main  # noqa: E402

PICTURES = {
    "plain.png": ["4981278"],
    "spaced.png": ["-w", "360", "-s", "0,20", "-f", "distort", "498127864687234"],
    "even.png": ["-e", "-w", "300", "-s", "4,12", "4981278"],
    "blur.png": ["-f", "blur:sigma=1", "4981278"],
    "distort.png": ["-f", "distort:alpha=25", "4981278"],
    "resize.png": ["-f", "resize:width=16", "4981278"],
}


def main(extra: list[str]) -> int:
    for name, args in PICTURES.items():
        out = ROOT / "docs" / name
        status = generator_main([*args, "--seed", "2024", "--force", "-q", "-o", str(out), *extra])
        if status:
            return status
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
