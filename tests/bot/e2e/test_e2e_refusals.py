"""End to end: attachments the bot must refuse get a clear ephemeral answer, mostly undownloaded."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from tests.bot.conftest import GatedRunner
from tests.bot.support.fake_discord import FakeDiscord, Recorded

MESSAGE, EPHEMERAL = 4, 64


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """A 12 kB PNG that unpacks into 10000 x 10000 pixels."""
    buffer = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(buffer, "PNG")
    return buffer.getvalue()


async def _refusal(fake: FakeDiscord, attachment: dict[str, Any]) -> Recorded:
    user = fake.add_member("member")
    sent = await fake.send_command("dream", user=user, attachments={"image": attachment})
    callback = await fake.wait_callback(sent)
    assert callback.status == 200
    return callback


@pytest.mark.parametrize(
    ("filename", "content_type"),
    [("notes.txt", "text/plain"), ("clip.mp4", "video/mp4"), ("scan.bmp", "image/bmp")],
)
async def test_a_file_that_is_not_an_accepted_picture_is_refused_undownloaded(
    fake: FakeDiscord, start_bot: Callable[..., Any], filename: str, content_type: str
) -> None:
    """A text file, a video or a BMP is refused ephemerally, naming the accepted formats."""
    runner = GatedRunner()
    async with start_bot(runner=runner):
        attachment = fake.add_attachment(
            b"not a picture", filename=filename, content_type=content_type
        )
        callback = await _refusal(fake, attachment)
        assert callback.json["type"] == MESSAGE and callback.flags & EPHEMERAL
        text = callback.content or ""
        assert "PNG" in text and "JPEG" in text, text
        assert not fake.downloaded(attachment) and not runner.requests


@pytest.mark.parametrize(
    ("size", "width", "height", "words"),
    [
        (30 * 1024 * 1024, 800, 600, ("MiB", "MB")),  # more bytes than the engine takes
        (900_000, 12_000, 9_000, ("pixels", "megapixels")),  # 108 MP from the metadata
    ],
    ids=["bytes", "pixels"],
)
async def test_an_oversized_picture_is_refused_from_its_metadata(
    fake: FakeDiscord,
    start_bot: Callable[..., Any],
    cat_photo: bytes,
    size: int,
    width: int,
    height: int,
    words: tuple[str, ...],
) -> None:
    """A picture too large by its size or width x height is refused ephemerally, undownloaded."""
    runner = GatedRunner()
    async with start_bot(runner=runner):
        attachment = fake.add_attachment(
            cat_photo, filename="big.png", size=size, width=width, height=height
        )
        callback = await _refusal(fake, attachment)
        assert callback.json["type"] == MESSAGE and callback.flags & EPHEMERAL
        text = callback.content or ""
        assert any(word in text for word in words), text
        assert not fake.downloaded(attachment) and not runner.requests


async def test_a_bomb_with_honest_metadata_is_refused_undownloaded(
    fake: FakeDiscord, start_bot: Callable[..., Any], bomb: bytes
) -> None:
    """A 12 kB file declaring 10000 x 10000 pixels is refused from its metadata alone."""
    runner = GatedRunner()
    async with start_bot(runner=runner):
        attachment = fake.add_attachment(bomb, filename="bomb.png")
        assert (attachment["width"], attachment["height"]) == (10_000, 10_000)
        callback = await _refusal(fake, attachment)
        assert callback.json["type"] == MESSAGE and callback.flags & EPHEMERAL
        assert "pixels" in (callback.content or "")
        assert not fake.downloaded(attachment) and not runner.requests


@pytest.mark.slow
async def test_a_bomb_with_lying_metadata_is_refused_privately_after_download(
    fake: FakeDiscord, start_bot: Callable[..., Any], bomb: bytes
) -> None:
    """A bomb whose metadata claims 100 x 100 is caught by the real engine and refused privately.

    The member learns why; nobody else in the channel sees a public error left behind.
    """
    async with start_bot(runner=None):
        attachment = fake.add_attachment(bomb, filename="small.png", width=100, height=100)
        user = fake.add_member("mallory")
        sent = await fake.send_command("dream", user=user, attachments={"image": attachment})
        await fake.wait_callback(sent)
        words = ("bomb", "pixels")
        told = await fake.wait_for(
            lambda r: (
                sent.token in r.path
                and r.route.startswith("/webhooks/")
                and any(w in (r.content or "") for w in words)
            ),
            timeout=60,
        )
        assert len(fake.downloaded(attachment)) == 1
        assert "Traceback" not in (told.content or "")
        assert told.flags & EPHEMERAL, f"the refusal {told!r} is public"
        thinking = fake.messages.get(sent.original_message_id or 0)
        assert thinking is None or thinking["flags"] & EPHEMERAL, "a public message is left behind"
