"""The two readers behind :func:`analysis.data.prices.read_price_csv`: the plain fast path
(``_read_plain``) and the checked general parser (``_read_checked``) return the same frame, bit for
bit, as written out by hand here; a file the plain path does not take, or that needs a message,
gets the checked reader's message word for word.
"""
from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from analysis.data import prices
from analysis.data.prices import PRICE_COLUMNS
from analysis.data.textfile import read_text
from analysis.errors import UserError

NAN = np.nan
HEADER = "date,open,high,low,close,adj_close,volume\n"


def expected(days, freq=None, **columns) -> pd.DataFrame:
    """A price frame written out by hand: ``days`` (YYYY-MM-DD), the index's freq, and the known
    columns (the others all NaN)."""
    index = pd.DatetimeIndex(np.array(days, dtype="datetime64[D]").astype("datetime64[us]"), name="date",
                             freq=freq)
    data = {c: np.array(columns.get(c, [NAN] * len(days)), dtype="float64") for c in PRICE_COLUMNS}
    return pd.DataFrame(data, index=index)


def assert_same_bits(frame: pd.DataFrame, want: pd.DataFrame) -> None:
    """Same index (values, dtype, name, freq), columns and float bits, NaN positions included."""
    pd.testing.assert_frame_equal(frame, want, check_exact=True)
    assert frame.index.freq == want.index.freq
    for c in PRICE_COLUMNS:
        assert np.array_equal(frame[c].to_numpy().view("int64"), want[c].to_numpy().view("int64")), c


# (text, read by the plain path?, expected frame)
CASES = {
    "plain": (
        HEADER + "2020-01-02,1.5,2,1.25,1.75,1.7,1000\n2020-01-03,1.6,2.1,1.3,1.8,1.75,0\n"
                 "2020-01-07,10.000000,20.5,0.25,3,2.5,12345678\n",
        True,
        expected(["2020-01-02", "2020-01-03", "2020-01-07"], open=[1.5, 1.6, 10.0], high=[2.0, 2.1, 20.5],
                 low=[1.25, 1.3, 0.25], close=[1.75, 1.8, 3.0], adj_close=[1.7, 1.75, 2.5],
                 volume=[1000.0, 0.0, 12345678.0]),
    ),
    "yahoo-header-no-final-newline": (
        "Date,Open,High,Low,Close,Adj Close,Volume\n2020-01-02,1,2,0.5,1.5,1.4,7\n2020-01-03,1,2,0.5,1.5,1.45,8",
        True,
        expected(["2020-01-02", "2020-01-03"], open=[1.0, 1.0], high=[2.0, 2.0], low=[0.5, 0.5],
                 close=[1.5, 1.5], adj_close=[1.4, 1.45], volume=[7.0, 8.0]),
    ),
    "some-columns-any-order": (
        "adj_close,Date, close \n10.5,2020-01-02,11\n9.75,2020-01-06,10\n",
        True,
        expected(["2020-01-02", "2020-01-06"], close=[11.0, 10.0], adj_close=[10.5, 9.75]),
    ),
    "empty-cells-and-a-row-without-adj_close": (
        HEADER + "2020-01-02,,,,,9.5,\n2020-01-03,1,1,1,1,,5\n2020-01-07,2,,,2.5,2.25,6\n",
        True,
        expected(["2020-01-02", "2020-01-07"], open=[NAN, 2.0], close=[NAN, 2.5], adj_close=[9.5, 2.25],
                 volume=[NAN, 6.0]),
    ),
    "crlf": (
        HEADER.replace("\n", "\r\n") + "2020-01-02,1,1,1,1,3.5,10\r\n2020-01-06,1,1,1,1,3.25,20\r\n",
        True,
        expected(["2020-01-02", "2020-01-06"], open=[1.0, 1.0], high=[1.0, 1.0], low=[1.0, 1.0],
                 close=[1.0, 1.0], adj_close=[3.5, 3.25], volume=[10.0, 20.0]),
    ),
    "point-first-or-last-leading-zeros": (
        "date,adj_close,volume\n2020-01-02,5.,007\n2020-01-06,.5,00.50\n",
        True,
        expected(["2020-01-02", "2020-01-06"], adj_close=[5.0, 0.5], volume=[7.0, 0.5]),
    ),
    "fifteen-characters": (
        "date,adj_close,volume\n2020-01-02,0.1234567890123,123456789012345\n"
        "2020-01-06,98765.432101234,999999999999999\n",
        True,
        expected(["2020-01-02", "2020-01-06"], adj_close=[0.1234567890123, 98765.432101234],
                 volume=[123456789012345.0, 999999999999999.0]),
    ),
    # freq as today's reader sets it: normalize() infers one from the dates; dropping the first or
    # last row keeps it, dropping one inside does not
    "consecutive-days-freq": (
        "date,adj_close\n2020-01-01,1\n2020-01-02,2\n2020-01-03,3\n2020-01-04,\n",
        True,
        expected(["2020-01-01", "2020-01-02", "2020-01-03"], freq="D", adj_close=[1.0, 2.0, 3.0]),
    ),
    "business-days-freq": (
        "date,adj_close\n2020-01-02,1\n2020-01-03,2\n2020-01-06,3\n2020-01-07,4\n",
        True,
        expected(["2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07"], freq="B",
                 adj_close=[1.0, 2.0, 3.0, 4.0]),
    ),
    "gap-inside-drops-freq": (
        "date,adj_close\n2020-01-01,1\n2020-01-02,\n2020-01-03,3\n2020-01-04,4\n",
        True,
        expected(["2020-01-01", "2020-01-03", "2020-01-04"], adj_close=[1.0, 3.0, 4.0]),
    ),
    # not plain: the checked reader, same frame
    "blank-lines": (
        HEADER + "2020-01-02,1,1,1,1,2.5,10\n\n2020-01-06,1,1,1,1,2.75,20\n\n",
        False,
        expected(["2020-01-02", "2020-01-06"], open=[1.0, 1.0], high=[1.0, 1.0], low=[1.0, 1.0],
                 close=[1.0, 1.0], adj_close=[2.5, 2.75], volume=[10.0, 20.0]),
    ),
    "spaces-around-fields": (
        "date,adj_close,volume\n 2020-01-02 , 1.5 ,10\n2020-01-06,2.5, 20 \n",
        False,
        expected(["2020-01-02", "2020-01-06"], adj_close=[1.5, 2.5], volume=[10.0, 20.0]),
    ),
    "missing-tokens-exponent-plus-sixteen-characters": (
        "date,close,adj_close,volume\n2020-01-02,nan,1e3,+3\n2020-01-06,NA,1234567890123456,null\n",
        False,
        expected(["2020-01-02", "2020-01-06"], adj_close=[1000.0, 1234567890123456.0], volume=[3.0, NAN]),
    ),
    "sixteen-characters": (
        "date,adj_close\n2020-01-02,1234567890123456\n2020-01-06,0.12345678901234\n",
        False,
        expected(["2020-01-02", "2020-01-06"], adj_close=[1234567890123456.0, 0.12345678901234]),
    ),
    "unsorted-dates-and-times": (
        "date,adj_close\n2020-01-06,2\n2020-01-02 00:00:00,1\n2020-01-07T00:00,3\n",
        False,
        expected(["2020-01-02", "2020-01-06", "2020-01-07"], adj_close=[1.0, 2.0, 3.0]),
    ),
    "short-rows": (
        "date,adj_close,volume\n2020-01-02,1.5\n2020-01-06,2.5,20\n",
        False,
        expected(["2020-01-02", "2020-01-06"], adj_close=[1.5, 2.5], volume=[NAN, 20.0]),
    ),
    "quoted-fields": (
        'date,adj_close\n"2020-01-02","1.5"\n2020-01-06,2.5\n',
        False,
        expected(["2020-01-02", "2020-01-06"], adj_close=[1.5, 2.5]),
    ),
    "extra-column": (
        "date,adj_close,dividends\n2020-01-02,1.5,0.1\n2020-01-06,2.5,\n",
        False,
        expected(["2020-01-02", "2020-01-06"], adj_close=[1.5, 2.5]),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_both_readers_give_the_frame_written_by_hand(tmp_path, case):
    text, plain, want = CASES[case]
    path = tmp_path / "X.csv"
    path.write_bytes(text.encode())
    fast = prices._read_plain(text)
    assert (fast is not None) == plain
    if plain:
        assert_same_bits(fast, want)
    assert_same_bits(prices._read_checked(path, text), want)
    assert_same_bits(prices.read_price_csv(path), want)


@pytest.mark.parametrize(
    "body, message",
    [
        ("2020-01-02,1,0,1,1,1,10\n", "row 1, field 'high': price must be positive"),
        ("2020-01-02,1,1,1,1,0.000,10\n", "row 1, field 'adj_close': price must be positive"),
        ("2020-01-02,1,1,1,1,1,10\n2020-02-30,1,1,1,1,1,10\n", "row 2, field 'date': not a date (expected YYYY-MM-DD)"),
        ("1899-12-31,1,1,1,1,1,10\n", "row 1, field 'date': 1899-12-31 is outside the plausible 1900-01-01..2100-12-31"),
        ("2020-01-03,1,1,1,1,1,10\n2020-01-02,1,1,1,1,1,10\n2020-01-03,1,1,1,1,1,10\n",
         "row 3, field 'date': duplicate date 2020-01-03 (first seen at row 1)"),
        ("2020-01-02,1,1,1,1,.,10\n", "row 1, field 'adj_close': not a number"),
        ("2020-01-02,1,1,1,1,1.2.3,10\n", "row 1, field 'adj_close': not a number"),
        ("2020-01-02,1,1,1,1,1,-0\n", None),  # accepted: -0 volume is not negative
        ("2020-01-02,1,1,1,1,1,-1\n", "row 1, field 'volume': volume must not be negative"),
        ("2020-01-02,1,1,1,1,1,10\n2020-01-03,1,1,1,1,1,10,5\n",
         "row 2: not a readable CSV row (wrong number of fields or a broken quote)"),
        ("2020-01-02,1,1,1,1,1\n1,2020-01-03,1,1,1,1,1,10\n",  # 6 + 8 fields: every 7th still a date
         "row 2: not a readable CSV row (wrong number of fields or a broken quote)"),
        ("2020-01-02,1,1,1,1,1,10,5\n2020-01-03,1,1,1,1,1,10\n",  # pandas would take column 1 as the index
         "row 1: not a readable CSV row (wrong number of fields or a broken quote)"),
        ("2020-01-02,1,1,1,1,1,.\n", "row 1, field 'volume': not a number"),
        ("2020-01\x00\x00\x00,1,1,1,1,1,10\n", "row 1, field 'date': not a date (expected YYYY-MM-DD)"),
    ],
    ids=["zero-high", "zero-adj", "february-30", "before-1900", "duplicate", "lone-point", "two-points",
         "minus-zero-volume", "negative-volume", "long-row", "short-then-long-row", "long-first-row",
         "lone-point-volume",
         "year-month-and-nul-bytes"],
)
def test_messages_are_the_checked_readers(tmp_path, body, message):
    path = tmp_path / "BAD.csv"
    path.write_text(HEADER + body)
    assert prices._read_plain(HEADER + body) is None
    if message is None:
        assert prices.read_price_csv(path)["volume"].tolist() == [0.0]
        return
    with pytest.raises(UserError) as err:
        prices.read_price_csv(path)
    assert str(err.value) == f"{path}: {message}"


def test_plain_numbers_are_correctly_rounded():
    """Random plain decimals (1..15 characters, at most one '.') read by the plain path equal Python's
    float() of the same text, which rounds correctly, bit for bit."""
    rng = random.Random(20240607)
    texts = ["0.1", "0.3", "2.675", "1.005", "0.3000000000000", "9.999999999999", "999999999999999",
             "0.000000000001", "4.35", "1.15", "8.675"]
    while len(texts) < 20_000:
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 14)))
        point = rng.randint(0, len(digits))
        texts.append(digits[:point] + "." + digits[point:] if rng.random() < 0.8 else digits)
        if float(texts[-1]) == 0:  # a price must be positive
            texts.pop()
    days = pd.date_range("1950-01-01", periods=len(texts), freq="D").strftime("%Y-%m-%d")
    frame = prices._read_plain("date,adj_close\n" + "".join(f"{d},{t}\n" for d, t in zip(days, texts)))
    want = np.array([float(t) for t in texts])
    assert np.array_equal(frame["adj_close"].to_numpy().view("int64"), want.view("int64"))


@pytest.mark.shared_prices
def test_recorded_files_take_the_plain_path_and_get_the_checked_frame(shared_prices):
    """Every recorded file is plain (the fast path is the one taken) and both readers agree bit for bit."""
    for path in sorted(shared_prices.glob("*.csv")):
        text = read_text(path)
        fast = prices._read_plain(text)
        assert fast is not None, path.name
        assert_same_bits(fast, prices._read_checked(path, text))
