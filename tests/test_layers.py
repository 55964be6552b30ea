"""The package's folders are its architecture: imports point downward only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "promptloop"

# What each layer may import from promptloop (besides itself). The top-level
# ``promptloop/__init__.py`` is the SDK's public surface, so it counts as ``sdk``.
ALLOWED: dict[str, set[str]] = {
    "exceptions": set(),
    "core": {"exceptions"},
    "store": {"core", "exceptions"},
    "prompts": {"core", "store", "exceptions"},
    "signals": {"core", "store", "exceptions"},
    "analytics": {"core", "store", "prompts", "signals", "exceptions"},
    "evals": {"core", "store", "prompts", "signals", "analytics", "exceptions"},
    "review": {"core", "store", "prompts", "signals", "analytics", "evals", "exceptions"},
    "otlp": {"core", "exceptions"},
    "exports": {"core", "store", "analytics", "exceptions"},
    "sdk": {"core", "exceptions"},
    "demo": {"core", "store", "prompts", "exceptions"},
    "server": {
        "core",
        "store",
        "prompts",
        "signals",
        "analytics",
        "demo",
        "evals",
        "review",
        "otlp",
        "exports",
        "exceptions",
        "__init__",
    },
    "cli": {
        "core",
        "store",
        "prompts",
        "signals",
        "analytics",
        "server",
        "demo",
        "sdk",
        "evals",
        "review",
        "otlp",
        "exports",
        "exceptions",
    },
}


def _layer(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py") if len(relative.parts) > 1 else relative.stem


def _imported_layers(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "promptloop":
                found.add(parts[1] if len(parts) > 1 else "__init__")
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_imports_only_what_lies_below_it(layer: str) -> None:
    offending: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if _layer(path) != layer:
            continue
        bad = _imported_layers(path) - ALLOWED[layer] - {layer}
        if bad:
            offending[str(path.relative_to(PACKAGE))] = bad
    assert offending == {}


def test_every_layer_is_known() -> None:
    layers = {_layer(path) for path in PACKAGE.rglob("*.py")} - {"__init__", "py"}
    assert layers <= set(ALLOWED), layers - set(ALLOWED)
