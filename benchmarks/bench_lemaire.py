"""Benchmark: the engine against Lemaire's ``eventstudy`` package on the same US firm-events.

    .venv/bin/python benchmarks/bench_lemaire.py [--prices DIR] [--n 2000] [--repeat 7] [--seed 7]
    .venv/bin/python benchmarks/bench_lemaire.py --smoke     (100 firm-events, one run; CI runs it)

``eventstudy`` (J.-B. Lemaire, https://github.com/LemaireJean-Baptiste/eventstudy, GPL-3.0,
installed by ``make test``'s extra, never copied here) runs one firm-event per call:
``Single.market_model`` fits the market model with ``statsmodels.OLS`` over ``estimation_size``
returns ending ``buffer_size`` sessions before the event window, and returns the window's ARs,
the CAR path (cumulative ARs), its variance (days x the residual variance) and t-test p-values.

What both run here, on the recorded prices (nothing copied into the repository):

1. The universe's US firms (XNAS, XNYS) with their universe benchmark as the market, on their
   sessions (as ``benchmarks/bench_engine.py`` loads them). Firm-events: pseudo-event dates
   drawn with a seeded ``numpy.random.Generator`` (``bench_engine.draw_firm_events``), kept
   when every return of the estimation window -250:-11 and the event window -5:+5 is a
   single-session return with a market return (Lemaire's fit has no rule for a missing or
   spanning return), the first ``--n`` of them.
2. Lemaire: ``Single.market_model(..., event_window=(-5, 5), estimation_size=240,
   buffer_size=5)`` per firm-event (the estimation window -250:-11, as the engine's), after
   ``Single.import_returns`` of one returns table (untimed, like the engine's store). Timed: the
   N calls, the best of ``--repeat`` passes, interleaved with the engine's runs.
3. Engine: the same N firm-events with the eleven windows -5:-5, -5:-4, ..., -5:+5 and the
   firms' CAR p-values (``car_p``): what Lemaire's returns, the CAR path with a variance, t and
   p per day (not the same variances: the engine's Var(CAR) holds the estimation error and
   its t has M - 2 d.f., Lemaire's is days x the residual variance with ddof 0 and 239 d.f.;
   only the CARs are compared), best wall time of ``--repeat`` runs after a warm-up, Lemaire's
   too (each run the N calls); the ratio of the last line is this one.
   Interleaved with it and printed before: the same plus the cells (event x role and all) and the
   six parametric tests of ``bench_engine`` (which Lemaire's ``Single`` does not compute).
4. Check: the CAR paths agree (max |dCAR| < 1e-10, else exit status 1).

The last line printed is:

    engine: <E> firm-events/s; Lemaire eventstudy: <L> firm-events/s; ratio: <R>x
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [p for p in (str(REPO), str(REPO / "benchmarks")) if p not in sys.path]

import bench_engine  # noqa: E402
from analysis.data.catalog import ROLES  # noqa: E402
from analysis.estimation import engine  # noqa: E402

US = ("XNAS", "XNYS")
WINDOW = (-5, 5)
#: Lemaire's estimation window ends buffer + 1 sessions before the event window's start: -250:-11
BUFFER = WINDOW[0] - bench_engine.ESTIMATION[1] - 1
ESTIMATION_SIZE = bench_engine.ESTIMATION[1] - bench_engine.ESTIMATION[0] + 1
TOL = 1e-10


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    bench_engine.add_prices_option(ap)
    ap.add_argument("--n", type=int, default=2000, help="firm-events (default 2,000)")
    ap.add_argument("--repeat", type=int, default=7, help="timed engine runs, the best reported (default 7)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--smoke", action="store_true", help="100 firm-events, one engine run (CI)")
    args = ap.parse_args(argv)
    if args.smoke:
        args.n, args.repeat = 100, 1
    if args.n < 1 or args.repeat < 1:
        ap.error("--n and --repeat must be positive")
    return args


def lemaire():
    """``eventstudy.Single`` and its version, or exit 2 with the install command."""
    try:
        from importlib.metadata import version

        from eventstudy import Single
    except ImportError:
        sys.exit("Lemaire's eventstudy is not installed: .venv/bin/pip install 'eventstudy==0.1a12' "
                 "(make test installs it)")
    return Single, version("eventstudy")


def us_firm_events(meta, series, bases, store, n, rng):
    """(sec, p0, event_code) of the first n drawn firm-events of US firms whose estimation and
    event windows hold single-session returns with a market return (module doc, step 1)."""
    us = np.array([m.exchange in US for m in meta])
    lo, hi = bench_engine.ESTIMATION[0], WINDOW[1]
    good = []  # per security: positions p0 whose rows p0 + lo .. p0 + hi are all clean
    for sr, b in zip(series, bases):
        clean = np.isfinite(sr.ret) & (sr.span == 1) & np.isfinite(b["mkt"].to_numpy(dtype=float))
        run = np.concatenate([[0], np.cumsum(clean)])  # clean rows before each position
        ok = np.zeros(len(clean), bool)
        p = np.arange(-lo, len(clean) - hi)
        ok[p] = run[p + hi + 1] - run[p + lo] == hi - lo + 1
        good.append(ok)
    secs, p0s, evs, total, offset = [], [], [], 0, 0
    while total < n:  # draws until n such firm-events (pseudo-events of the US firms)
        sec, p0, ev = bench_engine.draw_firm_events(store, 4 * n, [WINDOW], rng)
        keep = us[sec] & np.array([good[s][p] for s, p in zip(sec, p0)], bool)
        secs.append(sec[keep])
        p0s.append(p0[keep])
        evs.append(ev[keep] + offset)  # each draw's pseudo-events numbered after the last draw's
        offset += int(ev.max()) + 1 if len(ev) else 0
        total += int(keep.sum())
    sec, p0, ev = (np.concatenate(a)[:n] for a in (secs, p0s, evs))
    return sec, p0, np.unique(ev, return_inverse=True)[1].astype(np.int64)


def returns_table(meta, series, bases, secs, folder: Path) -> Path:
    """One CSV for Lemaire's ``Single.import_returns``: a date column (the US sessions) and, per
    security, its returns and its market's (``<symbol>~mkt``)."""
    cols = {}
    for s in secs:
        sr, b = series[s], bases[s]
        cols[meta[s].symbol] = pd.Series(sr.ret, index=sr.sessions)
        cols[meta[s].symbol + "~mkt"] = pd.Series(b["mkt"].to_numpy(dtype=float), index=sr.sessions)
    table = pd.DataFrame(cols).sort_index()
    table.index = pd.DatetimeIndex(table.index).strftime("%Y-%m-%d")
    path = folder / "returns.csv"
    table.rename_axis("date").reset_index().to_csv(path, index=False, float_format="%.17g")
    return path


def run_lemaire(Single, meta, series, sec, p0):
    """Lemaire's CAR path (N, 11) of every firm-event, and the wall seconds of the N calls."""
    days = [np.datetime64(pd.Timestamp(series[s].sessions[p]).date()) for s, p in zip(sec, p0)]
    car = np.empty((len(sec), WINDOW[1] - WINDOW[0] + 1))
    t0 = time.perf_counter()
    for i, (s, day) in enumerate(zip(sec, days)):
        ev = Single.market_model(security_ticker=meta[s].symbol, market_ticker=meta[s].symbol + "~mkt",
                                 event_date=day, event_window=WINDOW, estimation_size=ESTIMATION_SIZE,
                                 buffer_size=BUFFER)
        car[i] = ev.CAR
    return car, time.perf_counter() - t0


def run_engine(store, sec, p0, windows):
    """What Lemaire's package computes (module doc, step 3): the CAR path, its se and t, and the
    firms' p-values; returns the result."""
    out = engine.run(store, sec, p0, bench_engine.ESTIMATION, windows, bench_engine.MIN_OBS)
    out.car_p  # noqa: B018  (the firms' p-values, computed on first read)
    return out


def run_engine_and_tests(store, sec, p0, event_code, group_code, windows):
    """bench_engine's unit (engine.run, the cells and the six parametric tests: more than
    Lemaire's) and the firms' p-values."""
    out, _, _ = bench_engine.run_engine(store, sec, p0, event_code, group_code, len(ROLES), windows)
    out.car_p  # noqa: B018
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    Single, version = lemaire()
    rng = np.random.default_rng(args.seed)
    meta, series, bases, store, _, _ = bench_engine.load_data(args.prices)
    sec, p0, event_code = us_firm_events(meta, series, bases, store, args.n, rng)
    N = len(sec)
    role = {r: i for i, r in enumerate(ROLES)}
    group_code = np.array([role[m.role] for m in meta], dtype=np.int64)[sec]
    windows = [(WINDOW[0], k) for k in range(WINDOW[0], WINDOW[1] + 1)]
    firms = sorted({meta[s].symbol for s in sec})
    print(f"firm-events: {N:,} of {len(firms)} US firms in {int(event_code.max()) + 1:,} pseudo-events; "
          f"market model, estimation {bench_engine.ESTIMATION[0]}:{bench_engine.ESTIMATION[1]}, "
          f"CAR path {WINDOW[0]}:{WINDOW[1]:+d}")

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lemaire's package and the engine's NaN arithmetic
        Single.import_returns(str(returns_table(meta, series, bases, np.unique(sec), Path(tmp))))
        run_lemaire(Single, meta, series, sec[:5], p0[:5])  # imports and first calls, untimed
        run_engine_and_tests(store, sec[:50], p0[:50], event_code[:50], group_code[:50], windows)  # warm-up
        load = os.getloadavg()[0]
        walls, more, lemaire_walls = [], [], []
        for k in range(args.repeat):  # interleaved: the same machine state for each
            if k < max(1, args.repeat // 2):  # Lemaire's pass is long: half as many
                l_car, t = run_lemaire(Single, meta, series, sec, p0)
                lemaire_walls.append(t)
            t0 = time.perf_counter()
            out = run_engine(store, sec, p0, windows)
            walls.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            run_engine_and_tests(store, sec, p0, event_code, group_code, windows)
            more.append(time.perf_counter() - t0)
    t_engine, t_more, t_lemaire = min(walls), min(more), min(lemaire_walls)
    diff = float(np.max(np.abs(out.car - l_car))) if N else 0.0
    print(f"Lemaire eventstudy {version}: {N:,} Single.market_model calls: best wall {t_lemaire:.3f} s; all "
          f"passes {', '.join(f'{w:.3f}' for w in lemaire_walls)} s")
    print(f"engine, Lemaire's outputs (11 windows: CAR, se, t; the firms' p-values): best wall "
          f"{t_engine * 1e3:.1f} ms; all runs {', '.join(f'{w * 1e3:.1f}' for w in walls)} ms; "
          f"load average before {load:.2f}")
    print(f"engine and its cells and {len(bench_engine.PARAMETRIC)} parametric tests (not in Lemaire's): best wall "
          f"{t_more * 1e3:.1f} ms; all runs {', '.join(f'{w * 1e3:.1f}' for w in more)} ms; "
          f"{t_lemaire / t_more:.1f}x Lemaire's time")
    print(f"check: CAR paths of {N:,} firm-events x 11 days, max |dCAR| {diff:.3g} (tolerance {TOL:g})")
    e_rate, l_rate = N / t_engine, N / t_lemaire
    print(f"engine: {e_rate:,.0f} firm-events/s; Lemaire eventstudy: {l_rate:,.0f} firm-events/s; "
          f"ratio: {e_rate / l_rate:.1f}x")
    if not diff < TOL:
        print("CHECK FAILED: the CAR paths differ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
