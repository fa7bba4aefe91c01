"""Every figure ``benchmarks/README.md`` quotes says where it comes from, and that exists.

The convention (stated in the README itself): one sentence per line; a line
that quotes a figure (a number with a unit, a ratio such as ``0.52``, a count
such as ``4,050``) carries a footnote reference ``[^name]``; each footnote is
either

* ``[^name]: `python -m benchmarks` row "ROW"`` (or ``rows "A" and "B"``), where
  each ROW is a name that ``python -m benchmarks --list`` prints, or
* ``[^name]: One-off profile `python -m benchmarks.profile_x ...`, rows "ROW"``,
  where ``benchmarks/profile_x.py`` exists and its ``--list`` prints each ROW.

Nothing here measures anything; ``tests/test_benchmarks.py`` proves that the
quick run prints exactly the rows ``--list`` names.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from support import ROOT

README = ROOT / "benchmarks" / "README.md"

FIGURE = re.compile(
    r"""
      \d[\d,]*(?:\.\d+)?\s?(?:[\u00b5\u03bc]s|us|ms|s|req/s|r/s|%|\u00d7)(?![\w/])  # number, unit
    | (?<![\d.,])\d+\.\d{2}(?!\.?\d)                            # a ratio: 0.52, 1.16
    | (?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d,])                    # a count: 4,050
    """,
    re.VERBOSE,
)
REFERENCE = re.compile(r"\[\^([\w-]+)\]")
DEFINITION = re.compile(r"^\[\^([\w-]+)\]:\s*(.+)$")
CODE_SPAN = re.compile(r"`[^`]*`")
ROW_NAME = re.compile(r'"([^"]+)"')
BENCHMARK_SOURCE = re.compile(r"^`python -m benchmarks` rows? ")
PROFILE_SOURCE = re.compile(r"^One-off profile `python -m (benchmarks\.profile_\w+)[^`]*`")


def _listed_rows(module: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-m", module, "--list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return {line.strip() for line in done.stdout.splitlines() if line.strip()}


def problems(text: str, listed_rows: Callable[[str], set[str]], root: Path = ROOT) -> list[str]:
    """What is wrong with the figures of ``text`` (a benchmarks README), one entry each."""
    found: list[str] = []
    definitions: dict[str, str] = {}
    used: set[str] = set()
    in_code = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            continue
        definition = DEFINITION.match(line)
        if definition:
            if definition[1] in definitions:
                found.append(f"line {number}: footnote [^{definition[1]}] defined twice")
            definitions[definition[1]] = definition[2]
            continue
        references = REFERENCE.findall(line)
        used.update(references)
        figure = FIGURE.search(CODE_SPAN.sub("", line))
        if figure and not references:
            found.append(
                f"line {number}: {figure[0]!r} is quoted without a footnote naming "
                f"its benchmark row or one-off profile: {line.strip()[:80]}"
            )
    for name in sorted(used - definitions.keys()):
        found.append(f"footnote [^{name}] is used but never defined")
    for name in sorted(definitions.keys() - used):
        found.append(f"footnote [^{name}] is defined but no figure cites it")
    cache: dict[str, set[str]] = {}
    for name, source in definitions.items():
        rows = ROW_NAME.findall(source)
        profile = PROFILE_SOURCE.match(source)
        if profile:
            module = profile[1]
            path = root / Path(*module.split(".")).with_suffix(".py")
            if not path.is_file():
                found.append(f"[^{name}]: {module} does not exist ({path.relative_to(root)})")
                continue
        elif BENCHMARK_SOURCE.match(source):
            module = "benchmarks"
        else:
            found.append(
                f"[^{name}]: names neither a `python -m benchmarks` row nor a one-off "
                f"profile command: {source[:80]}"
            )
            continue
        if not rows:
            found.append(f'[^{name}]: names no row ("ROW NAME") of {module}')
            continue
        if module not in cache:
            cache[module] = listed_rows(module)
        for row in rows:
            if row not in cache[module]:
                found.append(f"[^{name}]: {module} prints no row {row!r}")
    return found


def test_every_figure_of_the_benchmarks_readme_names_a_row_or_profile_that_exists() -> None:
    found = problems(README.read_text(encoding="utf-8"), _listed_rows)

    assert found == [], "\n".join(found)


def test_the_check_finds_an_unmarked_figure_and_a_missing_row_or_command() -> None:
    row = '"token verification vs itsdangerous+sqlite3 floor"'
    text = "\n".join(
        [
            "```sh",
            "make bench   # 8 s",  # code blocks are not prose
            "```",
            "Going through `Connection.execute` cost 78 µs.",
            "The cache lifts it to 4,050 req/s (ratio 0.61).",
            "Verification costs 28.2 µs[^ok].",
            "One more level costs 16 %[^gone].",
            "The sweep made no difference[^no-script].",
            "The hop costs about 40 %[^vague].",
            "",
            f"[^ok]: `python -m benchmarks` row {row}.",
            '[^gone]: `python -m benchmarks` row "a row nobody prints".',
            '[^no-script]: One-off profile `python -m benchmarks.profile_nowhere`, rows "x".',
            "[^vague]: measured once by hand.",
            f"[^spare]: `python -m benchmarks` row {row}.",
        ]
    )

    found = problems(text, _listed_rows)

    assert len(found) == 6, "\n".join(found)
    assert "'78 µs' is quoted without a footnote" in found[0]
    assert "'4,050 req/s' is quoted without a footnote" in found[1]
    assert found[2] == "footnote [^spare] is defined but no figure cites it"
    assert found[3] == "[^gone]: benchmarks prints no row 'a row nobody prints'"
    assert found[4].startswith("[^no-script]: benchmarks.profile_nowhere does not exist")
    assert found[5].startswith("[^vague]: names neither")


def test_each_figure_of_the_scale_sentence_agrees_with_the_table() -> None:
    """The slowdown quoted in prose is the table's ratio, as a percentage (once: 9 % vs 1.16)."""
    text = README.read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| verification with"))
    ratios = re.findall(r"(\d+\.\d{2})", row.split("|")[4])
    sentence = next(
        line
        for line in text.splitlines()
        if f"({ratios[0]})" in line and "%" in line and not line.startswith("|")
    )

    for ratio in ratios:
        percent = round((float(ratio) - 1) * 100)
        assert f"{percent} % ({ratio})" in sentence, (ratio, sentence)
