"""End to end: "Dream this image" takes a message's attachment, else a forwarded message's
picture, else an embed's image, then its thumbnail; with the same checks as an upload."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

import bot.cogs._message_pictures as message_pictures
from tests.bot.conftest import GatedRunner, picture_bytes
from tests.bot.support.fake_discord import (
    FakeDiscord,
    FakeUser,
    final_edit,
)

DEFERRED, MESSAGE, EPHEMERAL = 5, 4, 64


def _media(served: Mapping[str, Any], **lies: Any) -> dict[str, Any]:
    """An embed's image or thumbnail as Discord sends it, for a picture the fake serves."""
    return {
        "url": f"https://example.com/{served['filename']}",  # the original host: not fetched
        "proxy_url": served["url"],  # Discord's media proxy
        "width": served.get("width"),
        "height": served.get("height"),
        **lies,
    }


def _forwarded(
    fake: FakeDiscord,
    user: FakeUser,
    *,
    attachments: list[dict[str, Any]] = (),  # type: ignore[assignment]
    embeds: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    """A message forwarding another one: its content lives in ``message_snapshots``."""
    message = fake.post_message(author=user)
    message["message_reference"] = {
        "type": 1,
        "message_id": str(fake.post_message(author=user)["id"]),
        "channel_id": str(fake.channel_id),
    }
    message["message_snapshots"] = [
        {
            "message": {
                "type": 0,
                "content": "",
                "attachments": list(attachments),
                "embeds": list(embeds),
                "timestamp": message["timestamp"],
                "edited_timestamp": None,
                "flags": 0,
                "mentions": [],
                "mention_roles": [],
            }
        }
    ]
    return message


def _with_embeds(fake: FakeDiscord, user: FakeUser, *embeds: dict[str, Any]) -> dict[str, Any]:
    message = fake.post_message(author=user, content="https://example.com/a-page")
    message["embeds"] = list(embeds)
    return message


async def _dreamed(
    fake: FakeDiscord, runner: GatedRunner, message: dict[str, Any], user: FakeUser
) -> bytes:
    """Run the menu on ``message``; the bytes the engine was given."""
    before = len(runner.requests)
    sent = await fake.send_message_command("Dream this image", message, user=user)
    assert (await fake.wait_callback(sent)).json["type"] == DEFERRED
    final = await fake.wait_for(final_edit(fake, sent), timeout=60)
    assert final.status == 200
    assert len(runner.requests) == before + 1
    return bytes(runner.requests[-1].picture)


async def _refusal(fake: FakeDiscord, message: dict[str, Any], user: FakeUser) -> str:
    """The member's private message for ``message`` (straight away, or after the defer)."""
    sent = await fake.send_message_command("Dream this image", message, user=user)
    callback = await fake.wait_callback(sent)
    if callback.json["type"] == MESSAGE:
        assert callback.flags & EPHEMERAL
        return callback.content or ""
    hook = f"/webhooks/{fake.application_id}/{sent.token}"
    refusal = await fake.wait_for(lambda r: r.method == "POST" and r.route == hook)
    assert refusal.flags & EPHEMERAL
    return refusal.content or ""


@pytest.fixture
def photos(cat_photo: bytes) -> dict[str, bytes]:
    from PIL import Image

    return {
        "cat": cat_photo,
        "green": picture_bytes(Image.new("RGB", (40, 30), (20, 200, 40))),
        "blue": picture_bytes(Image.new("RGB", (30, 40), (20, 40, 200)), "JPEG"),
    }


async def test_forwarded_and_embedded_pictures_are_dreamed_in_that_order(
    fake: FakeDiscord, start_bot: Callable[..., Any], photos: dict[str, bytes]
) -> None:
    """A forwarded message's picture, an embed's image, an embed with only a thumbnail; an
    attachment beats a snapshot, which beats an embed; the image beats the thumbnail."""
    runner = GatedRunner()
    async with start_bot(runner=runner):
        ann = fake.add_member("ann")
        cat = fake.add_attachment(photos["cat"], filename="cat.png")
        green = fake.add_attachment(photos["green"], filename="green.png")
        blue = fake.add_attachment(photos["blue"], filename="blue.jpg")

        forwarded = _forwarded(fake, ann, attachments=[cat])
        assert await _dreamed(fake, runner, forwarded, ann) == photos["cat"]

        image = _with_embeds(fake, ann, {"type": "rich", "image": _media(green)})
        assert await _dreamed(fake, runner, image, ann) == photos["green"]

        thumbnail = _with_embeds(fake, ann, {"type": "article", "thumbnail": _media(blue)})
        assert await _dreamed(fake, runner, thumbnail, ann) == photos["blue"]

        both = _with_embeds(
            fake, ann, {"type": "rich", "image": _media(green), "thumbnail": _media(blue)}
        )
        assert await _dreamed(fake, runner, both, ann) == photos["green"]

        own = fake.post_message(author=ann, attachments=[cat])
        own["embeds"] = [{"type": "rich", "image": _media(green)}]
        assert await _dreamed(fake, runner, own, ann) == photos["cat"]

        snapshot_first = _forwarded(
            fake, ann, attachments=[blue], embeds=[{"type": "rich", "image": _media(green)}]
        )
        snapshot_first["embeds"] = [{"type": "rich", "image": _media(green)}]
        assert await _dreamed(fake, runner, snapshot_first, ann) == photos["blue"]

        forwarded_embed = _forwarded(fake, ann, embeds=[{"type": "rich", "image": _media(green)}])
        assert await _dreamed(fake, runner, forwarded_embed, ann) == photos["green"]


async def test_a_message_without_a_picture_it_can_take_is_refused_clearly(
    fake: FakeDiscord, start_bot: Callable[..., Any]
) -> None:
    """No attachment, snapshot or embed picture: a private message saying so, nothing fetched."""
    async with start_bot(runner=GatedRunner()):
        ann = fake.add_member("ann")
        notes = fake.add_attachment(b"just words", filename="notes.txt")
        plain = _forwarded(fake, ann, attachments=[notes])
        plain["embeds"] = [{"type": "rich", "title": "a card", "description": "no picture"}]
        text = await _refusal(fake, plain, ann)
        assert "no picture" in text and "forwarded" in text and "embedded" in text
        assert not fake.downloaded(notes)


async def test_embed_pictures_get_the_checks_of_an_upload(
    fake: FakeDiscord,
    start_bot: Callable[..., Any],
    photos: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An embed whose metadata is too large is refused before any fetch; a URL that serves
    something else than a picture, or more bytes than the limit, is refused clearly; the bot
    goes on dreaming."""
    runner = GatedRunner()
    async with start_bot(runner=runner):
        ann = fake.add_member("ann")
        huge = fake.add_attachment(photos["green"], filename="huge.png")
        claims = _media(huge, width=90_000, height=90_000)
        lying = _with_embeds(fake, ann, {"type": "rich", "image": claims})
        assert "90000×90000" in await _refusal(fake, lying, ann)
        assert not fake.downloaded(huge)

        page = fake.add_attachment(b"<html></html>", filename="page.png", content_type="text/html")
        html = _with_embeds(fake, ann, {"type": "rich", "image": _media(page, width=8, height=8)})
        assert "not a picture" in await _refusal(fake, html, ann)

        limit = message_pictures.DEFAULT_MAX_BYTES
        monkeypatch.setattr(message_pictures, "DEFAULT_MAX_BYTES", len(photos["cat"]) - 1)
        big = fake.add_attachment(photos["cat"], filename="big.png")
        too_many = _with_embeds(fake, ann, {"type": "rich", "image": _media(big)})
        assert "larger than" in await _refusal(fake, too_many, ann)
        assert not runner.requests

        monkeypatch.setattr(message_pictures, "DEFAULT_MAX_BYTES", limit)
        fine = _with_embeds(fake, ann, {"type": "rich", "image": _media(big)})
        assert await _dreamed(fake, runner, fine, ann) == photos["cat"]


@pytest.mark.parametrize("where", ["foreign", "group"])
async def test_the_menu_works_where_the_bot_is_no_member(
    fake: FakeDiscord, start_bot: Callable[..., Any], photos: dict[str, bytes], where: str
) -> None:
    """With the app installed to the member's account, "Dream this image" on a forwarded
    picture in someone else's server or a group DM is answered through the webhook alone."""
    runner = GatedRunner()
    async with start_bot(runner=runner):
        ann = fake.add_member("ann")
        cat = fake.add_attachment(photos["cat"], filename="cat.png")
        sent = await fake.send_message_command(
            "Dream this image", _forwarded(fake, ann, attachments=[cat]), user=ann, where=where
        )
        final = await fake.wait_for(final_edit(fake, sent), timeout=60)
        assert final.status == 200 and runner.requests[-1].picture == photos["cat"]
        assert not fake.find(lambda r: r.route.startswith("/channels/") and r.status == 200)
