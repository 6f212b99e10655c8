"""``python generator.py 4981278``: write an image of handwritten MNIST digits.

Also importable from the repository root, as training scripts already do::

    import generator
    img = generator.generate_numbers_sequence("4981278", (0, 10), 224)
    blurred = generator.generate_numbers_sequence("42", (2, 4), None, fltrs=[generator.filters.blur(1.0)])
"""

from mnist_dataset_generator import filters  # noqa: F401 - generator.filters.blur(...)
from mnist_dataset_generator.generator import *  # noqa: F401,F403
from mnist_dataset_generator.generator import __all__  # noqa: F401

if __name__ == "__main__":
    from mnist_dataset_generator.cli import generator_console

    generator_console("generator.py")  # exits; a second Ctrl-C cannot cut the first one's clean-up short
