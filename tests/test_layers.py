"""The three layers of the design ("Three layers"), read from the imports.

1. base: the modules at the top of ``server/`` named in ``BASE`` (settings,
   db, models, context, errors, auth, serialize, lookup and what they stand
   on): no feature.
2. domain: ``checkin/``, ``realtime/`` and ``server/features/``.
3. wiring: ``server/routes/`` and the top-level modules named in ``WIRING``.

Imports only run down: base imports base alone, the domain never imports
the wiring, the hub knows no admission (``realtime`` never imports
``checkin``), and no modules import each other in a loop. Every import
counts, a lazy one in a function or one for type checking alike. The folder
says the layer: a module at the top of ``server/`` is base or wiring and must
be named in one of the two lists (a feature goes in ``server/features/``).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("server", "checkin", "realtime")

BASE = frozenset(
    f"server.{name}"
    for name in (
        "settings",
        "db",
        "models",
        "context",
        "errors",
        "auth",
        "serialize",
        "lookup",
        # what those stand on
        "availability",
        "rate_limits",
        "access_log",
        "responses",
        "security_headers",
        "fields",
        "key_sealing",
        "background",
        "collector",
    )
)
WIRING = frozenset(
    f"server.{name}"
    for name in (
        "routes",
        "migrations",
        "app",
        "cli",
        "cli_tokens",
        "demo",
        "demo_day",
        "http",
        "openapi",
        "metrics",
        "migrate",
        "unstorable_urls",
    )
)

#: Arrows the code has today against the rules, each with why and what
#: removes it (none today). The test fails on any other, and on one of these
#: once gone.
KNOWN: dict[tuple[str, str], str] = {}


def module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> dict[str, Path]:
    return {
        module_of(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "pwa" not in path.parts
    }


def imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Each module's imports of this project's modules (the longest name that is one)."""

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    found: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            for name in names:
                target = resolve(name)
                if target is not None and target != module:
                    targets.add(target)
        found[module] = targets
    return found


def layer(module: str) -> str:
    def under(names: frozenset[str]) -> bool:
        return any(module == n or module.startswith(n + ".") for n in names)

    if under(BASE):
        return "base"
    if under(WIRING):
        return "wiring"
    if module == "server":  # its __init__: the version
        return "base"
    if module.partition(".")[0] in ("checkin", "realtime") or under(frozenset({"server.features"})):
        return "domain"
    raise AssertionError(
        f"{module}: a feature goes in server/features/, else name it in BASE or WIRING"
    )


def refusal(source: str, target: str) -> str | None:
    """Why ``source`` may not import ``target``, or None."""
    if layer(source) == "base" and layer(target) != "base":
        return "base knows no feature"
    if layer(source) == "domain" and layer(target) == "wiring":
        return "the domain never imports the wiring"
    if source.startswith("realtime") and target.startswith("checkin"):
        return "the hub knows no admission"
    return None


def test_imports_only_run_down_the_layers() -> None:
    graph = imports(sources())
    found = {
        (source, target): why
        for source, targets in graph.items()
        for target in targets
        if (why := refusal(source, target)) is not None
    }
    unexpected = {arrow: why for arrow, why in found.items() if arrow not in KNOWN}
    assert not unexpected, "\n".join(f"{s} -> {t}: {why}" for (s, t), why in unexpected.items())
    gone = set(KNOWN) - set(found)
    assert not gone, f"no longer in the code, strike from KNOWN: {sorted(gone)}"


def test_no_modules_import_each_other_in_a_loop() -> None:
    graph = imports(sources())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    loops: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in graph.get(module, ()):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                loops.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    assert not loops, loops


def test_every_module_has_a_layer() -> None:
    """A module at the top of ``server/`` is named as base or wiring (layer raises otherwise)."""
    layers = {module: layer(module) for module in sources()}
    assert {"base", "domain", "wiring"} == set(layers.values())
    assert all(layers[m] == "domain" for m in layers if m.startswith("server.features."))


def test_the_rules_see_the_imports() -> None:
    """The reader finds what the rules are about (a test that reads nothing passes)."""
    graph = imports(sources())
    assert "server.db" in graph["server.context"]
    assert "server.auth" in graph["server.routes.tickets"]
    assert layer("server.routes.scans") == "wiring" and layer("server.models.venue") == "base"
    assert refusal("server.db", "server.features.incidents") and refusal(
        "checkin.sync", "server.app"
    )
