"""Tests for bot/cogs/results/_card.py: the card of a finished dream stays within Discord's
limits, shows the member's picture small beside the result when it has it, and marks a
spoiler's every picture."""

from __future__ import annotations

import dataclasses
import io
from typing import Any

import discord
import pytest
from PIL import Image

from bot.cogs.results import Card, result_card, result_controls
from bot.cogs.results._card import ALT_TEXT_LIMIT, TEXT_LIMIT, THUMBNAIL_SIDE, thumbnail
from bot.dreams._service import Finished
from engine import available_models
from tests.bot.support.fake_components import components_refusal, walk_components
from tests.bot.support.records import record


def _png(size: tuple[int, int], mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, (200, 40, 90, 0) if mode == "RGBA" else (200, 40, 90)).save(buffer, "PNG")
    return buffer.getvalue()


FINISHED = Finished(
    line="🌀 efficientnet_lite0 · eyes · 3 steps × 2 octaves · seed 11 · 2.2 s",
    recipe="eyes",
    user_id=7,
    picture=(b"png", "dream.png"),
    finished_at=1_700_000_000.5,
)


def _components(card: Card) -> list[dict[str, Any]]:
    return list(walk_components(card.layout.to_components()))


def _within_discords_limits(card: Card) -> None:
    components = _components(card)
    texts = [c["content"] for c in components if c["type"] == 10]
    assert sum(map(len, texts)) <= TEXT_LIMIT == 4000 and card.layout.content_length() <= 4000
    assert len(components) <= 40 and card.layout.total_children_count == len(components)
    for component in components:
        if component["type"] == 1:
            assert len(component["components"]) <= 5
        if component["type"] == 3:
            assert len(component["options"]) <= 25
        for item in component.get("items", [component] if component["type"] == 11 else []):
            assert 0 < len(item.get("description") or "x") <= ALT_TEXT_LIMIT == 1024
    names = [filename for _, filename in card.pictures]
    body = {"flags": 1 << 15, "components": card.layout.to_components()}
    assert components_refusal(body, attachments=names) is None
    assert card.layout.has_components_v2()


async def test_the_full_card_within_discords_limits() -> None:
    """With controls and the member's picture: gallery, section with thumbnail, controls."""
    finished = dataclasses.replace(FINISHED, record=record(), original=_png((400, 300)))
    card = await result_card(finished, controls=result_controls(record()))
    _within_discords_limits(card)
    (container,) = card.layout.to_components()
    kinds = [c["type"] for c in container["components"]]
    assert kinds == [12, 9, 14, 1, 1]  # gallery, section, separator, buttons, layer menu
    (item,) = container["components"][0]["items"]
    assert item == {
        "media": {"url": "attachment://dream.png"},
        "spoiler": False,
        "description": "eyes",
    }
    section = container["components"][1]
    assert [t["content"] for t in section["components"]] == [
        FINISHED.line,
        "Dreamed for <@7> · <t:1700000000:R>",
    ]
    assert section["accessory"]["media"]["url"] == "attachment://original.jpg"
    assert [name for _, name in card.pictures] == ["dream.png", "original.jpg"]
    with Image.open(io.BytesIO(card.pictures[1][0])) as small:
        assert small.format == "JPEG" and small.size == (THUMBNAIL_SIDE, 120)


async def test_long_texts_are_cut_to_discords_limits() -> None:
    """A line or a recipe longer than Discord takes is cut, with an ellipsis."""
    finished = dataclasses.replace(FINISHED, line="🌀" + "x" * 9000, recipe="eyes" * 400)
    card = await result_card(finished, controls=result_controls(record()))
    _within_discords_limits(card)
    (item,) = _components(card)[1]["items"]
    assert len(item["description"]) == ALT_TEXT_LIMIT and item["description"].endswith("…")


@pytest.mark.parametrize("model", available_models())
async def test_every_models_layer_menu_fits(model: str) -> None:
    """Whatever the model, the card and its Another layer menu (≤ 25 options) fit."""
    mine = record(params=dataclasses.replace(record().params, model=model, layers=()))
    card = await result_card(FINISHED, controls=result_controls(mine))
    _within_discords_limits(card)


async def test_without_the_members_picture_the_lines_stand_alone() -> None:
    """No original (a zoom, another process's dream, a deleted one) or an unreadable one: no
    section (it needs an accessory) and no thumbnail; no controls without a record."""
    for original in (None, b"not a picture"):
        card = await result_card(dataclasses.replace(FINISHED, original=original))
        _within_discords_limits(card)
        assert [c["type"] for c in _components(card)] == [17, 12, 10, 10]
        assert [name for _, name in card.pictures] == ["dream.png"]
        assert not card.layout.is_dispatchable()


async def test_the_thumbnail_gives_way_to_a_dream_that_fills_the_upload_limit() -> None:
    """A dream encoded up to the upload limit leaves no room for the member's picture."""
    finished = dataclasses.replace(FINISHED, original=_png((50, 40)))
    assert len((await result_card(dataclasses.replace(finished, max_bytes=10_000))).pictures) == 2
    tight = dataclasses.replace(finished, max_bytes=len(FINISHED.picture[0]) + 10)
    assert [name for _, name in (await result_card(tight)).pictures] == ["dream.png"]


async def test_a_spoiler_hides_every_picture() -> None:
    """The dream and the member's picture are uploaded and shown as spoilers."""
    finished = dataclasses.replace(FINISHED, spoiler=True, original=_png((50, 40)))
    card = await result_card(finished)
    _within_discords_limits(card)
    assert [name for _, name in card.pictures] == ["SPOILER_dream.png", "SPOILER_original.jpg"]
    media = [c for c in _components(card) if c["type"] in (11, 12)]
    items = [m for c in media for m in c.get("items", [c])]
    assert [m["spoiler"] for m in items] == [True, True]
    assert all(m["media"]["url"].startswith("attachment://SPOILER_") for m in items)
    assert all(discord.File(io.BytesIO(b""), name).spoiler for _, name in card.pictures)


async def test_a_filename_is_made_fit_for_attachment_urls() -> None:
    """attachment:// names only ASCII letters, digits, _ - and ."""
    card = await result_card(dataclasses.replace(FINISHED, picture=(b"gif", "träum 1.gif")))
    assert card.pictures[0][1] == "tr_um_1.gif"
    _within_discords_limits(card)


def test_a_thumbnail_is_a_small_jpeg_on_white() -> None:
    """At most THUMBNAIL_SIDE px, the aspect kept; see-through parts on white."""
    small = thumbnail(_png((1000, 500), "RGBA"))
    assert small is not None
    with Image.open(io.BytesIO(small)) as picture:
        assert picture.format == "JPEG" and picture.size == (THUMBNAIL_SIDE, 80)
        assert min(picture.convert("L").getextrema()) > 240
    assert thumbnail(b"") is None
