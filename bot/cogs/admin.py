"""`/dream-settings`: how the bot dreams on one server (allowed channels, default model and
layer, caps, per-member queue limit and cooldown, animations), for members who may manage the
server."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.choices import layer_choices, model_choices
from bot.dreams import MAX_OCTAVES, MAX_STEPS, Rules
from bot.errors import OptionRejected
from bot.storage import ServerSettings
from engine import default_preset, presets

if TYPE_CHECKING:
    from bot.bot import DreamBot
    from bot.dreams import Dreams

__all__ = ["Admin", "settings_embed", "setup"]


def _unless_set(value: object) -> str:
    return "" if value is not None else " (bot default)"


def _on(allowed: bool) -> str:
    return "on" if allowed else "off"


def settings_embed(guild: str, server: ServerSettings, rules: Rules) -> discord.Embed:
    """The server's rules as the bot applies them; "(bot default)" where the server chose none."""
    embed = discord.Embed(title=f"How I dream on {guild}"[:256])
    channels = " ".join(f"<#{c}>" for c in rules.allowed_channels) or "every channel"
    layer = rules.layer_for(rules.model)
    fields = [
        ("Channels", channels),
        ("Default model", f"{rules.model}{_unless_set(server.default_model)}"),
        ("Default layer", layer or f"{default_preset(rules.model).name} (the model's default)"),
        ("Largest side", f"{rules.max_side} px{_unless_set(server.max_side)}"),
        ("Steps per octave", f"at most {rules.max_steps}{_unless_set(server.max_steps)}"),
        ("Octaves", f"at most {rules.max_octaves}{_unless_set(server.max_octaves)}"),
        (
            "Dreams per member in the queue",
            f"{rules.user_limit}{_unless_set(server.user_queue_limit)}",
        ),
        ("Cooldown", f"{rules.cooldown_s:g} s{_unless_set(server.cooldown_s)}"),
        ("Animations", _animations(server, rules)),
        ("Guide pictures", _on(rules.guides) + _unless_set(server.allow_guides)),
        (
            "Classes (dream_of)",
            _on(rules.classes) + _unless_set(server.allow_classes),
        ),
    ]
    for name, value in fields:
        embed.add_field(name=name, value=value[:1024], inline=name != "Channels")
    return embed


def _animations(server: ServerSettings, rules: Rules) -> str:
    if rules.animations:
        on = "on: /dream dreams every frame, /dream-zoom zooms"
        return on + _unless_set(server.allow_animations)
    if server.allow_animations is False:
        return "off: /dream dreams the first frame only, no /dream-zoom"
    return "off for the whole bot (DREAM_ANIMATIONS)"


class Admin(commands.Cog):
    """Per-server settings; Discord shows them to Manage Server members, and the bot checks."""

    group = app_commands.Group(
        name="dream-settings",
        description="How I dream on this server (members who may manage the server only)",
        default_permissions=discord.Permissions(manage_guild=True),
        # a server's own settings: only where the server installed the bot, only in the server
        allowed_installs=app_commands.AppInstallationType(guild=True, user=False),
        allowed_contexts=app_commands.AppCommandContext(
            guild=True, dm_channel=False, private_channel=False
        ),
    )

    def __init__(self, bot: DreamBot, dreams: Dreams) -> None:
        self.bot = bot
        self.dreams = dreams

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        # Discord hides the command from others, but server admins can override that per role
        if interaction.guild_id is None:
            raise app_commands.NoPrivateMessage()
        if not interaction.permissions.manage_guild:
            raise app_commands.MissingPermissions(["manage_guild"])
        return True

    @group.command(name="show")
    async def show(self, interaction: discord.Interaction) -> None:
        """Show how I dream on this server."""
        await self._answer(interaction, await self._current(interaction))

    @group.command(name="channel")
    @app_commands.describe(
        channel="the channel", allowed="yes: dreams may be asked for there; no: not any more"
    )
    async def channel(
        self, interaction: discord.Interaction, channel: discord.TextChannel, allowed: bool = True
    ) -> None:
        """Allow dreams in a channel, or stop allowing them (with none allowed: everywhere)."""
        current = await self._current(interaction)
        channels = [c for c in current.allowed_channels if c != channel.id]
        if allowed:
            channels.append(channel.id)
        await self._save(
            interaction, dataclasses.replace(current, allowed_channels=tuple(channels))
        )

    @group.command(name="everywhere")
    async def everywhere(self, interaction: discord.Interaction) -> None:
        """Allow dreams in every channel again."""
        current = await self._current(interaction)
        await self._save(interaction, dataclasses.replace(current, allowed_channels=()))

    @group.command(name="defaults")
    @app_commands.describe(
        model="the model /dream uses when a member does not choose one",
        layer="the layer preset /dream uses when a member does not choose one",
    )
    async def defaults(
        self,
        interaction: discord.Interaction,
        model: str | None = None,
        layer: str | None = None,
    ) -> None:
        """Choose the model and layer /dream uses when a member does not."""
        current = await self._current(interaction)
        offered = self.bot.settings.dream_models
        if model is not None and model not in offered:
            raise OptionRejected(
                f"I don't dream with {model!r}; choose one of {', '.join(offered)}."
            )
        model = model or current.default_model or self.bot.settings.default_model
        if model not in offered:
            model = self.bot.settings.default_model
        if layer is not None:
            names = [p.name for p in presets(model)]
            if layer not in names:
                raise OptionRejected(
                    f"{model} has no layer preset {layer!r}; choose one of {', '.join(names)}."
                )
        elif current.default_layer not in {p.name for p in presets(model)}:
            layer = None  # the old default does not suit the new model
        else:
            layer = current.default_layer
        await self._save(
            interaction, dataclasses.replace(current, default_model=model, default_layer=layer)
        )

    @defaults.autocomplete("model")
    async def _model_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return model_choices(self.bot.settings, current)

    @defaults.autocomplete("layer")
    async def _layer_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        model = getattr(interaction.namespace, "model", None)
        return layer_choices(self.bot.settings, model, current)

    @group.command(name="limits")
    @app_commands.describe(
        max_side="the longest side of a dreamed picture, in pixels",
        max_steps="the most steps per octave a member may ask for",
        max_octaves="the most octaves a member may ask for",
        queue_per_member="dreams one member may have waiting or running at once",
        cooldown="seconds a member waits between two dreams",
    )
    async def limits(
        self,
        interaction: discord.Interaction,
        max_side: app_commands.Range[int, 64, 4096] | None = None,
        max_steps: app_commands.Range[int, 1, MAX_STEPS] | None = None,
        max_octaves: app_commands.Range[int, 1, MAX_OCTAVES] | None = None,
        queue_per_member: app_commands.Range[int, 1, 100] | None = None,
        cooldown: app_commands.Range[float, 0, 3600] | None = None,
    ) -> None:
        """Lower the caps for dreams on this server (the bot's own caps always hold)."""
        bot_settings = self.bot.settings
        if max_side is not None and max_side > bot_settings.dream_max_side:
            raise OptionRejected(
                f"I dream pictures of at most {bot_settings.dream_max_side} px on any server."
            )
        if queue_per_member is not None and queue_per_member > bot_settings.dream_user_queue_limit:
            raise OptionRejected(
                f"I let a member have at most {bot_settings.dream_user_queue_limit} dreams in "
                "the queue on any server."
            )
        current = await self._current(interaction)
        changes: dict[str, Any] = {
            "max_side": max_side,
            "max_steps": max_steps,
            "max_octaves": max_octaves,
            "user_queue_limit": queue_per_member,
            "cooldown_s": cooldown,
        }
        chosen = {k: v for k, v in changes.items() if v is not None}
        if not chosen:
            await self._answer(interaction, current)
            return
        await self._save(interaction, dataclasses.replace(current, **chosen))

    @group.command(name="animations")
    @app_commands.describe(
        allowed="yes: /dream dreams every frame of a GIF and /dream-zoom works; "
        "no: the first frame only, and no zooms"
    )
    async def animations(self, interaction: discord.Interaction, allowed: bool) -> None:
        """Allow moving dreams (animated /dream, /dream-zoom) here, or stop allowing them."""
        if allowed and not self.bot.settings.dream_animations:
            raise OptionRejected(
                "Animations are turned off for the whole bot (DREAM_ANIMATIONS), so I can't "
                "allow them on this server."
            )
        current = await self._current(interaction)
        # "yes" goes back to the bot's own setting, so turning them off bot-wide still holds
        chosen = None if allowed else False
        await self._save(interaction, dataclasses.replace(current, allow_animations=chosen))

    @group.command(name="controls")
    @app_commands.describe(
        guides="yes: members may steer a dream towards a guide picture (/dream guide)",
        classes="yes: members may dream of an ImageNet class (/dream dream_of)",
    )
    async def controls(
        self,
        interaction: discord.Interaction,
        guides: bool | None = None,
        classes: bool | None = None,
    ) -> None:
        """Allow guide pictures and dreams of a class here, or stop allowing them."""
        current = await self._current(interaction)
        changes: dict[str, Any] = {}
        if guides is not None:
            changes["allow_guides"] = None if guides else False
        if classes is not None:
            changes["allow_classes"] = None if classes else False
        if not changes:
            await self._answer(interaction, current)
            return
        await self._save(interaction, dataclasses.replace(current, **changes))

    @group.command(name="reset")
    async def reset(self, interaction: discord.Interaction) -> None:
        """Forget this server's settings: the bot's own apply again."""
        await self._save(interaction, ServerSettings())

    async def _current(self, interaction: discord.Interaction) -> ServerSettings:
        return await self.dreams.server_settings(interaction.guild_id)

    async def _save(self, interaction: discord.Interaction, settings: ServerSettings) -> None:
        assert interaction.guild_id is not None  # guild_only
        await self.dreams.save_server_settings(
            interaction.guild_id, settings, by=interaction.user.id
        )
        await self._answer(interaction, settings, saved=True)

    async def _answer(
        self, interaction: discord.Interaction, server: ServerSettings, *, saved: bool = False
    ) -> None:
        guild = interaction.guild.name if interaction.guild else "this server"
        embed = settings_embed(guild, server, self.dreams.merge(server))
        await interaction.response.send_message(
            "✅ Saved." if saved else None, embed=embed, ephemeral=True
        )


async def setup(bot: DreamBot) -> None:
    await bot.add_cog(Admin(bot, bot.dreams))
