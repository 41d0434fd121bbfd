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


def test_group_test_table_follows_the_registry(portfolio_holds):
    from analysis.inference.battery import describe
    from analysis.inference.registry import REGISTRY
    from analysis.report.sections.events import test_table_spec

    names = ["placebo", "bmp_kp", "corrado"]  # shuffled on purpose; none oversized here
    tests = pd.DataFrame({"group": "target", "window": "-1:1", "n": 4, "mean_car": -0.0488, "test": names,
                          "statistic": [1.0, -1.5, -2.1], "p_value": [0.3, 0.136, 0.04], "stars": ["", "", "**"]})
    spec = test_table_spec(tests, ["-1:1"], "caption")
    order = [n for n in REGISTRY if n in names]
    assert order == ["bmp_kp", "corrado", "placebo"]
    assert [c["t"] for c in spec["header"][0][3:]] == [describe(n, "label") for n in order]
    row = spec["rows"][1]
    # no portfolio row: the mean of the firms' CARs, marked as such
    assert row[0]["t"] == "Targets" and row[2]["t"] == fmt.pct(-0.0488) == "\u22124.88" and row[2]["sup"] == "a"
    # the note: the table's own flag, then the pointer to the reading guide, which defines the
    # tests and the star rule once (not under each of the 17 event tables)
    assert spec["note"] == ("(a) no portfolio fit: the mean of the firms' CARs instead. "
                            "Tests and stars: see How to read the tables.")
    for n in order:
        assert describe(n, "description") not in spec["note"]


def _battery_rows(event_id="e", windows=("0:1",), groups=(("named", 2), ("supplier", 7))):
    """One row per registered test for each (window, group): statistic -1.5, p 0.0498, calibrated p 0.2."""
    from analysis.inference.battery import REGISTRY

    rows = [{"event_id": event_id, "group": g, "window": w, "n": n, "mean_car": -0.05, "test": t, "statistic": -1.5,
             "p_value": 0.0498, "p_calibrated": 0.2, "estimate": -0.04 if t == "portfolio" else np.nan,
             "ci_low": -0.09 if t == "portfolio" else np.nan, "ci_high": 0.01 if t == "portfolio" else np.nan,
             "flags": ""} for w in windows for g, n in groups for t in REGISTRY]
    return pd.DataFrame(rows)


def test_event_table_shows_the_tests_that_hold_their_size_and_the_appendix_the_others(portfolio_holds):
    from analysis.inference.battery import describe
    from analysis.inference.design import oversized_here
    from analysis.report.context import EventOutputs
    from analysis.report.sections.events import oversized_table_spec, test_table_spec

    over = {describe(t, "label") for t in oversized_here()}
    assert {"Cross-sect. t", "Patell Z", "BMP t"} <= over  # design_size.csv: sizes above 7%
    held = {"Portfolio t", "SQ (CAR_p)", "KP-BMP t", "Corrado", "Placebo z"}
    tests = _battery_rows()
    spec = test_table_spec(tests, ["0:1"], "caption")
    heads = {c["t"] for c in spec["header"][0][3:]}
    assert heads == held and not heads & over
    assert spec["note"].endswith("see How to read the tables; the tests oversized in this design are in Appendix A.")
    assert not any(label in spec["note"] for label in over)  # the reading guide names them, once
    assert "°" not in str(spec["header"])
    # the appendix: one table, every event, only the oversized tests, stars from the calibrated p only
    events = [EventOutputs(info={"event_id": e, "short_title": title}, job=None, status="ok", tests=_battery_rows(e),
                           firms=pd.DataFrame({"window": ["0:1"]}), meta={"windows": ["0:1"]})
              for e, title in (("ev_a", "Entity List: A (2019)"), ("ev_b", "FT: B mulled (2022)"))]
    app = oversized_table_spec(events)
    assert {c["t"] for c in app["header"][0][3:]} == over
    texts = _texts(app)
    assert "Entity List: A (2019)" in texts and "FT: B mulled (2022)" in texts
    assert "ev_a" not in str(app) and "ev_b" not in str(app)
    assert len(app["rows"]) == 2 * (1 + 2)  # per event: its title row, then named firms and US suppliers
    body = [c for row in app["rows"][1:3] for c in row[3:]]
    assert len(body) == 2 * len(over)
    assert all(c["t"] == "\u22121.50 (0.0498)" and c["s"] == "[0.200]" for c in body)  # 0.0498 earns no star here


def test_reading_guide_names_the_tests_in_plain_words_and_the_groups():
    from types import SimpleNamespace

    from analysis.inference.battery import REGISTRY, describe
    from analysis.report.sections.events import reading_guide
    from analysis.vocab import GROUPS, group_color

    # a run whose tables hold named firms, peers and US suppliers (no "target" role group), no volume
    tests = pd.DataFrame([{"group": g, "test": t} for g in ("named", "peer", "supplier") for t in REGISTRY])
    ev = SimpleNamespace(tests=tests, firms=tests.assign(symbol="X"), volume=None, robust=None)
    guide = reading_guide(SimpleNamespace(studied=[ev]))
    from analysis.inference.design import oversized_here

    texts = {t["label"]: t["text"] for t in guide["tests"] + guide["oversized"]}
    assert sorted(texts) == sorted(describe(t, "label") for t in REGISTRY)
    for name in REGISTRY:  # every test has its plain words, and the guide prints them
        assert describe(name, "plain") and texts[describe(name, "label")] == describe(name, "plain")
    assert {t["label"] for t in guide["oversized"]} == {describe(t, "label") for t in oversized_here()}
    # only the groups of the run's tables, in display order: no "Targets" when no table has them
    assert [g["label"] for g in guide["groups"]] == ["Named firms", "Peers", "US suppliers"]
    from matplotlib.colors import to_hex
    assert guide["groups"][0]["color"] == to_hex(group_color("named"))
    heads = [x["head"] for x in guide["numbers"]]
    assert {"(p)", "[p]", "Stars", "Holm p, BH q"} <= set(heads) and "CAV" not in heads
    # with an abnormal-volume table in the run the guide explains CAV (once for every event); the
    # groups of every table count (here "All firms" only in the volume table)
    vol = pd.DataFrame({"group": ["named", "all"], "window": "0:0", "n": [2, 9], "mean_cav": 0.1,
                        "statistic": 1.0, "p_value": 0.3})
    guide = reading_guide(SimpleNamespace(studied=[SimpleNamespace(tests=tests, firms=None, volume=vol, robust=None)]))
    cav = {x["head"]: x["text"] for x in guide["numbers"]}["CAV"]
    assert "log(1 + volume)" in cav and "Campbell & Wasley 1996" in cav
    assert [g["label"] for g in guide["groups"]] == ["Named firms", "Peers", "US suppliers", "All firms"]
    assert reading_guide(SimpleNamespace(studied=[]))["groups"] == []
    assert len(GROUPS) == 7  # named, target, peer, supplier, supplier_other, removed, all


def test_volume_table_points_to_the_reading_guide():
    from analysis.report.sections.events import volume_table_spec

    vol = pd.DataFrame({"group": ["supplier", "named"], "window": "0:0", "n": [7, 2], "mean_cav": [0.69, -0.2],
                        "statistic": [2.0, -0.5], "p_value": [0.004, 0.62]})
    spec = volume_table_spec(vol, ["0:0"], "caption")
    assert spec["note"] == "CAV: see How to read the tables."
    assert [r[0]["t"] for r in spec["rows"]] == ["Named firms", "US suppliers"]
    assert spec["rows"][1][2] == {"t": "0.69", "s": "(0.004)", "sup": "***"}


def test_benchmarks_print_their_names_with_the_ticker():
    from analysis.report.sections.appendix import prices_table
    from analysis.vocab import benchmark_name

    assert benchmark_name("^GSPC") == "S&P 500" and benchmark_name("000300.SS") == "CSI 300"
    assert benchmark_name("^XYZ") == "^XYZ"
    spec = prices_table([{"symbol": "^GSPC", "source": "csv"}, {"symbol": "000300.SS", "source": "csv"},
                         {"symbol": "AMBA", "source": "csv"}], {"AMBA": "Ambarella"})
    assert [(r[0]["t"], r[0]["s"]) for r in spec["rows"]] == [("S&P 500", "^GSPC"), ("CSI 300", "000300.SS"),
                                                             ("Ambarella", "AMBA")]


def test_robustness_tables_put_stars_after_the_parenthesis():
    from analysis.report.sections.robustness import kp_table

    tests = pd.DataFrame({"event_id": "e", "group": "named", "window": "0:1", "n": 3, "mean_car": -0.05,
                          "test": ["bmp", "bmp_kp"], "statistic": [-4.0, -3.1], "p_value": [0.006, 0.006],
                          "r_kp": [np.nan, 0.2]})
    row = kp_table(tests, "0:1")["rows"][0]
    # BMP is oversized here: no stars from its own p; KP-BMP holds its size: 0.006 < 0.01 earns ***
    assert row[5]["s"] == "(0.006)" and row[6]["s"] == "(0.006)***"


def test_reading_guide_comes_before_the_first_event_table():
    text = TEMPLATE.read_text(encoding="utf-8")
    assert text.index("How to read the tables") < text.index("#render-table(ev.firm_table)")
    assert text.index("How to read the tables") < text.index("#render-table(ev.test_table)")


def _firm_rows(**extra):
    base = {"symbol": ["AMBA", "INTC", "002415.SZ"], "name": ["Ambarella", "Intel", "Hangzhou Hikvision"],
            "role": ["supplier", "supplier", "target"], "group": ["supplier", "supplier", "named"],
            "window": ["0:0"] * 3, "car": [-0.0251, 0.01, -0.099], "car_se": [0.0112, 0.01, 0.02],
            "t": [-2.24, 1.0, -4.95], "p": [0.03, 0.3, 0.0001], "stars": ["**", "", "***"], "note": ["", "", ""],
            "overlaps": ["nyt_hikvision_2019", "nyt_hikvision_2019", ""], "off_day0_driver": [False] * 3,
            "driver_day": [0.0] * 3, "driver_ar": [0.0] * 3, "confounders": ["", "", ""],
            "limit_flag": ["", "", "limit-down on day 0 (reaction censored; continues on day +1)"],
            "limit_window": ["", "", "0:2"], "limit_car": [np.nan, np.nan, -0.18],
            "limit_car_se": [np.nan, np.nan, 0.03], "limit_p": [np.nan, np.nan, 0.0002]}
    base.update(extra)
    return pd.DataFrame(base)


def test_firm_table_flags_are_notes_next_to_the_numbers_once_per_table():
    from analysis.report.sections.events import OVERLAP, firm_table_spec

    spec = firm_table_spec(_firm_rows(), ["0:0"], "caption", {"nyt_hikvision_2019": "NYT: Hikvision (2019)"})
    amba = next(r for r in spec["rows"] if r[0]["t"] == "Ambarella")
    intc = next(r for r in spec["rows"] if r[0]["t"] == "Intel")
    letter = intc[1]["sup"]
    assert len(letter) == 1 and amba[1]["sup"] == f"** {letter}"  # the same letter on both rows, stars first
    assert spec["note"].count(f"({letter}) {OVERLAP}") == 1
    assert spec["note"].count(OVERLAP) == 1 and spec["note"].count("NYT: Hikvision (2019)") == 1
    assert "nyt_hikvision_2019" not in str(spec)  # events by short title, never by id
    # groups by label, named firms first; the ticker is the name's second line
    texts = _texts(spec)
    assert texts.index("Named firms") < texts.index("US suppliers")
    assert amba[0]["s"] == "AMBA"


def test_limit_extended_window_sits_beside_the_censored_day0_car():
    from analysis.report.sections.events import firm_table_spec

    spec = firm_table_spec(_firm_rows(), ["0:0", "-1:1"], "caption")
    assert [c["t"] for c in spec["header"][1]][1:4] == ["CAR %", "p", "to limit end %"]
    hik = next(r for r in spec["rows"] if r[0]["t"] == "Hangzhou Hikvision")
    assert hik[1]["t"] == "\u22129.90" and hik[3]["t"] == "\u221218.00" and hik[3]["s"].startswith("[0, +2]")
    assert "limit" in spec["note"]


def test_no_limit_extended_window_when_no_firm_hit_a_limit():
    """An event without a price limit hit has limit_window all NaN (a float column): no extra
    column, and no pandas warning (fillna with text on a float column is refused by pandas 4)."""
    import warnings

    from analysis.report.sections.events import firm_table_spec

    firms = _firm_rows(limit_window=[np.nan] * 3, limit_flag=[""] * 3, limit_car=[np.nan] * 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spec = firm_table_spec(firms, ["0:0", "-1:1"], "caption")
    assert [c["t"] for c in spec["header"][1]][1:] == ["CAR %", "p", "CAR %", "p"]


def test_an_oversized_test_never_carries_stars_from_its_own_p(portfolio_holds):
    from analysis.inference.design import oversized_here
    from analysis.report.event import test_stars
    from analysis.report.sections.events import test_table_spec

    over = sorted(oversized_here())
    assert over, "the design table names oversized tests"
    t = over[0]
    assert test_stars(t, 0.001, 0.30) == ("", "")
    assert test_stars(t, 0.001, 0.02) == ("", "**")
    assert test_stars("portfolio", 0.0498, 0.2) == ("**", "")
    tests = pd.DataFrame({"group": "named", "window": "0:1", "n": 4, "mean_car": -0.05, "test": [t, "portfolio"],
                          "statistic": [-4.0, -2.0], "p_value": [0.001, 0.0498], "p_calibrated": [0.3, 0.2],
                          "estimate": [np.nan, -0.05], "ci_low": [np.nan, -0.0999], "ci_high": [np.nan, -0.0001],
                          "flags": ["", "overlaps"]})
    spec = test_table_spec(tests, ["0:1"], "caption", scope="all")
    row = spec["rows"][1]
    cells = {c["t"]: c for c in row}
    assert cells["\u22124.00"]["s"] == "(0.001)\n[0.300]"  # no star at all
    assert cells["\u22122.00"]["s"] == "(0.0498)**\n[0.200]"
    assert row[2]["t"] == "\u22125.00" and row[2]["s"] == "[\u22129.99, \u22120.01]"  # the portfolio CI
    assert "oversized here" in spec["note"]


def test_fit_names_the_notebook_parameter_when_yahoo_fails():
    from analysis.errors import UserError
    from analysis.report.event import fit

    class Offline:
        prices = None

        def fit(self):
            raise UserError("could not download AMBA from Yahoo Finance (DNSError); check the network or use "
                            "recorded prices with PRICES=DIR (--prices DIR)")

    try:
        fit(Offline())
    except UserError as exc:
        text = str(exc)
    assert 'prices = "../../shared/prices"' in text and "PRICES=" not in text


def test_notebook_tables_have_no_index_and_no_nan(portfolio_holds):
    from analysis.report.event import show_firm_table, show_group_tests

    firms = _firm_rows().assign(event_id="e")
    html = show_firm_table(firms).to_html()
    assert "nan" not in html.lower() and "CAR[0, 0] %" in html and "\u22129.90***" in html
    assert "<th class=\"row_heading" not in html  # no index column
    tests = pd.DataFrame({"event_id": "e", "group": "named", "window": "0:1", "n": 1, "mean_car": -0.05,
                          "test": ["portfolio", "bmp"], "statistic": [-2.0, np.nan], "p_value": [0.0498, np.nan],
                          "estimate": [-0.05, np.nan], "ci_low": [-0.1, np.nan], "ci_high": [0.0, np.nan]})
    html = show_group_tests(tests).to_html()
    assert "nan" not in html.lower() and "n/a" in html and "(0.0498)**" in html


def _moved_rows():
    """Two events: named firms and US suppliers primary (Holm p), peers not (BH q only)."""
    return pd.DataFrame({
        "event_id": ["ev_a"] * 3 + ["ev_b"] * 2, "date": pd.to_datetime(["2019-05-15"] * 3 + ["2022-05-04"] * 2),
        "kind": ["action"] * 3 + ["report"] * 2, "short_title": ["Entity List: A (2019)"] * 3 + ["FT: B (2022)"] * 2,
        "group": ["named", "peer", "supplier", "named", "supplier"], "n": [2, 4, 7, 2, 6],
        "mean_car": [-0.0514, -0.0138, 0.0070, -0.1585, -0.0043], "statistic": [-2.1, -0.6, 0.3, -5.0, -0.2],
        "p_value": [0.0412, 0.534, 0.729, 0.0004, 0.822], "primary": [True, False, True, True, True],
        "p_holm": [0.1648, np.nan, 1.0, 0.0016, 1.0], "q_bh": [0.21, 0.86, 0.9, 0.004, 0.9]})


def test_across_events_tables_print_the_adjusted_p_beside_the_unadjusted(portfolio_holds):
    from analysis.report.sections.across_events import moved_table

    spec = moved_table(_moved_rows(), "0:1", "portfolio")
    assert spec["caption"].endswith("portfolio CAR[0, +1]")
    assert [c["t"] for c in spec["header"][0][3:]] == ["Named firms %", "Peers %", "US suppliers %"]
    a, b = spec["rows"]
    # unadjusted p with its stars, then Holm's p (primary) or BH's q (other groups) with theirs
    assert a[3]["t"] == "\u22125.14" and a[3]["s"] == "(p = 0.041)**\nHolm p = 0.165"
    assert a[4]["s"] == "(p = 0.534)\nBH q = 0.860"
    assert b[3]["s"] == "(p < 0.001)***\nHolm p = 0.002***"
    assert b[4]["t"] == fmt.NA and b[5]["t"] == "\u22120.43"  # ev_b has no peers
    note = " ".join(spec["note"].split())
    assert "Holm's p for the per-event family" in note and "Benjamini-Hochberg q" in note
    assert "equal-weighted portfolio" in note and "mean of the firms' own CARs" in note


def test_named_vs_suppliers_table_prints_holm_p_and_says_which_car(portfolio_holds):
    from analysis.report.sections.across_events import targets_vs_suppliers_table

    tvs = pd.DataFrame({"event_id": ["ev_a"], "date": pd.to_datetime(["2019-05-15"]), "short_title": ["A (2019)"],
                        "targets_mean_car": [-0.0514], "targets_p": [0.0412], "targets_p_holm": [0.1648],
                        "targets_q_bh": [0.21], "suppliers_mean_car": [0.0070], "suppliers_p": [0.729],
                        "suppliers_p_holm": [1.0], "suppliers_q_bh": [0.9], "difference": [-0.0584]})
    spec = targets_vs_suppliers_table(tvs, "0:1", "portfolio")
    assert "portfolio CAR[0, +1]" in spec["caption"]
    row = spec["rows"][0]
    assert row[2]["s"] == "(p = 0.041)**\nHolm p = 0.165" and row[3]["s"] == "(p = 0.729)\nHolm p = 1.000"
    assert row[4]["t"] == "\u22125.84"


def test_pooled_tables_say_their_car_is_the_firms_own():
    from analysis.report.sections.across_events import pooled_table

    frame = pd.DataFrame({"group": ["named"], "kind": ["action"], "events": [3], "firm_events": [5],
                          "mean_car": [-0.1], "median_car": [-0.08], "share_negative": [0.8],
                          "events_significant_10": [1], "events_tested": [3]})
    spec = pooled_table(frame, "kind", "Reports versus actions", "0:1", "portfolio")
    assert "Mean firm CAR %" in _texts(spec) and "not the groups' portfolio CAR" in spec["note"]


def _size_rows():
    return pd.DataFrame({
        "event_id": ["a", "b", "a", "b", "a"], "group": ["named", "named", "supplier", "supplier", "named"],
        "window": ["0:1"] * 5, "test": ["portfolio", "portfolio", "portfolio", "portfolio", "bmp_kp"],
        "p_value": [0.01, 0.2, 0.3, 0.4, 0.02], "primary": [True, True, True, True, False],
        "p_history": [0.0006, 0.3, 0.2, 0.5, np.nan], "p_history_floor": [1 / 1628, 1 / 1628, 1 / 1865, 1 / 1865, np.nan],
        "calibration_draws": [1199.0, 999.0, 1199.0, 999.0, 1199.0], "draws": [1199.0, 999.0, 1199.0, 999.0, 1199.0],
        "size_5pct": [0.09, 0.05, 0.04, 0.05, 0.03]})


def test_caveats_state_the_p_floors_and_the_cells_oversized_in_the_run():
    """Floors: history 1/1865 = 0.00054 to 1/1628 = 0.00061, calibrated 1/1200 = 0.00083 to 1/1000
    = 0.001, placebo 2/1200 = 0.0017 to 2/1000 = 0.002; Holm over 4 primary tests asks 0.0125 (printed 0.013);
    the portfolio test exceeds 7% in 1 of its 4 cells."""
    from analysis.report.sections.caveats import p_floors

    rows = _size_rows()
    none = rows.iloc[[0]].assign(calibration_draws=0.0, draws=0.0, size_5pct=np.nan, primary=False)
    lines = p_floors(pd.concat([rows, none], ignore_index=True))  # a cell without draws has no floor
    assert "floor 0.00054 to 0.00061" in lines[0]
    assert "calibrated p: floor 0.00083 to 0.001" in lines[0]
    assert "placebo p: floor 0.0017 to 0.002" in lines[0]
    assert "Holm over the 4 primary tests asks p < 0.013 of the first" in lines[0]
    assert "Portfolio" in lines[1] and "in 1 of 4 cells" in lines[1]


def test_methods_run_size_table_by_group_and_window():
    """Portfolio, named 0:1: (0.09 x 1199 + 0.05 x 999) / 2198 = 7.18% -> bold, 1 of 2 cells above 7%;
    suppliers (0.04 x 1199 + 0.05 x 999) / 2198 = 4.45%."""
    from analysis.report.sections.appendix import run_size_table_spec

    spec = run_size_table_spec(_size_rows())
    rows = {r[0]["t"]: r[1:] for r in spec["rows"]}
    port = rows[next(k for k in rows if k.lower().startswith("portfolio"))]
    assert port[0]["t"] == "7.2" and port[0]["s"] == "1 of 2 cells > 7%" and port[0].get("b")
    assert port[1]["t"] == "4.5" and port[1]["s"] == "0 of 2 cells > 7%"
    assert run_size_table_spec(_size_rows().drop(columns=["size_5pct"])) is None


def test_event_table_prints_the_history_p_with_its_floor_under_the_portfolio_car(portfolio_holds):
    from analysis.report.sections.events import test_table_spec

    tests = pd.DataFrame({"group": "named", "window": "0:1", "n": 1, "mean_car": -0.158, "test": ["portfolio"],
                          "statistic": [-7.0], "p_value": [5e-11], "estimate": [-0.1585], "ci_low": [-0.2],
                          "ci_high": [-0.117], "p_history": [1 / 1628], "p_history_floor": [1 / 1628], "flags": [""]})
    row = test_table_spec(tests, ["0:1"], "caption")["rows"][1]
    assert row[2]["t"] == "\u221215.85" and row[2]["s"] == "[\u221220.00, \u221211.70]\nhist. p 0.00061 (floor 0.00061)"


def test_pooled_answers_table_prints_each_pooled_row_with_its_observations():
    """The Across-events table of pooled.csv: events and, when events share sessions, the
    independent observations in parentheses; percent estimates (BMP in standard errors); Holm's p
    only on the primary rows; I² on the random-effects row."""
    from analysis.report.sections.across_events import pooled_answers_table

    def row(group, test, scope="attributable", **kw):
        base = {"scope": scope, "group": group, "window": "0:1", "test": test, "n_events": 3,
                "event_ids": "a+b;c;d", "estimate": -0.0325, "se": 0.01, "ci_low": -0.05, "ci_high": -0.015,
                "statistic": -3.25, "dof": 2.0, "p_value": 0.083, "tau2": float("nan"), "i2": float("nan"),
                "p_holm": float("nan")}
        return {**base, **kw}

    pooled = pd.DataFrame([row("named", "pooled_mean", p_holm=0.166), row("named", "pooled_bmp", estimate=-1.5,
                                                                           ci_low=-2.0, ci_high=-1.0),
                           row("named", "pooled_re", i2=0.71), row("supplier", "pooled_mean", scope="all",
                                                                   event_ids="a;b;c", p_holm=float("nan"))])
    t = pooled_answers_table(pooled)
    text = [[c["t"] for c in r] for r in t["rows"]]
    assert text[0][:9] == ["Named firms", "attributable", "Mean across events (t)", "4 (3)", "\u22123.25",
                           "\u22125.00 to \u22121.50", "\u22123.25 (2)", "0.083", "0.166"]
    assert text[1][4] == "\u22121.50" and text[1][8] == ""  # BMP in standard errors, no Holm p
    assert text[2][9] == "I² 71%"
    assert text[3][:4] == ["US suppliers", "all events", "Mean across events (t)", "3"]
    assert pooled_answers_table(pooled.iloc[:0]) is None


def test_records_equal_to_dict_records():
    """sections.common.records gives what DataFrame.to_dict('records') gives, values and types,
    on Arrow strings with a missing one, floats with NaN, ints, bools, objects with None, dates."""
    import math

    from analysis.report.sections.common import records

    def same(a, b):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert list(x) == list(y)
            for k in x:
                assert type(x[k]) is type(y[k]), (k, x[k], y[k])
                assert x[k] == y[k] or (isinstance(x[k], float) and math.isnan(x[k]) and math.isnan(y[k])), k

    frame = pd.DataFrame({"s": pd.array(["a", None, "c"], dtype="str"), "f": [1.5, np.nan, -2.0], "i": [1, 2, 3],
                          "b": [True, False, True], "o": ["x", None, 3], "d": pd.to_datetime(["2020-01-02"] * 3)})
    same(records(frame), frame.to_dict("records"))
    same(records(frame.iloc[:0]), frame.iloc[:0].to_dict("records"))


def test_caveat_drivers_by_hand():
    """Largest move off day 0: per event in order of appearance, per (firm, driver day) the first
    row's AR and every window of that day; rows not flagged, of another window kind or without a
    driver day are left out."""
    from analysis.report.sections.caveats import drivers

    rows = [("e1", "A", "0:1", True, 2, 0.063), ("e1", "A", "-5:5", True, 2, 0.07), ("e1", "B", "-5:5", True, -3, -0.077),
            ("e1", "A", "-1:1", True, -1, -0.02), ("e2", "B", "0:1", True, 1, -0.11), ("e2", "C", "0:1", False, 1, 0.5),
            ("e2", "C", "-1:1", True, np.nan, 0.5), ("e1", "B", "0:5", True, -3, -0.08)]
    car = pd.DataFrame(rows, columns=["event_id", "symbol", "window", "off_day0_driver", "driver_day", "driver_ar"])
    car["window_kind"] = ["requested"] * 7 + ["limit"]
    got = drivers(car, {"e1": "First"}, {"A": "Alpha", "B": "Beta"})
    assert got == ["First: Alpha 6.3% on day +2 ([0, +1], [−5, +5]); Beta −7.7% on day −3 ([−5, +5]); "
                   "Alpha −2.0% on day −1 ([−1, +1]).",
                   "e2: Beta −11.0% on day +1 ([0, +1])."]
