"""Tests for bot/dreams/_rules.py: a server's rules merged with the bot's, and their checks."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from bot.dreams import Rules, asked_options
from bot.errors import NotHere, OptionRejected
from bot.storage import ServerSettings
from engine import DreamParams, presets
from tests.bot.support.records import settings


def test_the_stricter_setting_wins() -> None:
    """Server caps only lower the bot's, its cooldown only lengthens it; defaults fall back."""
    bot = settings()
    assert Rules.merge(bot, ServerSettings()) == Rules(
        models=("efficientnet_lite0", "googlenet"),
        allowed_channels=(),
        model="efficientnet_lite0",
        layer=None,
        max_side=512,
        max_steps=50,
        max_octaves=8,
        user_limit=3,
        cooldown_s=10,
    )
    server = ServerSettings(
        default_model="googlenet",
        max_side=4096,
        max_steps=5,
        max_octaves=2,
        user_queue_limit=9,
        cooldown_s=3,
    )
    rules = Rules.merge(bot, server)
    assert (rules.model, rules.max_side, rules.max_steps, rules.max_octaves) == (
        "googlenet",
        512,
        5,
        2,
    )
    assert (rules.user_limit, rules.cooldown_s) == (3, 10)
    gone_model = Rules.merge(bot, ServerSettings(default_model="vgg16"))
    assert gone_model.model == "efficientnet_lite0"


def test_allowed_channels_and_their_threads() -> None:
    """With channels chosen, only they (and their threads) may dream; the refusal names them."""
    rules = Rules.merge(settings(), ServerSettings(allowed_channels=(5, 6)))
    rules.check_channel(5)
    rules.check_channel(99, parent=6)
    with pytest.raises(NotHere, match="<#5>, <#6>"):
        rules.check_channel(99)
    Rules.merge(settings(), ServerSettings()).check_channel(99)


def test_fit_refuses_what_was_asked_and_lowers_the_defaults() -> None:
    """Asked-for steps or octaves above a cap are refused; defaults and the side are lowered."""
    rules = Rules.merge(settings(), ServerSettings(max_steps=4, max_octaves=2, max_side=128))
    params = DreamParams(steps=10, octaves=4, max_side=512)
    fitted = rules.fit(params)
    assert (fitted.steps, fitted.octaves, fitted.max_side) == (4, 2, 128)
    with pytest.raises(OptionRejected, match="at most 4 steps"):
        rules.fit(params, asked={"steps"})
    with pytest.raises(OptionRejected, match="at most 2 octaves"):
        rules.fit(params, asked={"octaves"})
    with pytest.raises(OptionRejected, match="vgg16"):
        rules.fit(DreamParams(model="vgg16"))


def test_a_dearer_objective_gets_fewer_of_the_servers_steps() -> None:
    """A server's step cap counts one layer's steps: a class (1.35x) or a guided mix gets
    proportionally fewer, lowered quietly or refused saying why; without a cap nothing changes."""
    rules = Rules.merge(settings(), ServerSettings(max_steps=20))
    one = DreamParams(layers=("eyes",), steps=30)
    assert rules.fit(one).steps == 20
    classy = dataclasses.replace(one, dream_of=1)
    assert rules.fit(classy).steps == 14  # 20 / 1.35
    assert rules.fit(dataclasses.replace(one, layers=("eyes+fur",)), guided=True).steps == 17
    with pytest.raises(OptionRejected, match=r"at most 14 steps per octave for a class, which"):
        rules.fit(classy, asked={"steps"})
    with pytest.raises(OptionRejected, match="a mix of 2 layers and a guide picture"):
        rules.fit(dataclasses.replace(one, layers=("eyes+fur",)), asked={"steps"}, guided=True)
    assert rules.fit(dataclasses.replace(classy, steps=14), asked={"steps"}).steps == 14
    uncapped = Rules.merge(settings(), ServerSettings())
    assert uncapped.fit(dataclasses.replace(classy, steps=50), asked={"steps"}).steps == 50


def test_the_default_layer_applies_only_when_none_was_chosen_and_it_exists() -> None:
    """The server's default layer fills an empty choice, for a model that has that preset."""
    rules = Rules.merge(settings(), ServerSettings(default_layer="fur"))
    assert rules.with_default_layer(DreamParams()).layers == ("fur",)
    assert rules.with_default_layer(DreamParams(layers=("eyes",))).layers == ("eyes",)
    assert "fur" not in {p.name for p in presets("googlenet")}
    assert rules.with_default_layer(DreamParams(model="googlenet")).layers == ()


def test_asked_options_are_the_typed_ones() -> None:
    """Only the options in the interaction's data count as asked for."""
    typed = SimpleNamespace(data={"options": [{"name": "steps", "value": 3}, {"name": "image"}]})
    assert asked_options(typed) == {"steps", "image"}  # type: ignore[arg-type]
    assert asked_options(SimpleNamespace(data=None)) == frozenset()  # type: ignore[arg-type]


def test_animations_follow_the_bot_and_then_the_server() -> None:
    """Rules.animations: the bot's DREAM_ANIMATIONS first; a server may only turn them off."""
    on, off = settings(), settings(dream_animations=False)
    assert Rules.merge(on, ServerSettings()).animations
    assert not Rules.merge(on, ServerSettings(allow_animations=False)).animations
    assert Rules.merge(on, ServerSettings(allow_animations=True)).animations
    assert not Rules.merge(off, ServerSettings(allow_animations=True)).animations
