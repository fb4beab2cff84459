"""Autocomplete choices shared by the commands that take a model and a layer."""

from __future__ import annotations

from discord import app_commands

from bot.settings import Settings
from engine import MODEL_DESCRIPTIONS, presets

__all__ = ["clip", "layer_choices", "model_choices"]

# Discord caps a choice's name (and a select option's description) at 100 characters
CHOICE_LIMIT = 100
MAX_CHOICES = 25


def clip(text: str, limit: int = CHOICE_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def model_choices(settings: Settings, current: str) -> list[app_commands.Choice[str]]:
    """The bot's models whose name contains what the member typed, with their descriptions."""
    typed = current.lower()
    return [
        app_commands.Choice(name=clip(f"{name} — {MODEL_DESCRIPTIONS.get(name, '')}"), value=name)
        for name in settings.dream_models
        if typed in name.lower()
    ][:MAX_CHOICES]


def layer_choices(
    settings: Settings, model: object, current: str
) -> list[app_commands.Choice[str]]:
    """The presets of the chosen model (else the default one) matching what the member typed."""
    name = model if isinstance(model, str) and model in settings.dream_models else None
    typed = current.lower()
    return [
        app_commands.Choice(name=clip(f"{p.name} — {p.description}"), value=p.name)
        for p in presets(name or settings.default_model)
        if typed in p.name.lower() or typed in p.description.lower()
    ][:MAX_CHOICES]
