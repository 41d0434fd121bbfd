"""Turn engine arrays into the tidy frames written as CSV and shown in notebooks.

Column contracts (other tools read these; more columns may follow the listed ones):

- abnormal_returns: event_id,symbol,day,date,return,normal_return,abnormal_return
- car:              event_id,symbol,window,car,car_se,car_t,car_p,bhar
- tests:            event_id,group,window,n,mean_car,test,statistic,p_value
- estimation:       event_id,symbol,benchmark,day0,m,alpha,beta,sigma
- skipped:          event_id,symbol,reason
- sensitivity:      event_id,date_kind,announced_at,group,window,n,mean_car,statistic,p_value
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.data.catalog import DATE_KINDS
from analysis.estimation.engine import EngineResult
from analysis.inference.battery import TEST_COLUMNS  # noqa: F401 - the CSV contract lists tests.csv here too
from analysis.inference.columns import date_objects, take_column
from analysis.inference.portfolio import firm_sq_p
from analysis.vocab import GROUP_ORDER, format_window

AR_COLUMNS = ["event_id", "symbol", "day", "date", "return", "normal_return", "abnormal_return"]
CAR_COLUMNS = ["event_id", "symbol", "window", "car", "car_se", "car_t", "car_p", "bhar"]
EST_COLUMNS = ["event_id", "symbol", "benchmark", "day0", "m", "alpha", "beta", "sigma"]
SKIP_COLUMNS = ["event_id", "symbol", "reason"]
SENSITIVITY_COLUMNS = ["event_id", "date_kind", "announced_at", "group", "window", "n", "mean_car", "statistic",
                       "p_value"]
#: car.csv flag columns (:mod:`analysis.inference.flags`), after the others.
FLAG_COLUMNS = ["overlaps", "driver_day", "driver_ar", "off_day0_driver", "confounders", "confounded_by"]


def _dates(store, flat, mask):
    d = store.date_of(store.dates[flat])
    return np.where(mask, d, np.datetime64("NaT"))


def estimation_frame(study, panel, out: EngineResult) -> pd.DataFrame:
    f = panel.frame
    spec = study.model
    est = pd.DataFrame({
        "event_id": f["event_id"].to_numpy(), "symbol": f["symbol"].to_numpy(),
        "benchmark": f["benchmark"].to_numpy(), "day0": date_objects(f["day0"].to_numpy()),
        "m": out.m, "alpha": np.nan, "beta": np.nan, "sigma": np.sqrt(out.sigma2),
    })
    for j, name in enumerate(spec.params):
        est[name] = out.theta[:, j]
    if spec.fixed:
        est["beta"] = 1.0
    est["m_excluded"] = panel.store.excluded_count(f["sec"].to_numpy(), f["p0"].to_numpy() + out.estimation[0],
                                                   f["p0"].to_numpy() + out.estimation[1])
    est["model"] = spec.name
    est["dof"] = out.dof
    est["role"] = f["role"].to_numpy()
    est["name"] = f["name"].to_numpy()
    est["exchange"] = f["exchange"].to_numpy()
    return est[out.ok].reset_index(drop=True)


def abnormal_frame(panel, out: EngineResult) -> pd.DataFrame:
    f = panel.frame
    lo = min(w[0] for w in out.windows)
    hi = max(w[1] for w in out.windows)
    keep = (out.days >= lo) & (out.days <= hi)
    rows = np.nonzero(out.ok)[0]
    n, L = len(rows), int(keep.sum())
    store = panel.store
    flat = out.flat[rows][:, keep]
    in_range = (panel.frame["p0"].to_numpy()[rows][:, None] + out.days[keep][None, :] >= 0) & (
        panel.frame["p0"].to_numpy()[rows][:, None] + out.days[keep][None, :]
        < store.length[f["sec"].to_numpy()[rows]][:, None])
    frame = pd.DataFrame({
        "event_id": take_column(f["event_id"], np.repeat(rows, L)),
        "symbol": take_column(f["symbol"], np.repeat(rows, L)),
        "day": np.tile(out.days[keep], n),
        "date": date_objects(_dates(store, flat, in_range).ravel()),
        "return": out.ret[rows][:, keep].ravel(),
        "normal_return": out.normal[rows][:, keep].ravel(),
        "abnormal_return": out.ar[rows][:, keep].ravel(),
        "span": out.span[rows][:, keep].ravel(),
    })
    return frame


def car_core(panel, out: EngineResult) -> pd.DataFrame:
    """The CAR of every fitted firm-event and window: event_id, symbol, window, car, car_se,
    car_t, car_p (decimals); the first columns of :func:`car_frame`."""
    f = panel.frame
    rows = np.nonzero(out.ok)[0]
    W = len(out.windows)
    return pd.DataFrame({
        "event_id": take_column(f["event_id"], np.repeat(rows, W)),
        "symbol": take_column(f["symbol"], np.repeat(rows, W)),
        "window": take_column([format_window(w) for w in out.windows], np.tile(np.arange(W), len(rows))),
        **{k: getattr(out, k)[rows].ravel() for k in ("car", "car_se", "car_t", "car_p")},
    })


def car_frame(study, panel, out: EngineResult) -> pd.DataFrame:
    f = panel.frame
    rows = np.nonzero(out.ok)[0]
    W = len(out.windows)
    store = panel.store
    p0 = f["p0"].to_numpy()[rows]
    sec = f["sec"].to_numpy()[rows]
    first = out.cover_first[rows]
    last = out.cover_last[rows]

    def at(rel):
        pos = p0[:, None] + np.nan_to_num(rel, nan=0).astype(np.int64)
        okp = np.isfinite(rel) & (pos >= 0) & (pos < store.length[sec][:, None])
        flat = store.start[sec][:, None] + np.where(okp, pos, 0)
        return date_objects(_dates(store, flat, okp).ravel())

    frame = car_core(panel, out).assign(**{
        "bhar": out.bhar[rows].ravel(),
        "n_returns": out.n_returns[rows].ravel(),
        "n_sessions": out.n_sessions[rows].ravel(),
        "span_first": at(first),
        "span_last": at(last),
        "spans_suspension": out.spans_gap[rows].ravel(),
        "complete": out.complete[rows].ravel(),
        "suspension_first": at(out.gap_first[rows]),
        "suspension_last": at(out.gap_last[rows]),
        "role": take_column(f["role"], np.repeat(rows, W)),
        "name": take_column(f["name"], np.repeat(rows, W)),
    })
    if "group" in f.columns:
        frame["group"] = take_column(f["group"], np.repeat(rows, W))
    return frame


def requested_windows(car: pd.DataFrame) -> pd.DataFrame:
    """The rows of a car frame over the requested windows (without the limit-extended ones)."""
    if "window_kind" not in car.columns:
        return car
    return car[car["window_kind"] != "limit_extended"]


def skipped_frame(panel, out: EngineResult, skipped: list[dict]) -> pd.DataFrame:
    f = panel.frame
    bad = np.nonzero(~out.ok)[0]
    rows = list(skipped) + [
        {"event_id": f["event_id"].iat[i], "symbol": f["symbol"].iat[i], "reason": out.reason[i]} for i in bad
    ]
    return pd.DataFrame(rows, columns=SKIP_COLUMNS)


def assemble(study, panel, out: EngineResult, skipped: list[dict], tests: pd.DataFrame, limit_notes: np.ndarray,
             limit_states: pd.DataFrame, volume_daily: pd.DataFrame, volume_tests: pd.DataFrame,
             row_flags: dict | None = None, extended: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """All result frames, keyed as the result object's attributes, from the engine result and
    what the inference layer computed (test rows, price-limit notes and states, volume, the
    flags of every requested window ``row_flags`` {column: (N, W)}, and the limit-extended
    rows ``extended``, placed after their firm-event's requested windows)."""
    ar = abnormal_frame(panel, out)
    car = car_frame(study, panel, out)
    car["limit_flag"] = limit_notes[out.ok].ravel() if len(car) else []
    car["sq_p"] = firm_sq_p(out)[out.ok].ravel() if len(car) else []  # sample-quantile p (GHK 2013)
    car["window_kind"] = "requested"
    for name in FLAG_COLUMNS:
        if row_flags is not None and name in row_flags:
            car[name] = row_flags[name][out.ok].ravel() if len(car) else []
    if extended is not None and len(extended):
        W = len(out.windows)
        car["_row"] = np.repeat(np.nonzero(out.ok)[0], W)
        car["_k"] = np.tile(np.arange(W), int(out.ok.sum()))
        ext = extended.assign(window_kind="limit_extended", _k=W)
        car = pd.concat([car, ext.reindex(columns=car.columns)], ignore_index=True)
        car = car.sort_values(["_row", "_k"], kind="stable").drop(columns=["_row", "_k"]).reset_index(drop=True)
    if "confounded_by" in car.columns:  # no major confounder on days 0..+1 (analysis.inference.flags)
        car["attributable"] = car["confounded_by"].fillna("").astype(str) == ""
    if len(limit_states):
        ar = ar.merge(limit_states, on=["event_id", "symbol", "day"], how="left")
        ar["limit"] = ar["limit"].fillna("")
    else:  # no day at a price limit: the same column without a merge (a copy of every firm-day)
        ar["limit"] = pd.Series([""] * len(ar), dtype=limit_states["limit"].dtype if "limit" in limit_states
                                else object, index=ar.index)
    return {
        "abnormal_returns": ar,
        "car": car,
        "tests": order_tests(tests),
        "estimation": estimation_frame(study, panel, out),
        "skipped": skipped_frame(panel, out, skipped),
        "volume": volume_daily,
        "volume_tests": volume_tests,
    }


def empty_sensitivity() -> pd.DataFrame:
    return pd.DataFrame(columns=SENSITIVITY_COLUMNS)


def order_tests(tests: pd.DataFrame, by_kind: bool = False) -> pd.DataFrame:
    """Rows sorted by event, group, window, then test, in catalog / role / window order."""
    if tests.empty:
        return tests
    order = {k: i for i, k in enumerate(dict.fromkeys(tests["event_id"]))}
    gorder = {g: i for i, g in enumerate(GROUP_ORDER)}
    worder = {w: i for i, w in enumerate(dict.fromkeys(tests["window"]))}
    torder = {t: i for i, t in enumerate(dict.fromkeys(tests["test"]))}
    key = (tests["event_id"].map(order) * 1_000_000 + tests["group"].map(gorder).fillna(9) * 10_000
           + tests["window"].map(worder) * 100 + tests["test"].map(torder))
    if by_kind:  # sensitivity rows: event, date kind (catalog order of kinds), group, window
        korder = {k: i for i, k in enumerate(DATE_KINDS)}
        key = key + tests["date_kind"].map(korder).fillna(9) * 100_000
    return tests.iloc[np.argsort(key.to_numpy(), kind="stable")].reset_index(drop=True)
