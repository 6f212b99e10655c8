"""Command-line tools: the only place that prints, draws bars and picks exit codes.

``generator`` (``generator.py``, ``mnist-generator``, ``python -m mnist_dataset_generator``) and
``mnistdata`` (``mnistdata.py``, ``mnist-data``) are the two tools; ``common`` holds what they share:
the parser with one-line errors, the exit codes, logging to stderr and the mapping of errors to
one line on stderr and an exit status.

Exit status: 0 success, 1 environment (download failed, disk, permissions,
damaged data), 2 usage (bad arguments). Errors are one line on stderr with no
traceback; results go to stdout.
"""

from __future__ import annotations

from .generator import generator_console, generator_main
from .mnistdata import mnistdata_console, mnistdata_main

__all__ = ["generator_console", "generator_main", "mnistdata_console", "mnistdata_main"]
