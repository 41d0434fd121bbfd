"""'The answer', 'Caveats', the methods tables and provenance, without running the pipeline:
primary rows from a small tests.csv written here, the paragraphs' claims only where Holm
supports them, every printed percentage one of the rows' values, caveats from flags, the design
table from design_size.csv, paths relative to the project."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from analysis import fmt
from analysis.report import answer_rows as answer, summary_text

CATALOG = pd.DataFrame({
    "event_id": ["ev_report", "ev_act_a", "ev_act_b"],
    "announced_at": ["2019-05-21T20:00-04:00", "2019-06-21", "2022-10-05"],
    "title": ["Newspaper reports a listing is weighed; more text", "Agency lists firms", "Ministry updates list"],
    "short_title": ["Paper: listing weighed (2019)", "Agency list (Jun 2019)", "Ministry list (Oct 2022)"],
    "kind": ["report", "action", "action"],
})


def _tests() -> pd.DataFrame:
    """Primary rows (portfolio, 0:1, named/supplier) and one non-primary row; values by hand.
    p_holm_history (the tail-robust per-event Holm p) is below 0.05 at ev_report's named firms
    and ev_act_b's named firms."""
    rows = [
        # event, group, n, estimate, ci_low, ci_high, mde, p, p_holm, p_history, p_holm_history
        ("ev_report", "named", 2, -0.0764, -0.1304, -0.0224, 0.0771, 0.0057, 0.0285, 0.001, 0.006),
        ("ev_report", "supplier", 7, -0.0298, -0.0689, 0.0093, 0.0559, 0.135, 0.54, 0.2, 0.8),
        ("ev_act_a", "named", 1, -0.0159, -0.0931, 0.0613, 0.1102, 0.68, 1.0, 0.7, 1.0),
        ("ev_act_a", "supplier", 7, 0.0070, -0.0329, 0.0469, 0.0570, 0.73, 1.0, 0.75, 1.0),
        ("ev_act_b", "named", 3, -0.0776, -0.1129, -0.0423, 0.0504, 0.00002, 0.0001, 0.0008, 0.0048),
        ("ev_act_b", "supplier", 6, 0.0206, -0.0192, 0.0603, 0.0568, 0.31, 0.93, 0.4, 1.0),
    ]
    t = pd.DataFrame(rows, columns=["event_id", "group", "n", "estimate", "ci_low", "ci_high", "mde", "p_value",
                                    "p_holm", "p_history", "p_holm_history"])
    t["window"], t["test"], t["primary"], t["q_bh"], t["flags"] = "0:1", "portfolio", True, t["p_value"], ""
    t["attributable"], t["confounded_by"] = True, ""
    extra = t.iloc[[0]].assign(test="sq", primary=False, p_holm=np.nan, estimate=np.nan)
    return pd.concat([t, extra], ignore_index=True)


def _rows():
    return answer.primary_rows(_tests(), CATALOG)


def test_primary_rows_are_the_primary_family_in_date_order():
    r = _rows()
    assert len(r) == 6 and set(r["event_id"]) == set(CATALOG["event_id"])
    assert list(r["short_title"].drop_duplicates()) == list(CATALOG["short_title"])  # chronological
    assert list(r["group"][:2]) == ["named", "supplier"]
    assert list(r["significant"]) == [True, False, False, False, True, False]  # p_holm < 0.05 only
    assert list(r["claimed"]) == [True, False, False, False, True, False]  # p_holm_history < 0.05, attributable


def _percentages(text: str) -> list[str]:
    return re.findall(r"[\u2212-]?\d+\.\d+%", text)


def test_paragraphs_claim_only_holm_significant_rows_and_print_only_their_values():
    r = _rows()
    members = {("ev_report", "named"): ["Alpha Co", "Beta Co"]}
    qs = summary_text.question_paragraphs(r, members)
    assert [q["question"] for q in qs][:3] == ["Did the news move the firms it named?", "Did it move their US suppliers?",
                                              "Did press reports move prices as much as official acts?"]
    assert qs[3]["question"] == "Did 2022 differ from 2019?"
    named, suppliers = qs[0]["text"], qs[1]["text"]
    # no pooled.csv given: said so; the two claimed rows, with size, interval and the robust Holm p
    assert named.startswith("The pooled answer across events for named firms is not in this run's results.")
    assert "stands out against the firms' own price history at 2 of the 3 events that named a firm of this study" \
        in named
    assert "the 2 named firms (Alpha Co and Beta Co) together lost 7.6% against their market over days 0 and +1 " \
           "(95% CI \u221213.0% to \u22122.2%, Holm p = 0.006)" in named
    assert "the 3 named firms together lost 7.8%" in named and "to \u22124.2%, Holm p = 0.005)" in named
    assert "no single move of US suppliers stands out" in suppliers
    assert "this design would detect moves larger than 5.6% to 5.7%" in suppliers
    assert "after 1 of the 2 official acts (Ministry list (Oct 2022), \u22127.8%)" in qs[2]["text"]
    # an act that named no firm of the study leaves the named firms' count short: the noun says so
    fewer = r[~((r["event_id"] == "ev_act_a") & (r["group"] == "named"))]
    assert "after 1 of the 1 official act that named a firm of this study" in summary_text.kinds_paragraph(fewer)
    assert "In 2019 (2 events), named firms moved after Paper: listing weighed (2019) (\u22127.6%)" in qs[3]["text"]
    # every percentage is estimate, ci_low, ci_high or mde of a primary row, to one decimal
    values = {fmt.pct(abs(v), 1) for col in ("estimate", "ci_low", "ci_high", "mde") for v in r[col]}
    for q in qs:
        for p in _percentages(q["text"]):
            assert p.lstrip("\u2212-").rstrip("%") in values, (p, q["question"])
        # no test statistics on the answer page; the only p is Holm's, beside a claim
        assert not re.search(r"\bt = |(?<!Holm )\bp = ", q["text"]), "no test statistics on the answer page"
    assert "33" not in summary_text.basis_sentence(r) and "over the 6 event tests" in summary_text.basis_sentence(r)


def test_a_claim_carries_its_caution_and_no_extra_percentage():
    """A Holm-significant row whose cell is flagged (other news in the window) says so next to
    the number, without printing any number that is not in tests.csv."""
    r = _rows()
    caution = "other news in the same days: Agency issues export controls (see Caveats)"
    r["caution"] = ["", "", "", "", caution, ""]
    text = summary_text.group_paragraph(r, "named", {})
    assert "lost 7.8% against their market over days 0 and +1 (95% CI \u221211.3% to \u22124.2%, Holm p = 0.005) " \
           f"[caution: {caution}]" in text
    assert text.count("[caution:") == 1  # the unflagged claim carries none
    values = {fmt.pct(abs(v), 1) for col in ("estimate", "ci_low", "ci_high", "mde") for v in r[col]}
    assert all(p.lstrip("\u2212-").rstrip("%") in values for p in _percentages(text))


def test_no_claim_without_the_robust_holm_even_when_the_normal_tail_holm_is_small():
    t = _tests()
    t.loc[t["group"] == "named", "p_holm_history"] = 0.06  # normal-tail Holm < 0.05 at two events, robust not
    text = summary_text.group_paragraph(answer.primary_rows(t, CATALOG), "named", {})
    assert "lost" not in text and "no single move of named firms stands out" in text
    assert "larger than 5.0% to 11.0%" in text


def test_a_run_without_p_history_claims_no_single_event():
    """Until the tail-robust columns exist, a missing column means no per-event claim: never a
    fall-back to the normal-tail p_holm."""
    t = _tests().drop(columns=["p_history", "p_holm_history"])
    r = answer.primary_rows(t, CATALOG)
    assert not r["claimed"].any() and r["significant"].sum() == 2
    text = summary_text.group_paragraph(r, "named", {})
    assert "no move is claimed" in text and "not in this run's results" in text and "lost" not in text


def test_a_cell_that_cannot_be_attributed_is_never_claimed():
    t = _tests()
    t.loc[(t["event_id"] == "ev_act_b") & (t["group"] == "named"), ["attributable", "confounded_by"]] = (
        False, "Commerce (BIS) issues export controls (Fri 7 Oct)")
    r = answer.primary_rows(t, CATALOG)
    assert list(r["claimed"]) == [True, False, False, False, False, False]
    members = {("ev_act_b", "named"): ["Hikvision", "Dahua", "Sugon"]}
    pooled = {"n_events": 2, "estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p_holm": np.nan}
    text = summary_text.group_paragraph(r.assign(confounder_words=["", "", "", "", "Commerce issues export controls",
                                                                   ""]), "named", members, pooled=pooled)
    assert ("After Ministry list (Oct 2022) (5 Oct 2022), Hikvision, Dahua and Sugon fell 7.8%, but the same session "
            "priced other major news (Commerce issues export controls): the move cannot be attributed") in text
    assert "at 1 of the 3 events" in text
    assert text.startswith("Too few events to pool") and "1 more event left out" in text


def test_the_pooled_answer_in_words():
    pooled = {"n_events": 15, "estimate": -0.0304, "ci_low": -0.0547, "ci_high": -0.0061, "p_holm": 0.0357}
    text = summary_text.pooled_sentence("named", pooled, {"i2": 0.711}, n_left_out=1)
    assert text == ("Yes, on average: across the 15 events that named a firm of this study (1 more event left out: "
                    "its move cannot be attributed, see below), named firms lost on average 3.0% against their "
                    "market over days 0 and +1 (95% CI \u22125.5% to \u22120.6%; Holm p = 0.036); the effect varied "
                    "across events (I\u00b2 = 71%: most of their spread exceeds chance).")
    sup = {"n_events": 17, "estimate": -0.0033, "ci_low": -0.0133, "ci_high": 0.0066, "p_holm": 0.49}
    text = summary_text.pooled_sentence("supplier", sup, {"i2": 0.0055})
    assert text.startswith("Not on average: across the 17 events with US suppliers in the data, US suppliers moved "
                           "on average \u22120.3% against their market over days 0 and +1 (95% CI \u22121.3% to 0.7%; "
                           "Holm p = 0.490), not distinguishable from ordinary day-to-day moves")
    assert text.endswith("the events' moves differ little beyond chance (I\u00b2 = 1%).")


def test_robust_firms_need_p_history_and_bh():
    """BH over the 4 firm rows of 0:1 with p_history: p = 0.001, 0.01, 0.04, 0.5 -> q = 0.004,
    0.02, 0.0533, 0.5: two firms; the not attributable one is left out; no column, no firm."""
    car = pd.DataFrame({"event_id": ["ev_report", "ev_act_a", "ev_act_b", "ev_act_b", "ev_act_b"],
                        "symbol": ["A", "B", "C", "D", "E"], "name": ["Amba", "Bco", "Cco", "Dco", "Eco"],
                        "group": ["supplier", "named", "named", "supplier", "named"],
                        "window": ["0:1", "0:1", "0:1", "0:1", "0:0"], "car": [-0.144, 0.05, -0.09, 0.01, -0.3],
                        "p_history": [0.001, 0.01, 0.04, 0.5, 0.0001],
                        "attributable": [True, False, True, True, True]})
    f = summary_text.robust_firms(car, answer.event_titles(CATALOG))
    assert list(f["name"]) == ["Amba"] and f["q"].iloc[0] == pytest.approx(0.004)
    assert summary_text.firm_words(f) == (
        "Individual firms whose own move stands out against their own price history (Benjamini-Hochberg q < 0.05 "
        "over all firms' moves): Amba after Paper: listing weighed (2019) (\u221214.4%). These are single firms, not "
        "a group effect.")
    assert summary_text.robust_firms(car.drop(columns="p_history"), answer.event_titles(CATALOG)).empty


def test_forest_figure_has_one_panel_per_group_and_events_by_short_title():
    import matplotlib

    matplotlib.use("Agg")
    fig = answer.forest_figure(_rows())
    axes = fig.get_axes()
    assert [a.get_title() for a in axes] == ["Named firms", "US suppliers"]
    assert [t.get_text() for t in axes[0].get_yticklabels()] == list(CATALOG["short_title"])
    # with pooled rows: one more line, a diamond spanning the pooled interval in each panel
    from matplotlib.patches import Polygon

    pooled = {"named": {"estimate": -0.03, "ci_low": -0.055, "ci_high": -0.006, "n_events": 3},
              "supplier": {"estimate": -0.003, "ci_low": -0.013, "ci_high": 0.007, "n_events": 3}}
    fig = answer.forest_figure(_rows(), pooled=pooled)
    axes = fig.get_axes()
    assert [t.get_text() for t in axes[0].get_yticklabels()][-1] == "Average over events"
    diamond = [p for p in axes[0].patches if isinstance(p, Polygon)]
    assert len(diamond) == 1
    xs = diamond[0].get_xy()[:, 0]
    assert xs.min() == pytest.approx(-5.5) and xs.max() == pytest.approx(-0.6)


def test_caveats_from_flags():
    from analysis.report.sections import caveats

    titles = dict(zip(CATALOG["event_id"], CATALOG["short_title"]))
    names = {"WDC": "Western Digital", "HIK": "Hikvision"}
    car = pd.DataFrame({
        "event_id": ["ev_act_b", "ev_act_b", "ev_report", "ev_report"],
        "symbol": ["WDC", "WDC", "HIK", "HIK"], "window": ["-1:1", "0:1", "-5:5", "0:1"],
        "car": [0.14, 0.01, -0.1, -0.159], "group": ["supplier", "supplier", "named", "named"],
        "overlaps": ["", "", "ev_act_a", ""], "off_day0_driver": [True, False, False, False],
        "driver_day": [-1, 0, 0, 0], "driver_ar": [0.1393, 0.0, 0.0, 0.0],
        "confounders": ["", "", "", ""], "window_kind": ["requested", "requested", "requested", "limit_extended"],
        "spans_suspension": [False, False, False, False], "suspension_first": [""] * 4, "suspension_last": [""] * 4,
        "limit_flag": ["", "", "", "limit-down on day 0"], "span_last": ["", "", "", "2022-05-06"],
    })
    (d,) = caveats.drivers(car, titles, names)
    assert d == "Ministry list (Oct 2022): Western Digital 13.9% on day \u22121 ([\u22121, +1])."
    (o,) = caveats.overlaps(car, titles, names)
    assert o.startswith("Paper: listing weighed (2019): its window [\u22125, +5] contains day 0 of Agency list (Jun 2019)")
    (lim,) = caveats.suspensions_and_limits(car, titles, names)
    assert "Hikvision closed at limit-down on day 0" in lim and "CAR \u221215.9%" in lim
    tests = _tests()
    small = caveats.small_cells(tests, titles)
    assert len(small) == 1 and small[0].startswith("Named firms: 1 firm at Agency list (Jun 2019)")
    multi = caveats.multiplicity(tests, _rows(), titles)
    assert multi[1].startswith("Primary family (6 tests): 2 below 0.05 before adjustment; Holm leaves 2 standing")
    assert caveats.overlaps(car.assign(overlaps=""), titles, names) == []  # empty category: nothing


def test_design_table_marks_the_oversized_tests():
    from analysis.inference.design import design_table, oversized_here
    from analysis.report.sections.appendix import design_table_spec, independent_table_spec

    spec = design_table_spec()
    t = design_table()
    assert len(spec["rows"]) == t.groupby(["test", "design"]).ngroups
    marked = [r[0]["t"] for r in spec["rows"] if r[-1]["t"] == "oversized here"]
    from analysis.inference.battery import describe

    assert sorted(marked) == sorted(describe(x, "label") for x in oversized_here())
    assert "bmp_kp" not in oversized_here()  # the KP-adjusted BMP holds in every design (README)
    ind = independent_table_spec()
    assert ind is not None and len(ind["rows"]) >= 7  # the README's 44-firm table


def test_paths_are_shown_relative_to_the_project():
    from analysis.paths import PROJECT
    from analysis.report import provenance as prov

    assert prov.display_path(PROJECT / "data" / "events.csv") == "data/events.csv"
    assert prov.display_path(PROJECT.parent / "shared" / "prices") == "../shared/prices"
    text = prov.display_text(f"read from {PROJECT.parent / 'shared' / 'prices'} and {PROJECT}/data/x.csv",
                             PROJECT.parent / "shared" / "prices")
    assert text == "read from ../shared/prices and data/x.csv"
    assert "numba" in prov.versions() and "numba" in prov.PACKAGE_ROLES


@pytest.mark.parametrize("window, words", [("0:1", "over days 0 and +1"), ("0:0", "on day 0"),
                                           ("-1:1", "over days \u22121 to +1 (3 sessions)")])
def test_window_words(window, words):
    assert summary_text.window_words(window) == words


@pytest.mark.parametrize("what, short", [
    ("FOMC raises rates 50bp (first since 2000), 14:00 ET; Dow +932 (+2.8%), Nasdaq +3.2%",
     "FOMC raises rates 50bp, 14:00 ET"),
    ("US stocks reverse: Nasdaq nearly -5%, S&P 500 -3.6%, Dow -1,063", "US stocks reverse"),
    ("Commerce (BIS) issues sweeping export controls on advanced computing chips, supercomputer end uses and "
     "chipmaking equipment for China (Fri 7 Oct); A-shares first trade on them 10 Oct",
     "Commerce issues sweeping export controls on advanced computing chips, supercomputer end uses and chipmaking "
     "equipment for China"),
    ("Commerce (BIS) issues sweeping export controls on advanced computing chips, supercomputer end uses and "
     "chipmaking equipment for China and on the semiconductor tools its foundries buy from abroad (Fri 7 Oct)",
     "Commerce issues sweeping export controls on advanced computing chips, supercomputer end uses and chipmaking "
     "equipment for China…"),  # cut at a word boundary within 130 characters
])
def test_a_caution_names_the_news_without_numbers_in_percent(what, short):
    from analysis.report.sections.answer import _first_clause

    assert _first_clause(what) == short


def test_a_price_limit_makes_a_lower_bound_only_while_it_outlasts_the_window():
    """FT report, 0:1: Hikvision closed limit-down on day 0 and traded freely on day +1, so its
    two-day move is not censored; over 0:0 the window ends at the limit: a censored lower bound."""
    from analysis.report.sections.answer import limit_notes

    assert limit_notes([("Hikvision", "limit-down on day 0"), ("Dahua", ""), ("iFlytek", float("nan"))]) == [
        "Hikvision closed at the daily price limit within the window and traded freely again before its end, "
        "so the move is not cut short"]
    assert limit_notes([("Hikvision", "limit-down on day 0 (reaction censored; continues on day +1)"),
                        ("Sugon", "limit-down on day 0 (reaction censored; continues on day +1)")]) == [
        "Hikvision and Sugon still sat at the daily price limit at the window's end, so the move is a censored "
        "lower bound"]
    assert limit_notes([]) == []


def test_a_carried_over_firm_is_named_as_not_new():
    """A named firm the act only carried over from an earlier list is said to be no news."""
    from analysis.report.sections.answer import carried_note

    assert carried_note(["Hikvision", "Sugon", "Hikvision"]) == (
        "Hikvision and Sugon were already on an earlier version of this list (carried over, not newly named), "
        "so for them the act was not new")
    assert carried_note(["Sugon"]).startswith("Sugon was already") and carried_note([]) == ""


def test_detectable_effect_of_a_pooled_answer_by_hand():
    """se 1%, 16 dof: (t_{16, 0.975} + t_{16, 0.80}) x 0.01 = (2.1199 + 0.8647) x 0.01 = 2.98%,
    printed with one decimal; no se: no sentence."""
    assert summary_text.detectable_words({"se": 0.01, "dof": 16}) == (
        "; the design could detect an average move of about 3.0% (80% power, 5% two-sided)")
    assert summary_text.detectable_words({"se": 0.004, "dof": 4}) == (
        "; the design could detect an average move of about 1.5% (80% power, 5% two-sided)")  # (2.776 + 0.941) x 0.4
    assert summary_text.detectable_words({"se": float("nan"), "dof": 16}) == ""
