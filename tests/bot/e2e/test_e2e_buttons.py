"""End to end: the controls under a result (Dream deeper, Another layer, Info, Delete), across
restarts, after retention, with dreams interrupted by a restart, and against double clicks."""

from __future__ import annotations

import io
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from bot.storage import SCHEMA_VERSION, DreamState, Store, params_to_json
from engine import DreamParams
from tests.bot.conftest import GatedRunner
from tests.bot.support.fake_discord import (
    DEFAULT_PERMISSIONS,
    FakeUser,
    SentInteraction,
    final_edit,
    snowflake,
)
from tests.bot.support.results_fake import MANAGE_MESSAGES, ResultsFake

DEFERRED, MESSAGE, DEFERRED_UPDATE, EPHEMERAL = 5, 4, 6, 64
DAY_S = 86_400


async def _dream(fake: ResultsFake, user: FakeUser, photo: bytes, **options: Any) -> int:
    """/dream a photo and wait for the result; returns the result message's id."""
    attachment = fake.add_attachment(photo, filename="cat.png")
    sent = await fake.send_command("dream", options, user=user, attachments={"image": attachment})
    await fake.wait_for(final_edit(fake, sent), timeout=30)
    assert sent.original_message_id is not None
    return sent.original_message_id


async def _answered(fake: ResultsFake, click: SentInteraction) -> int:
    """Wait for a click's dream to be answered like /dream; returns its result message's id."""
    callback = await fake.wait_callback(click)
    assert callback.status == 200 and callback.json["type"] == DEFERRED
    assert not callback.flags & EPHEMERAL  # a result everyone sees, as for /dream
    await fake.wait_for(final_edit(fake, click), timeout=30)
    assert click.original_message_id is not None
    return click.original_message_id


async def _refused(fake: ResultsFake, click: SentInteraction) -> str:
    """The ephemeral refusal a click got straight away."""
    callback = await fake.wait_callback(click)
    assert callback.json["type"] == MESSAGE and callback.flags & EPHEMERAL, callback
    return callback.content or ""


def _picture(fake: ResultsFake, message_id: int) -> bytes:
    # the dream; the member's picture, shown beside it on the card, comes after it
    dreamed, *_ = fake.messages[message_id]["attachments"]
    return fake.attachment_bytes(dreamed)


def _dream_id(fake: ResultsFake, message_id: int) -> str:
    return fake.controls(message_id)["info"].rsplit(":", 1)[1]


async def test_every_control_on_a_result_works(
    fake: ResultsFake, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """Deeper dreams the result, Another layer the original, Info is private, Delete is guarded."""
    runner = GatedRunner()
    async with start_bot(runner=runner) as bot:
        alice = fake.add_member("alice")
        first = await _dream(fake, alice, cat_photo, steps=2, octaves=1, seed=5, layer="eyes")
        assert set(fake.controls(first)) == {"deeper", "layer", "info", "delete"}
        first_id = _dream_id(fake, first)
        asked = runner.requests[0]

        deeper = await _answered(fake, await fake.click(first, "deeper", user=alice))
        assert runner.requests[1].picture == _picture(fake, first)
        assert runner.requests[1].params == asked.params
        assert set(fake.controls(deeper)) == {"deeper", "layer", "info", "delete"}

        layered = await _answered(fake, await fake.click(first, "layer", user=alice, value="fur"))
        assert runner.requests[2].picture == cat_photo
        assert runner.requests[2].params.layers == ("fur",)
        assert runner.requests[2].params.seed == 5
        # from a deeper result too, Another layer dreams the member's original upload
        await _answered(fake, await fake.click(deeper, "layer", user=alice, value="strokes"))
        assert runner.requests[3].picture == cat_photo

        info = await _refused(fake, await fake.click(first, "info", user=alice))
        for part in ("efficientnet_lite0", "eyes", "2 steps", "1 octave", "seed 5", "s"):
            assert part in info, (part, info)
        assert f"<@{alice.id}>" in info

        bob = fake.add_member("bob")
        refusal = await _refused(fake, await fake.click(first, "delete", user=bob))
        assert "Only" in refusal and first in fake.messages

        moderator = fake.add_member("mod", permissions=DEFAULT_PERMISSIONS | MANAGE_MESSAGES)
        removed = await fake.click(layered, "delete", user=moderator)
        await fake.wait_until(lambda: layered not in fake.messages)
        hook = f"/webhooks/{fake.application_id}/{removed.token}"
        confirmation = await fake.wait_for(lambda r: r.method == "POST" and r.route == hook)
        assert "Deleted" in (confirmation.content or "") and confirmation.flags & EPHEMERAL
        # deleted through the click's webhook, never with the bot's token
        assert (await fake.wait_callback(removed)).json["type"] == DEFERRED_UPDATE
        assert not fake.deleted_messages()

        await fake.click(first, "delete", user=alice)
        await fake.wait_until(lambda: first not in fake.messages)
        record = await bot.dreams.store.get(_dream_id(fake, deeper))
        assert record is not None and record.has_output  # other results keep their pictures
        gone = await bot.dreams.store.get(first_id)
        assert gone is not None and gone.deleted and not gone.has_input


async def test_controls_still_work_after_a_restart(
    fake: ResultsFake, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """A result's controls work when a new bot process (same data dir) gets the click."""
    async with start_bot(runner=GatedRunner()):
        alice = fake.add_member("alice")
        first = await _dream(fake, alice, cat_photo, steps=1, octaves=1)
        output = _picture(fake, first)
    runner = GatedRunner()
    async with start_bot(runner=runner):
        await _answered(fake, await fake.click(first, "deeper", user=alice))
        assert runner.requests[0].picture == output
        await _answered(fake, await fake.click(first, "layer", user=alice, value="textures"))
        assert runner.requests[1].picture == cat_photo
        info = await _refused(fake, await fake.click(first, "info", user=alice))
        assert "efficientnet_lite0" in info


async def test_after_retention_the_controls_say_the_pictures_are_gone(
    fake: ResultsFake, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """The cleanup deletes pictures past DREAM_RETENTION_DAYS; then a click says so, privately."""
    runner = GatedRunner()
    async with start_bot(runner=runner, dream_retention_days=7) as bot:
        alice = fake.add_member("alice")
        first = await _dream(fake, alice, cat_photo, steps=1, octaves=1)
        pictures = bot.dreams.store.pictures
        assert len(list(pictures.iterdir())) == 2  # the original and the result
        assert await bot.dreams.cleanup() == 0
        assert await bot.dreams.cleanup(now=time.time() + 8 * DAY_S) == 2
        assert not list(pictures.iterdir())

        for action, value in (("deeper", None), ("layer", "fur")):
            text = await _refused(fake, await fake.click(first, action, user=alice, value=value))
            assert "7 days" in text and "/dream" in text, text
        assert len(runner.requests) == 1
        assert "efficientnet_lite0" in await _refused(
            fake, await fake.click(first, "info", user=alice)
        )


async def test_the_bot_upgrades_an_old_data_file_and_its_dreams_still_play(
    fake: ResultsFake,
    start_bot: Callable[..., Any],
    bot_settings: Callable[..., Any],
    cat_photo: bytes,
) -> None:
    """A data file of schema version 1 is upgraded at start; its dreams play and are history."""
    alice = fake.add_member("alice")
    data_dir = bot_settings().dream_data_dir
    (data_dir / "pictures").mkdir(parents=True)
    (data_dir / "pictures" / "old.in").write_bytes(cat_photo)
    (data_dir / "pictures" / "old.out").write_bytes(b"an old result")
    dream_id = "b" * 32
    with sqlite3.connect(data_dir / "dreams.sqlite3") as connection:
        connection.executescript(
            """CREATE TABLE schema_version (version INTEGER NOT NULL);
            INSERT INTO schema_version VALUES (1);
            CREATE TABLE jobs (id TEXT PRIMARY KEY, guild_id INTEGER, channel_id INTEGER,
                user_id INTEGER NOT NULL, params TEXT NOT NULL, input_ref TEXT, output_ref TEXT,
                status TEXT NOT NULL, created_at REAL NOT NULL, started_at REAL,
                finished_at REAL, error TEXT);"""
        )
        connection.execute(
            "INSERT INTO jobs VALUES (?, ?, ?, ?, ?, 'old.in', 'old.out', 'done', ?, ?, ?, NULL)",
            (
                dream_id,
                fake.guild_id,
                fake.channel_id,
                alice.id,
                params_to_json(DreamParams(steps=1, octaves=1, seed=8)),
                time.time() - 60,
                time.time() - 59,
                time.time() - 58,
            ),
        )
    connection.close()
    message = fake.post_message(author=fake.bot_user, content="🌀 an old dream")
    message["components"] = [
        {
            "type": 1,
            "components": [
                {
                    "type": 2,
                    "style": 1,
                    "label": "Dream deeper",
                    "custom_id": f"dream:deeper:{dream_id}",
                }
            ],
        }
    ]
    runner = GatedRunner()
    async with start_bot(runner=runner):
        await _answered(fake, await fake.click(int(message["id"]), "deeper", user=alice))
        assert runner.requests[0].picture == b"an old result"
        assert runner.requests[0].params.seed == 8
        sent = await fake.send_command("dream-history", user=alice)
        history = str((await fake.wait_callback(sent)).json["data"]["embeds"])
        assert "seed 8" in history
    with sqlite3.connect(data_dir / "dreams.sqlite3") as connection:
        assert connection.execute("SELECT version FROM schema_version").fetchall() == [
            (SCHEMA_VERSION,)
        ]
    connection.close()


async def test_old_pictures_are_deleted_when_the_bot_starts(
    fake: ResultsFake, start_bot: Callable[..., Any], bot_settings: Callable[..., Any]
) -> None:
    """The periodic cleanup runs at start: pictures of dreams older than retention go."""
    data_dir = bot_settings().dream_data_dir
    store = await Store.open(data_dir, clock=lambda: time.time() - 10 * DAY_S)
    old = await store.add(
        user_id=1,
        guild_id=fake.guild_id,
        channel_id=fake.channel_id,
        params=DreamParams(),
        picture=b"x",
    )
    await store.failed(old.id, "whatever")
    await store.close()
    async with start_bot(runner=GatedRunner(), dream_retention_days=7) as bot:
        await fake.wait_until(lambda: not list(bot.dreams.store.pictures.iterdir()))
        record = await bot.dreams.store.get(old.id)
        assert record is not None and not record.has_input


async def test_a_restart_resumes_the_queued_and_running_dreams(
    fake: ResultsFake, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """Dreams interrupted by a restart keep their message; the next start dreams them in order."""
    runner = GatedRunner(hold=True)
    async with start_bot(runner=runner, dream_shutdown_timeout_s=0.2) as bot:
        alice, bob = fake.add_member("alice"), fake.add_member("bob")
        sent = []
        for user in (alice, bob):
            photo = fake.add_attachment(cat_photo, filename="cat.png")
            sent.append(
                await fake.send_command(
                    "dream", {"steps": 1, "seed": 3}, user=user, attachments={"image": photo}
                )
            )
            await fake.wait_callback(sent[-1])
        await fake.wait_until(lambda: bot.jobs.running and bot.jobs.waiting == 1)
    for interaction in sent:
        assert "restarting" in (fake.edits(interaction)[-1].content or "")
    assert not fake.channel_posts()

    again = GatedRunner()
    async with start_bot(runner=again):
        for interaction in sent:
            final = await fake.wait_for(final_edit(fake, interaction), timeout=30)
            assert "seed 3" in (final.content or "")
            assert any("I'm back" in (e.content or "") for e in fake.edits(interaction))
        assert again.order == [alice.id, bob.id]
        assert all(r.picture == cat_photo and r.params.seed == 3 for r in again.requests)
        assert set(fake.controls(sent[0].original_message_id or 0)) >= {"deeper", "info"}


async def test_dreams_left_by_a_dead_bot_are_told_when_too_late(
    fake: ResultsFake,
    start_bot: Callable[..., Any],
    bot_settings: Callable[..., Any],
    cat_photo: bytes,
) -> None:
    """A dream whose token expired while the bot was down is not dropped: its member is told."""
    carol = fake.add_member("carol")
    store = await Store.open(bot_settings().dream_data_dir)
    left = await store.add(
        user_id=carol.id,
        guild_id=fake.guild_id,
        channel_id=fake.channel_id,
        params=DreamParams(steps=1, octaves=1, seed=1),
        picture=cat_photo,
        interaction_id=snowflake(time.time() - 20 * 60),
        interaction_token="tok-long-gone",
    )
    await store.started(left.id)  # the bot died mid-dream, without a clean stop
    await store.close()
    runner = GatedRunner()
    async with start_bot(runner=runner) as bot:
        post = await fake.wait_for(lambda r: r in fake.channel_posts())
        assert (post.content or "").startswith(f"<@{carol.id}> ⚠️") and "ask again" in (
            post.content or ""
        )
        record = await bot.dreams.store.get(left.id)
        assert record is not None and record.state is DreamState.FAILED
        assert not runner.requests


async def test_two_clicks_at_once_start_one_dream(
    fake: ResultsFake, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """A double click on Dream deeper (or a second member's click meanwhile) starts one dream."""
    runner = GatedRunner()
    async with start_bot(runner=runner, dream_user_queue_limit=3):
        alice, bob = fake.add_member("alice"), fake.add_member("bob")
        first = await _dream(fake, alice, cat_photo, steps=1, octaves=1)
        runner.gate.clear()
        clicks = [await fake.click(first, "deeper", user=alice) for _ in range(2)]
        clicks.append(await fake.click(first, "deeper", user=bob))
        callbacks = [await fake.wait_callback(c) for c in clicks]
        kinds = sorted(c.json["type"] for c in callbacks)
        assert kinds == [MESSAGE, MESSAGE, DEFERRED], callbacks
        assert all("already" in (c.content or "") for c in callbacks if c.json["type"] == MESSAGE)
        runner.gate.set()
        (started,) = [c for c, cb in zip(clicks, callbacks, strict=True) if cb.json["type"] == 5]
        await fake.wait_for(final_edit(fake, started))
        assert len(runner.requests) == 2
        # once answered, the button dreams again
        await _answered(fake, await fake.click(first, "deeper", user=alice))
        assert len(runner.requests) == 3


@pytest.mark.slow
async def test_controls_on_a_dream_of_the_real_engine(
    fake: ResultsFake, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """With the real engine, Dream deeper and Another layer answer with dreamed pictures."""
    async with start_bot(runner=None, dream_max_side=64):
        alice = fake.add_member("alice")
        first = await _dream(fake, alice, cat_photo, steps=1, octaves=1, seed=2)
        deeper = await _answered(fake, await fake.click(first, "deeper", user=alice))
        layered = await _answered(
            fake, await fake.click(first, "layer", user=alice, value="strokes")
        )
        pictures = [_picture(fake, m) for m in (first, deeper, layered)]
        for data in pictures:
            with Image.open(io.BytesIO(data)) as image:
                assert image.size == (64, 43)
        assert len(set(pictures)) == 3
        assert "strokes" in fake.text(layered)
