"""The memory budget: where it comes from, how it is set, and the line that refuses a request."""

from __future__ import annotations

import os

import pytest

from mnist_dataset_generator import _limits
from mnist_dataset_generator._limits import (
    ENV_MEMORY_BUDGET,
    check_bytes,
    memory_budget,
)


def test_budget_is_half_of_physical_memory_by_default(monkeypatch):
    monkeypatch.delenv(ENV_MEMORY_BUDGET, raising=False)
    physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert memory_budget() == (physical // 2, "half of this machine's memory")


def test_budget_falls_back_where_memory_cannot_be_read(monkeypatch):
    monkeypatch.delenv(ENV_MEMORY_BUDGET, raising=False)
    _limits._physical_memory.cache_clear()
    try:
        with monkeypatch.context() as m:
            m.delattr(os, "sysconf")  # as on Windows
            budget, why = memory_budget()
    finally:
        _limits._physical_memory.cache_clear()  # the real figure again for later tests
    assert budget == _limits.FALLBACK_BUDGET and "cannot be read" in why


def test_budget_is_set_in_bytes_by_the_environment(monkeypatch):
    monkeypatch.setenv(ENV_MEMORY_BUDGET, " 1234567 ")
    assert memory_budget() == (1234567, f"set by {ENV_MEMORY_BUDGET}")


@pytest.mark.parametrize("text", ["0", "-5", "1.5e9", "8GB", "lots"])
def test_a_bad_budget_in_the_environment_is_named_with_its_value(monkeypatch, text):
    monkeypatch.setenv(ENV_MEMORY_BUDGET, text)
    with pytest.raises(ValueError, match=f"{ENV_MEMORY_BUDGET} must be a whole number of bytes of at least 1 "
                                         rf"\(e.g. 8000000000\), got '{text}'"):
        memory_budget()


def test_refusal_is_one_line_naming_door_size_budget_and_remedy(monkeypatch):
    monkeypatch.setenv(ENV_MEMORY_BUDGET, "12000000000")
    check_bytes("f", "the images", 12_000_000_000, "exactly the budget", "fine")  # at the budget: accepted
    with pytest.raises(ValueError) as info:
        check_bytes("generate_dataset", "the images", 45_158_400_000, "count 1800000 x 28 x 224 x 4 bytes",
                     'use iter_dataset or an export, a smaller count, or dtype="uint8"')
    assert str(info.value) == (
        "generate_dataset: the images would take 45.2 GB (count 1800000 x 28 x 224 x 4 bytes), more than the memory "
        f"budget of 12.0 GB (set by {ENV_MEMORY_BUDGET}); use iter_dataset or an export, a smaller count, "
        'or dtype="uint8"')


def test_the_default_budget_says_how_to_change_it(monkeypatch):
    monkeypatch.delenv(ENV_MEMORY_BUDGET, raising=False)
    with pytest.raises(ValueError, match=f"\\(half of this machine's memory; set {ENV_MEMORY_BUDGET} to change it\\)"):
        check_bytes("f", "it", 10**18, "a lot", "ask for less")
