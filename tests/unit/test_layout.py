"""The house's layout rules that import-linter cannot state by itself."""

from __future__ import annotations

import ast
import pkgutil
import tomllib
from pathlib import Path

import edge

ROOT = Path(__file__).resolve().parents[2]


def contracts() -> list[dict[str, object]]:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    found: list[dict[str, object]] = cfg["tool"]["importlinter"]["contracts"]
    return found


def test_the_daemon_contract_names_every_module_of_edge_but_the_lab() -> None:
    """A module added to `edge` is in the daemon wing's contract, or it is the lab."""
    daemon = next(c for c in contracts() if str(c["name"]).startswith("The daemon imports"))
    children = {f"edge.{m.name}" for m in pkgutil.iter_modules(edge.__path__)} - {
        "edge.lab", "edge.__main__"}
    assert set(daemon["source_modules"]) == children  # type: ignore[arg-type]


def test_no_contract_has_an_ignore_list() -> None:
    for c in contracts():
        assert "ignore_imports" not in c, c["name"]


def test_firmware_bridge_has_no_edge_import() -> None:
    for path in (ROOT / "firmware_bridge").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n == "edge" or n.startswith("edge.") for n in names), path


def test_modules_stay_under_about_four_hundred_lines() -> None:
    for folder in ("edge", "firmware_bridge", "quantize", "models"):
        for path in (ROOT / folder).rglob("*.py"):
            n = len(path.read_text().splitlines())
            assert n <= 420, f"{path.relative_to(ROOT)}: {n} lines"


def test_every_module_says_its_job_in_a_docstring() -> None:
    for folder in ("edge", "firmware_bridge"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name == "__init__.py" and not path.read_text().strip():
                continue
            assert ast.get_docstring(ast.parse(path.read_text())), path.relative_to(ROOT)
