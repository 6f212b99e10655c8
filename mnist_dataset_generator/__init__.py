"""Synthetic images of handwritten digit strings made from real MNIST digits.

The public names live here; importing the package is cheap: each loads, with
its submodule, on first use (PEP 562).

Examples
--------
>>> from mnist_dataset_generator import generate_numbers_sequence, filters
>>> source = (np.random.default_rng(0).integers(0, 256, (20, 28, 28)), np.arange(20) % 10)  # your own digits
>>> generate_numbers_sequence("42", (0, 4), 64, images=source, fltrs=[filters.blur(0.8)], rng=7).shape
(28, 64)
"""

from __future__ import annotations

import importlib

__version__ = "0.8.0"  # 0.8.0: glyph sources (fashion, kmnist, qmnist, emnist, your folders), patterns, unique labels, labels files; 0.7.0: formats as registered classes, lmdb, annotations, collate_ctc, the training example; 0.6.0: filters over stacks, one warp for all geometry, p; 0.5.0: visible-ink boxes, reading order, --verify --deep; 0.4.0: boxes, fit, epochs, the recipe; 0.3.0: folders record their files; 0.2.0: blocks

# Public name -> the submodule that defines it.
_NAMES = {
    "generate_numbers_sequence": "generator",
    "generate_dataset": "generator",
    "iter_dataset": "generator",
    "generate_videos": "generator",
    "SequenceDataset": "dataset",
    "collate_ctc": "collate",
    "collate_detection": "collate",
    "Recipe": "recipe",
    "Record": "records",
    "from_spec": "compose.filterspec",
    "export_dataset": "export.exporter",
    "verify_dataset": "export.verify",
    "load": "mnistdata",
    "fetch": "mnistdata",
    "MnistData": "mnistdata",
    "DownloadError": "mnistdata",
    "ChecksumError": "mnistdata",
    "IdxFormatError": "mnistdata",
}
# Submodules reachable as attributes (the seed's `from mnist_dataset_generator import generator, filters`).
_SUBMODULES = ("collate", "compose", "dataset", "export", "filters", "generator", "mnistdata", "recipe", "records", "sources")

__all__ = ["__version__", *sorted(_NAMES), "filters", "generator", "mnistdata"]


def __getattr__(name: str):
    if name in _NAMES:
        value = getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_NAMES, *_SUBMODULES})
