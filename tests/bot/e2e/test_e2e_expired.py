"""End to end: a dream that outlives its interaction token is posted in the channel instead."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from tests.bot.conftest import GatedRunner
from tests.bot.support.fake_discord import FakeDiscord


@pytest.mark.parametrize("status", [401, 404])
async def test_a_token_that_expires_during_the_job_sends_the_result_to_the_channel(
    fake: FakeDiscord, start_bot: Callable[..., Any], cat_photo: bytes, status: int
) -> None:
    """When the final edit is refused (401/404), the picture is posted mentioning the member."""
    runner = GatedRunner(hold=True)
    async with start_bot(runner=runner):
        member = fake.add_member("slow")
        photo = fake.add_attachment(cat_photo, filename="cat.png")
        sent = await fake.send_command("dream", user=member, attachments={"image": photo})
        await fake.wait_callback(sent)
        await fake.wait_until(lambda: bool(runner.requests))
        fake.expire(sent, status=status)
        runner.gate.set()
        post = await fake.wait_for(
            lambda r: r.method == "POST" and r.route == f"/channels/{fake.channel_id}/messages",
            timeout=30,
        )
        assert post.status == 200
        # a card (components V2): the member is mentioned in its text, and may be pinged
        assert post.json["content"] is None and member.mention in (post.content or "")
        assert [str(u) for u in post.json["allowed_mentions"]["users"]] == [str(member.id)]
        upload, _original = post.files
        with Image.open(io.BytesIO(upload.data)) as picture:
            assert picture.size == (32, 24)
        refused = [r for r in fake.for_interaction(sent) if r.status == status]
        assert refused, "the bot never tried the webhook before falling back"


async def test_an_interaction_older_than_15_minutes_is_answered_in_the_channel(
    fake: FakeDiscord, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """A job whose interaction is already past the 15-minute token lifetime goes to the channel."""
    async with start_bot(runner=GatedRunner()):
        member = fake.add_member("late")
        photo = fake.add_attachment(cat_photo, filename="cat.png")
        sent = await fake.send_command(
            "dream", user=member, attachments={"image": photo}, age_s=16 * 60
        )
        post = await fake.wait_for(
            lambda r: r.method == "POST" and r.route == f"/channels/{fake.channel_id}/messages",
            timeout=30,
        )
        assert member.mention in (post.content or "") and post.files
        edits = [r for r in fake.edits(sent) if r.files]
        assert not edits, "the result went to an expired token"
