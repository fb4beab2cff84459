"""Tests for bot/cogs/_message_pictures.py: which picture of a message is dreamed."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import discord
import pytest

from bot.cogs._message_pictures import MessagePicture, find_picture, first_picture
from engine import PictureError


def _attachment(name: str, content_type: str | None = "image/png") -> Any:
    return SimpleNamespace(filename=name, content_type=content_type, is_spoiler=lambda: False)


def _embed(image: str | None = None, thumbnail: str | None = None) -> discord.Embed:
    card: dict[str, Any] = {"title": "a card"}
    for key, url in (("image", image), ("thumbnail", thumbnail)):
        if url:
            card[key] = {"url": "https://host/original", "proxy_url": url, "width": 8, "height": 8}
    return discord.Embed.from_dict(card)


def _message(
    attachments: list[Any] = (),  # type: ignore[assignment]
    embeds: list[discord.Embed] = (),  # type: ignore[assignment]
    snapshots: list[Any] = (),  # type: ignore[assignment]
) -> Any:
    return SimpleNamespace(
        attachments=list(attachments), embeds=list(embeds), message_snapshots=list(snapshots)
    )


def test_first_picture_prefers_an_accepted_image() -> None:
    """The context menu takes the first PNG/JPEG/WebP/GIF, else the first image, else none."""
    text, tiff, png = (
        _attachment("a.txt", "text/plain"),
        _attachment("a.tiff", "image/tiff"),
        _attachment("a.png"),
    )
    assert first_picture([text, tiff, png]) is png  # type: ignore[list-item]
    assert first_picture([text, tiff]) is tiff  # type: ignore[list-item]
    assert first_picture([text]) is None  # type: ignore[list-item]


def test_attachments_then_snapshots_then_embeds_image_before_thumbnail() -> None:
    """The message's own picture first, then a forwarded one, then embeds' images, then their
    thumbnails; a text file never counts."""
    text, own, sent_on = _attachment("a.txt", "text/plain"), _attachment("a.png"), _attachment("b")
    snapshot = _message(attachments=[sent_on], embeds=[_embed(image="https://cdn/x.png")])
    card = _embed(image="https://cdn/image.png", thumbnail="https://cdn/thumb.png")

    assert find_picture(_message([text, own], [card], [snapshot])).attachment is own
    assert find_picture(_message([text], [card], [snapshot])).attachment is sent_on
    assert find_picture(_message([text], [card])).url == "https://cdn/image.png"
    thumb = _embed(thumbnail="https://cdn/thumb.png")
    assert find_picture(_message(embeds=[thumb])).url == "https://cdn/thumb.png"
    forwarded = _message(snapshots=[_message(embeds=[thumb])])
    assert find_picture(forwarded).url == "https://cdn/thumb.png"
    assert find_picture(_message([text], [discord.Embed(title="words")])) is None


def test_only_web_urls_are_fetched_and_the_metadata_is_checked_first() -> None:
    """An embed picture is fetched through Discord's proxy only, with honest dimensions."""
    media = SimpleNamespace(url="https://host/a.png", proxy_url="https://proxy/a.png", width=8)
    found = MessagePicture.of_embed(SimpleNamespace(**vars(media), height=8))
    assert found is not None and found.url == "https://proxy/a.png" and not found.spoiler
    found.check()
    assert (
        MessagePicture.of_embed(SimpleNamespace(url="attachment://a.png", proxy_url=None)) is None
    )
    with pytest.raises(PictureError):
        MessagePicture(url="https://proxy/a.png", width=None, height=None).check()
    with pytest.raises(PictureError):
        MessagePicture(url="https://proxy/a.png", width=90_000, height=90_000).check()


@pytest.fixture
async def server() -> Any:
    """A local HTTP server whose answers the tests choose (no network)."""
    from aiohttp import web

    routes = web.RouteTableDef()

    @routes.get("/chunked")
    async def chunked(request: web.Request) -> web.StreamResponse:
        # no Content-Length: only counting while reading can stop it
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(64):
            await response.write(b"\0" * 1024)
        return response

    @routes.get("/missing")
    async def missing(request: web.Request) -> web.Response:
        return web.Response(status=404, text="gone")

    @routes.get("/cut")
    async def cut(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "image/png", "Content-Length": "9999"}
        )
        await response.prepare(request)
        await response.write(b"\x89PNG")
        assert request.transport is not None
        request.transport.close()
        return response

    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_reading_stops_at_the_byte_limit_and_failures_are_clear(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A body without a length is counted while read and refused past the limit; a missing
    picture or a dropped connection is a clear refusal, not a traceback."""
    import bot.cogs._message_pictures as message_pictures
    from bot.errors import AttachmentRejected

    monkeypatch.setattr(message_pictures, "DEFAULT_MAX_BYTES", 16 * 1024)
    with pytest.raises(PictureError, match="larger than"):
        await MessagePicture(url=f"{server}/chunked", width=8, height=8).read()
    for path in ("missing", "cut"):
        with pytest.raises(AttachmentRejected, match="couldn't download"):
            await MessagePicture(url=f"{server}/{path}", width=8, height=8).read()
