"""Tests for the shared model and layer autocomplete choices."""

from pathlib import Path

from bot.choices import clip, layer_choices, model_choices
from bot.settings import Settings


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        discord_token="t",
        dream_data_dir=tmp_path,
        dream_models="efficientnet_lite0,googlenet",
    )


def test_clip_cuts_long_text_with_an_ellipsis() -> None:
    """Text over Discord's 100-character cap is cut to exactly 100 with an ellipsis."""
    assert clip("x" * 150) == "x" * 99 + "…"
    assert clip("short") == "short"


def test_model_choices_filter_on_what_was_typed(tmp_path: Path) -> None:
    """Only the bot's models containing the typed text are offered, with descriptions."""
    choices = model_choices(_settings(tmp_path), "GOOG")
    assert [c.value for c in choices] == ["googlenet"]
    assert "—" in choices[0].name


def test_layer_choices_follow_the_chosen_model(tmp_path: Path) -> None:
    """The presets offered are the chosen model's, else the default model's."""
    settings = _settings(tmp_path)
    googlenet = {c.value for c in layer_choices(settings, "googlenet", "")}
    default = {c.value for c in layer_choices(settings, None, "")}
    unknown = {c.value for c in layer_choices(settings, "alexnet", "")}
    assert "objects" in googlenet and "fur" not in googlenet
    assert "fur" in default and unknown == default


def test_layer_choices_match_descriptions_too(tmp_path: Path) -> None:
    """Typing a word of the look ('eyes') finds the presets that describe it."""
    names = {c.value for c in layer_choices(_settings(tmp_path), None, "eyes")}
    assert "eyes" in names and "classic" in names
