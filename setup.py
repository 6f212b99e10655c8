import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(
    r'^__version__ = "([^"]+)"', (HERE / "mnist_dataset_generator" / "__init__.py").read_text(), re.M
).group(1)


def requirements(name):
    lines = (HERE / name).read_text().splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


setup(
    name="mnist_dataset_generator",
    version=VERSION,
    description="Synthetic images of handwritten digit strings made from real MNIST digits",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    packages=find_packages(include=["mnist_dataset_generator", "mnist_dataset_generator.*"]),
    package_data={"mnist_dataset_generator": ["py.typed"]},
    python_requires=">=3.11",
    install_requires=requirements("requirements.txt"),
    extras_require={
        "test": requirements("requirements-test.txt"),
        # optional: examples/dask_shards.py (tested with 2026.8.0)
        "dask": ["dask[distributed]>=2026.8.0"],
        # optional: SequenceDataset never imports torch; this is for DataLoader users (tested with 2.13.0)
        "torch": ["torch>=2.13.0"],
        # examples/train_crnn.py, the CRNN + CTC reader trained on strips made on the fly (tested with 2.13.0)
        "train": ["torch>=2.13.0"],
        # optional: --format lmdb, the database OCR trainers read (tested with 1.4.1 and 3.0.0)
        "lmdb": ["lmdb>=1.4.1"],
        # benchmarks: run.py's baselines resize with scikit-image (tested with 0.26.0); augment.py
        # measures albumentations (tested with 2.0.8)
        "bench": ["scikit-image>=0.26.0", "albumentations>=2.0.8"],
    },
    entry_points={
        "console_scripts": [
            "mnist-generator=mnist_dataset_generator.cli:generator_console",
            "mnist-data=mnist_dataset_generator.cli:mnistdata_console",
        ]
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.11",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
        "Topic :: Scientific/Engineering :: Image Processing",
    ],
)
