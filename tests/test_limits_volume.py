"""A-share price limits and abnormal volume: hand-computed cases and the real catalog."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.inference import limits
from analysis.data.calendars import sessions
from analysis.study import EventStudy


def test_limit_fraction_by_board_and_date():
    d = np.array(["2020-08-21", "2020-08-24"], dtype="datetime64[D]")
    assert list(limits.limit_fraction("002415.SZ", d)) == [0.10, 0.10]
    assert list(limits.limit_fraction("603019.SS", d)) == [0.10, 0.10]
    assert list(limits.limit_fraction("300188.SZ", d)) == [0.10, 0.20]  # ChiNext reform
    assert list(limits.limit_fraction("688981.SS", d)) == [0.20, 0.20]  # STAR
    assert list(limits.limit_fraction("002415.SZ", d, st=True)) == [0.05, 0.05]


def test_limit_state_by_hand():
    # previous close 42.49: limit-down 42.49 * 0.9 = 38.241 -> 38.24; limit-up 46.739 -> 46.74
    close = np.array([38.24, 38.25, 46.74, 46.73, np.nan])
    prev = np.full(5, 42.49)
    assert list(limits.limit_state(close, prev, np.full(5, 0.10))) == [-1, 0, 1, 0, 0]


def test_limit_prices_round_half_up_like_the_exchange():
    # 30.05 * 0.9 = 27.045 -> 27.05 (half up); in binary 27.045 is 27.04499..., which np.round sends down
    assert limits.limit_state(np.array([27.05]), np.array([30.05]), np.array([0.10]))[0] == -1
    # 10.05 * 1.1 = 11.055 -> 11.06 limit-up; 11.05 is not at the limit
    assert list(limits.limit_state(np.array([11.06, 11.05]), np.full(2, 10.05), np.full(2, 0.10))) == [1, 0]


def test_reference_previous_close_recovers_ex_dividend_base():
    # raw close 10.00 yesterday, 0.50 dividend: reference base 9.50; today's close 9.69 is +2%
    close, ret = np.array([9.69]), np.array([9.69 / 9.50 - 1])
    assert limits.reference_prev_close(close, ret, np.array([1]))[0] == pytest.approx(9.50)


def test_window_note_says_censored_when_the_limit_is_the_windows_last_day():
    days = np.arange(-2, 4)
    state = np.array([0, 0, -1, 0, 0, 0], dtype=np.int8)
    assert limits.describe_window(state, days, 0, 0) == "limit-down on day 0 (reaction censored; continues on day +1)"
    assert limits.describe_window(state, days, -1, 1) == "limit-down on day 0"
    assert limits.describe_window(state, days, 1, 3) == ""


@pytest.mark.shared_prices
def test_hikvision_limit_down_on_the_ft_report(full_catalog):
    car = full_catalog.car
    row = car[(car["event_id"] == "ft_sdn_2022") & (car["symbol"] == "002415.SZ") & (car["window"] == "0:0")].iloc[0]
    assert row["limit_flag"].startswith("limit-down on day 0")
    assert "censored" in row["limit_flag"]
    ar = full_catalog.abnormal_returns
    day0 = ar[(ar["event_id"] == "ft_sdn_2022") & (ar["symbol"] == "002415.SZ") & (ar["day"] == 0)].iloc[0]
    assert day0["limit"] == "down"
    assert str(day0["date"]) == "2022-05-05"
    # 2019-05-22: Hikvision touched -10% intraday but closed -5.5%: the close was not at the limit
    nyt = car[(car["event_id"] == "nyt_hikvision_2019") & (car["symbol"] == "002415.SZ")]
    assert not nyt["limit_flag"].str.contains("day 0").any()
    # US suppliers never carry limit flags
    assert (car[car["role"] == "supplier"]["limit_flag"] == "").all()


def _volume_study(v_est, v_event):
    """One synthetic XNYS stock whose log(1+volume) is v_est on estimation days and v_event on day 0."""
    sess = sessions("XNYS", "2018-01-02", "2019-12-31")
    n = len(sess)
    rng = np.random.default_rng(5)
    mkt = 100 * np.cumprod(1 + rng.normal(0, 0.01, n))
    stock = 50 * np.cumprod(1 + rng.normal(0, 0.02, n))
    day0 = sess.get_loc(pd.Timestamp("2019-06-03"))
    logv = np.full(n, np.nan)
    logv[day0 - 250: day0 - 10] = v_est
    logv[day0] = v_event
    frame = lambda px, vol: pd.DataFrame({"adj_close": px, "close": px, "volume": vol}, index=sess)  # noqa: E731
    events = pd.DataFrame([{"event_id": "e1", "announced_at": "2019-06-03", "title": "t", "kind": "report",
                            "source": "s", "announced": pd.Timestamp("2019-06-03")}])
    universe = pd.DataFrame([{"symbol": "AAA", "name": "A", "role": "target", "exchange": "XNYS", "benchmark": "IDX"}])
    prices = {"AAA": frame(stock, np.expm1(logv)), "IDX": frame(mkt, np.full(n, np.nan))}
    return EventStudy(events=events, universe=universe, prices=prices, windows=["0:0"], placebo_draws=0).fit()


def test_abnormal_log_volume_by_hand():
    # estimation log volumes alternate 10 and 12 (120 each): mean 11, sd (ddof 1) = sqrt(240/239)
    v_est = np.tile([10.0, 12.0], 120)
    res = _volume_study(v_est, 14.0)
    v = res.volume
    day0 = v[v["day"] == 0].iloc[0]
    assert day0["normal_log_volume"] == pytest.approx(11.0)
    assert day0["sd_log_volume"] == pytest.approx(np.sqrt(240 / 239))
    assert day0["abnormal_log_volume"] == pytest.approx(3.0)
    assert day0["log_volume"] == pytest.approx(14.0)
    vt = res.volume_tests
    one = vt[(vt["group"] == "target") & (vt["window"] == "0:0")].iloc[0]
    assert one["n"] == 1 and one["mean_cav"] == pytest.approx(3.0)
    assert np.isnan(one["statistic"])  # N < 2: not applicable


@pytest.mark.shared_prices
def test_volume_spike_on_the_ft_report(full_catalog):
    v = full_catalog.volume
    hk = v[(v["event_id"] == "ft_sdn_2022") & (v["symbol"] == "002415.SZ")].set_index("day")
    # 117,874,937 shares on 2022-05-05 (recorded file), far above normal
    assert hk.loc[0, "volume"] == pytest.approx(117874937)
    assert hk.loc[1, "abnormal_log_volume"] > 1.0


# --- issue 18: one-price limit days, incl. the first trade after a suspension ---------------------

def test_one_price_rule_by_hand():
    state = np.array([-1, -1, 1, 0, -1])
    high = np.array([36.50, 36.90, 46.74, 40.00, np.nan])
    low = np.array([36.50, 36.50, 46.74, 40.00, 36.50])
    # locked down (high == low); down but traded above the limit; locked up; one price but off the
    # limit (not censored); high unknown
    assert list(limits.one_price(state, high, low)) == [True, False, True, False, False]


def test_sugons_reopening_by_hand():
    """Sugon (603019.SS): last close 40.55 on Fri 21 Jun 2019, suspended 24-26 Jun (days 0..+2),
    reopens Thu 27 Jun at 36.50 = 40.55 * 0.9 = 36.495 -> 36.50 with high = low (day +3; its
    return spans 4 sessions), then closes 35.10 on 28 Jun, off the limit (32.85): the 0:0 CAR
    holds the reopening return and is censored; the extended window is 0:4."""
    ret = np.array([36.50 / 40.55 - 1])
    ref = limits.reference_prev_close(np.array([36.50]), ret, np.array([4]))
    assert ref[0] == pytest.approx(40.55)
    st = limits.limit_state(np.array([36.50]), ref, np.array([0.10]))
    assert st[0] == -1 and limits.one_price(st, np.array([36.50]), np.array([36.50]))[0]
    days = np.arange(-2, 6)
    state = np.array([0, 0, 0, 0, 0, -1, 0, 0], dtype=np.int8)
    locked = state != 0
    span = np.array([1, 1, 0, 0, 0, 4, 1, 1])
    valid = span > 0
    note = limits.describe_window(state, days, 0, 0, locked, np.where(valid, span, 1))
    assert note == ("limit-down on day +3 (one price, high = low; first trade after a 3-session suspension) "
                    "(reaction censored; continues after day +3)")
    assert limits.describe_window(state, days, 0, 5, locked, np.where(valid, span, 1)).startswith("limit-down on day +3")
    assert "censored" not in limits.describe_window(state, days, 0, 5, locked, np.where(valid, span, 1))
    assert limits.describe_window(state, days, -2, -1, locked, span) == ""
    from analysis.inference import flags

    start = flags.day0_cover(valid[None, :], span[None, :], days)
    assert list(start) == [5]  # the column of day +3
    assert list(flags.limit_extended_k(state[None, :], days, start=start)) == [4]
    assert list(flags.limit_extended_k(state[None, :], days)) == [-1]  # day 0's own state: nothing


@pytest.mark.shared_prices
def test_sugons_one_price_reopening_is_flagged_on_the_full_catalog(full_catalog):
    car = full_catalog.car
    s = car[(car["event_id"] == "sugon_entity_list_2019") & (car["symbol"] == "603019.SS")]
    row = s[s["window"] == "0:0"].iloc[0]
    assert "one price" in row["limit_flag"] and limits.CENSORED in row["limit_flag"]
    ext = s[s["window_kind"] == "limit_extended"]
    assert list(ext["window"]) == ["0:4"]
    assert "one price" in ext.iloc[0]["limit_flag"] and limits.CENSORED not in ext.iloc[0]["limit_flag"]
