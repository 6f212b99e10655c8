"""Where glyphs come from: the IDX codec (``idx``), the verified cache folder (``cache``: the lock
and fetching what is missing; ``verified``: hashing, sums, stamps and each file's verdict), its
downloads (``download``, ``http``), drawn test digits (``testdata``) and the glyph source
``MnistData`` (``glyphs``). The MNIST file table and ``load`` are in
:mod:`mnist_dataset_generator.mnistdata`.
"""
