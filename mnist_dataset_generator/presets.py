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

``cluttered-mnist``, ``cluttered-mnist-100``
    Cluttered MNIST (Mnih, Heess, Graves and Kavukcuoglu, "Recurrent Models of Visual Attention",
    NIPS 2014; later the spatial transformer networks' benchmark; google-deepmind's
    mnist-cluttered): one 28 px digit placed uniformly on a 60 x 60 canvas, over 4 pieces of
    8 x 8 cut from random digits of the split and strewn uniformly; the 100 x 100 variant with 8
    pieces. Combined by their maximum, white on black. Differs: the pieces of the original come
    from any digit and may cut through empty corners, as ours; ours are seeded, and the digit has
    its box and mask (the pieces have none).
``multi-mnist``
    MultiMNIST (Sabour, Frosst and Hinton, "Dynamic Routing Between Capsules", NIPS 2017): two
    digits on a 36 x 36 canvas, each shifted up to 4 px each way from the centre (uniform over the
    8 px a 28 px digit has there), their ink summed and clipped, two different classes
    (``distinct``). Differs: the original shifts each digit of a 28 px image by up to 4 px
    inside the 36 px canvas, which is the same range of places; ours is seeded and gives each
    digit its box and mask.
``double-mnist``
    The double-digit canvases of multi-digit MNIST collections (shaohua0116/MultiDigitMNIST: 64 x 64
    with two digits): two 28 px digits anywhere on a 64 x 64 canvas without overlap, white on
    black, the label read top to bottom, then left to right. Differs: those collections fix a
    split of classes per subset; ours draws any pair.
``air``
    The multi-digit canvases of Attend, Infer, Repeat (Eslami et al., NIPS 2016), as Pyro's public
    re-creation makes them (``pyro.contrib.examples.multi_mnist``): 0 to 2 digits (uniform) on a
    50 x 50 canvas, each shrunk by a factor ``s`` drawn from a normal of mean 1.3 and deviation 0.1
    (28 / 1.3, about 21.5 px a side), placed uniformly, summed. Differs: the side is drawn uniformly
    in 18..25 px (the normal's two deviations each way, scale 0.625..0.91 of 28 px) rather than as
    ``int(28 / s)``; sums are clipped rather than the whole canvas drawn again where two digits' ink
    passes 255.
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = ["PRESETS", "check_preset"]

PRESETS = MappingProxyType({
    "moving-mnist": MappingProxyType({
        "layout": "video", "length": 2, "image_height": 64, "image_width": 64, "frames": 20, "speed": 0.1,
        "background": "black", "split": "train",
    }),
    "cluttered-mnist": MappingProxyType({
        "layout": "scene", "length": 1, "image_height": 60, "image_width": 60, "scale": 1.0, "max_iou": 1.0,
        "clutter": (4, 8), "background": "black", "split": "train",
    }),
    "cluttered-mnist-100": MappingProxyType({
        "layout": "scene", "length": 1, "image_height": 100, "image_width": 100, "scale": 1.0, "max_iou": 1.0,
        "clutter": (8, 8), "background": "black", "split": "train",
    }),
    "multi-mnist": MappingProxyType({
        "layout": "scene", "length": 2, "image_height": 36, "image_width": 36, "scale": 1.0, "max_iou": 1.0,
        "combine": "sum", "distinct": True, "background": "black", "split": "train",
    }),
    "double-mnist": MappingProxyType({
        "layout": "scene", "length": 2, "image_height": 64, "image_width": 64, "scale": 1.0, "max_iou": 0.0,
        "background": "black", "split": "train",
    }),
    "air": MappingProxyType({
        "layout": "scene", "length": (0, 2), "image_height": 50, "image_width": 50, "scale": (0.625, 0.91),
        "max_iou": 1.0, "combine": "sum", "background": "black", "split": "train",
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
    ValueError: unknown preset 'moving'; the presets are moving-mnist, cluttered-mnist, cluttered-mnist-100, multi-mnist, double-mnist, air
    """
    if not isinstance(name, str) or name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; the presets are {', '.join(PRESETS)}")
    return dict(PRESETS[name])
