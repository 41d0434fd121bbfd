"""The 09:00 assumption: what if every date-only announcement came after the US close?

A date-only announcement is taken as made at 09:00 New York time (:data:`analysis.vocab.
DATE_ONLY_HOUR`), so a US security's day 0 is its date. The ``after_close`` variant takes it as
made at 16:00 New York time instead, the US close: the US day 0 moves one session later, and an
A-share day 0 stays the next Shanghai/Shenzhen session (both hours fall after their close).
``sensitivity.csv`` carries the headline test (:data:`analysis.vocab.PRIMARY_TEST`) of every
date-only event under it (``date_kind`` = ``after_close``); :func:`moved_tests` puts those rows in
place of the main run's and :func:`conclusions` reruns Holm over the primary family to say
whether a conclusion changes.

Hook for the pooled tests across events (issue 17a, ``pooled.csv``): pool
``moved_tests(tests, sensitivity)`` instead of ``tests`` to get the pooled tests under the
after-close assumption.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.inference.multiple import ALPHA, adjust
from analysis.inference.pooled import pooled_frame
from analysis.vocab import NEWS_TIMEZONE, PRIMARY_WINDOW

#: ``sensitivity.csv`` date_kind of the after-close variant.
AFTER_CLOSE = "after_close"
#: The hour (New York time) a date-only announcement is taken at in the variant: the US close.
AFTER_CLOSE_HOUR = 16
#: Columns a moved row takes from ``sensitivity.csv``.
MOVED_COLUMNS = ("n", "mean_car", "statistic", "p_value", "estimate", "se")
#: Columns of the main run a moved row keeps: whether a cell is attributable is judged on the main
#: dates (a one-session shift of the US day 0 is the sensitivity; the confounders are not re-placed).
KEPT_COLUMNS = ("primary", "p_holm", "q_bh", "flags", "attributable", "confounded_by")


def after_close_instant(announced) -> pd.Timestamp:
    """A date-only announcement (tz-naive date) taken as made at 16:00 New York time: the UTC
    instant. ValueError for an instant (tz-aware): only date-only events have the variant."""
    ts = pd.Timestamp(announced)
    if ts.tzinfo is not None:
        raise ValueError(f"{ts} is an instant, not a date-only announcement")
    return (ts.normalize() + pd.Timedelta(hours=AFTER_CLOSE_HOUR)).tz_localize(NEWS_TIMEZONE).tz_convert("UTC")


def after_close_text(announced) -> str:
    """'2021-06-03T16:00-04:00': the variant's instant as written in ``announced_at``."""
    local = after_close_instant(announced).tz_convert(NEWS_TIMEZONE)
    off = local.strftime("%z")
    return local.strftime("%Y-%m-%dT%H:%M") + off[:3] + ":" + off[3:]


def moved_tests(tests: pd.DataFrame, sensitivity: pd.DataFrame, date_kind: str = AFTER_CLOSE) -> pd.DataFrame:
    """``tests`` with each row that ``sensitivity`` has under ``date_kind`` (same event, group,
    window and test) taken from there (n, mean_car, statistic, p_value; the row's other columns
    NaN); a cell of a moved event the variant lacks gets NaN (left out of any family). Rows of
    events without the variant are unchanged."""
    out = tests.copy()
    if sensitivity is None or sensitivity.empty or tests.empty:
        return out
    alt = sensitivity[sensitivity["date_kind"] == date_kind]
    if alt.empty:
        return out
    test_col = alt["test"] if "test" in alt.columns else pd.Series("portfolio", index=alt.index)
    key = ["event_id", "group", "window", "test"]
    moved_cols = [c for c in MOVED_COLUMNS if c in alt.columns]
    alt = alt.assign(test=test_col)[key + moved_cols]
    moved_events = set(alt["event_id"])
    tested = set(alt["test"])
    hit = (out["event_id"].isin(moved_events) & out["test"].isin(tested)).to_numpy()
    merged = out.loc[hit, key].merge(alt, on=key, how="left")
    keep = [c for c in out.columns if c not in (*key, *MOVED_COLUMNS)]
    for col in MOVED_COLUMNS:  # a column the variant lacks is unknown there, not the main run's
        if col in out.columns:
            out.loc[hit, col] = merged[col].to_numpy() if col in moved_cols else np.nan
    for col in keep:
        if col not in KEPT_COLUMNS:
            if out[col].dtype == bool:
                out[col] = out[col].astype(object)
            out.loc[hit, col] = np.nan
    return out


def conclusions(tests: pd.DataFrame, sensitivity: pd.DataFrame, date_kind: str = AFTER_CLOSE,
                primary_window: str = PRIMARY_WINDOW, alpha: float = ALPHA) -> pd.DataFrame:
    """The primary family under the main dates and under ``date_kind``: one row per primary
    (event, group, window) with p_value, p_holm, significant (p_holm < alpha) for each
    (suffixes ``_main``, ``_moved``), ``moved`` (the event has the variant) and ``changed``
    (significance differs). Holm (:func:`analysis.inference.multiple.holm`) runs over each
    family as a whole."""
    base = tests.drop(columns=[c for c in ("primary", "p_holm", "q_bh") if c in tests.columns])
    main = adjust(base, primary_window)
    alt = adjust(moved_tests(base, sensitivity, date_kind), primary_window)
    key = ["event_id", "group", "window", "test"]
    a = main.loc[main["primary"], key + ["p_value", "p_holm"]]
    b = alt.loc[alt["primary"], key + ["p_value", "p_holm"]]
    out = a.merge(b, on=key, how="outer", suffixes=("_main", "_moved"))
    moved = set() if sensitivity is None or sensitivity.empty else set(
        sensitivity.loc[sensitivity["date_kind"] == date_kind, "event_id"])
    out["moved"] = out["event_id"].isin(moved)
    for s in ("main", "moved"):
        ph = out[f"p_holm_{s}"].to_numpy(dtype=float)
        out[f"significant_{s}"] = np.isfinite(ph) & (ph < alpha)
    out["changed"] = out["significant_main"] != out["significant_moved"]
    return out.reset_index(drop=True)


def pooled_conclusions(tests: pd.DataFrame, sensitivity: pd.DataFrame, date_kind: str = AFTER_CLOSE,
                       primary_window: str = PRIMARY_WINDOW, alpha: float = ALPHA,
                       car: pd.DataFrame | None = None) -> pd.DataFrame:
    """The primary pooled rows (:func:`analysis.inference.pooled.pooled_frame`) under the main
    dates and under ``date_kind`` (the pooled tests over :func:`moved_tests`): one row per group
    with estimate, p_holm and significant (p_holm < alpha) for each (suffixes ``_main``,
    ``_moved``) and ``changed`` (significance differs). ``car``: events sharing sessions count
    once, as in :func:`~analysis.inference.pooled.pooled_frame` (their overlaps on the main dates)."""
    cols = ["group", "estimate", "p_holm"]
    if not {"estimate", "se"} <= set(tests.columns):
        return pd.DataFrame(columns=["group", "estimate_main", "p_holm_main", "estimate_moved", "p_holm_moved",
                                     "significant_main", "significant_moved", "changed"])
    main = pooled_frame(tests, primary_window, car=car)
    alt = pooled_frame(moved_tests(tests, sensitivity, date_kind), primary_window, car=car)
    if main.empty or alt.empty:
        return pd.DataFrame(columns=["group", "estimate_main", "p_holm_main", "estimate_moved", "p_holm_moved",
                                     "significant_main", "significant_moved", "changed"])
    out = main.loc[main["primary"].astype(bool), cols].merge(
        alt.loc[alt["primary"].astype(bool), cols], on="group", how="outer", suffixes=("_main", "_moved"))
    for s in ("main", "moved"):
        ph = out[f"p_holm_{s}"].to_numpy(dtype=float)
        out[f"significant_{s}"] = np.isfinite(ph) & (ph < alpha)
    out["changed"] = out["significant_main"] != out["significant_moved"]
    return out.reset_index(drop=True)
