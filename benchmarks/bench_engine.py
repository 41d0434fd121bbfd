"""Benchmark: the vectorized engine against a plain per-firm-event statsmodels loop.

    .venv/bin/python benchmarks/bench_engine.py [--prices DIR] [--n 100000] [--loop-n 2000]
                                                [--seed 7] [--windows "0:0 -1:1 0:5 -5:5"]
                                                [--repeat 3] [--span-checks 200] [--tracemalloc]
                                                [--smoke]

(``--smoke``: 2,000 firm-events, a 100-firm-event loop, one run: checks that it works, in a
few seconds; CI runs it.)

(``--windows`` takes one string of START:END windows separated by spaces or commas; write
``--windows=-1:1`` when the string starts with a minus sign and holds a single window.)

What it does, on the real recorded prices (nothing is copied into the repository):

1. Loads the universe's firms that have a CSV in the prices folder, each on its own exchange's
   sessions with its universe benchmark as the market (as ``EventStudy.build_panel`` does), and
   builds the market-model ``ReturnStore`` -- timed separately ("load" and "store").
2. Draws pseudo-events with a seeded ``numpy.random.Generator``: a random calendar date each;
   day 0 of every firm is the first of its sessions on or after that date (the date-only
   day-0 rule, by ``searchsorted`` on the security's sessions). A firm joins the pseudo-event
   when the estimation window -250:-11 and every event window fit in its data, so a pseudo-event
   holds up to all firms (12 with the shipped universe) and the cross-sectional cells
   (pseudo-event x role/all x window) are realistic. Pseudo-events are drawn until N firm-events.
3. Times, in this one process: (a) ``engine.run`` + ``build_cells`` + the six parametric tests
   of the registry (t_cs, patell, bmp, bmp_kp incl. the Kolari-Pynnoenen correlation, gen_sign,
   sign_exact; market model) on all N
   firm-events, after a small warm-up that loads the compiled kernels (timed and printed
   separately: a one-off, like the imports), best wall time of ``--repeat`` runs (the
   machine may be shared: the load average and the CPU times are printed too); (b) a per-firm-event ``statsmodels.OLS`` loop
   on a random subsample of ``--loop-n`` of the same firm-events: fit over the estimation window
   (missing returns and spanned returns, span != 1, dropped like the engine), ARs, CAR per window
   and Var(CAR) = s^2 1'(I + X*(X'X)^-1 X*')1 with numpy from the statsmodels fit.
4. Checks the loop against the engine on the subsample: same usable fits, same CARs, Var(CAR)
   and se (max abs diff < 1e-10), else exits with status 1. ``--span-checks`` more firm-events
   whose windows hold a return spanning a suspension are checked the same way (untimed).

Suspensions in the event period are NOT excluded: the loop reproduces the engine's rule (a
return after n - 1 suspended sessions covers all n sessions: its regressor row is the sum of
the n session rows [n, sum Rm], it enters every window its coverage meets -- also when the
resumption falls after the window end, looking up to SPAN_BUFFER sessions ahead -- and it
counts n times in the identity term of Var(CAR)). The number of compared firm-events with such
a return in a window is printed.

Peak memory is the process's peak resident set size from ``resource.getrusage`` (ru_maxrss,
KiB on Linux) in MiB: it covers the interpreter, the loaded prices, the engine runs and the loop.
``--tracemalloc`` adds the engine's own peak traced allocation (one more, untimed run).
Rates in the last line are firm-events per wall-clock second; a line before it gives the same
rates per CPU second. The last line printed is:

    engine: <E> firm-events/s; statsmodels loop: <S> firm-events/s; ratio: <R>x

(the peak memory, also per firm-event, is on the line before it).
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from analysis.inference.cells import build_cells  # noqa: E402
from analysis.inference.battery import run_battery  # noqa: E402
from analysis.estimation import engine  # noqa: E402
from analysis.vocab import format_window, parse_window
from analysis.estimation import store as store_mod
from analysis.data.calendars import returns_on, session_returns  # noqa: E402
from analysis.data.catalog import ROLES, load_universe  # noqa: E402
from analysis.estimation.models import get_model  # noqa: E402
from analysis.data.prices import CsvSource, load_prices  # noqa: E402

ESTIMATION = (-250, -11)
MIN_OBS = 120
TOL = 1e-10
#: The six parametric tests timed with the engine.
PARAMETRIC = ("t_cs", "patell", "bmp", "bmp_kp", "gen_sign", "sign_exact")


def add_prices_option(ap: argparse.ArgumentParser) -> None:
    """``--prices DIR``: the recorded prices (this benchmark's and bench_lemaire's)."""
    ap.add_argument("--prices", default=str(REPO.parent / "shared" / "prices"),
                    help="folder of recorded <SYMBOL>.csv files (default <repo>/../shared/prices)")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_prices_option(ap)
    ap.add_argument("--n", type=int, default=100_000, help="firm-events for the engine")
    ap.add_argument("--loop-n", type=int, default=2000, help="firm-events for the statsmodels loop")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--windows", default="0:0 -1:1 0:5 -5:5",
                    help="event windows START:END separated by spaces or commas")
    ap.add_argument("--repeat", type=int, default=3,
                    help="timed engine runs; the best (shortest wall time) is reported (default 3)")
    ap.add_argument("--span-checks", type=int, default=200,
                    help="extra firm-events with a return spanning a suspension in a window, checked "
                         "against the loop but not timed (default 200; 0 = none)")
    ap.add_argument("--tracemalloc", action="store_true",
                    help="also report the engine's own peak traced allocation (an extra, untimed run)")
    ap.add_argument("--smoke", action="store_true",
                    help="a few seconds: 2,000 firm-events, 100 in the loop, one run, 20 span checks")
    args = ap.parse_args(argv)
    if args.smoke:
        args.n, args.loop_n, args.repeat, args.span_checks = 2000, 100, 1, 20
    args.windows = [parse_window(w) for w in re.split(r"[,\s]+", args.windows.strip()) if w]
    if not args.windows:
        ap.error("no event window given")
    if args.n < 1 or args.loop_n < 1 or args.repeat < 1:
        ap.error("--n, --loop-n and --repeat must be positive")
    return args


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ----------------------------------------------------------------------------- data


def load_data(prices_dir):
    """Universe firms with a CSV, their SessionReturns and market bases, and the store."""
    universe = load_universe(REPO / "data" / "universe.csv")
    folder = Path(prices_dir)
    have = universe[[(folder / f"{s}.csv").is_file() and (folder / f"{b}.csv").is_file()
                     for s, b in zip(universe["symbol"], universe["benchmark"])]]
    if have.empty:
        raise SystemExit(f"no universe firm (with its benchmark) has a CSV in {folder}")
    t0 = time.perf_counter()
    needed = list(dict.fromkeys(list(have["symbol"]) + list(have["benchmark"])))
    frames, errors = load_prices(CsvSource(folder), needed)
    series, bases, meta = [], [], []
    for row in have.itertuples(index=False):
        if row.symbol in errors or row.benchmark in errors:
            print(f"skipping {row.symbol}: {errors.get(row.symbol) or errors.get(row.benchmark)}")
            continue
        sr = session_returns(frames[row.symbol], row.symbol, row.exchange)
        bases.append(pd.DataFrame({"mkt": returns_on(sr, frames[row.benchmark])}, index=sr.sessions))
        series.append(sr)
        meta.append(row)
    t1 = time.perf_counter()
    store = store_mod.build_store(get_model("market"), series, bases)
    t2 = time.perf_counter()
    return meta, series, bases, store, t1 - t0, t2 - t1


def draw_firm_events(store, n, windows, rng):
    """(sec, p0, event_code) for n firm-events grouped in pseudo-events (random calendar dates).

    Day 0 = first session of the security on or after the date. A security joins a
    pseudo-event when positions p0 + estimation[0] .. p0 + max window end are in its data.
    """
    S = len(store.symbols)
    lo_need = -min(ESTIMATION[0], min(w[0] for w in windows))
    hi_need = max(ESTIMATION[1], max(w[1] for w in windows))
    segs = [store.dates[store.start[s]: store.start[s] + store.length[s]] for s in range(S)]
    first_ok = [seg[lo_need] for seg in segs if len(seg) > lo_need + hi_need]
    last_ok = [seg[len(seg) - 1 - hi_need] for seg in segs if len(seg) > lo_need + hi_need]
    if not first_ok:
        raise SystemExit("no security has enough sessions for the estimation and event windows")
    d_lo, d_hi = int(min(first_ok)), int(max(last_ok))
    secs, p0s, evs = [], [], []
    total, n_events = 0, 0
    while total < n:
        K = max(64, int(1.3 * (n - total) / max(1, S // 2)))
        dates = rng.integers(d_lo, d_hi + 1, size=K)
        P = np.empty((K, S), dtype=np.int64)
        for s, seg in enumerate(segs):
            P[:, s] = np.searchsorted(seg, dates, side="left")
        ok = (P >= lo_need) & (P <= (store.length[None, :] - 1 - hi_need))
        ok &= ok.sum(axis=1, keepdims=True) > 0  # (redundant) keep events with members only
        kk, ss = np.nonzero(ok)  # event-major order
        keep_events = np.unique(kk)
        code = np.searchsorted(keep_events, kk) + n_events
        take = min(len(kk), n - total)
        secs.append(ss[:take])
        p0s.append(P[kk, ss][:take])
        evs.append(code[:take])
        total += take
        n_events = int(code[take - 1]) + 1 if take else n_events
    return (np.concatenate(secs).astype(np.int64), np.concatenate(p0s).astype(np.int64),
            np.concatenate(evs).astype(np.int64))


# ----------------------------------------------------------------------------- engine


def run_engine(store, sec, p0, event_code, group_code, n_groups, windows):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = engine.run(store, sec, p0, ESTIMATION, windows, MIN_OBS)
        n_events = int(event_code.max()) + 1 if len(event_code) else 0
        cells = build_cells(out, store, event_code, group_code, n_groups,
                            event_names=[f"e{k}" for k in range(n_events)],
                            group_names=[*ROLES[:n_groups], "all"])
        tests = run_battery(cells, names=PARAMETRIC)
    return out, cells, tests


# ----------------------------------------------------------------------------- statsmodels loop


def statsmodels_loop(per_sec, sec, p0, windows):
    """What a careful analyst writes without the engine, one firm-event at a time.

    per_sec[s] = (ret, span, mkt) numpy arrays on security s's sessions.
    Returns ok (n,), car (n, W), var (n, W), se (n, W), suspended (n,) (a spanning return is in
    one of the windows).
    """
    n, W = len(sec), len(windows)
    car = np.full((n, W), np.nan)
    var = np.full((n, W), np.nan)
    ok = np.zeros(n, dtype=bool)
    suspended = np.zeros(n, dtype=bool)
    lo = min(w[0] for w in windows)
    for i in range(n):
        ret, span, mkt = per_sec[sec[i]]
        P = int(p0[i])
        # estimation window: returns covering exactly one session, with the market return known
        a, b = P + ESTIMATION[0], P + ESTIMATION[1] + 1
        y, x, sp = ret[a:b], mkt[a:b], span[a:b]
        keep = np.isfinite(y) & np.isfinite(x) & (sp == 1)
        if keep.sum() < MIN_OBS:
            continue
        X = sm.add_constant(x[keep], has_constant="add")
        fit = sm.OLS(y[keep], X).fit()
        theta = fit.params
        s2 = fit.scale  # SSR / (M - k)
        xtx_inv = fit.normalized_cov_params  # (X'X)^-1
        if not (np.isfinite(s2) and s2 > 0):
            continue
        ok[i] = True
        # event period: relative days lo .. the end of the data (a window ending inside a suspension
        # takes the return at resumption, however far after the window it comes)
        days = np.arange(lo, len(ret) - P)
        pos = P + days
        sp = span[pos]
        r = ret[pos]
        # regressor row [1, Rm]; a return spanning n sessions: [n, sum of the n sessions' Rm]
        xs = np.column_stack([sp.astype(float), mkt[pos]])
        xs[sp < 1] = np.nan
        for t in np.nonzero(sp > 1)[0]:
            xs[t, 1] = mkt[pos[t] - sp[t] + 1: pos[t] + 1].sum()
        valid = (sp >= 1) & np.isfinite(r) & np.isfinite(xs).all(axis=1)
        ar = r - xs @ theta
        cover_start = days - sp + 1
        for j, (wa, wb) in enumerate(windows):
            inc = valid & (days >= wa) & (cover_start <= wb)
            if not inc.any():
                continue
            if (sp[inc] > 1).any():
                suspended[i] = True
            Xs = xs[inc]
            V = np.diag(sp[inc].astype(float)) + Xs @ xtx_inv @ Xs.T
            one = np.ones(inc.sum())
            car[i, j] = ar[inc].sum()
            var[i, j] = s2 * (one @ V @ one)
    return ok, car, var, np.sqrt(var), suspended


def max_abs_diff(a, b, relative=False):
    """Max abs (or relative) difference where both are finite; inf when the NaN patterns differ."""
    fa, fb = np.isfinite(a), np.isfinite(b)
    if (fa != fb).any():
        return np.inf
    if not fa.any():
        return 0.0
    d = np.abs(a[fa] - b[fa])
    if relative:
        d = d / np.maximum(np.abs(b[fa]), 1e-300)
    return float(np.max(d))


def compare(out, rows, per_sec, sec, p0, windows):
    """Loop vs engine on ``rows``: (failures, summary dict)."""
    l_ok, l_car, l_var, l_se, l_susp = statsmodels_loop(per_sec, sec[rows], p0[rows], windows)
    e_ok = out.ok[rows]
    fail = []
    if (e_ok != l_ok).any():
        fail.append(f"usable fits differ on {int((e_ok != l_ok).sum())} firm-events")
    both = e_ok & l_ok
    e_car, e_se = out.car[rows][both], out.car_se[rows][both]
    d = {
        "n": int(both.sum()), "susp": int(l_susp[both].sum()),
        "car": max_abs_diff(e_car, l_car[both]),
        "var": max_abs_diff(e_se**2, l_var[both]),
        "se": max_abs_diff(e_se, l_se[both]),
        "se_rel": max_abs_diff(e_se, l_se[both], relative=True),
    }
    for name, key in (("CAR", "car"), ("Var(CAR)", "var"), ("se", "se")):
        if not d[key] < TOL:
            fail.append(f"{name} max abs diff {d[key]:.3g} >= {TOL:g}")
    return fail, d


# ----------------------------------------------------------------------------- main


def main(argv=None) -> int:
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    W = len(args.windows)

    meta, series, bases, store, t_load, t_store = load_data(args.prices)
    print(f"prices: {args.prices}; {len(series)} securities "
          f"({', '.join(sr.symbol for sr in series)}); {len(store.dates):,} sessions in the store")
    print(f"one-off (not in the rates): load CSVs + session returns {t_load:.3f} s; "
          f"build_store {t_store:.3f} s")

    sec, p0, event_code = draw_firm_events(store, args.n, args.windows, rng)
    role_code = {r: i for i, r in enumerate(ROLES)}
    sec_role = np.array([role_code[m.role] for m in meta], dtype=np.int64)
    group_code = sec_role[sec]
    n_groups = len(ROLES)
    N = len(sec)
    n_events = int(event_code.max()) + 1
    print(f"firm-events: {N:,} in {n_events:,} pseudo-events "
          f"(mean {N / n_events:.1f} firms each); windows: "
          f"{', '.join(format_window(w) for w in args.windows)}; model: market; "
          f"estimation {format_window(ESTIMATION)}, min-obs {MIN_OBS}")

    # warm-up (imports, compiled kernels, allocator) on a small slice -- not in the rates
    m0 = min(N, 500)
    cut = int(np.searchsorted(np.cumsum(np.bincount(event_code)), m0, side="left")) + 1
    wsel = event_code < cut
    w0 = time.perf_counter()
    run_engine(store, sec[wsel], p0[wsel], event_code[wsel], group_code[wsel], n_groups, args.windows)
    print(f"one-off (not in the rates): warm-up on {int(wsel.sum())} firm-events incl. loading the compiled "
          f"kernels {time.perf_counter() - w0:.3f} s (compiling them on a machine's first run takes a few seconds "
          f"more; numba caches them)")

    # (a) engine on all N firm-events: best of --repeat runs (the machine may be shared)
    load = os.getloadavg()[0]
    walls, cpus = [], []
    out = cells = tests = None
    for _ in range(args.repeat):
        out = cells = tests = None  # free the previous run's arrays first (the cells hold its result)
        w0, c0 = time.perf_counter(), time.process_time()
        out, cells, tests = run_engine(store, sec, p0, event_code, group_code, n_groups, args.windows)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    best = int(np.argmin(walls))
    t_engine = walls[best]
    n_ok = int(out.ok.sum())
    print(f"engine: run + cells + {len(PARAMETRIC)} parametric tests on {N:,} firm-events: best wall "
          f"{t_engine:.3f} s (CPU {cpus[best]:.3f} s); all runs wall {', '.join(f'{t:.3f}' for t in walls)} s; "
          f"load average before {load:.2f} on {os.cpu_count()} CPUs")
    r_kp = tests.loc[tests["test"] == "bmp_kp", "r_kp"]
    print(f"  {n_ok:,} usable fits; {cells.n_cells:,} cells x {tests['test'].nunique()} parametric tests; "
          f"KP r finite in {int(np.isfinite(r_kp).sum()):,} cells")

    # (b) statsmodels loop on a random subsample of the same firm-events
    loop_n = min(args.loop_n, N)
    sub = np.sort(rng.choice(N, size=loop_n, replace=False))
    per_sec = [(sr.ret, sr.span, b["mkt"].to_numpy(dtype=float)) for sr, b in zip(series, bases)]
    statsmodels_loop(per_sec, sec[sub[:20]], p0[sub[:20]], args.windows)  # warm-up, not timed
    w0, c0 = time.perf_counter(), time.process_time()
    l_ok, l_car, l_var, l_se, l_susp = statsmodels_loop(per_sec, sec[sub], p0[sub], args.windows)
    t_loop = time.perf_counter() - w0
    t_loop_cpu = time.process_time() - c0
    print(f"statsmodels loop: {loop_n:,} firm-events in {t_loop:.3f} s wall (CPU {t_loop_cpu:.3f} s)")

    # (c) check: the timed subsample, then (untimed) firm-events with spanning returns
    fail, d = compare(out, sub, per_sec, sec, p0, args.windows)
    print(f"check (random subsample): {d['n']:,} firm-events x {W} windows, {d['susp']} of them with a "
          f"return spanning a suspension in a window (compared under the engine's rule): "
          f"max |dCAR| {d['car']:.3g}, max |dVar(CAR)| {d['var']:.3g}, max |dse| {d['se']:.3g} "
          f"(relative {d['se_rel']:.3g}); tolerance {TOL:g}")
    if d["n"] == 0:
        fail.append("no firm-event to compare")
    if args.span_checks > 0 and out.spans_gap is not None:
        gap_rows = np.setdiff1d(np.nonzero(out.spans_gap.any(axis=1) & out.ok)[0], sub)
        if len(gap_rows):
            pick = np.sort(rng.choice(gap_rows, size=min(args.span_checks, len(gap_rows)), replace=False))
            f2, d2 = compare(out, pick, per_sec, sec, p0, args.windows)
            fail += [f"spanning-return check: {x}" for x in f2]
            print(f"check (spanning returns, untimed): {d2['n']:,} of the {len(gap_rows):,} firm-events whose "
                  f"windows hold a return spanning a suspension: max |dCAR| {d2['car']:.3g}, "
                  f"max |dVar(CAR)| {d2['var']:.3g}, max |dse| {d2['se']:.3g}")
        else:
            print("check (spanning returns): none among the firm-events")

    e_rate = N / t_engine
    s_rate = loop_n / t_loop
    e_cpu, s_cpu = N / cpus[best], loop_n / t_loop_cpu
    print(f"CPU-time rates (less sensitive to other load on the machine): engine {e_cpu:,.0f} "
          f"firm-events/s; statsmodels loop {s_cpu:,.0f} firm-events/s; ratio {e_cpu / s_cpu:.1f}x")
    mem = peak_mib()
    if args.tracemalloc:
        out = cells = tests = None
        tracemalloc.start()
        run_engine(store, sec, p0, event_code, group_code, n_groups, args.windows)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"engine-only peak traced allocation (tracemalloc, untimed run): {peak / 2**20:,.0f} MiB")
    if fail:
        print("CHECK FAILED: " + "; ".join(fail))
    print(f"peak memory: {mem:,.0f} MiB ({mem * 1024 / N:,.2f} KiB per firm-event of the engine run; the "
          f"process's peak RSS from resource.getrusage, incl. interpreter, data, engine and loop)")
    print(f"engine: {e_rate:,.0f} firm-events/s; statsmodels loop: {s_rate:,.0f} firm-events/s; "
          f"ratio: {e_rate / s_rate:.1f}x")
    return 1 if fail else 0


if __name__ == "__main__":
    sys.exit(main())
