"""The layers hold at run time: the engine below the bot, the bot's services below its cogs, the
job backends below both (tests/import_graph.py records every import as it happens)."""

from __future__ import annotations

import pytest

from tests.import_graph import import_edges


@pytest.fixture(scope="module")
def edges() -> set[tuple[str, str]]:
    return import_edges()


def _within(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_the_probe_sees_the_imports(edges: set[tuple[str, str]]) -> None:
    """The recorder sees known imports (so an empty graph cannot pass the rules below)."""
    assert ("bot.bot", "bot.dreams") in edges
    assert ("bot.cogs.dream", "bot.dreams") in edges
    assert any(_within(a, "bot.jobs") and _within(b, "engine") for a, b in edges)


def test_nothing_outside_the_cogs_imports_a_cog(edges: set[tuple[str, str]]) -> None:
    """Only bot.cogs imports bot.cogs (bot.bot names the extensions as strings)."""
    bad = {(a, b) for a, b in edges if _within(b, "bot.cogs") and not _within(a, "bot.cogs")}
    assert not bad


def test_jobs_import_neither_cogs_nor_the_dreams_service(edges: set[tuple[str, str]]) -> None:
    """bot.jobs (backends, Celery, the worker) sits below the dreams service and the cogs."""
    above = ("bot.cogs", "bot.dreams", "bot.bot", "bot.__main__", "bot.storage")
    bad = {(a, b) for a, b in edges if _within(a, "bot.jobs") and _within(b, *above)}
    assert not bad


def test_storage_is_below_the_dreams_service(edges: set[tuple[str, str]]) -> None:
    """bot.storage imports neither the dreams service, the cogs nor the bot."""
    above = ("bot.cogs", "bot.dreams", "bot.bot", "bot.__main__")
    bad = {(a, b) for a, b in edges if _within(a, "bot.storage") and _within(b, *above)}
    assert not bad


def test_the_engine_imports_nothing_of_the_bot(edges: set[tuple[str, str]]) -> None:
    """engine/ never imports bot/ at run time, not even lazily at import."""
    assert not {(a, b) for a, b in edges if _within(a, "engine") and _within(b, "bot")}
