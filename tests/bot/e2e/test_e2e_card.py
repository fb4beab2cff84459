"""End to end: a finished dream is a components V2 card (its picture with the recipe as alt
text, the result line, who asked and when, the member's picture beside it, the controls), also
in the channel after the token, as a spoiler when the member's picture was one, and older plain
results keep working beside it."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

from PIL import Image

from bot.dreams import describe
from tests.bot.conftest import GatedRunner
from tests.bot.support.fake_components import (
    ACTION_ROW,
    COMPONENTS_V2,
    CONTAINER,
    MEDIA_GALLERY,
    SECTION,
    TEXT_DISPLAY,
    THUMBNAIL,
    walk_components,
)
from tests.bot.support.fake_discord import FakeUser, Recorded, SentInteraction, final_edit
from tests.bot.support.results_fake import ResultsFake

DEFERRED, MESSAGE, EPHEMERAL = 5, 4, 64
CONTROLS = {"deeper", "layer", "info", "delete"}


async def _dream(
    fake: ResultsFake, user: FakeUser, photo: bytes, *, filename: str = "cat.png", **options: Any
) -> tuple[SentInteraction, Recorded]:
    attachment = fake.add_attachment(photo, filename=filename)
    sent = await fake.send_command("dream", options, user=user, attachments={"image": attachment})
    return sent, await fake.wait_for(final_edit(fake, sent), timeout=30)


async def _answered(fake: ResultsFake, click: SentInteraction) -> Recorded:
    """A click's dream, answered publicly like /dream: its final edit."""
    callback = await fake.wait_callback(click)
    assert callback.status == 200 and callback.json["type"] == DEFERRED, callback
    return await fake.wait_for(final_edit(fake, click), timeout=30)


def _of(components: list[dict[str, Any]], kind: int) -> list[dict[str, Any]]:
    return [c for c in components if c.get("type") == kind]


def _gallery_item(edit: Recorded) -> dict[str, Any]:
    (gallery,) = _of(edit.components, MEDIA_GALLERY)
    (item,) = gallery["items"]
    return dict(item)


def _assert_card(edit: Recorded) -> None:
    """A V2 card Discord took: flag set, no content or embeds, one container holding it all."""
    assert edit.status == 200, edit.response
    assert edit.flags & COMPONENTS_V2
    assert edit.json.get("content") is None and not edit.json.get("embeds")
    (container,) = edit.json["components"]
    assert container["type"] == CONTAINER


async def test_a_dream_is_answered_with_a_card(
    fake: ResultsFake, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """The final edit turns the progress message into a card: the dream with its recipe as alt
    text, the line with the member and the time, the original as a thumbnail, the controls."""
    runner = GatedRunner(steps=2)
    async with start_bot(runner=runner):
        alice = fake.add_member("alice")
        sent, final = await _dream(fake, alice, cat_photo, layer="eyes+fur", seed=4, steps=2)
        _assert_card(final)
        passing = [e for e in fake.edits(sent) if e is not final]
        assert passing and all(e.content and not e.flags & COMPONENTS_V2 for e in passing)

        (request,) = runner.requests
        dreamed, original = final.files
        item = _gallery_item(final)
        assert item["media"]["url"] == f"attachment://{dreamed.filename}"
        assert item["description"] == describe(request.params) == "eyes+fur"
        assert not item.get("spoiler")

        (section,) = _of(final.components, SECTION)
        line, asked = (text["content"] for text in section["components"])
        assert line.startswith("🌀 efficientnet_lite0 · eyes+fur · 2 steps") and "seed 4" in line
        assert re.fullmatch(rf"Dreamed for <@{alice.id}> · <t:\d+:R>", asked), asked
        thumbnail = section["accessory"]
        assert thumbnail["type"] == THUMBNAIL
        assert thumbnail["media"]["url"] == f"attachment://{original.filename}"
        with Image.open(io.BytesIO(original.data)) as small:
            assert small.format == "JPEG" and small.size == (120, 80)  # within 160 px: as sent

        message = fake.messages[sent.original_message_id or 0]
        assert message["flags"] & COMPONENTS_V2 and message["content"] == ""
        assert set(fake.controls(int(message["id"]))) == CONTROLS
        # as Discord answers it, the card's media point at the message's own attachments
        urls = {a["url"] for a in message["attachments"]}
        shown = [c for c in walk_components(message["components"]) if c["type"] == THUMBNAIL]
        assert shown and all(c["media"]["url"] in urls for c in shown)


async def test_the_cards_controls_work_before_and_after_a_restart(
    fake: ResultsFake, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """Dream deeper, Another layer, Info and Delete on a card work, also in a new bot process."""
    async with start_bot(runner=GatedRunner()):
        alice = fake.add_member("alice")
        sent, _ = await _dream(fake, alice, cat_photo, steps=1, octaves=1)
        first = sent.original_message_id or 0
        deeper = await _answered(fake, await fake.click(first, "deeper", user=alice))
        _assert_card(deeper)
        assert set(fake.controls(int(deeper.response["id"]))) == CONTROLS
    runner = GatedRunner()
    async with start_bot(runner=runner):
        layered = await _answered(fake, await fake.click(first, "layer", user=alice, value="fur"))
        _assert_card(layered)
        assert runner.requests[0].picture == cat_photo
        assert _gallery_item(layered)["description"] == "fur"
        info = await fake.wait_callback(await fake.click(first, "info", user=alice))
        assert info.json["type"] == MESSAGE and info.flags & EPHEMERAL
        assert "efficientnet_lite0" in (info.content or "")
        await fake.click(first, "delete", user=alice)
        await fake.wait_until(lambda: first not in fake.messages)


async def test_an_old_plain_result_keeps_working(
    fake: ResultsFake, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """A result from before the cards (content and action rows, the same custom ids) still
    plays: Dream deeper answers with a card, Info answers, Delete deletes it."""
    async with start_bot(runner=GatedRunner()):
        alice = fake.add_member("alice")
        sent, _ = await _dream(fake, alice, cat_photo, steps=1, octaves=1, layer="eyes")
        dream_id = fake.controls(sent.original_message_id or 0)["info"].rsplit(":", 1)[1]
    old = fake.post_message(author=fake.bot_user, content="🌀 efficientnet_lite0 · eyes · …")
    button = {"type": 2, "style": 1, "label": "Dream deeper"}
    old["components"] = [
        {
            "type": ACTION_ROW,
            "components": [
                {**button, "custom_id": f"dream:{action}:{dream_id}"}
                for action in ("deeper", "info", "delete")
            ],
        },
        {
            "type": ACTION_ROW,
            "components": [
                {
                    "type": 3,
                    "custom_id": f"dream:layer:{dream_id}",
                    "options": [{"label": "fur", "value": "fur"}],
                    "min_values": 1,
                    "max_values": 1,
                }
            ],
        },
    ]
    runner = GatedRunner()
    async with start_bot(runner=runner):
        message = int(old["id"])
        deeper = await _answered(fake, await fake.click(message, "deeper", user=alice))
        _assert_card(deeper)
        layered = await _answered(fake, await fake.click(message, "layer", user=alice, value="fur"))
        assert _gallery_item(layered)["description"] == "fur"
        assert [r.params.layers for r in runner.requests] == [("eyes",), ("fur",)]
        info = await fake.wait_callback(await fake.click(message, "info", user=alice))
        assert info.flags & EPHEMERAL and f"<@{alice.id}>" in (info.content or "")
        await fake.click(message, "delete", user=alice)
        await fake.wait_until(lambda: message not in fake.messages)


async def test_a_spoiler_picture_gives_spoiler_results(
    fake: ResultsFake, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """A member's SPOILER_ picture is dreamed into a spoiler (picture, file and thumbnail), and
    so is Dream deeper of it, and Another layer after a restart."""

    def spoiler(edit: Recorded) -> None:
        _assert_card(edit)
        assert _gallery_item(edit)["spoiler"] is True
        assert all(f.filename.startswith("SPOILER_") for f in edit.files)
        (section,) = _of(edit.components, SECTION)
        assert section["accessory"]["spoiler"] is True

    async with start_bot(runner=GatedRunner()) as bot:
        alice = fake.add_member("alice")
        sent, final = await _dream(fake, alice, cat_photo, filename="SPOILER_cat.png")
        spoiler(final)
        first = sent.original_message_id or 0
        assert fake.messages[first]["attachments"][0]["filename"].startswith("SPOILER_")
        spoiler(await _answered(fake, await fake.click(first, "deeper", user=alice)))
        _, plain = await _dream(fake, alice, cat_photo)
        assert not _gallery_item(plain).get("spoiler")
        assert not any(f.filename.startswith("SPOILER_") for f in plain.files)
        dream_id = fake.controls(first)["info"].rsplit(":", 1)[1]
        record = await bot.dreams.store.get(dream_id)
        assert record is not None and record.spoiler
    async with start_bot(runner=GatedRunner()):
        spoiler(await _answered(fake, await fake.click(first, "layer", user=alice, value="fur")))


async def test_a_late_card_is_posted_in_the_channel_mentioning_the_member(
    fake: ResultsFake, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """After the token expired the card is posted in the channel: no content, the member named
    (and pinged) in its text, its controls working."""
    runner = GatedRunner(hold=True)
    async with start_bot(runner=runner):
        alice = fake.add_member("alice")
        photo = fake.add_attachment(cat_photo, filename="cat.png")
        sent = await fake.send_command("dream", user=alice, attachments={"image": photo})
        await fake.wait_callback(sent)
        await fake.wait_until(lambda: bool(runner.requests))
        fake.expire(sent)
        runner.gate.set()
        post = await fake.wait_for(
            lambda r: r.method == "POST" and r.route == f"/channels/{fake.channel_id}/messages",
            timeout=30,
        )
        _assert_card(post)
        assert alice.mention in (post.content or "")
        assert [str(u) for u in post.json["allowed_mentions"]["users"]] == [str(alice.id)]
        assert len(post.files) == 2
        posted = int(post.response["id"])
        assert set(fake.controls(posted)) == CONTROLS
        info = await fake.wait_callback(await fake.click(posted, "info", user=alice))
        assert info.flags & EPHEMERAL and "efficientnet_lite0" in (info.content or "")


async def test_a_zoom_is_a_card_without_the_original_beside_it(
    fake: ResultsFake, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """A zoom starts from the member's picture, so its card shows only the zoom and its lines."""
    async with start_bot(runner=GatedRunner()):
        alice = fake.add_member("alice")
        photo = fake.add_attachment(cat_photo, filename="cat.png")
        sent = await fake.send_command(
            "dream-zoom", {"frames": 3}, user=alice, attachments={"image": photo}
        )
        final = await fake.wait_for(final_edit(fake, sent), timeout=30)
        _assert_card(final)
        (dreamed,) = final.files
        assert _gallery_item(final)["media"]["url"] == f"attachment://{dreamed.filename}"
        assert not _of(final.components, SECTION) and not _of(final.components, THUMBNAIL)
        line, asked = (c["content"] for c in _of(final.components, TEXT_DISPLAY))
        assert line.startswith("🌀 zoom") and alice.mention in asked
        assert set(fake.controls(sent.original_message_id or 0)) == CONTROLS
        assert not _gallery_item(final).get("spoiler")

        hidden = fake.add_attachment(cat_photo, filename="SPOILER_cat.png")
        sent = await fake.send_command(
            "dream-zoom", {"frames": 3}, user=alice, attachments={"image": hidden}
        )
        final = await fake.wait_for(final_edit(fake, sent), timeout=30)
        assert _gallery_item(final)["spoiler"] is True
