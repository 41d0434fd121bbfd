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
