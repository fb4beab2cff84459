"""The fake Discord with what the result controls and /dream-settings need besides: more text
channels, deleting a channel message, subcommands with channel options, and clicks on a message's
controls. Test modules use it by overriding the ``fake`` fixture with `serve`."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

import discord.gateway
import discord.http
import pytest
import yarl
from aiohttp import web

from tests.bot.support.fake_components import TEXT_DISPLAY, walk_components
from tests.bot.support.fake_discord import (
    DEFAULT_PERMISSIONS,
    OPTION_TYPES,
    FakeDiscord,
    FakeUser,
    Recorded,
    SentInteraction,
    snowflake,
)

__all__ = ["CHANNEL_OPTION", "MANAGE_GUILD", "MANAGE_MESSAGES", "ResultsFake", "serve"]

CHANNEL_OPTION = 7
MANAGE_GUILD = 1 << 5
MANAGE_MESSAGES = 1 << 13


class ResultsFake(FakeDiscord):
    """`FakeDiscord` plus extra channels, message deletion, subcommands and control clicks."""

    def __init__(self, **kwargs: Any) -> None:
        self.extra_channels: dict[int, str] = {}
        super().__init__(**kwargs)

    # ---- channels -------------------------------------------------------------------------------

    def add_channel(self, name: str) -> int:
        """A new text channel of the guild (in GUILD_CREATE when added before the bot starts)."""
        channel_id = snowflake()
        self.extra_channels[channel_id] = name
        return channel_id

    def text_channel_payload(self, channel_id: int) -> dict[str, Any]:
        if channel_id == self.channel_id:
            return self.channel_payload()
        return {
            **self.channel_payload(),
            "id": str(channel_id),
            "name": self.extra_channels[channel_id],
        }

    def guild_payload(self) -> dict[str, Any]:
        payload = super().guild_payload()
        payload["channels"] += [self.text_channel_payload(c) for c in self.extra_channels]
        return payload

    def _build_routes(self) -> None:
        super()._build_routes()
        self._routes.append(
            (
                "DELETE",
                re.compile(r"/channels/(?P<channel>\d+)/messages/(?P<mid>\d+)"),
                self._delete_channel_message,
            )
        )

    async def _delete_channel_message(
        self, request: web.Request, record: Recorded, m: re.Match[str]
    ) -> web.Response:
        message = self.messages.get(int(m.group("mid")))
        if message is None or message["channel_id"] != m.group("channel"):
            return web.json_response({"message": "Unknown Message", "code": 10008}, status=404)
        if message["author"]["id"] != str(self.bot_user.id):
            return web.json_response({"message": "Missing Permissions", "code": 50013}, status=403)
        del self.messages[int(message["id"])]
        return web.Response(status=204)

    def deleted_messages(self) -> list[Recorded]:
        return self.find(lambda r: r.method == "DELETE" and r.route.startswith("/channels/"))

    # ---- interactions ---------------------------------------------------------------------------

    async def send_subcommand(
        self,
        group: str,
        sub: str,
        options: Mapping[str, Any] | None = None,
        *,
        user: FakeUser,
    ) -> SentInteraction:
        """Dispatch ``/group sub`` as ``user``; channel options take a channel id."""
        command = self._find_command(group, 1)
        subs = {o["name"]: o for o in (command or {}).get("options", [])}
        declared = {o["name"]: o for o in subs.get(sub, {}).get("options", [])}
        payloads: list[dict[str, Any]] = []
        resolved: dict[str, Any] = {}
        for key, value in (options or {}).items():
            kind = declared.get(key, {}).get("type") or OPTION_TYPES.get(type(value), 3)
            if kind == CHANNEL_OPTION:
                channel = {
                    **self.text_channel_payload(value),
                    "permissions": str(DEFAULT_PERMISSIONS),
                }
                resolved.setdefault("channels", {})[str(value)] = channel
                value = str(value)
            payloads.append({"name": key, "type": kind, "value": value})
        data: dict[str, Any] = {
            "id": command["id"] if command else str(snowflake()),
            "name": group,
            "type": 1,
            "options": [{"name": sub, "type": 1, "options": payloads}],
        }
        if resolved:
            data["resolved"] = resolved
        return await self._interact(2, data, name=group, user=user)

    def controls(self, message_id: int) -> dict[str, str]:
        """A message's controls by action ("deeper", "layer", "info", "delete") -> custom_id,
        in action rows at the top or nested in a card (components V2)."""
        found: dict[str, str] = {}
        for component in walk_components(self.messages[message_id].get("components") or []):
            custom_id = component.get("custom_id", "")
            if custom_id.startswith("dream:"):
                found[custom_id.split(":")[1]] = custom_id
        return found

    def text(self, message_id: int) -> str:
        """What a message says: its content, or a card's text displays, one a line."""
        message = self.messages[message_id]
        texts = [
            c["content"]
            for c in walk_components(message.get("components") or [])
            if c.get("type") == TEXT_DISPLAY
        ]
        return message.get("content") or "\n".join(texts)

    async def click(
        self,
        message_id: int,
        action: str,
        *,
        user: FakeUser,
        value: str | None = None,
        values: list[str] | None = None,
        **extra: Any,
    ) -> SentInteraction:
        """Click a result's control (``value`` or ``values``: what was picked in the layer menu;
        ``extra``: where, as for `FakeDiscord.send_component`)."""
        message = {k: v for k, v in self.messages[message_id].items() if not k.startswith("_")}
        custom_id = self.controls(message_id)[action]
        picked = values if values is not None else [value] if value is not None else None
        if picked is None:
            return await self.send_component(custom_id, message, user=user, **extra)
        return await self.send_component(
            custom_id, message, user=user, component_type=3, values=picked, **extra
        )


@contextlib.asynccontextmanager
async def serve(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ResultsFake]:
    """A running `ResultsFake`, discord.py pointed at it (as the ``fake`` fixture does)."""
    async with ResultsFake() as server:
        monkeypatch.setattr(discord.http.Route, "BASE", server.api_base)
        monkeypatch.setattr(
            discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(server.gateway_url)
        )
        yield server
