"""Tests for bot/settings.py: the typed settings read from the environment and .env."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.__main__ import settings_problems
from bot.settings import Settings

ENV_NAMES = (
    "DISCORD_TOKEN",
    "DREAM_MODELS",
    "DREAM_DEVICE",
    "DREAM_CPU_THREADS",
    "DREAM_MAX_SIDE",
    "DREAM_QUEUE_LIMIT",
    "DREAM_USER_QUEUE_LIMIT",
    "DREAM_COOLDOWN_S",
    "DREAM_SHUTDOWN_TIMEOUT_S",
    "DREAM_DATA_DIR",
    "DREAM_RETENTION_DAYS",
    "DREAM_DEV_GUILD",
    "DREAM_ANIMATIONS",
    "DREAM_MAX_FRAMES",
    "DREAM_ANIMATION_MAX_SIDE",
    "DREAM_ANIMATION_MAX_S",
    "DREAM_BACKEND",
    "DREAM_REDIS_URL",
    "LOG_LEVEL",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    """Only the token is required; the rest has the documented defaults."""
    settings = Settings(_env_file=None, discord_token="t")  # type: ignore[call-arg]
    assert settings.dream_models == ("efficientnet_lite0",)
    assert settings.default_model == "efficientnet_lite0"
    assert (settings.dream_device, settings.dream_max_side) == ("auto", 1024)
    assert (settings.dream_queue_limit, settings.dream_user_queue_limit) == (20, 2)
    assert settings.dream_cooldown_s == 10 and settings.dream_data_dir == Path("data")
    assert settings.dream_dev_guild is None and settings.log_level == "INFO"


def test_environment_comma_list_and_types(monkeypatch: pytest.MonkeyPatch) -> None:
    """DREAM_MODELS is a comma list (first is the default); numbers and paths are typed."""
    monkeypatch.setenv("DISCORD_TOKEN", "t")
    monkeypatch.setenv("DREAM_MODELS", " googlenet, efficientnet_lite0 ,googlenet")
    monkeypatch.setenv("DREAM_DEVICE", "CUDA:1")
    monkeypatch.setenv("DREAM_DEV_GUILD", "1234")
    monkeypatch.setenv("DREAM_DATA_DIR", "/tmp/dreams")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.dream_models == ("googlenet", "efficientnet_lite0")
    assert settings.default_model == "googlenet"
    assert settings.dream_device == "cuda:1"
    assert settings.dream_dev_guild == 1234
    assert settings.dream_data_dir == Path("/tmp/dreams")
    assert settings.log_level == "DEBUG"


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    """Settings come from a .env file too; an empty DREAM_DEV_GUILD means none."""
    env = tmp_path / ".env"
    env.write_text("DISCORD_TOKEN=from-file\nDREAM_QUEUE_LIMIT=5\nDREAM_DEV_GUILD=\n")
    settings = Settings(_env_file=env)  # type: ignore[call-arg]
    assert settings.discord_token.get_secret_value() == "from-file"
    assert settings.dream_queue_limit == 5 and settings.dream_dev_guild is None


def test_env_example_lists_every_setting() -> None:
    """.env.example names every setting and parses into valid Settings once a token is given."""
    example = Path(__file__).resolve().parents[2] / ".env.example"
    text = example.read_text()
    for name in ENV_NAMES:
        assert f"\n{name}=" in text, name
    assert set(ENV_NAMES) == {name.upper() for name in Settings.model_fields}


def test_token_is_secret_and_settings_frozen() -> None:
    """The token never shows in repr, and settings cannot be changed after construction."""
    settings = Settings(_env_file=None, discord_token="very-secret")  # type: ignore[call-arg]
    assert "very-secret" not in repr(settings) and "very-secret" not in str(settings)
    with pytest.raises(ValidationError):
        settings.dream_max_side = 10  # type: ignore[misc]


def test_missing_token_gives_one_line_naming_it() -> None:
    """Without DISCORD_TOKEN the problem is one line saying what to set and where."""
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None)  # type: ignore[call-arg]
    lines = settings_problems(caught.value)
    assert len(lines) == 1
    assert lines[0].startswith("DISCORD_TOKEN is not set") and ".env" in lines[0]


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("DREAM_MODELS", "alexnet", "choose from"),
        ("DREAM_MODELS", " , ", "at least one model"),
        ("DREAM_DEVICE", "gpu", "cuda:N"),
        ("DREAM_QUEUE_LIMIT", "0", "greater than or equal"),
        ("LOG_LEVEL", "loud", "DEBUG"),
        ("DISCORD_TOKEN", "  ", "empty"),
    ],
)
def test_invalid_values_give_one_line_each(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    """Each invalid setting becomes one line naming the variable and what is wrong."""
    monkeypatch.setenv("DISCORD_TOKEN", "t")
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None)  # type: ignore[call-arg]
    lines = settings_problems(caught.value)
    assert len(lines) == 1
    assert lines[0].startswith(f"{name} is invalid") and says in lines[0]


def test_cpu_threads_default_to_the_cores_and_refuse_negatives() -> None:
    """DREAM_CPU_THREADS is 0 (one per physical core) by default and cannot be negative."""
    assert Settings(_env_file=None, discord_token="t").dream_cpu_threads == 0  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="dream_cpu_threads"):
        Settings(_env_file=None, discord_token="t", dream_cpu_threads=-1)  # type: ignore[call-arg]
