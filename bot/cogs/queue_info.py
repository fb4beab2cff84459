"""`/dream-queue` (what waits, where the member's dreams are, about how long) and
`/dream-history` (the member's last dreams on this server, with links); both private."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.dreams import QueueView, describe
from bot.storage import DreamRecord

if TYPE_CHECKING:
    from bot.bot import DreamBot
    from bot.dreams import Dreams

__all__ = ["HISTORY_LENGTH", "QueueInfo", "duration", "history_embed", "queue_text", "setup"]

HISTORY_LENGTH = 10


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def duration(seconds: float) -> str:
    """About how long, for people: "40 s", "3 min", "2 h"."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{round(seconds / 3600)} h"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def queue_text(view: QueueView) -> str:
    """The answer to /dream-queue."""
    if view.waiting == 0 and not view.running:
        lines = ["📭 Nobody is waiting: a new dream starts right away."]
    else:
        now = ", and one is being dreamed now" if view.running else ""
        lines = [f"⏳ {_count(view.waiting, 'dream')} waiting{now}."]
    if view.mine_running:
        lines.append("One of yours is being dreamed now.")
    if view.positions:
        places = _and([str(p) for p in view.positions])
        plural = "Your dream is at position" if len(view.positions) == 1 else "Yours are at"
        lines.append(f"{plural} {places} (1 = next).")
        ahead = view.positions[0] - 1 + (1 if view.running else 0)
        if ahead == 0:
            lines.append("Yours starts next.")
        elif view.typical_s is not None:
            lines.append(
                f"Yours should start in about {duration(ahead * view.typical_s)} "
                f"(a dream takes about {duration(view.typical_s)} lately)."
            )
        else:
            lines.append("I can't estimate the wait yet: no dream has finished lately.")
    elif not view.mine_running:
        lines.append("You have no dreams in the queue.")
    return "\n".join(lines)


def history_embed(records: list[DreamRecord]) -> discord.Embed:
    """The member's last dreams, newest first, each with a link to its message."""
    embed = discord.Embed(title="Your last dreams here")
    if not records:
        embed.description = "No dreams of yours here yet. Try /dream!"
        return embed
    lines = []
    for number, record in enumerate(records, start=1):
        p = record.params
        link = record.message_url()
        where = f"[open]({link})" if link else "message unknown"
        what = describe(p, guided=record.has_guide)
        lines.append(
            f"{number}. <t:{int(record.created_at)}:R> · {p.model} · {what} · "
            f"{p.steps}×{p.octaves} · seed {p.seed} · {where}"
        )
    embed.description = "\n".join(lines)[:4096]
    return embed


class QueueInfo(commands.Cog):
    """Lets members see the queue and their own dreams."""

    def __init__(self, bot: DreamBot, dreams: Dreams) -> None:
        self.bot = bot
        self.dreams = dreams

    @app_commands.command(name="dream-queue")
    async def queue(self, interaction: discord.Interaction) -> None:
        """How many dreams wait, where yours are, and about how long until yours starts."""
        view = await self.dreams.queue_view(interaction.user.id)
        await interaction.response.send_message(queue_text(view), ephemeral=True)

    @app_commands.command(name="dream-history")
    async def history(self, interaction: discord.Interaction) -> None:
        """Your last 10 dreams on this server, with links to them."""
        records = await self.dreams.store.history(
            guild_id=interaction.guild_id, user_id=interaction.user.id, limit=HISTORY_LENGTH
        )
        await interaction.response.send_message(embed=history_embed(records), ephemeral=True)


async def setup(bot: DreamBot) -> None:
    await bot.add_cog(QueueInfo(bot, bot.dreams))
