"""Tests of analysis.data.prices: recorded CSV prices, symbol validation, the Yahoo source and its cache.

The Yahoo tests never touch the network: a fake ``yfinance.download`` serves the recorded CSVs in
yfinance 1.x's own output format (MultiIndex columns ``(Price, Ticker)``, ``end`` exclusive).
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.data import prices
from analysis.errors import UserError
from analysis.data.prices import (
    PRICE_COLUMNS,
    CsvSource,
    YahooSource,
    get_source,
    load_prices,
    validate_symbol,
)


# Row counts documented in ../shared/prices/SOURCES.md.
DOCUMENTED_ROWS = {
    "000300.SS": 1954, "002230.SZ": 1773, "002236.SZ": 1819, "002415.SZ": 1819, "300188.SZ": 1817,
    "399001.SZ": 1484, "399006.SZ": 1484, "603019.SS": 1818, "AMBA": 2059, "AMD": 2059, "INTC": 2059,
    "NVDA": 2059, "QQQ": 2264, "SMH": 2146, "SOXX": 2146, "STX": 2059, "VOO": 2008, "WDC": 2059,
    "XLNX": 1540, "^GSPC": 2136, "^HSI": 2112, "^IXIC": 2110, "^SOX": 2264,
    # Huawei's US suppliers named by the press in May 2019, ZTE and Inspur (SOURCES.md rows; the
    # A-shares' counts exclude their suspended days; NPTN, IPHI and ACIA end 2020-12-11, ACIA starts at its 2016 IPO)
    "QCOM": 2059, "AVGO": 2059, "MU": 2059, "QRVO": 2059, "SWKS": 2059, "LITE": 2059, "COHR": 2059,
    "TXN": 2059, "ADI": 2059, "MRVL": 2059, "FN": 2059, "AAOI": 2059, "SYNA": 2059,
    "NPTN": 1246, "IPHI": 1246, "ACIA": 1155, "000063.SZ": 1750, "000977.SZ": 1808,
}


def assert_price_frame(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == PRICE_COLUMNS
    assert all(dtype == np.float64 for dtype in frame.dtypes)
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert frame.index.name == "date"
    assert frame.index.tz is None
    assert (frame.index == frame.index.normalize()).all()
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    assert frame["adj_close"].notna().all()


# --------------------------------------------------------------------------- CSV source, real files


@pytest.mark.shared_prices
def test_csv_hikvision_recorded_file(shared_prices):
    frame = CsvSource(shared_prices).fetch("002415.SZ")
    assert_price_frame(frame)
    assert len(frame) == 1819
    assert frame.index[0] == pd.Timestamp("2016-01-04") and frame.index[-1] == pd.Timestamp("2023-06-30")
    # Suspended 2019-10-08/09 are absent: 2019-09-30 is followed by 2019-10-10.
    assert pd.Timestamp("2019-10-08") not in frame.index and pd.Timestamp("2019-10-09") not in frame.index
    i = frame.index.get_loc(pd.Timestamp("2019-09-30"))
    assert frame.index[i + 1] == pd.Timestamp("2019-10-10")
    # 2019-05-22: adj_close return equals the raw close return 26.07 / 27.60 - 1 (no ex-date that day).
    ret = frame["adj_close"].pct_change()
    day = pd.Timestamp("2019-05-22")
    assert ret[day] == pytest.approx(-0.0554348, abs=1e-6)
    assert ret[day] == pytest.approx(26.07 / 27.60 - 1, abs=1e-6)
    # Blank OHLC cells (2023-04-06..2023-06-30) are NaN, the rows are kept for adj_close.
    tail = frame.loc["2023-04-06":]
    assert len(tail) == 57
    assert tail[["open", "high", "low", "close"]].isna().all().all()
    assert tail["volume"].notna().all()


@pytest.mark.shared_prices
def test_csv_every_recorded_file_loads_with_documented_rows(shared_prices):
    source = CsvSource(shared_prices)
    found = sorted(p.name[: -len(".csv")] for p in shared_prices.glob("*.csv"))
    assert found == sorted(DOCUMENTED_ROWS)
    for symbol, rows in DOCUMENTED_ROWS.items():
        frame = source.fetch(symbol)
        assert_price_frame(frame)
        assert len(frame) == rows, symbol


@pytest.mark.shared_prices
def test_csv_start_end_are_inclusive_dates(shared_prices):
    frame = CsvSource(shared_prices).fetch("AMBA", start="2019-05-20", end=pd.Timestamp("2019-05-24"))
    assert list(frame.index.strftime("%Y-%m-%d")) == [
        "2019-05-20", "2019-05-21", "2019-05-22", "2019-05-23", "2019-05-24"
    ]
    with pytest.raises(UserError, match="no prices"):
        CsvSource(shared_prices).fetch("AMBA", start="2030-01-01")
    with pytest.raises(UserError, match="invalid start date"):
        CsvSource(shared_prices).fetch("AMBA", start="yesterday-ish")


@pytest.mark.shared_prices
def test_csv_name_and_describe(shared_prices):
    source = CsvSource(shared_prices)
    assert source.name == f"csv:{shared_prices}"
    info = source.describe("^GSPC")
    path = shared_prices / "^GSPC.csv"
    assert info == {"source": "csv", "path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


# --------------------------------------------------------------------------- CSV source, bad files

GOOD_HEADER = "date,open,high,low,close,adj_close,volume\n"


@pytest.mark.parametrize(
    "text, row, field, problem",
    [
        (GOOD_HEADER + "2020-01-02,1,1,1,1,1,10\n2020-01-03,1,1,1,1,1,10\n2020-13-40,1,1,1,1,1,10\n",
         3, "date", "not a date"),
        (GOOD_HEADER + "2020-01-02,1,1,1,1,1,10\n2020/01/03,1,1,1,1,1,10\n", 2, "date", "not a date"),
        ("date,open,high,low,close,volume\n2020-01-02,1,1,1,1,10\n", None, "adj_close", "missing required column"),
        ("open,adj_close\n1,1\n", None, "date", "missing required column"),
        (GOOD_HEADER + "2020-01-02,1,1,1,1,1,10\n2020-01-03,1,1,1,abc,1,10\n", 2, "close", "not a number"),
        (GOOD_HEADER + "2020-01-02,1,1,1,1,1.5.2,10\n", 1, "adj_close", "not a number"),
        (GOOD_HEADER + "2020-01-02,1,1,1,1,inf,10\n", 1, "adj_close", "not a finite number"),
        (GOOD_HEADER + "2020-01-02,1,1,1,1,-3,10\n", 1, "adj_close", "must be positive"),
        (GOOD_HEADER + "2020-01-02,1,1,1,1,1,-10\n", 1, "volume", "must not be negative"),
        (GOOD_HEADER + "2020-01-02,1,1,1,1,1,10\n2020-01-03,1,1,1,1,1,10\n2020-01-02,1,1,1,1,1,10\n",
         3, "date", "duplicate date 2020-01-02 (first seen at row 1)"),
    ],
    ids=["bad-date-row3", "slash-date", "no-adj_close", "no-date", "non-numeric", "two-dots", "inf",
         "negative-price", "negative-volume", "duplicate-date"],
)
def test_csv_bad_input_names_file_row_field(tmp_path, text, row, field, problem):
    path = tmp_path / "BAD.csv"
    path.write_text(text)
    with pytest.raises(UserError) as err:
        CsvSource(tmp_path).fetch("BAD")
    msg = str(err.value)
    assert msg.startswith(str(path) + ":")
    assert f"field '{field}'" in msg
    assert problem in msg
    if row is None:
        assert ": row " not in msg
    else:
        assert f": row {row}," in msg
    assert "\n" not in msg


def test_csv_missing_file_and_folder(tmp_path):
    with pytest.raises(UserError) as err:
        CsvSource(tmp_path).fetch("NOPE")
    assert str(err.value) == f"no file {tmp_path / 'NOPE.csv'} for symbol NOPE"
    with pytest.raises(UserError, match="does not exist"):
        CsvSource(tmp_path / "absent")


def test_csv_optional_columns_blank_cells_blank_lines_and_order(tmp_path):
    # Yahoo-style header, only some columns, unsorted, a blank line, a row without adj_close.
    (tmp_path / "X.csv").write_text(
        "Date,Close,Adj Close\n2020-01-06,11,10.5\n\n2020-01-02,10,9.5\n2020-01-03,10.2,\n2020-01-07 00:00:00,12,11\n"
    )
    frame = CsvSource(tmp_path).fetch("X")
    assert_price_frame(frame)
    assert list(frame.index.strftime("%Y-%m-%d")) == ["2020-01-02", "2020-01-06", "2020-01-07"]
    assert frame["adj_close"].tolist() == [9.5, 10.5, 11.0]
    assert frame["open"].isna().all() and frame["volume"].isna().all()
    # The blank line still counts as a row, so row numbers match the file's line numbers - 1.
    (tmp_path / "Y.csv").write_text("date,adj_close\n2020-01-02,1\n\n2020-01-06,x\n")
    with pytest.raises(UserError, match=r"row 3, field 'adj_close'"):
        CsvSource(tmp_path).fetch("Y")


# --------------------------------------------------------------------------- symbols


@pytest.mark.parametrize(
    "symbol",
    ["../etc/passwd", "a/b", "a\\b", "x\x00", "..", "", " AMBA", "AM BA", "AMBA\n", ".AMBA", "A..B", "^",
     "^^GSPC", "A" * 22, "AMBA;rm", None, 5],
)
def test_validate_symbol_rejects(symbol):
    with pytest.raises(UserError) as err:
        validate_symbol(symbol)
    assert str(err.value).startswith(f"invalid symbol {symbol!r}: expected a Yahoo Finance symbol")


@pytest.mark.parametrize("symbol", ["^GSPC", "002415.SZ", "AMBA", "BRK-B", "0020.HK", "EURUSD=X", "GC=F", "000300.SS"])
def test_validate_symbol_accepts(symbol):
    assert validate_symbol(symbol) == symbol


def test_symbol_validated_before_any_file_access(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    (tmp_path / "secret.csv").write_text("date,adj_close\n2020-01-02,1\n")
    with pytest.raises(UserError, match="invalid symbol"):
        CsvSource(tmp_path / "sub").fetch("../secret")
    with pytest.raises(UserError, match="invalid symbol"):
        CsvSource(tmp_path / "sub").describe("../secret")

    def no_download(*args, **kwargs):
        raise AssertionError("downloader called for an invalid symbol")

    src = YahooSource(cache_dir=tmp_path / "cache", downloader=no_download)
    with pytest.raises(UserError, match="invalid symbol"):
        src.fetch("../../x")
    assert not (tmp_path / "cache").exists()


# --------------------------------------------------------------------------- Yahoo source (fake yfinance)

YF_FIELDS = {"Adj Close": "adj_close", "Close": "close", "High": "high", "Low": "low", "Open": "open",
             "Volume": "volume"}


class FakeYahoo:
    """Stands in for ``yfinance.download``: serves ``<folder>/<SYMBOL>.csv`` like yfinance 1.x.

    ``failures``: exceptions (or the string "empty") to produce on the first calls, in order.
    ``price_factor`` / ``adj_factor`` / ``volume_factor`` simulate a new adjustment base (split, dividend).
    """

    def __init__(self, folder, failures=(), price_factor=1.0, adj_factor=1.0, volume_factor=1.0):
        self.folder = Path(folder)
        self.failures = list(failures)
        self.price_factor, self.adj_factor, self.volume_factor = price_factor, adj_factor, volume_factor
        self.calls = []

    def __call__(self, tickers, start=None, end=None, **kwargs):
        self.calls.append({"symbol": tickers, "start": start, "end": end, **kwargs})
        if self.failures:
            failure = self.failures.pop(0)
            if failure == "empty":
                return pd.DataFrame()
            raise failure
        path = self.folder / f"{tickers}.csv"
        if not path.is_file():  # what yfinance does for an unknown symbol
            logging.getLogger("yfinance").error(f"${tickers.upper()}: possibly delisted; no price data found")
            return pd.DataFrame()
        raw = pd.read_csv(path, index_col="date", parse_dates=["date"])
        raw = raw[(raw.index >= pd.Timestamp(start)) & (raw.index < pd.Timestamp(end))]  # end exclusive
        ticker = tickers.upper()
        data = {}
        for field, col in YF_FIELDS.items():  # yfinance sorts the Price level alphabetically
            values = raw[col]
            if col == "volume":
                values = (values * self.volume_factor).round().astype("int64")
            elif col == "adj_close":
                values = values * self.adj_factor
            else:
                values = values * self.price_factor
            data[(field, ticker)] = values
        frame = pd.DataFrame(data, index=pd.DatetimeIndex(raw.index, name="Date"))
        frame.columns = pd.MultiIndex.from_tuples(list(data), names=["Price", "Ticker"])
        return frame

    def spans(self):
        return [(c["start"], c["end"]) for c in self.calls]


class DNSError(OSError):
    """Like curl_cffi.requests.exceptions.DNSError (an OSError subclass)."""


@pytest.fixture
def sleeps(monkeypatch):
    slept = []
    monkeypatch.setattr(prices.time, "sleep", slept.append)
    return slept


def recorded(folder, symbol, start, end):
    return CsvSource(folder).fetch(symbol, start, end)


def test_default_downloader_is_real_yfinance(tmp_path):
    import yfinance

    src = YahooSource(cache_dir=tmp_path)
    assert src.downloader is yfinance.download
    assert isinstance(get_source(cache_dir=tmp_path), YahooSource)
    assert get_source(cache_dir=tmp_path, refresh=True).refresh is True
    assert isinstance(get_source(prices_dir=tmp_path), CsvSource)


@pytest.mark.shared_prices
def test_yahoo_download_cache_and_incremental_fetch(shared_prices, tmp_path, sleeps):
    fake = FakeYahoo(shared_prices)
    src = YahooSource(cache_dir=tmp_path / "cache", downloader=fake)

    first = src.fetch("AMBA", "2019-03-01", "2019-06-30")
    assert_price_frame(first)
    pd.testing.assert_frame_equal(first, recorded(shared_prices, "AMBA", "2019-03-01", "2019-06-30"))
    assert fake.calls == [{"symbol": "AMBA", "start": "2019-03-01", "end": "2019-07-01", "auto_adjust": False,
                           "actions": False, "progress": False, "threads": False}]
    cache = tmp_path / "cache" / "AMBA.parquet"
    assert cache.is_file()
    assert src.describe("AMBA") == {"source": "yahoo", "path": str(cache),
                                    "sha256": hashlib.sha256(cache.read_bytes()).hexdigest()}

    # Covered range (or a part of it, or only a weekend more): no request.
    pd.testing.assert_frame_equal(src.fetch("AMBA", "2019-03-01", "2019-06-30"), first)
    pd.testing.assert_frame_equal(src.fetch("AMBA", "2019-04-01", "2019-04-30"), first.loc["2019-04-01":"2019-04-30"])
    assert len(fake.calls) == 1
    assert YahooSource(cache_dir=tmp_path / "cache", downloader=fake).fetch("AMBA", "2019-03-01", "2019-06-30").equals(first)
    assert len(fake.calls) == 1

    # Extended both ways: only the missing ends, each with one overlapping cached day
    # (2019-03-01 = first cached row, 2019-06-28 = last cached row; end is exclusive).
    wide = src.fetch("AMBA", "2019-01-01", "2019-09-30")
    assert fake.spans()[1:] == [("2019-01-01", "2019-03-02"), ("2019-06-28", "2019-10-01")]
    pd.testing.assert_frame_equal(wide, recorded(shared_prices, "AMBA", "2019-01-01", "2019-09-30"))
    src.fetch("AMBA", "2019-01-01", "2019-09-30")
    assert len(fake.calls) == 3

    # refresh=True: one full re-download, even though the cache covers the range.
    fresh = YahooSource(cache_dir=tmp_path / "cache", refresh=True, downloader=fake)
    pd.testing.assert_frame_equal(fresh.fetch("AMBA", "2019-02-01", "2019-02-28"),
                                  recorded(shared_prices, "AMBA", "2019-02-01", "2019-02-28"))
    assert fake.spans()[3:] == [("2019-02-01", "2019-03-01")]
    assert sleeps == []


@pytest.mark.shared_prices
def test_yahoo_weekend_extension_makes_no_request(shared_prices, tmp_path):
    fake = FakeYahoo(shared_prices)
    src = YahooSource(cache_dir=tmp_path, downloader=fake)
    src.fetch("AMBA", "2019-05-01", "2019-05-31")  # Friday
    frame = src.fetch("AMBA", "2019-05-01", "2019-06-02")  # + Saturday, Sunday
    assert len(fake.calls) == 1
    assert frame.index[-1] == pd.Timestamp("2019-05-31")


def test_yahoo_offline_oserror_is_one_clear_user_error(tmp_path, sleeps):
    error = DNSError("Failed to perform, curl: (6) Could not resolve host: query2.finance.yahoo.com. "
                     "See https://curl.se/libcurl/c/libcurl-errors.html first for more details.")
    fake = FakeYahoo(tmp_path, failures=[error] * 10)
    src = YahooSource(cache_dir=tmp_path / "cache", retries=3, backoff=1.0, downloader=fake)
    with pytest.raises(UserError) as err:
        src.fetch("AMBA", "2019-01-01", "2019-12-31")
    assert str(err.value) == (
        "could not download AMBA from Yahoo Finance (DNSError: Could not resolve host: query2.finance.yahoo.com); "
        "check the network or use recorded prices with PRICES=DIR (--prices DIR)"
    )
    assert len(fake.calls) == 4 and sleeps == [1.0, 2.0, 4.0]
    assert not (tmp_path / "cache" / "AMBA.parquet").exists()
    # Offline is remembered: the next symbol fails at once, naming itself.
    with pytest.raises(UserError, match=r"could not download \^GSPC .*PRICES=DIR"):
        src.fetch("^GSPC", "2019-01-01", "2019-12-31")
    assert len(fake.calls) == 4


def test_yahoo_offline_empty_frame_is_one_clear_user_error(tmp_path, sleeps):
    fake = FakeYahoo(tmp_path, failures=["empty"] * 10)
    src = YahooSource(cache_dir=tmp_path, downloader=fake)
    with pytest.raises(UserError) as err:
        src.fetch("AMBA", "2019-01-01", "2019-12-31")
    msg = str(err.value)
    assert msg.startswith("could not download AMBA from Yahoo Finance (")
    assert "PRICES=DIR (--prices DIR)" in msg
    assert not list(tmp_path.iterdir())


def test_yahoo_offline_as_real_yfinance_does_it(tmp_path, sleeps, capsys):
    """yfinance 1.x offline: logs the DNSError on its logger and returns an empty (Price, Ticker) frame."""
    calls = []

    def offline_download(tickers, **kwargs):
        calls.append(kwargs)
        logging.getLogger("yfinance").error("\n1 Failed download:")
        logging.getLogger("yfinance").error(
            "['AMBA']: DNSError('Failed to perform, curl: (6) Could not resolve host: query2.finance.yahoo.com. "
            "See https://curl.se/libcurl/c/libcurl-errors.html first for more details.')"
        )
        cols = pd.MultiIndex.from_tuples([(f, "AMBA") for f in YF_FIELDS], names=["Price", "Ticker"])
        return pd.DataFrame(columns=cols, index=pd.DatetimeIndex([], name="Date"))

    src = YahooSource(cache_dir=tmp_path, retries=2, backoff=0.5, downloader=offline_download)
    with pytest.raises(UserError, match=r"\(DNSError: Could not resolve host: query2\.finance\.yahoo\.com\); check"):
        src.fetch("AMBA", "2019-01-01", "2019-12-31")
    assert len(calls) == 3 and sleeps == [0.5, 1.0]  # a logged network error is retried
    assert "Failed download" not in capsys.readouterr().err  # yfinance's own lines are not printed


def test_yahoo_no_data_for_symbol_is_not_retried(tmp_path, sleeps):
    def no_data(tickers, **kwargs):
        logging.getLogger("yfinance").error("$NOPE: possibly delisted; no price data found")
        return pd.DataFrame()

    with pytest.raises(UserError, match=r"could not download NOPE from Yahoo Finance \(possibly delisted"):
        YahooSource(cache_dir=tmp_path, downloader=no_data).fetch("NOPE", "2019-01-01", "2019-12-31")
    assert sleeps == []


@pytest.mark.shared_prices
def test_yahoo_retries_transient_failures(shared_prices, tmp_path, sleeps):
    fake = FakeYahoo(shared_prices, failures=[DNSError("temporary"), ConnectionResetError("reset")])
    frame = YahooSource(cache_dir=tmp_path, retries=3, backoff=1.0, downloader=fake).fetch(
        "AMBA", "2019-01-01", "2019-01-31")
    assert len(fake.calls) == 3
    assert sleeps == [1.0, 2.0]
    assert len(frame) == 21


def test_yahoo_non_transient_error_is_not_retried(tmp_path, sleeps):
    fake = FakeYahoo(tmp_path, failures=[ValueError("bad answer")])
    with pytest.raises(UserError, match=r"could not download AMBA from Yahoo Finance \(ValueError: bad answer\)"):
        YahooSource(cache_dir=tmp_path, downloader=fake).fetch("AMBA", "2019-01-01", "2019-01-31")
    assert len(fake.calls) == 1 and sleeps == []


@pytest.mark.shared_prices
def test_yahoo_offline_with_cache_returns_cache_and_warns(shared_prices, tmp_path, sleeps):
    fake = FakeYahoo(shared_prices)
    src = YahooSource(cache_dir=tmp_path, downloader=fake)
    cached = src.fetch("AMBA", "2019-01-01", "2019-06-30")
    fake.failures = [DNSError("no network")] * 10
    with pytest.warns(UserWarning, match=r"could not download part .* AMBA .*DNSError: no network.*cached"):
        frame = src.fetch("AMBA", "2019-01-01", "2019-12-31")
    pd.testing.assert_frame_equal(frame, cached)
    # A range the cache cannot serve at all is still an error.
    with pytest.raises(UserError, match="could not download AMBA"):
        src.fetch("AMBA", "2020-01-01", "2020-06-30")


@pytest.mark.shared_prices
def test_yahoo_new_adjustment_base_rescales_cache(shared_prices, tmp_path):
    """A 2:1 split and a 1% dividend since the cache was written: returns across the seam stay right."""
    fake = FakeYahoo(shared_prices)
    src = YahooSource(cache_dir=tmp_path, downloader=fake)
    src.fetch("AMBA", "2019-01-01", "2019-06-30")
    fake.price_factor, fake.adj_factor, fake.volume_factor = 0.5, 0.5 * 0.99, 2.0
    with pytest.warns(UserWarning, match="rescaled"):
        frame = src.fetch("AMBA", "2019-01-01", "2019-12-31")
    truth = recorded(shared_prices, "AMBA", "2019-01-01", "2019-12-31")
    np.testing.assert_allclose(frame["adj_close"], truth["adj_close"] * 0.495, rtol=1e-12)
    np.testing.assert_allclose(frame["close"], truth["close"] * 0.5, rtol=1e-12)
    np.testing.assert_allclose(frame["volume"], truth["volume"] * 2, rtol=1e-9)
    np.testing.assert_allclose(frame["adj_close"].pct_change().iloc[1:], truth["adj_close"].pct_change().iloc[1:],
                               atol=1e-12)


@pytest.mark.shared_prices
def test_yahoo_cache_write_is_atomic(shared_prices, tmp_path, monkeypatch):
    fake = FakeYahoo(shared_prices)
    YahooSource(cache_dir=tmp_path, downloader=fake).fetch("AMBA", "2019-01-01", "2019-03-31")
    cache = tmp_path / "AMBA.parquet"
    before = cache.read_bytes()
    refresh = YahooSource(cache_dir=tmp_path, refresh=True, downloader=fake)

    # 1) Killed while writing the parquet file (partial bytes written, then interrupted).
    real_to_parquet = pd.DataFrame.to_parquet

    def crash_mid_write(self, target, *args, **kwargs):
        target.write(b"PAR1 partial garbage")
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_parquet", crash_mid_write)
    with pytest.raises(KeyboardInterrupt):
        refresh.fetch("AMBA", "2019-01-01", "2019-12-31")
    monkeypatch.setattr(pd.DataFrame, "to_parquet", real_to_parquet)
    assert cache.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["AMBA.parquet"]

    # 2) The final rename fails (e.g. disk trouble): data still returned, old cache intact, warning.
    def failing_replace(src, dst):
        raise OSError("simulated failure in os.replace")

    monkeypatch.setattr(prices.os, "replace", failing_replace)
    with pytest.warns(UserWarning, match="could not update the price cache"):
        frame = refresh.fetch("AMBA", "2019-01-01", "2019-12-31")
    monkeypatch.undo()
    assert len(frame) == len(recorded(shared_prices, "AMBA", "2019-01-01", "2019-12-31"))
    assert cache.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["AMBA.parquet"]

    # The old cache still serves its range without any request.
    n = len(fake.calls)
    old = YahooSource(cache_dir=tmp_path, downloader=fake).fetch("AMBA", "2019-01-01", "2019-03-31")
    assert len(fake.calls) == n
    pd.testing.assert_frame_equal(old, recorded(shared_prices, "AMBA", "2019-01-01", "2019-03-31"))


@pytest.mark.shared_prices
def test_yahoo_corrupt_cache_is_redownloaded(shared_prices, tmp_path):
    (tmp_path / "AMBA.parquet").write_bytes(b"not a parquet file")
    fake = FakeYahoo(shared_prices)
    with pytest.warns(UserWarning, match="unreadable price cache"):
        frame = YahooSource(cache_dir=tmp_path, downloader=fake).fetch("AMBA", "2019-01-01", "2019-01-31")
    assert len(fake.calls) == 1 and len(frame) == 21
    assert pd.read_parquet(tmp_path / "AMBA.parquet").shape == (21, 6)


# --------------------------------------------------------------------------- load_prices


@pytest.mark.shared_prices
def test_load_prices_one_bad_symbol_does_not_sink_others(shared_prices):
    frames, errors = load_prices(
        CsvSource(shared_prices), ["AMBA", "NOPE", "../etc/passwd", "^GSPC", "AMBA"],
        start="2019-01-01", end="2019-12-31", progress=True,
    )
    assert list(frames) == ["AMBA", "^GSPC"]
    assert len(frames["AMBA"]) == 252 and len(frames["^GSPC"]) == 252
    assert set(errors) == {"NOPE", "../etc/passwd"}
    assert errors["NOPE"] == f"no file {shared_prices / 'NOPE.csv'} for symbol NOPE"
    assert "invalid symbol" in errors["../etc/passwd"]


@pytest.mark.shared_prices
def test_load_prices_through_yahoo_source(shared_prices, tmp_path, sleeps):
    fake = FakeYahoo(shared_prices, failures=[DNSError("x")] * 4)  # first symbol: offline for all 4 attempts
    frames, errors = load_prices(YahooSource(cache_dir=tmp_path, downloader=fake), ["INTC"], "2019-01-01", "2019-01-31")
    assert frames == {} and "could not download INTC" in errors["INTC"]
    src = YahooSource(cache_dir=tmp_path, downloader=FakeYahoo(shared_prices))
    frames, errors = load_prices(src, ["INTC", "NVDA", "0020.HK"], "2019-01-01", "2019-01-31")
    assert sorted(frames) == ["INTC", "NVDA"] and list(errors) == ["0020.HK"]
    assert errors["0020.HK"].startswith("could not download 0020.HK from Yahoo Finance (possibly delisted")


# --------------------------------------------------------------------------- issue 13: implausible data


def _px_copy(shared_prices, tmp_path, symbols=None):
    """A writable copy of the recorded prices (only ``symbols`` when given)."""
    import shutil

    folder = tmp_path / "PX"
    folder.mkdir()
    for f in shared_prices.glob("*.csv"):
        if symbols is None or f.stem in symbols:
            shutil.copy(f, folder / f.name)
    return folder


@pytest.mark.parametrize("day", ["2300-01-02", "1600-01-03"])
def test_case2_implausible_date_names_file_row_and_field(tmp_path, day):
    """Issue 13, case 2: a row dated 2300 (or 1600) was an OutOfBoundsDatetime traceback."""
    path = tmp_path / "X.csv"
    path.write_text(GOOD_HEADER + "2020-01-02,1,1,1,1,1,10\n" + f"{day},1,1,1,1,1,10\n")
    with pytest.raises(UserError) as err:
        CsvSource(tmp_path).fetch("X")
    assert str(err.value) == (f"{path}: row 2, field 'date': {day} is outside the plausible "
                              "1900-01-01..2100-12-31")


@pytest.mark.shared_prices
def test_case2_one_bad_price_file_skips_only_that_symbol(shared_prices, tmp_path, capsys):
    from analysis.cli import main

    px = _px_copy(shared_prices, tmp_path, {"AMBA", "INTC", "^GSPC", "002415.SZ", "000300.SS"})
    with open(px / "AMBA.csv", "a") as fh:
        fh.write("2300-01-02,1,1,1,1,1,10\n")
    out = tmp_path / "out"
    rc = main(["study", "--prices", str(px), "--out", str(out), "--event", "nyt_hikvision_2019", "--symbol", "AMBA",
               "--symbol", "INTC", "--symbol", "002415.SZ", "--placebo-draws", "0", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    skipped = pd.read_csv(out / "skipped.csv")
    assert list(skipped["symbol"]) == ["AMBA"]
    assert skipped["reason"].iloc[0] == (f"{px / 'AMBA.csv'}: row 2060, field 'date': 2300-01-02 is outside the "
                                         "plausible 1900-01-01..2100-12-31")
    assert set(pd.read_csv(out / "car.csv")["symbol"]) == {"INTC", "002415.SZ"}


@pytest.mark.shared_prices
def test_case4_symlink_out_of_the_prices_folder_is_refused(shared_prices, tmp_path):
    """Issue 13, case 4: a symlink resolving outside the prices folder was followed."""
    px = tmp_path / "PX"
    px.mkdir()
    secret = tmp_path / "secret.csv"
    secret.write_text("date,adj_close\n2020-01-02,1\n")
    (px / "LEAK.csv").symlink_to(secret)
    (px / "INSIDE.csv").symlink_to(px / "REAL.csv")  # a link inside the folder is fine
    (px / "REAL.csv").write_text("date,adj_close\n2020-01-02,1\n")
    with pytest.raises(UserError, match=r"LEAK.csv: a link to a file outside the prices folder .*refused"):
        CsvSource(px).fetch("LEAK")
    with pytest.raises(UserError, match="outside the prices folder"):
        CsvSource(px).describe("LEAK")
    assert len(CsvSource(px).fetch("INSIDE")) == 1


def test_case4_messages_never_echo_file_contents(tmp_path):
    """Issue 13, case 4: the first line of a file was echoed (``header has: api_token=...``)."""
    cases = {
        "HDR": "api_token=s3cr3t,foo\n1,2\n",
        "VAL": GOOD_HEADER + "2020-01-02,1,1,1,s3cr3t,1,10\n",
        "DAT": GOOD_HEADER + "s3cr3t,1,1,1,1,1,10\n",
        "QUO": GOOD_HEADER + '2020-01-02,1,1,1,1,1,10\n"s3cr3t\n',
    }
    for name, text in cases.items():
        (tmp_path / f"{name}.csv").write_text(text)
        with pytest.raises(UserError) as err:
            CsvSource(tmp_path).fetch(name)
        assert "s3cr3t" not in str(err.value) and "api_token" not in str(err.value), (name, str(err.value))
    with pytest.raises(UserError, match=r"HDR.csv: field 'date': missing required column \(expected a header "
                                        r"date,open,high,low,close,adj_close,volume\)"):
        CsvSource(tmp_path).fetch("HDR")


def test_case8_non_utf8_byte_and_huge_field_name_the_row(tmp_path):
    """Issue 13, case 8: a non-UTF-8 byte or a 1 MB field gave a message naming no row."""
    (tmp_path / "BIN.csv").write_bytes((GOOD_HEADER + "2020-01-02,1,1,1,1,1,10\n2020-01-03,1,1,1,\xff,1,10\n")
                                       .encode("latin-1"))
    with pytest.raises(UserError, match=r"BIN.csv: row 2: not UTF-8 text"):
        CsvSource(tmp_path).fetch("BIN")
    (tmp_path / "BIG.csv").write_text(GOOD_HEADER + "2020-01-02,1,1,1,1,1,10\n2020-01-03,1,1,1," + "9" * 1_000_000
                                      + ",1,10\n")
    with pytest.raises(UserError) as err:
        CsvSource(tmp_path).fetch("BIG")
    assert str(err.value) == f"{tmp_path / 'BIG.csv'}: row 2, field 'close': longer than 10000 characters"


def _times_1000(folder, symbol, day):
    path = folder / f"{symbol}.csv"
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith(day):
            cells = line.split(",")
            cells[1:6] = [str(float(c) * 1000) for c in cells[1:6]]
            lines[i] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.shared_prices
def test_case5_prices_times_1000_on_one_day_skip_the_symbol(shared_prices, tmp_path, capsys):
    """Issue 13, case 5: AMBA x1000 on one day gave CAR +96,996%, t = 39,866 and exit 0."""
    from analysis.cli import main

    px = _px_copy(shared_prices, tmp_path, {"AMBA", "INTC", "^GSPC"})
    _times_1000(px, "AMBA", "2019-05-22")
    out = tmp_path / "out"
    args = ["study", "--prices", str(px), "--event", "nyt_hikvision_2019", "--symbol", "AMBA", "--symbol", "INTC",
            "--placebo-draws", "0", "--quiet"]
    assert main(args + ["--out", str(out)]) == 0
    skipped = pd.read_csv(out / "skipped.csv")
    assert list(skipped["symbol"]) == ["AMBA"]
    reason = skipped["reason"].iloc[0]
    assert reason.startswith(f"{px / 'AMBA.csv'}: date 2019-05-22, field 'adj_close': daily return +")
    assert "outside -80%..+400%" in reason and "--allow-extreme-returns" in reason
    car = pd.read_csv(out / "car.csv")
    assert set(car["symbol"]) == {"INTC"}
    # Allowed explicitly: the symbol is studied (and its absurd CAR is the user's choice).
    assert main(args + ["--out", str(tmp_path / "allowed"), "--allow-extreme-returns"]) == 0
    car = pd.read_csv(tmp_path / "allowed" / "car.csv")
    assert set(car["symbol"]) == {"AMBA", "INTC"}
    assert car.loc[car["symbol"] == "AMBA", "car"].abs().max() > 100


def test_check_returns_bounds_are_log5_both_ways():
    idx = pd.DatetimeIndex(pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06"]), name="date")

    def frame(p):
        return pd.DataFrame({"adj_close": p}, index=idx)

    prices.check_returns(frame([1.0, 4.99, 1.0]), "x")  # +399%, then -80% (|log r| = log 4.99 < log 5): kept
    with pytest.raises(UserError, match="x: date 2020-01-03, field 'adj_close': daily return \\+401%"):
        prices.check_returns(frame([1.0, 5.01, 5.0]), "x")
    with pytest.raises(UserError, match="date 2020-01-06, field 'adj_close': daily return -80%"):
        prices.check_returns(frame([1.0, 1.0, 0.199]), "x")
    prices.check_returns(frame([1.0, 1.0, 0.199]), "x", allow=True)


@pytest.mark.shared_prices
@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_case5_yahoo_answer_with_a_non_positive_price_is_refused(shared_prices, tmp_path, bad):
    """Issue 13, case 5: Yahoo answers with zero or negative prices were accepted (a -100% return)."""
    fake = FakeYahoo(shared_prices)

    def broken(tickers, **kwargs):
        raw = fake(tickers, **kwargs)
        raw.iloc[3, raw.columns.get_loc(("Close", "AMBA"))] = bad
        return raw

    with pytest.raises(UserError) as err:
        YahooSource(cache_dir=tmp_path, downloader=broken).fetch("AMBA", "2019-03-01", "2019-03-29")
    assert str(err.value) == "Yahoo Finance answer for AMBA: date 2019-03-06, field 'close': price must be positive"
    assert not (tmp_path / "AMBA.parquet").exists()  # never cached


@pytest.mark.shared_prices
def test_case5_cache_with_a_non_positive_price_is_ignored_and_refetched(shared_prices, tmp_path):
    """Issue 13, case 5: a cached parquet with a zero price was used as it was."""
    fake = FakeYahoo(shared_prices)
    src = YahooSource(cache_dir=tmp_path, downloader=fake)
    good = src.fetch("AMBA", "2019-03-01", "2019-03-29")
    cache = tmp_path / "AMBA.parquet"
    poisoned = pd.read_parquet(cache)
    poisoned.iloc[2, poisoned.columns.get_loc("adj_close")] = 0.0
    poisoned.to_parquet(cache)
    with pytest.warns(UserWarning, match=r"ignoring price cache .*AMBA.parquet \(cache: date 2019-03-05, "
                                         r"field 'adj_close': price must be positive\)"):
        again = YahooSource(cache_dir=tmp_path, downloader=fake).fetch("AMBA", "2019-03-01", "2019-03-29")
    pd.testing.assert_frame_equal(again, good)
    assert len(fake.calls) == 2  # downloaded again


@pytest.mark.parametrize("symbol", ["CON", "nul", "COM1", "LPT9", "Aux", "PRN.SZ", "NUL.csv"])
def test_case9_windows_device_names_are_refused(symbol):
    """Issue 13, case 9: CON, NUL, COM1 passed validate_symbol."""
    with pytest.raises(UserError, match="Windows device name"):
        validate_symbol(symbol)


@pytest.mark.parametrize("symbol", ["CONE", "COM", "NULL", "LPT", "AUXL.SZ", "^CON"])
def test_device_like_symbols_that_are_not_devices_pass(symbol):
    assert validate_symbol(symbol) == symbol


def test_a_file_read_again_is_parsed_once_and_each_reader_gets_its_own_frame(tmp_path, monkeypatch):
    """read_price_csv keeps parsed frames by the file's text: the same text is parsed once (the
    plain and the checked reader alike), every call returns a frame of its own (changing one
    changes no other read), a changed file is parsed again, a bad file is never kept and the
    memory holds the PARSED_KEPT files read last (CsvSource.fetch too)."""
    from analysis.data.prices import read_price_csv

    calls = []
    plain, checked = prices._read_plain, prices._read_checked
    monkeypatch.setattr(prices, "_read_plain", lambda text: (calls.append("plain"), plain(text))[1])
    monkeypatch.setattr(prices, "_read_checked", lambda path, text: (calls.append("checked"), checked(path, text))[1])
    monkeypatch.setattr(prices, "_PARSED", type(prices._PARSED)())
    monkeypatch.setattr(prices, "PARSED_KEPT", 2)
    a = tmp_path / "A.csv"
    a.write_text("date,adj_close\n2020-01-02,10.5\n2020-01-03,11\n")
    first = read_price_csv(a)
    first.loc[first.index[0], "adj_close"] = -1.0
    again = read_price_csv(a)
    assert calls == ["plain"] and again["adj_close"].tolist() == [10.5, 11.0] and again is not first
    a.write_text("date,adj_close\n2020-01-02,10.5\n2020-01-03,12\n")  # new text: parsed again
    assert read_price_csv(a)["adj_close"].tolist() == [10.5, 12.0] and calls == ["plain", "plain"]
    b = tmp_path / "B.csv"
    b.write_text("Date , Adj Close\n2020-01-02, 3\n")  # not plain: the checked reader, kept too
    assert read_price_csv(b)["adj_close"].tolist() == [3.0]
    read_price_csv(b)
    assert calls == ["plain", "plain", "plain", "checked"] and len(prices._PARSED) == 2
    read_price_csv(a)  # A read last: B goes first when a third file comes
    c = tmp_path / "D.csv"
    c.write_text("date,adj_close\n2020-01-02,7\n")
    read_price_csv(c)
    read_price_csv(a)
    assert calls == ["plain", "plain", "plain", "checked", "plain"]
    read_price_csv(b)
    assert calls[-2:] == ["plain", "checked"]  # B was dropped: parsed again
    assert prices.CsvSource(tmp_path).fetch("A")["adj_close"].tolist() == [10.5, 12.0]  # a copy, sliced
    bad = tmp_path / "C.csv"
    bad.write_text("date,adj_close\n2020-01-02,-3\n")
    for _ in range(2):
        with pytest.raises(UserError, match="C.csv"):
            read_price_csv(bad)
    assert calls.count("checked") == 4 and len(prices._PARSED) == 2  # B twice, C twice
