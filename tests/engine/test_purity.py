"""The engine stays a plain library: no discord, no asyncio, no environment reads."""

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "engine"
FORBIDDEN = {"discord", "asyncio", "aiohttp", "bot"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_engine_imports_no_discord_or_asyncio() -> None:
    """No module of engine/ imports discord, asyncio, aiohttp or the bot."""
    for path in ENGINE.rglob("*.py"):
        assert not _imports(path) & FORBIDDEN, path


def test_engine_reads_no_environment() -> None:
    """No module of engine/ reads environment variables."""
    for path in ENGINE.rglob("*.py"):
        text = path.read_text()
        assert "os.environ" not in text and "getenv" not in text, path
