"""The layout rules in docs/architecture.md, checked on the source (ast) so a new module cannot break them.

* ``apps/core`` imports no module app: apps plug into core through its registries
  (``timeseries.TABLES``, ``health.QUEUE_DEPTHS``) from their ``AppConfig.ready()``.
* ``selectors`` modules read: they import no services, tasks or other writers.
* Nothing outside ``apps/demo`` imports the demo app, so production may leave it out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_PACKAGES = ("apps", "mailmon")
# Modules that write (apps.<app>.<name>): a selector importing one of them is a read path with write access.
WRITERS = {"services", "tasks", "ingest", "storage", "rollups", "writers"}


def source_files(*packages: str) -> list[Path]:
    return sorted(
        path
        for package in packages
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    )


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in the file (also inside functions), as absolute names."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            # "from . import services" imports the module apps.<app>.services
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def app_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "apps" else None


def is_writer(module: str) -> bool:
    parts = module.split(".")
    return len(parts) == 3 and parts[0] == "apps" and (parts[2] in WRITERS or parts[2].startswith("services"))


def violations(paths: list[Path], forbidden) -> list[str]:
    return [f"{module_name(p)} imports {m}" for p in paths for m in sorted(imported_modules(p)) if forbidden(m)]


def test_the_scanner_resolves_relative_and_nested_imports(tmp_path, monkeypatch):
    package = tmp_path / "apps" / "things"
    package.mkdir(parents=True)
    sample = package / "selectors.py"
    sample.write_text(
        "from . import services\nfrom .models import Thing\nfrom ..core.audit import x\n"
        "def f():\n    import apps.demo.simulator\n"
    )
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert {"apps.things.services", "apps.things.models", "apps.core.audit", "apps.demo.simulator"} <= (
        imported_modules(sample)
    )
    assert violations([sample], is_writer) == ["apps.things.selectors imports apps.things.services"]


def test_core_imports_no_module_app():
    def other_app(module: str) -> bool:
        return app_of(module) not in (None, "core")

    assert violations(source_files("apps/core"), other_app) == []


SELECTORS = [p for p in source_files("apps") if p.stem == "selectors" or p.stem.startswith("selectors_")]


@pytest.mark.parametrize("path", [pytest.param(p, id=module_name(p)) for p in SELECTORS])
def test_selectors_import_no_services_or_writers(path):
    assert violations([path], is_writer) == []


def test_no_production_module_imports_the_demo_app():
    production = [p for p in source_files(*PRODUCTION_PACKAGES) if app_of(module_name(p)) != "demo"]
    assert violations(production, lambda m: app_of(m) == "demo") == []

