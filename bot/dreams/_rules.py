"""A server's rules for dreams: its own settings merged with the bot's (the stricter one wins),
and the checks `/dream` and the result buttons make with them."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import discord

from bot.dreams._texts import count
from bot.errors import NotHere, OptionRejected
from bot.storage import ServerSettings
from engine import DreamParams, objective_cost, presets, recipe_terms

if TYPE_CHECKING:
    from bot.settings import Settings

__all__ = ["MAX_OCTAVES", "MAX_STEPS", "Rules", "asked_options"]

# the most /dream offers
MAX_STEPS = 50
MAX_OCTAVES = 8


def asked_options(interaction: discord.Interaction) -> frozenset[str]:
    """The options the member typed for a slash command (not those left to their defaults)."""
    data = cast("Mapping[str, Any]", interaction.data or {})
    options = data.get("options") or []
    return frozenset(o["name"] for o in options if isinstance(o, dict) and "name" in o)


@dataclass(frozen=True, kw_only=True, slots=True)
class Rules:
    """What one server allows, as the bot applies it."""

    models: tuple[str, ...]
    # channels where dreams may be asked for; empty: everywhere
    allowed_channels: tuple[int, ...]
    model: str
    layer: str | None
    max_side: int
    max_steps: int
    max_octaves: int
    user_limit: int
    cooldown_s: float
    # animated /dream and /dream-zoom; off: an animation's first frame only, and no zooms
    animations: bool = True
    # /dream's guide picture and dream_of class
    guides: bool = True
    classes: bool = True

    @classmethod
    def merge(cls, settings: Settings, server: ServerSettings) -> Rules:
        """The bot's settings narrowed by the server's: caps only go down, the cooldown only up."""
        model = server.default_model
        if model not in settings.dream_models:
            model = settings.default_model
        return cls(
            models=settings.dream_models,
            allowed_channels=server.allowed_channels,
            model=model,
            layer=server.default_layer,
            max_side=min(settings.dream_max_side, server.max_side or settings.dream_max_side),
            max_steps=min(MAX_STEPS, server.max_steps or MAX_STEPS),
            max_octaves=min(MAX_OCTAVES, server.max_octaves or MAX_OCTAVES),
            user_limit=min(
                settings.dream_user_queue_limit,
                server.user_queue_limit or settings.dream_user_queue_limit,
            ),
            cooldown_s=max(settings.dream_cooldown_s, server.cooldown_s or 0.0),
            animations=settings.dream_animations and server.allow_animations is not False,
            guides=server.allow_guides is not False,
            classes=server.allow_classes is not False,
        )

    def check_channel(self, channel: int | None, *, parent: int | None = None) -> None:
        """Refuse a channel the server did not allow (a thread counts as its parent channel)."""
        allowed = self.allowed_channels
        if not allowed or channel in allowed or (parent is not None and parent in allowed):
            return
        where = ", ".join(f"<#{c}>" for c in allowed)
        raise NotHere(f"On this server I dream only in {where}. Ask me there!")

    def layer_for(self, model: str) -> str | None:
        """The server's default layer, if ``model`` has a preset of that name."""
        if self.layer is None:
            return None
        return self.layer if any(p.name == self.layer for p in presets(model)) else None

    def with_default_layer(self, params: DreamParams) -> DreamParams:
        """``params`` with the server's default layer if none was chosen and the model has it."""
        layer = None if params.layers else self.layer_for(params.model)
        return dataclasses.replace(params, layers=(layer,)) if layer else params

    def check_controls(self, *, guide: bool, dream_of: bool) -> None:
        """Refuse a guide picture or a class where the server turned them off."""
        if guide and not self.guides:
            raise OptionRejected("Guide pictures are turned off on this server; dream without one.")
        if dream_of and not self.classes:
            raise OptionRejected("Dreaming of a class is turned off on this server.")

    def steps_cap(self, params: DreamParams, *, guided: bool = False) -> int:
        """The server's step cap, counted in one layer's steps: a dearer objective (a mix, a
        class, a guide, smooth: `engine.objective_cost`) gets proportionally fewer. Without a
        server cap, the command's own range."""
        if self.max_steps >= MAX_STEPS:
            return MAX_STEPS
        return max(1, int(self.max_steps / objective_cost(params, guided=guided)))

    def fit(
        self, params: DreamParams, *, asked: Collection[str] = (), guided: bool = False
    ) -> DreamParams:
        """``params`` within the server's caps. A value the member asked for above a cap is
        refused, saying why; one left to its default is lowered quietly."""
        self.check_controls(guide=False, dream_of=params.dream_of is not None)
        if params.model not in self.models:
            raise OptionRejected(
                f"I don't dream with {params.model!r} here any more; choose one of "
                f"{', '.join(self.models)}."
            )
        max_steps = self.steps_cap(params, guided=guided)
        if "steps" in asked and params.steps > max_steps:
            dearer = "" if max_steps == self.max_steps else f" {_dearer(params, guided=guided)}"
            raise OptionRejected(
                f"This server allows at most {count(max_steps, 'step')} per octave{dearer}; "
                "ask for fewer."
            )
        if "octaves" in asked and params.octaves > self.max_octaves:
            raise OptionRejected(
                f"This server allows at most {count(self.max_octaves, 'octave')}; ask for fewer."
            )
        return dataclasses.replace(
            params,
            steps=min(params.steps, max_steps),
            octaves=min(params.octaves, self.max_octaves),
            max_side=min(params.max_side, self.max_side),
        )


def _dearer(params: DreamParams, *, guided: bool) -> str:
    """Why a dream's step cap is lower than one layer's: "for a mix of 2 layers and a class"."""
    terms = len(recipe_terms(params.layers))
    parts = [f"a mix of {terms} layers"] if terms > 1 else []
    parts += ["a class"] if params.dream_of is not None else []
    parts += ["a guide picture"] if guided else []
    parts += ["smooth"] if params.smooth else []
    what = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
    return f"for {what}, which cost more than one layer"
