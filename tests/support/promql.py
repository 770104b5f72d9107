"""PromQL helpers for tests: the metric names an expression reads, and ``promtool`` runs.

Names are found by removing what is not a metric reference (strings, label matchers,
range and offset durations, grouping clauses, function calls, keywords); ``promtool``
(Prometheus' own parser and rule evaluator, Debian package ``prometheus``) checks that
what remains parses, so a mangled expression cannot slip through as "no metrics".
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_OFFSET = re.compile(r"\boffset\s+-?[0-9a-zA-Z]+|@\s*[0-9.]+|@\s*(start|end)\(\)")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "inf", "nan"}
)
_KEYWORDS |= {"group_left", "group_right"}


def metric_names(expr: str) -> set[str]:
    """Every metric name an expression selects."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _OFFSET.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _IDENT.finditer(text):
        rest = text[match.end() :].lstrip()
        word = match.group(0)
        if rest.startswith("(") or word.lower() in _KEYWORDS:
            continue  # a function call or an operator keyword
        names.add(word)
    return names


def promtool() -> str:
    """The ``promtool`` binary; the test command installs it (scripts/services.sh)."""
    found = shutil.which("promtool")
    if found is None:
        raise RuntimeError("promtool is missing: apt-get install prometheus (scripts/services.sh)")
    return found


def run_promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def write_rules(path: Path, groups: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False), encoding="utf-8")
    return path
