"""The picture "Dream this image" takes from a message: an attachment, else one in a forwarded
message's snapshot, else an embed's image, then its thumbnail (a link preview, another bot's
card), fetched from the CDN URL Discord gives with the same checks as an upload."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import discord

from bot.cogs._options import check_attachment, download
from bot.errors import AttachmentRejected
from engine import (
    ACCEPTED_CONTENT_TYPES,
    DEFAULT_MAX_BYTES,
    PictureTooLarge,
    check_content_type,
    check_dimensions,
)

__all__ = ["NO_PICTURE", "MessagePicture", "find_picture", "first_picture"]

NO_PICTURE = (
    "That message has no picture I can dream: no attachment, forwarded picture or embedded "
    "image. I take PNG, JPEG, WebP and GIF."
)
_COULD_NOT_DOWNLOAD = "I couldn't download that picture. Please upload it instead."
# an embed's picture comes from Discord's media proxy: a generous bound, never an endless wait
_FETCH_TIMEOUT = aiohttp.ClientTimeout(total=60, sock_connect=10, sock_read=20)
_CHUNK = 64 * 1024


def first_picture(attachments: Sequence[discord.Attachment]) -> discord.Attachment | None:
    """The first attachment we take, else the first that claims to be a picture, else None."""
    pictures = [a for a in attachments if (a.content_type or "").startswith("image/")]
    accepted = [a for a in pictures if a.content_type in ACCEPTED_CONTENT_TYPES]
    for candidates in (accepted, pictures):
        if candidates:
            return candidates[0]
    return None


@dataclass(frozen=True, slots=True)
class MessagePicture:
    """A picture found in a message: an attachment (of the message or a snapshot), or an
    embed's image or thumbnail by URL. `check` refuses from the metadata, `read` downloads."""

    attachment: discord.Attachment | None = None
    url: str | None = None
    width: int | None = None
    height: int | None = None

    @classmethod
    def of_embed(cls, media: Any) -> MessagePicture | None:
        """An embed's image or thumbnail, through Discord's media proxy (its ``proxy_url``).
        The original ``url`` is never fetched: it may name any host, the bot's own network
        included, while the proxy is Discord's and serves what that host served."""
        url = getattr(media, "proxy_url", None)
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            return None
        return cls(
            url=url, width=getattr(media, "width", None), height=getattr(media, "height", None)
        )

    @property
    def spoiler(self) -> bool:
        return self.attachment is not None and self.attachment.is_spoiler()

    def check(self) -> None:
        """The engine's refusals from what Discord says of the picture, before any download."""
        if self.attachment is not None:
            check_attachment(self.attachment)
        else:
            check_dimensions(width=self.width, height=self.height)

    async def read(self) -> bytes:
        """The picture's bytes: its type checked from the response, at most the engine's byte
        limit read (a longer answer is refused, not read to its end)."""
        if self.attachment is not None:
            return await download(self.attachment)
        assert self.url is not None
        try:
            async with (
                aiohttp.ClientSession(timeout=_FETCH_TIMEOUT) as session,
                session.get(self.url) as response,
            ):
                if response.status != 200:
                    raise AttachmentRejected(_COULD_NOT_DOWNLOAD)
                check_content_type(response.headers.get("Content-Type"))
                _check_size(response.content_length)
                data = bytearray()
                async for chunk in response.content.iter_chunked(_CHUNK):
                    data += chunk
                    _check_size(len(data))
                return bytes(data)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise AttachmentRejected(_COULD_NOT_DOWNLOAD) from error


def _check_size(size: int | None) -> None:
    if size is not None and size > DEFAULT_MAX_BYTES:
        limit = DEFAULT_MAX_BYTES // (1024 * 1024)
        raise PictureTooLarge(f"That picture is larger than {limit} MB, the limit here.")


def _embedded(embeds: Sequence[discord.Embed]) -> Iterator[MessagePicture]:
    for embed in embeds:
        for media in (embed.image, embed.thumbnail):
            if (found := MessagePicture.of_embed(media)) is not None:
                yield found


def find_picture(message: discord.Message) -> MessagePicture | None:
    """The picture to dream in ``message``: its attachments, then a forwarded message's, then
    the embeds' images and thumbnails (its own, then the forwarded ones')."""
    snapshots = list(getattr(message, "message_snapshots", None) or [])
    for attachments in [message.attachments, *(s.attachments for s in snapshots)]:
        if (attachment := first_picture(attachments)) is not None:
            return MessagePicture(attachment=attachment)
    for embeds in [message.embeds, *(s.embeds for s in snapshots)]:
        for found in _embedded(embeds):
            return found
    return None
