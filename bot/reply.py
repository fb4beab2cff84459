"""One member's answer to one interaction: the deferred message while the interaction token
lives (15 minutes), a message in the channel mentioning the member after that."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import discord

__all__ = ["MESSAGE_LIMIT", "TOKEN_LIFETIME", "Reply"]

log = logging.getLogger(__name__)

TOKEN_LIFETIME = timedelta(minutes=15)
MESSAGE_LIMIT = 2000  # characters in one Discord message
_DEFERRED = discord.InteractionResponseType.deferred_channel_message
# stop trusting the token a little early: an edit can take a few seconds to land
_MARGIN = timedelta(seconds=10)


def _fit(text: str, limit: int = MESSAGE_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _token_rejected(error: discord.HTTPException) -> bool:
    # 404 Unknown Webhook / Unknown Message, or 401 Invalid Webhook Token: the token has expired
    return error.status in (401, 404)


class Reply:
    """Edits an interaction's original response, or posts in its channel once the token expired."""

    def __init__(
        self, interaction: discord.Interaction, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interaction = interaction
        self._clock = clock
        age = discord.utils.utcnow() - interaction.created_at
        age = min(max(age, timedelta(0)), TOKEN_LIFETIME)
        self._deadline = clock() + (TOKEN_LIFETIME - _MARGIN - age).total_seconds()
        self._token_dead = False

    @property
    def expired(self) -> bool:
        return self._token_dead or self._clock() >= self._deadline

    async def update(self, content: str) -> None:
        """Show a passing state (queue position, progress); skipped once the token expired."""
        if self.expired:
            return
        try:
            await self.interaction.edit_original_response(content=_fit(content))
        except discord.HTTPException as error:
            if _token_rejected(error):
                self._token_dead = True
            else:
                log.warning("Could not update the progress message: %s", error)

    async def finish(
        self,
        content: str,
        *,
        picture: tuple[bytes, str] | None = None,
        view: discord.ui.View | None = None,
    ) -> discord.Message | None:
        """Replace the deferred message by the final one; ``picture`` is (bytes, filename),
        ``view`` the controls under it. Returns the message shown (None without a channel)."""
        # the controls are sent only when given, so other answers keep their exact payload
        controls: dict[str, Any] = {"view": view} if view is not None else {}
        if not self.expired:
            files = [self._file(picture)] if picture else []
            try:
                return await self.interaction.edit_original_response(
                    content=_fit(content), attachments=files, **controls
                )
            except discord.HTTPException as error:
                if not _token_rejected(error):
                    raise
                self._token_dead = True
        return await self._post_in_channel(content, picture, **controls)

    async def refuse(self, content: str, *, private: bool = True) -> None:
        """Tell the member why not, ephemerally while the token lives (in the channel after).

        A public deferred message is deleted first: the refusal is for the member alone, and the
        channel is not left with a "thinking" message that never ends. With ``private=False``
        the deferred message itself says it (a notice everyone waiting may read, e.g. a restart).
        """
        interaction = self.interaction
        if interaction.type is discord.InteractionType.autocomplete:
            return
        if not interaction.response.is_done():
            await interaction.response.send_message(_fit(content), ephemeral=True)
            return
        if not private and interaction.response.type is _DEFERRED:
            await self.finish(content)
            return
        if not self.expired:
            try:
                if interaction.response.type is _DEFERRED:
                    await interaction.delete_original_response()
                await interaction.followup.send(_fit(content), ephemeral=True)
                return
            except discord.HTTPException as error:
                if not _token_rejected(error):
                    raise
                self._token_dead = True
        await self._post_in_channel(content, None)

    @staticmethod
    def _file(picture: tuple[bytes, str]) -> discord.File:
        data, filename = picture
        return discord.File(io.BytesIO(data), filename=filename)

    async def _post_in_channel(
        self,
        content: str,
        picture: tuple[bytes, str] | None,
        *,
        view: discord.ui.View = discord.utils.MISSING,
    ) -> discord.Message | None:
        interaction = self.interaction
        channel: discord.abc.Messageable
        if isinstance(interaction.channel, discord.abc.Messageable):
            channel = interaction.channel
        elif interaction.channel_id is not None:
            channel = interaction.client.get_partial_messageable(interaction.channel_id)
        else:
            log.warning("Interaction token expired and there is no channel to post in")
            return None
        log.info("Interaction token expired; posting in channel %s instead", interaction.channel_id)
        controls: dict[str, Any] = {"view": view} if view is not discord.utils.MISSING else {}
        return await channel.send(
            _fit(f"{interaction.user.mention} {content}"),
            file=self._file(picture) if picture else discord.utils.MISSING,
            allowed_mentions=discord.AllowedMentions(users=[interaction.user]),
            **controls,
        )
