"""Tests for the ImageNet class names and their lookup."""

from __future__ import annotations

import pytest

from engine.errors import UnknownClass
from engine.imagenet import IMAGENET_CLASSES, imagenet_class


def test_thousand_unique_names() -> None:
    """There are 1000 distinct class names in ImageNet order."""
    assert len(IMAGENET_CLASSES) == len(set(IMAGENET_CLASSES)) == 1000
    assert IMAGENET_CLASSES[0] == "tench"
    assert IMAGENET_CLASSES[281] == "tabby"


@pytest.mark.parametrize(
    ("query", "index"),
    [
        ("tabby", 281),
        ("Tiger Cat", 282),
        ("  golden_retriever ", 207),
        ("espresso", 967),
        (281, 281),
        ("281", 281),
        (0, 0),
        ("999", 999),
    ],
)
def test_lookup_by_name_or_number(query: str | int, index: int) -> None:
    """A class is found by its name in any case, with _ for spaces, or by its number."""
    assert imagenet_class(query) == index


@pytest.mark.parametrize("query", [1000, -1, "1000", True])
def test_numbers_out_of_range(query: int | str) -> None:
    """Numbers outside 0-999 (and booleans) raise UnknownClass."""
    with pytest.raises(UnknownClass):
        imagenet_class(query)


def test_unknown_name_suggests_close_names() -> None:
    """An unknown name raises UnknownClass listing the closest class names with numbers."""
    with pytest.raises(UnknownClass, match=r"'tiger cat' \(282\)"):
        imagenet_class("cat")
    with pytest.raises(UnknownClass, match=r"'tabby' \(281\)"):
        imagenet_class("tabbby")
