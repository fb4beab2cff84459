"""End to end: /layers answers with a picture of every preset (shipped for the bundled model,
made in the background and cached for another), and its button lists the raw layer names."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from bot.cogs.layers import ASSETS, CACHE_FOLDER, SHEET_USER
from engine import presets, sheet_params, sheet_stem
from engine.sheet import SHEET_COLUMNS
from tests.bot.conftest import GatedRunner
from tests.bot.support.fake_discord import FakeDiscord, FakeUser, Recorded, SentInteraction

MESSAGE, UPDATE_MESSAGE, EPHEMERAL = 4, 7, 64
TWO_MODELS = "efficientnet_lite0,googlenet"


async def _layers(
    fake: FakeDiscord, user: FakeUser, **options: Any
) -> tuple[SentInteraction, Recorded]:
    sent = await fake.send_command("layers", options, user=user)
    callback = await fake.wait_callback(sent)
    assert callback.json["type"] == MESSAGE and callback.flags & EPHEMERAL, callback
    return sent, callback


def _embed(callback: Recorded) -> dict[str, Any]:
    (embed,) = callback.json["data"]["embeds"]
    return dict(embed)


def _buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A message's buttons by label."""
    return {
        component["label"]: component
        for row in message.get("components") or []
        for component in row["components"]
    }


def _public(fake: FakeDiscord, message_id: int | None) -> dict[str, Any]:
    assert message_id is not None
    return {k: v for k, v in fake.messages[message_id].items() if not k.startswith("_")}


def _build(bot: Any, model: str) -> asyncio.Task[Any]:
    # the extension's module is loaded afresh by discord.py, so no isinstance against ours
    task = bot.get_cog("Layers").sheets.building(model)
    assert task is not None, f"no sheet of {model} is being made"
    return task


async def test_the_bundled_model_answers_with_the_shipped_sheet_at_once(
    fake: FakeDiscord, start_bot: Callable[..., Any]
) -> None:
    """/layers attaches the shipped sheet in the embed, with every model's presets in words;
    nothing is dreamed for it."""
    runner = GatedRunner()
    async with start_bot(runner=runner, dream_models=TWO_MODELS) as bot:
        sent, callback = await _layers(fake, fake.add_member("alice"))
        (shipped,) = ASSETS.glob(f"{sheet_stem('efficientnet_lite0')}.*")
        (part,) = callback.files
        assert part.data == shipped.read_bytes() and part.filename == shipped.name
        embed = _embed(callback)
        assert embed["image"]["url"] == f"attachment://{shipped.name}"
        fields = embed["fields"]
        assert [f["name"].split()[0] for f in fields] == ["efficientnet_lite0", "googlenet"]
        assert all(f"`{p.name}`" in fields[1]["value"] for p in presets("googlenet"))
        message = _public(fake, sent.original_message_id)
        assert _buttons(message)["Raw layer names"]["custom_id"] == "layers:raw:efficientnet_lite0"
        assert runner.requests == [] and bot.get_cog("Layers").sheets.building("googlenet") is None


async def test_another_models_sheet_is_made_in_the_background_then_cached(
    fake: FakeDiscord, start_bot: Callable[..., Any]
) -> None:
    """The first /layers for googlenet says the picture is being made (text only) and starts one
    build, one job per preset for nobody; asking again meanwhile starts no second build; once
    made, /layers attaches it, read from the data folder."""
    runner = GatedRunner(hold=True)
    async with start_bot(runner=runner, dream_models=TWO_MODELS) as bot:
        alice, bob = fake.add_member("alice"), fake.add_member("bob")
        _, first = await _layers(fake, alice, model="googlenet")
        assert "is being made" in (first.content or "") and not first.files
        (field,) = _embed(first)["fields"]
        assert field["name"].startswith("googlenet") and "default model" not in field["name"]
        build = _build(bot, "googlenet")
        await asyncio.to_thread(runner.started.wait, 30)
        _, meanwhile = await _layers(fake, bob, model="googlenet")
        assert "is being made" in (meanwhile.content or "") and not meanwhile.files
        assert _build(bot, "googlenet") is build and len(runner.requests) == 1

        runner.gate.set()
        sheet = await asyncio.wait_for(asyncio.shield(build), 60)
        assert [r.params for r in runner.requests] == [
            sheet_params("googlenet", p.name) for p in presets("googlenet")
        ]
        assert {r.user_id for r in runner.requests} == {SHEET_USER}

        _, answer = await _layers(fake, alice, model="googlenet")
        (part,) = answer.files
        assert part.data == sheet.data and part.filename.startswith(sheet_stem("googlenet"))
        assert _embed(answer)["image"]["url"] == f"attachment://{part.filename}"
        with Image.open(io.BytesIO(part.data)) as picture:
            rows = -(-(len(presets("googlenet")) + 1) // SHEET_COLUMNS)
            assert picture.width > SHEET_COLUMNS * 150 and picture.height > rows * 150
        cached = bot.settings.dream_data_dir / CACHE_FOLDER / part.filename
        assert cached.read_bytes() == part.data
        assert len(runner.requests) == len(presets("googlenet"))  # no second build


async def test_a_failed_build_still_answers_and_is_tried_again(
    fake: FakeDiscord, start_bot: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    """A build whose job fails is logged; the member had the text, and the next /layers tries
    again, which then makes the picture."""
    runner = GatedRunner()
    runner.fail_for = {SHEET_USER}
    async with start_bot(runner=runner, dream_models=TWO_MODELS) as bot:
        alice = fake.add_member("alice")
        with caplog.at_level(logging.WARNING, logger="bot.cogs.layers"):
            _, first = await _layers(fake, alice, model="googlenet")
            assert "is being made" in (first.content or "")
            with pytest.raises(Exception):  # noqa: B017 - whatever the backend made of it
                await asyncio.wait_for(asyncio.shield(_build(bot, "googlenet")), 60)
        assert any("layer sheet of googlenet" in r.getMessage() for r in caplog.records)
        runner.fail_for.clear()
        _, again = await _layers(fake, alice, model="googlenet")
        assert "is being made" in (again.content or "")
        await asyncio.wait_for(asyncio.shield(_build(bot, "googlenet")), 60)
        _, answer = await _layers(fake, alice, model="googlenet")
        assert len(answer.files) == 1


async def test_raw_layer_names_come_privately_page_by_page(
    fake: FakeDiscord, start_bot: Callable[..., Any]
) -> None:
    """The button sends the first page of raw layer names privately; Next shows the second in
    place, Previous goes back; each page is under 2000 characters."""
    async with start_bot(runner=GatedRunner()):
        alice = fake.add_member("alice")
        sent, _ = await _layers(fake, alice)
        answer = _public(fake, sent.original_message_id)
        click = await fake.send_component("layers:raw:efficientnet_lite0", answer, user=alice)
        callback = await fake.wait_callback(click)
        assert callback.json["type"] == MESSAGE and callback.flags & EPHEMERAL, callback
        first = callback.content or ""
        assert "page 1 of 2" in first and "conv_stem" in first and len(first) < 2000
        listing = _public(fake, click.original_message_id)
        buttons = _buttons(listing)
        assert buttons["Previous"].get("disabled") and not buttons["Next"].get("disabled")

        turn = await fake.send_component(buttons["Next"]["custom_id"], listing, user=alice)
        assert (await fake.wait_callback(turn)).json["type"] == UPDATE_MESSAGE
        listing = _public(fake, click.original_message_id)
        assert "page 2 of 2" in listing["content"] and "logits" in listing["content"]
        assert "conv_stem" not in listing["content"] and len(listing["content"]) < 2000
        buttons = _buttons(listing)
        assert buttons["Next"].get("disabled") and not buttons["Previous"].get("disabled")

        back = await fake.send_component(buttons["Previous"]["custom_id"], listing, user=alice)
        assert (await fake.wait_callback(back)).json["type"] == UPDATE_MESSAGE
        assert _public(fake, click.original_message_id)["content"] == first


async def test_a_model_the_bot_does_not_offer_is_refused(
    fake: FakeDiscord, start_bot: Callable[..., Any]
) -> None:
    """/layers for a model the bot does not dream with says so, privately, and builds nothing."""
    runner = GatedRunner()
    async with start_bot(runner=runner) as bot:
        sent = await fake.send_command("layers", {"model": "vgg16"}, user=fake.add_member("a"))
        callback = await fake.wait_callback(sent)
        assert callback.flags & EPHEMERAL and "vgg16" in (callback.content or ""), callback
        assert bot.get_cog("Layers").sheets.building("vgg16") is None and runner.requests == []
