"""End to end: the creative controls of /dream — layer mixes, a class, a guide picture, smooth —
their refusals, and the recipe kept by Dream deeper, Another layer and a restart."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from tests.bot.conftest import GatedRunner, picture_bytes
from tests.bot.support.fake_discord import FakeUser, Recorded, SentInteraction, final_edit
from tests.bot.support.results_fake import ResultsFake

MESSAGE, EPHEMERAL = 4, 64


async def _dream(
    fake: ResultsFake, user: FakeUser, photo: bytes, guide: bytes | None = None, **options: Any
) -> tuple[SentInteraction, Recorded]:
    attachments = {"image": fake.add_attachment(photo, filename="cat.png")}
    if guide is not None:
        attachments["guide"] = fake.add_attachment(guide, filename="guide.png")
    sent = await fake.send_command("dream", options, user=user, attachments=attachments)
    final = await fake.wait_for(final_edit(fake, sent), timeout=240)
    return sent, final


async def _refusal(fake: ResultsFake, user: FakeUser, photo: bytes, **options: Any) -> str:
    """The ephemeral answer /dream gets straight away, before anything is downloaded."""
    image = fake.add_attachment(photo, filename="cat.png")
    attachments = {"image": image}
    guide = options.pop("guide", None)
    if guide is not None:
        attachments["guide"] = guide
    sent = await fake.send_command("dream", options, user=user, attachments=attachments)
    callback = await fake.wait_callback(sent)
    assert callback.json["type"] == MESSAGE and callback.flags & EPHEMERAL, callback.json
    assert not fake.downloaded(image)
    return callback.content or ""


def _pixels(final: Recorded) -> bytes:
    upload, _original = final.files  # the dream, then the member's picture beside it
    with Image.open(io.BytesIO(upload.data)) as picture:
        return picture.convert("RGB").tobytes()


@pytest.mark.slow
async def test_a_mix_a_class_and_a_guide_each_change_the_dream(
    fake: ResultsFake, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """With the real engine: a mix differs from each of its layers alone, and a class and a
    guide picture each change the picture; the result line names what was used."""
    base = {"steps": 2, "octaves": 1, "seed": 5, "strength": 3.0}
    with Image.open(io.BytesIO(cat_photo)) as cat:
        guide = picture_bytes(cat.rotate(90, expand=True).resize((64, 64)))
    async with start_bot(runner=None, dream_max_side=64):
        user = fake.add_member("ada")
        eyes = _pixels((await _dream(fake, user, cat_photo, layer="eyes", **base))[1])
        fur = _pixels((await _dream(fake, user, cat_photo, layer="fur", **base))[1])
        _, mixed = await _dream(fake, user, cat_photo, layer="fur+eyes", **base)
        assert " · eyes+fur · " in (mixed.content or "") or " · fur+eyes · " in (
            mixed.content or ""
        )
        assert _pixels(mixed) not in (eyes, fur)
        _, of_class = await _dream(fake, user, cat_photo, layer="eyes", dream_of="281", **base)
        assert "of tabby" in (of_class.content or "")
        assert _pixels(of_class) != eyes
        _, guided = await _dream(fake, user, cat_photo, guide=guide, layer="eyes", **base)
        assert "guided" in (guided.content or "")
        assert _pixels(guided) != eyes


async def test_the_recipe_is_written_one_way_and_kept_by_the_controls_and_a_restart(
    fake: ResultsFake, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """A mix in any order is one recipe; Dream deeper, Another layer (several presets mixed)
    and a restarted bot keep the class, the guide and smooth."""
    guide = picture_bytes(Image.new("RGB", (40, 30), (200, 30, 30)))
    runner = GatedRunner()
    async with start_bot(runner=runner):
        user = fake.add_member("bo")
        options = {"layer": "EYES + fur", "dream_of": "tabby", "smooth": True}
        first, _ = await _dream(fake, user, cat_photo, guide=guide, **options)
        await _dream(fake, user, cat_photo, guide=guide, layer="fur+eyes+fur")
        one, two = runner.requests
        assert one.params.layers == two.params.layers and len(one.params.layers) == 2
        assert {term.lower() for term in one.params.layers} == {"eyes", "fur"}
        assert one.params.dream_of == 281 and one.params.smooth and one.guide == guide
        message = first.original_message_id
        assert message is not None
        deeper = await fake.click(message, "deeper", user=user)
        await fake.wait_for(final_edit(fake, deeper), timeout=30)
        kept = runner.requests[-1]
        assert (kept.params.layers, kept.params.dream_of, kept.params.smooth) == (
            one.params.layers,
            281,
            True,
        )
        assert kept.guide == guide
    runner = GatedRunner()
    async with start_bot(runner=runner):
        mix = await fake.click(message, "layer", user=user, values=["strokes", "eyes"])
        final = await fake.wait_for(final_edit(fake, mix), timeout=30)
        (request,) = runner.requests
        assert set(request.params.layers) == {"strokes", "eyes"}
        assert request.params.dream_of == 281 and request.guide == guide
        assert request.picture == cat_photo
        assert "strokes" in (final.content or "") and "eyes" in (final.content or "")


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"layer": "eyez"}, "eyes"),
        ({"layer": "eyes+fur+strokes+textures+patterns"}, "at most 4"),
        ({"layer": "blocks.4:99999"}, "no channel 99999"),
        ({"layer": "eyes+"}, "empty"),
        ({"dream_of": "tabbby"}, "tabby"),
        ({"dream_of": "1000"}, "0 to 999"),
    ],
)
async def test_every_bad_value_gets_its_message(
    fake: ResultsFake,
    start_bot: Callable[..., Any],
    cat_photo: bytes,
    options: dict[str, Any],
    expected: str,
) -> None:
    """An unknown term (with the closest name), too many terms, a missing channel, an unknown
    class: each refused privately with its reason, nothing downloaded or queued."""
    runner = GatedRunner()
    async with start_bot(runner=runner):
        user = fake.add_member("cy")
        text = await _refusal(fake, user, cat_photo, **options)
        assert expected in text, text
        assert "Traceback" not in text and "went wrong" not in text
        assert not runner.requests


async def test_a_guide_that_is_not_a_picture_or_is_off_here_is_refused(
    fake: ResultsFake, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """A text file as the guide, or a guide where /dream-settings turned guides off, is refused
    privately before anything is downloaded."""
    runner = GatedRunner()
    async with start_bot(runner=runner) as bot:
        user = fake.add_member("di")
        notes = fake.add_attachment(b"just words", filename="notes.txt")
        text = await _refusal(fake, user, cat_photo, guide=notes)
        assert "PNG" in text or "picture" in text, text
        assert not fake.downloaded(notes)
        from bot.storage import ServerSettings

        await bot.dreams.save_server_settings(
            fake.guild_id, ServerSettings(allow_guides=False, allow_classes=False), by=None
        )
        guide = fake.add_attachment(cat_photo, filename="guide.png")
        assert "turned off" in await _refusal(fake, user, cat_photo, guide=guide)
        assert "turned off" in await _refusal(fake, user, cat_photo, dream_of="tabby")
        assert not runner.requests


async def test_the_layer_autocomplete_builds_a_mix_and_flags_what_it_cannot_read(
    fake: ResultsFake, start_bot: Callable[..., Any]
) -> None:
    """With ``eyes+`` typed the choices are ``eyes+<another preset>``; a bad term is flagged."""
    async with start_bot(runner=GatedRunner()):
        user = fake.add_member("ed")
        sent = await fake.send_autocomplete("dream", {"layer": "eyes+"}, "layer", user=user)
        choices = (await fake.wait_callback(sent)).json["data"]["choices"]
        values = [c["value"] for c in choices]
        assert values and all(v.startswith("eyes+") for v in values)
        assert "eyes+eyes" not in values and "eyes+fur" in values
        assert all(len(c["name"]) <= 100 and len(c["value"]) <= 100 for c in choices)
        sent = await fake.send_autocomplete("dream", {"layer": "eyez+fu"}, "layer", user=user)
        (flagged,) = (await fake.wait_callback(sent)).json["data"]["choices"]
        assert flagged["name"].startswith("⚠️") and "eyes" in flagged["name"]
        sent = await fake.send_autocomplete("dream", {"dream_of": "tabby"}, "dream_of", user=user)
        classes = (await fake.wait_callback(sent)).json["data"]["choices"]
        assert classes[0]["value"] == "281" and "tabby" in classes[0]["name"]
