"""Windows that miss sessions, and the placebo test's handling of suspension-extended windows."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.estimation import engine
from analysis.inference import placebo
from analysis.data.calendars import sessions
from analysis.study import EventStudy


def _two_firm_study(windows, cut_after_day0: int | None):
    """Two synthetic XNYS firms; firm B's prices end ``cut_after_day0`` sessions after day 0."""
    sess = sessions("XNYS", "2018-01-02", "2019-12-31")
    n = len(sess)
    rng = np.random.default_rng(9)
    mkt = 100 * np.cumprod(1 + rng.normal(0, 0.01, n))
    px = {s: 50 * np.cumprod(1 + rng.normal(0, 0.02, n)) for s in ("A", "B")}
    day0 = sess.get_loc(pd.Timestamp("2019-06-03"))
    if cut_after_day0 is not None:
        px["B"][day0 + cut_after_day0 + 1:] = np.nan
    frame = lambda p: pd.DataFrame({"adj_close": p, "close": p, "volume": 1e6}, index=sess)  # noqa: E731
    events = pd.DataFrame([{"event_id": "e1", "announced_at": "2019-06-03", "title": "t", "kind": "report",
                            "source": "s", "announced": pd.Timestamp("2019-06-03")}])
    universe = pd.DataFrame([{"symbol": s, "name": s, "role": "target", "exchange": "XNYS", "benchmark": "IDX"}
                             for s in ("A", "B")])
    prices = {"A": frame(px["A"]), "B": frame(px["B"]), "IDX": frame(mkt)}
    return EventStudy(events=events, universe=universe, prices=prices, windows=windows, placebo_draws=0).fit()


def test_a_window_past_the_end_of_the_data_is_flagged_and_left_out_of_the_tests():
    res = _two_firm_study(["-1:1", "-5:5"], cut_after_day0=1)  # B's last price is on day +1
    car = res.car.set_index(["symbol", "window"])
    assert bool(car.loc[("B", "-1:1"), "complete"]) and not bool(car.loc[("B", "-5:5"), "complete"])
    assert car.loc[("B", "-5:5"), "n_sessions"] == 7  # days -5..+1
    t = res.tests[(res.tests["group"] == "all") & (res.tests["test"] == "t_cs")].set_index("window")
    assert t.loc["-1:1", "n"] == 2 and t.loc["-5:5", "n"] == 1
    assert np.isnan(t.loc["-5:5", "statistic"])  # one firm left: no cross-sectional test
    assert "incomplete window" in res.summary(window="-5:5")


def test_complete_windows_are_marked_complete():
    res = _two_firm_study(["0:0", "-5:5"], cut_after_day0=None)
    assert res.car["complete"].all()


@pytest.mark.shared_prices
def test_placebo_uses_the_sessions_a_suspension_spanning_car_covers(shared_prices, monkeypatch):
    """Hikvision's observed CAR[0,0] on 2019-10-08 is the return at resumption, covering days
    0..2; its pseudo-events must cumulate over [0, 2] too, not over one session."""
    seen = []
    real_run = engine.run

    def spy(store, sec, p0, estimation, windows, min_obs, **kw):
        seen.append([tuple(w) for w in windows])
        return real_run(store, sec, p0, estimation, windows, min_obs, **kw)

    res = EventStudy(prices=shared_prices, event_ids=["entity_list_28_2019"], symbols=["002415.SZ", "INTC"],
                     windows=["0:0"], placebo_draws=0).fit()
    assert bool(res.car.set_index("symbol").loc["002415.SZ", "spans_suspension"])
    monkeypatch.setattr(placebo.engine, "run", spy)
    res.study.placebo_draws = 50
    cells = res.study.cells(res.panel, res.engine_result)  # computes the pseudo-event null law
    assert seen and (0, 2) in seen[0] and (0, 0) in seen[0]
    pl = placebo.Placebo().run(cells)
    assert (pl.extra["draws"] == 50).all()
