"""Fill the numba kernels' on-disk cache once, at install, so no run pays their compilation.

The compiled loops (:mod:`analysis.estimation.kernels`, :mod:`analysis.inference.ranks`,
:mod:`analysis.inference.portfolio`) are
cached on disk (``cache=True``) after their first call; a first call without a cache compiles
them, about 15 s on a 2-core machine, and in a report every notebook kernel would do so at
once. :func:`compile_kernels` runs one small event study on synthetic prices through the same
code path as a real run (market model, placebo and calibration draws, a suspension, both
exchanges), which compiles every kernel for the argument types a real run passes. ``make``
runs it right after installing (``python -m analysis compile``).
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

#: Synthetic universe: two Shenzhen firms and two US firms with their benchmarks.
_SECURITIES = {"A.SZ": ("XSHE", "B.SS", "target"), "C.SZ": ("XSHE", "B.SS", "target"),
               "D": ("XNAS", "SPX", "supplier"), "E": ("XNAS", "SPX", "supplier")}


def dispatchers() -> dict:
    """Every compiled kernel of the estimation and inference layers by name (numba dispatchers)."""
    import importlib
    import pkgutil

    import analysis.estimation
    import analysis.inference

    found = {}
    for package in (analysis.estimation, analysis.inference):
        for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
            module = importlib.import_module(info.name)
            for name, obj in vars(module).items():
                if hasattr(obj, "signatures") and hasattr(obj, "py_func") \
                        and obj.py_func.__module__ == module.__name__:
                    found[f"{module.__name__}.{name}"] = obj
    return found


def _synthetic_prices(seed: int = 1) -> dict:
    """Random-walk prices (daily log returns of 1.5% s.d.) on each exchange's sessions, 2018-2019; one
    Shenzhen firm suspended for three sessions around the second event."""
    from analysis.data import calendars

    rng = np.random.default_rng(seed)
    frames = {}
    benches = {"B.SS": "XSHG", "SPX": "XNYS"}
    for sym, mic in list(benches.items()) + [(s, m) for s, (m, _, _) in _SECURITIES.items()]:
        days = calendars.sessions(mic, "2018-01-02", "2019-12-31")
        px = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.015, len(days))))
        if sym == "C.SZ":
            px[(days >= "2019-05-20") & (days <= "2019-05-22")] = np.nan
        frame = pd.DataFrame({"open": px, "high": px, "low": px, "close": px, "adj_close": px, "volume": 1e6},
                             index=pd.DatetimeIndex(days, name="date"))
        frames[sym] = frame.dropna()
    return frames


def cache_counts() -> dict:
    """{kernel name: (signatures compiled in this process, signatures loaded from the cache)}
    for the kernels called from Python so far (a kernel called only by another one is compiled
    into its caller and counts with it)."""
    return {name: (sum(d.stats.cache_misses.values()), sum(d.stats.cache_hits.values()))
            for name, d in dispatchers().items()}


def compile_kernels(folder) -> dict:
    """Run the synthetic study (catalog and universe files written to ``folder``); returns
    ``{"kernels": cache_counts(), "seconds": ...}``."""
    from analysis.study import EventStudy

    folder.mkdir(parents=True, exist_ok=True)
    uni = folder / "universe.csv"
    uni.write_text("symbol,name,role,exchange,benchmark\n" + "".join(
        f"{s},{s} Corp,{role},{mic},{bench}\n" for s, (mic, bench, role) in _SECURITIES.items()), encoding="utf-8")
    events = folder / "events.csv"
    events.write_text("event_id,announced_at,title,kind,source\n"
                      "one,2019-05-15T18:00-04:00,synthetic event one,action,synthetic\n"
                      "two,2019-05-21,synthetic event two,report,synthetic\n", encoding="utf-8")
    t0 = time.monotonic()
    EventStudy(events=events, universe=uni, prices=_synthetic_prices(), placebo_draws=40,
               calibration_draws=10).fit()
    _rank_fallbacks()
    return {"kernels": cache_counts(), "seconds": time.monotonic() - t0}


def _rank_fallbacks() -> None:
    """The rank tests' kernels a study reaches only in rare cases: a SCAR that is not finite
    (the tests run apart, :func:`analysis.inference.ranks.rank_cells`) and estimation windows
    over 4,096 days (64-bit sort keys)."""
    from analysis.inference import ranks

    rng = np.random.default_rng(0)
    est = rng.standard_normal((3, 20))
    rows, cell = np.arange(3, dtype=np.int64), np.zeros(3, dtype=np.int64)
    ranks.rank_cells(est, ranks.sorted_rows(est), np.ones(3), rng.standard_normal((3, 2)),
                     np.array([1.0, np.inf, -1.0]), rows, cell, 1)
    ranks.sorted_rows(rng.standard_normal((1, 4097)))
