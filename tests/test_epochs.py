"""Epochs (fresh handwriting for fixed labels) and the batch path DataLoader calls."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from mnist_dataset_generator import SequenceDataset, generate_dataset
from mnist_dataset_generator.filters import distort
from mnist_dataset_generator.mnistdata import MnistData
from mnist_dataset_generator.sources.testdata import draw_digits

LABELS = np.arange(300) % 10
SOURCE = MnistData.from_arrays(draw_digits(LABELS, np.random.default_rng(5)), LABELS)
ARGS = (700, (2, 6), (0, 8), 200)  # three blocks of 256: indices from several blocks


@pytest.mark.parametrize("kwargs", [{}, {"fltrs": [distort()]}, {"fit": "pad", "align": "random"}])
def test_labels_stay_and_everything_else_is_fresh_each_epoch(kwargs):
    ds = SequenceDataset(*ARGS, seed=11, images=SOURCE, **kwargs)
    first = [ds[i] for i in range(0, 700, 35)]
    ds.set_epoch(1)
    second = [ds[i] for i in range(0, 700, 35)]
    assert [label for _, label in first] == [label for _, label in second]
    assert sum(np.array_equal(a, b) for (a, _), (b, _) in zip(first, second, strict=True)) == 0
    ds.set_epoch(0)
    assert all(np.array_equal(ds[i][0], image) for i, (image, _) in zip(range(0, 700, 35), first, strict=True))


def test_an_epoch_is_a_pure_function_of_seed_epoch_and_index():
    ds = SequenceDataset(*ARGS, seed=11, images=SOURCE, fltrs=[distort()])
    ds.set_epoch(3)
    fresh = SequenceDataset(*ARGS, seed=11, images=SOURCE, fltrs=[distort()], epoch=3)
    copied = pickle.loads(pickle.dumps(ds))  # what a DataLoader worker receives
    batch, labels = generate_dataset(*ARGS, seed=11, images=SOURCE, fltrs=[distort()], epoch=3, workers=2)
    for i in (0, 255, 256, 699):
        for other in (fresh, copied):
            assert np.array_equal(other[i][0], ds[i][0]) and other[i][1] == ds[i][1]
        assert np.array_equal(batch[i], ds[i][0]) and labels[i] == ds[i][1]
    assert repr(copied).count("epoch=3") == 1


def test_epoch_zero_is_what_earlier_versions_made():
    ds = SequenceDataset(*ARGS, seed=11, images=SOURCE)
    plain, labels = generate_dataset(*ARGS, seed=11, images=SOURCE)
    again, _ = generate_dataset(*ARGS, seed=11, images=SOURCE, epoch=0)
    assert np.array_equal(plain, again) and ds.epoch == 0
    assert np.array_equal(ds[300][0], plain[300])


@pytest.mark.parametrize("epoch", [-1, 1.5, "2", True])
def test_bad_epoch_is_named(epoch):
    with pytest.raises(ValueError, match=f"epoch must be a non-negative integer, got {epoch!r}"):
        SequenceDataset(*ARGS, seed=1, images=SOURCE, epoch=epoch)
    ds = SequenceDataset(*ARGS, seed=1, images=SOURCE)
    with pytest.raises(ValueError, match="epoch must be a non-negative integer"):
        ds.set_epoch(epoch)


@pytest.mark.parametrize("kwargs", [{}, {"fltrs": [distort()]}, {"return_boxes": True, "fit": "pad"},
                                    {"dtype": "uint8", "evenly": True}])
def test_getitems_is_each_item_rendered_together(kwargs):
    ds = SequenceDataset(*ARGS, seed=2, images=SOURCE, epoch=1, **kwargs)
    # shuffled, a repeat, a negative index, and the first and last from one block with others between
    indices = np.random.default_rng(0).permutation(700)[:64].tolist() + [5, 5, -1, 300, 3, 301]
    items = ds.__getitems__(indices)
    assert len(items) == len(indices)
    for i, item in zip(indices, items, strict=True):
        alone = ds[i]
        assert len(item) == len(alone) == (3 if kwargs.get("return_boxes") else 2)
        assert np.array_equal(item[0], alone[0]) and item[1] == alone[1]
        if len(item) == 3:
            assert np.array_equal(item[2], alone[2])
    # the first and last index in one block, another block between them
    for item, i in zip(ds.__getitems__([300, 3, 301]), [300, 3, 301], strict=True):
        assert np.array_equal(item[0], ds[i][0]) and item[1] == ds[i][1]
    with pytest.raises(IndexError):
        ds.__getitems__([0, 700])
    with pytest.raises(TypeError):
        ds.__getitems__([0, 1.0])


def test_transform_applies_to_batches_too():
    ds = SequenceDataset(*ARGS, seed=2, images=SOURCE, transform=lambda img: img.sum())
    assert [s for s, _ in ds.__getitems__([3, 4])] == [ds[3][0], ds[4][0]]


def test_torch_dataloader_uses_the_batch_path():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    ds = SequenceDataset(*ARGS, seed=2, images=SOURCE, return_boxes=True)
    calls = []
    original = ds.__getitems__

    def spy(indices):
        calls.append(len(indices))
        return original(indices)

    ds.__getitems__ = spy
    loader = DataLoader(ds, batch_size=16, shuffle=True, collate_fn=lambda items: items,
                        generator=torch.Generator().manual_seed(0))
    seen = [item for batch in loader for item in batch]
    assert calls and max(calls) == 16 and len(seen) == 700


@pytest.mark.parametrize("persistent", [False, True])
def test_set_epoch_with_dataloader_workers_behaves_as_documented(persistent):
    pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    ds = SequenceDataset(60, 3, (0, 4), 100, seed=8, images=SOURCE)
    loader = DataLoader(ds, batch_size=20, num_workers=2, persistent_workers=persistent,
                        collate_fn=lambda items: items)
    first = [image for batch in loader for image, _ in batch]
    ds.set_epoch(1)
    second = [image for batch in loader for image, _ in batch]
    expected = [image for image, _ in ds.__getitems__(range(60))]
    if persistent:  # the workers kept the dataset of the first epoch (documented)
        assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    else:  # workers started anew for the epoch: they draw epoch 1
        assert all(np.array_equal(a, b) for a, b in zip(second, expected, strict=True))
        assert not any(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
