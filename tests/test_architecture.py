"""The shape of the package: no framework in the core, a documented public surface."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import client_portal_core
from client_portal_core import hooks

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORKS = ("fastapi", "starlette", "flask", "werkzeug")

IMPORT_EVERYTHING = """
import importlib, json, pkgutil, sys
import client_portal_core
names = [m.name for m in pkgutil.walk_packages(client_portal_core.__path__, "client_portal_core.")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"modules": names, "loaded": sorted(sys.modules)}))
"""


def test_core_never_imports_a_web_framework() -> None:
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    report = json.loads(result.stdout)
    loaded = {name.split(".")[0] for name in report["loaded"]}

    assert len(report["modules"]) >= 10
    assert sorted(loaded & set(FRAMEWORKS)) == []


def _core_modules() -> list[str]:
    return [
        info.name
        for info in pkgutil.walk_packages(client_portal_core.__path__, "client_portal_core.")
    ]


@pytest.mark.parametrize("module", _core_modules())
def test_core_module_source_names_no_framework(module: str) -> None:
    source = inspect.getsource(importlib.import_module(module))
    imports = re.findall(r"^\s*(?:from|import)\s+([\w.]+)", source, flags=re.MULTILINE)

    assert [name for name in imports if name.split(".")[0] in FRAMEWORKS] == []


def _documented_by_comment(name: str) -> bool:
    """Whether a ``#:`` doc comment precedes the assignment of ``name`` in the package."""
    pattern = re.compile(rf"^#:.*\n(?:#:.*\n)*{re.escape(name)}\s*[:=]", re.MULTILINE)
    package = Path(client_portal_core.__file__).parent
    return any(pattern.search(path.read_text()) for path in package.rglob("*.py"))


@pytest.mark.parametrize("name", client_portal_core.__all__)
def test_every_public_name_exists_and_is_documented(name: str) -> None:
    obj = getattr(client_portal_core, name)

    if inspect.isclass(obj) or inspect.isfunction(obj):
        assert (obj.__doc__ or "").strip(), f"{name} has no docstring"
    else:
        assert _documented_by_comment(name), f"{name} has no #: doc comment"


def test_all_lists_no_name_twice() -> None:
    assert len(client_portal_core.__all__) == len(set(client_portal_core.__all__))


def test_package_is_typed() -> None:
    assert (Path(client_portal_core.__file__).parent / "py.typed").exists()


def _hook_names() -> list[str]:
    return sorted(
        name for name in vars(hooks.ClientPortalSpec) if name.startswith("client_portal_")
    )


def test_every_hookspec_picks_one_provider_and_says_so() -> None:
    for name in _hook_names():
        spec = getattr(hooks.ClientPortalSpec, name)
        options = spec.client_portal_spec
        assert options["firstresult"] is True, name
        assert "first non-None result" in (spec.__doc__ or ""), name


@pytest.mark.parametrize("hook", _hook_names())
def test_every_hook_is_documented(hook: str) -> None:
    readme = (ROOT / "README.md").read_text()
    heading = re.compile(rf"^#+ .*`?{re.escape(hook)}`?", re.MULTILINE)

    assert heading.search(readme), f"README.md has no section for the {hook} hook"


# -- grow by capability: arrows point down only ---------------------------------

PACKAGE = Path(client_portal_core.__file__).parent
#: Modules allowed to import the facade (``services``): the public surface and
#: the HTTP layer adapters use, which sit above it.
ABOVE_THE_FACADE = {
    "client_portal_core",
    "client_portal_core.http",
    "client_portal_core.__main__",
    "client_portal_core.testing",
}


def _component(module: str) -> str:
    """``client_portal_core.storage._tables`` -> ``client_portal_core.storage``."""
    return ".".join(module.split(".")[:2])


def _imports_of(path: Path, module: str) -> set[str]:
    """Every ``client_portal_core`` module ``path`` imports, wherever the import stands."""
    import ast

    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            found |= {f"{target}.{alias.name}" for alias in node.names}
    known = {info.name for info in pkgutil.walk_packages([str(PACKAGE)], "client_portal_core.")}
    return {name for name in found if name in known}


def _component_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        source = _component(module)
        targets = {_component(name) for name in _imports_of(path, module)}
        graph.setdefault(source, set()).update(targets - {source})
    return graph


def test_core_components_import_each_other_in_one_direction_only() -> None:
    graph = _component_graph()
    cycles = []
    for start in graph:
        stack = [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    cycles.append(" -> ".join([*trail, nxt]))
                elif nxt not in trail and nxt.startswith("client_portal_core."):
                    stack.append((nxt, [*trail, nxt]))
    assert cycles == []


def test_no_capability_imports_the_facade() -> None:
    graph = _component_graph()
    importers = sorted(
        name for name, targets in graph.items() if "client_portal_core.services" in targets
    )
    assert set(importers) <= ABOVE_THE_FACADE, importers


def test_no_core_module_grows_much_past_500_lines() -> None:
    sizes = {
        str(path.relative_to(PACKAGE)): len(path.read_text().splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    assert {name: size for name, size in sizes.items() if size > 550} == {}
