"""Filters from text: ``"crop,elastic:alpha=30:sigma=4,blur:sigma=0.7"`` -> a list of filters.

The command line's ``-f`` syntax, usable from Python too::

    fltrs = from_spec("crop,elastic:alpha=30,mypkg.myfilters:thicken:amount=2")

Each comma-separated item is ``NAME[:KEY=VALUE...]`` for a built-in filter
(:data:`.filters.FILTERS`) or ``module.path:factory[:KEY=VALUE...]`` for a
factory of your own, imported only because it is named (the current folder
is searched too, as ``python -m`` does). Values are numbers. ``p=P`` on any item
applies that filter to a fraction ``P`` of the digits, drawn digit by digit (a
built-in's own parameter; for a factory of yours that has no parameter ``p``,
:class:`.augment.Sometimes` wraps what it builds; one that has its own ``p`` gets it).

An item may also name a preset (:data:`PRESETS`), a chain of built-in filters tuned for a
purpose: ``"standard"`` is the augmentation measured to make a CRNN reader robust (see the
README). :func:`expand` writes a spec's presets out; a :class:`.recipe.Recipe` keeps the
written-out text, so a manifest says which filters ran.

Text that does not come from the user (a folder's ``manifest.json``) is only ever
checked (:func:`check_spec`) or compared, never built: building imports modules.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import re
import sys

from ..filters import FILTERS, Filter, prepare_filters
from .augment import Sometimes, check_p

__all__ = ["PRESETS", "check_spec", "describe", "expand", "from_spec", "imported_modules", "prepare"]

log = logging.getLogger(__name__)

PRESETS: dict[str, tuple[str, str]] = {
    # name: (filters, what for). Tuned by training examples/train_crnn.py (README, "Does it teach?").
    "standard": ("rotate:p=0.5,scale:p=0.5,noise:p=0.5",
                 "augmentation for sequence readers: rotate, scale and noise, each on half the digits"),
}


def _number(text: str) -> int | float:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    raise ValueError(text)


def _import_factory(module: str, attribute: str):
    try:
        try:
            loaded = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module.split(".")[0] or os.getcwd() in sys.path:
                raise
            sys.path.insert(0, os.getcwd())
            loaded = importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - any failure of the user's module is a bad spec here
        raise ValueError(f"cannot import filter module {module!r}: {exc}") from None
    factory = getattr(loaded, attribute, None)
    if not callable(factory):
        raise ValueError(f"{module} has no callable {attribute!r} (expected a filter factory)")
    log.info("using filter factory %s:%s", module, attribute)
    return factory


_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


def expand(spec: str) -> str:
    """``spec`` with each preset written out as its filters.

    Examples
    --------
    >>> expand("crop,standard") == "crop," + PRESETS["standard"][0]
    True
    """
    if not isinstance(spec, str):
        raise ValueError(f"filters must be text such as \"blur:sigma=1\", got {spec!r}")
    items = []
    for item in spec.split(","):
        name, *params = item.strip().split(":")
        if name in PRESETS:
            if params:
                raise ValueError(f"preset {name} takes no parameters (got {item.strip()!r}); write its filters "
                                 f"out to change them: {PRESETS[name][0]}")
            items.append(PRESETS[name][0])
        else:
            items.append(item)
    return ",".join(items)


def _items(spec: str):
    """``(name, params, item)`` of each comma-separated item, presets written out: syntax only, nothing
    imported."""
    for item in expand(spec).split(","):
        name, *params = item.strip().split(":")
        yield name, params, item.strip()


def _is_import(name: str, params: list[str]) -> bool:
    return name not in FILTERS and bool(params) and "=" not in params[0]


def imported_modules(spec: str) -> list[str]:
    """The modules that building ``spec`` would import (``module:factory`` items), in order.

    Examples
    --------
    >>> imported_modules("blur:sigma=1,mypkg.filters:thicken:amount=2")
    ['mypkg.filters']
    """
    return [name for name, params, _ in _items(spec) if _is_import(name, params)]


def check_spec(spec: str) -> None:
    """Check ``spec`` as :func:`from_spec` would, without importing anything.

    Built-in filters are checked fully (names, parameters, values); a
    ``module:factory`` item only for its form, since its parameters are known
    only once the module is imported. For text read from a folder, which must
    never make this tool run code.

    Examples
    --------
    >>> check_spec("blur:sigma=0.5,evilmod:factory:x=1")  # nothing imported
    >>> check_spec("blur:sigma=-1")
    Traceback (most recent call last):
    ValueError: blur: sigma must be a number in [0, 10], got -1.0
    """
    for name, params, item in _items(spec):
        if _is_import(name, params):
            attribute = params[0]
            if not _MODULE.fullmatch(name) or not attribute.isidentifier():
                raise ValueError(f"filter {item!r}: expected module.path:factory[:KEY=VALUE...]")
            for param in params[1:]:
                key, sep, text = param.partition("=")
                if not sep or not key.isidentifier():
                    raise ValueError(f"filter {name}:{attribute}: bad parameter {param!r}; use KEY=VALUE")
                try:
                    _number(text)  # p too: it may be the factory's own, known only once it is imported
                except ValueError:
                    raise ValueError(f"filter {name}:{attribute}: {key} must be a number, got {text!r}") from None
        else:
            from_spec(item)  # a built-in filter: building it imports nothing


def from_spec(spec: str) -> list[Filter]:
    """Build the filters a spec names, in order.

    Raises
    ------
    ValueError
        Unknown name (the message lists the built-in filters), unknown or
        malformed parameter (it lists the accepted ones), a parameter given
        twice, a bad value, or a user's module or factory that cannot be
        used; always one line.

    Examples
    --------
    >>> [f.func.__name__ for f in from_spec("crop,blur:sigma=0.7")]
    ['_crop', '_blur']
    """
    built = []
    for name, params, item in _items(spec):
        if name in FILTERS:
            factory, label = FILTERS[name], name
        elif _is_import(name, params):  # a user's factory: module:attribute
            attribute = params.pop(0)
            factory, label = _import_factory(name, attribute), f"{name}:{attribute}"
        else:
            raise ValueError(
                f"unknown filter {name!r}; known filters: {', '.join(sorted(FILTERS))}; presets: "
                f"{', '.join(PRESETS)} (or module.path:factory for your own; see --list-filters)"
            )
        signature = inspect.signature(factory)
        accepted = list(signature.parameters)
        open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
        kwargs = {}
        chance = None  # p of a user's factory: applied by Sometimes, never passed to it
        for param in params:
            key, sep, text = param.partition("=")
            if sep and key == "p" and name not in FILTERS and "p" not in accepted and not open_ended:
                try:
                    chance = check_p(_number(text), f"filter {label}")
                except ValueError as exc:
                    raise ValueError(str(exc) if "must be a number in" in str(exc) else
                                     f"filter {label}: p must be a number, got {text!r}") from None
                continue
            if not sep or not key or (key not in accepted and not open_ended):
                raise ValueError(
                    f"filter {label}: bad parameter {param!r}; use {label}:KEY=VALUE with KEY in "
                    f"{', '.join(accepted) or '(none)'}"
                )
            if key in kwargs:  # last-wins would hide a typo in a long spec
                raise ValueError(f"filter {label}: parameter {key} is given twice ({item!r}); give it once")
            try:
                kwargs[key] = _number(text)
            except ValueError:
                raise ValueError(f"filter {label}: {key} must be a number, got {text!r}") from None
        try:
            made = factory(**kwargs)
        except ValueError:
            raise
        except Exception as exc:  # noqa: BLE001 - a user's factory may fail in any way
            raise ValueError(f"filter {label} failed to build: {type(exc).__name__}: {exc}") from None
        if not callable(made):
            raise ValueError(f"filter {label} must return a callable f(img) -> img, got {made!r}")
        built.append(made if chance is None or chance == 1.0 else Sometimes(made, chance))
    return built


def prepare(fltrs) -> list[tuple[Filter, bool]]:
    """The filters of a call, checked once: ``[(filter, takes_rng), ...]``.

    The one rule of every door (:func:`.generator.generate_numbers_sequence`, the dataset
    functions, :class:`.dataset.SequenceDataset`, :class:`.recipe.Recipe`): ``fltrs`` is
    ``None``, a list of callables ``f(img) -> img``, or ``-f`` text such as
    ``"blur:sigma=1,distort"``, built by :func:`from_spec` (blank text: no filter).

    Raises
    ------
    ValueError
        Bad text (as :func:`from_spec` says), or not a list of callables (see
        :func:`.filters.prepare_filters`).

    Examples
    --------
    >>> [f.func.__name__ for f, _ in prepare("crop,blur:sigma=0.7")]
    ['_crop', '_blur']
    """
    if isinstance(fltrs, str):
        fltrs = from_spec(fltrs) if fltrs.strip() else None
    return prepare_filters(fltrs)


def describe() -> list[tuple[str, str, str]]:
    """``(name, "param=default ...", one-line description)`` for every built-in filter, then
    ``(name, "= filters", purpose)`` for every preset."""
    rows = []
    for name, factory in FILTERS.items():
        params = " ".join(f"{p.name}={p.default}" if p.default is not p.empty else p.name
                          for p in inspect.signature(factory).parameters.values())
        rows.append((name, params, (inspect.getdoc(factory) or "").split("\n")[0].replace("``", "")))
    for name, (filters, purpose) in PRESETS.items():
        rows.append((name, f"= {filters}", f"preset: {purpose}"))
    return rows
