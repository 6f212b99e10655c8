"""The public surface: names at the top, the seed's doors, a light import."""

from __future__ import annotations

import subprocess
import sys

import mnist_dataset_generator as mdg
from conftest import REPO


def test_public_names_import_from_the_top_and_are_the_real_objects():
    from mnist_dataset_generator import (
        ChecksumError,
        DownloadError,
        IdxFormatError,
        MnistData,
        SequenceDataset,
        dataset,
        export_dataset,
        fetch,
        from_spec,
        generate_dataset,
        generate_numbers_sequence,
        generator,
        iter_dataset,
        load,
        mnistdata,
        verify_dataset,
    )
    from mnist_dataset_generator.compose import filterspec
    from mnist_dataset_generator.export import exporter as export
    from mnist_dataset_generator.export import verify as datasetverify

    assert generate_numbers_sequence is generator.generate_numbers_sequence
    assert (generate_dataset, iter_dataset) == (generator.generate_dataset, generator.iter_dataset)
    assert SequenceDataset is dataset.SequenceDataset and from_spec is filterspec.from_spec
    assert export_dataset is export.export_dataset and verify_dataset is datasetverify.verify_dataset
    assert (load, fetch, MnistData) == (mnistdata.load, mnistdata.fetch, mnistdata.MnistData)
    assert issubclass(DownloadError, OSError) and issubclass(ChecksumError, ValueError)
    assert issubclass(IdxFormatError, ValueError)
    from mnist_dataset_generator import Recipe, Record, recipe, records

    assert Recipe is recipe.Recipe and Record is records.Record
    for name in mdg.__all__:
        assert getattr(mdg, name) is not None


def test_the_seeds_doors_keep_working():
    from mnist_dataset_generator import filters, generator

    assert callable(generator.generate_numbers_sequence) and callable(filters.blur)
    code = "import generator, mnistdata; print(callable(generator.generate_numbers_sequence), callable(mnistdata.load))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.stdout.split() == ["True", "True"], result.stderr


def test_importing_the_package_loads_no_numpy_and_no_submodule():
    code = ("import sys, mnist_dataset_generator as m; "
            "print('numpy' in sys.modules, sorted(k for k in sys.modules if k.startswith('mnist_dataset_generator.')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.stdout.strip() == "False []", result.stdout + result.stderr


def test_an_unknown_name_is_an_attribute_error():
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'nosuch'"):
        mdg.nosuch  # noqa: B018
