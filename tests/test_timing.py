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
    assert "1 of 6 per-event group tests (normal-tail Holm, exploratory) change: Event B, us suppliers: " \
           "significant -> not significant" in text
    assert "(Holm p 0.020 -> 0.800)" in text
    sens.loc[0, "p_value"] = 0.004  # unchanged p: no conclusion changes
    (text,) = after_close(tests, sens, titles, {})
    assert "the same 2 of 6 rows are below 5%" in text
    assert after_close(tests, sens.iloc[:0], titles, {}) == [] and after_close(tests, None, titles, {}) == []


def test_pooled_conclusions_by_hand():
    """Named CARs (-5%, -4%, -6%): pooled_mean t = -0.05 / (0.01 / sqrt 3) = -8.660, 2 dof, p 0.01307;
    suppliers (1%, 2%, 3%): t = 3.464, p 0.07418 (scipy.stats.ttest_1samp). Holm over the 2:
    0.02614 and 0.07418: named significant. After close, b's named CAR becomes -1%: (-5%, -1%, -6%),
    mean -4%, t = -2.619, p 0.1201, Holm 0.1484: the named answer changes."""
    rows = []
    for ev, named, sup in (("a", -0.05, 0.01), ("b", -0.04, 0.02), ("c", -0.06, 0.03)):
        rows += [{"event_id": ev, "group": g, "window": "0:1", "test": "portfolio", "n": 3, "mean_car": car,
                  "statistic": car / 0.01, "p_value": 0.01, "estimate": car, "se": 0.01, "attributable": True}
                 for g, car in (("named", named), ("supplier", sup))]
    tests = pd.DataFrame(rows)
    sens = pd.DataFrame([{"event_id": "b", "date_kind": "after_close", "announced_at": "2021-06-03T16:00-04:00",
                          "group": g, "window": "0:1", "n": 3, "mean_car": car, "statistic": car / 0.01,
                          "p_value": 0.3, "test": "portfolio", "estimate": car, "se": 0.01}
                         for g, car in (("named", -0.01), ("supplier", 0.02))])
    c = timing.pooled_conclusions(tests, sens).set_index("group")
    assert c.loc["named", "estimate_main"] == pytest.approx(-0.05)
    assert c.loc["named", "p_holm_main"] == pytest.approx(2 * 0.013072457560346515)
    assert c.loc["supplier", "p_holm_main"] == pytest.approx(0.07417990022744854)
    assert c.loc["named", "estimate_moved"] == pytest.approx(-0.04)
    assert c.loc["named", "p_holm_moved"] == pytest.approx(min(1.0, max(2 * 0.07417990022744854, 0.12011730987188027)))
    assert bool(c.loc["named", "changed"]) and not bool(c.loc["supplier", "changed"])
    moved = timing.moved_tests(tests, sens)
    assert moved["attributable"].tolist() == [True] * 6  # judged on the main dates


def _timing_frames(named_windows=("0:1", "-1:1")):
    """tests.csv and sensitivity.csv rows of three events over two windows: named and supplier
    portfolio rows (named only in ``named_windows``), and an after-close variant of event b."""
    rows, sens = [], []
    for w, shift in (("0:1", 0.0), ("-1:1", 0.01)):
        for ev, named, sup in (("a", -0.05, 0.01), ("b", -0.04, 0.02), ("c", -0.06, 0.03)):
            for g, car in (("named", named + shift), ("supplier", sup + shift), ("target", named / 2)):
                if g == "named" and w not in named_windows:
                    continue
                rows.append({"event_id": ev, "group": g, "window": w, "test": "portfolio", "n": 3, "mean_car": car,
                             "statistic": car / 0.01, "p_value": 0.01, "estimate": car, "se": 0.01,
                             "attributable": True})
        sens += [{"event_id": "b", "date_kind": "after_close", "group": g, "window": w, "n": 3, "mean_car": car,
                  "statistic": car / 0.01, "p_value": 0.3, "test": "portfolio", "estimate": car, "se": 0.01}
                 for g, car in (("named", -0.01 + shift), ("supplier", 0.02 + shift))]
    car = pd.DataFrame([{"event_id": "a", "group": "named", "window": w, "symbol": "X", "overlaps": "c"}
                        for w in ("0:1", "-1:1")])
    return pd.DataFrame(rows), pd.DataFrame(sens), car


@pytest.mark.parametrize("named_windows", [("0:1", "-1:1"), ("-1:1",)])
def test_report_timing_pooled_equals_the_whole_computation(named_windows):
    """The PDF's timing_pooled passes only the primary window's rows, unless that drops a group
    (named only outside the primary window: the family's groups would change to target): either
    way it equals pooled_conclusions over every window."""
    from types import SimpleNamespace

    from analysis.report import artifacts
    from analysis.report.sections.answer import timing_pooled

    tests, sens, car = _timing_frames(named_windows)
    inputs = SimpleNamespace(_study_tables={artifacts.STUDY_TESTS.name: tests, artifacts.STUDY_CAR.name: car,
                                            "sensitivity": sens})
    expected = timing.pooled_conclusions(tests, sens, car=car)
    if named_windows == ("-1:1",):  # the case the fallback is for: the primary window alone gives other groups
        t0, s0, c0 = (f[f["window"] == "0:1"] for f in (tests, sens, car))
        alone = timing.pooled_conclusions(t0, s0, car=c0)
        assert list(alone["group"]) != list(expected["group"])
    pd.testing.assert_frame_equal(timing_pooled(inputs), expected, check_exact=True)
