"""Recipes of the standard synthetic-MNIST benchmarks: :data:`PRESETS`, read by :meth:`.recipe.Recipe.preset`.

Each preset is the fields of a :class:`.recipe.Recipe` that reproduce a benchmark's published
parameters; any field can be overridden (``Recipe.preset("moving-mnist", frames=10)``, or a
flag after ``--preset`` on the command line). What differs from the originals is said with each:
above all, the originals were unseeded scripts, and these are seeded (a sample is a pure
function of the seed, the epoch and its index) and give each glyph's box in every frame.

``moving-mnist``
    Moving MNIST (Srivastava, Mansimov and Salakhutdinov, "Unsupervised Learning of Video
    Representations using LSTMs", ICML 2015; the generator ``data_handler.py`` of
    emansim/unsupervised-videos): 20 frames of 64 x 64, two digits of the training split, each
    starting uniformly in the 36 px range a 28 px glyph can take, moving 0.1 of that range per
    frame (about 3.6 px) in a direction uniform in [0, 2 pi), bouncing off the walls, combined by
    their maximum, white ink on black. Differs: the originals' widely shared file
    ``mnist_test_seq.npy`` is ``(T, N, 64, 64)``; ours is ``(N, T, 64, 64)`` as every layout's
    samples are (``np.swapaxes(images, 0, 1)`` gives the other); and our sequences carry labels
    and boxes.
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = ["PRESETS", "check_preset"]

PRESETS = MappingProxyType({
    "moving-mnist": MappingProxyType({
        "layout": "video", "length": 2, "image_height": 64, "image_width": 64, "frames": 20, "speed": 0.1,
        "background": "black", "split": "train",
    }),
})
"""Every preset by name: the recipe fields it sets (read-only)."""


def check_preset(name) -> dict:
    """The fields of preset ``name``, a new ``dict``; an unknown name is refused, listing the presets.

    Examples
    --------
    >>> check_preset("moving-mnist")["frames"]
    20
    >>> check_preset("moving")
    Traceback (most recent call last):
    ValueError: unknown preset 'moving'; the presets are moving-mnist
    """
    if not isinstance(name, str) or name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; the presets are {', '.join(PRESETS)}")
    return dict(PRESETS[name])
