"""Tests for bot/cogs/dream.py without Discord: attachment checks, options, autocomplete."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from bot.bot import DreamBot
from bot.cogs._options import layer_autocomplete, model_autocomplete
from bot.cogs.dream import Dream, check_attachment
from bot.errors import OptionRejected
from bot.jobs import LocalBackend
from bot.settings import Settings
from engine import PictureError, PictureTooLarge, UnsupportedFormat, presets


def attachment(content_type: str | None, *, width: int = 100, height: int = 80, size: int = 1000):
    return SimpleNamespace(content_type=content_type, width=width, height=height, size=size)


@pytest.fixture
def cog(tmp_path: Any) -> Dream:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        discord_token="t",
        dream_models="googlenet,efficientnet_lite0",
        dream_data_dir=tmp_path,
    )
    bot = DreamBot(settings=settings, jobs=LocalBackend(make_runner=lambda: None))  # type: ignore[arg-type,return-value]
    return Dream(bot, dreams=None)  # type: ignore[arg-type]  # _params needs no service


def test_attachment_metadata_is_checked_before_download() -> None:
    """Wrong type or too many bytes/pixels is refused from the metadata with the engine's words."""
    check_attachment(attachment("image/jpeg"))  # type: ignore[arg-type]
    with pytest.raises(UnsupportedFormat, match="not a picture"):
        check_attachment(attachment("application/pdf"))  # type: ignore[arg-type]
    with pytest.raises(PictureTooLarge):
        check_attachment(attachment("image/png", size=200 * 1024 * 1024))  # type: ignore[arg-type]
    with pytest.raises(PictureError):  # a bomb, by the engine's reckoning
        check_attachment(attachment("image/png", width=100_000, height=100_000))  # type: ignore[arg-type]


def test_params_default_model_seed_and_max_side(cog: Dream) -> None:
    """No model means the first of DREAM_MODELS; a seed is drawn; max side from the settings."""
    params = cog._params(
        None, None, strength=1.0, steps=3, octaves=2, seed=None, dream_of=None, smooth=None
    )
    assert params.model == "googlenet" and params.layers == ()
    assert params.seed is not None and 0 <= params.seed < 2**31
    assert params.max_side == cog.settings.dream_max_side
    assert cog._params(
        "efficientnet_lite0",
        " eyes ",
        strength=2,
        steps=1,
        octaves=1,
        seed=5,
        dream_of=None,
        smooth=None,
    ).layers == ("eyes",)


def test_a_model_not_offered_here_is_refused(cog: Dream) -> None:
    """A model outside DREAM_MODELS gets a friendly message naming the ones offered."""
    with pytest.raises(OptionRejected, match="googlenet, efficientnet_lite0"):
        cog._params(
            "vgg16", None, strength=1.0, steps=3, octaves=2, seed=None, dream_of=None, smooth=None
        )


async def test_layer_autocomplete_follows_the_chosen_model(cog: Dream) -> None:
    """Layer suggestions are the chosen model's presets with descriptions, filtered by typing."""
    client = SimpleNamespace(settings=cog.settings)
    chosen = SimpleNamespace(client=client, namespace=SimpleNamespace(model="efficientnet_lite0"))
    choices = await layer_autocomplete(chosen, "")  # type: ignore[arg-type]
    assert [c.value for c in choices] == [p.name for p in presets("efficientnet_lite0")]
    assert all(" — " in c.name and len(c.name) <= 100 for c in choices)
    unset = SimpleNamespace(client=client, namespace=SimpleNamespace())
    defaults = await layer_autocomplete(unset, "")  # type: ignore[arg-type]
    assert [c.value for c in defaults] == [p.name for p in presets("googlenet")]
    typed = await layer_autocomplete(unset, "EYE")  # type: ignore[arg-type]
    assert typed and all("eye" in (c.name.lower()) for c in typed)


async def test_model_autocomplete_offers_the_configured_models(cog: Dream) -> None:
    """Model suggestions are DREAM_MODELS in order, each with its description."""
    client = SimpleNamespace(settings=cog.settings)
    choices = await model_autocomplete(SimpleNamespace(client=client), "")  # type: ignore[arg-type]
    assert [c.value for c in choices] == ["googlenet", "efficientnet_lite0"]
