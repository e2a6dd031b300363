"""The daemon's layering, checked over every `import` in `daemon/` (parsed with `ast`, nothing is imported).

Layers, top to bottom; a module may import its own layer and the layers below it, never one above::

    entry       cli, app, client, runtime, logs, demo, sandbox   (composition roots and tools)
    api         HTTP and WebSocket only
    services    the container of the running daemon's parts
    features    timers, entries, outbox, psa, notices, auth
    policy      rules, connectors
    store       all SQL; the only importer of aiosqlite
    base        settings, clock, private, textsafe, invalid, and the shared domain types (timers.model, entries.model)

Within a layer, the components (the names above) must not import each other in a cycle. `api` reaches the store only
through services. The shared domain types sit in `base` so that the store and the features may both use them.

Package surfaces: a module may import any public name from any module of a lower (or its own) layer; a package's
`__init__` `__all__` lists its main names but is a convenience, not a wall. Names starting with `_` stay inside their
own package.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAEMON = ROOT / "daemon"

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "entry",
        (
            "daemon.__main__",
            "daemon.cli",
            "daemon.app",
            "daemon.client",
            "daemon.runtime",
            "daemon.logs",
            "daemon.demo",
            "daemon.sandbox",
            "daemon.server",  # the team server: its own composition root, API and services over its store
        ),
    ),
    ("api", ("daemon.api",)),
    ("services", ("daemon.services",)),
    (
        "features",
        (
            "daemon.timers",
            "daemon.entries",
            "daemon.outbox",
            "daemon.psa",
            "daemon.notices",
            "daemon.auth",
            "daemon.automation",
            "daemon.sync",  # team sync (issue 13)
        ),
    ),
    ("policy", ("daemon.rules", "daemon.connectors")),
    ("store", ("daemon.store", "daemon.server.store")),
    (
        "base",
        (
            "daemon.settings",
            "daemon.clock",
            "daemon.private",
            "daemon.textsafe",
            "daemon.invalid",
            "daemon.timers.model",
            "daemon.entries.model",
            "daemon.automation.model",
            "daemon.server.model",
            "daemon",  # the package itself: its version
        ),
    ),
]
FORBIDDEN: list[tuple[str, str, str]] = [
    ("daemon.api", "daemon.store", "the API reaches the store through services"),
]
STORE_ONLY = {"aiosqlite": "daemon.store", "asyncpg": "daemon.server.store"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def component(module: str) -> str:
    """The longest listed prefix that holds the module (fails if a module belongs to no layer)."""
    found = [p for _, prefixes in LAYERS for p in prefixes if _within(module, p)]
    assert found, f"{module} is in no layer: add it to LAYERS in {Path(__file__).name}"
    return max(found, key=len)


def layer(module: str) -> int:
    comp = component(module)
    return next(i for i, (_, prefixes) in enumerate(LAYERS) if comp in prefixes)


def imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, imported module, names) for every import in the file, wherever it stands (lazy ones count too)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            names = [alias.name for alias in node.names]
            found.append((node.lineno, target, names))
            # `from daemon.timers import engine` imports the module daemon.timers.engine
            found.extend((node.lineno, f"{target}.{n}", []) for n in names if _is_module(f"{target}.{n}"))
    return found


def _is_module(name: str) -> bool:
    rel = Path(*name.split("."))
    return (ROOT / rel).with_suffix(".py").is_file() or (ROOT / rel / "__init__.py").is_file()


def _edges() -> list[tuple[str, int, str, list[str]]]:
    """(importing module, line, imported module, names) for every import of our own code in daemon/."""
    out = []
    for path in sorted(DAEMON.rglob("*.py")):
        source = _module_name(path)
        for line, target, names in imports(path):
            out.append((source, line, target, names))
    return out


EDGES = _edges()


def _where(source: str, line: int) -> str:
    return f"{source.replace('.', '/')}.py:{line}"


def test_the_import_scan_sees_the_daemon() -> None:
    # control: the scan finds the imports we know are there, so an empty violation list means something
    assert ("daemon.timers.service", "daemon.store") in {(s, t) for s, _, t, _ in EDGES}
    assert any(
        s.startswith("daemon.connectors.autotask") and t == "daemon.connectors.autotask.client" for s, _, t, _ in EDGES
    )
    assert len({s for s, _, _, _ in EDGES}) > 50


def test_every_module_is_in_a_layer() -> None:
    for source in {s for s, _, _, _ in EDGES}:
        component(source)


def test_no_module_imports_a_layer_above_its_own() -> None:
    wrong = [
        f"{_where(s, line)}: {s} ({LAYERS[layer(s)][0]}) imports {t} ({LAYERS[layer(t)][0]})"
        for s, line, t, _ in EDGES
        if _within(t, "daemon") and layer(t) < layer(s)
    ]
    assert not wrong, "\n".join(wrong)


def test_components_import_each_other_without_cycles() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for s, _, t, _ in EDGES:
        if _within(t, "daemon") and component(s) != component(t):
            graph[component(s)].add(component(t))
    cycles = []
    for start in sorted(graph):
        stack = [(start, [start])]
        seen: set[str] = set()
        while stack:
            node, route = stack.pop()
            for nxt in sorted(graph[node]):
                if nxt == start:
                    cycles.append(" -> ".join([*route, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*route, nxt]))
    assert not cycles, "\n".join(cycles)


@pytest.mark.parametrize(("importer", "imported", "why"), FORBIDDEN)
def test_forbidden_shortcuts(importer: str, imported: str, why: str) -> None:
    wrong = [f"{_where(s, line)}: {t}" for s, line, t, _ in EDGES if _within(s, importer) and _within(t, imported)]
    assert not wrong, why + ":\n" + "\n".join(wrong)


def test_only_the_store_imports_the_database_driver() -> None:
    wrong = [
        f"{_where(s, line)}: {t}"
        for s, line, t, _ in EDGES
        for lib, owner in STORE_ONLY.items()
        if _within(t, lib) and not _within(s, owner)
    ]
    assert not wrong, "\n".join(wrong)


def test_private_names_stay_in_their_package() -> None:
    def package(module: str) -> str:
        return ".".join(module.split(".")[:2])

    wrong = [
        f"{_where(s, line)}: {t}.{n}"
        for s, line, t, names in EDGES
        if _within(t, "daemon") and package(s) != package(t)
        for n in names
        if n.startswith("_") and not n.startswith("__")
    ]
    assert not wrong, "\n".join(wrong)


def test_no_sql_outside_the_store() -> None:
    sql = re.compile(r"SELECT |INSERT |UPDATE |DELETE FROM")
    wrong = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in sorted(DAEMON.rglob("*.py"))
        if not _within(_module_name(path), "daemon.store") and not _within(_module_name(path), "daemon.server.store")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if sql.search(line)
    ]
    assert not wrong, "\n".join(wrong)
