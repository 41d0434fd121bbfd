"""Rejection rates of the cross-sectional tests on simulated market-model samples.

Each simulated sample is one "event": N firms whose returns follow the market model
R_it = a_i + b_i Rm_t + e_it over 250 estimation days (relative days -260..-11) and the
event period, with Rm_t ~ N(0.0005, 0.01^2) common to the sample's firms, a_i ~ N(0, 0.0005^2),
b_i ~ U(0.5, 1.5), s_i ~ U(0.01, 0.03) and e_it ~ N(0, s_i^2) or s_i * t(4) / sqrt(2)
(fat tails, same variance). Under the alternative every firm's day-0 return gets +3%.

All samples go through the real engine in ONE batched call: a ReturnStore holds one security
per (sample, firm), each with its own copy of the sample's market series as regressors
[1, Rm] (span 1), and the firm-events' event codes are the sample index, so
:func:`analysis.inference.cells.cross_sectional_tests` and :func:`analysis.inference.ranks.rank_tests`
give one cell per (sample, window). A test rejects at 5% when its two-sided p < 0.05; the
rate is the share of samples rejected (a NaN p-value counts as not rejected).

    .venv/bin/python benchmarks/simulate_rejection.py [--samples 1000] [--firms 44] [--seed 7]

prints a markdown table. N = 44 firms by default, for two finite-sample effects: the
generalized sign test is discrete, and its exact size under Bin(N, 1/2) is 4.9% for N = 44
(5.0% for 32, 3.9% for 40, 6.5% for 50); GRANK divides every SCAR of a cell by the same
sample standard deviation, and that common noise makes it a little oversized in small cells
(about 6% on average at N = 32 with normal errors, about 5.5% at N = 44).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from analysis.inference import cells as crosssection, parametric as inference, ranks as ranktests
from analysis.estimation import engine
from analysis.estimation.models import get_model

ESTIMATION = (-260, -11)  # 250 estimation days
WINDOWS = [(0, 0), (-1, 1)]
TESTS = tuple(inference.PARAMETRIC_TESTS) + tuple(ranktests.RANK_TESTS)
SHOCK = 0.03
ALPHA = 0.05
ERRORS = ("normal", "t4")  # e_it ~ N(0, s_i^2) or s_i t(4) / sqrt(2)


def simulate_store(n_samples: int, n_firms: int, errors: str, seed: int):
    """A ReturnStore with one security per (sample, firm), no event effect.

    Returns (store, sec, p0, event_code, day0_flat): firm-event arrays for engine.run and the
    flat store index of every firm-event's day 0 (where a shock is added).
    """
    rng = np.random.default_rng(seed)
    p0 = -ESTIMATION[0]
    length = p0 + 1 + max(w[1] for w in WINDOWS) + engine.SPAN_BUFFER
    S, N = n_samples, n_firms
    rm = rng.normal(0.0005, 0.01, (S, length))
    a = rng.normal(0.0, 0.0005, (S, N, 1))
    b = rng.uniform(0.5, 1.5, (S, N, 1))
    s = rng.uniform(0.01, 0.03, (S, N, 1))
    if errors == "normal":
        z = rng.standard_normal((S, N, length))
    elif errors == "t4":
        z = rng.standard_t(4, (S, N, length)) / np.sqrt(2.0)  # t(4) has variance 2
    else:
        raise ValueError(f"unknown errors '{errors}'")
    ret = (a + b * rm[:, None, :] + s * z).reshape(-1)
    del z
    n_sec = S * N
    total = n_sec * length
    X = np.empty((total, 2))
    X[:, 0] = 1.0
    X[:, 1] = np.broadcast_to(rm[:, None, :], (S, N, length)).reshape(-1)
    sessions = pd.bdate_range("2001-01-02", periods=length).values.astype("datetime64[D]")
    day_numbers = (sessions - np.datetime64("1970-01-01", "D")).astype(np.int64)
    start = np.arange(n_sec, dtype=np.int64) * length
    store = engine.ReturnStore(
        spec=get_model("market"),
        symbols=[f"S{k}" for k in range(n_sec)],
        start=start,
        length=np.full(n_sec, length, dtype=np.int64),
        dates=np.tile(day_numbers, n_sec),
        ret=ret,
        span=np.ones(total, dtype=np.int64),
        X=X,
        offset=np.zeros(total),
        volume=None,
        close=None,
        prev_close=None,
    )
    sec = np.arange(n_sec, dtype=np.int64)
    p0s = np.full(n_sec, p0, dtype=np.int64)
    event_code = np.repeat(np.arange(S, dtype=np.int64), N)
    return store, sec, p0s, event_code, start + p0


def p_values(store, sec, p0, event_code) -> dict[tuple[str, int], np.ndarray]:
    """Engine -> cross-sectional and rank tests; p-values per (test, window index), (samples,)."""
    out = engine.run(store, sec, p0, estimation=ESTIMATION, windows=WINDOWS)
    group = np.zeros(len(sec), dtype=np.int64)
    keys, arrays = crosssection.cross_sectional_tests(event_code, group, 1, out, store, with_all=False)
    win = keys["window"].to_numpy()
    rank = ranktests.rank_tests(out, arrays["_rows"], arrays["_cell"], win, len(keys))
    ev = keys["event"].to_numpy()
    n_samples = int(event_code.max()) + 1
    res = {}
    for test in TESTS:
        p = arrays[f"{test}_p"] if test in inference.PARAMETRIC_TESTS else rank[test][1]
        for j in range(len(WINDOWS)):
            pj = np.full(n_samples, np.nan)
            m = win == j
            pj[ev[m]] = p[m]
            res[(test, j)] = pj
    return res


def rejection_rates(n_samples: int = 1000, n_firms: int = 44, seed: int = 7,
                    errors=ERRORS, shock: float | None = SHOCK) -> pd.DataFrame:
    """Rejection rates at 5%: rows = tests, columns = (scenario, errors, window).

    Scenario 'null' always; 'shock' (the same samples plus ``shock`` on every firm's day-0
    return) unless ``shock`` is None. Error type e uses seed ``seed + ERRORS.index(e)``, so a
    subset of error types reproduces the full table's columns. A NaN p-value counts as not
    rejected; the number of NaN p-values is in ``frame.attrs['nan_p']``.
    """
    cols = {}
    nan_p = 0
    for err in errors:
        store, sec, p0, ev, day0 = simulate_store(n_samples, n_firms, err, seed + ERRORS.index(err))
        for scenario in ("null",) + (("shock",) if shock is not None else ()):
            if scenario == "shock":
                store.ret[day0] += shock
            pv = p_values(store, sec, p0, ev)
            nan_p += int(sum(np.isnan(v).sum() for v in pv.values()))
            for j, w in enumerate(WINDOWS):
                key = (scenario, err, engine.format_window(w))
                cols[key] = [float(np.mean(pv[(t, j)] < ALPHA)) for t in TESTS]
    frame = pd.DataFrame(cols, index=list(TESTS))
    frame.columns = pd.MultiIndex.from_tuples(frame.columns, names=["scenario", "errors", "window"])
    frame.attrs["nan_p"] = nan_p
    return frame


def markdown(frame: pd.DataFrame, shock: float = SHOCK) -> str:
    label = {"null": "null", "shock": f"{shock:.1%} day-0 shock", "normal": "normal", "t4": "t(4)"}
    heads = [f"{label[s]}, {label[e]}, {w}" for s, e, w in frame.columns]
    lines = ["| test | " + " | ".join(heads) + " |", "|---|" + "---:|" * len(heads)]
    for test, row in frame.iterrows():
        lines.append(f"| {test} | " + " | ".join(f"{100 * v:.1f}%" for v in row) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--firms", type=int, default=44)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--shock", type=float, default=SHOCK, help="day-0 abnormal return (decimal)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    frame = rejection_rates(args.samples, args.firms, args.seed, shock=args.shock)
    secs = time.perf_counter() - t0
    print(f"Rejection rates at 5% (two-sided), {args.samples} samples of {args.firms} firms, "
          f"estimation {ESTIMATION[0]}:{ESTIMATION[1]} (250 days), market model, seed {args.seed}; "
          f"{secs:.0f} s\n")
    print(markdown(frame, args.shock))


if __name__ == "__main__":
    main()
