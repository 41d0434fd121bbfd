"""The notebooks are thin, parameterized and stored clean.

- exactly one cell tagged ``parameters`` (papermill), holding plain assignments of literals;
- no outputs and no execution counts in the repository;
- no function or class definitions (any logic belongs in ``analysis/``);
- the report pipeline's configuration only passes parameters the notebooks declare.
"""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _parameters_cell(nb: dict) -> dict:
    cells = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, "expected exactly one cell tagged 'parameters'"
    return cells[0]


def test_the_two_notebooks_exist():
    names = {p.name for p in NOTEBOOKS}
    assert {"event_study.ipynb", "compare_events.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_a_parameters_cell_of_literals(path):
    nb = _load(path)
    cell = _parameters_cell(nb)
    assert cell["cell_type"] == "code"
    tree = ast.parse(_source(cell))
    names = []
    for node in tree.body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name), (
            f"{path.name}: the parameters cell must hold plain assignments, found {ast.dump(node)[:80]}")
        ast.literal_eval(node.value)  # papermill overrides it with literals; the default must be one too
        names.append(node.targets[0].id)
    assert len(names) == len(set(names)), "a parameter is assigned twice"
    for required in ("prices", "output_dir", "model", "windows", "estimation"):
        assert required in names, f"{path.name}: parameter {required} missing"
    values = {n.targets[0].id: ast.literal_eval(n.value) for n in tree.body}
    assert values["prices"] is None, "the default prices must be None (Yahoo Finance)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path):
    nb = _load(path)
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs", []) == [], f"{path.name}: cell {i} has outputs"
            assert cell.get("execution_count") is None, f"{path.name}: cell {i} has an execution count"
    assert "papermill" not in nb.get("metadata", {}), f"{path.name}: an executed copy was committed"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_thin(path):
    nb = _load(path)
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        src = _source(cell)
        tree = ast.parse(src)
        for node in ast.walk(tree):
            assert not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)), (
                f"{path.name}: cell {i} defines a function or class; move the logic into analysis/")
        if "parameters" not in cell.get("metadata", {}).get("tags", []):
            assert len(src.splitlines()) <= 12, f"{path.name}: cell {i} is long; move the logic into analysis/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_imports_the_analysis_package(path):
    nb = _load(path)
    code = "\n".join(_source(c) for c in nb["cells"] if c["cell_type"] == "code")
    assert "from analysis" in code
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


def test_pipeline_configuration_matches_the_notebooks():
    """Every parameter the default configuration passes is declared by its notebook."""
    from analysis.report.config import load_config

    cfg = load_config()
    for spec in cfg.notebooks:
        nb = _load(spec.path)
        declared = {n.targets[0].id for n in ast.parse(_source(_parameters_cell(nb))).body}
        assert set(spec.parameters) <= declared, f"{spec.name}: unknown {set(spec.parameters) - declared}"
        if spec.per_event:
            assert "event_id" in declared
        assert {"output_dir", "prices", "price_snapshot", "progress"} <= declared
