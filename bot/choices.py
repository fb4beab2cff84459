"""Autocomplete choices shared by the commands: models, layer recipes (one preset or a mix such
as ``eyes+animals``) and ImageNet classes."""

from __future__ import annotations

from discord import app_commands

from bot.settings import Settings
from engine import IMAGENET_CLASSES, MODEL_DESCRIPTIONS, DreamError, parse_recipe, presets

__all__ = ["class_choices", "clip", "layer_choices", "model_choices"]

# Discord caps a choice's name and value (and a select option's description) at 100 characters
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


def _model(settings: Settings, model: object) -> str:
    name = model if isinstance(model, str) and model in settings.dream_models else None
    return name or settings.default_model


def layer_choices(
    settings: Settings, model: object, current: str
) -> list[app_commands.Choice[str]]:
    """The presets of the chosen model (else the default one) matching what the member typed.
    With ``eyes+`` typed, the mixes ``eyes+<each other preset>``; a term that cannot be read
    is flagged in the one suggestion offered (its value is what was typed, so the command's
    own check answers with the reason)."""
    name = _model(settings, model)
    done, plus, last = current.rpartition("+")
    typed = last.strip().lower()
    prefix = ""
    used: set[str] = set()
    if plus:
        try:
            recipe = parse_recipe(done, name)
        except DreamError as error:
            return [app_commands.Choice(name=clip(f"⚠️ {error}"), value=clip(current))]
        prefix = "+".join(recipe.terms) + "+"
        used = {term.casefold() for term in recipe.terms}
    choices = [
        app_commands.Choice(
            name=clip(f"{prefix}{p.name} — {p.description}"), value=clip(prefix + p.name)
        )
        for p in presets(name)
        if p.name.casefold() not in used
        and (typed in p.name.lower() or typed in p.description.lower())
    ]
    if typed and not any(c.value.endswith("+" + typed) or c.value == typed for c in choices):
        # a raw layer name or a channel (blocks.4:12): offered as typed when it reads
        try:
            recipe = parse_recipe(current, name)
        except DreamError as error:
            if not choices:
                return [app_commands.Choice(name=clip(f"⚠️ {error}"), value=clip(current))]
        else:
            text = "+".join(recipe.terms)
            choices.insert(
                0, app_commands.Choice(name=clip(f"{text} — as typed"), value=clip(text))
            )
    return choices[:MAX_CHOICES]


def class_choices(current: str) -> list[app_commands.Choice[str]]:
    """ImageNet classes whose name contains what was typed (or whose number it is)."""
    typed = current.strip().lower()
    if typed.isdigit():
        index = int(typed)
        matches = [index] if index < len(IMAGENET_CLASSES) else []
    else:
        matches = [i for i, n in enumerate(IMAGENET_CLASSES) if typed in n.lower()]
        matches.sort(key=lambda i: (not IMAGENET_CLASSES[i].lower().startswith(typed), i))
    return [
        # the number as the value: a few names are there twice (two kinds of crane)
        app_commands.Choice(name=clip(f"{IMAGENET_CLASSES[i]} ({i})"), value=str(i))
        for i in matches[:MAX_CHOICES]
    ]
