"""The PDF's parts without running the pipeline: artifacts (names, units, reading back), the
section registry against the template, and the tables of the event section (decimals in,
percent out; test labels and order from the registry, group labels from the vocabulary)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import fmt
from analysis.report import artifacts

TEMPLATE = Path(__file__).resolve().parents[1] / "analysis" / "report" / "template.typ"


def _texts(spec: dict) -> list[str]:
    return [c["t"] if isinstance(c, dict) else c for row in spec["header"] + spec["rows"] for c in row]


def test_artifacts_have_unique_names_and_their_files(tmp_path):
    assert len(artifacts.ARTIFACTS) == len({a.files for a in artifacts.ARTIFACTS.values()})
    assert artifacts.CAR_BY_FIRM.files == ("car_by_firm.csv",)
    assert artifacts.META.files == ("meta.json",)
    # each figure is drawn once, in the PDF's format
    assert artifacts.CAR_PATH.files == ("car_path.svg",)
    assert artifacts.CAR_PATHS.files == ("car_paths.svg",)


def test_tables_round_trip_with_empty_text_as_blank(tmp_path):
    frame = pd.DataFrame({"symbol": ["A", "B"], "car": [-0.0123456789012, np.nan], "stars": ["**", ""],
                          "note": ["", "spans a suspension"]})
    path = artifacts.save_table(frame, tmp_path, artifacts.CAR_BY_FIRM)
    assert path == tmp_path / "car_by_firm.csv"
    back = artifacts.read_table(tmp_path, artifacts.CAR_BY_FIRM)
    assert list(back["stars"]) == ["**", ""] and list(back["note"]) == ["", "spans a suspension"]
    assert back["car"].iloc[0] == -0.01234567890 and np.isnan(back["car"].iloc[1])  # 10 significant digits
    assert artifacts.read_table(tmp_path, artifacts.GROUP_TESTS) is None


def test_find_figure_prefers_svg(tmp_path):
    assert artifacts.find_figure(tmp_path, artifacts.HEATMAP) is None
    (tmp_path / "heatmap.png").write_bytes(b"png")
    assert artifacts.find_figure(tmp_path, artifacts.HEATMAP) == tmp_path / "heatmap.png"
    (tmp_path / "heatmap.svg").write_text("<svg/>")
    assert artifacts.find_figure(tmp_path, artifacts.HEATMAP) == tmp_path / "heatmap.svg"


def test_every_section_has_a_block_in_the_template():
    from analysis.report.sections import SECTIONS

    keys = [k for k, _ in SECTIONS]
    assert len(keys) == len(set(keys))
    template = TEMPLATE.read_text(encoding="utf-8")
    for key in keys:
        assert re.search(rf"\bdata\.{key}\b", template), f"template.typ does not use data.{key}"


def test_firm_table_prints_decimals_as_percent():
    from analysis.report.sections.events import firm_table_spec

    firms = pd.DataFrame({"symbol": ["AMBA", "002415.SZ"], "name": ["Ambarella", "Hikvision"],
                          "role": ["supplier", "target"], "window": ["-1:1"] * 2, "car": [0.0251, -0.076671],
                          "car_se": [0.0112, 0.0326], "t": [2.24, -2.35], "p": [0.03, 0.0194],
                          "stars": ["**", "**"], "note": ["", ""]})
    spec = firm_table_spec(firms, ["-1:1"], "caption")
    texts = _texts(spec)
    # roles in vocabulary order (targets first) with the vocabulary's labels
    assert texts.index("Targets") < texts.index("US suppliers")
    hik = next(row for row in spec["rows"] if row[0]["t"] == "Hikvision")
    assert hik[1]["t"] == "\u22127.67" and hik[1]["s"] == "(3.26)" and hik[1]["sup"] == "**"


def test_group_test_table_follows_the_registry():
    from analysis.inference.battery import describe
    from analysis.inference.registry import REGISTRY
    from analysis.report.sections.events import test_table_spec

    names = ["placebo", "bmp_kp", "t_cs"]  # shuffled on purpose
    tests = pd.DataFrame({"group": "target", "window": "-1:1", "n": 4, "mean_car": -0.0488, "test": names,
                          "statistic": [1.0, -1.5, -2.1], "p_value": [0.3, 0.136, 0.04], "stars": ["", "", "**"]})
    spec = test_table_spec(tests, ["-1:1"], "caption")
    order = [n for n in REGISTRY if n in names]
    assert [c["t"] for c in spec["header"][0][3:]] == [describe(n, "label") for n in order]
    row = spec["rows"][1]
    assert row[0]["t"] == "Targets" and row[2]["t"] == fmt.pct(-0.0488) == "\u22124.88"
    for n in order:
        assert f"{describe(n, 'label')}: {describe(n, 'description')}" in spec["note"]
