"""Dependency floors stay past known advisories, and what is installed meets them.

Each row names a package, where ``pyproject.toml`` declares it (the core's
``dependencies`` or an extra), the first fixed release and the last affected
one. The declared requirement must admit no affected release (its floor is at
least the fixed one), and the version installed in this environment (the one
``make install`` resolved) must satisfy the declaration.
"""

from __future__ import annotations

import ast
import importlib.metadata
import tomllib
from dataclasses import dataclass

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from support import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Advisory:
    """A package whose releases before ``fixed`` have a published advisory."""

    package: str
    #: ``None`` for the core's own ``dependencies``, else the extra's name.
    extra: str | None
    fixed: str
    last_affected: str
    advisories: str


ADVISORIES = (
    Advisory("waitress", "flask", "3.0.1", "3.0.0", "CVE-2024-49768, CVE-2024-49769"),
    Advisory("Flask", "flask", "3.1.1", "3.1.0", "CVE-2025-47278"),
    Advisory("Jinja2", None, "3.1.6", "3.1.5", "CVE-2024-56326, CVE-2025-27516"),
    Advisory("h11", "fastapi", "0.16", "0.15.0", "CVE-2025-43859"),
)


def _declared(extra: str | None) -> dict[str, Requirement]:
    project = PYPROJECT["project"]
    lines = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    requirements = (Requirement(line) for line in lines)
    return {canonicalize_name(req.name): req for req in requirements}


def _requirement(advisory: Advisory) -> Requirement:
    declared = _declared(advisory.extra)
    where = "dependencies" if advisory.extra is None else f"the {advisory.extra!r} extra"
    name = canonicalize_name(advisory.package)
    assert name in declared, f"{advisory.package} is not declared in {where} of pyproject.toml"
    return declared[name]


def _floor(requirement: Requirement) -> Version:
    floors = [Version(spec.version) for spec in requirement.specifier if spec.operator == ">="]
    assert floors, f"{requirement} declares no >= floor"
    return max(floors)


@pytest.mark.parametrize("advisory", ADVISORIES, ids=lambda a: a.package)
def test_declared_floor_is_past_the_advisory(advisory: Advisory) -> None:
    requirement = _requirement(advisory)

    assert _floor(requirement) >= Version(advisory.fixed), (
        f"{requirement}: {advisory.package} before {advisory.fixed} has {advisory.advisories}"
    )
    assert not requirement.specifier.contains(advisory.last_affected, prereleases=True)
    assert requirement.specifier.contains(advisory.fixed, prereleases=True)


@pytest.mark.parametrize("advisory", ADVISORIES, ids=lambda a: a.package)
def test_installed_version_satisfies_the_declared_floor(advisory: Advisory) -> None:
    requirement = _requirement(advisory)
    installed = importlib.metadata.version(advisory.package)

    assert requirement.specifier.contains(installed, prereleases=True), (
        f"{advisory.package} {installed} is installed but pyproject.toml asks {requirement}: "
        "run make install"
    )
    assert Version(installed) >= Version(advisory.fixed)


def test_jinja2_is_a_direct_dependency_of_the_core_that_renders_with_it() -> None:
    """The core imports Jinja2 itself, so its floor cannot be left to another package."""
    importers = []
    for path in sorted((ROOT / "src" / "client_portal_core").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and node.level == 0
                else []
            )
            if any(name.split(".")[0] == "jinja2" for name in names):
                importers.append(path.name)

    assert importers, "the core no longer imports jinja2: drop it from dependencies"
    assert "jinja2" in _declared(None)
