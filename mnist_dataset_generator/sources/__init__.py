"""Where glyphs come from: the IDX codec (``idx``), the verified cache folder (``cache``), its
downloads (``download``, ``http``) and drawn test digits (``testdata``). The MNIST file table,
``load`` and the glyph source ``MnistData`` are in :mod:`mnist_dataset_generator.mnistdata`.
"""
