"""Time the exposure regression (analysis.inference.exposure) on the full catalog's car.csv:
``python benchmarks/bench_exposure.py [--prices DIR] [--smoke]``; prints the seconds per
``study_fit`` call (the study calls it once; the budget is 2 s). ``--smoke`` (CI): two events,
one timed call."""
from __future__ import annotations

import argparse
import time

from analysis.inference import exposure as ex
from analysis.study import EventStudy

#: Events of the smoke run: the Huawei listing (its suppliers hold the exposure data) and the Oct 2019 listing.
SMOKE_EVENTS = ["huawei_entity_list_2019", "entity_list_28_2019"]


def main(prices: str = "../shared/prices", repeat: int = 5, smoke: bool = False) -> float:
    res = EventStudy(prices=prices, placebo_draws=0, event_ids=SMOKE_EVENTS if smoke else None).fit()
    ex.study_fit(res.study, res.car)  # warm
    repeat = 1 if smoke else repeat
    t0 = time.perf_counter()
    for _ in range(repeat):
        fit = ex.study_fit(res.study, res.car)
    per = (time.perf_counter() - t0) / repeat
    scope = "smoke" if smoke else "full catalog"
    print(f"exposure_fit: {len(fit)} rows, {per:.3f} s per call ({scope}, {res.car['event_id'].nunique()} events)")
    return per


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prices", default="../shared/prices", help="folder of recorded <SYMBOL>.csv prices")
    parser.add_argument("--repeat", type=int, default=5, help="timed calls (default 5)")
    parser.add_argument("--smoke", action="store_true", help="two events, one call (CI)")
    args = parser.parse_args()
    main(args.prices, args.repeat, args.smoke)
