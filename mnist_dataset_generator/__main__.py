"""``python -m mnist_dataset_generator 4981278``: the generator's command line."""

import sys

from .cli import generator_main

sys.exit(generator_main(prog="python -m mnist_dataset_generator"))
