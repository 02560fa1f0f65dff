"""The read side stays a read side: selectors import no writer and name no table by literal."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
READERS = [
    "apps/events/selectors.py",
    "apps/events/selectors_search.py",
    "apps/events/time_range.py",
    "apps/nodes/selectors.py",
]
# Modules that write: the rollup writer, services, the ingest view, tasks.
WRITER = re.compile(r"^apps\.\w+\.(rollups|services|ingest|tasks)$")
TABLE_LITERAL = re.compile(r"\b(core|nodes|ips|pools|events)_[a-z_]+\b")


def _imports(path: Path) -> set[str]:
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


@pytest.mark.parametrize("reader", READERS)
def test_readers_import_no_writer(reader):
    writers = sorted(name for name in _imports(ROOT / reader) if WRITER.match(name))
    assert writers == [], f"{reader} imports {writers}"


@pytest.mark.parametrize("reader", READERS)
def test_readers_take_table_names_from_the_models(reader):
    strings = [node.value for node in ast.walk(ast.parse((ROOT / reader).read_text()))
               if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    literals = sorted({match.group(0) for text in strings for match in TABLE_LITERAL.finditer(text)})
    assert literals == [], f"{reader} names tables {literals}: use Model._meta.db_table"


def test_the_checks_see_what_they_look_for():
    assert WRITER.match("apps.events.rollups") and not WRITER.match("apps.events.models.rollups")
    assert TABLE_LITERAL.search("SELECT address FROM ips_sendingip WHERE")
