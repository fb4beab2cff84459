"""End to end: /dream, the "Dream this image" menu and /layers, from the fake Discord's side."""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from engine import presets
from tests.bot.conftest import GatedRunner
from tests.bot.support.fake_components import COMPONENTS_V2
from tests.bot.support.fake_discord import FakeDiscord, final_edit

DEFERRED, MESSAGE, AUTOCOMPLETE_RESULT, EPHEMERAL = 5, 4, 8, 64


@pytest.mark.slow
async def test_dream_happy_path_with_the_real_engine(
    fake: FakeDiscord, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """A photo is deferred at once, downloaded, shown in progress and answered with its dream."""
    async with start_bot(runner=None, dream_max_side=96):
        user = fake.add_member("alice")
        photo = fake.add_attachment(cat_photo, filename="chelsea.png")  # 120 x 80
        sent = await fake.send_command(
            "dream", {"steps": 2, "octaves": 2, "seed": 7}, user=user, attachments={"image": photo}
        )
        callback = await fake.wait_callback(sent)
        assert callback.status == 200 and callback.json["type"] == DEFERRED
        assert callback.time - sent.time < 3.0
        final = await fake.wait_for(final_edit(fake, sent), timeout=120)

        assert final.status == 200
        downloads = fake.downloaded(photo)
        assert len(downloads) == 1 and callback.time <= downloads[0] < final.time
        upload, original = final.files  # the dream, and the member's picture beside it
        with Image.open(io.BytesIO(upload.data)) as dreamed:
            assert dreamed.format in ("PNG", "WEBP", "JPEG")
            assert upload.filename.lower().endswith((".png", ".webp", ".jpg", ".jpeg"))
            assert dreamed.size == (96, 64)  # scaled to DREAM_MAX_SIDE, aspect kept
        with Image.open(io.BytesIO(original.data)) as small:
            assert small.format == "JPEG" and max(small.size) <= 160
        # a card (components V2): the result line, then who asked and when
        summary, asked = (final.content or "").split("\n")
        for part in ("efficientnet_lite0", "2 steps", "2 octaves", "seed 7", " s"):
            assert part in summary, (part, summary)
        assert user.mention in asked and "<t:" in asked

        passing = [e for e in fake.edits(sent) if e is not final and e.time < final.time]
        assert passing, "no queue or progress edit before the result"
        assert all(e.content and not e.files for e in passing)
        assert any("Dreaming" in (e.content or "") for e in passing)
        message = fake.messages[sent.original_message_id or 0]
        assert message["content"] == "" and message["flags"] & COMPONENTS_V2
        assert len(message["attachments"]) == 2


async def test_progress_edits_show_a_bar_at_most_every_two_seconds(
    fake: FakeDiscord, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """While a job runs, the reply shows octave/step and a bar, edited at most every 2 s."""
    runner = GatedRunner(steps=10, step_s=0.45)
    async with start_bot(runner=runner):
        user = fake.add_member("bea")
        photo = fake.add_attachment(cat_photo, filename="cat.png")
        sent = await fake.send_command("dream", user=user, attachments={"image": photo})
        final = await fake.wait_for(final_edit(fake, sent), timeout=30)
        steady = [e for e in fake.edits(sent) if e is not final and "step" in (e.content or "")]
        assert steady, [e.content for e in fake.edits(sent)]
        assert all("▓" in (e.content or "") or "░" in (e.content or "") for e in steady)
        assert any("octave 1/1, step" in (e.content or "") for e in steady)
        gaps = [b.time - a.time for a, b in itertools.pairwise(steady)]
        assert all(gap > 1.8 for gap in gaps), gaps
        assert len(fake.edits(sent)) <= 2 + 10 * 0.45 / 2 + 2  # start, queue, throttled progress


async def test_context_menu_dreams_the_first_picture_of_a_message(
    fake: FakeDiscord, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """ "Dream this image" dreams the message's first picture (not its text file) with defaults."""
    runner = GatedRunner()
    async with start_bot(runner=runner):
        user = fake.add_member("carl")
        notes = fake.add_attachment(b"just words", filename="notes.txt")
        photo = fake.add_attachment(cat_photo, filename="cat.png")
        message = fake.post_message(author=user, content="my cat", attachments=[notes, photo])
        sent = await fake.send_message_command("Dream this image", message, user=user)
        callback = await fake.wait_callback(sent)
        assert callback.status == 200 and callback.json["type"] == DEFERRED
        final = await fake.wait_for(final_edit(fake, sent), timeout=30)
        assert final.status == 200 and final.files
        assert not fake.downloaded(notes) and len(fake.downloaded(photo)) == 1
        (request,) = runner.requests
        assert request.user_id == user.id and request.picture == cat_photo
        assert (request.params.steps, request.params.octaves) == (10, 4)
        assert request.max_bytes == fake.attachment_size_limit


async def test_context_menu_on_a_message_without_pictures_is_refused(
    fake: FakeDiscord, start_bot: Callable[..., Any]
) -> None:
    """ "Dream this image" on a message without a picture answers an ephemeral explanation."""
    async with start_bot(runner=GatedRunner()):
        user = fake.add_member("dora")
        message = fake.post_message(author=user, content="no pictures here")
        sent = await fake.send_message_command("Dream this image", message, user=user)
        callback = await fake.wait_callback(sent)
        assert callback.json["type"] == MESSAGE and callback.flags & EPHEMERAL
        assert "picture" in (callback.content or "")


async def test_layers_lists_every_preset_ephemerally(
    fake: FakeDiscord, start_bot: Callable[..., Any]
) -> None:
    """/layers answers at once, ephemerally, with every preset of every offered model."""
    async with start_bot(runner=GatedRunner()):
        user = fake.add_member("eve")
        sent = await fake.send_command("layers", user=user)
        callback = await fake.wait_callback(sent)
        assert callback.status == 200 and callback.json["type"] == MESSAGE
        assert callback.flags & EPHEMERAL
        text = str(callback.json["data"])
        for preset in presets("efficientnet_lite0"):
            assert preset.name in text and preset.description[:30] in text


async def test_an_unknown_model_is_refused_before_deferring(
    fake: FakeDiscord, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """A model the bot does not offer is refused ephemerally, and nothing is downloaded."""
    async with start_bot(runner=GatedRunner()):
        user = fake.add_member("finn")
        photo = fake.add_attachment(cat_photo, filename="cat.png")
        sent = await fake.send_command(
            "dream", {"model": "vgg16"}, user=user, attachments={"image": photo}
        )
        callback = await fake.wait_callback(sent)
        assert callback.json["type"] == MESSAGE and callback.flags & EPHEMERAL
        assert "efficientnet_lite0" in (callback.content or "")
        assert not fake.downloaded(photo)


async def test_layer_autocomplete_offers_the_models_presets(
    fake: FakeDiscord, start_bot: Callable[..., Any]
) -> None:
    """Typing in /dream's layer option gets the matching presets with their descriptions."""
    async with start_bot(runner=GatedRunner()):
        user = fake.add_member("gil")
        sent = await fake.send_autocomplete("dream", {"layer": ""}, "layer", user=user)
        callback = await fake.wait_callback(sent)
        assert callback.status == 200 and callback.json["type"] == AUTOCOMPLETE_RESULT
        choices = callback.json["data"]["choices"]
        names = [p.name for p in presets("efficientnet_lite0")]
        assert [c["value"] for c in choices] == names[:25]
        assert all(len(c["name"]) <= 100 for c in choices)
        typed = names[-1][:3]
        sent = await fake.send_autocomplete("dream", {"layer": typed}, "layer", user=user)
        narrowed = (await fake.wait_callback(sent)).json["data"]["choices"]
        assert narrowed and all(typed.lower() in str(c).lower() for c in narrowed)
