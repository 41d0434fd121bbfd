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
from analysis.report import answer, summary_text

CATALOG = pd.DataFrame({
    "event_id": ["ev_report", "ev_act_a", "ev_act_b"],
    "announced_at": ["2019-05-21T20:00-04:00", "2019-06-21", "2022-10-05"],
    "title": ["Newspaper reports a listing is weighed; more text", "Agency lists firms", "Ministry updates list"],
    "short_title": ["Paper: listing weighed (2019)", "Agency list (Jun 2019)", "Ministry list (Oct 2022)"],
    "kind": ["report", "action", "action"],
})


def _tests() -> pd.DataFrame:
    """Primary rows (portfolio, 0:1, named/supplier) and one non-primary row; values by hand."""
    rows = [
        # event, group, n, estimate, ci_low, ci_high, mde, p, p_holm
        ("ev_report", "named", 2, -0.0764, -0.1304, -0.0224, 0.0771, 0.0057, 0.0285),
        ("ev_report", "supplier", 7, -0.0298, -0.0689, 0.0093, 0.0559, 0.135, 0.54),
        ("ev_act_a", "named", 1, -0.0159, -0.0931, 0.0613, 0.1102, 0.68, 1.0),
        ("ev_act_a", "supplier", 7, 0.0070, -0.0329, 0.0469, 0.0570, 0.73, 1.0),
        ("ev_act_b", "named", 3, -0.0776, -0.1129, -0.0423, 0.0504, 0.00002, 0.0001),
        ("ev_act_b", "supplier", 6, 0.0206, -0.0192, 0.0603, 0.0568, 0.31, 0.93),
    ]
    t = pd.DataFrame(rows, columns=["event_id", "group", "n", "estimate", "ci_low", "ci_high", "mde", "p_value",
                                    "p_holm"])
    t["window"], t["test"], t["primary"], t["q_bh"], t["flags"] = "0:1", "portfolio", True, t["p_value"], ""
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
    # the two Holm-significant rows, with size and interval (printed with one decimal)
    assert named.startswith("Yes, at 2 of the 3 events that named a firm of this study")
    assert "the 2 named firms (Alpha Co and Beta Co) together lost 7.6% against their market over days 0 and +1 " \
           "(95% CI \u221213.0% to \u22122.2%, Holm p = 0.029)" in named
    assert "the 3 named firms together lost 7.8%" in named and "to \u22124.2%, Holm p < 0.001)" in named
    # the rest: not distinguishable, with the detectable effect of the group (all its events, as in Caveats)
    assert "At the remaining event, the moves of named firms are not distinguishable from ordinary day-to-day moves; " \
           "this design would detect moves larger than 5.0% to 11.0%" in named
    assert suppliers.startswith("No. At none of the 3 events")
    assert "larger than 5.6% to 5.7%" in suppliers
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
    assert "33" not in summary_text.basis_sentence(r) and "6 such tests" in summary_text.basis_sentence(r)


def test_a_claim_carries_its_caution_and_no_extra_percentage():
    """A Holm-significant row whose cell is flagged (other news in the window) says so next to
    the number, without printing any number that is not in tests.csv."""
    r = _rows()
    caution = "other news in the same days: Agency issues export controls (see Caveats)"
    r["caution"] = ["", "", "", "", caution, ""]
    text = summary_text.group_paragraph(r, "named", {})
    assert "lost 7.8% against their market over days 0 and +1 (95% CI \u221211.3% to \u22124.2%, Holm p < 0.001) " \
           f"[caution: {caution}]" in text
    assert text.count("[caution:") == 1  # the unflagged claim carries none
    values = {fmt.pct(abs(v), 1) for col in ("estimate", "ci_low", "ci_high", "mde") for v in r[col]}
    assert all(p.lstrip("\u2212-").rstrip("%") in values for p in _percentages(text))


def test_no_claim_without_holm_even_when_the_raw_p_is_small():
    t = _tests()
    t.loc[t["group"] == "named", "p_holm"] = 0.06  # raw p < 0.05 at two events, Holm not
    text = summary_text.group_paragraph(answer.primary_rows(t, CATALOG), "named", {})
    assert text.startswith("No.") and "lost" not in text and "larger than 5.0% to 11.0%" in text


def test_forest_figure_has_one_panel_per_group_and_events_by_short_title():
    import matplotlib

    matplotlib.use("Agg")
    fig = answer.forest_figure(_rows())
    axes = fig.get_axes()
    assert [a.get_title() for a in axes] == ["Named firms", "US suppliers"]
    assert [t.get_text() for t in axes[0].get_yticklabels()] == list(CATALOG["short_title"])


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
