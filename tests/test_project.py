"""Project-level checks: dependency lists agree, the CLI entry points exist."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(spec: str) -> str:
    return re.split(r"[<>=!~ \[]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject_runtime() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    deps = data["project"]["dependencies"] + data["project"]["optional-dependencies"]["test"]
    return {_name(d): d.replace(" ", "") for d in deps}


def _environment_packages() -> dict[str, str]:
    out = {}
    text = (ROOT / "environment.yml").read_text()
    deps = text[text.index("dependencies:"):]
    for line in deps.splitlines():
        m = re.match(r"^\s*-\s+([A-Za-z0-9_.\-]+[^#]*)$", line)
        if not m:
            continue
        spec = m.group(1).strip()
        if spec.startswith(("-e", "pip")) or spec.startswith("python"):
            continue
        out[_name(spec)] = spec.replace(" ", "")
    return out


def test_environment_yml_lists_the_same_packages_as_pyproject():
    py = _pyproject_runtime()
    env = _environment_packages()
    assert set(py) == set(env), f"only in pyproject: {set(py) - set(env)}; only in environment.yml: {set(env) - set(py)}"
    for name, spec in py.items():
        assert env[name].replace("_", "-").lower() == spec.replace("_", "-").lower(), (name, spec, env[name])


def test_every_dependency_has_a_lower_bound():
    for name, spec in _pyproject_runtime().items():
        assert ">=" in spec, f"{name} has no lower bound: {spec}"


def test_environment_installs_the_project_itself():
    assert re.search(r"^\s*-\s*-e\s+\.\s*$", (ROOT / "environment.yml").read_text(), re.M)


def test_gitignore_keeps_caches_and_reports_out_of_git():
    ignored = (ROOT / ".gitignore").read_text().split()
    for entry in ("data/cache/", ".venv/", "reports/*"):
        assert entry in ignored


def test_readme_box_names_every_module():
    """README's "What is in the box" names every module and subpackage of analysis/ (and no
    module that no longer exists)."""
    import re

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    box = text.split("## What is in the box", 1)[1].split("### Libraries", 1)[0]
    named = set(re.findall(r"\b([a-z_]+\.(?:py|typ|yml))\b", box)) | set(re.findall(r"\b([a-z_]+)/", box))
    pkg = ROOT / "analysis"
    modules = {p.name for p in pkg.rglob("*.py") if p.name not in ("__init__.py", "__main__.py")
               and "__pycache__" not in p.parts and p.parent.name != "sections"}
    modules |= {p.name for p in pkg.rglob("*.typ")}
    subpackages = {p.parent.name for p in pkg.rglob("__init__.py") if p.parent != pkg}
    missing = sorted((modules - named) | (subpackages - named))
    assert not missing, f"README's box does not name: {missing}"
    stale = sorted(n for n in named if n.endswith(".py") and not n.startswith("test_") and n not in modules)
    assert not stale, f"README's box names modules that do not exist: {stale}"


def test_ci_smoke_runs_every_benchmark_script():
    """Benchmarks are code: .ci/run runs every script of benchmarks/ in its --smoke mode, and each
    script declares that mode."""
    ci = (ROOT / ".ci" / "run").read_text()
    scripts = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py"))
    assert scripts
    missing = [s for s in scripts if f"smoke {s}" not in ci]
    assert not missing, f".ci/run does not smoke-run: {missing}"
    no_mode = [s for s in scripts if "--smoke" not in (ROOT / "benchmarks" / f"{s}.py").read_text()]
    assert not no_mode, f"no --smoke mode: {no_mode}"
