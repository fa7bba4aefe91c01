"""Build the sdist and the wheel, inspect them, and test what users install.

Run by ``make package-check`` (part of ``make test`` and so of CI):

1. ``python -m build`` makes the sdist, then the wheel *from the sdist*;
2. both are checked: exactly the three importable packages at top level
   (``client_portal_core``, ``client_portal_fastapi``, ``client_portal_flask``)
   with their templates, translation catalogs, migrations and ``py.typed``; ``check-wheel-contents``
   and ``twine check`` pass;
3. the wheel (never the checkout) is installed into fresh virtualenvs, once
   per framework extra and once with both, and a smoke test runs from a
   temporary folder outside the source tree: it imports the installed
   adapters, mounts them on a tiny app and answers ``GET /config``.

Exits non-zero with a one-line reason on the first problem.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import tempfile
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("client_portal_core", "client_portal_fastapi", "client_portal_flask")
#: Files the core package must ship besides its modules.
CORE_DATA = (
    "client_portal_core/py.typed",
    "client_portal_core/templates/invitation.html",
    "client_portal_core/locales/de/LC_MESSAGES/client_portal.po",
    "client_portal_core/locales/de/LC_MESSAGES/client_portal.mo",
    "client_portal_core/locales/en/LC_MESSAGES/client_portal.mo",
    "client_portal_core/migrations/env.py",
    "client_portal_core/migrations/script.py.mako",
)
#: Extras installed together in one fresh virtualenv each.
EXTRA_SETS = ("fastapi,flask", "fastapi", "flask")

#: Run by each fresh virtualenv's Python, from a folder outside the source tree.
SMOKE_TEST = Path(__file__).with_name("package_smoke_test.py")


class PackageProblem(Exception):
    """What is wrong with the built package, in one line."""


def run(*command: str | Path, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-15:]
        raise PackageProblem(f"{' '.join(map(str, command))} failed:\n" + "\n".join(tail))
    return result.stdout


def build(outdir: Path) -> tuple[Path, Path]:
    """The sdist, and the wheel built from it."""
    run(sys.executable, "-m", "build", "--outdir", outdir, ROOT)
    sdists, wheels = list(outdir.glob("*.tar.gz")), list(outdir.glob("*.whl"))
    if len(sdists) != 1 or len(wheels) != 1:
        raise PackageProblem(f"expected one sdist and one wheel, got {sdists + wheels}")
    return sdists[0], wheels[0]


def check_wheel(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    if tops != set(PACKAGES):
        raise PackageProblem(f"wheel top level is {sorted(tops)}, expected {list(PACKAGES)}")
    missing = [path for path in CORE_DATA if path not in names]
    missing += [f"{name}/py.typed" for name in PACKAGES if f"{name}/py.typed" not in names]
    if missing:
        raise PackageProblem(f"wheel lacks {missing}")
    if any("__pycache__" in name or name.endswith(".pyc") for name in names):
        raise PackageProblem("wheel ships compiled files")


def check_sdist(sdist: Path) -> None:
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    root = names[0].split("/")[0]
    inside = {name.removeprefix(root + "/") for name in names if name != root}
    packages = {
        "/".join(name.split("/")[:3]) if name.startswith("src/adapters/") else name.split("/")[1]
        for name in inside
        if name.startswith("src/") and name.count("/") >= 2
    }
    expected = {"client_portal_core", "src/adapters/client_portal_fastapi"}
    expected |= {"src/adapters/client_portal_flask"}
    if packages != expected:
        raise PackageProblem(f"sdist sources are {sorted(packages)}, expected {sorted(expected)}")
    tops = {name.split("/")[0] for name in inside}
    extra = tops - {"src", "docs", "README.md", "pyproject.toml", "PKG-INFO", ".gitignore"}
    if extra:
        raise PackageProblem(f"sdist ships more than the library: {sorted(extra)}")


def smoke_test(wheel: Path, extras: str, workdir: Path) -> dict[str, dict[str, object]]:
    """Install ``wheel[extras]`` into a fresh virtualenv and run the smoke test there."""
    env_dir = workdir / f"venv-{extras.replace(',', '-')}"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", f"{wheel}[{extras}]")
    report: dict[str, dict[str, object]] = json.loads(
        run(python, SMOKE_TEST, cwd=workdir).strip().splitlines()[-1]
    )
    for name, found in report.items():
        where = str(found.get("file", ""))
        if where and str(env_dir) not in where:
            raise PackageProblem(f"{name} was imported from {where}, not the installed wheel")
    core = report["client_portal_core"]
    if core.get("locales") != ["en", "de"] or "Einladung" not in str(core.get("german_subject")):
        raise PackageProblem(f"[{extras}]: the installed catalogs do not translate: {core}")
    for framework in ("fastapi", "flask"):
        found = report[f"client_portal_{framework}"]
        if framework in extras.split(","):
            if found.get("config") != [200, "Client Portal"]:
                raise PackageProblem(f"[{extras}]: {framework} adapter answered {found}")
        elif f"client-portal-core[{framework}]" not in str(found.get("import_error", "")):
            raise PackageProblem(f"[{extras}]: no install hint for {framework}: {found}")
    return report


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="cp-package-") as folder:
        workdir = Path(folder)
        try:
            sdist, wheel = build(workdir / "dist")
            check_wheel(wheel)
            check_sdist(sdist)
            run(sys.executable, "-m", "check_wheel_contents", wheel, cwd=ROOT)
            run(sys.executable, "-m", "twine", "check", "--strict", sdist, wheel)
            print(f"package: {sdist.name} and {wheel.name} built and checked")
            for extras in EXTRA_SETS:
                smoke_test(wheel, extras, workdir)
                print(
                    f"package: wheel[{extras}] installed in a fresh virtualenv: smoke test passed"
                )
        except PackageProblem as exc:
            print(f"package check failed: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
