"""Day 0, sessions and returns on a security's own sessions.

Day-0 rule: the first session of the security's exchange whose close is strictly after the
announcement instant; a date-only announcement is taken as made at 09:00 New York time (US acts
and US press appear in US business hours): that date for a US exchange when it is a session, the
next session for Shanghai/Shenzhen, which closed before New York woke up.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.data.calendars import day_zero, returns_on, session_returns, sessions
from analysis.errors import UserError

DAY0_TABLE = [
    # the reference table (these must hold)
    ("2019-05-21T20:00-04:00", "XSHE", "2019-05-22"),
    ("2019-05-21T20:00-04:00", "XNAS", "2019-05-22"),
    ("2019-10-07T18:00-04:00", "XSHE", "2019-10-08"),  # Golden Week: Shanghai/Shenzhen closed Oct 1-7
    ("2019-10-07T18:00-04:00", "XNAS", "2019-10-08"),
    ("2019-05-15T15:30-04:00", "XNAS", "2019-05-15"),  # before the 16:00 close
    ("2019-05-15T15:30-04:00", "XSHE", "2019-05-16"),  # 03:30 Beijing on the 16th
    ("2022-05-04T12:00+01:00", "XSHE", "2022-05-05"),  # Labour Day holiday to May 4; 19:00 Beijing anyway
    ("2022-05-04T12:00+01:00", "XNYS", "2022-05-04"),
    ("2019-10-05", "XNYS", "2019-10-07"),  # date only, a Saturday
    # edge cases
    ("2019-05-15T16:00-04:00", "XNAS", "2019-05-16"),  # exactly at the close: not strictly before it
    ("2019-05-15T15:59:59-04:00", "XNAS", "2019-05-15"),
    ("2019-05-15T20:00Z", "XNAS", "2019-05-16"),  # the same close instant written in UTC
    ("2019-05-22T07:00Z", "XSHE", "2019-05-23"),  # 15:00 Beijing = the Shenzhen close
    ("2019-05-22T06:59Z", "XSHE", "2019-05-22"),
    ("2019-11-29T13:30-05:00", "XNAS", "2019-12-02"),  # day after Thanksgiving: early close 13:00
    ("2019-11-29T12:59-05:00", "XNAS", "2019-11-29"),
    ("2019-11-28T10:00-05:00", "XNAS", "2019-11-29"),  # Thanksgiving: closed
    ("2019-10-05T12:00-04:00", "XNYS", "2019-10-07"),  # a weekend instant
    ("2019-10-05T12:00-04:00", "XSHE", "2019-10-08"),
    ("2019-10-05", "XSHE", "2019-10-08"),  # date only inside Golden Week
    ("2019-05-22", "XSHE", "2019-05-23"),  # date only: 09:00 New York is after the Shenzhen close of the 22nd
    ("2019-05-22", "XNYS", "2019-05-22"),  # date only, a US session: that date
    ("2020-11-12", "XSHE", "2020-11-13"),  # EO 13959 (date only): A-shares first react on Fri 13 Nov
    ("2021-03-12", "XSHE", "2021-03-15"),  # FCC Covered List, Fri (date only): A-shares Mon 15 Mar
    ("2020-06-24", "XSHE", "2020-06-29"),  # DoD 1237 list: Dragon Boat holiday 25-26 Jun
    ("2022-05-04", "XSHE", "2022-05-05"),
    # DST: US clocks moved on Sun 2019-03-10; the NYSE close is 21:00 UTC before, 20:00 UTC after
    ("2019-03-08T20:30Z", "XNYS", "2019-03-08"),  # 15:30 EST
    ("2019-03-11T20:30Z", "XNYS", "2019-03-12"),  # 16:30 EDT
    ("2019-11-01T20:30Z", "XNYS", "2019-11-04"),  # 16:30 EDT (Fri) -> Mon
    ("2019-11-04T20:30Z", "XNYS", "2019-11-04"),  # 15:30 EST after the switch back
    ("2019-05-21T23:59:59+08:00", "XSHE", "2019-05-22"),
]


@pytest.mark.parametrize("announced,mic,expected", DAY0_TABLE)
def test_day_zero(announced, mic, expected):
    assert day_zero(announced, mic) == pd.Timestamp(expected)


def test_day_zero_accepts_timestamps_and_dates():
    assert day_zero(pd.Timestamp("2019-05-21 20:00", tz="America/New_York"), "XSHE") == pd.Timestamp("2019-05-22")
    assert day_zero(pd.Timestamp("2019-10-05"), "XNYS") == pd.Timestamp("2019-10-07")  # naive = date only
    assert day_zero(pd.Timestamp("2019-10-05").date(), "XNYS") == pd.Timestamp("2019-10-07")


def test_time_without_offset_is_refused():
    with pytest.raises((ValueError, UserError)):
        day_zero("2019-05-21T20:00", "XNAS")


def test_unknown_exchange_and_beyond_the_calendar():
    with pytest.raises(UserError):
        day_zero("2019-05-21", "XXXX")
    with pytest.raises(UserError):
        day_zero("2199-01-01", "XNYS")


def test_shenzhen_follows_shanghai_sessions():
    s = sessions("XSHE", "2019-09-27", "2019-10-11")
    assert [d.strftime("%m-%d") for d in s] == ["09-27", "09-30", "10-08", "10-09", "10-10", "10-11"]
    assert s.equals(sessions("XSHG", "2019-09-27", "2019-10-11"))


# ----------------------------------------------------------------------------- returns

DATES = pd.DatetimeIndex(["2019-03-04", "2019-03-05", "2019-03-06", "2019-03-07", "2019-03-08", "2019-03-11",
                          "2019-03-12", "2019-03-13"])


def _frame(adj, dates=DATES):
    adj = pd.Series(adj, index=dates, dtype=float).dropna()
    return pd.DataFrame({"close": adj * 2, "adj_close": adj, "volume": 1000.0}, index=adj.index.rename("date"))


def test_simple_returns_on_adjusted_close():
    sr = session_returns(_frame([10, 11, 9.9, 9.9, 10.89, 10.89 * 1.5, 10.89 * 1.5 * 0.5, 8.0]), "X", "XNYS")
    assert list(sr.sessions) == list(DATES)
    np.testing.assert_allclose(sr.ret[1:], [0.1, -0.1, 0.0, 0.1, 0.5, -0.5, 8.0 / (10.89 * 0.75) - 1], rtol=1e-12)
    assert np.isnan(sr.ret[0]) and sr.span[0] == 0
    assert (sr.span[1:] == 1).all()
    assert sr.ret[3] == 0.0  # a true zero return stays zero


def test_suspension_is_missing_never_zero_and_the_next_return_spans_it():
    # no price rows on 03-06 and 03-07 (two sessions): suspended
    sr = session_returns(_frame([10, 11, np.nan, np.nan, 12.1, 13.31, np.nan, 13.31]), "X", "XNYS")
    assert list(sr.sessions) == list(DATES)  # suspended sessions remain sessions
    assert np.isnan(sr.ret[2]) and np.isnan(sr.ret[3])
    assert sr.span[2] == 0 and sr.span[3] == 0
    assert sr.ret[4] == pytest.approx(12.1 / 11 - 1, rel=1e-12) and sr.span[4] == 3
    assert sr.ret[5] == pytest.approx(0.1, rel=1e-12) and sr.span[5] == 1
    assert np.isnan(sr.ret[6]) and sr.ret[7] == pytest.approx(0.0, abs=1e-15) and sr.span[7] == 2
    assert np.isnan(sr.price[2]) and np.isnan(sr.volume[3])


def test_relative_days_count_own_sessions():
    sr = session_returns(_frame([10, 11, np.nan, np.nan, 12.1, 13.31, 14, 15]), "X", "XNYS")
    p0 = sr.position("2019-03-08")
    assert sr.sessions[p0 - 1] == pd.Timestamp("2019-03-07")  # day -1 is a suspended session, still a session
    assert sr.sessions[p0 + 1] == pd.Timestamp("2019-03-11")  # the weekend is not counted
    with pytest.raises(KeyError):
        sr.position("2019-03-09")


def test_off_calendar_rows_are_dropped_and_counted():
    dates = DATES.append(pd.DatetimeIndex(["2019-03-16"])).sort_values()  # a Saturday
    f = _frame([10, 11, 12, 13, 14, 15, 16, 17, 18], dates)
    sr = session_returns(f, "X", "XNYS")
    assert sr.off_calendar == 1 and pd.Timestamp("2019-03-16") not in sr.sessions


def test_benchmark_returns_on_the_security_sessions():
    sr = session_returns(_frame([10, 11, 12, 13, 14, 15, 16, 17]), "X", "XNYS")
    bench = _frame([100, 101, np.nan, 103, 104, 105, 106, 107])
    rm = returns_on(sr, bench)
    assert rm[1] == pytest.approx(0.01)
    # the benchmark's missing day and the return after it (which would span 2 sessions): NaN
    assert np.isnan(rm[2]) and np.isnan(rm[3])
    assert rm[4] == pytest.approx(104 / 103 - 1)


@pytest.mark.shared_prices
def test_hikvision_returns_from_the_recorded_file(shared_prices):
    raw = pd.read_csv(shared_prices / "002415.SZ.csv", parse_dates=["date"], index_col="date")
    sr = session_returns(raw, "002415.SZ", "XSHE")
    adj = raw["adj_close"]
    p = sr.position("2019-05-22")
    assert sr.ret[p] == pytest.approx(adj["2019-05-22"] / adj["2019-05-21"] - 1, rel=1e-12)
    # 2019-10-08 and 10-09: suspended (removed rows), the 10-10 return spans 3 sessions from 09-30
    for d in ("2019-10-08", "2019-10-09"):
        assert np.isnan(sr.ret[sr.position(d)]) and sr.span[sr.position(d)] == 0
    q = sr.position("2019-10-10")
    assert sr.span[q] == 3
    assert sr.ret[q] == pytest.approx(adj["2019-10-10"] / adj["2019-09-30"] - 1, rel=1e-12)
    assert sr.sessions[q - 3] == pd.Timestamp("2019-09-30")  # the holiday week is not sessions
    assert sr.off_calendar == 0


@pytest.mark.shared_prices
@pytest.mark.parametrize("symbol,mic,suspended", [
    ("002415.SZ", "XSHE", ["2019-10-08", "2019-10-09"]),
    ("002236.SZ", "XSHE", ["2019-10-08", "2019-10-09"]),
    ("300188.SZ", "XSHE", ["2019-03-27", "2019-03-28", "2019-03-29", "2019-04-01"]),
    ("603019.SS", "XSHG", ["2019-06-24", "2019-06-25", "2019-06-26"]),
    ("AMBA", "XNAS", []),
    ("000300.SS", "XSHG", []),
    ("^GSPC", "XNYS", []),
])
def test_recorded_files_agree_with_the_exchange_calendars(shared_prices, symbol, mic, suspended):
    """The sessions with no price are exactly the suspensions listed in SOURCES.md (2017-2022)."""
    raw = pd.read_csv(shared_prices / f"{symbol}.csv", parse_dates=["date"], index_col="date")
    sr = session_returns(raw, symbol, mic)
    assert sr.off_calendar == 0
    window = (sr.sessions >= "2017-01-01") & (sr.sessions <= "2022-12-31")
    missing = sr.sessions[window & np.isnan(sr.price)]
    assert [d.strftime("%Y-%m-%d") for d in missing] == suspended
    # every return is a price ratio with the previous priced session
    r = raw["adj_close"].reindex(sr.sessions).ffill()
    have = ~np.isnan(sr.ret)
    expect = (raw["adj_close"].reindex(sr.sessions) / r.shift(1) - 1).to_numpy()
    np.testing.assert_allclose(sr.ret[have], expect[have], rtol=1e-12)


# --------------------------------------------------------------------------- issue 13, case 9


def test_case9_an_event_before_the_calendar_has_no_day_zero():
    """Issue 13, case 9: an event in 1950 was reported with day 0 2005-01-04."""
    with pytest.raises(UserError, match=r"announcement 1950-06-01 is before the first XNYS session of the "
                                        r"calendar \(1990-01-02\)"):
        day_zero("1950-06-01", "XNYS")
    with pytest.raises(UserError, match=r"before the first XSHE session of the calendar \(1990-12-03\)"):
        day_zero("1990-06-01T10:00+08:00", "XSHE")
    assert day_zero("1995-03-03", "XNYS") == pd.Timestamp("1995-03-03")  # covered now (was 2005 on)


def test_case9_prices_before_2005_are_used(synthetic_study, make_prices):
    """Issue 13, case 9: pre-2005 prices were dropped silently (the calendar started in 2005)."""
    dates = sessions("XNYS", "1998-01-02", "1999-12-31")
    rng = np.random.default_rng(3)
    mkt = rng.normal(0.0005, 0.01, len(dates) - 1)
    prices = {"IDX": make_prices(dates, mkt), "SYN": make_prices(dates, 0.001 + 1.2 * mkt + rng.normal(0, 0.01, len(mkt)))}
    res = synthetic_study({"SYN": ("XNYS", "IDX", "supplier")}, prices,
                          {"old_event": "1999-06-01", "ancient": "1950-06-01"}, windows=["0:0"])
    est = res.estimation.set_index("event_id")
    assert str(est.loc["old_event", "day0"])[:10] == "1999-06-01" and est.loc["old_event", "m"] == 240
    skipped = res.skipped.set_index("event_id")
    assert "before the first XNYS session" in skipped.loc["ancient", "reason"]


def test_calendar_mismatch_counts_dates_that_are_not_sessions():
    from analysis.data.calendars import MAX_OFF_CALENDAR, calendar_mismatch

    us = sessions("XNYS", "2019-01-01", "2019-12-31")
    frame = pd.DataFrame({"adj_close": 1.0}, index=us)
    assert calendar_mismatch(frame, "XNYS") is None
    why = calendar_mismatch(frame, "XSHE")  # US dates on the Shanghai calendar: Golden Week, Spring Festival...
    assert why is not None and why.endswith("are not XSHE sessions (at most 2% may be): is the exchange right?")
    n_off = int((~us.isin(sessions("XSHG", "2019-01-01", "2019-12-31"))).sum())
    assert why.startswith(f"{n_off} of {len(us)} price dates (") and n_off / len(us) > MAX_OFF_CALENDAR
    # A few vendor rows on holidays (at most 2%) are tolerated.
    extra = pd.DatetimeIndex(["2019-07-04", "2019-12-25"])
    assert calendar_mismatch(pd.DataFrame({"adj_close": 1.0}, index=us.union(extra)), "XNYS") is None


def test_calendar_mismatch_equals_a_scan_of_the_dates():
    """The array test (a session table by day number) against a scan with pandas: weekend and
    holiday rows, intraday stamps, missing prices, dates outside the calendar."""
    from analysis.data.calendars import calendar, calendar_mismatch

    rng = np.random.default_rng(3)
    days = pd.date_range("1989-12-01", "2019-12-31", freq="D")
    for mic in ("XNYS", "XSHG"):
        sess = calendar(mic).sessions
        for share in (0.0, 0.015, 0.05, 0.4):
            pick = days[rng.random(len(days)) < 0.05]
            on = pick[pick.isin(sess)]
            off_days = pick[~pick.isin(sess)]
            idx = on.union(off_days[rng.random(len(off_days)) < share])
            stamps = idx[rng.random(len(idx)) < share / 4] + pd.Timedelta(hours=16)
            idx = idx.union(stamps)
            px = np.where(rng.random(len(idx)) < 0.1, np.nan, 1.0)
            frame = pd.DataFrame({"adj_close": px}, index=idx)
            dates = idx[~np.isnan(px)]
            dates = dates[(dates >= sess[0]) & (dates <= sess[-1])]
            off = ~dates.isin(sess)
            got = calendar_mismatch(frame, mic)
            if off.mean() <= 0.02:
                assert got is None, (mic, share)
            else:
                first = dates[int(np.argmax(off))].date()
                assert got is not None and got.startswith(f"{int(off.sum())} of {len(dates)} price dates "
                                                          f"({off.mean():.0%}; first {first})"), (mic, share, got)


# ----------------------------------------------------------------------------- the kept schedule


def _xcals(name: str):
    """The calendar straight from exchange_calendars (the reference the kept copy must equal)."""
    import warnings

    import exchange_calendars as xcals

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal = xcals.get_calendar(name, start="1990-12-03" if name == "XSHG" else "1990-01-01")
        return cal.sessions, cal.closes


@pytest.mark.parametrize("mic", ["XNAS", "XSHE"])
def test_the_kept_schedule_equals_exchange_calendars(tmp_path, monkeypatch, mic):
    from analysis.data import calendars

    monkeypatch.setattr("analysis.paths.cache_dir", lambda: tmp_path)
    built = calendars.calendar.__wrapped__(mic)  # no copy yet: built, then kept
    kept_files = list((tmp_path / calendars.SCHEDULE_CACHE).glob("*.npz"))
    assert len(kept_files) == 1 and kept_files[0].name.startswith(calendars.CALENDAR_ALIASES.get(mic, mic))
    def no_build(name):
        raise AssertionError("built again instead of read from the copy")

    monkeypatch.setattr(calendars, "_build_schedule", no_build)
    read = calendars.calendar.__wrapped__(mic)  # read from the copy
    ref_sessions, ref_closes = _xcals(calendars.CALENDAR_ALIASES.get(mic, mic))
    for got in (built, read):
        assert got.sessions.tz is None and np.array_equal(got.sessions.values, ref_sessions.values)
        assert str(got.closes.dt.tz) == "UTC"
        assert np.array_equal(got.closes.values.astype("datetime64[ns]"), ref_closes.values.astype("datetime64[ns]"))
        assert got.closes.index.equals(got.sessions)
    # day 0 from the copy: Golden Week on Shanghai, after the close on Nasdaq
    monkeypatch.setattr(calendars, "calendar", calendars.calendar.__wrapped__)
    assert str(calendars.day_zero.__wrapped__("2019-10-07T18:00-04:00", mic).date()) == "2019-10-08"


def test_a_damaged_kept_schedule_is_built_again(tmp_path, monkeypatch):
    from analysis.data import calendars

    monkeypatch.setattr("analysis.paths.cache_dir", lambda: tmp_path)
    path = calendars._schedule_file("XNYS")
    path.parent.mkdir(parents=True)
    ref_sessions, _ = _xcals("XNYS")
    bad = {"truncated": b"PK\x03\x04 not a zip",
           "unordered": lambda fh: np.savez(fh, sessions=np.array([2, 1], np.int64), closes=np.array([3, 4], np.int64)),
           "mismatched": lambda fh: np.savez(fh, sessions=np.array([1, 2], np.int64), closes=np.array([3], np.int64))}
    for what, content in bad.items():
        with open(path, "wb") as fh:
            fh.write(content) if isinstance(content, bytes) else content(fh)
        assert calendars._read_schedule(path) is None, what
        got = calendars.calendar.__wrapped__("XNYS")
        assert np.array_equal(got.sessions.values, ref_sessions.values), what
        assert calendars._read_schedule(path) is not None, f"{what}: the copy is written again"


def test_an_unwritable_cache_folder_still_gives_the_calendar(tmp_path, monkeypatch):
    from analysis.data import calendars

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setattr("analysis.paths.cache_dir", lambda: blocker)
    ref_sessions, _ = _xcals("XHKG")
    assert np.array_equal(calendars.calendar.__wrapped__("XHKG").sessions.values, ref_sessions.values)


def test_a_new_copy_replaces_the_copies_of_other_days(tmp_path, monkeypatch):
    from analysis.data import calendars

    monkeypatch.setattr("analysis.paths.cache_dir", lambda: tmp_path)
    folder = tmp_path / calendars.SCHEDULE_CACHE
    folder.mkdir()
    old = folder / "XNYS_1990-01-01_20200101_4.0.0_v1.npz"
    other = folder / "XHKG_1990-01-01_20200101_4.0.0_v1.npz"
    old.write_bytes(b"yesterday")
    other.write_bytes(b"another exchange")
    calendars.calendar.__wrapped__("XNYS")
    assert sorted(p.name for p in folder.iterdir()) == sorted([other.name, calendars._schedule_file("XNYS").name])
