"""`python -m bot` / `deepdream-bot`: read the settings, set up logging, run the bot until a
signal, then shut down gracefully."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys

import aiohttp
import discord
from pydantic import ValidationError

from bot.bot import DreamBot
from bot.logs import setup_logging
from bot.settings import Settings
from bot.storage import StorageError

__all__ = ["freeze_start_up", "main"]

log = logging.getLogger("bot")

EXIT_CONFIG = 2
EXIT_LOGIN = 3
EXIT_NETWORK = 4
EXIT_DATA = 5


def _env_name(loc: tuple[int | str, ...]) -> str:
    return str(loc[0]).upper() if loc else "settings"


def settings_problems(error: ValidationError) -> list[str]:
    """One line per problem, naming the environment variable to fix."""
    lines = []
    for problem in error.errors(include_url=False, include_input=False):
        name = _env_name(problem["loc"])
        if problem["type"] == "missing":
            lines.append(
                f"{name} is not set: put it in the environment or in a .env file "
                "(see .env.example)."
            )
        else:
            message = str(problem["msg"]).removeprefix("Value error, ")
            lines.append(f"{name} is invalid: {message}.")
    return lines


def freeze_start_up() -> None:
    """Leave what start-up made (discord.py, torch, the bot's modules) out of full garbage
    collections: it lives as long as the process. Each full collection scanned it all while
    holding the GIL, which stalled the event loop for 209–294 ms at 430 000 objects."""
    gc.collect()
    gc.freeze()


async def _run(settings: Settings) -> int:
    bot = DreamBot(settings=settings)
    freeze_start_up()
    loop = asyncio.get_running_loop()
    closing: list[asyncio.Task[None]] = []

    def stop(sig: signal.Signals) -> None:
        if closing:
            log.info("Got %s again; still shutting down", sig.name)
            return
        log.info("Got %s; shutting down", sig.name)
        closing.append(loop.create_task(bot.close()))

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop, sig)
    try:
        async with bot:
            await bot.start(settings.discord_token.get_secret_value())
    except discord.LoginFailure:
        print(
            "Discord rejected DISCORD_TOKEN: copy the bot's token again from the developer portal "
            "(Applications -> your app -> Bot -> Reset Token).",
            file=sys.stderr,
        )
        return EXIT_LOGIN
    except StorageError as problem:
        print(
            f"Cannot use the data in {settings.dream_data_dir}: {problem}. Start the version of "
            "the bot that wrote it, or set DREAM_DATA_DIR to another folder.",
            file=sys.stderr,
        )
        return EXIT_DATA
    except (aiohttp.ClientError, OSError, discord.GatewayNotFound) as error:
        print(
            f"Could not reach Discord ({error}); check the network and try again.", file=sys.stderr
        )
        return EXIT_NETWORK
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if closing:
        await closing[0]
    return 0


def main() -> int:
    try:
        settings = Settings()  # type: ignore[call-arg]  # pydantic-settings reads the environment
    except ValidationError as error:
        for line in settings_problems(error):
            print(line, file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(level=settings.log_level, secrets=[settings.discord_token.get_secret_value()])
    try:
        return asyncio.run(_run(settings))
    except KeyboardInterrupt:
        return 130
    except Exception:
        log.exception("The bot stopped on an unexpected error")
        return 1


if __name__ == "__main__":
    sys.exit(main())
