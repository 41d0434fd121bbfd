"""The price snapshot (analysis.report.snapshot): frames written by the pipeline come back from
:class:`SnapshotSource` as the same price frames, checked against frames written out by hand."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.data.prices import PRICE_COLUMNS
from analysis.errors import UserError
from analysis.report.snapshot import SnapshotSource, write_snapshot

NAN = np.nan


def frame(days, freq=None, **columns) -> pd.DataFrame:
    """A price frame: ``days`` (YYYY-MM-DD), the index's freq, known columns (the others NaN)."""
    index = pd.DatetimeIndex(np.array(days, dtype="datetime64[D]").astype("datetime64[us]"), name="date",
                             freq=freq)
    return pd.DataFrame({c: np.array(columns.get(c, [NAN] * len(days)), dtype="float64") for c in PRICE_COLUMNS},
                        index=index)


def assert_same_bits(got: pd.DataFrame, want: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert got.index.freq == want.index.freq
    for c in PRICE_COLUMNS:
        assert np.array_equal(got[c].to_numpy().view("int64"), want[c].to_numpy().view("int64")), c


def test_round_trip_gives_the_frames_back(tmp_path):
    frames = {
        "AMBA": frame(["2020-01-01", "2020-01-02", "2020-01-03"], freq="D", open=[1.5, NAN, 2.25],
                      adj_close=[1.25, 1.5, 0.1], volume=[10.0, 0.0, NAN]),
        "^GSPC": frame(["2019-12-31"], adj_close=[3230.780029], close=[3230.780029]),
        "002415.SZ": frame(["2020-01-02", "2020-01-06"], adj_close=[33.5, 34.0], high=[NAN, 35.0]),
    }
    path = write_snapshot(tmp_path / "prices.parquet", frames, {"NOPE": "no file for NOPE"},
                          {"AMBA": {"source": "csv", "path": "AMBA.csv", "sha256": "ab"}}, origin="folder")
    source = SnapshotSource(path)
    assert list(source.frames) == ["AMBA", "^GSPC", "002415.SZ"]
    # the freq does not survive the parquet file: every frame comes back without one
    assert_same_bits(source.frames["AMBA"], frame(["2020-01-01", "2020-01-02", "2020-01-03"], open=[1.5, NAN, 2.25],
                                                  adj_close=[1.25, 1.5, 0.1], volume=[10.0, 0.0, NAN]))
    assert_same_bits(source.frames["^GSPC"], frame(["2019-12-31"], adj_close=[3230.780029], close=[3230.780029]))
    assert_same_bits(source.fetch("002415.SZ", start="2020-01-03"),
                     frame(["2020-01-06"], adj_close=[34.0], high=[35.0]))
    with pytest.raises(UserError, match="^no file for NOPE$"):
        source.fetch("NOPE")
    with pytest.raises(UserError, match="no prices for MU in the price snapshot"):
        source.fetch("MU")
    assert source.describe("AMBA") == {"source": "csv", "path": "AMBA.csv", "sha256": "ab"}
    assert source.name == "snapshot of folder"


def test_rows_of_a_symbol_need_not_be_together(tmp_path):
    """A long table whose symbols' rows are interleaved (written here by hand) still splits by symbol,
    in order of first appearance, each symbol's rows in file order."""
    rows = [("B", "2020-01-03", 3.0), ("A", "2020-01-02", 1.0), ("B", "2020-01-06", 4.0), ("A", "2020-01-03", 2.0)]
    long = pd.DataFrame({"symbol": [r[0] for r in rows],
                         "date": pd.to_datetime([r[1] for r in rows]).astype("datetime64[us]")})
    for c in PRICE_COLUMNS:
        long[c] = [r[2] if c == "adj_close" else NAN for r in rows]
    long.to_parquet(tmp_path / "prices.parquet", index=False)
    (tmp_path / "prices.json").write_text(json.dumps({"origin": "x", "errors": {}, "describe": {}}))
    source = SnapshotSource(tmp_path / "prices.parquet")
    assert list(source.frames) == ["B", "A"]
    assert_same_bits(source.frames["A"], frame(["2020-01-02", "2020-01-03"], adj_close=[1.0, 2.0]))
    assert_same_bits(source.frames["B"], frame(["2020-01-03", "2020-01-06"], adj_close=[3.0, 4.0]))


def test_no_frames(tmp_path):
    path = write_snapshot(tmp_path / "prices.parquet", {}, {"A": "bad file"}, {}, origin="x")
    source = SnapshotSource(path)
    assert source.frames == {}
    with pytest.raises(UserError, match="^bad file$"):
        source.fetch("A")
