"""``python mnistdata.py TARGET_DIR``: write small MNIST-compatible test files.

Also importable from the repository root: ``import mnistdata`` gives the data
layer (``mnistdata.load``, ``mnistdata.write_test_data``, ...).
"""

from mnist_dataset_generator.mnistdata import *  # noqa: F401,F403 - the data layer's public names
from mnist_dataset_generator.mnistdata import __all__  # noqa: F401

if __name__ == "__main__":
    from mnist_dataset_generator.cli import mnistdata_console

    mnistdata_console("mnistdata.py")  # exits; a second Ctrl-C cannot cut the first one's clean-up short
