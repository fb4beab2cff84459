"""The fake Discord's components V2: what it refuses as Discord does (400 50035), what it
stores and answers, and how tests read a card's text."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from tests.bot.support.fake_components import COMPONENTS_V2, components_refusal
from tests.bot.support.fake_discord import FakeDiscord, Recorded


def _text(content: str) -> dict[str, Any]:
    return {"type": 10, "content": content}


def _card(*children: dict[str, Any]) -> dict[str, Any]:
    return {"flags": COMPONENTS_V2, "components": [{"type": 17, "components": list(children)}]}


GALLERY = {"type": 12, "items": [{"media": {"url": "attachment://dream.png"}, "description": "x"}]}
SECTION = {
    "type": 9,
    "components": [_text("a line")],
    "accessory": {"type": 11, "media": {"url": "attachment://original.jpg"}},
}
BUTTONS = {
    "type": 1,
    "components": [{"type": 2, "style": 1, "label": "Go", "custom_id": "dream:deeper:x"}],
}
NAMES = ["dream.png", "original.jpg"]


def test_a_well_formed_card_is_taken() -> None:
    """A container with a gallery, a section with a thumbnail and an action row passes."""
    assert components_refusal(_card(GALLERY, SECTION, BUTTONS), attachments=NAMES) is None


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({**_card(_text("hi")), "content": "hi"}, "content"),
        ({**_card(_text("hi")), "embeds": [{"title": "t"}]}, "embeds"),
        ({"components": [{"type": 17, "components": [_text("hi")]}]}, "V2 flag"),
        (_card({**SECTION, "accessory": None}), "accessory"),
        (_card({**SECTION, "components": [_text(str(n)) for n in range(4)]}), "1 to 3"),
        (_card({**GALLERY, "items": []}), "1 to 10"),
        (_card({**GALLERY, "items": [{"media": {"url": "attachment://gone.png"}}]}), "gone.png"),
        (_card({**GALLERY, "items": [{"media": {"url": "x"}, "description": "d" * 1025}]}), "1024"),
        (_card(_text("x" * 2001), _text("y" * 2000)), "4000"),
        (_card(*[_text("x")] * 40), "at most 40"),
        (_card({"type": 1, "components": [BUTTONS["components"][0]] * 6}), "1 to 5"),
        (_card({"type": 3, "custom_id": "s", "options": []}), "a container holds"),
        ({"components": [{"type": 3, "custom_id": "s", "options": []}]}, "not a top-level"),
    ],
)
def test_a_card_discord_refuses_is_refused(body: dict[str, Any], why: str) -> None:
    """Content or embeds beside the flag, V2 types without it, bad shapes and sizes, media
    naming no attachment, more than 40 components or 4000 characters of text."""
    refusal = components_refusal(body, attachments=NAMES)
    assert refusal is not None and why in refusal, refusal


def test_the_flag_cannot_be_taken_off() -> None:
    """An edit of a V2 message that drops the flag, or brings content back, is refused."""
    assert "cannot be removed" in str(components_refusal({"flags": 0}, attachments=[], was_v2=True))
    assert components_refusal({"content": "back"}, attachments=[], was_v2=True) is not None
    assert components_refusal({"attachments": []}, attachments=[], was_v2=True) is None


def test_recorded_content_reads_a_cards_text() -> None:
    """`Recorded.content` is a V2 body's text displays, one a line; a plain body's content."""
    card = Recorded("PATCH", "/x", {}, {}, _card(GALLERY, SECTION, _text("two")), [], 0.0)
    assert card.content == "a line\ntwo"
    assert [c["type"] for c in card.components] == [17, 12, 9, 10, 11, 10]
    plain = Recorded("PATCH", "/x", {}, {}, {"content": "hi", "components": [BUTTONS]}, [], 0.0)
    assert plain.content == "hi"


async def test_the_fake_stores_a_card_with_its_media_resolved(fake: FakeDiscord) -> None:
    """Posted over HTTP, a card is refused with content (400 50035) and stored without; its
    attachment:// media then point at the message's attachments; an edit keeps the flag."""
    url = f"{fake.api_base}/channels/{fake.channel_id}/messages"
    good = _card({"type": 12, "items": [{"media": {"url": "attachment://dream.png"}}]}, _text("hi"))
    async with aiohttp.ClientSession() as session:
        answers = []
        for body in ({**good, "content": "no"}, good):
            form = aiohttp.FormData()
            form.add_field("payload_json", json.dumps(body), content_type="application/json")
            form.add_field("files[0]", b"png", filename="dream.png")
            async with session.post(url, data=form) as response:
                answers.append((response.status, await response.json()))
        (refused, why), (status, answer) = answers
        assert (refused, why["code"], status) == (400, 50035, 200)
        message = fake.messages[int(answer["id"])]
        assert message["flags"] == COMPONENTS_V2 and message["content"] == ""
        (item,) = message["components"][0]["components"][0]["items"]
        assert item["media"]["url"] == message["attachments"][0]["url"]
        async with session.patch(f"{url}/{answer['id']}", json={"flags": 0}) as response:
            assert response.status == 200
        assert fake.messages[int(answer["id"])]["flags"] & COMPONENTS_V2
