"""The recipe: validated once, to and from JSON, taken by every dataset door."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mnist_dataset_generator import SequenceDataset, generate_dataset, iter_dataset
from mnist_dataset_generator.filters import blur
from mnist_dataset_generator.mnistdata import MnistData
from mnist_dataset_generator.recipe import FIELDS, RECIPE_VERSION, Recipe
from mnist_dataset_generator.sources.testdata import draw_digits

LABELS = np.arange(200) % 10
SOURCE = MnistData.from_arrays(draw_digits(LABELS, np.random.default_rng(2)), LABELS)


@pytest.mark.parametrize("recipe", [
    Recipe(),
    Recipe(length=(3, 7), spacing_range=(-4, 9), image_width=250, image_height=32, evenly=True, fit="pad",
           align="random", fltrs="blur:sigma=0.8,distort", background="black", split="test", dtype="uint8"),
    Recipe(labels=["007", "42"], spacing_range=(1, 1), image_width=90),
    Recipe(pattern="+dd (ddd) ddd-dddd", unique=True, separators="gap", spacing_range=(0, 3), image_width=520,
           source="fashion"),
    Recipe(layout="video", length=(1, 3), frames=7, speed=(0.05, 0.2), image_height=48, background="black"),
    Recipe(layout="scene", length=(0, 3), scale=(0.5, 1.5), max_iou=0.25, clutter=(4, 8), combine="sum",
           image_height=90, image_width=100, distinct=True),
])
def test_json_round_trip_is_exact(recipe):
    text = json.dumps(recipe.to_json())
    again = Recipe.from_json(text)
    assert again == recipe and again.to_json() == recipe.to_json()
    # The content options are written only when set: the JSON of earlier recipes (and the keys of their
    # exports, which --resume compares) stays what it was.
    optional = {f for f in ("pattern", "unique", "separators", "source", "layout", "frames", "speed", "scale",
                            "max_iou", "clutter", "combine", "distinct", "lines", "line_gap")
                if getattr(recipe, f) == getattr(Recipe(), f)}
    assert set(recipe.to_json()) == {"recipe", "filters", *(f for f in FIELDS if f != "fltrs")} - optional


def test_normalised_once():
    r = Recipe(length=5, spacing_range=(2, 2))
    assert r.length == (5, 5) and r.image_width == 5 * 28 + 4 * 2 and r.height == 28
    assert Recipe(labels=["1", "12345"], image_width=200).length == (1, 5)


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"labels": ["12"], "length": 5}, "give labels or length, not both"),
    ({"split": ["train"]}, "split must be one of test, train, got \\['train'\\]"),
    ({"fltrs": 123}, "fltrs must be a list of filters or -f text"),
    ({"align": "random", "image_width": 100}, "align='random' places a padded strip: it needs fit='pad'"),
])
def test_bad_fields_are_one_named_error(kwargs, words):
    with pytest.raises(ValueError, match=words):
        Recipe(**kwargs)


@pytest.mark.parametrize(("data", "words"), [
    ({"recipe": RECIPE_VERSION + 1}, f"version {RECIPE_VERSION + 1} is newer than this tool reads"),
    ({"recipe": 1, "widht": 100}, "unknown field 'widht'"),
    ({"recipe": 1, "fit": "squeeze"}, "fit must be one of stretch, pad, got 'squeeze'"),
    ({"recipe": 1, "filters": {"callables": ["mine"]}}, r"filters were Python callables \(mine\)"),
    ({"recipe": 1, "filters": 3}, "filters must be text"),
    ({"recipe": 1, "filters": {"callables": [1, 2]}}, r"filters were Python callables \(1, 2\)"),
    ({"recipe": "1"}, "version must be a positive integer"),
    ({"fit": "pad"}, "expected a JSON object with a \"recipe\" version"),
    ([1, 2], "expected a JSON object"),
    ("{not json", "recipe: not JSON"),
])
def test_bad_recipe_json_is_one_named_error(data, words):
    with pytest.raises(ValueError, match=words):
        Recipe.from_json(data)


@pytest.mark.parametrize("data, words", [
    ("[" * 200_000 + "]" * 200_000, "recipe: not JSON (nested too deeply)"),
    ('{"recipe": 1, "filters": ' + "[" * 200_000 + "]" * 200_000 + "}", "recipe: not JSON (nested too deeply)"),
    ({"recipe": 1, "filters": {"callables": 5}}, "recipe: its filters were Python callables (5) and cannot be "
                                                 "rebuilt from JSON"),
])
def test_hostile_recipe_json_is_one_value_error(data, words):
    with pytest.raises(ValueError) as caught:
        Recipe.from_json(data)
    assert str(caught.value).startswith(words) and "\n" not in str(caught.value), str(caught.value)


def test_callable_filters_are_named_in_json_and_refused_back():
    r = Recipe(image_width=100, spacing_range=(0, 4), length=3, fltrs=[blur(1.5)])
    data = r.to_json()
    assert data["filters"] == {"callables": ["blur(sigma=1.5)"]}
    with pytest.raises(ValueError, match=r"callables \(blur\(sigma=1.5\)\)"):
        Recipe.from_json(data)


def test_replace_validates_again_and_names_unknown_fields():
    r = Recipe(image_width=120, spacing_range=(0, 6), length=3)
    assert r.replace(fit="pad").fit == "pad" and r.fit == "stretch"
    with pytest.raises(ValueError, match="align must be one of"):
        r.replace(align="top")
    with pytest.raises(TypeError, match="Recipe has no field 'width'"):
        r.replace(width=3)


def test_every_door_takes_a_recipe_and_gives_what_the_keywords_give():
    recipe = Recipe(length=(2, 5), spacing_range=(0, 6), image_width=150, fit="pad", align="random", dtype="uint8")
    keywords = dict(length=(2, 5), spacing_range=(0, 6), image_width=150, fit="pad", align="random", dtype="uint8")
    x, y = generate_dataset(40, seed=3, images=SOURCE, recipe=recipe)
    x2, y2 = generate_dataset(40, seed=3, images=SOURCE, **keywords)
    assert np.array_equal(x, x2) and y == y2 and x.dtype == np.uint8
    streamed = list(iter_dataset(40, seed=3, images=SOURCE, recipe=recipe))
    assert [label for _, label in streamed] == y
    ds = SequenceDataset(40, seed=3, images=SOURCE, recipe=recipe)
    assert np.array_equal(ds[7][0], x[7]) and ds.plan.recipe == recipe


def test_recipe_and_its_fields_together_are_refused():
    recipe = Recipe(image_width=100, spacing_range=(0, 4), length=3)
    with pytest.raises(ValueError, match=r"give a recipe or its fields, not both \(got recipe and fit\)"):
        generate_dataset(4, seed=1, images=SOURCE, recipe=recipe, fit="pad")
    with pytest.raises(ValueError, match="got recipe and length"):
        SequenceDataset(4, 3, seed=1, images=SOURCE, recipe=recipe)
    with pytest.raises(ValueError, match="recipe must be a Recipe, got dict"):
        generate_dataset(4, seed=1, images=SOURCE, recipe=recipe.to_json())
