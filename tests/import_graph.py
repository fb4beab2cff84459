"""The project's import graph as it happens at run time: every module of engine/ and bot/ is
imported in a fresh interpreter under an `__import__` hook that records who imported what.
``python tests/import_graph.py`` prints it grouped by package."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_PROBE = r"""
import builtins, importlib, importlib.util, json, pkgutil, sys

OURS = ("engine", "bot")
edges = set()
original = builtins.__import__


def ours(name):
    return name.split(".")[0] in OURS


def hook(name, globals=None, locals=None, fromlist=(), level=0):
    module = original(name, globals, locals, fromlist, level)
    importer = (globals or {}).get("__name__", "")
    if ours(importer) or importer == "__main__":
        package = (globals or {}).get("__package__") or ""
        target = importlib.util.resolve_name("." * level + name, package) if level else name
        if ours(target):
            edges.add((importer, target))
            for item in fromlist or ():
                if f"{target}.{item}" in sys.modules:
                    edges.add((importer, f"{target}.{item}"))
    return module


builtins.__import__ = hook
for package in OURS:
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, prefix=package + "."):
        if info.name != "engine.__main__":  # it runs the command line as it is imported
            importlib.import_module(info.name)
print(json.dumps(sorted(edges)))
"""


def import_edges() -> set[tuple[str, str]]:
    """(importer, imported) for every run-time import between the project's modules."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return {(a, b) for a, b in json.loads(out.strip().splitlines()[-1]) if a != b}


def package_of(module: str) -> str:
    """``bot.cogs.results._cog`` -> ``bot.cogs``; ``bot.jobs.celery.app`` -> ``bot.jobs``."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "bot" and len(parts) > 1 else parts[0]


def main() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for importer, imported in import_edges():
        a, b = package_of(importer), package_of(imported)
        if a != b:
            graph[a].add(b)
    for package in sorted(graph):
        print(f"{package} -> {', '.join(sorted(graph[package]))}")


if __name__ == "__main__":
    main()
