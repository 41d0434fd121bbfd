"""The after-close variant of date-only announcements (issue 18): its instant, day 0s, the moved
tests and the primary family's conclusions, on hand-made numbers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.data.calendars import day_zero
from analysis.inference import timing


def test_after_close_instant_and_day0s():
    # Thu 3 Jun 2021 (EDT): 16:00 New York = 20:00 UTC; US day 0 moves from 3 Jun to Fri 4 Jun,
    # A-share day 0 stays Fri 4 Jun
    ts = timing.after_close_instant(pd.Timestamp("2021-06-03"))
    assert ts == pd.Timestamp("2021-06-03 20:00", tz="UTC")
    assert timing.after_close_text(pd.Timestamp("2021-06-03")) == "2021-06-03T16:00-04:00"
    assert timing.after_close_text(pd.Timestamp("2020-11-12")) == "2020-11-12T16:00-05:00"  # EST
    assert day_zero(pd.Timestamp("2021-06-03"), "XNAS") == pd.Timestamp("2021-06-03")
    assert day_zero(ts, "XNAS") == pd.Timestamp("2021-06-04")
    assert day_zero(ts, "XSHE") == day_zero(pd.Timestamp("2021-06-03"), "XSHE") == pd.Timestamp("2021-06-04")
    # Fri 25 Jun 2021 after the close: Mon 28 Jun
    assert day_zero(timing.after_close_instant(pd.Timestamp("2021-06-25")), "XNAS") == pd.Timestamp("2021-06-28")
    with pytest.raises(ValueError):
        timing.after_close_instant(pd.Timestamp("2021-06-03 20:00", tz="UTC"))


def _tests():
    rows = []
    for ev, p_named, p_sup in (("a", 0.001, 0.30), ("b", 0.02, 0.004), ("c", 0.50, 0.60)):
        rows += [{"event_id": ev, "group": "named", "window": "0:1", "test": "portfolio", "n": 2, "mean_car": -0.05,
                  "statistic": -3.0, "p_value": p_named, "estimate": -0.05},
                 {"event_id": ev, "group": "supplier", "window": "0:1", "test": "portfolio", "n": 5,
                  "mean_car": 0.01, "statistic": 1.0, "p_value": p_sup, "estimate": 0.01},
                 {"event_id": ev, "group": "supplier", "window": "0:1", "test": "t_cs", "n": 5, "mean_car": 0.01,
                  "statistic": 1.0, "p_value": 0.5, "estimate": np.nan}]
    return pd.DataFrame(rows)


def test_moved_tests_and_conclusions_by_hand():
    """Main family p = (0.001, 0.30, 0.02, 0.004, 0.50, 0.60): Holm (m = 6): 0.001*6 = 0.006,
    0.004*5 = 0.02, 0.02*4 = 0.08, ...: significant a/named and b/supplier. After close, event b's
    supplier p becomes 0.20 (its named row unchanged: A-shares keep their day 0): sorted 0.001,
    0.02, 0.20, ...: Holm 0.006, 0.02*5 = 0.10, 0.20*4 = 0.80: only a/named. So b/supplier changes."""
    tests = _tests()
    sens = pd.DataFrame([{"event_id": "b", "date_kind": "after_close", "announced_at": "2021-06-03T16:00-04:00",
                          "group": g, "window": "0:1", "n": n, "mean_car": m, "statistic": s, "p_value": p,
                          "test": "portfolio"}
                         for g, n, m, s, p in (("named", 2, -0.05, -3.0, 0.02), ("supplier", 5, -0.002, -1.3, 0.20))])
    moved = timing.moved_tests(tests, sens)
    row = moved[(moved["event_id"] == "b") & (moved["group"] == "supplier") & (moved["test"] == "portfolio")].iloc[0]
    assert row["p_value"] == 0.20 and row["mean_car"] == -0.002 and np.isnan(row["estimate"])
    assert moved.loc[moved["test"] == "t_cs", "p_value"].tolist() == [0.5] * 3  # other tests untouched
    assert moved[moved["event_id"] != "b"].equals(tests[tests["event_id"] != "b"])
    c = timing.conclusions(tests, sens).set_index(["event_id", "group"])
    assert c.loc[("a", "named"), "p_holm_main"] == pytest.approx(0.006)
    assert c.loc[("b", "supplier"), "p_holm_main"] == pytest.approx(0.02)
    assert c.loc[("b", "named"), "p_holm_moved"] == pytest.approx(0.10)
    assert c.loc[("b", "supplier"), "p_holm_moved"] == pytest.approx(0.80)  # third smallest of 6: 0.20 * 4
    assert c["changed"].sum() == 1 and bool(c.loc[("b", "supplier"), "changed"])
    assert bool(c.loc[("b", "supplier"), "moved"]) and not bool(c.loc[("a", "named"), "moved"])
    # no variant rows: nothing moves, nothing changes
    assert not timing.conclusions(tests, sens.iloc[:0])["changed"].any()


def test_the_pdf_says_whether_a_conclusion_changes():
    from analysis.report.sections.caveats import after_close

    tests = _tests()
    sens = pd.DataFrame([{"event_id": "b", "date_kind": "after_close", "announced_at": "2021-06-03T16:00-04:00",
                          "group": "supplier", "window": "0:1", "n": 5, "mean_car": -0.002, "statistic": -1.3,
                          "p_value": p, "test": "portfolio"} for p in (0.20,)])
    titles = {"a": "Event A", "b": "Event B", "c": "Event C"}
    (text,) = after_close(tests, sens, titles, {})
    assert text.startswith("1 event has no time of day and is taken as announced at 09:00 New York time")
    assert "1 of 6 primary conclusions change: Event B, us suppliers: significant -> not significant" in text
    assert "(Holm p 0.020 -> 0.800)" in text
    sens.loc[0, "p_value"] = 0.004  # unchanged p: no conclusion changes
    (text,) = after_close(tests, sens, titles, {})
    assert "no conclusion of the primary family changes" in text and "same 2 of 6 rows" in text
    assert after_close(tests, sens.iloc[:0], titles, {}) == [] and after_close(tests, None, titles, {}) == []
