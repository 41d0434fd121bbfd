"""README's Python API example runs as written (issue 20) and shows the primary row,
the firm x event table and the workbook."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.shared_prices


def readme_api_example() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_api_example_runs_as_written(shared_prices, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    # the example's paths are relative: ../shared/prices beside the working folder, out/ in it
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "shared").symlink_to(shared_prices.parent, target_is_directory=True)
    monkeypatch.chdir(work)
    code = readme_api_example()
    for call in ("res.summary()", "res.car_table()", "res.to_excel(", "res.primary("):
        assert call in code, call
    # as written but with 200 calibration draws instead of the default 5,000 (about 5 s of CPU
    # less; the example's calls and files do not depend on the number)
    spec_args = "placebo_draws=200)"
    assert code.count(spec_args) == 1 and "calibration_draws" not in code
    code = code.replace(spec_args, "placebo_draws=200, calibration_draws=200)")
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    res = scope["res"]
    summary = res.summary()
    assert "primary: portfolio CAR[0:1]" in str(summary) and "<table" in summary._repr_html_()
    row = res.primary("nyt_hikvision_2019")
    assert row["window"] == "0:1" and row["test"] == "portfolio" and row["group"] == "named"
    assert list(res.car_table().columns) == ["nyt_hikvision_2019", "ft_sdn_2022"]
    assert (work / "out" / "results.xlsx").is_file() and (work / "out" / "car.csv").is_file()
