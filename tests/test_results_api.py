"""The results API (issue 20, section 3): typed properties, Summary (text/HTML/LaTeX), car_table,
to_excel, primary(), group names as printed, plot panels, registries."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.shared_prices

EVENTS = ["nyt_hikvision_2019", "ft_sdn_2022"]


@pytest.fixture(scope="module")
def res(shared_prices):
    from analysis import EventStudy

    # the windows of the report: 0:1 and 0:3, no -1:1
    return EventStudy(prices=shared_prices, event_ids=EVENTS, windows=["0:1", "0:3"], placebo_draws=0).fit()


def test_typed_properties_say_what_the_run_was(res):
    assert res.model == "market" and res.estimation_window == "-250:-11"
    assert res.windows == ["0:1", "0:3"] and res.primary_window == "0:1" and res.primary_test == "portfolio"
    assert res.event_ids == EVENTS and list(res.events["event_id"]) == EVENTS
    assert res.groups == ["named", "peer", "supplier", "supplier_other", "all"]
    assert res.spec.placebo_draws == 0
    prim = res.primary_rows
    assert set(prim["window"]) == {"0:1"} and set(prim["test"]) == {"portfolio"}
    assert set(prim["group"]) == {"named", "supplier"} and len(prim) == 4


def test_summary_defaults_to_the_primary_window_and_never_says_no_firm_when_rows_exist(res):
    text = str(res.summary())
    assert "no firm could be studied" not in text
    assert "CAR[0:1] by firm" in text and "every requested window is in car.csv and tests.csv: 0:1, 0:3" in text
    assert "primary: portfolio CAR[0:1]" in text
    assert "Holm over the 2 events of this run" in text
    # another window on request; a window not requested says so instead of "no firm"
    assert "CAR[0:3] by firm" in res.summary(window="0:3")
    other = str(res.summary(window="-1:1"))
    assert "Window -1:1 was not requested" in other and "no firm could be studied" not in other
    assert "no CAR for window -1:1; this event's firms have CARs for 0:1, 0:3" in other


def test_summary_lists_the_primary_test_first_and_the_unsimulated_test(res):
    s = res.summary()
    firms, tests = s.tables()[0], s.tables()[1]
    assert list(firms.columns) == ["symbol", "group", "CAR", "se", "t", "p", "note"]
    assert list(tests.columns)[:4] == ["group", "n", "mean CAR", "portfolio"]
    # the row of the first event's named firms: its CAR as car.csv has it, to 4 decimals
    car = res.car[(res.car["event_id"] == EVENTS[0]) & (res.car["window"] == "0:1")]
    assert firms["CAR"].tolist() == [f"{v:.4f}" for v in car["car"]]


def test_summary_renders_html_and_latex(res):
    s = res.summary()
    html = s._repr_html_()
    assert html.count("<table") == 2 * len(EVENTS) and "Holm over the 2 events of this run" in html
    latex = s.as_latex()
    assert latex.count(r"\begin{tabular}") == 2 * len(EVENTS)
    assert r"nyt\_hikvision\_2019" in latex and "nyt_hikvision_2019" not in latex


def test_car_table_is_firm_by_event(res):
    t = res.car_table()
    assert list(t.columns) == EVENTS and t.index.name == "symbol"
    c = res.car[(res.car["window"] == "0:1")]
    for r in c.itertuples(index=False):
        assert t.at[r.symbol, r.event_id] == r.car
    # XLNX was delisted before the FT report: not fitted, NaN
    assert np.isnan(t.at["XLNX", "ft_sdn_2022"]) and not np.isnan(t.at["XLNX", "nyt_hikvision_2019"])
    amba = res.car[(res.car["window"] == "0:3") & (res.car["symbol"] == "AMBA") & (res.car["event_id"] == EVENTS[0])]
    assert res.car_table("0:3").at["AMBA", EVENTS[0]] == amba["car"].iloc[0]
    assert res.car_table(value="car_p").at["AMBA", EVENTS[0]] == c[(c["symbol"] == "AMBA")
                                                                   & (c["event_id"] == EVENTS[0])]["car_p"].iloc[0]


def test_to_excel_writes_every_table(res, tmp_path):
    from openpyxl import load_workbook

    path = res.to_excel(tmp_path / "res.xlsx")
    wb = load_workbook(path, read_only=True)
    assert wb.sheetnames == ["settings", "car_table", "car", "tests", "abnormal_returns", "estimation", "skipped",
                             "volume", "volume_tests", "sensitivity", "pooled", "exposure_fit"]
    back = pd.read_excel(path, sheet_name="car")
    assert len(back) == len(res.car) and np.allclose(back["car"], res.car["car"])
    settings = pd.read_excel(path, sheet_name="settings").set_index("setting")["value"]
    assert settings["estimation"] == "-250:-11" and settings["primary_window"] == "0:1"


def test_primary_defaults_match_the_summary_and_take_groups_as_printed(res):
    row = res.primary(EVENTS[0])
    assert (row["group"], row["window"], row["test"], bool(row["primary"])) == ("named", "0:1", "portfolio", True)
    assert res.primary(EVENTS[0], group="US suppliers")["group"] == "supplier"
    assert res.primary(EVENTS[0], group="Named firms")["p_value"] == row["p_value"]
    assert res.primary(EVENTS[0], window="-1:1") is None  # not requested
    with pytest.warns(DeprecationWarning):
        assert res.headline(EVENTS[0])["p_value"] == row["p_value"]


def test_plot_draws_one_panel_per_event_with_whole_days_and_full_titles(res):
    fig = res.plot()
    axes = [a for a in fig.axes if a.get_visible()]
    assert len(axes) == len(EVENTS)
    for ax, ev in zip(axes, EVENTS):
        title = res.events.set_index("event_id").at[ev, "title"]
        assert ax.get_title().replace("\n", " ") == f"{ev}: {title}"
        ticks = ax.get_xticks()
        assert np.allclose(ticks, np.round(ticks))
    assert len(res.plot(EVENTS[1]).axes) == 1


def test_every_registered_test_declares_its_null_and_an_unsimulated_test_never_holds():
    from analysis.inference.design import NOT_SIMULATED, OVERSIZED_WORDS, design_table, size_verdict
    from analysis.inference.spec import registered_tests
    from analysis.inference.registry import REGISTRY

    table = design_table()
    for name in registered_tests():
        assert REGISTRY[name].null.strip()
        rows = table[table["test"] == name]
        if rows.empty:
            assert size_verdict(name) == NOT_SIMULATED
        else:
            assert (size_verdict(name) == OVERSIZED_WORDS) == bool((rows["size"] > 0.07).any())
    assert size_verdict("placebo") == NOT_SIMULATED and size_verdict("no_such_test") == NOT_SIMULATED


def test_a_test_without_a_null_cannot_register():
    from analysis.inference.registry import CellTest, register

    class Bare(CellTest):
        name, label, description, words, reference, distribution = "bare", "B", "b", "b", "r", "N(0,1)"

    with pytest.raises(TypeError, match="declares no null"):
        register(Bare)


def test_models_declare_label_formula_and_factors():
    from analysis.estimation.models import MODEL_LABELS, MODELS, factor_models

    for m in MODELS.values():
        assert m.label and m.formula and MODEL_LABELS[m.name] == m.label
    assert factor_models() == ("ff3", "carhart")
    assert MODELS["carhart"].factors == ("mkt_rf", "smb", "hml", "mom", "rf") and MODELS["market"].factors == ()


def test_a_run_without_the_primary_window_shows_its_first_window(shared_prices):
    from analysis import EventStudy

    res = EventStudy(prices=shared_prices, event_ids=[EVENTS[0]], windows=["-1:1", "0:5"], placebo_draws=0).fit()
    assert res.default_window == "-1:1"
    text = str(res.summary())
    assert "CAR[-1:1] by firm" in text and "(the primary window is 0:1)" in text and "not requested" not in text
    assert list(res.car_table().columns) == [EVENTS[0]]
    assert res.primary(EVENTS[0]) is not None and res.primary(EVENTS[0])["window"] == "-1:1"
