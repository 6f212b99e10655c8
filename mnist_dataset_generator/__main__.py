"""``python -m mnist_dataset_generator 4981278``: the generator's command line."""

from .cli import generator_console

generator_console("python -m mnist_dataset_generator")
