"""A local fake of Discord's REST API, CDN and gateway for the real discord.py client.

It records every request and gateway frame with its monotonic time, for tests to check.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import logging
import mimetypes
import re
import secrets
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import BodyPartReader, WSMsgType, web

from tests.bot.support.fake_components import (
    COMPONENTS_V2,
    TEXT_DISPLAY,
    attached_media,
    components_refusal,
    walk_components,
)

__all__ = [
    "DEFAULT_ATTACHMENT_SIZE_LIMIT",
    "DEFAULT_PERMISSIONS",
    "DISCORD_EPOCH_MS",
    "FakeDiscord",
    "FakeUser",
    "FilePart",
    "GatewayFrame",
    "Recorded",
    "SentInteraction",
    "final_edit",
    "point_discord_py_at",
    "snowflake",
]

log = logging.getLogger(__name__)

DISCORD_EPOCH_MS = 1_420_070_400_000
# what Discord lets a bot upload in a server without boosts (``interaction.filesize_limit``)
DEFAULT_ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
API_PREFIX = "/api/v10"

# Permission bits (https://discord.com/developers/docs/topics/permissions)
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_EXTERNAL_EMOJIS = 1 << 18
USE_APPLICATION_COMMANDS = 1 << 31
SEND_MESSAGES_IN_THREADS = 1 << 38
DEFAULT_PERMISSIONS = (
    ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
    | USE_APPLICATION_COMMANDS
    | SEND_MESSAGES_IN_THREADS
)

# Where an interaction comes from (`FakeDiscord.send_command(where=...)`): the test server, a
# server where the member installed the app to their account but the bot is not a member, the DM
# with the bot, a group DM.
WHERE = ("server", "foreign", "dm", "group")
# follow-up messages Discord allows an interaction of an app installed to the member's account
# only (https://discord.com/developers/docs/interactions/receiving-and-responding)
FOLLOWUP_CAP = 5

# Interaction callback types that create or change a message.
PONG, CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE = 1, 4, 5, 6, 7
AUTOCOMPLETE_RESULT, MODAL = 8, 9
EPHEMERAL, LOADING = 1 << 6, 1 << 7

# Application command option types.
OPTION_TYPES: dict[type, int] = {str: 3, int: 4, bool: 5, float: 10}
ATTACHMENT_OPTION = 11

_snowflake_counter = itertools.count()


def snowflake(at: float | None = None) -> int:
    """A Discord id whose embedded time is ``at`` (a ``time.time()`` value; now when None)."""
    ms = int((time.time() if at is None else at) * 1000) - DISCORD_EPOCH_MS
    return (ms << 22) | (next(_snowflake_counter) & 0x3FFFFF)


def _iso(at: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if at is None else at, UTC).isoformat()


def _json(data: Any, *, status: int = 200) -> web.Response:
    # Exactly "application/json": discord.py ignores JSON whose Content-Type has a charset, and
    # aiohttp's json_response adds one.
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"}
    )


def _error(status: int, code: int, message: str) -> web.Response:
    return _json({"message": message, "code": code}, status=status)


@dataclass(frozen=True)
class FilePart:
    """One file of a multipart request (``files[n]``)."""

    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class Recorded:
    """One HTTP request the fake received, with the answer it gave."""

    method: str
    path: str  # the full URL path, e.g. /api/v10/users/@me
    query: dict[str, str]
    headers: dict[str, str]
    json: Any  # the JSON body, or the multipart ``payload_json``; None without a body
    files: list[FilePart]
    time: float  # time.monotonic() when the request arrived
    status: int = 0  # filled in once answered
    response: Any = None

    @property
    def route(self) -> str:
        """The path without the API prefix, e.g. ``/users/@me``."""
        return self.path.removeprefix(API_PREFIX)

    @property
    def content(self) -> str | None:
        """The message content the request carries, if any; for a components V2 body (which
        has none), the text of its text displays, one a line."""
        body = self.json if isinstance(self.json, dict) else {}
        data = body.get("data", body) if "type" in body else body
        if not isinstance(data, dict):
            return None
        texts = [c["content"] for c in self.components if c.get("type") == TEXT_DISPLAY]
        if not data.get("content") and texts:
            return "\n".join(texts)
        return data.get("content")

    @property
    def components(self) -> list[dict[str, Any]]:
        """Every component the request's message carries, nested ones after their parent."""
        body = self.json if isinstance(self.json, dict) else {}
        data = body.get("data", body) if "type" in body else body
        found = data.get("components") if isinstance(data, dict) else None
        return list(walk_components(found or []))

    @property
    def flags(self) -> int:
        """The message flags the request carries (64: ephemeral), 0 without any."""
        body = self.json if isinstance(self.json, dict) else {}
        data = body.get("data", body) if "type" in body else body
        return int(data.get("flags") or 0) if isinstance(data, dict) else 0

    def __repr__(self) -> str:
        files = f" files={[f.filename for f in self.files]}" if self.files else ""
        return f"<{self.method} {self.route} -> {self.status} json={self.json!r:.200}{files}>"


@dataclass(frozen=True)
class GatewayFrame:
    """One gateway message; ``sent`` is True for fake -> client."""

    sent: bool
    op: int
    t: str | None
    d: Any
    time: float


@dataclass(frozen=True)
class FakeUser:
    """A guild member the fake can send interactions for."""

    id: int
    name: str
    permissions: int = DEFAULT_PERMISSIONS
    bot: bool = False

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"

    def user_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.name,
            "global_name": self.name,
            "discriminator": "0",
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
        }

    def member_payload(self, *, with_permissions: bool = True) -> dict[str, Any]:
        member: dict[str, Any] = {
            "user": self.user_payload(),
            "roles": [],
            "joined_at": _iso(),
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "nick": None,
            "avatar": None,
        }
        if with_permissions:
            member["permissions"] = str(self.permissions)
        return member


@dataclass
class SentInteraction:
    """An interaction the fake dispatched, and what happened to it."""

    id: int
    token: str
    type: int
    name: str | None
    user: FakeUser
    payload: dict[str, Any]
    time: float = 0.0  # monotonic time the INTERACTION_CREATE frame was sent
    acknowledged: bool = False
    original_message_id: int | None = None
    expired_status: int | None = None  # 401 or 404 once expire() was called
    followups: int = 0  # follow-up messages created through its webhook
    user_install_only: bool = False  # Discord caps these at `FOLLOWUP_CAP` follow-ups
    ephemeral_only: bool = False  # the server switched off external apps' public answers


@dataclass
class _Override:
    method: str
    pattern: re.Pattern[str]
    status: int | None
    body: Any
    delay_s: float
    times: int


@dataclass
class _Attachment:
    payload: dict[str, Any]
    data: bytes


Handler = Callable[[web.Request, Recorded, re.Match[str]], Awaitable[web.StreamResponse]]


class FakeDiscord:
    """An aiohttp server on 127.0.0.1 speaking enough Discord for discord.py 2.7 and a slash bot.

    Use ``async with FakeDiscord() as fake:``; point discord.py at it with
    :func:`point_discord_py_at` (or monkeypatch the same two attributes).
    """

    def __init__(
        self,
        *,
        heartbeat_interval_ms: int = 41_250,
        attachment_size_limit: int = DEFAULT_ATTACHMENT_SIZE_LIMIT,
        callback_deadline_s: float | None = 3.0,
        bot_name: str = "DreamBot",
        guild_name: str = "Dream Lab",
    ) -> None:
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.heartbeat_ack_delay_s = 0.05
        self.attachment_size_limit = attachment_size_limit
        # Discord forgets an interaction that was not answered within 3 s ("Unknown interaction").
        self.callback_deadline_s = callback_deadline_s
        self.bot_user = FakeUser(id=snowflake(), name=bot_name, bot=True)
        self.application_id = self.bot_user.id
        self.guild_id = snowflake()
        self.guild_name = guild_name
        self.channel_id = snowflake()
        self.members: dict[int, FakeUser] = {}
        self.dm_channels: dict[int, FakeUser] = {}  # DM channel id -> the member
        # where the bot is not a member: its token gets 403 50001 Missing Access there
        self.foreign_guild_id = snowflake()
        self.foreign_channel_id = snowflake()
        self.group_dm_id = snowflake()
        self.closed_dms: set[int] = set()  # members who do not take DMs from the bot (50007)

        self.requests: list[Recorded] = []
        self.frames: list[GatewayFrame] = []
        self.downloads: list[tuple[int, float]] = []  # (attachment id, monotonic time)
        self.interactions: dict[int, SentInteraction] = {}
        self.messages: dict[int, dict[str, Any]] = {}
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self.identified = asyncio.Event()  # set on IDENTIFY; cleared when a new socket opens
        self.guild_sent = asyncio.Event()  # set once GUILD_CREATE went out on the current socket

        self._attachments: dict[int, _Attachment] = {}
        self._overrides: list[_Override] = []
        self._changed = asyncio.Condition()
        self._sockets: list[web.WebSocketResponse] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._ws: web.WebSocketResponse | None = None
        self._sequence = 0
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._build_routes()

    # ---- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/{tail:.*}", self._http)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for ws in list(self._sockets):
            await ws.close(code=1000)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @contextlib.asynccontextmanager
    async def running(
        self, client: Any, *, token: str = "fake-token", timeout: float = 30.0
    ) -> AsyncIterator[asyncio.Task[None]]:
        """Run ``client.start(token)`` as a task until the client is ready; close it after.

        discord.py fires ``on_ready`` ``guild_ready_timeout`` (2 s by default) after the last
        GUILD_CREATE: lower it on the client (``guild_ready_timeout=`` or its connection state) to
        start faster. Closing a client before it is ready leaks discord.py's ready task.
        """
        self.identified.clear()
        self.guild_sent.clear()
        task = asyncio.create_task(client.start(token))

        def up() -> bool:
            return self.guild_sent.is_set() or task.done()

        try:
            await self.wait_until(up, timeout=timeout, what="the client to connect")
            ready = asyncio.ensure_future(client.wait_until_ready())
            await asyncio.wait({ready, task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            ready.cancel()
            if task.done():
                task.result()  # the client failed to start: raise its error here
            yield task
        finally:
            await client.close()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=timeout)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # ---- guild content --------------------------------------------------------------------------

    def add_member(self, name: str, *, permissions: int = DEFAULT_PERMISSIONS) -> FakeUser:
        """A new member of the test guild (in GUILD_CREATE when added before the bot connects)."""
        user = FakeUser(id=snowflake(), name=name, permissions=permissions)
        self.members[user.id] = user
        return user

    def add_attachment(
        self,
        data: bytes,
        *,
        filename: str = "picture.png",
        content_type: str | None = None,
        width: int | None = None,
        height: int | None = None,
        size: int | None = None,
        probe: bool = True,
    ) -> dict[str, Any]:
        """An attachment served by the fake; its metadata may lie (``size``, ``width``, ``height``).

        With ``probe``, width and height default to the picture's real size when Pillow can read it.
        """
        if probe and (width is None or height is None):
            real = _picture_size(data)
            if real is not None:
                width = real[0] if width is None else width
                height = real[1] if height is None else height
        attachment_id = snowflake()
        url = f"{self.base_url}/attachments/{attachment_id}/{filename}"
        payload: dict[str, Any] = {
            "id": str(attachment_id),
            "filename": filename,
            "size": len(data) if size is None else size,
            "url": url,
            "proxy_url": url,
        }
        content_type = content_type or mimetypes.guess_type(filename)[0]
        if content_type is not None:
            payload["content_type"] = content_type
        if width is not None and height is not None:
            payload["width"], payload["height"] = width, height
        self._attachments[attachment_id] = _Attachment(payload=payload, data=data)
        return payload

    def downloaded(self, attachment: Mapping[str, Any]) -> list[float]:
        """The monotonic times the attachment was downloaded."""
        attachment_id = int(attachment["id"])
        return [at for aid, at in self.downloads if aid == attachment_id]

    def attachment_bytes(self, attachment: Mapping[str, Any]) -> bytes:
        return self._attachments[int(attachment["id"])].data

    def post_message(
        self,
        *,
        author: FakeUser,
        content: str = "",
        attachments: Sequence[Mapping[str, Any]] = (),
    ) -> dict[str, Any]:
        """A message a member posted in the test channel, e.g. to target a context menu."""
        message = self._message(author=author, content=content, attachments=list(attachments))
        return message

    def channel_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.channel_id),
            "type": 0,
            "guild_id": str(self.guild_id),
            "name": "dreams",
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }

    def guild_payload(self) -> dict[str, Any]:
        members = [self.bot_user, *self.members.values()]
        return {
            "id": str(self.guild_id),
            "name": self.guild_name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": str(next(iter(self.members), self.bot_user.id)),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [
                {
                    "id": str(self.guild_id),  # @everyone shares the guild's id
                    "name": "@everyone",
                    "permissions": str(DEFAULT_PERMISSIONS),
                    "position": 0,
                    "color": 0,
                    "hoist": False,
                    "managed": False,
                    "mentionable": False,
                    "flags": 0,
                }
            ],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "system_channel_id": str(self.channel_id),
            "system_channel_flags": 0,
            "preferred_locale": "en-US",
            "premium_tier": 0,
            "nsfw_level": 0,
            "joined_at": _iso(),
            "large": False,
            "unavailable": False,
            "member_count": len(members),
            "members": [m.member_payload(with_permissions=False) for m in members],
            "channels": [self.channel_payload()],
            "threads": [],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    # ---- recording and waiting ------------------------------------------------------------------

    async def wait_for(
        self, predicate: Callable[[Recorded], bool], *, timeout: float = 10.0
    ) -> Recorded:
        """The first recorded request (past or future) matching ``predicate``."""
        found: list[Recorded] = []

        def matched() -> bool:
            found[:] = [r for r in self.requests if r.status and predicate(r)][:1]
            return bool(found)

        await self.wait_until(matched, timeout=timeout, what="a matching request")
        return found[0]

    async def wait_until(
        self, condition: Callable[[], bool], *, timeout: float = 10.0, what: str = "condition"
    ) -> None:
        """Wait until ``condition()`` holds, rechecked after every request and gateway frame.

        It is also rechecked every 50 ms, for conditions on state outside the fake (a bot's queue).
        """
        try:
            async with asyncio.timeout(timeout):
                while not condition():
                    async with self._changed:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._changed.wait(), 0.05)
        except TimeoutError:
            recent = "\n  ".join(repr(r) for r in self.requests[-15:])
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what}; last requests:\n  {recent}"
            ) from None

    def find(self, predicate: Callable[[Recorded], bool]) -> list[Recorded]:
        """Every answered request matching ``predicate``, in arrival order."""
        return [r for r in self.requests if r.status and predicate(r)]

    def for_interaction(self, interaction: SentInteraction) -> list[Recorded]:
        """Every answered request made for one interaction (callback and webhook routes)."""
        return self.find(lambda r: interaction.token in r.path)

    def callback(self, interaction: SentInteraction) -> Recorded | None:
        """The interaction's first callback request, if it came."""
        calls = self.find(lambda r: r.route.startswith(f"/interactions/{interaction.id}/"))
        return calls[0] if calls else None

    async def wait_callback(
        self, interaction: SentInteraction, *, timeout: float = 10.0
    ) -> Recorded:
        prefix = f"/interactions/{interaction.id}/"
        return await self.wait_for(lambda r: r.route.startswith(prefix), timeout=timeout)

    def edits(self, interaction: SentInteraction) -> list[Recorded]:
        """Successful edits of the interaction's original response, in order."""
        return self.find(
            lambda r: (
                r.method == "PATCH"
                and r.route.startswith(
                    f"/webhooks/{self.application_id}/{interaction.token}/messages/"
                )
                and r.status < 300
            )
        )

    def channel_posts(self) -> list[Recorded]:
        """Messages posted with the bot token (not through an interaction) to any channel."""
        return self.find(
            lambda r: (
                r.method == "POST" and re.fullmatch(r"/channels/\d+/messages", r.route) is not None
            )
        )

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ---- fault injection ------------------------------------------------------------------------

    def override(
        self,
        method: str,
        pattern: str,
        *,
        status: int | None = 500,
        json_body: Any = None,
        delay_s: float = 0.0,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests whose route fully matches ``pattern`` differently.

        ``status=None`` only delays them (``delay_s``) and then answers them normally.
        """
        self._overrides.append(
            _Override(method.upper(), re.compile(pattern), status, json_body, delay_s, times)
        )

    def expire(self, interaction: SentInteraction, *, status: int = 401) -> None:
        """Expire the interaction's token: callback and webhook routes refuse it from now on."""
        if status not in (401, 404):
            raise ValueError("Discord answers an expired token with 401 or 404")
        interaction.expired_status = status

    # ---- gateway dispatch -----------------------------------------------------------------------

    async def dispatch(self, event: str, data: Any) -> None:
        """Send one DISPATCH (op 0) frame on the current gateway connection."""
        if self._ws is None or self._ws.closed:
            raise RuntimeError("no gateway connection: start the client first")
        await self._send(self._ws, 0, data, event)

    async def close_gateway(self, code: int = 4000) -> None:
        """Close the current gateway connection (the client should reconnect)."""
        if self._ws is not None:
            await self._ws.close(code=code)

    async def send_command(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        user: FakeUser,
        attachments: Mapping[str, Mapping[str, Any]] | None = None,
        age_s: float = 0.0,
        **extra: Any,
    ) -> SentInteraction:
        """Dispatch a slash command ``/name`` as ``user``.

        ``options`` are plain values (types from the synced definition, else guessed);
        ``attachments`` maps option names to payloads from :meth:`add_attachment`. ``age_s`` makes
        the interaction that many seconds old (its id's embedded time), e.g. past the 15-minute
        token lifetime.
        """
        command = self._find_command(name, 1)
        declared = {o["name"]: o for o in (command or {}).get("options", [])}
        option_payloads: list[dict[str, Any]] = []
        for key, value in (options or {}).items():
            kind = declared.get(key, {}).get("type") or OPTION_TYPES.get(type(value), 3)
            option_payloads.append({"name": key, "type": kind, "value": value})
        resolved: dict[str, Any] = {}
        for key, attachment in (attachments or {}).items():
            resolved.setdefault("attachments", {})[attachment["id"]] = dict(attachment)
            option_payloads.append(
                {"name": key, "type": ATTACHMENT_OPTION, "value": attachment["id"]}
            )
        data: dict[str, Any] = {
            "id": command["id"] if command else str(snowflake()),
            "name": name,
            "type": 1,
            "options": option_payloads,
        }
        if resolved:
            data["resolved"] = resolved
        return await self._interact(2, data, name=name, user=user, age_s=age_s, **extra)

    async def send_message_command(
        self,
        name: str,
        message: Mapping[str, Any],
        *,
        user: FakeUser,
        age_s: float = 0.0,
        **extra: Any,
    ) -> SentInteraction:
        """Dispatch the message context-menu command ``name`` on ``message``."""
        command = self._find_command(name, 3)
        data = {
            "id": command["id"] if command else str(snowflake()),
            "name": name,
            "type": 3,
            "target_id": message["id"],
            "resolved": {"messages": {message["id"]: dict(message)}},
        }
        return await self._interact(2, data, name=name, user=user, age_s=age_s, **extra)

    async def send_component(
        self,
        custom_id: str,
        message: Mapping[str, Any],
        *,
        user: FakeUser,
        component_type: int = 2,
        values: Sequence[str] | None = None,
        **extra: Any,
    ) -> SentInteraction:
        """Dispatch a component interaction (2: button, 3: string select) on ``message``;
        ``extra``: where it happens (``where=``, ``ephemeral_only=``, see `_interact`)."""
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            data["values"] = list(values)
        return await self._interact(3, data, name=None, user=user, message=dict(message), **extra)

    async def send_autocomplete(
        self, name: str, options: Mapping[str, Any], focused: str, *, user: FakeUser
    ) -> SentInteraction:
        """Dispatch an autocomplete request for option ``focused`` of ``/name``."""
        command = self._find_command(name, 1)
        declared = {o["name"]: o for o in (command or {}).get("options", [])}
        option_payloads = [
            {
                "name": key,
                "type": declared.get(key, {}).get("type") or OPTION_TYPES.get(type(value), 3),
                "value": value,
                **({"focused": True} if key == focused else {}),
            }
            for key, value in options.items()
        ]
        data = {
            "id": command["id"] if command else str(snowflake()),
            "name": name,
            "type": 1,
            "options": option_payloads,
        }
        return await self._interact(4, data, name=name, user=user)

    def _find_command(self, name: str, kind: int) -> dict[str, Any] | None:
        for command in [*self.guild_commands.get(self.guild_id, []), *self.global_commands]:
            if command["name"] == name and command.get("type", 1) == kind:
                return command
        return None

    async def _interact(
        self,
        kind: int,
        data: dict[str, Any],
        *,
        name: str | None,
        user: FakeUser,
        age_s: float = 0.0,
        message: dict[str, Any] | None = None,
        attachment_size_limit: int | None = None,
        app_permissions: int = DEFAULT_PERMISSIONS,
        where: str = "server",
        ephemeral_only: bool = False,
    ) -> SentInteraction:
        self.members.setdefault(user.id, user)
        if any(c["id"] == data.get("id") for c in self.guild_commands.get(self.guild_id, [])):
            data["guild_id"] = str(self.guild_id)
        interaction_id = snowflake(time.time() - age_s)
        token = f"tok{interaction_id}.{secrets.token_urlsafe(24)}"
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": kind,
            "data": data,
            "token": token,
            "version": 1,
            "app_permissions": str(app_permissions),
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": attachment_size_limit or self.attachment_size_limit,
            **self._context_payload(where, user),
        }
        if message is not None:
            payload["message"] = message
        interaction = SentInteraction(
            id=interaction_id,
            token=token,
            type=kind,
            name=name,
            user=user,
            payload=payload,
            user_install_only="0" not in payload["authorizing_integration_owners"],
            ephemeral_only=ephemeral_only,
        )
        self.interactions[interaction_id] = interaction
        interaction.time = time.monotonic()
        await self.dispatch("INTERACTION_CREATE", payload)
        return interaction

    def dm_channel_of(self, user: FakeUser) -> int:
        """The DM channel between the bot and ``user`` (opened if need be)."""
        channel_id = next((c for c, u in self.dm_channels.items() if u == user), None)
        if channel_id is None:
            channel_id = snowflake()
            self.dm_channels[channel_id] = user
        return channel_id

    def _context_payload(self, where: str, user: FakeUser) -> dict[str, Any]:
        """The fields saying where an interaction happened, as Discord sends them."""
        owners = {"1": str(user.id)}  # installed to the member's account
        if where in ("server", "foreign"):
            channel = self.channel_payload()
            if where == "foreign":
                channel |= {
                    "id": str(self.foreign_channel_id),
                    "guild_id": str(self.foreign_guild_id),
                    "name": "general",
                }
            guild = channel["guild_id"]
            return {
                "guild_id": guild,
                "guild": {"id": guild, "locale": "en-US", "features": []},
                "guild_locale": "en-US",
                "channel_id": channel["id"],
                "channel": channel,
                "member": user.member_payload(),
                # the test server installed the bot; elsewhere only the member has the app
                "authorizing_integration_owners": {"0": guild} if where == "server" else owners,
                "context": 0,
            }
        if where == "dm":
            channel_id = self.dm_channel_of(user)
            return {
                "channel_id": str(channel_id),
                "channel": {
                    "id": str(channel_id),
                    "type": 1,
                    "recipients": [user.user_payload()],
                    "last_message_id": None,
                    "flags": 0,
                },
                "user": user.user_payload(),
                "authorizing_integration_owners": owners,
                "context": 1,
            }
        if where == "group":
            return {
                "channel_id": str(self.group_dm_id),
                "channel": {
                    "id": str(self.group_dm_id),
                    "type": 3,
                    "name": "friends",
                    "recipients": [user.user_payload()],
                    "owner_id": str(user.id),
                    "last_message_id": None,
                    "icon": None,
                    "flags": 0,
                },
                "user": user.user_payload(),
                "authorizing_integration_owners": owners,
                "context": 2,
            }
        raise ValueError(f"where is one of {', '.join(WHERE)}, not {where!r}")

    def _missing_access(self, record: Recorded) -> web.Response | None:
        """Discord's answer to the bot's token for a channel or server it is not a member of."""
        m = re.match(r"/(channels|guilds)/(\d+)", record.route)
        if m is None:
            return None
        unreachable = {self.foreign_channel_id, self.group_dm_id, self.foreign_guild_id}
        return _error(403, 50001, "Missing Access") if int(m.group(2)) in unreachable else None

    # ---- gateway --------------------------------------------------------------------------------

    async def _send(self, ws: web.WebSocketResponse, op: int, d: Any, t: str | None = None) -> None:
        frame: dict[str, Any] = {"op": op, "d": d, "s": None, "t": t}
        if op == 0:
            self._sequence += 1
            frame["s"] = self._sequence
        self.frames.append(GatewayFrame(True, op, t, d, time.monotonic()))
        # Text frames: discord.py only zlib-decompresses binary frames, whatever the URL asked for.
        await ws.send_str(json.dumps(frame))
        await self._notify()

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        self._sockets.append(ws)
        self._ws = ws
        self._sequence = 0
        self.identified.clear()
        self.guild_sent.clear()
        log.debug("gateway opened with query %s", dict(request.query))
        try:
            await self._send(ws, 10, {"heartbeat_interval": self.heartbeat_interval_ms})
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                op, d = frame.get("op"), frame.get("d")
                self.frames.append(GatewayFrame(False, op, None, d, time.monotonic()))
                await self._notify()
                await self._on_frame(ws, op, d)
        finally:
            self._sockets.remove(ws)
            if self._ws is ws:
                self._ws = None
        return ws

    async def _on_frame(self, ws: web.WebSocketResponse, op: int, d: Any) -> None:
        if op == 1:  # HEARTBEAT
            # Acknowledged after a network-like delay: discord.py's keep-alive thread records the
            # send time only after the send returns, and an instant ACK can beat it (it then logs
            # "Can't keep up ... 41.3s behind" on a busy machine).
            ack = asyncio.create_task(self._ack_later(ws))
            self._tasks.add(ack)
            ack.add_done_callback(self._tasks.discard)
        elif op == 2:  # IDENTIFY
            await self._send(ws, 0, self._ready_payload(), "READY")
            self.identified.set()
            await self._send(ws, 0, self.guild_payload(), "GUILD_CREATE")
            self.guild_sent.set()
            await self._notify()
        elif op == 6:  # RESUME
            await self._send(ws, 0, {}, "RESUMED")
        elif op == 8:  # REQUEST_GUILD_MEMBERS
            members = [m.member_payload(with_permissions=False) for m in self.members.values()]
            chunk = {
                "guild_id": str(self.guild_id),
                "members": members,
                "chunk_index": 0,
                "chunk_count": 1,
                "nonce": d.get("nonce"),
            }
            await self._send(ws, 0, chunk, "GUILD_MEMBERS_CHUNK")

    async def _ack_later(self, ws: web.WebSocketResponse) -> None:
        await asyncio.sleep(self.heartbeat_ack_delay_s)
        if not ws.closed:
            await self._send(ws, 11, None)

    def _ready_payload(self) -> dict[str, Any]:
        return {
            "v": 10,
            "user": {**self.bot_user.user_payload(), "verified": True, "mfa_enabled": False},
            "guilds": [{"id": str(self.guild_id), "unavailable": True}],
            "session_id": secrets.token_hex(16),
            "resume_gateway_url": self.gateway_url,
            "shard": [0, 1],
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
        }

    # ---- HTTP -----------------------------------------------------------------------------------

    def _build_routes(self) -> None:
        app, token = r"(?P<app>\d+)", r"(?P<token>[^/]+)"
        table: list[tuple[str, str, Handler]] = [
            ("GET", r"/users/@me", self._get_me),
            ("GET", r"/gateway/bot", self._get_gateway_bot),
            ("GET", r"/gateway", self._get_gateway_bot),
            ("GET", r"/oauth2/applications/@me", self._get_application),
            ("GET", r"/applications/@me", self._get_application),
            ("GET", rf"/applications/{app}/commands", self._get_commands),
            ("PUT", rf"/applications/{app}/commands", self._put_commands),
            ("GET", rf"/applications/{app}/guilds/(?P<guild>\d+)/commands", self._get_commands),
            ("PUT", rf"/applications/{app}/guilds/(?P<guild>\d+)/commands", self._put_commands),
            ("POST", rf"/interactions/(?P<id>\d+)/{token}/callback", self._callback),
            ("POST", rf"/webhooks/{app}/{token}", self._followup),
            (
                "GET",
                rf"/webhooks/{app}/{token}/messages/(?P<mid>@original|\d+)",
                self._get_hook_msg,
            ),
            (
                "PATCH",
                rf"/webhooks/{app}/{token}/messages/(?P<mid>@original|\d+)",
                self._edit_hook_msg,
            ),
            (
                "DELETE",
                rf"/webhooks/{app}/{token}/messages/(?P<mid>@original|\d+)",
                self._del_hook_msg,
            ),
            ("GET", r"/channels/(?P<channel>\d+)", self._get_channel),
            ("POST", r"/channels/(?P<channel>\d+)/messages", self._post_channel_message),
            ("GET", r"/channels/(?P<channel>\d+)/messages/(?P<mid>\d+)", self._get_channel_message),
            (
                "PATCH",
                r"/channels/(?P<channel>\d+)/messages/(?P<mid>\d+)",
                self._edit_channel_message,
            ),
            ("POST", r"/users/@me/channels", self._open_dm),
        ]
        self._routes = [(m, re.compile(p), h) for m, p, h in table]

    async def _http(self, request: web.Request) -> web.StreamResponse:
        body, files = await _read_body(request)
        record = Recorded(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=dict(request.headers),
            json=body,
            files=files,
            time=time.monotonic(),
        )
        self.requests.append(record)
        try:
            response = await self._answer(request, record)
        except Exception:
            log.exception("fake Discord failed on %s %s", request.method, request.path)
            response = _error(500, 0, "fake Discord crashed; see the log")
        record.status = response.status
        if isinstance(response, web.Response) and response.content_type == "application/json":
            assert isinstance(response.body, bytes)
            record.response = json.loads(response.body)
        await self._notify()
        return response

    async def _answer(self, request: web.Request, record: Recorded) -> web.StreamResponse:
        for override in self._overrides:
            if (
                override.times > 0
                and override.method == request.method
                and override.pattern.fullmatch(record.route)
            ):
                override.times -= 1
                if override.delay_s:
                    await asyncio.sleep(override.delay_s)
                if override.status is not None:
                    return _json(override.body or {}, status=override.status)
                break
        if request.method == "GET" and (
            match := re.fullmatch(r"/attachments/(\d+)/.+", request.path)
        ):
            return self._serve_attachment(int(match.group(1)))
        if request.path.startswith(API_PREFIX):
            if (refusal := self._missing_access(record)) is not None:
                return refusal
            for method, pattern, handler in self._routes:
                if method == request.method and (m := pattern.fullmatch(record.route)):
                    return await handler(request, record, m)
        log.warning("fake Discord has no route for %s %s", request.method, request.path)
        return _error(404, 0, f"404: Not Found ({request.method} {request.path})")

    def _serve_attachment(self, attachment_id: int) -> web.StreamResponse:
        attachment = self._attachments.get(attachment_id)
        if attachment is None:
            return web.Response(status=404, text="Not Found")
        self.downloads.append((attachment_id, time.monotonic()))
        content_type = attachment.payload.get("content_type", "application/octet-stream")
        return web.Response(body=attachment.data, content_type=content_type)

    async def _get_me(
        self, request: web.Request, record: Recorded, m: re.Match[str]
    ) -> web.Response:
        return _json(
            {**self.bot_user.user_payload(), "verified": True, "mfa_enabled": False, "flags": 0}
        )

    async def _get_gateway_bot(
        self, request: web.Request, record: Recorded, m: re.Match[str]
    ) -> web.Response:
        return _json(
            {
                "url": self.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 14_400_000,
                    "max_concurrency": 1,
                },
            }
        )

    async def _get_application(
        self, request: web.Request, record: Recorded, m: re.Match[str]
    ) -> web.Response:
        owner = next(iter(self.members.values()), None) or FakeUser(id=snowflake(), name="owner")
        return _json(
            {
                "id": str(self.application_id),
                "name": self.bot_user.name,
                "icon": None,
                "description": "A fake application",
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": owner.user_payload(),
                "verify_key": secrets.token_hex(32),
                "team": None,
                "flags": 0,
                "summary": "",
                "bot": self.bot_user.user_payload(),
                "redirect_uris": [],
                "interactions_endpoint_url": None,
                "install_params": {"scopes": ["bot", "applications.commands"], "permissions": "0"},
            }
        )

    def _commands_for(self, m: re.Match[str]) -> list[dict[str, Any]]:
        guild = m.groupdict().get("guild")
        return self.global_commands if guild is None else self.guild_commands.get(int(guild), [])

    async def _get_commands(
        self, request: web.Request, record: Recorded, m: re.Match[str]
    ) -> web.Response:
        if int(m.group("app")) != self.application_id:
            return _error(403, 50035, "Invalid Form Body")
        return _json(self._commands_for(m))

    async def _put_commands(
        self, request: web.Request, record: Recorded, m: re.Match[str]
    ) -> web.Response:
        if int(m.group("app")) != self.application_id:
            return _error(403, 50035, "Invalid Form Body")
        if not isinstance(record.json, list):
            return _error(400, 50035, "Invalid Form Body")
        guild = m.groupdict().get("guild")
        existing = {(c["name"], c.get("type", 1)): c for c in self._commands_for(m)}
        stored = []
        for command in record.json:
            kind = command.get("type", 1)
            previous = existing.get((command["name"], kind))
            entry = {
                "description": "",
                "options": [],
                "default_member_permissions": None,
                "nsfw": False,
                **command,
                "id": previous["id"] if previous else str(snowflake()),
                "application_id": str(self.application_id),
                "type": kind,
                "version": str(snowflake()),
            }
            if guild is not None:
                entry["guild_id"] = guild
            stored.append(entry)
        if guild is None:
            self.global_commands = stored
        else:
            self.guild_commands[int(guild)] = stored
        return _json(stored)

    def _interaction_for(self, m: re.Match[str]) -> SentInteraction | None:
        token = m.group("token")
        return next((i for i in self.interactions.values() if i.token == token), None)

    async def _callback(
        self, request: web.Request, record: Recorded, m: re.Match[str]
    ) -> web.Response:
        interaction = self.interactions.get(int(m.group("id")))
        if interaction is None or interaction.token != m.group("token"):
            return _error(404, 10062, "Unknown interaction")
        late = (
            self.callback_deadline_s is not None
            and record.time - interaction.time > self.callback_deadline_s
        )
        if late or interaction.expired_status is not None:
            return _error(404, 10062, "Unknown interaction")
        if interaction.acknowledged:
            return _error(400, 40060, "Interaction has already been acknowledged.")
        body = record.json if isinstance(record.json, dict) else {}
        kind = body.get("type")
        data = body.get("data") or {}
        if kind not in (PONG, CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE,
                        UPDATE_MESSAGE, AUTOCOMPLETE_RESULT, MODAL, 10, 12):  # fmt: skip
            return _error(400, 50035, "Invalid Form Body")
        interaction.acknowledged = True
        if interaction.ephemeral_only and kind in (CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE):
            data = {**data, "flags": int(data.get("flags") or 0) | EPHEMERAL}
        answer: dict[str, Any] = {
            "interaction": {
                "id": str(interaction.id),
                "type": interaction.type,
                "response_message_loading": kind == DEFERRED_CHANNEL_MESSAGE,
                "response_message_ephemeral": bool(int(data.get("flags") or 0) & EPHEMERAL),
            }
        }
        message: dict[str, Any] | None = None
        if kind in (CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE):
            flags = int(data.get("flags") or 0) | (
                LOADING if kind == DEFERRED_CHANNEL_MESSAGE else 0
            )
            fields = data if kind == CHANNEL_MESSAGE else {}
            message = self._message(
                author=self.bot_user,
                content=fields.get("content") or "",
                attachments=self._store_files(fields, record.files, []),
                extra={
                    "flags": flags,
                    "embeds": fields.get("embeds") or [],
                    "components": fields.get("components") or [],
                    "webhook_id": str(self.application_id),
                    "application_id": str(self.application_id),
                    "interaction_metadata": self._metadata(interaction),
                    "_token": interaction.token,
                },
            )
            interaction.original_message_id = int(message["id"])
        elif kind in (DEFERRED_UPDATE, UPDATE_MESSAGE):
            target = interaction.payload.get("message")
            if target is not None and int(target["id"]) in self.messages:
                message = self.messages[int(target["id"])]
                # the click's "original response" is now the message its control is on
                interaction.original_message_id = int(target["id"])
                if kind == UPDATE_MESSAGE:
                    self._apply_edit(message, data, record.files)
        if message is not None:
            answer["interaction"]["response_message_id"] = message["id"]
            answer["resource"] = {"type": kind, "message": _public(message)}
        return _json(answer)

    def _webhook_check(
        self, m: re.Match[str]
    ) -> tuple[SentInteraction | None, web.Response | None]:
        if int(m.group("app")) != self.application_id:
            return None, _error(404, 10015, "Unknown Webhook")
        interaction = self._interaction_for(m)
        if interaction is None or not interaction.acknowledged:
            return None, _error(404, 10015, "Unknown Webhook")
        if interaction.expired_status == 401:
            return None, _error(401, 50027, "Invalid Webhook Token")
        if interaction.expired_status == 404:
            return None, _error(404, 10015, "Unknown Webhook")
        return interaction, None

    def _hook_message(self, interaction: SentInteraction, mid: str) -> dict[str, Any] | None:
        message_id = interaction.original_message_id if mid == "@original" else int(mid)
        message = self.messages.get(message_id) if message_id is not None else None
        if message is None:
            return None
        if message.get("_token") != interaction.token and message_id != (
            interaction.original_message_id
        ):
            return None
        return message

    async def _followup(
        self, request: web.Request, record: Recorded, m: re.Match[str]
    ) -> web.Response:
        interaction, refusal = self._webhook_check(m)
        if refusal is not None or interaction is None:
            return refusal or _error(404, 10015, "Unknown Webhook")
        body = record.json if isinstance(record.json, dict) else {}
        if interaction.user_install_only and interaction.followups >= FOLLOWUP_CAP:
            return _error(400, 40094, "This interaction has hit the maximum number of follow ups")
        interaction.followups += 1
        if interaction.ephemeral_only:
            body = {**body, "flags": int(body.get("flags") or 0) | EPHEMERAL}
        thinking = self.messages.get(interaction.original_message_id or 0)
        if thinking is not None and int(thinking.get("flags") or 0) & LOADING:
            if (refusal := _v2_refusal(thinking, body, record.files)) is not None:
                return refusal
            # As Discord does, the first followup after a defer replaces the "thinking" message
            # and keeps the defer's visibility: its own ephemeral flag is ignored.
            loading_flags = int(thinking["flags"])
            self._apply_edit(
                thinking, {k: v for k, v in body.items() if k != "flags"}, record.files
            )
            v2 = int(body.get("flags") or 0) & COMPONENTS_V2
            thinking["flags"] = (loading_flags & ~LOADING) | v2
            return _json(_public(thinking))
        if (refusal := _v2_refusal(None, body, record.files)) is not None:
            return refusal
        message = self._message(
            author=self.bot_user,
            content=body.get("content") or "",
            attachments=self._store_files(body, record.files, []),
            extra={
                "flags": int(body.get("flags") or 0),
                "embeds": body.get("embeds") or [],
                "components": body.get("components") or [],
                "webhook_id": str(self.application_id),
                "application_id": str(self.application_id),
                "interaction_metadata": self._metadata(interaction),
                "_token": interaction.token,
            },
        )
        if interaction.original_message_id is None:
            interaction.original_message_id = int(message["id"])
        return _json(_public(message))

    def _hook_target(self, m: re.Match[str]) -> dict[str, Any] | web.Response:
        """The message a webhook message route names (``@original`` or an id), or Discord's
        refusal of the token or the message."""
        interaction, refusal = self._webhook_check(m)
        if refusal is not None or interaction is None:
            return refusal or _error(404, 10015, "Unknown Webhook")
        message = self._hook_message(interaction, m.group("mid"))
        return message if message is not None else _error(404, 10008, "Unknown Message")

    async def _get_hook_msg(
        self, request: web.Request, record: Recorded, m: re.Match[str]
    ) -> web.Response:
        message = self._hook_target(m)
        if isinstance(message, web.Response):
            return message
        return _json(_public(message))

    async def _edit_hook_msg(
        self, request: web.Request, record: Recorded, m: re.Match[str]
    ) -> web.Response:
        message = self._hook_target(m)
        if isinstance(message, web.Response):
            return message
        body = record.json if isinstance(record.json, dict) else {}
        if (refusal := _v2_refusal(message, body, record.files)) is not None:
            return refusal
        self._apply_edit(message, body, record.files)
        return _json(_public(message))

    async def _del_hook_msg(
        self, request: web.Request, record: Recorded, m: re.Match[str]
    ) -> web.Response:
        message = self._hook_target(m)
        if isinstance(message, web.Response):
            return message
        del self.messages[int(message["id"])]
        return web.Response(status=204)

    async def _get_channel(
        self, request: web.Request, record: Recorded, m: re.Match[str]
    ) -> web.Response:
        if int(m.group("channel")) != self.channel_id:
            return _error(404, 10003, "Unknown Channel")
        return _json(self.channel_payload())

    async def _post_channel_message(
        self, request: web.Request, record: Recorded, m: re.Match[str]
    ) -> web.Response:
        channel_id = int(m.group("channel"))
        if channel_id != self.channel_id and channel_id not in self.dm_channels:
            return _error(404, 10003, "Unknown Channel")
        if channel_id in self.dm_channels and self.dm_channels[channel_id].id in self.closed_dms:
            return _error(403, 50007, "Cannot send messages to this user")
        body = record.json if isinstance(record.json, dict) else {}
        if not any((body.get("content"), record.files, body.get("embeds"), body.get("components"))):
            return _error(400, 50006, "Cannot send an empty message")
        if (refusal := _v2_refusal(None, body, record.files)) is not None:
            return refusal
        message = self._message(
            author=self.bot_user,
            content=body.get("content") or "",
            attachments=self._store_files(body, record.files, []),
            channel_id=channel_id,
            extra={
                "flags": int(body.get("flags") or 0),
                "embeds": body.get("embeds") or [],
                "components": body.get("components") or [],
            },
        )
        return _json(_public(message))

    async def _get_channel_message(
        self, request: web.Request, record: Recorded, m: re.Match[str]
    ) -> web.Response:
        message = self.messages.get(int(m.group("mid")))
        if message is None or message["channel_id"] != m.group("channel"):
            return _error(404, 10008, "Unknown Message")
        return _json(_public(message))

    async def _edit_channel_message(
        self, request: web.Request, record: Recorded, m: re.Match[str]
    ) -> web.Response:
        message = self.messages.get(int(m.group("mid")))
        if message is None or message["channel_id"] != m.group("channel"):
            return _error(404, 10008, "Unknown Message")
        if message["author"]["id"] != str(self.bot_user.id):
            return _error(403, 50005, "Cannot edit a message authored by another user")
        self._apply_edit(
            message, record.json if isinstance(record.json, dict) else {}, record.files
        )
        return _json(_public(message))

    async def _open_dm(
        self, request: web.Request, record: Recorded, m: re.Match[str]
    ) -> web.Response:
        body = record.json if isinstance(record.json, dict) else {}
        user = self.members.get(int(body.get("recipient_id", 0)))
        if user is None:
            return _error(404, 10013, "Unknown User")
        channel_id = self.dm_channel_of(user)
        return _json(
            {
                "id": str(channel_id),
                "type": 1,
                "recipients": [user.user_payload()],
                "last_message_id": None,
            }
        )

    # ---- messages -------------------------------------------------------------------------------

    def _message(
        self,
        *,
        author: FakeUser,
        content: str,
        attachments: list[dict[str, Any]],
        channel_id: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        message_id = snowflake()
        message: dict[str, Any] = {
            "id": str(message_id),
            "type": 0,
            "channel_id": str(channel_id or self.channel_id),
            "guild_id": str(self.guild_id),
            "author": author.user_payload(),
            "content": content,
            "timestamp": _iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": attachments,
            "embeds": [],
            "components": [],
            "pinned": False,
            "flags": 0,
            **(extra or {}),
        }
        message["components"] = attached_media(message["components"], attachments)
        self.messages[message_id] = message
        return message

    def _metadata(self, interaction: SentInteraction) -> dict[str, Any]:
        return {
            "id": str(interaction.id),
            "type": interaction.type,
            "name": interaction.name or "",
            "user": interaction.user.user_payload(),
            "authorizing_integration_owners": {"0": str(self.guild_id)},
        }

    def _store_files(
        self, body: Mapping[str, Any], files: list[FilePart], kept: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """The attachments of a message after a send or edit: kept ones plus the uploaded files."""
        described = {str(a.get("id")): a for a in body.get("attachments") or []}
        result = list(kept)
        for index, part in enumerate(files):
            meta = described.get(str(index), {})
            served = self.add_attachment(
                part.data,
                filename=meta.get("filename") or part.filename,
                content_type=mimetypes.guess_type(part.filename)[0] or part.content_type,
            )
            if meta.get("description"):
                served["description"] = meta["description"]
            result.append(served)
        return result

    def _apply_edit(
        self, message: dict[str, Any], body: Mapping[str, Any], files: list[FilePart]
    ) -> None:
        # an edit cannot change who sees a message, nor take the components V2 flag off it
        kept_flags = int(message.get("flags") or 0) & (EPHEMERAL | COMPONENTS_V2)
        for key in ("content", "embeds", "components", "flags"):
            if key in body:
                message[key] = (
                    body[key] if body[key] is not None else ([] if key != "content" else "")
                )
        if "attachments" in body:
            # Discord keeps only the attachments the edit lists, plus the new uploads.
            wanted = {str(a.get("id")) for a in body["attachments"] or []}
            kept = [a for a in message["attachments"] if a["id"] in wanted]
        else:
            kept = list(message["attachments"])
        if files or "attachments" in body:
            message["attachments"] = self._store_files(body, files, kept)
        if "components" in body:
            message["components"] = attached_media(message["components"], message["attachments"])
        message["flags"] = (int(message.get("flags") or 0) | kept_flags) & ~LOADING
        message["edited_timestamp"] = _iso()


def _public(message: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if not k.startswith("_")}


def _v2_refusal(
    message: Mapping[str, Any] | None, body: Mapping[str, Any], files: list[FilePart]
) -> web.Response | None:
    """Discord's 400 for a send (``message`` None) or an edit that `components_refusal` refuses."""
    described = {str(a.get("id")): a for a in body.get("attachments") or []}
    names = [described.get(str(i), {}).get("filename") or f.filename for i, f in enumerate(files)]
    if message is not None:
        kept = message["attachments"]
        if "attachments" in body:
            kept = [a for a in kept if a["id"] in described]
        names = [a["filename"] for a in kept] + names
    was_v2 = message is not None and bool(int(message.get("flags") or 0) & COMPONENTS_V2)
    refusal = components_refusal(body, attachments=names, was_v2=was_v2)
    return None if refusal is None else _error(400, 50035, f"Invalid Form Body: {refusal}")


def _picture_size(data: bytes) -> tuple[int, int] | None:
    from PIL import Image

    try:
        # Pillow warns about (and above 2x refuses) huge pictures; only the header is read here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                return image.size
    except Exception:
        return None


async def _read_body(request: web.Request) -> tuple[Any, list[FilePart]]:
    if request.content_type.startswith("multipart/"):
        body: Any = None
        files: list[FilePart] = []
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                continue
            data = await part.read(decode=False)
            if part.name == "payload_json":
                body = json.loads(data)
            else:
                files.append(
                    FilePart(
                        field=part.name or "",
                        filename=part.filename or "",
                        content_type=part.headers.get("Content-Type", "application/octet-stream"),
                        data=bytes(data),
                    )
                )
        return body, files
    raw = await request.read()
    if not raw:
        return None, []
    try:
        return json.loads(raw), []
    except ValueError:
        return raw.decode("utf-8", "replace"), []


def final_edit(fake: FakeDiscord, sent: SentInteraction) -> Callable[[Recorded], bool]:
    """Matches the edit of ``sent``'s original response that carries the result's picture."""
    hook = f"/webhooks/{fake.application_id}/{sent.token}/messages/@original"
    return lambda r: r.method == "PATCH" and r.route == hook and bool(r.files)


@contextlib.contextmanager
def point_discord_py_at(fake: FakeDiscord) -> Iterator[None]:
    """Point discord.py's REST base and default gateway at the fake inside the block."""
    import discord.gateway
    import discord.http
    import yarl

    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = fake.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway
