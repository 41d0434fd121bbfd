"""Confounders placed on each market by the events' day-0 rule (issue 18): after-close news, other
markets' news, date-only items, and the flags built on the placement. Expected sessions are read
off the exchange calendars by hand (NYSE/Nasdaq close 16:00 ET, 13:00 on 25 Nov 2022; Shanghai/
Shenzhen close 15:00 Beijing = 03:00 ET in summer, and were shut 1-7 Oct 2022)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from analysis.data.catalog import load_confounders, load_universe
from analysis.data.news_days import place_confounders
from analysis.inference import flags


def _table(rows):
    """rows: (announced_at, symbol, markets, what) -> a placed confounder frame."""
    from analysis.data.catalog import parse_announced_at

    t = pd.DataFrame(rows, columns=["announced_at", "symbol", "markets", "what"])
    t["severity"] = "minor"
    t["source"] = "s"
    t["announced"] = pd.Series([parse_announced_at(a) for a in t["announced_at"]], dtype=object)
    t["day"] = pd.to_datetime(t["announced_at"].str[:10])
    return place_confounders(t)


CASES = [  # announced_at, markets, US session it lands on, A-share session (None: not placed)
    ("2019-06-19T14:00-04:00", "US", "2019-06-19", None),  # FOMC during US trading: never an A-share cell
    ("2019-06-19T14:00-04:00", "all", "2019-06-19", "2019-06-20"),  # ... unless it reaches that market: next day
    ("2022-05-03T16:00-04:00", "US", "2022-05-04", None),  # at/after the 16:00 close: the next session
    ("2019-05-16T14:30-07:00", "US", "2019-05-17", None),  # 17:30 ET, after the close
    ("2022-11-25T14:54-05:00", "all", "2022-11-28", "2022-11-28"),  # after the 13:00 half-day close
    ("2022-11-27", "CN", None, "2022-11-28"),  # Sunday news, China only
    ("2019-06-29", "all", "2019-07-01", "2019-07-01"),  # Saturday
    ("2022-10-07", "all", "2022-10-07", "2022-10-10"),  # date only = 09:00 ET; Shanghai shut until 10 Oct
    ("2019-05-22T02:00-04:00", "all", "2019-05-22", "2019-05-22"),  # 14:00 Beijing: before that day's A-share close
]


@pytest.mark.parametrize("announced_at, markets, us, cn", CASES)
def test_confounder_lands_on_each_markets_next_close(announced_at, markets, us, cn):
    t = _table([(announced_at, "", markets, "news")])
    got_us, got_cn = t.loc[0, "day_US"], t.loc[0, "day_CN"]
    assert (pd.isna(got_us) if us is None else got_us == pd.Timestamp(us))
    assert (pd.isna(got_cn) if cn is None else got_cn == pd.Timestamp(cn))


def _store(calendars):
    """A return store of one security per (exchange, sessions) pair: dates as day numbers."""
    segs = [((pd.DatetimeIndex(s).values.astype("datetime64[D]") - np.datetime64("1970-01-01", "D"))
             .astype(np.int64)) for s in calendars]
    dates = np.concatenate(segs)
    start = np.cumsum([0] + [len(s) for s in segs[:-1]])
    return SimpleNamespace(dates=dates, start=np.array(start), length=np.array([len(s) for s in segs]))


def test_flags_place_other_markets_news_on_the_securitys_own_market():
    """An FT report on Wed 4 May 2022: US day 0 = 4 May; A-share day 0 = Thu 5 May (Shanghai shut
    for Labour Day until then). AMD's results after the 3 May close land on AMD's day 0 (not day -1);
    an FOMC statement at 14:00 ET on 4 May (US only) lands on the US day 0 and on no A-share day;
    the same statement marked ``all`` lands on the A-share day 0 (5 May: they trade after it)."""
    from analysis.data.calendars import sessions

    us = sessions("XNAS", "2022-04-25", "2022-05-13")
    cn = sessions("XSHG", "2022-04-25", "2022-05-13")
    store = _store([us, cn, cn])
    table = _table([("2022-05-03T16:00-04:00", "AMD", "US", "AMD results"),
                    ("2022-05-04T14:00-04:00", "", "US", "FOMC US only"),
                    ("2022-05-04T14:00-04:00", "", "all", "FOMC everywhere")])
    p0 = np.array([us.get_loc(pd.Timestamp("2022-05-04")), cn.get_loc(pd.Timestamp("2022-05-05")),
                   cn.get_loc(pd.Timestamp("2022-05-05"))])
    lo, hi = np.array([0, -1, -1]), np.array([0, -1, 0])  # windows 0:0, -1:-1, -1:0
    got = flags.confounders(store, np.array([0, 1, 2]), p0, np.array(["AMD", "002415.SZ", "AMD"]), lo, hi, table,
                            exchanges=np.array(["XNAS", "XSHE", "XSHE"]))
    assert got[0, 0] == "AMD results | FOMC US only | FOMC everywhere"  # AMD, day 0
    assert got[0, 1] == ""  # AMD, day -1 (3 May): the results came after that close
    assert got[1, 0] == "FOMC everywhere" and got[1, 1] == ""  # Hikvision: the US-only statement never lands
    assert got[1, 2] == "FOMC everywhere"
    # an A-share security with AMD's symbol would still not get a US-only firm item
    assert got[2, 0] == "FOMC everywhere"
    # without the exchanges: the old calendar-date rule (first session on or after the date)
    old = flags.confounders(store, np.array([0]), p0[:1], np.array(["AMD"]), lo, hi, table)
    assert old[0, 1] == "AMD results"  # the bug of the issue: the results on day -1
    rows = flags.confounder_rows(store, np.array([0]), p0[:1], np.array(["AMD"]), lo, hi, table,
                                 exchanges=np.array(["XNAS"]))
    assert list(rows[0, 0]) == [0, 1, 2] and list(table.loc[rows[0, 0], "severity"]) == ["minor"] * 3


def test_shipped_confounders_are_timed_and_rated():
    conf = place_confounders(load_confounders(symbols=load_universe()["symbol"]))
    assert set(conf["severity"]) == {"major", "minor"} and set(conf["markets"]) <= {"US", "CN", "all"}
    export = conf[conf["what"].str.startswith("Commerce (BIS) issues sweeping export controls")].iloc[0]
    assert export["severity"] == "major" and export["markets"] == "all"
    assert export["day_CN"] == pd.Timestamp("2022-10-10")
    amd = conf[(conf["symbol"] == "AMD") & (conf["day"] == pd.Timestamp("2022-05-03"))].iloc[0]
    assert amd["day_US"] == pd.Timestamp("2022-05-04") and pd.isna(amd["day_CN"])


@pytest.mark.shared_prices
def test_shipped_confounders_sit_on_the_issue_days(full_catalog):
    car = full_catalog.car
    req = car[car["window_kind"] == "requested"] if "window_kind" in car.columns else car

    def conf(event_id, symbol, window):
        return req[(req["event_id"] == event_id) & (req["symbol"] == symbol) & (req["window"] == window)].iloc[0][
            "confounders"]

    assert "AMD Q1 2022 results" in conf("ft_sdn_2022", "AMD", "0:0")  # day 0 of the FT report
    assert "NVIDIA Q1 FY2020" not in conf("huawei_entity_list_2019", "NVDA", "0:0")
    assert "NVIDIA Q1 FY2020" in conf("huawei_entity_list_2019", "NVDA", "0:1")  # day +1
    assert "AMD pre-announces" not in conf("dod_1260h_list_2022", "AMD", "0:1")
    assert "AMD pre-announces" in conf("dod_1260h_list_2022", "AMD", "0:5")  # day +2
    # the FOMC statement of 4 May 2022 (US only) is not listed against Hikvision
    assert "FOMC raises rates" not in conf("ft_sdn_2022", "002415.SZ", "-5:5")


@pytest.mark.parametrize("C", [3, 64, 65])
def test_hit_patterns_are_each_positions_own_hits(C):
    """Every position with a hit gets the pattern of its own hits (a scan), each pattern once;
    keys of one word (C <= 64) and rows (C > 64) alike."""
    rng = np.random.default_rng(C)
    hits = rng.random((300, 4, C)) < 0.4 / C
    hits[5, 1] = True  # every item
    hits[7, 2, -1] = True  # the last item alone
    where, inv, patterns = flags._hit_patterns(hits)
    flat = hits.reshape(-1, C)
    np.testing.assert_array_equal(where, [k for k in range(len(flat)) if flat[k].any()])
    for k, at in enumerate(where):
        np.testing.assert_array_equal(patterns[inv[k]], flat[at])
    assert len({p.tobytes() for p in patterns}) == len(patterns) == len({flat[at].tobytes() for at in where})
