"""Benchmark: a synthetic universe of N firms x the catalog's events, with the full default inference.

    .venv/bin/python benchmarks/bench_scale.py [--firms 10000] [--seed 5] [--placebo-draws 1000]
                                               [--calibration-draws N|all] [--smoke] [--out DIR]

Builds, from seeded returns (nothing read but ``data/*.csv``), N US firms on the XNYS
sessions covering every event of ``data/events.csv`` (two years before the first, one after
the last), each with its own beta on one synthetic index and normal noise, about 1% of
sessions suspended; roles drawn target 10% / peer 30% / supplier 60%. Then times
``EventStudy(...).fit()`` with the default model, windows, placebo and calibration draws (as
``python -m analysis study`` runs it; the shipped event_firms/event_dates/confounders files
apply where they name these events). With many firms per event the pseudo-events are bounded
(:data:`analysis.vocab.PSEUDO_FIRM_EVENTS_PER_EVENT`: at 10,000 firms, 5 pseudo-event dates
per event; the study notes it on stderr). Prints the fit's wall and CPU seconds and, last:

    scale: N firms, M firm-events, T s, P GiB peak

with T the fit's wall seconds and P the process's peak resident memory (``resource.getrusage``
ru_maxrss: the generated prices included). ``--out DIR`` then writes the study's CSVs (as
``python -m analysis study --out``) to compare runs with ``benchmarks/compare_study.py``. ``--smoke``: 30 firms, 40 placebo and 20
calibration draws (a few seconds; CI runs it).
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from analysis.data import calendars  # noqa: E402
from analysis.data.catalog import load_events  # noqa: E402
from analysis.vocab import DEFAULT_CALIBRATION_DRAWS  # noqa: E402

INDEX = "^SYN"


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def synthetic(n_firms: int, seed: int, events: pd.DataFrame):
    """(universe frame, {symbol: price frame}) for ``n_firms`` XNYS firms and the index."""
    rng = np.random.default_rng(seed)
    when = pd.to_datetime(events["announced_at"].astype(str).str[:10])
    sess = calendars.sessions("XNYS", when.min() - pd.DateOffset(years=2), when.max() + pd.DateOffset(years=1))
    T = len(sess)
    rm = rng.normal(0.0004, 0.011, T)
    index_px = 100.0 * np.cumprod(1.0 + rm)
    frames = {INDEX: pd.DataFrame({"adj_close": index_px, "close": index_px,
                                   "volume": np.full(T, np.nan)}, index=sess)}
    roles = rng.choice(["target", "peer", "supplier"], size=n_firms, p=[0.1, 0.3, 0.6])
    symbols = [f"S{k:05d}" for k in range(n_firms)]
    for k, sym in enumerate(symbols):
        beta, sd = rng.uniform(0.5, 1.5), rng.uniform(0.01, 0.03)
        r = beta * rm + sd * rng.standard_t(5, T) / np.sqrt(5 / 3)
        px = 20.0 * np.cumprod(1.0 + np.clip(r, -0.5, 1.0))
        px[rng.random(T) < 0.01] = np.nan  # suspended sessions
        px[0] = 20.0
        frames[sym] = pd.DataFrame({"adj_close": px, "close": px, "volume": rng.integers(1_000, 10**6, T)
                                    .astype(float)}, index=sess)
    universe = pd.DataFrame({"symbol": symbols, "name": symbols, "role": roles, "exchange": "XNYS",
                             "benchmark": INDEX})
    return universe, frames


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--firms", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--placebo-draws", type=int, default=1000)
    ap.add_argument("--calibration-draws", default=None,
                    help=f"a number or 'all' (default: the study's default, {DEFAULT_CALIBRATION_DRAWS})")
    ap.add_argument("--smoke", action="store_true", help="30 firms, 40 placebo and 20 calibration draws: a few seconds")
    ap.add_argument("--out", default=None, help="also write the study's CSVs here (after the timing; to compare "
                    "runs with benchmarks/compare_study.py)")
    args = ap.parse_args(argv)
    if args.smoke:
        args.firms, args.placebo_draws, args.calibration_draws = 30, 40, 20
    from analysis.study import EventStudy

    events = load_events(REPO / "data" / "events.csv")
    t0 = time.perf_counter()
    universe, frames = synthetic(args.firms, args.seed, events)
    print(f"generated {args.firms:,} firms x {len(frames[INDEX]):,} sessions in {time.perf_counter() - t0:.1f} s; "
          f"{len(events)} events; peak so far {peak_gib():.2f} GiB")
    kw = {} if args.calibration_draws is None else {"calibration_draws": args.calibration_draws}
    study = EventStudy(events=events, universe=universe, prices=frames, placebo_draws=args.placebo_draws, **kw)
    w0, c0 = time.perf_counter(), time.process_time()
    res = study.fit()
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    n_fe = len(res.panel.frame)
    print(f"fit: {wall:.1f} s wall, {cpu:.1f} s CPU; {n_fe:,} firm-events, {len(res.tests):,} test rows, "
          f"{len(res.car):,} CAR rows; placebo draws {args.placebo_draws}, calibration draws "
          f"{study.calibration_draws}")
    print(f"scale: {args.firms:,} firms, {n_fe:,} firm-events, {wall:.1f} s, {peak_gib():.2f} GiB peak")
    if args.out:
        res.to_csv(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
