"""The command-line contract of ``python -m analysis study``: files, columns, options, exit codes."""
from __future__ import annotations

import contextlib
import io

from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]

FILES = {
    "abnormal_returns.csv": ["event_id", "symbol", "day", "date", "return", "normal_return", "abnormal_return"],
    "car.csv": ["event_id", "symbol", "window", "car", "car_se", "car_t", "car_p", "bhar"],
    "tests.csv": ["event_id", "group", "window", "n", "mean_car", "test", "statistic", "p_value"],
    "estimation.csv": ["event_id", "symbol", "benchmark", "day0", "m", "alpha", "beta", "sigma"],
    "skipped.csv": ["event_id", "symbol", "reason"],
}
N_EVENTS, N_SYMBOLS = 19, 30  # data/events.csv, data/universe.csv
XLNX_GONE = 3  # events after Xilinx's delisting (Feb 2022)


def cli(*args, cwd=REPO):
    """``analysis.cli.main`` in this process (what ``python -m analysis`` runs), from ``cwd``;
    (returncode, stdout, stderr). An uncaught exception (a traceback) fails the test."""
    from analysis.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(args))
    return rc, out.getvalue(), err.getvalue()


def read(out, name):
    return pd.read_csv(out / name, dtype={"window": str, "day0": str, "date": str})


def header(out, name):
    return (out / name).read_text().splitlines()[0].split(",")


def assert_contract(out):
    for name, cols in FILES.items():
        assert (out / name).is_file(), name
        assert header(out, name)[: len(cols)] == cols, name


#: Pseudo-event draws of :func:`default_run`: enough to write the placebo and calibration columns
#: (checked below); the default 1,000 placebo and 5,000 calibration draws cost about 50 s of CPU
#: more and change no file or column this contract checks (their defaults: tests/test_spec.py).
FEW_DRAWS = ("--placebo-draws", "50", "--calibration-draws", "50")


@pytest.fixture(scope="module")
def default_run(shared_prices, tmp_path_factory):
    """The documented command, from the repository root, with fewer pseudo-event draws; run by
    ``analysis.cli.main`` in this process (:func:`cli`: a fresh interpreter would import the
    package again, ~4 s of CPU; ``python -m analysis study`` in its own process: test_hardening2)."""
    out = tmp_path_factory.mktemp("study")
    assert shared_prices.resolve() == (REPO / ".." / "shared" / "prices").resolve()
    rc, stdout, stderr = cli("study", "--prices", "../shared/prices", "--out", str(out), *FEW_DRAWS)
    assert rc == 0, stderr
    return out, stdout, stderr


@pytest.mark.shared_prices
def test_default_study_writes_the_five_files(default_run):
    out, stdout, stderr = default_run
    assert_contract(out)
    assert "Traceback" not in stderr
    car = read(out, "car.csv")
    assert set(car.loc[car["window_kind"] == "requested", "window"]) == {"0:0", "0:1", "-1:1", "0:5", "-5:5"}
    est = read(out, "estimation.csv")
    skipped = read(out, "skipped.csv")
    # every (event, symbol) is either estimated or skipped with a reason
    assert len(est) + len(skipped) == N_EVENTS * N_SYMBOLS
    assert skipped["reason"].str.len().gt(0).all()
    xlnx = skipped[(skipped["symbol"] == "XLNX") & (skipped["event_id"] == "ft_sdn_2022")]
    assert len(xlnx) == 1  # delisted in Feb 2022
    assert len(skipped[skipped["symbol"] == "XLNX"]) == XLNX_GONE + 7  # + 7 events in its merger period (AMD, from 2020-10-27)
    assert len(car[car["window_kind"] == "requested"]) == 5 * len(est)
    assert set(car["window_kind"]) == {"requested", "limit_extended"}
    assert est.set_index(["event_id", "symbol"]).index.is_unique
    hik = est[(est["event_id"] == "nyt_hikvision_2019") & (est["symbol"] == "002415.SZ")].iloc[0]
    assert hik["day0"] == "2019-05-22" and hik["benchmark"] == "000300.SS"
    # the NDAA passage (Aug 2018) lies in the window: its +-5 sessions are left out
    assert hik["m"] + hik["m_excluded"] == 240 and hik["m_excluded"] == 11
    tests = read(out, "tests.csv")
    for t in ("t_cs", "patell", "bmp", "bmp_kp", "gen_sign"):
        assert t in set(tests["test"])
    assert {"named", "supplier", "peer", "all"} <= set(tests["group"])
    assert "flags" in tests.columns
    # the placebo test and every test's calibration ran, at the draws asked for
    assert (tests.loc[tests["test"] == "placebo", "draws"] == 50).any()
    assert (tests["calibration_draws"] == 50).any() and tests["p_calibrated"].notna().any()
    sens = read(out, "sensitivity.csv")
    assert header(out, "sensitivity.csv")[:9] == ["event_id", "date_kind", "announced_at", "group", "window", "n",
                                                   "mean_car", "statistic", "p_value"]
    assert {"announcement", "publication"} <= set(sens[sens["event_id"] == "entity_list_28_2019"]["date_kind"])


@pytest.mark.shared_prices
def test_abnormal_returns_cover_every_window_day(default_run):
    out, _, _ = default_run
    ar = read(out, "abnormal_returns.csv")
    est = read(out, "estimation.csv")
    days = ar.groupby(["event_id", "symbol"])["day"].apply(lambda s: sorted(s))
    assert len(days) == len(est)
    assert all(d == list(range(-5, 6)) for d in days)  # earliest window start -5 .. latest end 5
    # a suspended day is a row with a date and missing values (Hikvision, 2019-10-08)
    row = ar[(ar["event_id"] == "entity_list_28_2019") & (ar["symbol"] == "002415.SZ") & (ar["day"] == 0)].iloc[0]
    assert row["date"] == "2019-10-08" and pd.isna(row["return"]) and pd.isna(row["abnormal_return"])


@pytest.mark.shared_prices
def test_repeatable_options_and_equals_forms(shared_prices, tmp_path):
    rc, _, err = cli("study", "--prices", str(shared_prices), "--out", str(tmp_path),
                     "--event", "nyt_hikvision_2019", "--event", "entity_list_28_2019",
                     "--symbol", "AMBA", "--symbol", "002415.SZ", "--symbol", "INTC",
                     "--estimation=-120:-11", "--window=-1:1", "--window=0:0", "--window=2:3",
                     "--min-obs", "100", "--placebo-draws", "0", "--exclude-event-days", "0", "--quiet")
    assert rc == 0, err
    assert_contract(tmp_path)
    est = read(tmp_path, "estimation.csv")
    assert sorted(set(est["event_id"])) == ["entity_list_28_2019", "nyt_hikvision_2019"]
    assert sorted(set(est["symbol"])) == ["002415.SZ", "AMBA", "INTC"]
    assert (est[est["symbol"] != "002415.SZ"]["m"] == 110).all()  # -120..-11, no gaps
    car = read(tmp_path, "car.csv")
    assert list(car["window"].unique()) == ["-1:1", "0:0", "2:3"]
    ar = read(tmp_path, "abnormal_returns.csv")
    assert sorted(ar["day"].unique()) == [-1, 0, 1, 2, 3]
    assert len(ar) == 5 * len(est)


@pytest.mark.shared_prices
def test_min_obs_above_every_firms_returns_skips_everyone_and_exits_3(shared_prices, tmp_path):
    """Issue 20: a run whose every firm-event is skipped is not a success: exit 3, one line, the
    files still written (skipped.csv holds the reasons). XLNX's prices end before these events.
    (A --min-obs above the window's length is refused up front: tests/test_spec.py.)"""
    rc, out, err = cli("study", "--prices", str(shared_prices), "--out", str(tmp_path), "--symbol", "XLNX",
                       "--event", "ft_sdn_2022", "--event", "dod_1260h_list_2022", "--placebo-draws", "0")
    assert rc == 3, err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        line for line in err.splitlines() if "every firm-event was skipped" in line]
    assert "every firm-event was skipped (2; see skipped.csv); first: ft_sdn_2022 XLNX: day 0" in err
    assert out == ""
    assert len(read(tmp_path, "skipped.csv")) == 2
    assert_contract(tmp_path)
    for name in ("abnormal_returns.csv", "car.csv", "estimation.csv"):
        assert len(read(tmp_path, name)) == 0


def _bad_events(tmp_path):
    p = tmp_path / "events.csv"
    p.write_text("event_id,announced_at,title,kind,source\nbad_one,2019-05-21T20:00,t,report,s\n")
    return p


BAD = {
    "unknown event": lambda t: ["--event", "no_such_event"],
    "unknown model": lambda t: ["--model", "capm2"],
    "window 1:-1": lambda t: ["--window=1:-1"],
    "window not a:b": lambda t: ["--window=soon"],
    "estimation 0:-5": lambda t: ["--estimation=0:-5"],
    "prices folder": lambda t: ["--prices", str(t / "nowhere")],
    "malformed events": lambda t: ["--events", str(_bad_events(t))],
    "missing events file": lambda t: ["--events", str(t / "none.csv")],
    "ff3 with a missing factor file": lambda t: ["--model", "ff3", "--factors", str(t / "none.csv")],
    "unknown option": lambda t: ["--frobnicate"],
}


@pytest.mark.shared_prices
@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_exits_2_with_one_line(shared_prices, tmp_path, case):
    args = ["study", "--prices", str(shared_prices), "--out", str(tmp_path / "out"), "--quiet"] + BAD[case](tmp_path)
    rc, stdout, stderr = cli(*args)
    assert rc == 2, (case, stderr)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("error:")
    assert not (tmp_path / "out" / "car.csv").exists()


def test_bad_input_through_main_in_process(tmp_path, capsys):
    from analysis.cli import main

    assert main(["study", "--out", str(tmp_path), "--window=3:1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "3:1" in err[0]
    assert main(["study", "--out", str(tmp_path), "--events", str(_bad_events(tmp_path))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "announced_at" in err[0] and "row 1" in err[0]


def test_empty_prices_folder_is_one_line_error_and_writes_nothing(tmp_path):
    (tmp_path / "prices").mkdir()
    rc, _, err = cli("study", "--prices", str(tmp_path / "prices"), "--out", str(tmp_path / "out"),
                     "--placebo-draws", "0", "--quiet")
    assert rc == 2 and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and "no prices could be loaded" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.shared_prices
def test_a_missing_symbol_is_skipped_and_the_others_run(tmp_path, shared_prices):
    import shutil

    folder = tmp_path / "prices"
    folder.mkdir()
    for f in shared_prices.glob("*.csv"):
        if f.name != "AMBA.csv":
            shutil.copy(f, folder / f.name)
    rc, _, err = cli("study", "--prices", str(folder), "--out", str(tmp_path / "out"), "--placebo-draws", "0",
                     "--quiet", "--event", "nyt_hikvision_2019")
    assert rc == 0, err
    skipped = read(tmp_path / "out", "skipped.csv")
    assert list(skipped["symbol"]) == ["AMBA"] and "AMBA" in skipped["reason"].iloc[0]
    car = read(tmp_path / "out", "car.csv")
    assert "002415.SZ" in set(car["symbol"]) and "AMBA" not in set(car["symbol"])


# --------------------------------------------------------------------------- issue 13: hardening


def _main(*args):
    from analysis.cli import main

    return main(list(args))


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error:") and "Traceback" not in err[0]
    return err[0]


SMALL = ["--event", "nyt_hikvision_2019", "--placebo-draws", "0", "--quiet"]


@pytest.mark.parametrize("option, value", [("--estimation", "-5000000:-11"), ("--window", "0:99999999999999999999"),
                                           ("--window", "-5001:0"), ("--estimation", "-6000:-11")])
def test_case7_unbounded_ranges_exit_2_naming_the_option(tmp_path, capsys, option, value):
    """Issue 13, case 7: --estimation -5000000:-11 took 10 GB and ended in a MemoryError traceback."""
    assert _main("study", "--out", str(tmp_path / "out"), option, value) == 2
    line = _one_line(capsys)
    assert f"argument {option}" in line and "within -5000..5000" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.shared_prices
@pytest.mark.parametrize("option, value, span", [("--estimation", "-4000:-11", 3990), ("--window", "0:2999", 3000)])
def test_case7_windows_longer_than_the_price_history_exit_2(shared_prices, tmp_path, capsys, option, value, span):
    assert _main("study", "--prices", str(shared_prices), "--out", str(tmp_path / "out"), option, value, *SMALL) == 2
    line = _one_line(capsys)
    assert line == (f"error: {option} {value} spans {span} sessions, more than the longest price history "
                     "(2136 days, ^GSPC)")
    assert not (tmp_path / "out").exists()


def test_case8_out_empty_or_a_file_exits_2_before_running(tmp_path, capsys, monkeypatch):
    """Issue 13, case 8: --out "" wrote seven CSVs into the current directory."""
    monkeypatch.chdir(tmp_path)
    assert _main("study", "--out", "") == 2
    assert _one_line(capsys) == "error: --out: expected a folder name, got an empty string"
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "afile").write_text("keep me")
    assert _main("study", "--out", "afile") == 2
    assert _one_line(capsys) == "error: --out afile: is a file, not a folder"
    assert (tmp_path / "afile").read_text() == "keep me"


@pytest.mark.parametrize("which", ["events", "universe"])
def test_case8_header_only_events_or_universe_exit_2(tmp_path, capsys, which):
    """Issue 13, case 8: a header-only file gave exit 0 with empty outputs (or '0 symbols failed')."""
    header = {"events": "event_id,announced_at,title,kind,source", "universe": "symbol,name,role,exchange,benchmark"}
    path = tmp_path / f"{which}.csv"
    path.write_text(header[which] + "\n\n")
    assert _main("study", f"--{which}", str(path), "--out", str(tmp_path / "out")) == 2
    assert _one_line(capsys) == f"error: {path}: no rows: the file has only a header ({header[which]})"
    assert not (tmp_path / "out").exists()


def _universe(tmp_path, *rows):
    path = tmp_path / "universe.csv"
    path.write_text("symbol,name,role,exchange,benchmark\n" + "".join(r + "\n" for r in rows))
    return path


def test_case6_a_symbol_that_is_its_own_benchmark_exits_2(tmp_path, capsys):
    """Issue 13, case 6: ^GSPC with benchmark ^GSPC was studied (sigma ~ 1e-18)."""
    uni = _universe(tmp_path, "AMBA,Ambarella,supplier,XNAS,^GSPC", "^GSPC,S&P 500,supplier,XNAS,^GSPC")
    assert _main("study", "--universe", str(uni), "--out", str(tmp_path / "out")) == 2
    assert _one_line(capsys) == (f"error: {uni}: row 2, field 'benchmark': '^GSPC' is the security itself; a "
                                 "benchmark must be another series (its market index)")


@pytest.mark.shared_prices
def test_case9_an_exchange_that_disagrees_with_the_price_file_exits_2(shared_prices, tmp_path, capsys):
    """Issue 13, case 9: a US stock declared XSHE was analysed on the Shanghai calendar without a word."""
    uni = _universe(tmp_path, "INTC,Intel,supplier,XNAS,^GSPC", "AMBA,Ambarella,supplier,XSHE,^GSPC")
    assert _main("study", "--prices", str(shared_prices), "--universe", str(uni), "--out", str(tmp_path / "out"),
                 *SMALL) == 2
    line = _one_line(capsys)
    assert line.startswith(f"error: {uni}: row 2, field 'exchange': prices of AMBA: ")
    assert "are not XSHE sessions (at most 2% may be): is the exchange right?" in line
    assert not (tmp_path / "out").exists()


def test_exit_1_one_line_when_the_disk_is_full(tmp_path, capsys, monkeypatch):
    import errno

    from analysis import results
    from analysis.study import EventStudy

    class Fake:
        def to_csv(self, out):
            raise OSError(errno.ENOSPC, "No space left on device", str(out))

        def summary(self):
            return ""

    monkeypatch.setattr(EventStudy, "fit", lambda self: Fake())
    assert _main("study", "--out", str(tmp_path / "out"), "--quiet") == 1
    assert _one_line(capsys).startswith(f"error: cannot write the results to {tmp_path / 'out'}: No space left")
    assert results  # imported for the monkeypatch target's module


def test_case6_own_benchmark_in_a_universe_frame_is_refused_too():
    import pandas as pd

    from analysis.errors import UserError
    from analysis.study import EventStudy

    uni = pd.DataFrame([{"symbol": "^GSPC", "name": "S&P", "role": "supplier", "exchange": "XNAS",
                         "benchmark": "^GSPC"}])
    idx = pd.bdate_range("2019-01-02", periods=300, name="date")
    frames = {"^GSPC": pd.DataFrame({"adj_close": 100.0, "close": 100.0, "volume": 1.0}, index=idx)}
    with pytest.raises(UserError, match=r"universe: row 1, field 'benchmark': '\^GSPC' is the security itself"):
        EventStudy(universe=uni, prices=frames, placebo_draws=0).fit()
