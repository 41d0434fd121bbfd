"""The notebook tables built by one pass over the rows (analysis.report.event / compare, plots
lookups): hand-built frames, every expected cell written out by hand.

Each case puts the rows the old per-row filtering had to get right in awkward places: a second
row for the same (cell, test) or (firm, window) after the first (the first one is shown), cells
out of display order, a missing window or group (n/a), a row without a key (left out).
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from analysis.inference.design import oversized_here
from analysis.plots import event_label, event_labels, first_rows
from analysis.report import compare
from analysis.report.event import firm_table, group_tests, show_firm_table, show_group_tests

M = "\u2212"  # the minus sign of printed numbers




def test_show_group_tests_one_row_per_cell_in_display_order_first_row_wins(portfolio_holds):
    tests = pd.DataFrame({
        "event_id": ["e2", "e2", "e1", "e1", "e1", "e1", "e1", "e1"],
        "window": ["0:1", "0:1", "0:1", "0:1", "0:1", "0:1", "-1:1", "0:1"],
        "group": ["supplier", "supplier", "supplier", "named", "named", "named", "named", np.nan],
        "n": [3, 3, 4, 2, 2, 2, 2, 9],
        "mean_car": [0.01, 0.01, -0.02, 0.03, 0.03, 0.03, 0.04, 0.5],
        "test": ["portfolio", "bmp_kp", "bmp_kp", "bmp_kp", "portfolio", "bmp_kp", "bmp_kp", "bmp_kp"],
        "statistic": [1.0, 2.5, -1.234, 3.0, 2.0, 9.0, 0.5, 7.0],
        "p_value": [0.3, 0.0123, 0.2, 0.004, 0.06, 0.9, 0.6, 0.0],
        "estimate": [0.0123, np.nan, np.nan, np.nan, 0.025, np.nan, np.nan, np.nan],
        "ci_low": [-0.005, np.nan, np.nan, np.nan, -0.001, np.nan, np.nan, np.nan],
        "ci_high": [0.0296, np.nan, np.nan, np.nan, 0.051, np.nan, np.nan, np.nan],
    })
    data = show_group_tests(tests).data
    # events in order of first appearance (e2, e1), then windows (0:1, -1:1), then GROUP_ORDER
    # (named before supplier); the row without a group is left out
    assert list(zip(data["Event"], data["Window"], data["Group"])) == [
        ("e2", "[0, +1]", "US suppliers"), ("e1", "[0, +1]", "Named firms"), ("e1", "[0, +1]", "US suppliers"),
        ("e1", "[\u22121, +1]", "Named firms")]
    assert list(data["N"]) == [3, 2, 4, 2]
    # the portfolio row's estimate and interval when there is one, else the cell's mean CAR
    assert list(data["Portfolio CAR %"]) == ["1.23", "2.50", f"{M}2.00", "4.00"]
    assert list(data["95% CI %"]) == [f"{M}0.50 to 2.96", f"{M}0.10 to 5.10", "n/a", "n/a"]
    # KP-BMP: the first bmp_kp row of each cell (e1 named: 3.0 with p 0.004, not 9.0)
    assert list(data["KP-BMP t"]) == ["2.50 (0.012)**", "3.00 (0.004)***", f"{M}1.23 (0.200)", "0.50 (0.600)"]
    assert list(data["Portfolio t"]) == ["1.00 (0.300)", "2.00 (0.060)*", "n/a", "n/a"]
    # with history p-values: beside the portfolio CAR, with the floor; n/a without a portfolio row
    hist = tests.assign(p_history=np.where(tests["test"] == "portfolio", 0.000614, np.nan),
                        p_history_floor=np.where(tests["test"] == "portfolio", 1 / 1628, np.nan))
    data = show_group_tests(hist).data
    assert list(data["History p (floor)"]) == ["0.00061 (0.00061)", "0.00061 (0.00061)", "n/a", "n/a"]


def test_group_tests_stars_of_an_oversized_test_come_from_its_calibrated_p_only(portfolio_holds):
    over = sorted(oversized_here())[0]
    tests = pd.DataFrame({"event_id": "e", "group": "named", "window": "0:1", "n": 4, "mean_car": 0.01,
                          "test": [over, "portfolio", over], "statistic": [3.0, 2.0, 1.0],
                          "p_value": [0.001, 0.03, 0.2], "p_calibrated": [0.04, 0.5, np.nan]})
    out = group_tests(SimpleNamespace(tests=tests))
    assert list(out["stars"]) == ["", "**", ""]
    assert list(out["stars_calibrated"]) == ["**", "", ""]


def _firms(**extra):
    base = {"event_id": "e", "symbol": ["AMBA", "AMBA", "INTC", "AMBA", np.nan],
            "name": ["Ambarella", "Ambarella", "Intel", "Ambarella", "Nobody"],
            "role": "supplier", "group": "supplier", "window": ["0:0", "-1:1", "-1:1", "0:0", "0:0"],
            "car": [-0.0251, 0.01, 0.002, 0.5, 0.3], "p": [0.03, 0.3, 0.0001, 0.9, 0.9],
            "note": ["limit-up on day -1", "", "limit-up on day -1", "limit-up on day -1", ""]}
    base.update(extra)
    return pd.DataFrame(base)


def test_show_firm_table_one_row_per_firm_first_row_per_window():
    data = show_firm_table(_firms()).data
    assert list(data["Ticker"]) == ["AMBA", "INTC"]  # the row without a symbol is left out
    assert list(data["CAR[0, 0] %"]) == [f"{M}2.51**", "n/a"]  # AMBA's first 0:0 row, not 50.00
    assert list(data["p[0, 0]"]) == ["0.030", "n/a"]
    assert list(data["CAR[\u22121, +1] %"]) == ["1.00", "0.20***"]
    assert list(data["Notes"]) == [f"limit-up on day {M}1"] * 2  # once per firm, with the minus sign
    data = show_firm_table(_firms(), window="-1:1").data
    assert list(data.columns) == ["Firm", "Ticker", "Group", "CAR[\u22121, +1] %", "p[\u22121, +1]", "Notes"]


def test_firm_table_puts_the_first_limit_extended_window_beside_day_0_only():
    car = pd.DataFrame({
        "event_id": ["e", "e", "e", "e", "e", "f"], "symbol": ["A", "A", "B", "A", "A", "A"],
        "window": ["0:0", "-1:1", "0:0", "0:2", "0:3", "0:0"],
        "window_kind": ["requested", "requested", "requested", "limit_extended", "limit_extended", "requested"],
        "car": [0.1, 0.2, 0.3, 0.25, 0.9, 0.4], "car_se": [0.01, 0.02, 0.03, 0.05, 0.9, 0.04],
        "car_t": [10.0, 10.0, 10.0, 5.0, 1.0, 10.0], "car_p": [0.001, 0.001, 0.001, 0.002, 0.5, 0.001]})
    out = firm_table(SimpleNamespace(car=car))
    assert list(zip(out["event_id"], out["symbol"], out["window"])) == [
        ("e", "A", "0:0"), ("e", "A", "-1:1"), ("e", "B", "0:0"), ("f", "A", "0:0")]
    assert list(out["limit_window"]) == ["0:2", "", "", ""]  # e/A's first extended row; not f/A
    np.testing.assert_array_equal(out["limit_car"], [0.25, np.nan, np.nan, np.nan])
    np.testing.assert_array_equal(out["limit_car_se"], [0.05, np.nan, np.nan, np.nan])
    np.testing.assert_array_equal(out["limit_p"], [0.002, np.nan, np.nan, np.nan])


def test_first_rows_keeps_the_first_row_of_each_key():
    frame = pd.DataFrame({"a": ["x", "y", "x"], "b": [1, 1, 1], "v": [10.0, 20.0, 30.0], "w": [1, 2, 3]})
    assert first_rows(frame, ("a", "b"), ("v", "w")) == {("x", 1): (10.0, 1), ("y", 1): (20.0, 2)}
    assert first_rows(frame.iloc[:0], ("a",), ("v",)) == {}


def test_event_labels_read_the_catalog_once_and_agree_with_event_label():
    events = pd.DataFrame({"event_id": ["a", "b"], "short_title": ["Short A", ""],
                           "title": ["A long title", "B " + "x" * 50], "announced_at": ["2022-03-01T09:00", "2019-05-15"]})
    res = SimpleNamespace(study=SimpleNamespace(events=events))
    assert event_labels(res, ["b", "a", "zz"]) == ["B " + "x" * 38 + ", 15 May 2019", "Short A, 1 Mar 2022", "zz"]
    assert event_labels(res, ["a"], with_date=False) == ["Short A"]
    assert event_label(res, "a") == "Short A, 1 Mar 2022"


def test_show_moved_one_row_per_event_and_na_for_a_missing_group():
    table = pd.DataFrame({
        "event_id": ["e1", "e1", "e2", "e1"], "date": pd.to_datetime(["2022-03-01"] * 2 + ["2019-05-15"] + ["2022-03-01"]),
        "short_title": ["One", "One", "Two", "One"], "kind": ["action", "action", "report", "action"],
        "group": ["named", "supplier", "supplier", "supplier"], "n": [1, 5, 4, 5],
        "mean_car": [-0.05, 0.012, -0.003, 0.9], "p_value": [0.2, 0.004, 0.5, 0.9], "window": "0:1",
        "test": "bmp_kp"})
    data = compare.show_moved(table).data
    assert list(data["Event"]) == ["One", "Two"] and list(data["Date"]) == ["1 Mar 2022", "15 May 2019"]
    assert list(data["Named firms %"]) == [f"{M}5.00 (N = 1, no test)", "n/a"]  # KP-BMP needs 2 firms
    assert list(data["US suppliers %"]) == ["1.20***", f"{M}0.30"]  # e1's first supplier row
    assert list(data["US suppliers p"]) == ["0.004", "0.500"]


def test_pooled_tables_by_kind_by_hand():
    events = pd.DataFrame({"event_id": ["a", "b", "c"], "kind": ["action", "report", "action"],
                           "announced_at": ["2019-05-15", "2022-03-01", "2022-06-01"], "title": ["A", "B", "C"]})
    car = pd.DataFrame({"event_id": ["a", "a", "b", "c", "c", "c"], "symbol": ["S1", "S2", "S1", "S1", "S2", "S3"],
                        "group": "supplier", "window": "0:1",
                        "car": [0.01, -0.03, 0.02, -0.02, np.nan, 0.06]})
    tests = pd.DataFrame({"event_id": ["a", "b", "c"], "group": "supplier", "window": "0:1", "test": "bmp_kp",
                          "n": [2, 1, 2], "mean_car": [-0.01, 0.02, 0.02], "statistic": [1.0, np.nan, 2.0],
                          "p_value": [0.05, np.nan, 0.2]})
    res = SimpleNamespace(study=SimpleNamespace(events=events), car=car, tests=tests)
    out = compare.kind_table(res, "0:1", "bmp_kp")
    # group "all" pools the same firm-events; no test row of its own
    assert list(zip(out["kind"], out["group"])) == [("action", "supplier"), ("report", "supplier"),
                                                    ("action", "all"), ("report", "all")]
    # actions: firm CARs 0.01, -0.03, -0.02, 0.06 (the NaN left out); events a and c
    np.testing.assert_allclose(out["mean_car"], [0.005, 0.02, 0.005, 0.02], rtol=1e-12)
    np.testing.assert_allclose(out["median_car"], [-0.005, 0.02, -0.005, 0.02], rtol=1e-12)
    np.testing.assert_allclose(out["share_negative"], [0.5, 0.0, 0.5, 0.0])
    np.testing.assert_allclose(out["mean_event_car"], [0.005, 0.02, np.nan, np.nan], rtol=1e-12)
    assert list(out["events"]) == [2, 1, 0, 0] and list(out["firm_events"]) == [4, 1, 4, 1]
    assert list(out["events_significant_10"]) == [1, 0, 0, 0] and list(out["events_tested"]) == [2, 0, 0, 0]
    years = compare.year_table(res, "0:1", "bmp_kp")
    assert list(zip(years["year"], years["group"])) == [(2019, "supplier"), (2022, "supplier"), (2019, "all"),
                                                        (2022, "all")]
    assert list(years["firm_events"]) == [2, 3, 2, 3] and list(years["events"]) == [1, 2, 0, 0]
