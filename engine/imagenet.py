"""The 1000 ImageNet class names and looking one up by name or number."""

from __future__ import annotations

import difflib
import re

from torchvision.models import GoogLeNet_Weights

from engine.errors import UnknownClass

__all__ = ["IMAGENET_CLASSES", "imagenet_class"]

# torchvision ships the names with its weights' metadata, so nothing is downloaded
IMAGENET_CLASSES: tuple[str, ...] = tuple(GoogLeNet_Weights.IMAGENET1K_V1.meta["categories"])


def _normalise(name: str) -> str:
    return re.sub(r"[\s_]+", " ", name).strip().casefold()


_KEYS = tuple(_normalise(name) for name in IMAGENET_CLASSES)
_BY_NAME = {key: index for index, key in enumerate(_KEYS)}


def imagenet_class(name_or_index: str | int) -> int:
    """The index (0-999) of an ImageNet class given its name (any case) or its number."""
    if isinstance(name_or_index, bool):
        raise UnknownClass("Name an ImageNet class or give its number from 0 to 999.")
    if isinstance(name_or_index, int) or name_or_index.strip().isdigit():
        index = int(name_or_index)
        if 0 <= index < len(IMAGENET_CLASSES):
            return index
        raise UnknownClass(f"ImageNet classes are numbered 0 to 999; there is no class {index}.")
    query = _normalise(name_or_index)
    found = _BY_NAME.get(query)
    if found is not None:
        return found
    closest = _closest(query)
    hint = (
        "Closest: " + ", ".join(f"'{IMAGENET_CLASSES[i]}' ({i})" for i in closest) + "."
        if closest
        else "Give a class name such as 'tabby', or its number such as 281."
    )
    raise UnknownClass(f"There is no ImageNet class '{name_or_index.strip()}'. {hint}")


def _closest(query: str) -> list[int]:
    # whole-word matches first ("cat" -> "tiger cat"), then spelling neighbours ("tabbby")
    words = set(query.split())
    containing = [i for i, key in enumerate(_KEYS) if words and words <= set(key.split())]
    similar = [_BY_NAME[key] for key in difflib.get_close_matches(query, _KEYS, n=5, cutoff=0.6)]
    return list(dict.fromkeys(containing[:5] + similar))[:5]
