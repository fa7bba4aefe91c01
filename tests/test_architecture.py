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
    return any(pattern.search(path.read_text()) for path in package.glob("*.py"))


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
