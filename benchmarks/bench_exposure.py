"""Time the exposure regression (analysis.inference.exposure) on the full catalog's car.csv:
python benchmarks/bench_exposure.py [PRICES]; prints the seconds per fit_frame call (the study
calls it once; the budget is 2 s)."""
from __future__ import annotations

import sys
import time

from analysis.inference import exposure as ex
from analysis.study import EventStudy


def main(prices: str = "../shared/prices", repeat: int = 5) -> float:
    res = EventStudy(prices=prices, placebo_draws=0).fit()
    ex.study_fit(res.study, res.car)  # warm
    t0 = time.perf_counter()
    for _ in range(repeat):
        fit = ex.study_fit(res.study, res.car)
    per = (time.perf_counter() - t0) / repeat
    print(f"exposure_fit: {len(fit)} rows, {per:.3f} s per call (full catalog, {res.car['event_id'].nunique()} events)")
    return per


if __name__ == "__main__":
    main(*sys.argv[1:2])
