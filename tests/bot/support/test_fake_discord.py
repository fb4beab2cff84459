"""The fake Discord against a minimal discord.py bot of its own (not the project's bot)."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands
from PIL import Image

from tests.bot.support.fake_discord import FakeDiscord


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 90)).save(buffer, "PNG")
    return buffer.getvalue()


PNG = _png(4, 3)


class MiniBot(commands.Bot):
    """Syncs one slash command and one context menu; records what its handlers saw."""

    def __init__(self, *, sleep_before_reply: float = 0.0) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            guild_ready_timeout=0.05,
        )
        self.seen: list[dict[str, Any]] = []
        self.errors: list[BaseException] = []
        self.sleep_before_reply = sleep_before_reply

    async def setup_hook(self) -> None:
        @self.tree.command(name="echo", description="Echo a picture back")
        async def echo(
            interaction: discord.Interaction,
            image: discord.Attachment,
            text: str,
            times: app_commands.Range[int, 1, 5] = 1,
        ) -> None:
            await asyncio.sleep(self.sleep_before_reply)
            try:
                await interaction.response.defer(thinking=True)
                data = await image.read()
                self.seen.append(
                    {"text": text, "times": times, "data": data, "user": interaction.user.id}
                )
                await interaction.followup.send(
                    f"{text} x{times}", file=discord.File(io.BytesIO(data), "back.png")
                )
                await interaction.edit_original_response(content="done")
            except discord.HTTPException as error:
                self.errors.append(error)

        @self.tree.command(name="vote", description="Ask with a button")
        async def vote(interaction: discord.Interaction) -> None:
            view = discord.ui.View()
            button: discord.ui.Button[discord.ui.View] = discord.ui.Button(
                label="Yes", custom_id="vote:yes"
            )

            async def pressed(press: discord.Interaction) -> None:
                self.seen.append({"pressed": press.data, "by": press.user.id})
                await press.response.edit_message(content="voted", view=None)

            button.callback = pressed  # type: ignore[method-assign]
            view.add_item(button)
            await interaction.response.send_message("Vote?", view=view)

        @self.tree.command(name="whisper", description="Defer publicly, then answer privately")
        async def whisper(interaction: discord.Interaction, delete_first: bool) -> None:
            await interaction.response.defer(thinking=True)
            if delete_first:
                await interaction.delete_original_response()
            await interaction.followup.send("just for you", ephemeral=True)

        @self.tree.context_menu(name="Look at this")
        async def look(interaction: discord.Interaction, message: discord.Message) -> None:
            self.seen.append({"message": message.id, "files": [a.url for a in message.attachments]})
            await interaction.response.send_message("seen", ephemeral=True)

        await self.tree.sync()


async def test_login_identify_and_ready(fake: FakeDiscord) -> None:
    """The client logs in with its token, identifies, gets READY and the guild, fires on_ready."""
    bot = MiniBot()
    async with fake.running(bot):
        await asyncio.wait_for(bot.wait_until_ready(), 5)
        assert bot.user is not None and bot.user.id == fake.bot_user.id
        assert bot.application_id == fake.application_id
        guild = bot.get_guild(fake.guild_id)
        assert guild is not None and guild.get_channel(fake.channel_id) is not None
        me = fake.find(lambda r: r.route == "/users/@me")
        assert me[0].headers["Authorization"] == "Bot fake-token"
        identify = [f for f in fake.frames if not f.sent and f.op == 2]
        assert identify[0].d["token"] == "fake-token"


async def test_heartbeats_are_acknowledged(fake: FakeDiscord) -> None:
    """Heartbeats (op 1) are answered with op 11, so the client measures a latency."""
    fake.heartbeat_interval_ms = 100
    bot = MiniBot()
    async with fake.running(bot):
        await fake.wait_until(
            lambda: sum(1 for f in fake.frames if f.sent and f.op == 11) >= 3, timeout=5
        )
        assert bot.latency < 1.0


async def test_command_sync_is_stored_with_ids(fake: FakeDiscord) -> None:
    """A global sync's PUT payload is stored with ids and served back by GET."""
    bot = MiniBot()
    async with fake.running(bot):
        put = fake.find(lambda r: r.method == "PUT" and r.route.endswith("/commands"))
        assert [c["name"] for c in put[0].json] == ["echo", "vote", "whisper", "Look at this"]
        assert [c["id"] for c in fake.global_commands] == [c["id"] for c in put[0].response]
        fetched = await bot.tree.fetch_commands()
        assert {c.name for c in fetched} == {"echo", "vote", "whisper", "Look at this"}
        echo = next(c for c in fetched if c.name == "echo")
        assert [o.name for o in echo.options] == ["image", "text", "times"]


async def test_slash_command_defer_followup_and_edit(fake: FakeDiscord) -> None:
    """A slash command reaches its handler, which defers, downloads, sends a file and edits."""
    user = fake.add_member("alice")
    bot = MiniBot()
    async with fake.running(bot):
        picture = fake.add_attachment(PNG, filename="dot.png")
        sent = await fake.send_command(
            "echo", {"text": "hi", "times": 3}, user=user, attachments={"image": picture}
        )
        callback = await fake.wait_callback(sent)
        assert callback.json["type"] == 5 and callback.flags == 0
        hook = f"/webhooks/{fake.application_id}/{sent.token}"
        followup = await fake.wait_for(lambda r: r.method == "POST" and r.route.startswith(hook))
        edit = await fake.wait_for(lambda r: r.method == "PATCH" and sent.token in r.path)
        assert bot.seen == [{"text": "hi", "times": 3, "data": PNG, "user": user.id}]
        assert fake.downloaded(picture) and fake.downloaded(picture)[0] > sent.time
        assert followup.status == 200 and followup.json["content"] == "hi x3"
        assert [(f.filename, f.data) for f in followup.files] == [("back.png", PNG)]
        stored = fake.messages[int(followup.response["id"])]
        assert (stored["attachments"][0]["width"], stored["attachments"][0]["height"]) == (4, 3)
        assert edit.status == 200 and edit.json["content"] == "done"
        assert fake.messages[sent.original_message_id]["content"] == "done"
        assert callback.time - sent.time < 3.0
        assert not bot.errors


async def test_context_menu_resolves_the_message(fake: FakeDiscord) -> None:
    """A message context-menu command gets the target message with its attachments."""
    user = fake.add_member("bob")
    bot = MiniBot()
    async with fake.running(bot):
        picture = fake.add_attachment(PNG, filename="dot.png")
        message = fake.post_message(author=user, content="look", attachments=[picture])
        sent = await fake.send_message_command("Look at this", message, user=user)
        callback = await fake.wait_callback(sent)
        assert callback.json["type"] == 4 and callback.flags == 64
        assert callback.content == "seen"
        assert bot.seen == [{"message": int(message["id"]), "files": [picture["url"]]}]


async def test_expired_token_refuses_webhooks(fake: FakeDiscord) -> None:
    """After expire(), followups answer Discord's 401 "Invalid Webhook Token" error."""
    user = fake.add_member("carol")
    bot = MiniBot()
    async with fake.running(bot):
        picture = fake.add_attachment(PNG, filename="dot.png")
        fake.override("GET", r".*", status=None, delay_s=0.3)  # a slow download, time to expire
        sent = await fake.send_command(
            "echo", {"text": "x"}, user=user, attachments={"image": picture}
        )
        await fake.wait_callback(sent)
        fake.expire(sent)
        hook = f"/webhooks/{fake.application_id}/{sent.token}"
        refused = await fake.wait_for(lambda r: r.method == "POST" and r.route.startswith(hook))
        assert refused.status == 401 and refused.response == {
            "message": "Invalid Webhook Token",
            "code": 50027,
        }
        await fake.wait_until(lambda: bool(bot.errors))
        assert isinstance(bot.errors[0], discord.HTTPException) and bot.errors[0].code == 50027


async def test_late_initial_response_is_unknown_interaction(fake: FakeDiscord) -> None:
    """A callback past the deadline gets 404 "Unknown interaction", as Discord does after 3 s."""
    fake.callback_deadline_s = 0.1
    user = fake.add_member("dave")
    bot = MiniBot(sleep_before_reply=0.3)
    async with fake.running(bot):
        picture = fake.add_attachment(PNG, filename="dot.png")
        sent = await fake.send_command(
            "echo", {"text": "x"}, user=user, attachments={"image": picture}
        )
        callback = await fake.wait_callback(sent)
        assert callback.status == 404 and callback.response["code"] == 10062
        await fake.wait_until(lambda: bool(bot.errors))
        assert isinstance(bot.errors[0], discord.NotFound)


async def test_second_initial_response_is_refused(fake: FakeDiscord) -> None:
    """Answering the same interaction twice gets 400 "already acknowledged"."""
    user = fake.add_member("erin")
    bot = MiniBot()
    async with fake.running(bot):
        message = fake.post_message(author=user, content="hi")
        sent = await fake.send_message_command("Look at this", message, user=user)
        await fake.wait_callback(sent)
        route = f"{fake.api_base}/interactions/{sent.id}/{sent.token}/callback"
        async with (
            aiohttp.ClientSession() as session,
            session.post(route, json={"type": 4}) as answer,
        ):
            assert answer.status == 400
            assert (await answer.json())["code"] == 40060


async def test_unknown_routes_answer_json_404(fake: FakeDiscord) -> None:
    """A route the fake does not know is recorded and answered 404 with a JSON error."""
    bot = MiniBot()
    async with fake.running(bot):
        with pytest.raises(discord.NotFound):
            await bot.fetch_guild(fake.guild_id)
        assert fake.find(lambda r: r.route == f"/guilds/{fake.guild_id}")[0].status == 404


async def test_a_button_press_reaches_its_view_and_updates_the_message(fake: FakeDiscord) -> None:
    """A component interaction on the bot's message runs the button callback (type 7 update)."""
    user = fake.add_member("finn")
    bot = MiniBot()
    async with fake.running(bot):
        asked = await fake.send_command("vote", user=user)
        callback = await fake.wait_callback(asked)
        components = callback.json["data"]["components"]
        assert components[0]["components"][0]["custom_id"] == "vote:yes"
        message = fake.messages[asked.original_message_id or 0]
        press = await fake.send_component("vote:yes", message, user=user)
        update = await fake.wait_callback(press)
        assert update.status == 200 and update.json["type"] == 7
        assert message["content"] == "voted" and message["components"] == []
        pressed = {"custom_id": "vote:yes", "component_type": 2}
        assert bot.seen == [{"pressed": pressed, "by": user.id}]


@pytest.mark.parametrize("delete_first", [False, True])
async def test_first_followup_after_a_public_defer_replaces_the_thinking_message(
    fake: FakeDiscord, delete_first: bool
) -> None:
    """As on Discord, a followup replaces a public "thinking" message and stays public, unless
    that message was deleted first: then it is a new, ephemeral message."""
    user = fake.add_member("hana")
    bot = MiniBot()
    async with fake.running(bot):
        sent = await fake.send_command("whisper", {"delete_first": delete_first}, user=user)
        hook = f"/webhooks/{fake.application_id}/{sent.token}"
        followup = await fake.wait_for(lambda r: r.method == "POST" and r.route == hook)
        assert followup.status == 200 and followup.flags == 64
        message = followup.response
        assert message["content"] == "just for you"
        if delete_first:
            assert int(message["id"]) != sent.original_message_id and message["flags"] == 64
            assert sent.original_message_id not in fake.messages
        else:
            assert int(message["id"]) == sent.original_message_id and message["flags"] == 0
