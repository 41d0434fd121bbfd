"""The supplier question's sentence on exposure: how much more the suppliers lost per 10 points
of revenue sold to the firm an event named (``exposure_fit.csv``; the model in
:mod:`analysis.inference.exposure`). Kept apart from the answer page's other sentences, which
call :func:`supplier_exposure_sentence`."""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import fmt
from analysis.inference.exposure import MAIN_CONFIDENCE, POOLED
from analysis.vocab import PRIMARY_WINDOW

#: The event whose per-event fit the sentence quotes beside the pooled one (the Huawei listing).
FOCUS_EVENT = "huawei_entity_list_2019"
#: Exposure step the slope is stated for, in percentage points of revenue.
STEP = 10


def _per_step(row) -> tuple[float, float, float]:
    """Slope and 95% interval per STEP points, in percent of the share price (CAR percent)."""
    return tuple(100 * STEP * float(row[k]) for k in ("slope", "ci_low", "ci_high"))


def _phrase(row, named: str) -> str:
    b, lo, hi = _per_step(row)
    move, lo, hi = ("lost", -hi, -lo) if b < 0 else ("gained", lo, hi)  # the interval in the words' direction
    return (f"per {STEP} points of revenue sold to {named}, suppliers {move} {fmt.num(abs(b), 1)} percentage points "
            f"more (95% CI {fmt.num(lo, 1)} to {fmt.num(hi, 1)} points)")


def supplier_exposure_sentence(fit: pd.DataFrame | None, titles: dict | None = None,
                               window: str = PRIMARY_WINDOW) -> str:
    """One or two sentences for "Did it move their US suppliers?": the pooled slope across events
    (wild cluster bootstrap p) and the Huawei listing's own (HC3, Student t p), over ``window``;
    '' without an exposure fit."""
    if fit is None or not len(fit):
        return ""
    f = fit[(fit["window"] == window) & (fit["confidence"] == ",".join(MAIN_CONFIDENCE))]
    f = f[np.isfinite(f["slope"].astype(float))]
    out = []
    focus = f[f["event_id"] == FOCUS_EVENT]
    if len(focus):
        r = focus.iloc[0]
        name = (titles or {}).get(FOCUS_EVENT, "the Huawei listing")
        out.append(f"Exploratory: after {name}, {_phrase(r, 'Huawei')} in CAR{fmt.window_label(window)} "
                   f"({int(r['n_firms'])} suppliers with a reported Huawei share; "
                   f"p {fmt.pvalue(r['p_value'])} from a normal tail with robust (HC3) standard errors, a rough "
                   "guide with this few firms, not adjusted for multiple testing).")
    pooled = f[f["event_id"] == POOLED]
    if len(pooled):
        r = pooled.iloc[0]
        out.append(f"Pooled over the {int(r['n_events'])} events with exposure data, with a fixed effect per event, "
                   f"{_phrase(r, 'the named firms')} (p {fmt.pvalue(r['p_value'])} from a wild cluster "
                   f"bootstrap, which resamples whole events; "
                   f"{int(r['n_firms'])} supplier-events; the revenue shares date from 2017-2019, before the later events).")
    return " ".join(out)
