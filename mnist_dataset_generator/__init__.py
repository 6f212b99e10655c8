"""Synthetic images of handwritten digit strings made from real MNIST digits.

The package is cheap to import: submodules load on first use.

Examples
--------
>>> import mnist_dataset_generator as mdg
>>> data = mdg.mnistdata.load("train")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib

__version__ = "0.3.0"  # 0.3.0: dataset folders record their files (SHA256SUMS); 0.2.0: samples drawn per block

__all__ = [
    "__version__", "dataset", "export", "filters", "filterspec", "generator", "idx", "layout", "mnistdata",
    "strip", "testdata",
]


def __getattr__(name: str):
    # Lazy submodules keep `import mnist_dataset_generator` light (PEP 562).
    if name in __all__ and name != "__version__":
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
